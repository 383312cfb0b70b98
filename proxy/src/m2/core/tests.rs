//! The translation core driven by hand-built mongrel2 requests and responder
//! packets, checked against m2adapter's behaviour (`spec/mongrel2.md` §7.4).

use std::time::{Duration, Instant};

use bytes::Bytes;
use pushpin_mongrel2::{
    ConnId, Ctl, CtlArg, Extended, Headers, Protocol, Request, Response, ResponseBody,
};
use pushpin_zhttp::{Condition, ContentType, Header, Id, IdSeq, Ids, Packet, PacketType};

use super::{Core, Mode, Output, Settings, split_ids};

const IDENT: &str = "pushpin-m2-7999";
const RESPONDER: &str = "proxy-1";

fn core() -> Core {
    Core::new(Settings {
        idents: vec![Bytes::from_static(IDENT.as_bytes())],
        from_http: Bytes::from_static(b"m2zhttp_1"),
        from_ws: Bytes::from_static(b"m2zws_1"),
        client_buffer: 200_000,
        max_sessions: Some(2),
    })
}

fn req(conn: u64, headers: &[(&str, String)], body: &[u8]) -> Request {
    let mut h = Headers::new();
    for (n, v) in headers {
        h.push(Bytes::from(n.to_string()), Bytes::from(v.clone()));
    }
    Request::new(
        Bytes::from_static(IDENT.as_bytes()),
        ConnId(conn),
        Bytes::from_static(b"/path"),
        Protocol::Json,
        h,
        Bytes::copy_from_slice(body),
    )
    .unwrap()
}

fn http_req(conn: u64, method: &str, version: &str, extra: &[(&str, String)]) -> Request {
    let mut h = vec![
        ("METHOD", method.to_owned()),
        ("VERSION", version.to_owned()),
        ("URI", "/path?a=1".to_owned()),
        ("PATH", "/path".to_owned()),
        ("URL_SCHEME", "http".to_owned()),
        ("REMOTE_ADDR", "10.0.0.7".to_owned()),
        ("host", "example.test".to_owned()),
        ("user-agent", "t/1".to_owned()),
    ];
    h.extend(extra.iter().cloned());
    req(conn, &h, b"")
}

fn credits_event(conn: u64, n: u32) -> Request {
    Request::credits(
        Bytes::from_static(IDENT.as_bytes()),
        ConnId(conn),
        n,
        Protocol::Json,
    )
}

fn zhttp(out: &[Output]) -> Vec<(Mode, Option<Bytes>, Packet)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Zhttp { mode, to, payload } => Some((
                *mode,
                to.clone(),
                Packet::decode(payload, &pushpin_zhttp::Limits::default()).unwrap(),
            )),
            Output::M2 { .. } => None,
        })
        .collect()
}

fn m2(out: &[Output]) -> Vec<Response> {
    out.iter()
        .filter_map(|o| match o {
            Output::M2 { index, frame } => {
                assert_eq!(*index, 0);
                Some(Response::decode(frame, &pushpin_mongrel2::Limits::default()).unwrap())
            }
            Output::Zhttp { .. } => None,
        })
        .collect()
}

fn data_of(r: &Response) -> &[u8] {
    match &r.body {
        ResponseBody::Data(d) => d,
        other => panic!("not data: {other:?}"),
    }
}

fn reply(id: &str, seq: u32, ptype: PacketType) -> Packet {
    let mut p = Packet::new(ptype);
    p.from = Bytes::from_static(RESPONDER.as_bytes());
    p.ids = Ids::One(Id(Bytes::from(id.to_owned())));
    p.seq = Some(seq);
    p
}

fn response(id: &str, seq: u32, body: &str, more: bool, headers: &[(&str, &str)]) -> Packet {
    let mut p = reply(id, seq, PacketType::Data);
    p.code = Some(200);
    p.reason = Some(Bytes::from_static(b"OK"));
    p.headers = Some(
        headers
            .iter()
            .map(|(n, v)| Header::new(n.to_string(), v.to_string()))
            .collect(),
    );
    p.body = Some(Bytes::from(body.to_owned()));
    p.more = more;
    p
}

fn drain(c: &mut Core) -> Vec<Output> {
    c.drain().collect()
}

const SID: &str = "pushpin-m2-7999_4_0";

