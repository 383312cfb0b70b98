//! Property tests: encode then decode gives back the input for the main
//! messages; every strict prefix is `Incomplete`; arbitrary bytes never panic.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use pushpin_grip::publish::FormatKind;
use pushpin_grip::{KeepAliveMode, WsMessageType};
use pushpin_internal::zrpc::{Outcome, Request, Response};
use pushpin_internal::{
    AcceptArgs, AcceptResult, Call, Condition, ConnectionType, Error, GripControl, InspectArgs,
    InspectInfo, Known, Limits, RefreshArgs, Report, RequestData, RequestState, ResponseData,
    RetryPacket, RetryRequest, Rid, StatsBody, StatsPacket, SubscriptionMode, Value, WsControlItem,
    WsControlItemKind, WsControlPacket,
};

fn b() -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..12).prop_map(Bytes::from)
}

fn nb() -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 1..12).prop_map(Bytes::from)
}

fn onb() -> impl Strategy<Value = Option<Bytes>> {
    proptest::option::of(nb())
}

fn headers() -> impl Strategy<Value = Vec<(Bytes, Bytes)>> {
    proptest::collection::vec((b(), b()), 0..4)
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        b().prop_map(Value::Bytes),
        any::<i64>().prop_map(Value::Int),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
    ];
    leaf.prop_recursive(2, 12, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::List),
            proptest::collection::vec((b(), inner), 0..3).prop_map(Value::Map),
        ]
    })
}

fn rid() -> impl Strategy<Value = Rid> {
    (b(), b()).prop_map(|(sender, id)| Rid { sender, id })
}

fn request_data() -> impl Strategy<Value = RequestData> {
    (b(), b(), headers(), b()).prop_map(|(method, uri, headers, body)| RequestData {
        method,
        uri,
        headers,
        body,
    })
}

fn response_data() -> impl Strategy<Value = ResponseData> {
    (0u16..1000, b(), headers(), b()).prop_map(|(code, reason, headers, body)| ResponseData {
        code,
        reason,
        headers,
        body,
    })
}

fn inspect_info() -> impl Strategy<Value = InspectInfo> {
    (
        any::<bool>(),
        onb(),
        onb(),
        proptest::collection::vec((b(), b()), 0..3),
        proptest::option::of(value()),
    )
        .prop_map(
            |(no_proxy, sharing_key, sid, last_ids, user_data)| InspectInfo {
                no_proxy,
                sharing_key,
                sid,
                last_ids,
                user_data,
            },
        )
}

prop_compose! {
    fn request_state()(
        rid in rid(), seqs in any::<(u32, u32, u32)>(), peer in proptest::option::of(b()),
        logical in proptest::option::of(b()), flags in any::<(bool, bool, bool, bool, bool)>(),
        cb in onb(), code in proptest::option::of(0u16..1000), ud in proptest::option::of(value()),
    ) -> RequestState {
        RequestState {
            rid,
            in_seq: seqs.0,
            out_seq: seqs.1,
            out_credits: seqs.2,
            peer_address: peer,
            logical_peer_address: logical,
            https: flags.0,
            debug: flags.1,
            is_retry: flags.2,
            auto_cross_origin: flags.3,
            jsonp_extended_response: flags.4 && cb.is_some(),
            jsonp_callback: cb,
            response_code: code,
            user_data: ud,
        }
    }
}

prop_compose! {
    fn accept_args()(
        requests in proptest::collection::vec(request_state(), 0..3),
        request_data in request_data(), orig in request_data(),
        response in proptest::option::of(response_data()), inspect in proptest::option::of(inspect_info()),
        route in onb(), prefix in onb(), channels in proptest::collection::vec(b(), 0..3),
        flags in any::<(bool, bool, bool, bool)>(),
    ) -> AcceptArgs {
        AcceptArgs {
            requests, request_data, orig_request_data: orig, response, inspect, route,
            separate_stats: flags.0, channel_prefix: prefix, channels, trusted: flags.1,
            use_session: flags.2, response_sent: flags.3,
        }
    }
}

