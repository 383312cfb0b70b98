//! Decodes every internal message captured from the real 1.36 proxy and
//! handler (`tests/vectors/*.jsonl`, copied from `spec/vectors/internal/`),
//! re-encodes it, and checks specific fields of several.

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::{Bytes, BytesMut};
use pushpin_grip::{KeepAliveMode, WsMessageType};
use pushpin_internal::zrpc::{self, Outcome};
use pushpin_internal::{
    AcceptResult, Call, Condition, ConnectionType, GripControl, InspectInfo, Known, Limits,
    Request, Response, RetryPacket, StatsBody, StatsPacket, Value, WsControlItemKind,
    WsControlPacket, decode_id_list,
};
use serde_json::Value as Json;

struct Record {
    file: String,
    dir: String,
    endpoint: String,
    sock: String,
    frames: Vec<Bytes>,
    decoded: Json,
}

fn records() -> Vec<Record> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    names.sort();
    assert_eq!(names.len(), 16, "internal vectors missing");
    let mut out = Vec::new();
    for path in names {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            let r: Json = serde_json::from_str(line).unwrap();
            out.push(Record {
                file: file.clone(),
                dir: r["dir"].as_str().unwrap().to_owned(),
                endpoint: r["endpoint"].as_str().unwrap().to_owned(),
                sock: r["sock"].as_str().unwrap().to_owned(),
                frames: r["frames_b64"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| Bytes::from(STANDARD.decode(f.as_str().unwrap()).unwrap()))
                    .collect(),
                decoded: r["decoded"].clone(),
            });
        }
    }
    out
}

