//! Feeds arbitrary bytes to every publish input: the HTTP body, PULL and SUB
//! messages (J/T/bare) and command args. Nothing may panic; every rejected
//! HTTP body has a newline-terminated answer.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use pushpin_grip::publish;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = publish::parse_http_body(data) {
        assert!(e.http_body().ends_with('\n'));
    }
    let msg = Bytes::copy_from_slice(data);
    let _ = publish::decode_push_message(std::slice::from_ref(&msg));
    let _ = publish::decode_sub_message(&[Bytes::from_static(b"ch"), msg.clone()]);
    let _ = publish::parse_command_args(&msg);
});
