//! Properties of the codec over generated packets and arbitrary bytes: encode then
//! decode is the identity (both formats), decoding never panics, and every strict
//! prefix of a valid `T` message is an error.

use bytes::{BufMut, Bytes, BytesMut};
use proptest::option::of as opt;
use proptest::prelude::*;
use pushpin_tnetstring::{self as tnet, Value};
use pushpin_zhttp::{
    Condition, ContentType, Error, Ext, Header, Id, IdSeq, Ids, Limits, Packet, PacketType,
};

fn bytes_s() -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..12).prop_map(Bytes::from)
}

/// Wire spellings: mostly known ones, sometimes anything.
fn spelling(
    known: &'static [&'static str],
    other: BoxedStrategy<Bytes>,
) -> impl Strategy<Value = Bytes> {
    prop_oneof![
        3 => prop::sample::select(known).prop_map(|s| Bytes::from_static(s.as_bytes())),
        1 => other,
    ]
}

fn value_s() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        bytes_s().prop_map(Value::Bytes),
        any::<i64>().prop_map(Value::Int),
        any::<f64>()
            .prop_filter("NaN never equals itself", |x| !x.is_nan())
            .prop_map(Value::Float),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::List),
            prop::collection::vec((bytes_s(), inner), 0..4).prop_map(Value::Map),
        ]
    })
    .boxed()
}

fn ids_s(text: BoxedStrategy<Bytes>) -> impl Strategy<Value = Ids> {
    prop_oneof![
        Just(Ids::None),
        text.clone().prop_map(|b| Ids::One(Id(b))),
        prop::collection::vec((text, opt(any::<u32>())), 0..4).prop_map(|list| {
            Ids::Many(
                list.into_iter()
                    .map(|(id, seq)| IdSeq { id: Id(id), seq })
                    .collect(),
            )
        }),
    ]
}

fn headers_s(text: BoxedStrategy<Bytes>) -> impl Strategy<Value = Vec<Header>> {
    prop::collection::vec((text.clone(), text), 0..5)
        .prop_map(|hs| hs.into_iter().map(|(n, v)| Header::new(n, v)).collect())
}

/// Packets whose byte strings come from `text`, with `user-data` and `passthrough`
/// from `value` (or absent).
fn packet_s(
    text: BoxedStrategy<Bytes>,
    value: BoxedStrategy<Option<Value>>,
) -> impl Strategy<Value = Packet> {
    let t = move || text.clone();
    let ptype = spelling(
        &[
            "error",
            "credit",
            "keep-alive",
            "cancel",
            "handoff-start",
            "handoff-proceed",
            "close",
            "ping",
            "pong",
        ],
        t(),
    )
    .prop_map(PacketType::from_wire);
    let ptype = prop_oneof![Just(PacketType::Data), ptype];
    let condition = spelling(
        &[
            "bad-request",
            "rejected",
            "policy-violation",
            "session-timeout",
        ],
        t(),
    )
    .prop_map(Condition::from_wire);
    let content_type = spelling(&["text", "binary"], t()).prop_map(ContentType::from_wire);
    let addressing = (
        t(),
        ids_s(t()),
        opt(any::<u32>()),
        any::<(bool, bool)>(),
        ptype,
        opt(condition),
    );
    let common = (
        opt(any::<u32>()),
        any::<bool>(),
        opt(any::<u16>()),
        opt(t()),
        opt(headers_s(t())),
        opt(t()),
        opt(content_type),
        value.clone(),
    );
    let request = (
        (
            opt(t()),
            opt(t()),
            any::<(bool, bool)>(),
            opt(any::<u32>()),
            opt(any::<u32>()),
        ),
        (opt(t()), opt(any::<u16>()), opt(t()), opt(any::<u16>())),
        (any::<[bool; 4]>(), opt(t()), opt(t()), value, opt(t())),
    );
    (addressing, common, request).prop_map(
        |(
            (from, ids, seq, (multi, quiet), ptype, condition),
            (credits, more, code, reason, headers, body, content_type, user_data),
            (
                (method, uri, (stream, router_resp), max_size, timeout),
                (peer_address, peer_port, connect_host, connect_port),
                (flags, client_cert, client_key, passthrough, old_from),
            ),
        )| {
            let [
                ignore_policies,
                trust_connect_host,
                ignore_tls_errors,
                follow_redirects,
            ] = flags;
            Packet {
                from,
                ids,
                seq,
                ext: Ext { multi, quiet },
                ptype,
                condition,
                credits,
                more,
                code,
                reason,
                headers,
                body,
                content_type,
                user_data,
                method,
                uri,
                stream,
                router_resp,
                max_size,
                timeout,
                peer_address,
                peer_port,
                connect_host,
                connect_port,
                ignore_policies,
                trust_connect_host,
                ignore_tls_errors,
                follow_redirects,
                client_cert,
                client_key,
                passthrough,
                old_from,
            }
        },
    )
}