#[test]
fn first_request_becomes_a_zhttp_request() {
    let mut c = core();
    let now = Instant::now();
    c.on_m2(
        0,
        http_req(
            4,
            "GET",
            "HTTP/1.1",
            &[("DOWNLOAD_CREDITS", "102400".into())],
        ),
        now,
    );
    let out = drain(&mut c);
    let z = zhttp(&out);
    assert_eq!(z.len(), 1);
    let (mode, to, p) = &z[0];
    assert_eq!(*mode, Mode::Http);
    assert_eq!(*to, None, "first packet goes over PUSH");
    assert_eq!(p.from.as_ref(), b"m2zhttp_1");
    assert_eq!(p.id().unwrap().0.as_ref(), SID.as_bytes());
    assert_eq!(p.seq, Some(0));
    assert!(p.ext.multi);
    assert_eq!(p.method.as_deref(), Some(&b"GET"[..]));
    assert_eq!(p.uri.as_deref(), Some(&b"http://example.test/path?a=1"[..]));
    assert_eq!(p.credits, Some(102_400));
    assert!(p.stream);
    assert!(!p.more);
    assert_eq!(p.peer_address.as_deref(), Some(&b"10.0.0.7"[..]));
    let names: Vec<&[u8]> = p.header_list().iter().map(|h| h.name.as_ref()).collect();
    assert!(names.contains(&&b"Host"[..]), "{names:?}");
    assert!(names.contains(&&b"User-Agent"[..]), "{names:?}");
    assert!(!names.iter().any(|n| n.starts_with(b"METHOD")), "{names:?}");
}

#[test]
fn whole_response_gets_content_length_and_connection_stays_open() {
    let mut c = core();
    let now = Instant::now();
    c.on_m2(
        0,
        http_req(
            4,
            "GET",
            "HTTP/1.1",
            &[("DOWNLOAD_CREDITS", "102400".into())],
        ),
        now,
    );
    drain(&mut c);
    c.on_zhttp(
        Mode::Http,
        response(SID, 0, "hello\n", false, &[("Content-Type", "text/plain")]),
        now,
    );
    let out = drain(&mut c);
    let r = m2(&out);
    assert_eq!(r.len(), 2, "{r:?}");
    assert_eq!(r[0].sender.as_ref(), IDENT.as_bytes());
    assert_eq!(r[0].targets, [ConnId(4)]);
    assert_eq!(
        data_of(&r[0]),
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\n"
    );
    assert_eq!(data_of(&r[1]), b"hello\n");
    assert_eq!(c.session_count(), 0);
    // the connection stays: its next request starts session _1
    c.on_m2(0, http_req(4, "GET", "HTTP/1.1", &[]), now);
    let z = zhttp(&drain(&mut c));
    assert_eq!(z[0].2.id().unwrap().0.as_ref(), b"pushpin-m2-7999_4_1");
    // credits left on the connection: 102400 minus what was written, not yet credited
    assert_eq!(z[0].2.credits, Some(102_400 - 64 - 6));
}

#[test]
fn http10_without_keep_alive_is_closed_after_the_response() {
    let mut c = core();
    let now = Instant::now();
    c.on_m2(
        0,
        http_req(
            4,
            "GET",
            "HTTP/1.0",
            &[("DOWNLOAD_CREDITS", "102400".into())],
        ),
        now,
    );
    drain(&mut c);
    c.on_zhttp(Mode::Http, response(SID, 0, "x", false, &[]), now);
    let r = m2(&drain(&mut c));
    assert_eq!(r.last().unwrap().body, ResponseBody::Close);
}

