//! Parses arbitrary backend responses as GRIP instructions. The input is
//! split into header lines (`Name: value`) and a body at the first empty line;
//! a first byte selects the status code. Nothing may panic, and whatever parses
//! must respect the documented bounds.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use pushpin_grip::instruct::Instruct;
use pushpin_grip::params::{self, ParseMode};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let code = if selector % 4 == 0 { 201 } else { 200 };
    let (head, body) = match rest.windows(2).position(|w| w == b"\n\n") {
        Some(at) => (&rest[..at], &rest[at + 2..]),
        None => (rest, &[][..]),
    };
    let mut headers = Vec::new();
    for line in head.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let value = &line[colon + 1..];
        let _ = params::split_list(value);
        let _ = params::parse_params(value, ParseMode::ParseAllParameters);
        headers.push((
            Bytes::copy_from_slice(&line[..colon]),
            Bytes::copy_from_slice(value.trim_ascii()),
        ));
    }
    if let Ok(i) = Instruct::parse(code, &Bytes::new(), &headers, &Bytes::copy_from_slice(body)) {
        assert!(i.timeout >= 5);
        assert!(i.response.code <= 999);
        assert!(!i.response.reason.is_empty());
        if let Some(ka) = &i.keep_alive {
            assert!(ka.timeout >= 1);
        }
    }
});
