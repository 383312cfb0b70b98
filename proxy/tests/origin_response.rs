//! What the client gets of an origin response, over real ZeroMQ sockets with a fake zurl:
//! the headers 1.36 never relays (`Connection`, `Keep-Alive`, `Content-Encoding`,
//! `Transfer-Encoding`), and GRIP responses larger than the 100000 bytes buffered for
//! the handler (sent by the proxy itself for stream holds, then handed over with
//! `response-sent`; refused otherwise).

#[path = "support/harness.rs"]
mod harness;

use bytes::{Bytes, BytesMut};
use harness::{Env, Setup, follow, get, header, inspect_ok, start};
use pushpin_internal::zrpc::Outcome;
use pushpin_internal::{AcceptResult, Call};
use pushpin_zhttp::{Header, Id, Packet, PacketType};

fn head(code: u16, headers: Vec<Header>, body: Bytes, more: bool) -> Packet {
    Packet {
        code: Some(code),
        reason: Some(Bytes::from_static(b"OK")),
        headers: Some(headers),
        body: Some(body),
        more,
        ..Packet::default()
    }
}

fn body(data: Bytes, more: bool) -> Packet {
    Packet {
        body: Some(data),
        more,
        ..Packet::default()
    }
}

fn names(p: &Packet) -> Vec<String> {
    p.header_list()
        .iter()
        .map(|h| String::from_utf8_lossy(&h.name).into_owned())
        .collect()
}

#[tokio::test]
async fn hop_headers_are_not_relayed() {
    let mut env = start(Setup {
        routes: "* 127.0.0.1:17060\n",
        with_handler: false,
        ..Setup::default()
    })
    .await;
    env.cm.first(&get("h1", "http://example.com/")).await;
    let z = env.zurl.first().await;
    let id = z.id().unwrap().clone();
    let headers = vec![
        Header::new("Content-Type", "text/plain"),
        Header::new("Connection", "keep-alive"),
        Header::new("keep-alive", "timeout=5"),
        Header::new("Content-Encoding", "gzip"),
        Header::new("Transfer-Encoding", "chunked"),
        Header::new("Content-Length", "3"),
        Header::new("X-Other", "1"),
    ];
    env.zurl
        .send(&id, head(200, headers, Bytes::from_static(b"hi\n"), false))
        .await;
    let (resp, data) = env.cm.response().await;
    assert_eq!(names(&resp), ["Content-Type", "Content-Length", "X-Other"]);
    assert_eq!(data, "hi\n");
    env.stop().await;
}

/// A GRIP response relayed as is (a `no_grip` route) loses them too.
#[tokio::test]
async fn hop_headers_are_not_relayed_without_grip() {
    let mut env = start(Setup {
        routes: "*,no_grip 127.0.0.1:17061\n",
        with_handler: false,
        ..Setup::default()
    })
    .await;
    env.cm.first(&get("h2", "http://example.com/")).await;
    let z = env.zurl.first().await;
    let id = z.id().unwrap().clone();
    let headers = vec![
        Header::new("Grip-Hold", "stream"),
        Header::new("Content-Encoding", "br"),
    ];
    env.zurl
        .send(&id, head(200, headers, Bytes::from_static(b"x"), false))
        .await;
    let (resp, _) = env.cm.response().await;
    assert_eq!(names(&resp), ["Grip-Hold"]);
    env.stop().await;
}

/// Starts a GRIP request through the fake zurl; returns zurl's request id.
async fn grip_request(env: &mut Env, rid: &'static str) -> Id {
    env.cm.first(&get(rid, "http://example.com/big")).await;
    let call = env.handler().inspect_call().await;
    let info = inspect_ok();
    env.handler().inspect_reply(&call, info).await;
    let z = env.zurl.first().await;
    z.id().unwrap().clone()
}

fn chunk(n: usize, fill: u8) -> Bytes {
    let mut b = BytesMut::new();
    b.resize(n, fill);
    b.freeze()
}