#[test]
fn streamed_response_is_chunked_within_download_credits() {
    let mut c = core();
    let now = Instant::now();
    c.on_m2(
        0,
        http_req(4, "GET", "HTTP/1.1", &[("DOWNLOAD_CREDITS", "100".into())]),
        now,
    );
    drain(&mut c);
    c.on_zhttp(Mode::Http, response(SID, 0, "", true, &[]), now);
    let r = m2(&drain(&mut c));
    let head = data_of(&r[0]).to_vec();
    assert_eq!(
        head,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: Transfer-Encoding\r\n\r\n"
    );
    let left = 100 - head.len();
    // 50 body bytes: only credits - 16 of them fit in the first chunk
    let body = "a".repeat(50);
    let mut p = reply(SID, 1, PacketType::Data);
    p.body = Some(Bytes::from(body.clone()));
    p.more = true;
    c.on_zhttp(Mode::Http, p, now);
    let r = m2(&drain(&mut c));
    assert_eq!(r.len(), 1);
    let first = left - 16;
    let expect = format!("{:X}\r\n{}\r\n", first, &body[..first]);
    assert_eq!(data_of(&r[0]), expect.as_bytes());
    // mongrel2 reports the head and the chunk written: the rest goes out and the
    // responder gets credits for the body bytes written
    c.on_m2(0, credits_event(4, u32::try_from(head.len()).unwrap()), now);
    let out = drain(&mut c);
    let r = m2(&out);
    let rest = 50 - first;
    assert_eq!(
        data_of(&r[0]),
        format!("{:X}\r\n{}\r\n", rest, &body[first..]).as_bytes()
    );
    c.on_m2(
        0,
        credits_event(4, u32::try_from(expect.len()).unwrap()),
        now,
    );
    let z = zhttp(&drain(&mut c));
    assert_eq!(z.len(), 1);
    assert_eq!(z[0].2.ptype, PacketType::Credit);
    assert_eq!(z[0].2.credits, Some(u32::try_from(first).unwrap()));
    assert_eq!(z[0].1.as_deref(), Some(RESPONDER.as_bytes()));
    // the end: closing chunk
    c.on_zhttp(Mode::Http, reply(SID, 2, PacketType::Data), now);
    c.on_m2(0, credits_event(4, 1000), now);
    let r = m2(&drain(&mut c));
    assert_eq!(data_of(r.last().unwrap()), b"0\r\n\r\n");
    assert_eq!(c.session_count(), 0);
}

#[test]
fn upload_stream_is_forwarded_with_upload_credits() {
    let mut c = core();
    let now = Instant::now();
    let mut first = http_req(
        4,
        "POST",
        "HTTP/1.1",
        &[
            ("DOWNLOAD_CREDITS", "102400".into()),
            ("UPLOAD_STREAM", "0".into()),
        ],
    );
    first.body = Bytes::from_static(b"12345");
    c.on_m2(0, first, now);
    let z = zhttp(&drain(&mut c));
    assert!(z[0].2.more);
    assert_eq!(z[0].2.body.as_deref(), Some(&b"12345"[..]));
    // the responder's credits become ctl credits for mongrel2
    let mut cr = reply(SID, 0, PacketType::Credit);
    cr.credits = Some(8045);
    c.on_zhttp(Mode::Http, cr, now);
    let r = m2(&drain(&mut c));
    assert_eq!(
        r[0].body,
        ResponseBody::Extended(Extended::Ctl(Ctl {
            args: vec![CtlArg::Credits(8045)]
        }))
    );
    let chunk = req(4, &[("UPLOAD_STREAM", "5".into())], b"678");
    c.on_m2(0, chunk, now);
    let z = zhttp(&drain(&mut c));
    assert_eq!(z[0].2.body.as_deref(), Some(&b"678"[..]));
    assert!(z[0].2.more);
    assert_eq!(z[0].2.seq, Some(1));
    let last = req(
        4,
        &[
            ("UPLOAD_STREAM", "8".into()),
            ("UPLOAD_STREAM_DONE", "1".into()),
        ],
        b"9",
    );
    c.on_m2(0, last, now);
    let z = zhttp(&drain(&mut c));
    assert!(!z[0].2.more);
    // a chunk at the wrong offset cancels both sides
    let bad = req(4, &[("UPLOAD_STREAM", "99".into())], b"x");
    c.on_m2(0, bad, now);
    let out = drain(&mut c);
    assert_eq!(zhttp(&out)[0].2.ptype, PacketType::Cancel);
    assert_eq!(
        m2(&out)[0].body,
        ResponseBody::Extended(Extended::Ctl(Ctl {
            args: vec![CtlArg::Cancel]
        }))
    );
}

