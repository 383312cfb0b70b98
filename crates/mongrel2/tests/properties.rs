//! Properties over generated messages: encode then decode gives the value back;
//! arbitrary and mutated bytes never panic any decoder; strict prefixes of
//! requests (and of responses up to their body) are `Error::Truncated`.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use pushpin_mongrel2::control::{ControlReply, ControlRequest};
use pushpin_mongrel2::{
    ConnId, Ctl, CtlArg, Error, Extended, HeaderValue, Headers, Limits, Protocol, Request,
    RequestKind, Response, ResponseBody,
};
use pushpin_tnetstring::Value;

fn bytes_of(max: usize) -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

fn token() -> impl Strategy<Value = Bytes> {
    // Any bytes but a space, non-empty.
    prop::collection::vec(any::<u8>().prop_filter("no space", |b| *b != b' '), 1..16)
        .prop_map(Bytes::from)
}

fn sender() -> impl Strategy<Value = Bytes> {
    "[A-Za-z0-9-]{1,24}".prop_map(Bytes::from)
}

fn protocol() -> impl Strategy<Value = Protocol> {
    prop_oneof![Just(Protocol::Json), Just(Protocol::Tnetstring)]
}

fn header_value() -> impl Strategy<Value = HeaderValue> {
    prop_oneof![
        bytes_of(24).prop_map(HeaderValue::One),
        prop::collection::vec(bytes_of(12), 1..4).prop_map(HeaderValue::Many),
    ]
}

/// Client headers: lower-case names (so never metadata) with arbitrary values.
fn client_headers() -> impl Strategy<Value = Vec<(Bytes, HeaderValue)>> {
    prop::collection::vec(
        ("[a-z][a-z0-9-]{0,12}".prop_map(Bytes::from), header_value()),
        0..8,
    )
}

/// Metadata that makes a valid request of some kind.
fn metadata() -> impl Strategy<Value = Vec<(&'static str, String)>> {
    let method = prop_oneof![
        Just("GET"),
        Just("POST"),
        Just("HEAD"),
        Just("WEBSOCKET_HANDSHAKE"),
        Just("XML"),
        Just("JSON"),
    ];
    prop_oneof![
        (method, prop::option::of(any::<u32>())).prop_map(|(m, credits)| {
            let mut v = vec![("METHOD", m.to_owned()), ("VERSION", "HTTP/1.1".to_owned())];
            if let Some(c) = credits {
                v.push(("DOWNLOAD_CREDITS", c.to_string()));
            }
            v
        }),
        (0x80u8..=0xff).prop_map(|f| vec![
            ("METHOD", "WEBSOCKET".to_owned()),
            ("FLAGS", format!("0x{f:X}"))
        ]),
        (any::<u64>(), any::<bool>()).prop_map(|(off, done)| {
            let mut v = vec![("UPLOAD_STREAM", off.to_string())];
            if done {
                v.push(("UPLOAD_STREAM_DONE", "1".to_owned()));
            }
            v
        }),
        (any::<u64>(), any::<bool>()).prop_map(|(off, done)| {
            let mut v = vec![
                ("METHOD", "POST".to_owned()),
                ("UPLOAD_STREAM", off.to_string()),
            ];
            if done {
                v.push(("UPLOAD_STREAM_DONE", "1".to_owned()));
            }
            v
        }),
        "/tmp/[a-z]{1,8}".prop_map(|p| vec![
            ("METHOD", "PUT".to_owned()),
            ("x-mongrel2-upload-start", p.clone()),
            ("x-mongrel2-upload-done", p)
        ]),
    ]
}

fn request() -> impl Strategy<Value = Request> {
    (
        token(),
        any::<u64>(),
        token(),
        protocol(),
        metadata(),
        client_headers(),
        bytes_of(64),
        any::<usize>(),
    )
        .prop_map(|(sender, id, path, protocol, meta, client, body, at)| {
            let mut headers: Vec<(Bytes, HeaderValue)> = client;
            for (i, (name, value)) in meta.into_iter().enumerate() {
                let entry = (
                    Bytes::from_static(name.as_bytes()),
                    HeaderValue::One(Bytes::from(value)),
                );
                let at = (at.wrapping_add(i)) % (headers.len() + 1);
                headers.insert(at, entry);
            }
            Request::new(sender, ConnId(id), path, protocol, Headers(headers), body)
                .expect("generated metadata is valid")
        })
}