prop_compose! {
    fn retry_packet()(
        reqs in proptest::collection::vec(
            (rid(), any::<(u32, u32, u32)>(), proptest::option::of(b()), any::<(bool, bool, bool, bool)>(), onb(), proptest::option::of(value())),
            0..3),
        request_data in request_data(), inspect in proptest::option::of(inspect_info()), route in onb(),
    ) -> RetryPacket {
        RetryPacket {
            requests: reqs.into_iter().map(|(rid, s, peer, f, cb, ud)| RetryRequest {
                rid, in_seq: s.0, out_seq: s.1, out_credits: s.2, https: f.0, peer_address: peer,
                debug: f.1, auto_cross_origin: f.2, jsonp_extended_response: f.3 && cb.is_some(),
                jsonp_callback: cb, user_data: ud,
            }).collect(),
            request_data, inspect, route,
        }
    }
}

fn other_spelling(known: &'static [&'static str]) -> impl Strategy<Value = Bytes> {
    nb().prop_filter("not a known spelling", move |v| {
        !known.iter().any(|k| k.as_bytes() == v.as_ref())
    })
}

fn item_kind() -> impl Strategy<Value = WsControlItemKind> {
    let msg_type = prop_oneof![
        prop_oneof![
            Just(WsMessageType::Text),
            Just(WsMessageType::Binary),
            Just(WsMessageType::Ping),
            Just(WsMessageType::Pong)
        ]
        .prop_map(Known::Known),
        other_spelling(&["text", "binary", "ping", "pong"]).prop_map(Known::Other),
    ];
    let mode = prop_oneof![
        prop_oneof![Just(KeepAliveMode::Idle), Just(KeepAliveMode::Interval)]
            .prop_map(Known::Known),
        other_spelling(&["idle", "interval"]).prop_map(Known::Other),
    ];
    prop_oneof![
        (
            onb(),
            proptest::option::of(any::<u32>()),
            onb(),
            any::<bool>(),
            onb()
        )
            .prop_map(|(uri, ttl, route, separate_stats, channel_prefix)| {
                WsControlItemKind::Here {
                    uri,
                    ttl,
                    route,
                    separate_stats,
                    channel_prefix,
                }
            }),
        proptest::option::of(any::<u32>()).prop_map(|ttl| WsControlItemKind::KeepAlive { ttl }),
        Just(WsControlItemKind::Gone),
        b().prop_map(|message| WsControlItemKind::Grip { message }),
        onb().prop_map(|channel| WsControlItemKind::Subscribe { channel }),
        Just(WsControlItemKind::NeedKeepAlive),
        Just(WsControlItemKind::Ack),
        Just(WsControlItemKind::Cancel),
        (proptest::option::of(msg_type), b(), any::<bool>()).prop_map(
            |(content_type, message, queue)| {
                WsControlItemKind::Send {
                    content_type,
                    message,
                    queue,
                }
            }
        ),
        (
            proptest::option::of(any::<u32>()),
            proptest::option::of(mode)
        )
            .prop_map(|(timeout, mode)| WsControlItemKind::KeepAliveSetup { timeout, mode }),
        (proptest::option::of(any::<u16>()), onb())
            .prop_map(|(code, reason)| WsControlItemKind::Close { code, reason }),
        Just(WsControlItemKind::Detach),
    ]
}

fn ws_packet() -> impl Strategy<Value = WsControlPacket> {
    proptest::collection::vec((b(), onb(), item_kind()), 0..4).prop_map(|items| WsControlPacket {
        items: items
            .into_iter()
            .map(|(cid, req_id, kind)| WsControlItem { cid, req_id, kind })
            .collect(),
    })
}