#[test]
fn disconnect_cancels_the_session() {
    let mut c = core();
    let now = Instant::now();
    c.on_m2(0, http_req(4, "GET", "HTTP/1.1", &[]), now);
    drain(&mut c);
    c.on_zhttp(Mode::Http, response(SID, 0, "", true, &[]), now);
    drain(&mut c);
    c.on_m2(
        0,
        Request::disconnect(
            Bytes::from_static(IDENT.as_bytes()),
            ConnId(4),
            Protocol::Json,
        ),
        now,
    );
    let z = zhttp(&drain(&mut c));
    assert_eq!(z.len(), 1);
    assert_eq!(z[0].2.ptype, PacketType::Cancel);
    assert_eq!(c.session_count(), 0);
}

#[test]
fn disconnect_before_the_responder_is_known_is_reported_when_it_speaks() {
    let mut c = core();
    let now = Instant::now();
    c.on_m2(0, http_req(4, "GET", "HTTP/1.1", &[]), now);
    drain(&mut c);
    c.on_m2(
        0,
        Request::disconnect(
            Bytes::from_static(IDENT.as_bytes()),
            ConnId(4),
            Protocol::Json,
        ),
        now,
    );
    assert!(drain(&mut c).is_empty());
    c.on_zhttp(Mode::Http, response(SID, 0, "", true, &[]), now);
    let z = zhttp(&drain(&mut c));
    assert_eq!(z[0].2.ptype, PacketType::Cancel);
    assert_eq!(c.session_count(), 0);
}

#[test]
fn handoff_holds_packets_until_the_new_owner_speaks() {
    let mut c = core();
    let now = Instant::now();
    c.on_m2(0, http_req(4, "GET", "HTTP/1.1", &[]), now);
    drain(&mut c);
    c.on_zhttp(Mode::Http, reply(SID, 0, PacketType::HandoffStart), now);
    let z = zhttp(&drain(&mut c));
    assert_eq!(z[0].2.ptype, PacketType::HandoffProceed);
    assert_eq!(z[0].2.seq, Some(1));
    // the handler takes over with its own address and the next seq
    let mut p = response(SID, 1, "held\n", true, &[]);
    p.from = Bytes::from_static(b"handler-1");
    c.on_zhttp(Mode::Http, p, now);
    let r = m2(&drain(&mut c));
    assert!(data_of(&r[0]).starts_with(b"HTTP/1.1 200 OK\r\n"));
    c.on_m2(
        0,
        Request::disconnect(
            Bytes::from_static(IDENT.as_bytes()),
            ConnId(4),
            Protocol::Json,
        ),
        now,
    );
    let z = zhttp(&drain(&mut c));
    assert_eq!(z[0].1.as_deref(), Some(&b"handler-1"[..]));
    assert_eq!(z[0].2.ptype, PacketType::Cancel);
}

