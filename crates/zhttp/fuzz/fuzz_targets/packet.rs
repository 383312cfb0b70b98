//! Decodes arbitrary bytes as a ZHTTP payload (`T` or `J`); whatever decodes must
//! re-encode, in the same format, to bytes that decode to the same packet, and
//! nothing may panic.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use pushpin_zhttp::{Limits, Packet};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let input = Bytes::copy_from_slice(data);
    let Ok((packet, format)) = Packet::decode_with_format(&input, &limits) else {
        return;
    };
    let mut buf = BytesMut::new();
    packet.encode_as(format, &mut buf);
    let again = Packet::decode(&buf.freeze(), &limits).expect("re-encoded packet decodes");
    // A NaN float in `user-data` never equals itself: compare the canonical `T`
    // encodings always, and the packets when the packet equals itself.
    assert_eq!(again.to_bytes(), packet.to_bytes());
    #[allow(
        clippy::eq_op,
        reason = "self-equality is false exactly when a NaN is inside"
    )]
    if packet == packet {
        assert_eq!(again, packet);
    }
});
