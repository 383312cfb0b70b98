//! WebSocket-over-HTTP (`over_http` routes) over real ZeroMQ sockets: a fake connection
//! manager holds the client WebSocket, the fake zurl plays the backend answering each
//! `POST` with `application/websocket-events`, and a fake handler sits on ws-control.
//! Checks the OPEN handshake and the 101, the request headers (Connection-Id, Meta-*,
//! Grip-Sig, the grip extension), GRIP control messages to the handler, handler `send`s
//! to the client, `cancel` for unknown cids, the close handshake, a rejected OPEN, and a
//! malformed backend body dropping the client.

#[path = "support/harness.rs"]
mod harness;

use bytes::Bytes;
use harness::{Env, Setup, WsControl, follow, get, header, start};
use pushpin_internal::{WsControlItem, WsControlItemKind};
use pushpin_zhttp::{Condition, ContentType, Header, Id, Packet, PacketType};

const ROUTES: &str = "*,path_beg=/woh/ 127.0.0.1:17031,over_http\n";
const EVENTS: &str = "application/websocket-events";

fn setup() -> Setup<'static> {
    Setup {
        routes: ROUTES,
        with_handler: false,
        ..Setup::default()
    }
}

/// A client WebSocket handshake as condure sends it.
fn handshake(id: &'static str, path: &str) -> Packet {
    let mut p = get(id, &format!("ws://example.com{path}"));
    p.stream = false;
    p.credits = Some(100_000);
    if let Some(h) = p.headers.as_mut() {
        h.push(Header::new("Upgrade", "websocket"));
        h.push(Header::new("Sec-WebSocket-Key", "abc"));
        h.push(Header::new("Sec-WebSocket-Version", "13"));
        h.push(Header::new(
            "Sec-WebSocket-Extensions",
            "permessage-deflate",
        ));
        h.push(Header::new("Meta-User", "mallory"));
    }
    p
}

/// A complete backend response.
fn answer(code: u16, headers: Vec<Header>, body: &[u8]) -> Packet {
    Packet {
        code: Some(code),
        reason: Some(Bytes::from_static(b"OK")),
        headers: Some(headers),
        body: Some(Bytes::copy_from_slice(body)),
        ..Packet::default()
    }
}

fn events_answer(extra: Vec<Header>, body: &[u8]) -> Packet {
    let mut h = vec![Header::new("Content-Type", EVENTS)];
    h.extend(extra);
    answer(200, h, body)
}

/// The next backend request: (request id, first packet).
async fn backend_request(env: &mut Env) -> (Id, Packet) {
    let p = env.zurl.first().await;
    assert_eq!(p.method.as_deref(), Some(&b"POST"[..]));
    assert!(p.stream);
    assert_eq!(header(&p, "Content-Type").unwrap(), EVENTS);
    assert_eq!(header(&p, "Accept").unwrap(), EVENTS);
    (p.id().unwrap().clone(), p)
}

/// The next packet to the client that is not a credit or keep-alive.
async fn client_packet(env: &mut Env) -> Packet {
    loop {
        let p = env.cm.recv().await;
        if !matches!(p.ptype, PacketType::Credit | PacketType::KeepAlive) {
            return p;
        }
    }
}

fn item(cid: &Bytes, kind: WsControlItemKind) -> WsControlItem {
    WsControlItem {
        cid: cid.clone(),
        req_id: None,
        kind,
    }
}