#[test]
fn websocket_handshake_frames_and_close() {
    let mut c = core();
    let now = Instant::now();
    let hs = req(
        5,
        &[
            ("METHOD", "WEBSOCKET_HANDSHAKE".into()),
            ("VERSION", "HTTP/1.1".into()),
            ("URI", "/ws".into()),
            ("PATH", "/ws".into()),
            ("URL_SCHEME", "http".into()),
            ("host", "example.test".into()),
            ("upgrade", "websocket".into()),
            ("DOWNLOAD_CREDITS", "102400".into()),
        ],
        b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
    );
    c.on_m2(0, hs.clone(), now);
    let z = zhttp(&drain(&mut c));
    let (mode, _, p) = &z[0];
    assert_eq!(*mode, Mode::Ws);
    assert_eq!(p.uri.as_deref(), Some(&b"ws://example.test/ws"[..]));
    assert_eq!(p.method, None);
    assert!(!p.stream);
    let sid = "pushpin-m2-7999_5_0";
    let mut accept = reply(sid, 0, PacketType::Data);
    accept.code = Some(101);
    accept.headers = Some(vec![Header::new("Sec-WebSocket-Accept", "stale")]);
    c.on_zhttp(Mode::Ws, accept, now);
    let r = m2(&drain(&mut c));
    assert_eq!(
        data_of(&r[0]),
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
    );
    // client text and binary frames
    let mut text = req(
        5,
        &[
            ("METHOD", "WEBSOCKET".into()),
            ("FLAGS", "0x82".into()),
            ("VERSION", "HTTP/1.1".into()),
        ],
        b"bin",
    );
    c.on_m2(0, text.clone(), now);
    let z = zhttp(&drain(&mut c));
    assert_eq!(z[0].2.content_type, Some(ContentType::Binary));
    assert_eq!(z[0].2.body.as_deref(), Some(&b"bin"[..]));
    // server message, fragmented over two packets
    let mut m = reply(sid, 1, PacketType::Data);
    m.body = Some(Bytes::from_static(b"he"));
    m.more = true;
    c.on_zhttp(Mode::Ws, m, now);
    let mut m = reply(sid, 2, PacketType::Data);
    m.body = Some(Bytes::from_static(b"llo"));
    c.on_zhttp(Mode::Ws, m, now);
    let r = m2(&drain(&mut c));
    assert_eq!(data_of(&r[0]), b"\x01\x02he");
    assert_eq!(data_of(&r[1]), b"\x80\x03llo");
    // close from the client, then from the responder: connection closed
    text.headers.0.retain(|(n, _)| n.as_ref() != b"FLAGS");
    text.headers.push("FLAGS", "0x88");
    text.body = Bytes::from_static(b"\x03\xe8bye");
    let close = Request::new(
        text.sender.clone(),
        text.conn_id,
        text.path.clone(),
        Protocol::Json,
        text.headers.clone(),
        text.body.clone(),
    )
    .unwrap();
    c.on_m2(0, close, now);
    let z = zhttp(&drain(&mut c));
    assert_eq!(z[0].2.ptype, PacketType::Close);
    assert_eq!(z[0].2.code, Some(1000));
    assert_eq!(z[0].2.body.as_deref(), Some(&b"bye"[..]));
    let mut cl = reply(sid, 3, PacketType::Close);
    cl.code = Some(1000);
    c.on_zhttp(Mode::Ws, cl, now);
    let r = m2(&drain(&mut c));
    assert_eq!(data_of(&r[0]), b"\x88\x02\x03\xe8");
    assert_eq!(r[1].body, ResponseBody::Close);
    assert_eq!(c.session_count(), 0);
}

#[test]
fn websocket_rejection_is_relayed_and_closed() {
    let mut c = core();
    let now = Instant::now();
    let hs = req(
        5,
        &[
            ("METHOD", "WEBSOCKET_HANDSHAKE".into()),
            ("VERSION", "HTTP/1.1".into()),
            ("URI", "/ws".into()),
            ("URL_SCHEME", "https".into()),
        ],
        b"tok",
    );
    c.on_m2(0, hs, now);
    let z = zhttp(&drain(&mut c));
    assert_eq!(z[0].2.uri.as_deref(), Some(&b"wss://localhost/ws"[..]));
    let mut e = reply("pushpin-m2-7999_5_0", 0, PacketType::Error);
    e.condition = Some(Condition::Rejected);
    e.code = Some(403);
    e.reason = Some(Bytes::from_static(b"Forbidden"));
    e.body = Some(Bytes::from_static(b"no\n"));
    c.on_zhttp(Mode::Ws, e, now);
    let r = m2(&drain(&mut c));
    assert_eq!(
        data_of(&r[0]),
        b"HTTP/1.1 403 Forbidden\r\nContent-Length: 3\r\n\r\n"
    );
    assert_eq!(data_of(&r[1]), b"no\n");
    assert_eq!(r[2].body, ResponseBody::Close);
}

#[test]
fn unknown_session_gets_cancel_and_bad_versions_are_refused() {
    let mut c = core();
    let now = Instant::now();
    c.on_zhttp(Mode::Http, response("nope", 0, "", false, &[]), now);
    let z = zhttp(&drain(&mut c));
    assert_eq!(z[0].2.ptype, PacketType::Cancel);
    assert_eq!(z[0].1.as_deref(), Some(RESPONDER.as_bytes()));
    c.on_m2(0, http_req(9, "GET", "HTTP/2.0", &[]), now);
    let r = m2(&drain(&mut c));
    assert_eq!(
        r[0].body,
        ResponseBody::Extended(Extended::Ctl(Ctl {
            args: vec![CtlArg::Cancel]
        }))
    );
}

#[test]
fn max_open_requests_refuses_new_sessions() {
    let mut c = core();
    let now = Instant::now();
    for conn in [1, 2, 3] {
        c.on_m2(0, http_req(conn, "GET", "HTTP/1.1", &[]), now);
    }
    let out = drain(&mut c);
    assert_eq!(zhttp(&out).len(), 2);
    assert_eq!(m2(&out)[0].body, ResponseBody::Close);
}

