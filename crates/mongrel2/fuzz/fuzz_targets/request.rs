//! Decodes arbitrary bytes as a mongrel2 request (and as control-port payloads);
//! whatever decodes must re-encode to bytes that decode to the same request, and
//! nothing may panic.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use pushpin_mongrel2::control::{ControlReply, ControlRequest};
use pushpin_mongrel2::{Limits, Request};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let input = Bytes::copy_from_slice(data);
    if let Ok(req) = Request::decode(&input, &limits) {
        let encoded = req.to_bytes();
        let again = Request::decode(&encoded, &limits).expect("re-encoded request decodes");
        assert_eq!(again, req);
        assert_eq!(again.to_bytes(), encoded);
    }
    let _ = ControlRequest::decode(&input, &limits);
    let _ = ControlReply::decode(&input, &limits);
});