fn event() -> impl Strategy<Value = Request> {
    (
        sender(),
        any::<u64>(),
        any::<u32>(),
        protocol(),
        any::<bool>(),
    )
        .prop_map(|(s, id, credits, protocol, disconnect)| {
            if disconnect {
                Request::disconnect(s, ConnId(id), protocol)
            } else {
                Request::credits(s, ConnId(id), credits, protocol)
            }
        })
}

/// Header names that steer classification, or arbitrary bytes.
fn meta_or_any_name() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        bytes_of(12),
        prop::sample::select(vec![
            "METHOD",
            "FLAGS",
            "UPLOAD_STREAM",
            "UPLOAD_STREAM_DONE",
            "DOWNLOAD_CREDITS",
            "x-mongrel2-upload-start",
            "x-mongrel2-upload-done",
        ])
        .prop_map(|n| Bytes::from_static(n.as_bytes())),
    ]
}

fn meta_or_any_value() -> impl Strategy<Value = HeaderValue> {
    prop_oneof![
        header_value(),
        prop::sample::select(vec!["WEBSOCKET", "JSON", "XML", "0x81", "12", "0", ""])
            .prop_map(HeaderValue::from),
    ]
}

/// Tnetstring values without floats (NaN never equals itself).
fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        bytes_of(8).prop_map(Value::Bytes),
        any::<i64>().prop_map(Value::Int),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::List),
            prop::collection::vec((bytes_of(6), inner), 0..4).prop_map(Value::Map),
        ]
    })
}

fn ctl_arg() -> impl Strategy<Value = CtlArg> {
    prop_oneof![
        Just(CtlArg::KeepAlive),
        Just(CtlArg::Cancel),
        any::<u32>().prop_map(CtlArg::Credits),
        ("x-[a-z]{0,6}".prop_map(Bytes::from), value())
            .prop_map(|(name, value)| CtlArg::Other { name, value }),
    ]
}

fn response_body() -> impl Strategy<Value = ResponseBody> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 1..64).prop_map(|d| ResponseBody::Data(Bytes::from(d))),
        Just(ResponseBody::Close),
        prop::collection::vec(ctl_arg(), 0..4)
            .prop_map(|args| ResponseBody::Extended(Extended::Ctl(Ctl { args }))),
        ("[a-z]{1,8}".prop_filter("not ctl", |n| n != "ctl"), value()).prop_map(|(n, v)| {
            ResponseBody::Extended(Extended::Other {
                name: Bytes::from(n),
                value: v,
            })
        }),
    ]
}

fn response() -> impl Strategy<Value = Response> {
    (
        sender(),
        prop::collection::vec(any::<u64>().prop_map(ConnId), 1..=128),
        response_body(),
    )
        .prop_map(|(sender, targets, body)| Response {
            sender,
            targets,
            body,
        })
}

/// Length of a response's `UUID SP SIZE:IDS, SP` head.
fn response_head_len(frame: &[u8]) -> usize {
    let comma_space = frame.windows(2).position(|w| w == b", ").unwrap();
    comma_space + 2
}

