//! Unit tests of `T` decoding: one per error variant, plus the tolerance rules
//! (integers as strings, unknown keys, duplicate keys, trailing bytes).

use bytes::{BufMut, Bytes, BytesMut};
use pushpin_tnetstring::{self as tnet, Kind, Value};

use crate::{
    Condition, ContentType, Error, FieldError, Header, Id, IdSeq, Ids, Limits, Packet, PacketType,
};

fn s(x: &str) -> Value {
    Value::str(x)
}

fn map(entries: Vec<(&str, Value)>) -> Value {
    Value::Map(
        entries
            .into_iter()
            .map(|(k, v)| (Bytes::copy_from_slice(k.as_bytes()), v))
            .collect(),
    )
}

/// `T` + the dictionary of `entries`, in the given order.
fn msg(entries: Vec<(&str, Value)>) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_u8(b'T');
    map(entries).encode(&mut buf);
    buf.freeze()
}

fn decode(entries: Vec<(&str, Value)>) -> Result<Packet, Error> {
    Packet::decode(&msg(entries), &Limits::default())
}

/// The field error of a failed decode, or a panic naming what came instead.
fn field_error(entries: Vec<(&str, Value)>) -> (&'static str, FieldError) {
    match decode(entries) {
        Err(Error::Field { field, source }) => (field, source),
        other => panic!("expected a field error, got {other:?}"),
    }
}

#[test]
fn empty_payload() {
    assert!(matches!(
        Packet::decode(&Bytes::new(), &Limits::default()),
        Err(Error::Empty)
    ));
}

#[test]
fn unknown_format_byte() {
    let err = Packet::decode(&Bytes::from_static(b"X3:abc,"), &Limits::default()).unwrap_err();
    assert!(matches!(err, Error::UnknownFormat { byte: b'X' }));
    assert_eq!(err.to_string(), "unrecognized data format 0x58");
}

#[test]
fn root_must_be_a_dictionary() {
    let err = Packet::decode(&Bytes::from_static(b"T3:abc,"), &Limits::default()).unwrap_err();
    assert!(matches!(
        err,
        Error::Tnet(tnet::Error::WrongType {
            expected: Kind::Map,
            found: Kind::Bytes
        })
    ));
}

#[test]
fn truncated_root_is_a_tnet_error() {
    let err = Packet::decode(&Bytes::from_static(b"T20:4:from,"), &Limits::default()).unwrap_err();
    assert!(matches!(err, Error::Tnet(tnet::Error::Truncated { .. })));
}

#[test]
fn malformed_child_is_a_tnet_error() {
    // A key that is not a string.
    let err = Packet::decode(&Bytes::from_static(b"T8:1:1#1:2#}"), &Limits::default()).unwrap_err();
    assert!(matches!(err, Error::Tnet(tnet::Error::NonStringKey { .. })));
}

#[test]
fn string_field_with_wrong_type() {
    let (field, source) = field_error(vec![("from", Value::Int(3))]);
    assert_eq!(field, "from");
    assert_eq!(
        source,
        FieldError::Tnet(tnet::Error::WrongType {
            expected: Kind::Bytes,
            found: Kind::Int
        })
    );
}

#[test]
fn bool_field_given_as_string_is_rejected() {
    // Both reference peers reject booleans sent as strings (§1.3).
    let (field, source) = field_error(vec![("more", s("true"))]);
    assert_eq!(field, "more");
    assert!(matches!(
        source,
        FieldError::Tnet(tnet::Error::WrongType { .. })
    ));
}

#[test]
fn integer_field_with_wrong_type() {
    let (field, source) = field_error(vec![("seq", Value::List(vec![]))]);
    assert_eq!(field, "seq");
    assert_eq!(source, FieldError::NotIntOrString { found: Kind::List });
}

#[test]
fn integer_field_with_non_numeric_string() {
    let (field, source) = field_error(vec![("credits", s("lots"))]);
    assert_eq!(field, "credits");
    assert_eq!(source, FieldError::NotAnInteger);
}

#[test]
fn negative_and_oversized_integers() {
    let (field, source) = field_error(vec![("seq", Value::Int(-1))]);
    assert_eq!(field, "seq");
    assert_eq!(
        source,
        FieldError::OutOfRange {
            value: -1,
            max: u64::from(u32::MAX)
        }
    );
    let (field, source) = field_error(vec![("code", Value::Int(70_000))]);
    assert_eq!(field, "code");
    assert_eq!(
        source,
        FieldError::OutOfRange {
            value: 70_000,
            max: 65_535
        }
    );
    let (field, _) = field_error(vec![("peer-port", s("65536"))]);
    assert_eq!(field, "peer-port");
    let (field, _) = field_error(vec![("credits", Value::Int(1 << 32))]);
    assert_eq!(field, "credits");
}

