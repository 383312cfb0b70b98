//! Every mongrel2-side frame of the captured vectors (`tests/vectors/`, copied from
//! `spec/vectors/`): requests decode, responses and control messages re-parse,
//! re-encoding gives the captured bytes back, and the result agrees with the
//! capture tool's own `decoded` view. Then concrete checks on chosen frames.

use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use pushpin_mongrel2::control::{ControlReply, ControlRequest};
use pushpin_mongrel2::{
    ConnId, Ctl, Extended, HeaderValue, Limits, Protocol, Request, RequestKind, Response,
    ResponseBody, Upload, WsFlags, ws,
};
use serde_json::Value as Json;

const FILES: [&str; 9] = [
    "mongrel2/basic-json.jsonl",
    "mongrel2/basic-tnetstring.jsonl",
    "mongrel2/download-credits-ctl.jsonl",
    "mongrel2/post-upload-stream.jsonl",
    "mongrel2/ws.jsonl",
    "pushpin/m2-get.m2-side.jsonl",
    "pushpin/m2-grip-stream.m2-side.jsonl",
    "pushpin/m2-post.m2-side.jsonl",
    "pushpin/m2-ws.m2-side.jsonl",
];

struct Record {
    file: &'static str,
    seq: u64,
    endpoint: String,
    frames: Vec<Bytes>,
    decoded: Json,
}

fn load(file: &'static str) -> Vec<Record> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    text.lines()
        .map(|line| serde_json::from_str::<Json>(line).unwrap())
        .filter(|r| r["kind"] == "zmq")
        .map(|r| Record {
            file,
            seq: r["seq"].as_u64().unwrap(),
            endpoint: r["endpoint"].as_str().unwrap().to_owned(),
            frames: r["frames_b64"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| Bytes::from(STANDARD.decode(f.as_str().unwrap()).unwrap()))
                .collect(),
            decoded: r["decoded"].clone(),
        })
        .collect()
}

fn record(file: &'static str, seq: u64) -> Record {
    load(file)
        .into_iter()
        .find(|r| r.seq == seq)
        .unwrap_or_else(|| panic!("{file} has no zmq record {seq}"))
}

fn request(file: &'static str, seq: u64) -> Request {
    let r = record(file, seq);
    Request::decode(&r.frames[0], &Limits::default()).unwrap()
}

fn response(file: &'static str, seq: u64) -> Response {
    let r = record(file, seq);
    Response::decode(&r.frames[0], &Limits::default()).unwrap()
}

/// The capture tool shows byte strings as text when UTF-8, else `{"b64": ...}`.
fn json_bytes(v: &Json) -> Vec<u8> {
    match v {
        Json::String(s) => s.as_bytes().to_vec(),
        Json::Object(o) => STANDARD.decode(o["b64"].as_str().unwrap()).unwrap(),
        other => panic!("not a byte string: {other}"),
    }
}

fn check_request_against_decoded(req: &Request, decoded: &Json) {
    let d = &decoded[0]["m2req"];
    assert_eq!(req.sender.as_ref(), json_bytes(&d["uuid"]));
    assert_eq!(req.conn_id.to_string(), d["id"].as_str().unwrap());
    assert_eq!(req.path.as_ref(), json_bytes(&d["path"]));
    match &d["body"] {
        // Event bodies are shown parsed.
        Json::Object(o) if !o.contains_key("b64") => {
            assert_eq!(
                serde_json::from_slice::<Json>(&req.body).unwrap(),
                d["body"]
            );
        }
        body => assert_eq!(req.body.as_ref(), json_bytes(body)),
    }
    let want = d["headers"].as_object().unwrap();
    assert_eq!(req.headers.len(), want.len());
    for (name, value) in want {
        let got = req.headers.get(name.as_bytes()).unwrap();
        match (got, value) {
            (HeaderValue::One(v), Json::String(_) | Json::Object(_)) => {
                assert_eq!(v.as_ref(), json_bytes(value));
            }
            (HeaderValue::Many(vs), Json::Array(items)) => {
                let items: Vec<Vec<u8>> = items.iter().map(json_bytes).collect();
                let vs: Vec<&[u8]> = vs.iter().map(AsRef::as_ref).collect();
                assert_eq!(vs, items);
            }
            other => panic!("header {name}: {other:?}"),
        }
    }
}

