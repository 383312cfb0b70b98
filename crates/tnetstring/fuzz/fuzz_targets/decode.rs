//! Decodes arbitrary bytes as a tnetstring; whatever decodes must re-encode to
//! bytes that decode to the same value, and nothing may panic.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use pushpin_tnetstring::{Limits, Value, parse_t_message};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let input = Bytes::copy_from_slice(data);
    if let Ok(Some((value, used))) = Value::decode(&input, &limits) {
        assert!(used <= data.len());
        let encoded = value.to_bytes();
        let (again, used_again) = Value::decode(&encoded, &limits)
            .expect("re-encoded value decodes")
            .expect("re-encoded value is complete");
        assert_eq!(used_again, encoded.len());
        // NaN never equals itself; compare encodings instead of values.
        assert_eq!(again.to_bytes(), encoded);
    }
    if let Ok(frame) = parse_t_message(data, &limits) {
        if let Ok(entries) = frame.map() {
            for entry in entries {
                let _ = entry;
            }
        }
    }
});