#[test]
fn id_with_wrong_type() {
    let (field, source) = field_error(vec![("id", Value::Int(1))]);
    assert_eq!(field, "id");
    assert_eq!(source, FieldError::NotStringOrList { found: Kind::Int });
}

#[test]
fn list_id_entries_must_be_dictionaries() {
    let (field, _) = field_error(vec![("id", Value::List(vec![s("0-0-0")]))]);
    assert_eq!(field, "id");
    let (field, _) = field_error(vec![(
        "id",
        Value::List(vec![map(vec![("seq", Value::Int(-4))])]),
    )]);
    assert_eq!(field, "id.seq");
    let (field, _) = field_error(vec![(
        "id",
        Value::List(vec![map(vec![("id", Value::Int(4))])]),
    )]);
    assert_eq!(field, "id.id");
}

#[test]
fn header_items_must_be_pairs() {
    let one = Value::List(vec![Value::List(vec![s("Host")])]);
    assert_eq!(
        field_error(vec![("headers", one)]),
        ("headers", FieldError::HeaderArity { len: 1 })
    );
    let three = Value::List(vec![Value::List(vec![s("a"), s("b"), s("c")])]);
    assert_eq!(
        field_error(vec![("headers", three)]),
        ("headers", FieldError::HeaderArity { len: 3 })
    );
    let not_list = Value::List(vec![s("Host: x")]);
    assert!(matches!(
        field_error(vec![("headers", not_list)]),
        ("headers", FieldError::Tnet(tnet::Error::WrongType { .. }))
    ));
    let not_string = Value::List(vec![Value::List(vec![s("a"), Value::Int(1)])]);
    assert_eq!(field_error(vec![("headers", not_string)]).0, "headers");
    assert_eq!(field_error(vec![("headers", s("x"))]).0, "headers");
}

#[test]
fn too_many_headers() {
    let h = || Value::List(vec![s("X-A"), s("1")]);
    let ok = Value::List((0..64).map(|_| h()).collect());
    assert_eq!(
        decode(vec![("headers", ok)]).unwrap().header_list().len(),
        64
    );
    let over = Value::List((0..65).map(|_| h()).collect());
    assert!(matches!(
        decode(vec![("headers", over)]),
        Err(Error::TooManyHeaders { max: 64 })
    ));
}

#[test]
fn too_many_ids() {
    let entry = |i: usize| map(vec![("id", s(&format!("0-0-{i}"))), ("seq", Value::Int(1))]);
    let ok = Value::List((0..128).map(entry).collect());
    assert_eq!(decode(vec![("id", ok)]).unwrap().ids.len(), 128);
    let over = Value::List((0..129).map(entry).collect());
    let err = decode(vec![("id", over)]).unwrap_err();
    assert!(matches!(err, Error::TooManyIds { max: 128 }));
    assert_eq!(err.to_string(), "packet addresses more than 128 ids");
}

#[test]
fn body_too_large() {
    let limits = Limits {
        max_body: 4,
        ..Limits::default()
    };
    let ok = msg(vec![("body", s("abcd"))]);
    assert_eq!(Packet::decode(&ok, &limits).unwrap().body_bytes(), b"abcd");
    let over = msg(vec![("body", s("abcde"))]);
    assert!(matches!(
        Packet::decode(&over, &limits),
        Err(Error::BodyTooLarge { len: 5, max: 4 })
    ));
}

#[test]
fn invalid_json() {
    let err = Packet::decode(&Bytes::from_static(b"J{\"id\":"), &Limits::default()).unwrap_err();
    assert!(matches!(err, Error::Json(_)));
    let err = Packet::decode(&Bytes::from_static(b"J[1]"), &Limits::default()).unwrap_err();
    assert!(matches!(
        err,
        Error::Tnet(tnet::Error::WrongType {
            expected: Kind::Map,
            found: Kind::List
        })
    ));
}