fn check_response_against_decoded(resp: &Response, decoded: &Json) {
    let d = &decoded[0]["m2resp"];
    assert_eq!(resp.sender.as_ref(), json_bytes(&d["uuid"]));
    let ids: Vec<String> = resp.targets.iter().map(ToString::to_string).collect();
    let want: Vec<&str> = d["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap())
        .collect();
    assert_eq!(ids, want);
    let extended = d["extended"].as_bool().unwrap_or(false);
    match &resp.body {
        ResponseBody::Extended(_) => assert!(extended),
        ResponseBody::Data(data) => {
            assert!(!extended);
            assert_eq!(data.as_ref(), json_bytes(&d["body"]));
        }
        ResponseBody::Close => {
            assert!(!extended);
            assert!(json_bytes(&d["body"]).is_empty());
        }
    }
}

#[test]
fn every_mongrel2_side_frame_round_trips() {
    let limits = Limits::default();
    let (mut requests, mut responses, mut control) = (0, 0, 0);
    for file in FILES {
        for r in load(file) {
            let at = format!("{} seq {}", r.file, r.seq);
            match r.endpoint.as_str() {
                "m2-send" | "send" => {
                    assert_eq!(r.frames.len(), 1, "{at}");
                    let frame = &r.frames[0];
                    let req =
                        Request::decode(frame, &limits).unwrap_or_else(|e| panic!("{at}: {e}"));
                    assert_eq!(&req.to_bytes(), frame, "{at}: re-encoding differs");
                    assert_eq!(Request::decode(&req.to_bytes(), &limits).as_ref(), Ok(&req));
                    check_request_against_decoded(&req, &r.decoded);
                    requests += 1;
                }
                "m2-recv" | "recv" => {
                    assert_eq!(r.frames.len(), 1, "{at}");
                    let frame = &r.frames[0];
                    let resp =
                        Response::decode(frame, &limits).unwrap_or_else(|e| panic!("{at}: {e}"));
                    assert_eq!(&resp.to_bytes(), frame, "{at}: re-encoding differs");
                    assert_eq!(
                        Response::decode(&resp.to_bytes(), &limits).as_ref(),
                        Ok(&resp)
                    );
                    check_response_against_decoded(&resp, &r.decoded);
                    responses += 1;
                }
                "m2-control" => {
                    // DEALER frames: empty delimiter, then the payload.
                    assert_eq!(r.frames.len(), 2, "{at}");
                    assert!(r.frames[0].is_empty());
                    let payload = &r.frames[1];
                    let mut buf = bytes::BytesMut::new();
                    if let Ok(req) = ControlRequest::decode(payload, &limits) {
                        req.encode(&mut buf);
                    } else {
                        ControlReply::decode(payload, &limits)
                            .unwrap_or_else(|e| panic!("{at}: {e}"))
                            .encode(&mut buf);
                    }
                    assert_eq!(&buf[..], &payload[..], "{at}: re-encoding differs");
                    control += 1;
                }
                other => panic!("{at}: unexpected endpoint {other}"),
            }
        }
    }
    assert_eq!((requests, responses, control), (58, 45, 2));
}

#[test]
fn json_get_with_repeated_header() {
    let r = request("mongrel2/basic-json.jsonl", 3);
    assert_eq!(r.sender, "capture-m2-json");
    assert_eq!(r.conn_id, ConnId(1));
    assert_eq!(r.path, "/path/x");
    assert_eq!(r.protocol, Protocol::Json);
    assert_eq!(r.kind, RequestKind::Http { upload: None });
    assert_eq!(r.method().unwrap(), "GET");
    assert_eq!(r.version().unwrap(), "HTTP/1.1");
    assert_eq!(r.uri().unwrap(), "/path/x?a=1&b=2");
    assert_eq!(r.query().unwrap(), "a=1&b=2");
    assert_eq!(r.pattern().unwrap(), "/");
    assert_eq!(r.url_scheme().unwrap(), "http");
    assert_eq!(r.remote_addr().unwrap(), "127.0.0.1");
    assert_eq!(r.download_credits, Some(102_400));
    assert_eq!(r.headers.first(b"cookie").unwrap(), "q=\"quoted\"");
    assert_eq!(
        r.headers.get(b"x-multi"),
        Some(&HeaderValue::Many(vec![
            Bytes::from_static(b"1"),
            Bytes::from_static(b"2")
        ]))
    );
    let names: Vec<&[u8]> = r.headers.iter().map(|(k, _)| k.as_ref()).collect();
    assert_eq!(names[..3], [&b"PATH"[..], b"DOWNLOAD_CREDITS", b"x-multi"]);
    let fwd: Vec<(&[u8], &[u8])> = r
        .headers
        .http_headers()
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .collect();
    assert_eq!(
        fwd,
        [
            (&b"x-multi"[..], &b"1"[..]),
            (b"x-multi", b"2"),
            (b"host", b"example.test"),
            (b"cookie", b"q=\"quoted\"")
        ]
    );
    assert!(r.body.is_empty());

    // The second request on the connection carries no DOWNLOAD_CREDITS.
    let second = request("mongrel2/basic-json.jsonl", 8);
    assert_eq!(second.path, "/second");
    assert_eq!(second.download_credits, None);
}

#[test]
fn tnetstring_protocol_matches_json() {
    let t = request("mongrel2/basic-tnetstring.jsonl", 3);
    assert_eq!(t.sender, "capture-m2-tnet");
    assert_eq!(t.protocol, Protocol::Tnetstring);
    assert_eq!(t.conn_id, ConnId(3));
    assert_eq!(t.path, "/tn/path/x");
    assert_eq!(t.pattern().unwrap(), "/tn/");
    assert_eq!(t.headers.first(b"cookie").unwrap(), "q=\"quoted\"");
    assert_eq!(t.headers.get(b"x-multi").unwrap().len(), 2);
    assert_eq!(t.download_credits, Some(102_400));
    let j = request("mongrel2/basic-json.jsonl", 3);
    assert_eq!(t.headers.len(), j.headers.len());
    for (name, value) in j.headers.iter() {
        if name.iter().any(u8::is_ascii_lowercase) {
            assert_eq!(t.headers.get(name), Some(value), "{name:?}");
        }
    }
}

#[test]
fn events() {
    let c = request("mongrel2/basic-json.jsonl", 6);
    assert_eq!(c.kind, RequestKind::Credits { credits: 70 });
    assert_eq!(c.path, "@*");
    assert!(c.is_event());
    assert_eq!(
        c,
        Request::credits(c.sender.clone(), ConnId(1), 70, Protocol::Json)
    );
    let d = request("mongrel2/basic-json.jsonl", 18);
    assert_eq!(
        d,
        Request::disconnect(
            Bytes::from_static(b"capture-m2-json"),
            ConnId(2),
            Protocol::Json
        )
    );
    let c = request("mongrel2/basic-tnetstring.jsonl", 6);
    assert_eq!(
        c,
        Request::credits(c.sender.clone(), ConnId(3), 70, Protocol::Tnetstring)
    );
    let d = request("mongrel2/basic-tnetstring.jsonl", 18);
    assert_eq!(
        d,
        Request::disconnect(d.sender.clone(), ConnId(4), Protocol::Tnetstring)
    );
    let big = request("pushpin/m2-post.m2-side.jsonl", 13);
    assert_eq!(big.kind, RequestKind::Credits { credits: 30_005 });
}

#[test]
fn responses_close_and_multiple_targets() {
    let r = response("mongrel2/basic-json.jsonl", 10);
    assert_eq!(r.targets, [ConnId(1)]);
    assert_eq!(r.body, ResponseBody::Close);
    let r = response("mongrel2/download-credits-ctl.jsonl", 6);
    assert_eq!(r.targets, [ConnId(6), ConnId(7)]);
    let ResponseBody::Data(data) = &r.body else {
        panic!("{:?}", r.body)
    };
    assert!(data.starts_with(b"HTTP/1.1 200 OK\r\n"));
    let r = response("mongrel2/download-credits-ctl.jsonl", 11);
    assert_eq!(
        r.body,
        ResponseBody::Data(Bytes::from_static(b"6\r\nhello\n\r\n"))
    );
}

#[test]
fn ctl_messages() {
    let ctl = |file, seq| match response(file, seq).body {
        ResponseBody::Extended(Extended::Ctl(c)) => c,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        ctl("mongrel2/download-credits-ctl.jsonl", 14),
        Ctl::keep_alive()
    );
    assert_eq!(
        ctl("mongrel2/download-credits-ctl.jsonl", 15),
        Ctl::credits(1000)
    );
    assert_eq!(
        ctl("mongrel2/download-credits-ctl.jsonl", 16),
        Ctl::cancel()
    );
    assert_eq!(
        ctl("mongrel2/post-upload-stream.jsonl", 9),
        Ctl::credits(8127)
    );
    assert_eq!(
        ctl("pushpin/m2-post.m2-side.jsonl", 4),
        Ctl::credits(200_000)
    );
    let cancel = response("pushpin/m2-ws.m2-side.jsonl", 14);
    assert_eq!(
        cancel,
        Response::ctl(
            Bytes::from_static(b"pushpin-m2-17050"),
            vec![ConnId(6)],
            Ctl::cancel()
        )
    );
}

#[test]
fn upload_stream_offsets_chain() {
    for (file, seqs, total) in [
        (
            "mongrel2/post-upload-stream.jsonl",
            &[8, 10, 11, 12, 13, 18, 19][..],
            20_000,
        ),
        ("pushpin/m2-post.m2-side.jsonl", &[2, 5, 6][..], 30_000),
    ] {
        let mut expected = 0u64;
        let mut finished = false;
        for (i, &seq) in seqs.iter().enumerate() {
            assert!(!finished);
            let r = request(file, seq);
            let (offset, done) = match r.kind {
                RequestKind::Http {
                    upload: Some(Upload::Stream { offset, done }),
                } => {
                    assert_eq!(i, 0, "only the first piece carries the request");
                    assert_eq!(r.method().unwrap(), "POST");
                    (offset, done)
                }
                RequestKind::UploadChunk { offset, done } => {
                    assert!(i > 0);
                    assert_eq!(r.method(), None);
                    (offset, done)
                }
                other => panic!("{file} seq {seq}: {other:?}"),
            };
            assert_eq!(offset, expected, "{file} seq {seq}");
            expected += r.body.len() as u64;
            finished = done;
        }
        assert!(finished);
        assert_eq!(expected, total, "{file}");
    }
    let first = request("mongrel2/post-upload-stream.jsonl", 8);
    assert_eq!(first.body.len(), 8127);
    assert_eq!(first.headers.first(b"content-length").unwrap(), "20000");
    let small = request("mongrel2/post-upload-stream.jsonl", 3);
    assert_eq!(small.kind, RequestKind::Http { upload: None });
    assert_eq!(small.body, "hello");
}

#[test]
fn websocket_messages() {
    let h = request("mongrel2/ws.jsonl", 3);
    assert_eq!(h.kind, RequestKind::WebSocketHandshake);
    assert_eq!(h.body, "u9dscyRib+r9aroEcZ1J4Y6Kcnk=");
    assert_eq!(
        h.headers.first(b"sec-websocket-key").unwrap(),
        "TSjOkBsWwnspA9iG5zJvMA=="
    );
    let f = request("mongrel2/ws.jsonl", 8);
    assert_eq!(
        f.kind,
        RequestKind::WebSocketFrame {
            flags: WsFlags(0x81)
        }
    );
    assert_eq!(f.body, "hello m2");
    // Frames repeat the handshake's headers, DOWNLOAD_CREDITS included.
    assert_eq!(f.download_credits, Some(102_400));
    let c = request("mongrel2/ws.jsonl", 13);
    let RequestKind::WebSocketFrame { flags } = c.kind else {
        panic!("{:?}", c.kind)
    };
    assert_eq!(flags.opcode(), ws::OPCODE_CLOSE);
    assert_eq!(ws::parse_close_payload(&c.body), (Some(1000), &b""[..]));
    let h = request("pushpin/m2-ws.m2-side.jsonl", 2);
    assert_eq!(h.kind, RequestKind::WebSocketHandshake);
    assert_eq!(h.headers.first(b"host").unwrap(), "ws.local");
}

#[test]
fn m2adapter_heads_are_reproduced() {
    use pushpin_mongrel2::http::{
        BodyInfo, Persistence, prepare_response_headers, write_response_head,
    };
    // pushpin/m2-post.m2-side.jsonl seq 10: a complete response.
    let ResponseBody::Data(head) = response("pushpin/m2-post.m2-side.jsonl", 10).body else {
        panic!("not data")
    };
    let origin: Vec<(Bytes, Bytes)> = [
        ("Server", "BaseHTTP/0.6 Python/3.11.7"),
        ("Date", "Sun, 29 Nov 2026 02:30:31 GMT"),
        ("Content-Type", "text/plain"),
        ("Content-Length", "30005"),
    ]
    .iter()
    .map(|(n, v)| {
        (
            Bytes::from_static(n.as_bytes()),
            Bytes::from_static(v.as_bytes()),
        )
    })
    .collect();
    let p = prepare_response_headers(
        &origin,
        BodyInfo {
            more: true,
            len: 0,
            headers_only: false,
        },
        Persistence::for_request(b"HTTP/1.1", []),
    );
    let mut buf = bytes::BytesMut::new();
    write_response_head(
        &mut buf,
        200,
        b"OK",
        p.headers.iter().map(|(n, v)| (n.as_ref(), v.as_ref())),
    );
    assert_eq!(&buf[..], &head[..]);
    assert!(!p.chunked);
}
