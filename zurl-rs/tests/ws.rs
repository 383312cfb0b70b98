//! Outbound WebSocket sessions: accept with credits, messages both ways, close, reject.

#[path = "support/common.rs"]
mod common;

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