fn no_panic_anywhere(data: &[u8]) {
    let limits = Limits::default();
    let b = Bytes::copy_from_slice(data);
    if let Ok(r) = Request::decode(&b, &limits) {
        assert_eq!(Request::decode(&r.to_bytes(), &limits).as_ref(), Ok(&r));
    }
    if let Ok(r) = Response::decode(&b, &limits) {
        // Re-encoding what decoded decodes again (values with NaN floats
        // compare unequal, so compare encodings).
        let again = Response::decode(&r.to_bytes(), &limits).unwrap();
        assert_eq!(again.to_bytes(), r.to_bytes());
    }
    let _ = ControlRequest::decode(&b, &limits);
    let _ = ControlReply::decode(&b, &limits);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn request_round_trips(r in prop_oneof![request(), event()]) {
        let limits = Limits::default();
        let bytes = r.to_bytes();
        let back = Request::decode(&bytes, &limits).unwrap();
        prop_assert_eq!(&back, &r);
        prop_assert_eq!(back.to_bytes(), bytes);
    }

    #[test]
    fn response_round_trips(r in response()) {
        let limits = Limits::default();
        let bytes = r.to_bytes();
        let back = Response::decode(&bytes, &limits).unwrap();
        prop_assert_eq!(&back, &r);
        prop_assert_eq!(back.to_bytes(), bytes);
    }

    #[test]
    fn arbitrary_headers_agree_with_new(
        sender in token(),
        path in token(),
        protocol in protocol(),
        headers in prop::collection::vec((meta_or_any_name(), meta_or_any_value()), 0..6),
        body in bytes_of(32),
    ) {
        // Whatever `new` says about arbitrary (maybe metadata-looking) headers,
        // decoding the encoding says the same.
        let raw = Request {
            sender,
            conn_id: ConnId(1),
            path,
            protocol,
            headers: Headers(headers),
            body,
            kind: RequestKind::Xml,
            download_credits: None,
        };
        let built = Request::new(
            raw.sender.clone(),
            raw.conn_id,
            raw.path.clone(),
            raw.protocol,
            raw.headers.clone(),
            raw.body.clone(),
        );
        prop_assert_eq!(Request::decode(&raw.to_bytes(), &Limits::default()), built);
    }

    #[test]
    fn strict_request_prefixes_are_truncated(r in prop_oneof![request(), event()]) {
        let bytes = r.to_bytes();
        for len in 0..bytes.len() {
            let prefix = bytes.slice(..len);
            match Request::decode(&prefix, &Limits::default()) {
                Err(e) => prop_assert!(e.is_truncated(), "prefix {len}: {e:?}"),
                Ok(_) => prop_assert!(false, "prefix {len} of {bytes:?} decoded"),
            }
        }
    }

    #[test]
    fn strict_response_prefixes(r in response()) {
        let bytes = r.to_bytes();
        let head = response_head_len(&bytes);
        let extended = matches!(r.body, ResponseBody::Extended(_));
        for len in 0..bytes.len() {
            let prefix = bytes.slice(..len);
            let res = Response::decode(&prefix, &Limits::default());
            if len < head || extended {
                prop_assert!(
                    matches!(&res, Err(e) if e.is_truncated()),
                    "prefix {len}: {res:?}"
                );
            } else {
                // Data bodies have no length: a shorter frame is a shorter body.
                let body = &bytes[head..len];
                let want = if body.is_empty() {
                    ResponseBody::Close
                } else {
                    ResponseBody::Data(Bytes::copy_from_slice(body))
                };
                prop_assert_eq!(res.map(|r| r.body), Ok(want));
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..256)) {
        no_panic_anywhere(&data);
    }

    #[test]
    fn mutated_messages_never_panic(
        r in request(),
        s in response(),
        edits in prop::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        cut in any::<usize>(),
    ) {
        for frame in [r.to_bytes(), s.to_bytes()] {
            let mut data = frame.to_vec();
            for (at, byte) in &edits {
                let i = at % data.len();
                data[i] = *byte;
            }
            no_panic_anywhere(&data);
            let keep = cut % (data.len() + 1);
            no_panic_anywhere(&data[..keep]);
        }
    }

    #[test]
    fn write_functions_match_response_encode(r in response()) {
        let mut buf = BytesMut::new();
        match &r.body {
            ResponseBody::Data(d) => pushpin_mongrel2::write_data(&mut buf, &r.sender, &r.targets, d),
            ResponseBody::Close => pushpin_mongrel2::write_close(&mut buf, &r.sender, &r.targets),
            ResponseBody::Extended(Extended::Ctl(c)) => {
                pushpin_mongrel2::write_ctl(&mut buf, &r.sender, &r.targets, &c.args);
            }
            ResponseBody::Extended(e) => {
                pushpin_mongrel2::write_extended(&mut buf, &r.sender, &r.targets, e);
            }
        }
        prop_assert_eq!(buf.freeze(), r.to_bytes());
    }
}

#[test]
fn header_value_lists_survive_both_protocols() {
    let mut h = Headers::new();
    h.push("METHOD", "GET");
    h.push(
        "x",
        HeaderValue::Many(vec![
            Bytes::from_static(b"\"\\"),
            Bytes::from_static(b"\x00\xff"),
        ]),
    );
    for protocol in [Protocol::Json, Protocol::Tnetstring] {
        let r = Request::new(
            Bytes::from_static(b"s"),
            ConnId(1),
            Bytes::from_static(b"/"),
            protocol,
            h.clone(),
            Bytes::new(),
        )
        .unwrap();
        let back = Request::decode(&r.to_bytes(), &Limits::default()).unwrap();
        assert_eq!(back, r);
        assert!(matches!(back.kind, RequestKind::Http { upload: None }));
    }
    assert!(
        Error::Truncated {
            part: pushpin_mongrel2::Part::Body,
            offset: 0
        }
        .is_truncated()
    );
}