#[tokio::test]
async fn large_stream_hold_is_sent_by_the_proxy() {
    let mut env = start(Setup {
        routes: "* 127.0.0.1:17062\n",
        ..Setup::default()
    })
    .await;
    let id = grip_request(&mut env, "b1").await;
    let headers = vec![
        Header::new("Content-Type", "text/plain"),
        Header::new("Content-Length", "150000"),
        Header::new("Grip-Hold", "stream"),
        Header::new("Grip-Channel", "news"),
        Header::new("Grip-Status", "201"),
        Header::new("Transfer-Encoding", "chunked"),
    ];
    env.zurl
        .send(&id, head(200, headers, chunk(60_000, b'a'), true))
        .await;
    env.zurl.send(&id, body(chunk(60_000, b'b'), true)).await;
    env.zurl.send(&id, body(chunk(30_000, b'c'), false)).await;
    // the client gets the head with the first 8192 bytes (its credits)
    let mut got = 0usize;
    let first = loop {
        let p = env.cm.recv().await;
        if p.ptype == PacketType::Data {
            break p;
        }
    };
    assert_eq!(first.code, Some(201));
    assert_eq!(first.reason.as_deref(), Some(&b"Created"[..]));
    assert_eq!(names(&first), ["Content-Type"]);
    assert!(first.more);
    got += first.body_bytes().len();
    let mut credit = follow("b1", 1, PacketType::Credit);
    credit.credits = Some(200_000);
    env.cm.send(&credit).await;
    // the rest of the body, never ended, then the hand-over
    loop {
        let p = env.cm.recv().await;
        match p.ptype {
            PacketType::Data => {
                assert!(p.more, "the proxy ended a response the handler continues");
                got += p.body_bytes().len();
            }
            PacketType::HandoffStart => break,
            _ => {}
        }
    }
    assert_eq!(got, 150_000);
    env.cm
        .send(&follow("b1", 2, PacketType::HandoffProceed))
        .await;
    let call = env.handler().accept_call().await;
    let Call::Accept(args) = call.call() else {
        panic!("expected accept");
    };
    assert!(args.response_sent);
    assert_eq!(args.requests[0].response_code, Some(201));
    let resp = args.response.as_ref().unwrap();
    assert_eq!(resp.code, 200);
    assert!(resp.body.is_empty());
    assert!(resp.headers.iter().any(|h| h.0 == "Grip-Hold"));
    // the handler's answer without a hold: its body ends the response
    let answer = Outcome::success_with(|b| {
        AcceptResult {
            accepted: false,
            response: Some(pushpin_internal::ResponseData {
                code: 200,
                reason: Bytes::from_static(b"OK"),
                headers: Vec::new(),
                body: Bytes::from_static(b"end\n"),
            }),
        }
        .encode(b)
    });
    env.handler().accept_reply(&call, answer).await;
    let last = loop {
        let p = env.cm.recv().await;
        if p.ptype == PacketType::Data {
            break p;
        }
    };
    assert_eq!((last.body_bytes(), last.more), (&b"end\n"[..], false));
    assert!(header(&last, "Content-Type").is_none());
    env.stop().await;
}

/// Other GRIP responses that large are refused (debug names the target).
#[tokio::test]
async fn large_response_hold_is_refused() {
    let mut env = start(Setup {
        routes: "*,debug 127.0.0.1:17063\n",
        ..Setup::default()
    })
    .await;
    let id = grip_request(&mut env, "b2").await;
    let headers = vec![
        Header::new("Grip-Hold", "response"),
        Header::new("Grip-Channel", "news"),
    ];
    env.zurl
        .send(&id, head(200, headers, chunk(100_001, b'a'), false))
        .await;
    let (resp, data) = env.cm.response().await;
    assert_eq!(resp.code, Some(502));
    assert_eq!(
        data,
        "GRIP instruct response too large from 127.0.0.1:17063\n"
    );
    env.stop().await;
}
