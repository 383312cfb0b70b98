//! Property tests: arbitrary header values, JSON and message bytes never
//! panic; tokens round-trip; simple parameter lists round-trip.

use bytes::Bytes;
use proptest::prelude::*;
use pushpin_grip::instruct::Instruct;
use pushpin_grip::params::{self, ParseMode};
use pushpin_grip::{publish, sig};

const GRIP_NAMES: &[&str] = &[
    "Grip-Hold",
    "Grip-Channel",
    "Grip-Timeout",
    "Grip-Keep-Alive",
    "Grip-Set-Meta",
    "Grip-Expose-Headers",
    "Grip-Status",
    "Grip-Link",
    "Content-Type",
    "X-Other",
];

fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..40),
        "[a-z<>/=;, \"\\\\0-9x-]{0,40}".prop_map(String::into_bytes),
    ]
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i32>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        prop_oneof![
            Just("response".to_owned()),
            Just("stream".to_owned()),
            Just("send".to_owned()),
            Just("close".to_owned()),
            Just("aGk=".to_owned()),
            ".{0,8}"
        ]
        .prop_map(serde_json::Value::String),
    ];
    let keys = prop_oneof![
        Just("items".to_owned()),
        Just("channel".to_owned()),
        Just("formats".to_owned()),
        Just("http-response".to_owned()),
        Just("http-stream".to_owned()),
        Just("ws-message".to_owned()),
        Just("content".to_owned()),
        Just("content-bin".to_owned()),
        Just("body".to_owned()),
        Just("body-patch".to_owned()),
        Just("headers".to_owned()),
        Just("code".to_owned()),
        Just("type".to_owned()),
        Just("action".to_owned()),
        Just("hold".to_owned()),
        Just("response".to_owned()),
        Just("channels".to_owned()),
        Just("name".to_owned()),
        Just("keep-alive".to_owned()),
        Just("meta".to_owned()),
        Just("timeout".to_owned()),
        "[a-z-]{1,6}",
    ];
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(serde_json::Value::Array),
            proptest::collection::vec((keys.clone(), inner), 0..6)
                .prop_map(|kv| serde_json::Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn instruct_headers_never_panic(
        headers in proptest::collection::vec((0..GRIP_NAMES.len(), header_value()), 0..8),
        code in 0u16..1000,
        body in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let headers: Vec<(Bytes, Bytes)> = headers
            .into_iter()
            .map(|(n, v)| (Bytes::from_static(GRIP_NAMES[n].as_bytes()), Bytes::from(v)))
            .collect();
        if let Ok(i) = Instruct::parse(code, &Bytes::new(), &headers, &Bytes::from(body)) {
            prop_assert!(i.timeout >= 5);
            prop_assert!(!i.response.reason.is_empty());
            prop_assert!(i.response.code <= 999);
        }
    }

    #[test]
    fn instruct_json_never_panics(doc in json_value(), raw in proptest::collection::vec(any::<u8>(), 0..64)) {
        let headers = vec![(Bytes::from_static(b"Content-Type"), Bytes::from_static(b"application/grip-instruct"))];
        let _ = Instruct::parse(200, &Bytes::new(), &headers, &Bytes::from(doc.to_string()));
        let _ = Instruct::parse(200, &Bytes::new(), &headers, &Bytes::from(raw));
    }

    #[test]
    fn publish_json_never_panics(doc in json_value(), items in proptest::collection::vec(json_value(), 0..4)) {
        let _ = publish::parse_http_body(doc.to_string().as_bytes());
        let body = serde_json::json!({ "items": items }).to_string();
        if let Err(e) = publish::parse_http_body(body.as_bytes()) {
            prop_assert!(e.http_body().ends_with('\n'));
        }
    }

    #[test]
    fn publish_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..128), prefix in 0u8..3) {
        let mut msg = match prefix { 0 => b"J".to_vec(), 1 => b"T".to_vec(), _ => Vec::new() };
        msg.extend_from_slice(&raw);
        let _ = publish::parse_http_body(&raw);
        let _ = publish::decode_push_message(&[Bytes::from(msg.clone())]);
        let _ = publish::decode_sub_message(&[Bytes::from_static(b"ch"), Bytes::from(msg)]);
        let _ = publish::parse_command_args(&Bytes::from(raw));
    }

    #[test]
    fn params_never_panic(raw in header_value()) {
        let _ = params::split_list(&raw);
        let _ = params::parse_params(&raw, ParseMode::NoParseFirstParameter);
        let _ = params::parse_params(&raw, ParseMode::ParseAllParameters);
        let _ = pushpin_grip::keepalive::unescape_cstring(&raw);
    }

    #[test]
    fn params_round_trip(
        first in "[a-z0-9/]{1,8}",
        ps in proptest::collection::vec(("[a-z-]{1,6}", "[a-zA-Z0-9 ;,]{0,8}"), 0..4),
    ) {
        let mut text = first.clone();
        for (k, v) in &ps {
            text.push_str(&format!("; {k}=\"{v}\""));
        }
        let parsed = params::parse_params(text.as_bytes(), ParseMode::NoParseFirstParameter).unwrap();
        prop_assert_eq!(parsed.first(), Some(first.as_bytes()));
        let rest: Vec<(Vec<u8>, Vec<u8>)> =
            ps.iter().map(|(k, v)| (k.clone().into_bytes(), v.clone().into_bytes())).collect();
        prop_assert_eq!(parsed.rest(), &rest[..]);
        // as one element of a list, quoted commas do not split it
        let list = format!("{text}, other");
        let parts = params::split_list(list.as_bytes());
        prop_assert_eq!(parts.len(), 2);
        prop_assert_eq!(parts[0], text.as_bytes());
    }

    #[test]
    fn tokens_round_trip(iss in ".{0,16}", secret in proptest::collection::vec(any::<u8>(), 0..40), now in 0i64..2_000_000_000) {
        let token = sig::sign(&iss, &secret, now);
        let claims = sig::verify(token.as_bytes(), &secret, now).unwrap();
        prop_assert_eq!(claims.get("iss").and_then(|v| v.as_str()), Some(iss.as_str()));
        prop_assert!(sig::verify(token.as_bytes(), &secret, now + 3600).is_err());
    }

    #[test]
    fn verify_never_panics(raw in proptest::collection::vec(any::<u8>(), 0..128), secret in proptest::collection::vec(any::<u8>(), 0..8)) {
        let _ = sig::verify(&raw, &secret, 1_700_000_000);
    }
}
