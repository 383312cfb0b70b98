//! Decodes arbitrary bytes as a mongrel2 response; whatever decodes must
//! re-encode to bytes that decode again to the same encoding (values may hold
//! NaN floats, which never compare equal), and nothing may panic.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use pushpin_mongrel2::{Limits, Response};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let input = Bytes::copy_from_slice(data);
    if let Ok(resp) = Response::decode(&input, &limits) {
        let encoded = resp.to_bytes();
        let again = Response::decode(&encoded, &limits).expect("re-encoded response decodes");
        assert_eq!(again.to_bytes(), encoded);
        assert_eq!(again.targets, resp.targets);
        assert_eq!(again.sender, resp.sender);
    }
});