#[tokio::test]
async fn grip_session_round_trip() {
    let mut env = start(setup()).await;
    let mut ctl = WsControl::connect(env.dir.path());
    env.cm.first(&handshake("w1", "/woh/chat?x=1")).await;

    // OPEN
    let (id, open) = backend_request(&mut env).await;
    assert_eq!(
        open.uri.as_deref(),
        Some(&b"http://example.com/woh/chat?x=1"[..])
    );
    assert_eq!(open.body_bytes(), b"OPEN\r\n");
    assert_eq!(header(&open, "Content-Length").unwrap(), "6");
    assert_eq!(header(&open, "Sec-WebSocket-Extensions").unwrap(), "grip");
    assert_eq!(header(&open, "Sec-WebSocket-Key").unwrap(), "abc");
    assert!(header(&open, "Grip-Sig").is_some());
    assert!(header(&open, "Upgrade").is_none());
    assert!(
        header(&open, "Meta-User").is_none(),
        "client Meta-* forwarded"
    );
    let cid = header(&open, "Connection-Id").unwrap().clone();
    let sub = br#"c:{"type": "subscribe", "channel": "ch"}"#;
    let mut body = b"OPEN\r\nTEXT 5\r\nm:hi!\r\nTEXT 2\r\nxx\r\n".to_vec();
    body.extend_from_slice(format!("TEXT {:x}\r\n", sub.len()).as_bytes());
    body.extend_from_slice(sub);
    body.extend_from_slice(b"\r\n");
    env.zurl
        .send(
            &id,
            events_answer(
                vec![
                    Header::new("Sec-WebSocket-Extensions", "grip"),
                    Header::new("Set-Meta-User", "alice"),
                    Header::new("X-Custom", "v1"),
                ],
                &body,
            ),
        )
        .await;

    // the client is accepted with the backend's headers, minus the WoH ones
    let accept = env.cm.recv().await;
    assert_eq!((accept.code, accept.credits), (Some(101), Some(200_000)));
    assert_eq!(header(&accept, "X-Custom").unwrap(), "v1");
    for gone in ["Set-Meta-User", "Content-Type", "Sec-WebSocket-Extensions"] {
        assert!(
            header(&accept, gone).is_none(),
            "{gone} passed to the client"
        );
    }
    // prefixed message stripped, unprefixed one dropped
    let m = client_packet(&mut env).await;
    assert_eq!(
        (m.ptype.clone(), m.body_bytes()),
        (PacketType::Data, &b"hi!"[..])
    );

    // the handler hears of the session and of the control message (one packet or two)
    let mut items = ctl.recv().await.items;
    if items.len() == 1 {
        items.extend(ctl.recv().await.items);
    }
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].cid, cid);
    match &items[0].kind {
        WsControlItemKind::Here { uri, ttl, .. } => {
            assert_eq!(uri.as_deref(), Some(&b"ws://example.com/woh/chat?x=1"[..]));
            assert_eq!(*ttl, Some(60));
        }
        other => panic!("expected here, got {other:?}"),
    }
    assert_eq!(items[1].req_id.as_deref(), Some(&b"0"[..]));
    assert_eq!(
        items[1].kind,
        WsControlItemKind::Grip {
            message: Bytes::copy_from_slice(&sub[2..])
        }
    );
    let mut ack = item(&cid, WsControlItemKind::Ack);
    ack.req_id = Some(Bytes::from_static(b"0"));
    ctl.send(vec![ack]).await;

    // client → backend, with the meta set by the OPEN response
    let mut m = follow("w1", 1, PacketType::Data);
    m.content_type = Some(ContentType::Text);
    m.body = Some(Bytes::from_static(b"hello"));
    env.cm.send(&m).await;
    let (id, req) = backend_request(&mut env).await;
    assert_eq!(req.body_bytes(), b"TEXT 5\r\nhello\r\n");
    assert_eq!(header(&req, "Connection-Id").unwrap(), &cid);
    assert_eq!(header(&req, "Meta-User").unwrap(), "alice");
    env.zurl
        .send(&id, events_answer(vec![], b"BINARY 4\r\nm:\x00\x01\r\n"))
        .await;
    // the client gets its credits back and the reply
    let mut credited = 0;
    let reply = loop {
        let p = env.cm.recv().await;
        match p.ptype {
            PacketType::Credit => credited += p.credits.unwrap_or(0),
            PacketType::KeepAlive => {}
            _ => break p,
        }
    };
    assert_eq!(credited, 5);
    assert_eq!(reply.body_bytes(), b"\x00\x01");
    assert_eq!(reply.content_type, Some(ContentType::Binary));

    // a publish from the handler reaches the client
    let send = item(
        &cid,
        WsControlItemKind::Send {
            content_type: None,
            message: Bytes::from_static(b"pushed"),
            queue: false,
        },
    );
    ctl.send(vec![send]).await;
    let m = client_packet(&mut env).await;
    assert_eq!(m.body_bytes(), b"pushed");

    // an item for an unknown cid is answered with cancel
    let stranger = Bytes::from_static(b"no-such-cid");
    ctl.send(vec![item(&stranger, WsControlItemKind::Detach)])
        .await;
    let c = ctl.recv().await;
    assert_eq!(
        (c.items[0].cid.clone(), c.items[0].kind.clone()),
        (stranger, WsControlItemKind::Cancel)
    );

    // a published close closes the client and the backend side
    let close = item(
        &cid,
        WsControlItemKind::Close {
            code: Some(4003),
            reason: None,
        },
    );
    ctl.send(vec![close]).await;
    let c = client_packet(&mut env).await;
    assert_eq!((c.ptype.clone(), c.code), (PacketType::Close, Some(4003)));
    let (id, req) = backend_request(&mut env).await;
    assert_eq!(req.body_bytes(), b"CLOSE 2\r\n\x0f\xa3\r\n");
    env.zurl
        .send(&id, events_answer(vec![], b"CLOSE 2\r\n\x0f\xa3\r\n"))
        .await;
    let mut reply = follow("w1", 2, PacketType::Close);
    reply.code = Some(4003);
    env.cm.send(&reply).await;
    // the session ends: the handler hears `gone`
    loop {
        let p = ctl.recv().await;
        if p.items.iter().any(|i| i.kind == WsControlItemKind::Gone) {
            break;
        }
    }
    env.stop().await;
}