#[test]
fn timers_keep_alive_both_sides_and_expire_silent_sessions() {
    let mut c = core();
    let t0 = Instant::now();
    c.on_m2(0, http_req(4, "GET", "HTTP/1.1", &[]), t0);
    c.on_m2(0, http_req(6, "GET", "HTTP/1.1", &[]), t0);
    drain(&mut c);
    c.on_zhttp(Mode::Http, response(SID, 0, "", true, &[]), t0);
    drain(&mut c);
    c.tick(t0 + Duration::from_secs(46));
    let z = zhttp(&drain(&mut c));
    assert_eq!(z.len(), 1);
    assert_eq!(z[0].2.ptype, PacketType::KeepAlive);
    // the responder's own keep-alives keep its session from expiring
    c.on_zhttp(
        Mode::Http,
        reply(SID, 1, PacketType::KeepAlive),
        t0 + Duration::from_secs(40),
    );
    // the session of connection 6 never heard from a responder: expired at 60 s
    c.tick(t0 + Duration::from_secs(61));
    let r = m2(&drain(&mut c));
    assert_eq!(r[0].targets, [ConnId(6)]);
    assert_eq!(r[0].body, ResponseBody::Close);
    c.on_zhttp(
        Mode::Http,
        reply(SID, 2, PacketType::KeepAlive),
        t0 + Duration::from_secs(85),
    );
    c.tick(t0 + Duration::from_secs(91));
    let r = m2(&drain(&mut c));
    assert_eq!(
        r[0].body,
        ResponseBody::Extended(Extended::Ctl(Ctl {
            args: vec![CtlArg::KeepAlive]
        }))
    );
    assert_eq!(r[0].targets, [ConnId(4)]);
}

#[test]
fn batched_ids_are_split_per_session() {
    let mut p = Packet::new(PacketType::KeepAlive);
    p.ids = Ids::Many(vec![
        IdSeq::new(Id::new("a"), 3),
        IdSeq::new(Id::new("b"), 7),
    ]);
    let parts = split_ids(p);
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[1].id().unwrap().0.as_ref(), b"b");
    assert_eq!(parts[1].seq, Some(7));
}

#[test]
fn stale_download_credits_in_websocket_frames_do_not_open_the_window() {
    let mut c = core();
    let now = Instant::now();
    let hs = req(
        5,
        &[
            ("METHOD", "WEBSOCKET_HANDSHAKE".into()),
            ("VERSION", "HTTP/1.1".into()),
            ("URI", "/ws".into()),
            ("DOWNLOAD_CREDITS", "100".into()),
        ],
        b"tok",
    );
    c.on_m2(0, hs, now);
    drain(&mut c);
    let sid = "pushpin-m2-7999_5_0";
    let mut accept = reply(sid, 0, PacketType::Data);
    accept.code = Some(101);
    c.on_zhttp(Mode::Ws, accept, now);
    // the 101 head (more than 100 bytes) used the whole window
    assert_eq!(m2(&drain(&mut c)).len(), 1);
    let frame = req(
        5,
        &[
            ("METHOD", "WEBSOCKET".into()),
            ("FLAGS", "0x81".into()),
            ("DOWNLOAD_CREDITS", "100".into()),
        ],
        b"hi",
    );
    c.on_m2(0, frame, now);
    drain(&mut c);
    let mut m = reply(sid, 1, PacketType::Data);
    m.body = Some(Bytes::from_static(b"queued"));
    c.on_zhttp(Mode::Ws, m, now);
    assert!(m2(&drain(&mut c)).is_empty(), "written beyond the window");
    // a real credits event lets it out, and the responder gets its 6 bytes back
    c.on_m2(0, credits_event(5, 200), now);
    let out = drain(&mut c);
    assert_eq!(data_of(&m2(&out)[0]), b"\x81\x06queued");
    c.on_m2(0, credits_event(5, 8), now);
    let z = zhttp(&drain(&mut c));
    assert_eq!(z[0].2.ptype, PacketType::Credit);
    assert_eq!(z[0].2.credits, Some(6));
}