/// A tnetstring value as the capture's `decoded` view shows it.
fn to_json(v: &Value) -> Json {
    match v {
        Value::Bytes(b) => Json::String(String::from_utf8_lossy(b).into_owned()),
        Value::Int(n) => Json::from(*n),
        Value::Float(x) => Json::from(*x),
        Value::Bool(b) => Json::Bool(*b),
        Value::Null => Json::Null,
        Value::List(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Map(entries) => Json::Object(
            entries
                .iter()
                .map(|(k, v)| (String::from_utf8_lossy(k).into_owned(), to_json(v)))
                .collect(),
        ),
    }
}

fn json_of(encoded: &[u8]) -> Json {
    let src = Bytes::copy_from_slice(encoded);
    let (v, used) = Value::decode(&src, &Limits::default()).unwrap().unwrap();
    assert_eq!(used, src.len());
    to_json(&v)
}

fn encoded(f: impl FnOnce(&mut BytesMut)) -> Bytes {
    let mut buf = BytesMut::new();
    f(&mut buf);
    buf.freeze()
}

const L: Limits = Limits {
    max_len: pushpin_tnetstring::DEFAULT_MAX_LEN,
    max_depth: pushpin_tnetstring::DEFAULT_MAX_DEPTH,
};

/// Checks a ZRPC request: envelope, typed args, re-encoding.
fn check_request(r: &Record, body: &Bytes) -> Call {
    let req = Request::decode(body, &L).unwrap();
    assert_eq!(json_of(body), r.decoded[1], "{}", r.file);
    let call = req.call(&L).unwrap_or_else(|e| panic!("{}: {e}", r.file));
    let again = Request::new(req.id.clone(), &call);
    assert_eq!(
        json_of(&encoded(|b| again.encode(b))),
        r.decoded[1],
        "{}",
        r.file
    );
    assert_eq!(again.call(&L).unwrap(), call);
    call
}

fn check_response(r: &Record, body: &Bytes) -> Response {
    let resp = Response::decode(body, &L).unwrap();
    assert_eq!(
        json_of(&encoded(|b| resp.encode(b))),
        r.decoded[1],
        "{}",
        r.file
    );
    resp
}

#[derive(Default)]
struct Seen {
    counts: BTreeMap<&'static str, usize>,
    methods: BTreeMap<String, usize>,
    stats_types: BTreeMap<&'static str, usize>,
    ws_types: BTreeMap<&'static str, usize>,
}

impl Seen {
    fn add(&mut self, k: &'static str) {
        *self.counts.entry(k).or_default() += 1;
    }
}

#[test]
fn every_internal_frame_decodes_and_round_trips() {
    let mut seen = Seen::default();
    // the method of each outstanding request, by ZRPC id, to type responses
    let mut pending: BTreeMap<Bytes, Vec<u8>> = BTreeMap::new();
    for r in records() {
        match (r.endpoint.as_str(), r.sock.as_str()) {
            ("inspect" | "accept" | "proxy-command", "DEALER->ROUTER") => {
                let body = zrpc::client_reply(&r.frames).expect("[\"\", body]");
                let call = check_request(&r, body);
                let req = Request::decode(body, &L).unwrap();
                pending.insert(req.id.clone().unwrap(), req.method.to_vec());
                *seen
                    .methods
                    .entry(String::from_utf8_lossy(&req.method).into_owned())
                    .or_default() += 1;
                match (&call, r.endpoint.as_str()) {
                    (Call::Inspect(_), "inspect")
                    | (Call::Accept(_), "accept")
                    | (Call::Conncheck(_) | Call::Refresh(_) | Call::Report(_), "proxy-command") => {
                    }
                    other => panic!("unexpected call {other:?}"),
                }
                seen.add("zrpc request");
            }
            ("inspect" | "accept" | "proxy-command", "ROUTER->DEALER") => {
                let body = zrpc::client_reply(&r.frames).expect("[\"\", body]");
                let resp = check_response(&r, body);
                let method = pending
                    .get(resp.id.as_ref().unwrap())
                    .expect("request seen first");
                let decoded_value = &r.decoded[1]["value"];
                match (&resp.outcome, method.as_slice()) {
                    (Outcome::Success(v), b"inspect") => {
                        let info = InspectInfo::decode(v, &L).unwrap();
                        assert_eq!(json_of(&encoded(|b| info.encode(b))), *decoded_value);
                    }
                    (Outcome::Success(v), b"accept") => {
                        let result = AcceptResult::decode(v, &L).unwrap();
                        assert!(!result.is_empty());
                        assert_eq!(json_of(&encoded(|b| result.encode(b))), *decoded_value);
                    }
                    (Outcome::Success(v), b"conncheck") => {
                        let ids = decode_id_list(v, &L).unwrap();
                        let again = encoded(|b| pushpin_internal::encode_id_list(&ids, b));
                        assert_eq!(json_of(&again), *decoded_value);
                    }
                    (Outcome::Success(v), _) => assert_eq!(&v[..], zrpc::NULL_VALUE),
                    (Outcome::Failure { condition, .. }, _) => {
                        assert!(matches!(
                            condition,
                            Condition::ItemNotFound | Condition::ServiceUnavailable
                        ));
                    }
                }
                seen.add("zrpc response");
            }
            ("retry", _) => {
                let [frame] = r.frames.as_slice() else {
                    panic!()
                };
                let p = RetryPacket::decode(frame, &L).unwrap();
                assert_eq!(
                    json_of(&encoded(|b| p.encode(b))),
                    r.decoded[0],
                    "{}",
                    r.file
                );
                seen.add("retry");
            }
            ("ws-control", _) => {
                let [frame] = r.frames.as_slice() else {
                    panic!()
                };
                let p = WsControlPacket::decode(frame, &L).unwrap();
                assert_eq!(
                    json_of(&encoded(|b| p.encode(b))),
                    r.decoded[0],
                    "{}",
                    r.file
                );
                for item in &p.items {
                    *seen.ws_types.entry(item.kind.as_str()).or_default() += 1;
                    if let WsControlItemKind::Grip { message } = &item.kind {
                        GripControl::parse(message).unwrap();
                    }
                }
                seen.add("ws-control");
            }
            ("proxy-stats" | "handler-stats", _) => {
                let [frame] = r.frames.as_slice() else {
                    panic!()
                };
                let p =
                    StatsPacket::decode(frame, &L).unwrap_or_else(|e| panic!("{}: {e}", r.file));
                let again = encoded(|b| p.encode(b));
                let prefix = format!("{} T", p.body.type_str());
                assert!(again.starts_with(prefix.as_bytes()));
                assert_eq!(r.decoded[0]["prefix"], p.body.type_str());
                assert_eq!(
                    json_of(&again[prefix.len()..]),
                    r.decoded[0]["T"],
                    "{}",
                    r.file
                );
                assert_eq!(StatsPacket::decode(&again, &L).unwrap(), p);
                *seen.stats_types.entry(p.body.type_str()).or_default() += 1;
                seen.add("stats");
            }
            (e, _) if e.starts_with("intreq") => seen.add("zhttp (skipped)"),
            other => panic!("unclassified record {other:?} in {} ({})", r.file, r.dir),
        }
    }
    let c = |k| seen.counts.get(k).copied().unwrap_or(0);
    assert_eq!(c("zrpc request"), 34);
    assert_eq!(c("zrpc response"), 34);
    assert_eq!(c("retry"), 4);
    assert_eq!(c("ws-control"), 128);
    assert_eq!(c("stats"), 263);
    assert_eq!(c("zhttp (skipped)"), 5);
    for m in ["inspect", "accept", "conncheck", "refresh", "report"] {
        assert!(seen.methods.contains_key(m), "no {m} call seen");
    }
    for t in ["activity", "counts", "conn", "sub", "message", "report"] {
        assert!(seen.stats_types.contains_key(t), "no {t} stats seen");
    }
    for t in [
        "here",
        "keep-alive",
        "gone",
        "grip",
        "subscribe",
        "need-keep-alive",
        "ack",
        "cancel",
        "send",
        "keep-alive-setup",
        "close",
        "detach",
    ] {
        assert!(seen.ws_types.contains_key(t), "no {t} ws-control item seen");
    }
}

fn first<T>(file: &str, f: impl Fn(&Record) -> Option<T>) -> T {
    records()
        .iter()
        .filter(|r| r.file == file)
        .find_map(f)
        .unwrap_or_else(|| panic!("nothing matched in {file}"))
}

#[test]
fn accept_with_request_state() {
    let args = first("accept-response-hold.jsonl", |r| {
        let body = zrpc::client_reply(&r.frames)?;
        match Request::decode(body, &L).ok()?.call(&L).ok()? {
            Call::Accept(a) => Some(a),
            _ => None,
        }
    });
    let rs = &args.requests[0];
    assert_eq!(&rs.rid.sender[..], b"condure");
    assert_eq!(&rs.rid.id[..], b"1-0-0");
    assert_eq!((rs.in_seq, rs.out_seq, rs.out_credits), (2, 2, 8192));
    assert_eq!(rs.peer_address.as_deref(), Some(&b"127.0.0.1"[..]));
    assert_eq!(rs.logical_peer_address.as_deref(), Some(&b"127.0.0.1"[..]));
    assert!(!rs.is_retry && !rs.https);
    assert_eq!(&rs.rid.connection_id()[..], b"condure:1-0-0");
    assert_eq!(&args.request_data.method[..], b"GET");
    assert_eq!(
        &args.orig_request_data.uri[..],
        b"http://127.0.0.1:17270/hold-response"
    );
    let response = args.response.as_ref().unwrap();
    assert_eq!(response.code, 200);
    assert!(
        response
            .headers
            .iter()
            .any(|(n, v)| &n[..] == b"Grip-Hold" && &v[..] == b"response")
    );
    assert_eq!(args.route.as_deref(), Some(&b"main"[..]));
    assert!(args.trusted);
    assert_eq!(args.inspect.as_ref().map(|i| i.no_proxy), Some(false));

    // the second accept after the 1 s re-check is marked is-retry
    let retried = records()
        .iter()
        .filter(|r| r.file == "accept-response-hold.jsonl")
        .filter_map(|r| {
            let body = zrpc::client_reply(&r.frames)?;
            match Request::decode(body, &L).ok()?.call(&L).ok()? {
                Call::Accept(a) => Some(a),
                _ => None,
            }
        })
        .any(|a| a.requests.iter().any(|r| r.is_retry));
    assert!(retried);

    let nohold = first("accept-instruct-nohold.jsonl", |r| {
        if r.sock != "ROUTER->DEALER" || r.endpoint != "accept" {
            return None;
        }
        let resp = Response::decode(zrpc::client_reply(&r.frames)?, &L).ok()?;
        let Outcome::Success(v) = resp.outcome else {
            return None;
        };
        AcceptResult::decode(&v, &L).ok()
    });
    assert!(!nohold.accepted);
    let resp = nohold.response.unwrap();
    assert_eq!(
        (resp.code, &resp.reason[..], &resp.body[..]),
        (201, &b"Created"[..], &b"no hold\n"[..])
    );
}

#[test]
fn retry_fields() {
    let p = first("retry-after-hint.jsonl", |r| {
        (r.endpoint == "retry").then(|| RetryPacket::decode(&r.frames[0], &L).unwrap())
    });
    let rq = &p.requests[0];
    assert_eq!(&rq.rid.sender[..], b"condure");
    assert_eq!((rq.in_seq, rq.out_seq, rq.out_credits), (3, 4, 8192));
    assert_eq!(
        &p.request_data.uri[..],
        b"http://127.0.0.1:17270/hold-retry"
    );
    assert_eq!(p.request_data.headers.len(), 3);
    let inspect = p.inspect.unwrap();
    assert!(!inspect.no_proxy);
    assert_eq!(
        inspect.last_ids,
        vec![(Bytes::from_static(b"retry-ch"), Bytes::from_static(b"1"))]
    );
    assert_eq!(p.route.as_deref(), Some(&b"main"[..]));
}

#[test]
fn stats_report_and_conn() {
    let report = first("periodic-keepalive-and-reports.jsonl", |r| {
        if !r.endpoint.ends_with("stats") {
            return None;
        }
        match StatsPacket::decode(&r.frames[0], &L).unwrap().body {
            StatsBody::Report(rep) if rep.duration.is_some() => Some(rep),
            _ => None,
        }
    });
    assert!(report.connections.is_some());
    assert!(report.minutes.is_some());
    assert!(report.received.is_some() && report.sent.is_some());
    assert!(report.http_response_sent.is_some());
    assert!(report.client_header_bytes_received.is_some());
    assert!(report.server_messages_sent.is_some());

    let conn = first("accept-response-hold.jsonl", |r| {
        if r.endpoint != "proxy-stats" {
            return None;
        }
        let p = StatsPacket::decode(&r.frames[0], &L).unwrap();
        matches!(p.body, StatsBody::Connected { .. }).then_some(p)
    });
    assert_eq!(conn.route.as_deref(), Some(&b"main"[..]));
    assert!(conn.from.as_ref().unwrap().starts_with(b"pushpin-proxy_"));
    let StatsBody::Connected {
        id,
        conn_type,
        peer_address,
        ssl,
        ttl,
    } = conn.body
    else {
        panic!()
    };
    assert_eq!(&id[..], b"condure:1-0-0");
    assert_eq!(conn_type, ConnectionType::Http);
    assert_eq!(peer_address.as_deref(), Some(&b"127.0.0.1"[..]));
    assert!(!ssl);
    assert_eq!(ttl, 120);
}

#[test]
fn ws_control_sequence() {
    let items: Vec<_> = records()
        .iter()
        .filter(|r| r.file == "ws-control.jsonl" && r.endpoint == "ws-control")
        .flat_map(|r| WsControlPacket::decode(&r.frames[0], &L).unwrap().items)
        .collect();
    let here = items.iter().find_map(|i| match &i.kind {
        WsControlItemKind::Here {
            uri, ttl, route, ..
        } => Some((uri.clone(), *ttl, route.clone())),
        _ => None,
    });
    let (uri, ttl, route) = here.unwrap();
    assert_eq!(uri.as_deref(), Some(&b"ws://127.0.0.1:17270/ws"[..]));
    assert_eq!(ttl, Some(60));
    assert_eq!(route.as_deref(), Some(&b"*,ws,*,*"[..]));
    let cid = &items[0].cid;
    assert_eq!(cid.len(), 36);
    assert!(items.iter().all(|i| i.cid == *cid));

    let grips: Vec<_> = items
        .iter()
        .filter_map(|i| match &i.kind {
            WsControlItemKind::Grip { message } => {
                Some((i.req_id.clone(), GripControl::parse(message).unwrap()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(grips[0].0.as_deref(), Some(&b"0"[..]));
    assert_eq!(
        grips[0].1,
        GripControl::Subscribe {
            channel: "ws-ch".into(),
            filters: vec![]
        }
    );
    assert!(matches!(
        &grips[1].1,
        GripControl::KeepAlive {
            timeout: Some(2),
            ..
        }
    ));

    assert!(items.iter().any(|i| i.kind
        == WsControlItemKind::KeepAliveSetup {
            timeout: Some(2),
            mode: Some(Known::Known(KeepAliveMode::Idle))
        }));
    assert!(items.iter().any(|i| matches!(
        &i.kind,
        WsControlItemKind::Send { content_type: Some(Known::Known(WsMessageType::Text)), message, queue: false }
            if &message[..] == b"pub-to-ws"
    )));
    assert!(
        items
            .iter()
            .any(|i| i.kind == WsControlItemKind::Ack && i.req_id.as_deref() == Some(&b"1"[..]))
    );
    assert!(
        items
            .iter()
            .any(|i| i.kind == WsControlItemKind::NeedKeepAlive)
    );
    assert!(items.iter().any(|i| i.kind == WsControlItemKind::Gone));

    let close = first("ws-close-by-publish.jsonl", |r| {
        if r.endpoint != "ws-control" {
            return None;
        }
        WsControlPacket::decode(&r.frames[0], &L)
            .unwrap()
            .items
            .into_iter()
            .find(|i| matches!(i.kind, WsControlItemKind::Close { .. }))
    });
    assert_eq!(
        close.kind,
        WsControlItemKind::Close {
            code: Some(4000),
            reason: Some(Bytes::from_static(b"bye"))
        }
    );
}