#[tokio::test]
async fn client_close_is_posted_and_echoed() {
    let mut env = start(setup()).await;
    env.cm.first(&handshake("w2", "/woh/plain")).await;
    let (id, _) = backend_request(&mut env).await;
    env.zurl.send(&id, events_answer(vec![], b"OPEN\r\n")).await;
    assert_eq!(env.cm.recv().await.code, Some(101));

    // without GRIP, a text event goes to the client as is
    let mut m = follow("w2", 1, PacketType::Data);
    m.content_type = Some(ContentType::Text);
    m.body = Some(Bytes::from_static(b"c:not control"));
    env.cm.send(&m).await;
    let (id, req) = backend_request(&mut env).await;
    assert_eq!(req.body_bytes(), b"TEXT d\r\nc:not control\r\n");
    env.zurl
        .send(&id, events_answer(vec![], b"TEXT 4\r\nc:ok\r\n"))
        .await;
    assert_eq!(client_packet(&mut env).await.body_bytes(), b"c:ok");

    let mut close = follow("w2", 2, PacketType::Close);
    close.code = Some(4005);
    close.body = Some(Bytes::from_static(b"done"));
    env.cm.send(&close).await;
    let (id, req) = backend_request(&mut env).await;
    assert_eq!(req.body_bytes(), b"CLOSE 6\r\n\x0f\xa5done\r\n");
    // the backend answers nothing: the proxy echoes the client's close itself
    env.zurl.send(&id, events_answer(vec![], b"")).await;
    let c = client_packet(&mut env).await;
    assert_eq!(
        (c.ptype.clone(), c.code, c.body_bytes()),
        (PacketType::Close, Some(4005), &b"done"[..])
    );
    env.stop().await;
}

