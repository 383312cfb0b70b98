//! Outbound WebSocket sessions: accept with credits, messages both ways, close, reject.

#[path = "support/common.rs"]
mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use pushpin_zhttp::{Condition, ContentType, PacketType};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_echo_and_close() {
    let (port, origin) = ws_origin().await;
    let z = start_zurl("").await;
    let mut c = Client::connect(&z).await;
    let mut req = c.request("w-1", "GET", &format!("ws://127.0.0.1:{port}/echo"));
    req.method = None;
    req.stream = false;
    req.credits = Some(10_000);
    req.headers = Some(headers(&[("Sec-WebSocket-Protocol", "chat")]));
    c.send_first(&req).await;
    let accept = c.recv_for("w-1").await;
    assert_eq!(
        (accept.code, accept.seq, accept.credits),
        (Some(101), Some(0), Some(200_000))
    );
    assert_eq!(accept.reason.as_deref(), Some(&b"Switching Protocols"[..]));
    assert_eq!(
        header(&accept, "Sec-WebSocket-Protocol"),
        Some(&b"chat"[..])
    );

    let mut text = c.follow("w-1", 1, PacketType::Data);
    text.body = Some(Bytes::from_static(b"hello ws"));
    c.send_next(text).await;
    let credit = c.recv_for("w-1").await;
    assert_eq!(
        (credit.ptype, credit.credits),
        (PacketType::Credit, Some(8))
    );
    let echo = c.recv_for("w-1").await;
    assert_eq!(
        (
            echo.ptype.clone(),
            echo.body_bytes(),
            echo.content_type.clone()
        ),
        (PacketType::Data, &b"hello ws"[..], None)
    );

    let mut bin = c.follow("w-1", 2, PacketType::Data);
    bin.body = Some(Bytes::from_static(b"\x00\x01"));
    bin.content_type = Some(ContentType::Binary);
    c.send_next(bin).await;
    assert_eq!(c.recv_for("w-1").await.credits, Some(2));
    let echo = c.recv_for("w-1").await;
    assert_eq!(
        (echo.body_bytes(), echo.content_type.clone()),
        (&b"\x00\x01"[..], Some(ContentType::Binary))
    );

    let mut close = c.follow("w-1", 3, PacketType::Close);
    close.code = Some(1000);
    c.send_next(close).await;
    let reply = c.recv_for("w-1").await;
    assert_eq!((reply.ptype, reply.code), (PacketType::Close, Some(1000)));
    origin.abort();
    z.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_rejected() {
    let (port, origin) = ws_origin().await;
    let z = start_zurl("").await;
    let mut c = Client::connect(&z).await;
    let mut req = c.request("w-2", "GET", &format!("ws://127.0.0.1:{port}/other"));
    req.stream = false;
    c.send_first(&req).await;
    let e = c.recv_for("w-2").await;
    assert_eq!(
        (e.ptype.clone(), e.condition.clone(), e.code),
        (PacketType::Error, Some(Condition::Rejected), Some(403))
    );
    assert_eq!(e.body_bytes(), b"nope");
    assert!(
        e.headers.is_none() && e.reason.is_none(),
        "zurl sends code and body only"
    );
    origin.abort();
    z.stop().await;
}

/// A packet to send (type, body, `more`, `content-type`) and the credit it earns.
type Step = (PacketType, &'static [u8], bool, Option<ContentType>, u32);

/// What the initiator sees of a packet: type, body, `more`, `content-type`, credits, code.
fn seen(p: &pushpin_zhttp::Packet) -> (String, String, bool, bool, Option<u32>, Option<u16>) {
    (
        p.ptype.to_string(),
        String::from_utf8_lossy(p.body_bytes()).into_owned(),
        p.more,
        p.is_binary(),
        p.credits,
        p.code,
    )
}

/// Fragments are relayed one frame per packet both ways, as zurl 1.11 does (observed):
/// origin frames as data packets with `more` on all but the last, `content-type: binary`
/// on every frame of a binary message, pings and pongs in place without payload but
/// charged to the credits; initiator packets with `more` as continuation frames, pings and
/// pongs as empty frames, each frame credited back (0 included).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_fragments_frame_by_frame() {
    let (port, origin) = ws_frames_origin().await;
    let z = start_zurl("").await;
    let mut c = Client::connect(&z).await;
    let mut req = c.request("f-1", "GET", &format!("ws://127.0.0.1:{port}/frames"));
    req.method = None;
    req.stream = false;
    req.credits = Some(4);
    c.send_first(&req).await;
    assert_eq!(c.recv_for("f-1").await.code, Some(101));
    let data = |body: &str, more: bool, binary: bool| {
        ("data".to_owned(), body.to_owned(), more, binary, None, None)
    };
    let control = |t: &str| (t.to_owned(), String::new(), false, false, None, None);
    // 4 credits: "hel" (3) goes; the ping's 2 payload bytes do not fit in the 1 left.
    assert_eq!(seen(&c.recv_for("f-1").await), data("hel", true, false));
    assert!(c.silent_for("f-1", Duration::from_millis(300)).await);
    let mut seq = 1;
    let mut credit = c.follow("f-1", seq, PacketType::Credit);
    seq += 1;
    credit.credits = Some(1);
    c.send_next(credit).await;
    assert_eq!(seen(&c.recv_for("f-1").await), control("ping"));
    assert!(c.silent_for("f-1", Duration::from_millis(300)).await);
    let mut credit = c.follow("f-1", seq, PacketType::Credit);
    seq += 1;
    credit.credits = Some(1000);
    c.send_next(credit).await;
    for want in [
        data("lo ", true, false),
        control("pong"),
        data("world", false, false),
        data("\x01", true, true),
        data("", true, true),
        data("\x02", false, true),
    ] {
        assert_eq!(seen(&c.recv_for("f-1").await), want);
    }

    // Initiator to origin, one packet at a time, each credited back once written.
    let steps: [Step; 9] = [
        (PacketType::Data, b"ab", true, None, 2),
        (PacketType::Ping, b"P1", false, None, 0),
        (PacketType::Data, b"cd", true, None, 2),
        (PacketType::Pong, b"P2", false, None, 0),
        (PacketType::Data, b"ef", false, None, 2),
        (PacketType::Data, b"x", true, Some(ContentType::Binary), 1),
        (PacketType::Data, b"", true, None, 0),
        (PacketType::Data, b"y", false, Some(ContentType::Text), 1),
        (PacketType::Data, b"mid", true, None, 3),
    ];
    for (ptype, body, more, ctype, credits) in steps {
        let mut p = c.follow("f-1", seq, ptype.clone());
        seq += 1;
        p.body = Some(Bytes::from_static(body));
        p.more = more;
        p.content_type = ctype;
        c.send_next(p).await;
        let got = c.recv_for("f-1").await;
        assert_eq!(
            (got.ptype, got.credits),
            (PacketType::Credit, Some(credits)),
            "credit for {ptype} {body:?}"
        );
    }
    // A close in the middle of the initiator's message; the origin answers with a close
    // whose reason lists the frames it received.
    let mut close = c.follow("f-1", seq, PacketType::Close);
    close.code = Some(1000);
    close.body = Some(Bytes::from_static(b"done"));
    c.send_next(close).await;
    let reply = c.recv_for("f-1").await;
    assert_eq!(
        (
            reply.ptype.clone(),
            reply.code,
            String::from_utf8_lossy(reply.body_bytes())
        ),
        (
            PacketType::Close,
            Some(1000),
            "1-ab 9+ 0-cd 10+ 0+ef 2-x 0- 0+y 1-mid".into()
        )
    );
    origin.abort();
    z.stop().await;
}

/// The origin closes in the middle of its fragmented message: the fragment sent so far
/// (with `more`), then the close; the initiator's close answers it and ends the session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_origin_closes_mid_message() {
    let (port, origin) = ws_frames_origin().await;
    let z = start_zurl("").await;
    let mut c = Client::connect(&z).await;
    let mut req = c.request("f-2", "GET", &format!("ws://127.0.0.1:{port}/frames-close"));
    req.method = None;
    req.stream = false;
    req.credits = Some(1000);
    c.send_first(&req).await;
    assert_eq!(c.recv_for("f-2").await.code, Some(101));
    let part = c.recv_for("f-2").await;
    assert_eq!((part.body_bytes(), part.more), (&b"part"[..], true));
    let mut go = c.follow("f-2", 1, PacketType::Data);
    go.body = Some(Bytes::from_static(b"go"));
    c.send_next(go).await;
    assert_eq!(c.recv_for("f-2").await.credits, Some(2));
    let close = c.recv_for("f-2").await;
    assert_eq!(
        (close.ptype.clone(), close.code, close.body_bytes()),
        (PacketType::Close, Some(1001), &b"away"[..])
    );
    let mut reply = c.follow("f-2", 2, PacketType::Close);
    reply.code = Some(1000);
    c.send_next(reply).await;
    assert!(c.silent_for("f-2", Duration::from_millis(300)).await);
    origin.abort();
    z.stop().await;
}
