//! The `test` target's WebSocket (1.36 `TestWebSocket`) over real ZeroMQ sockets: `/ws`
//! accepts, subscribes the connection to its channels through the GRIP extension (the
//! `c:` messages reach the handler over ws-control), echoes messages (their `m:` prefix
//! removed by the proxy) and answers a close; any other path is a `404`.

#[path = "support/harness.rs"]
mod harness;

use bytes::Bytes;
use harness::{Env, Setup, WsControl, follow, get, header, start};
use pushpin_internal::{WsControlItem, WsControlItemKind};
use pushpin_zhttp::{ContentType, Header, Packet, PacketType};

fn handshake(id: &'static str, path: &str) -> Packet {
    let mut p = get(id, &format!("ws://example.com{path}"));
    p.stream = false;
    if let Some(h) = p.headers.as_mut() {
        h.push(Header::new("Upgrade", "websocket"));
        h.push(Header::new("Sec-WebSocket-Key", "abc"));
    }
    p
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

async fn next_item(ctl: &mut WsControl, pending: &mut Vec<WsControlItem>) -> WsControlItem {
    if pending.is_empty() {
        *pending = ctl.recv().await.items;
        pending.reverse();
    }
    pending.pop().expect("an empty ws-control packet")
}

#[tokio::test]
async fn ws_subscribes_and_echoes() {
    let mut env = start(Setup {
        with_handler: false,
        ..Setup::default()
    })
    .await;
    let mut ctl = WsControl::connect(env.dir.path());
    let mut pending = Vec::new();
    env.cm.first(&handshake("t1", "/ws/?channel=news")).await;
    let a = env.cm.recv().await;
    assert_eq!((a.code, a.credits), (Some(101), Some(200_000)));
    assert!(header(&a, "Sec-WebSocket-Extensions").is_none());

    let here = next_item(&mut ctl, &mut pending).await;
    assert!(matches!(here.kind, WsControlItemKind::Here { .. }));
    let cid = here.cid;
    let g = next_item(&mut ctl, &mut pending).await;
    assert_eq!(g.cid, cid);
    assert_eq!(
        g.kind,
        WsControlItemKind::Grip {
            message: Bytes::from_static(
                b"{\n    \"channel\": \"news\",\n    \"type\": \"subscribe\"\n}\n"
            )
        }
    );
    let ack = WsControlItem {
        cid: cid.clone(),
        req_id: g.req_id.clone(),
        kind: WsControlItemKind::Ack,
    };
    ctl.send(vec![ack]).await;

    // echoed without the prefix
    let mut m = follow("t1", 1, PacketType::Data);
    m.content_type = Some(ContentType::Text);
    m.body = Some(Bytes::from_static(b"hello"));
    env.cm.send(&m).await;
    let e = client_packet(&mut env).await;
    assert_eq!(
        (e.ptype.clone(), e.body_bytes()),
        (PacketType::Data, &b"hello"[..])
    );
    let mut b = follow("t1", 2, PacketType::Data);
    b.content_type = Some(ContentType::Binary);
    b.body = Some(Bytes::from_static(b"\x00\x01"));
    env.cm.send(&b).await;
    let e = client_packet(&mut env).await;
    assert_eq!(
        (e.body_bytes(), e.content_type.clone()),
        (&b"\x00\x01"[..], Some(ContentType::Binary))
    );

    // a published message reaches the client
    let send = WsControlItem {
        cid: cid.clone(),
        req_id: None,
        kind: WsControlItemKind::Send {
            content_type: None,
            message: Bytes::from_static(b"published"),
            queue: false,
        },
    };
    ctl.send(vec![send]).await;
    assert_eq!(client_packet(&mut env).await.body_bytes(), b"published");

    // a close is answered with the same code
    let mut close = follow("t1", 3, PacketType::Close);
    close.code = Some(4001);
    env.cm.send(&close).await;
    let c = client_packet(&mut env).await;
    assert_eq!((c.ptype.clone(), c.code), (PacketType::Close, Some(4001)));
    env.stop().await;
}

/// Without the grip extension (a `no_grip` route) messages come back as they are.
#[tokio::test]
async fn ws_echo_without_grip() {
    let mut env = start(Setup {
        routes: "*,no_grip,path_beg=/t/ test\n",
        with_handler: false,
        ..Setup::default()
    })
    .await;
    env.cm.first(&handshake("t2", "/t/ws")).await;
    assert_eq!(env.cm.recv().await.code, Some(101));
    let mut m = follow("t2", 1, PacketType::Data);
    m.body = Some(Bytes::from_static(b"c:not a control message"));
    env.cm.send(&m).await;
    assert_eq!(
        client_packet(&mut env).await.body_bytes(),
        b"c:not a control message"
    );
    env.stop().await;
}

#[tokio::test]
async fn other_paths_are_not_found() {
    let mut env = start(Setup {
        with_handler: false,
        ..Setup::default()
    })
    .await;
    env.cm.first(&handshake("t3", "/stream")).await;
    let e = env.cm.recv().await;
    assert_eq!((e.ptype.clone(), e.code), (PacketType::Error, Some(404)));
    assert_eq!(e.body_bytes(), b"no such test resource\n");
    env.stop().await;
}