#[tokio::test]
async fn rejected_open_is_relayed() {
    let mut env = start(setup()).await;
    env.cm.first(&handshake("w3", "/woh/deny")).await;
    let (id, _) = backend_request(&mut env).await;
    env.zurl
        .send(
            &id,
            answer(403, vec![Header::new("X-Why", "nope")], b"forbidden\n"),
        )
        .await;
    let r = env.cm.recv().await;
    assert_eq!(r.ptype, PacketType::Error);
    assert_eq!(r.condition, Some(Condition::Rejected));
    assert_eq!(r.code, Some(403));
    assert_eq!(header(&r, "X-Why").unwrap(), "nope");
    assert_eq!(r.body_bytes(), b"forbidden\n");

    // 200 without OPEN: 502
    env.cm.first(&handshake("w4", "/woh/noopen")).await;
    let (id, _) = backend_request(&mut env).await;
    env.zurl
        .send(&id, events_answer(vec![], b"TEXT 1\r\nx\r\n"))
        .await;
    let r = env.cm.recv().await;
    assert_eq!((r.ptype.clone(), r.code), (PacketType::Error, Some(502)));
    env.stop().await;
}

#[tokio::test]
async fn malformed_backend_body_drops_the_client() {
    let mut env = start(setup()).await;
    env.cm.first(&handshake("w5", "/woh/bad")).await;
    let (id, _) = backend_request(&mut env).await;
    env.zurl.send(&id, events_answer(vec![], b"OPEN\r\n")).await;
    assert_eq!(env.cm.recv().await.code, Some(101));
    let mut m = follow("w5", 1, PacketType::Data);
    m.content_type = Some(ContentType::Text);
    m.body = Some(Bytes::from_static(b"x"));
    env.cm.send(&m).await;
    let (id, _) = backend_request(&mut env).await;
    env.zurl
        .send(&id, events_answer(vec![], b"TEXT zz\r\nhi\r\n"))
        .await;
    let c = client_packet(&mut env).await;
    assert_eq!(c.ptype, PacketType::Cancel);
    env.stop().await;
}

#[tokio::test]
async fn refresh_command_and_retry() {
    let mut env = start(Setup {
        with_handler: true,
        ..setup()
    })
    .await;
    env.cm.first(&handshake("w6", "/woh/refresh")).await;
    let (id, open) = backend_request(&mut env).await;
    let cid = header(&open, "Connection-Id").unwrap().clone();
    env.zurl.send(&id, events_answer(vec![], b"OPEN\r\n")).await;
    assert_eq!(env.cm.recv().await.code, Some(101));

    // refresh: an empty request now; unknown cids are item-not-found
    let refresh = |cid: Bytes| {
        pushpin_internal::Call::Refresh(pushpin_internal::RefreshArgs {
            cid: Some(cid),
            channel: None,
        })
    };
    let r = env.handler().command(&refresh(cid.clone())).await;
    assert!(
        matches!(r.outcome, pushpin_internal::Outcome::Success(_)),
        "{:?}",
        r.outcome
    );
    let (id, req) = backend_request(&mut env).await;
    assert_eq!(req.body_bytes(), b"");
    assert_eq!(header(&req, "Content-Length").unwrap(), "0");
    env.zurl.send(&id, events_answer(vec![], b"")).await;
    let r = env
        .handler()
        .command(&refresh(Bytes::from_static(b"nope")))
        .await;
    assert!(matches!(
        r.outcome,
        pushpin_internal::Outcome::Failure {
            condition: pushpin_internal::Condition::ItemNotFound,
            ..
        }
    ));

    // a request that cannot connect is sent again (after 1-2 s)
    let mut m = follow("w6", 1, PacketType::Data);
    m.body = Some(Bytes::from_static(b"again"));
    m.content_type = Some(ContentType::Text);
    env.cm.send(&m).await;
    let (id, first) = backend_request(&mut env).await;
    let mut failed = Packet::new(PacketType::Error);
    failed.condition = Some(Condition::RemoteConnectionFailed);
    env.zurl.send(&id, failed).await;
    let (id, second) = backend_request(&mut env).await;
    assert_eq!(first.body_bytes(), second.body_bytes());
    assert_eq!(second.body_bytes(), b"TEXT 5\r\nagain\r\n");
    env.zurl
        .send(&id, events_answer(vec![], b"TEXT 2\r\nok\r\n"))
        .await;
    assert_eq!(client_packet(&mut env).await.body_bytes(), b"ok");
    env.stop().await;
}
