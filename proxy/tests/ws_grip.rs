//! GRIP over a plain (passthrough) WebSocket, over real ZeroMQ sockets: a fake
//! connection manager holds the client WebSocket, the fake zurl plays the origin
//! accepting the `grip` extension, and a fake handler sits on ws-control. Checks the
//! extension headers both ways, `c:` control messages to the handler, the message
//! prefix, handler `send`/`close`/`detach`, fragmented control messages, the 8 s ack
//! timeout after a control message the handler ignores (as 1.36's handler ignores
//! malformed ones), and that without the extension nothing changes.

#[path = "support/harness.rs"]
mod harness;

use std::time::Duration;

use bytes::Bytes;
use harness::{Env, Setup, WsControl, follow, get, header, start};
use pushpin_internal::{WsControlItem, WsControlItemKind};
use pushpin_zhttp::{ContentType, Header, Id, Packet, PacketType};

fn setup(routes: &'static str) -> Setup<'static> {
    Setup {
        routes,
        with_handler: false,
        ..Setup::default()
    }
}

/// A client WebSocket handshake as condure sends it (offering an extension).
fn handshake(id: &'static str, path: &str) -> Packet {
    let mut p = get(id, &format!("ws://example.com{path}"));
    p.stream = false;
    p.credits = Some(100_000);
    if let Some(h) = p.headers.as_mut() {
        h.push(Header::new("Upgrade", "websocket"));
        h.push(Header::new("Sec-WebSocket-Key", "abc"));
        h.push(Header::new(
            "Sec-WebSocket-Extensions",
            "permessage-deflate",
        ));
    }
    p
}

/// The origin's 101 with `extensions` (none when empty).
fn accept(extensions: &[&'static str]) -> Packet {
    let mut headers = vec![
        Header::new("Upgrade", "websocket"),
        Header::new("X-Custom", "v1"),
    ];
    for e in extensions {
        headers.push(Header::new("Sec-WebSocket-Extensions", *e));
    }
    Packet {
        code: Some(101),
        reason: Some(Bytes::from_static(b"Switching Protocols")),
        headers: Some(headers),
        credits: Some(100_000),
        ..Packet::default()
    }
}

fn text(body: &'static [u8], more: bool) -> Packet {
    Packet {
        body: Some(Bytes::from_static(body)),
        content_type: Some(ContentType::Text),
        more,
        ..Packet::default()
    }
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

/// The next packet to the origin that is not a credit or keep-alive.
async fn origin_packet(env: &mut Env) -> Packet {
    loop {
        let p = env.zurl.recv().await;
        if !matches!(p.ptype, PacketType::Credit | PacketType::KeepAlive) {
            return p;
        }
    }
}

/// The next ws-control item from the proxy.
async fn next_item(ctl: &mut WsControl, pending: &mut Vec<WsControlItem>) -> WsControlItem {
    if pending.is_empty() {
        *pending = ctl.recv().await.items;
        pending.reverse();
    }
    pending.pop().expect("an empty ws-control packet")
}

fn item(cid: &Bytes, kind: WsControlItemKind) -> WsControlItem {
    WsControlItem {
        cid: cid.clone(),
        req_id: None,
        kind,
    }
}

/// Opens a GRIP session: returns the zurl request id and the ws-control cid.
async fn open_grip(
    env: &mut Env,
    ctl: &mut WsControl,
    pending: &mut Vec<WsControlItem>,
    id: &'static str,
) -> (Id, Bytes) {
    env.cm.first(&handshake(id, "/chat")).await;
    let z = env.zurl.first().await;
    // the client's extension is not proxied; the origin is offered grip
    let ext: Vec<_> = z
        .header_list()
        .iter()
        .filter(|h| h.is(b"Sec-WebSocket-Extensions"))
        .map(|h| h.value.clone())
        .collect();
    assert_eq!(ext, vec![Bytes::from_static(b"grip")]);
    assert!(header(&z, "Grip-Sig").is_some());
    let zid = z.id().unwrap().clone();
    env.zurl.send(&zid, accept(&["grip"])).await;
    let a = env.cm.recv().await;
    assert_eq!((a.code, a.credits), (Some(101), Some(200_000)));
    assert_eq!(header(&a, "X-Custom").unwrap(), "v1");
    assert!(
        header(&a, "Sec-WebSocket-Extensions").is_none(),
        "the grip extension reached the client"
    );
    let here = next_item(ctl, pending).await;
    match &here.kind {
        WsControlItemKind::Here { uri, ttl, .. } => {
            assert_eq!(uri.as_deref(), Some(&b"ws://example.com/chat"[..]));
            assert_eq!(*ttl, Some(60));
        }
        other => panic!("expected here, got {other:?}"),
    }
    (zid, here.cid)
}

#[tokio::test]
async fn grip_session_subscribe_publish_and_prefix() {
    let mut env = start(setup("* 127.0.0.1:17041\n")).await;
    let mut ctl = WsControl::connect(env.dir.path());
    let mut pending = Vec::new();
    let (zid, cid) = open_grip(&mut env, &mut ctl, &mut pending, "g1").await;

    // a control message goes to the handler, not to the client
    let sub = br#"c:{"type":"subscribe","channel":"x"}"#;
    env.zurl.send(&zid, text(sub, false)).await;
    let g = next_item(&mut ctl, &mut pending).await;
    assert_eq!(g.cid, cid);
    assert_eq!(g.req_id.as_deref(), Some(&b"0"[..]));
    assert_eq!(
        g.kind,
        WsControlItemKind::Grip {
            message: Bytes::copy_from_slice(&sub[2..])
        }
    );
    let mut ack = item(&cid, WsControlItemKind::Ack);
    ack.req_id = Some(Bytes::from_static(b"0"));
    ctl.send(vec![ack]).await;

    // unprefixed messages are dropped, prefixed ones lose the prefix
    env.zurl.send(&zid, text(b"unprefixed", false)).await;
    env.zurl.send(&zid, text(b"m:hello", false)).await;
    let m = client_packet(&mut env).await;
    assert_eq!(
        (m.ptype.clone(), m.body_bytes()),
        (PacketType::Data, &b"hello"[..])
    );
    let mut bin = text(b"m:\x00\x01", false);
    bin.content_type = Some(ContentType::Binary);
    env.zurl.send(&zid, bin).await;
    let m = client_packet(&mut env).await;
    assert_eq!(m.body_bytes(), b"\x00\x01");
    assert_eq!(m.content_type, Some(ContentType::Binary));

    // every origin byte is credited back, delivered or not
    let mut credited = 0;
    while credited < (sub.len() + 10 + 7 + 4) as u32 {
        let p = env.zurl.recv().await;
        if p.ptype == PacketType::Credit {
            credited += p.credits.unwrap_or(0);
        }
    }

    // a publish reaches the client
    let send = item(
        &cid,
        WsControlItemKind::Send {
            content_type: None,
            message: Bytes::from_static(b"published"),
            queue: false,
        },
    );
    ctl.send(vec![send]).await;
    assert_eq!(client_packet(&mut env).await.body_bytes(), b"published");

    // client → origin is untouched
    let mut m = follow("g1", 1, PacketType::Data);
    m.content_type = Some(ContentType::Text);
    m.body = Some(Bytes::from_static(b"c:from client"));
    env.cm.send(&m).await;
    assert_eq!(origin_packet(&mut env).await.body_bytes(), b"c:from client");

    // a fragmented control message is skipped whole; a publish waits for the origin's
    // fragmented message in progress
    env.zurl.send(&zid, text(b"c:{\"type\":", true)).await;
    env.zurl.send(&zid, text(b"\"detach\"}", false)).await;
    env.zurl.send(&zid, text(b"m:par", true)).await;
    let f1 = client_packet(&mut env).await;
    assert_eq!((f1.body_bytes(), f1.more), (&b"par"[..], true));
    let mut send = item(
        &cid,
        WsControlItemKind::Send {
            content_type: None,
            message: Bytes::from_static(b"delayed"),
            queue: true,
        },
    );
    send.req_id = Some(Bytes::from_static(b"7"));
    ctl.send(vec![send]).await;
    env.zurl.send(&zid, text(b"t", false)).await;
    let f2 = client_packet(&mut env).await;
    assert_eq!((f2.body_bytes(), f2.more), (&b"t"[..], false));
    assert_eq!(client_packet(&mut env).await.body_bytes(), b"delayed");
    // the queued send is acked once written
    let a = next_item(&mut ctl, &mut pending).await;
    assert_eq!(
        (a.kind, a.req_id.as_deref()),
        (WsControlItemKind::Ack, Some(&b"7"[..]))
    );

    // a published close closes the client with its code and the origin without one
    let close = item(
        &cid,
        WsControlItemKind::Close {
            code: Some(4000),
            reason: Some(Bytes::from_static(b"bye")),
        },
    );
    ctl.send(vec![close]).await;
    let c = client_packet(&mut env).await;
    assert_eq!(
        (c.ptype.clone(), c.code, c.body_bytes()),
        (PacketType::Close, Some(4000), &b"bye"[..])
    );
    let o = origin_packet(&mut env).await;
    assert_eq!((o.ptype, o.code), (PacketType::Close, None));
    env.zurl.send(&zid, Packet::new(PacketType::Close)).await;
    let mut reply = follow("g1", 2, PacketType::Close);
    reply.code = Some(4000);
    env.cm.send(&reply).await;
    // the session ends: the handler hears `gone`
    loop {
        let i = next_item(&mut ctl, &mut pending).await;
        if i.kind == WsControlItemKind::Gone {
            assert_eq!(i.cid, cid);
            break;
        }
    }
    env.stop().await;
}

/// 1.36's handler neither acks nor acts on a control message it cannot parse; the
/// proxy then gives up on the session after 8 s, cancelling both sides.
#[tokio::test]
async fn unacknowledged_control_message_drops_the_session() {
    let mut env = start(setup("* 127.0.0.1:17042\n")).await;
    let mut ctl = WsControl::connect(env.dir.path());
    let mut pending = Vec::new();
    let (zid, cid) = open_grip(&mut env, &mut ctl, &mut pending, "g2").await;

    env.zurl.send(&zid, text(b"c:{bad json", false)).await;
    let g = next_item(&mut ctl, &mut pending).await;
    assert_eq!(
        g.kind,
        WsControlItemKind::Grip {
            message: Bytes::from_static(b"{bad json")
        }
    );
    // the session goes on meanwhile
    env.zurl.send(&zid, text(b"m:still here", false)).await;
    assert_eq!(client_packet(&mut env).await.body_bytes(), b"still here");

    // nothing for a while (the ack timeout is 8 s), then both sides are cancelled
    assert!(env.cm.quiet_for(Duration::from_secs(6)).await);
    let c = client_packet(&mut env).await;
    assert_eq!(c.ptype, PacketType::Cancel);
    assert_eq!(origin_packet(&mut env).await.ptype, PacketType::Cancel);
    loop {
        let i = next_item(&mut ctl, &mut pending).await;
        if i.kind == WsControlItemKind::Gone {
            assert_eq!(i.cid, cid);
            break;
        }
    }
    env.stop().await;
}

/// `detach`: the origin hears a close, its messages no longer reach the client, the
/// client stays for the handler and its close is answered by the proxy.
#[tokio::test]
async fn detach_leaves_the_client_to_the_handler() {
    let mut env = start(setup("* 127.0.0.1:17043\n")).await;
    let mut ctl = WsControl::connect(env.dir.path());
    let mut pending = Vec::new();
    let (zid, cid) = open_grip(&mut env, &mut ctl, &mut pending, "g3").await;

    ctl.send(vec![item(&cid, WsControlItemKind::Detach)]).await;
    let o = origin_packet(&mut env).await;
    assert_eq!((o.ptype, o.code), (PacketType::Close, None));
    env.zurl.send(&zid, text(b"m:late", false)).await;
    env.zurl.send(&zid, Packet::new(PacketType::Close)).await;
    let send = item(
        &cid,
        WsControlItemKind::Send {
            content_type: None,
            message: Bytes::from_static(b"from handler"),
            queue: false,
        },
    );
    ctl.send(vec![send]).await;
    let m = client_packet(&mut env).await;
    assert_eq!(
        m.body_bytes(),
        b"from handler",
        "origin message after detach"
    );

    let mut close = follow("g3", 1, PacketType::Close);
    close.code = Some(1000);
    env.cm.send(&close).await;
    let c = client_packet(&mut env).await;
    assert_eq!(c.ptype, PacketType::Close);
    loop {
        if next_item(&mut ctl, &mut pending).await.kind == WsControlItemKind::Gone {
            break;
        }
    }
    env.stop().await;
}

/// Without the extension nothing is sorted and the handler hears nothing; on a
/// `no_grip` route the origin is not offered the extension and its `grip` reaches the
/// client, which does GRIP itself (the session is still registered, as in 1.36).
#[tokio::test]
async fn without_grip_messages_pass_through() {
    let mut env = start(setup(
        "*,path_beg=/nogrip,no_grip 127.0.0.1:17044\n* 127.0.0.1:17044\n",
    ))
    .await;
    let mut ctl = WsControl::connect(env.dir.path());
    env.cm.first(&handshake("p1", "/plain")).await;
    let z = env.zurl.first().await;
    let zid = z.id().unwrap().clone();
    env.zurl.send(&zid, accept(&["permessage-deflate"])).await;
    let a = env.cm.recv().await;
    assert_eq!(a.code, Some(101));
    assert!(header(&a, "Sec-WebSocket-Extensions").is_none());
    env.zurl.send(&zid, text(b"c:not control", false)).await;
    assert_eq!(client_packet(&mut env).await.body_bytes(), b"c:not control");

    env.cm.first(&handshake("p2", "/nogrip")).await;
    let z = env.zurl.first().await;
    assert!(header(&z, "Sec-WebSocket-Extensions").is_none());
    let zid = z.id().unwrap().clone();
    env.zurl
        .send(&zid, accept(&["grip; message-prefix=\"\""]))
        .await;
    let a = env.cm.recv().await;
    assert_eq!(
        header(&a, "Sec-WebSocket-Extensions").unwrap(),
        "grip; message-prefix=\"\""
    );
    let here = ctl.recv().await;
    assert!(matches!(here.items[0].kind, WsControlItemKind::Here { .. }));
    env.zurl.send(&zid, text(b"c:{}", false)).await;
    assert_eq!(client_packet(&mut env).await.body_bytes(), b"c:{}");
    env.stop().await;
}