fn stats_body() -> impl Strategy<Value = StatsBody> {
    let transport = prop_oneof![
        prop_oneof![
            Just(FormatKind::HttpResponse),
            Just(FormatKind::HttpStream),
            Just(FormatKind::WsMessage)
        ]
        .prop_map(Known::Known),
        other_spelling(&["http-response", "http-stream", "ws-message"]).prop_map(Known::Other),
    ];
    let mode = || {
        prop_oneof![
            prop_oneof![
                Just(SubscriptionMode::Response),
                Just(SubscriptionMode::Stream),
                Just(SubscriptionMode::Ws)
            ]
            .prop_map(Known::Known),
            other_spelling(&["response", "stream", "ws"]).prop_map(Known::Other),
        ]
    };
    let report = proptest::collection::vec(proptest::option::of(any::<i64>()), 20).prop_map(|v| {
        Box::new(Report {
            connections: v[0],
            minutes: v[1],
            received: v[2],
            sent: v[3],
            http_response_sent: v[4],
            blocks_received: v[5],
            blocks_sent: v[6],
            duration: v[7],
            client_header_bytes_received: v[8],
            client_header_bytes_sent: v[9],
            client_content_bytes_received: v[10],
            client_content_bytes_sent: v[11],
            client_messages_received: v[12],
            client_messages_sent: v[13],
            server_header_bytes_received: v[14],
            server_header_bytes_sent: v[15],
            server_content_bytes_received: v[16],
            server_content_bytes_sent: v[17],
            server_messages_received: v[18],
            server_messages_sent: v[19],
        })
    });
    prop_oneof![
        any::<u32>().prop_map(|count| StatsBody::Activity { count }),
        (
            b(),
            proptest::option::of(b()),
            any::<u32>(),
            proptest::option::of(0i64..1 << 40),
            transport
        )
            .prop_map(
                |(channel, item_id, count, blocks, transport)| StatsBody::Message {
                    channel,
                    item_id,
                    count,
                    blocks,
                    transport
                }
            ),
        (
            b(),
            any::<bool>(),
            proptest::option::of(b()),
            any::<bool>(),
            any::<u32>()
        )
            .prop_map(|(id, ws, peer_address, ssl, ttl)| StatsBody::Connected {
                id,
                conn_type: if ws {
                    ConnectionType::Ws
                } else {
                    ConnectionType::Http
                },
                peer_address,
                ssl,
                ttl
            }),
        b().prop_map(|id| StatsBody::Disconnected { id }),
        (
            mode(),
            b(),
            any::<u32>(),
            proptest::option::of(any::<u32>())
        )
            .prop_map(|(mode, channel, ttl, subscribers)| StatsBody::Subscribed {
                mode,
                channel,
                ttl,
                subscribers
            }),
        (mode(), b()).prop_map(|(mode, channel)| StatsBody::Unsubscribed { mode, channel }),
        report.prop_map(StatsBody::Report),
        proptest::option::of(1u32..)
            .prop_map(|requests_received| StatsBody::Counts { requests_received }),
    ]
}

fn enc(f: impl FnOnce(&mut BytesMut)) -> Bytes {
    let mut buf = BytesMut::new();
    f(&mut buf);
    buf.freeze()
}

fn prefixes_incomplete(full: &Bytes, decode: impl Fn(&Bytes) -> Result<(), Error>) {
    for n in 0..full.len() {
        let part = full.slice(..n);
        assert_eq!(decode(&part), Err(Error::Incomplete), "prefix {n}");
    }
}