#[test]
fn ext_must_be_a_dictionary_but_its_flags_are_lenient() {
    assert_eq!(field_error(vec![("ext", s("multi"))]).0, "ext");
    let p = decode(vec![(
        "ext",
        map(vec![
            ("multi", s("yes")),
            ("quiet", Value::Bool(true)),
            ("x", Value::Int(1)),
        ]),
    )])
    .unwrap();
    assert!(!p.ext.multi);
    assert!(p.ext.quiet);
}

#[test]
fn user_data_depth_is_limited() {
    let mut deep = Value::Null;
    for _ in 0..5 {
        deep = Value::List(vec![deep]);
    }
    let limits = Limits {
        tnet: tnet::Limits {
            max_depth: 4,
            ..tnet::Limits::default()
        },
        ..Limits::default()
    };
    let m = msg(vec![("user-data", deep.clone())]);
    assert!(matches!(
        Packet::decode(&m, &limits),
        Err(Error::Field {
            field: "user-data",
            source: FieldError::Tnet(tnet::Error::TooDeep { max: 4 })
        })
    ));
    let p = Packet::decode(&m, &Limits::default()).unwrap();
    assert_eq!(p.user_data, Some(deep));
}

#[test]
fn integers_sent_as_strings_are_accepted() {
    let p = decode(vec![
        ("peer-port", s("50922")),
        ("credits", s("8192")),
        ("seq", s(" 3 ")),
        ("code", s("+200")),
    ])
    .unwrap();
    assert_eq!(p.peer_port, Some(50922));
    assert_eq!(p.credits, Some(8192));
    assert_eq!(p.seq, Some(3));
    assert_eq!(p.code, Some(200));
}

#[test]
fn unknown_keys_are_ignored_whatever_their_type() {
    let p = decode(vec![
        ("x-future", map(vec![("a", Value::Float(1.5))])),
        ("backend-data", Value::Int(4)),
        ("id", s("a")),
    ])
    .unwrap();
    assert_eq!(p.id(), Some(&Id::from("a")));
}

#[test]
fn last_duplicate_key_wins() {
    let p = decode(vec![
        ("seq", Value::Int(1)),
        ("seq", Value::Int(2)),
        (
            "headers",
            Value::List(vec![Value::List(vec![s("A"), s("1")])]),
        ),
        ("headers", Value::List(vec![])),
    ])
    .unwrap();
    assert_eq!(p.seq, Some(2));
    assert_eq!(p.headers, Some(vec![]));
}

#[test]
fn unknown_type_and_condition_survive() {
    let p = decode(vec![
        ("type", s("frobnicate")),
        ("condition", s("new-thing")),
    ])
    .unwrap();
    assert_eq!(
        p.ptype,
        PacketType::Unknown(Bytes::from_static(b"frobnicate"))
    );
    assert_eq!(
        p.condition,
        Some(Condition::Other(Bytes::from_static(b"new-thing")))
    );
    let again = Packet::decode(&p.to_bytes(), &Limits::default()).unwrap();
    assert_eq!(again, p);
}

#[test]
fn trailing_bytes_are_ignored() {
    let mut buf = BytesMut::from(&msg(vec![("id", s("a"))])[..]);
    buf.put_slice(b"garbage");
    let p = Packet::decode(&buf.freeze(), &Limits::default()).unwrap();
    assert_eq!(p.id(), Some(&Id::from("a")));
}

#[test]
fn byte_fields_are_zero_copy() {
    let m = msg(vec![("body", s("hello")), ("from", s("x"))]);
    let p = Packet::decode(&m, &Limits::default()).unwrap();
    let body = p.body.unwrap();
    let range = m.as_ptr_range();
    assert!(range.contains(&body.as_ptr()));
    assert!(range.contains(&p.from.as_ptr()));
}

#[test]
fn absent_and_empty_are_kept_apart() {
    let p = decode(vec![("body", s("")), ("headers", Value::List(vec![]))]).unwrap();
    assert_eq!(p.body, Some(Bytes::new()));
    assert_eq!(p.headers, Some(vec![]));
    let p = decode(vec![]).unwrap();
    assert_eq!(p, Packet::default());
    assert_eq!(p.body_bytes(), b"");
    assert!(p.header_list().is_empty());
}