fn any_packet() -> impl Strategy<Value = Packet> {
    packet_s(bytes_s().boxed(), opt(value_s()).boxed())
}

/// Packets JSON can carry: UTF-8 strings, and no opaque values (JSON objects come
/// back with sorted, deduplicated keys).
fn json_packet() -> impl Strategy<Value = Packet> {
    let text = "[a-z\u{e9}\u{1f600} \"\\\\/\n]{0,8}"
        .prop_map(Bytes::from)
        .boxed();
    packet_s(text, Just(None).boxed())
}

/// A message that decodes: the encoding of a generated packet.
fn valid_message() -> impl Strategy<Value = Bytes> {
    any_packet().prop_map(|p| p.to_bytes())
}

/// Decoding whatever bytes must not panic; what decodes must round-trip.
fn check_no_panic(data: &[u8]) {
    let limits = Limits::default();
    let input = Bytes::copy_from_slice(data);
    if let Ok((p, format)) = Packet::decode_with_format(&input, &limits) {
        let mut buf = BytesMut::new();
        p.encode_as(format, &mut buf);
        let again = Packet::decode(&buf.freeze(), &limits).expect("re-encoded packet decodes");
        // Floats parsed from the input may be NaN; compare encodings.
        assert_eq!(again.to_bytes(), p.to_bytes());
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        // Integration tests have no `lib.rs` next to them to persist failures by.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn encode_then_decode_is_identity(p in any_packet()) {
        let bytes = p.to_bytes();
        let decoded = Packet::decode(&bytes, &Limits::default()).expect("decodes");
        prop_assert_eq!(&decoded, &p);
        prop_assert_eq!(decoded.to_bytes(), bytes);
    }

    #[test]
    fn json_encode_then_decode_is_identity(p in json_packet()) {
        let mut buf = BytesMut::new();
        p.encode_json(&mut buf);
        let bytes = buf.freeze();
        prop_assert!(bytes.starts_with(b"J\x7b"), "not a JSON object");
        let decoded = Packet::decode(&bytes, &Limits::default()).expect("decodes");
        prop_assert_eq!(decoded, p);
    }

    #[test]
    fn strict_prefixes_are_errors(msg in valid_message()) {
        for len in 0..msg.len() {
            let prefix = msg.slice(..len);
            match Packet::decode(&prefix, &Limits::default()) {
                Err(Error::Empty) => prop_assert_eq!(len, 0),
                Err(Error::Tnet(tnet::Error::Truncated { .. })) => prop_assert!(len > 0),
                other => prop_assert!(false, "prefix of {} bytes: {:?}", len, other),
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..256)) {
        check_no_panic(&data);
    }

    #[test]
    fn arbitrary_t_and_j_payloads_never_panic(
        prefix in prop::sample::select(&b"TJ"[..]),
        data in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        let mut buf = BytesMut::new();
        buf.put_u8(prefix);
        buf.put_slice(&data);
        check_no_panic(&buf);
    }

    #[test]
    fn mutated_messages_never_panic(
        msg in valid_message(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut data = msg.to_vec();
        for (at, byte) in edits {
            let i = at.index(data.len());
            data[i] = byte;
        }
        check_no_panic(&data);
    }

    #[test]
    fn arbitrary_json_objects_never_panic(
        entries in prop::collection::vec(
            (
                prop::sample::select(&["id", "seq", "credits", "headers", "body", "ext", "type", "user-data", "x"][..]),
                prop_oneof![
                    Just("1".to_owned()),
                    Just("-1".to_owned()),
                    Just("1.5".to_owned()),
                    Just("1e300".to_owned()),
                    Just("18446744073709551615".to_owned()),
                    Just("\"s\"".to_owned()),
                    Just("[[\"a\",\"b\"]]".to_owned()),
                    Just("[{\"id\":\"a\",\"seq\":2}]".to_owned()),
                    Just("{\"multi\":true}".to_owned()),
                    Just("[[[[[[]]]]]]".to_owned()),
                    Just("null".to_owned()),
                ],
            ),
            0..6,
        ),
    ) {
        let body: Vec<String> = entries.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        let text = format!("J{{{}}}", body.join(","));
        check_no_panic(text.as_bytes());
    }
}