const L: Limits = Limits {
    max_len: pushpin_tnetstring::DEFAULT_MAX_LEN,
    max_depth: pushpin_tnetstring::DEFAULT_MAX_DEPTH,
};

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn accept_round_trip(args in accept_args()) {
        let bytes = enc(|b| args.encode(b));
        prop_assert_eq!(AcceptArgs::decode(&bytes, &L).unwrap(), args.clone());
        let req = Request::new(Some(Bytes::from_static(b"id-1")), &Call::Accept(Box::new(args.clone())));
        let wire = enc(|b| req.encode(b));
        let back = Request::decode(&wire, &L).unwrap();
        prop_assert_eq!(back.call(&L).unwrap(), Call::Accept(Box::new(args)));
        prefixes_incomplete(&wire, |p| Request::decode(p, &L).map(|_| ()));
    }

    #[test]
    fn accept_result_round_trip(accepted in any::<bool>(), response in proptest::option::of(response_data())) {
        let r = AcceptResult { accepted, response };
        prop_assert_eq!(AcceptResult::decode(&enc(|b| r.encode(b)), &L).unwrap(), r);
    }

    #[test]
    fn inspect_round_trip(request in request_data(), flags in any::<(bool, bool, bool)>(), info in inspect_info()) {
        let args = InspectArgs { request, truncated: flags.0, get_session: flags.1, auto_share: flags.2 };
        prop_assert_eq!(InspectArgs::decode(&enc(|b| args.encode(b)), &L).unwrap(), args);
        prop_assert_eq!(InspectInfo::decode(&enc(|b| info.encode(b)), &L).unwrap(), info);
    }

    #[test]
    fn retry_round_trip(p in retry_packet()) {
        let bytes = enc(|b| p.encode(b));
        prop_assert_eq!(RetryPacket::decode(&bytes, &L).unwrap(), p);
        prefixes_incomplete(&bytes, |x| RetryPacket::decode(x, &L).map(|_| ()));
    }

    #[test]
    fn ws_control_round_trip(p in ws_packet()) {
        let bytes = enc(|b| p.encode(b));
        prop_assert_eq!(WsControlPacket::decode(&bytes, &L).unwrap(), p);
        prefixes_incomplete(&bytes, |x| WsControlPacket::decode(x, &L).map(|_| ()));
    }

    #[test]
    fn stats_round_trip(from in onb(), route in onb(), body in stats_body()) {
        let p = StatsPacket { from, route, body };
        let bytes = enc(|b| p.encode(b));
        prop_assert_eq!(StatsPacket::decode(&bytes, &L).unwrap(), p.clone());
        let json = enc(|b| p.encode_json(b));
        let head = format!("{} J{{", p.body.type_str());
        prop_assert!(json.starts_with(head.as_bytes()));
        let text = std::str::from_utf8(&json[p.body.type_str().len() + 2..]).unwrap();
        prop_assert!(serde_json::from_str::<serde_json::Value>(text).unwrap().is_object());
    }

    #[test]
    fn zrpc_round_trip(
        id in proptest::option::of(nb()), ids in proptest::collection::vec(b(), 0..3),
        cid in onb(), channel in onb(), cond in b(), value in proptest::option::of(b()),
    ) {
        for call in [
            Call::Conncheck(ids.clone()),
            Call::Refresh(RefreshArgs { cid: cid.clone(), channel: channel.clone() }),
            Call::Report(Some(Bytes::from_static(b"0:}"))),
            Call::GetZmqUris,
            Call::Recover,
        ] {
            let req = Request::new(id.clone(), &call);
            let back = Request::decode(&enc(|b| req.encode(b)), &L).unwrap();
            prop_assert_eq!(&back, &req);
            prop_assert_eq!(back.call(&L).unwrap(), call);
        }
        let outcomes = [
            Outcome::null(),
            Outcome::success_with(|b| pushpin_internal::encode_id_list(&ids, b)),
            Outcome::error(Condition::from_bytes(&cond)),
            Outcome::error_text(Condition::BadFormat, value.as_deref().unwrap_or_default()),
        ];
        for outcome in outcomes {
            let resp = Response { id: id.clone(), outcome };
            let bytes = enc(|b| resp.encode(b));
            prop_assert_eq!(Response::decode(&bytes, &L).unwrap(), resp);
            prefixes_incomplete(&bytes, |x| Response::decode(x, &L).map(|_| ()));
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..200)) {
        let src = Bytes::from(raw);
        let _ = Request::decode(&src, &L).map(|r| r.call(&L));
        let _ = Response::decode(&src, &L).map(|r| r.error_text());
        for method in [&b"inspect"[..], b"accept", b"conncheck", b"refresh", b"report", b"publish", b"x"] {
            let _ = Call::decode(method, Some(&src), &L);
        }
        let _ = AcceptResult::decode(&src, &L);
        let _ = InspectInfo::decode(&src, &L);
        let _ = RetryPacket::decode(&src, &L);
        let _ = WsControlPacket::decode(&src, &L);
        let _ = StatsPacket::decode(&src, &L);
        let _ = GripControl::parse(&src);
        let _ = pushpin_internal::zrpc::server_request(&[src.clone(), Bytes::new(), src.clone()]);
        let _ = pushpin_internal::decode_id_list(&src, &L);
        let _ = pushpin_internal::ZmqUris::decode(&src, &L);
    }

    #[test]
    fn mutated_messages_never_panic(p in ws_packet(), pos in any::<usize>(), byte in any::<u8>()) {
        let mut bytes = enc(|b| p.encode(b)).to_vec();
        if !bytes.is_empty() {
            let at = pos % bytes.len();
            bytes[at] = byte;
        }
        let src = Bytes::from(bytes);
        let _ = WsControlPacket::decode(&src, &L);
        let _ = RetryPacket::decode(&src, &L);
        let _ = AcceptArgs::decode(&src, &L);
        let mut stats = b"report T".to_vec();
        stats.extend_from_slice(&src);
        let _ = StatsPacket::decode(&Bytes::from(stats), &L);
    }
}