#[test]
fn list_form_ids_and_targets() {
    let p = decode(vec![(
        "id",
        Value::List(vec![
            map(vec![("id", s("0-0-0")), ("seq", Value::Int(2))]),
            map(vec![
                ("id", s("0-1-1")),
                ("seq", Value::Int(5)),
                ("x", Value::Null),
            ]),
            map(vec![("seq", Value::Int(7))]),
        ]),
    )])
    .unwrap();
    assert_eq!(
        p.ids,
        Ids::Many(vec![
            IdSeq::new("0-0-0", 2),
            IdSeq::new("0-1-1", 5),
            IdSeq {
                id: Id::default(),
                seq: Some(7)
            },
        ])
    );
    let targets: Vec<_> = p.targets().map(|(id, seq)| (id.to_string(), seq)).collect();
    assert_eq!(
        targets,
        [
            ("0-0-0".to_owned(), Some(2)),
            ("0-1-1".to_owned(), Some(5)),
            (String::new(), Some(7))
        ]
    );
    // A top-level seq overrides the first entry's, as both reference decoders do.
    let p = Packet { seq: Some(9), ..p };
    assert_eq!(p.targets().next().map(|(_, seq)| seq), Some(Some(9)));
    assert_eq!(p.targets().len(), 3);
}

#[test]
fn typed_values() {
    let p = decode(vec![
        ("type", s("close")),
        ("code", Value::Int(1000)),
        ("body", s("done")),
        ("content-type", s("binary")),
        ("condition", s("rejected")),
        (
            "headers",
            Value::List(vec![Value::List(vec![s("X-A"), s("1")])]),
        ),
    ])
    .unwrap();
    assert_eq!(p.ptype, PacketType::Close);
    assert_eq!(p.code, Some(1000));
    assert_eq!(p.content_type, Some(ContentType::Binary));
    assert!(p.is_binary());
    assert_eq!(p.condition, Some(Condition::Rejected));
    assert_eq!(p.header_list(), [Header::new("X-A", "1")]);
    assert!(p.header_list()[0].is(b"x-a"));
}

#[test]
fn wire_enum_spellings() {
    for (text, c) in [
        ("bad-request", Condition::BadRequest),
        ("policy-violation", Condition::PolicyViolation),
        (
            "remote-connection-failed",
            Condition::RemoteConnectionFailed,
        ),
        ("connection-timeout", Condition::ConnectionTimeout),
        ("tls-error", Condition::TlsError),
        ("content-not-allowed", Condition::ContentNotAllowed),
        ("too-many-redirects", Condition::TooManyRedirects),
        ("max-size-exceeded", Condition::MaxSizeExceeded),
        ("session-timeout", Condition::SessionTimeout),
        ("undefined-condition", Condition::UndefinedCondition),
        ("rejected", Condition::Rejected),
        ("frame-too-large", Condition::FrameTooLarge),
        ("disconnected", Condition::Disconnected),
        ("length-required", Condition::LengthRequired),
    ] {
        assert_eq!(text.parse::<Condition>(), Ok(c.clone()));
        assert_eq!(c.as_str(), Some(text));
        assert_eq!(c.to_string(), text);
    }
    for (text, t) in [
        ("error", PacketType::Error),
        ("credit", PacketType::Credit),
        ("keep-alive", PacketType::KeepAlive),
        ("cancel", PacketType::Cancel),
        ("handoff-start", PacketType::HandoffStart),
        ("handoff-proceed", PacketType::HandoffProceed),
        ("close", PacketType::Close),
        ("ping", PacketType::Ping),
        ("pong", PacketType::Pong),
    ] {
        assert_eq!(text.parse::<PacketType>(), Ok(t.clone()));
        assert_eq!(t.as_str(), Some(text));
    }
    assert_eq!(PacketType::Data.as_bytes(), None);
    assert_eq!(PacketType::Data.to_string(), "data");
    assert_eq!(
        "data".parse::<PacketType>(),
        Ok(PacketType::Unknown(Bytes::from_static(b"data")))
    );
    assert_eq!(Condition::Other(Bytes::from_static(b"\xff")).as_str(), None);
    assert_eq!("text".parse::<ContentType>(), Ok(ContentType::Text));
    assert!(!ContentType::Other(Bytes::from_static(b"BINARY")).is_binary());
}

#[test]
fn error_messages_name_the_field() {
    let err = decode(vec![("seq", Value::Int(-1))]).unwrap_err();
    assert_eq!(err.to_string(), "invalid field \"seq\"");
    let source = std::error::Error::source(&err).map(ToString::to_string);
    assert_eq!(
        source.as_deref(),
        Some("integer -1 is outside 0..=4294967295")
    );
}
