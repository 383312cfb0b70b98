//! GRIP WebSocket sessions over ws-control with a fake proxy.

mod support;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use pushpin_internal::{Known, WsControlItem, WsControlItemKind, WsControlPacket};
use pushpin_zmq::Multipart;
use support::{Harness, item_json};

fn it(cid: &str, req_id: Option<&str>, kind: WsControlItemKind) -> WsControlItem {
    WsControlItem {
        cid: Bytes::copy_from_slice(cid.as_bytes()),
        req_id: req_id.map(|r| Bytes::copy_from_slice(r.as_bytes())),
        kind,
    }
}

async fn send(h: &mut Harness, items: Vec<WsControlItem>) {
    let mut buf = BytesMut::new();
    WsControlPacket { items }.encode(&mut buf);
    h.ws_to_handler
        .send(Multipart::from(buf.freeze()))
        .await
        .unwrap();
}

async fn recv(h: &mut Harness) -> Vec<WsControlItem> {
    let msg = tokio::time::timeout(support::WAIT, h.ws_from_handler.recv())
        .await
        .expect("no ws-control packet")
        .unwrap();
    WsControlPacket::decode(&msg[0], &Default::default())
        .unwrap()
        .items
}

fn grip(cid: &str, req: &str, json: &str) -> WsControlItem {
    it(
        cid,
        Some(req),
        WsControlItemKind::Grip {
            message: Bytes::copy_from_slice(json.as_bytes()),
        },
    )
}

#[tokio::test]
async fn websocket_session_subscribes_receives_publishes_and_keep_alives() {
    let mut h = Harness::start("").await;
    let here = WsControlItemKind::Here {
        uri: Some(Bytes::from_static(b"ws://example.com/ws")),
        ttl: Some(60),
        route: None,
        separate_stats: false,
        channel_prefix: None,
    };
    send(&mut h, vec![it("c1", None, here)]).await;
    send(
        &mut h,
        vec![grip("c1", "0", r#"{"type": "subscribe", "channel": "wc"}"#)],
    )
    .await;
    let items = recv(&mut h).await;
    assert_eq!(items[0].kind, WsControlItemKind::Ack);
    assert_eq!(items[0].req_id.as_deref(), Some(&b"0"[..]));

    let (code, _) = h
        .http(
            "POST",
            "/publish/",
            &item_json("wc", r#"{"ws-message":{"content":"hi ws"}}"#),
        )
        .await;
    assert_eq!(code, 200);
    let items = recv(&mut h).await;
    match &items[0].kind {
        WsControlItemKind::Send { message, .. } => assert_eq!(message.as_ref(), b"hi ws"),
        other => panic!("{other:?}"),
    }

    send(
        &mut h,
        vec![grip(
            "c1",
            "1",
            r#"{"type": "keep-alive", "content": "ka", "timeout": 2}"#,
        )],
    )
    .await;
    let items = recv(&mut h).await;
    assert_eq!(items[0].kind, WsControlItemKind::Ack);
    match &items[1].kind {
        WsControlItemKind::KeepAliveSetup { timeout, mode } => {
            assert_eq!(*timeout, Some(2));
            assert_eq!(*mode, Some(Known::Known(pushpin_grip::KeepAliveMode::Idle)));
        }
        other => panic!("{other:?}"),
    }
    send(
        &mut h,
        vec![it("c1", None, WsControlItemKind::NeedKeepAlive)],
    )
    .await;
    match &recv(&mut h).await[0].kind {
        WsControlItemKind::Send { message, .. } => assert_eq!(message.as_ref(), b"ka"),
        other => panic!("{other:?}"),
    }

    h.http(
        "POST",
        "/publish/",
        &item_json(
            "wc",
            r#"{"ws-message":{"action":"close","code":4000,"reason":"bye"}}"#,
        ),
    )
    .await;
    match &recv(&mut h).await[0].kind {
        WsControlItemKind::Close { code, reason } => {
            assert_eq!((*code, reason.as_deref()), (Some(4000), Some(&b"bye"[..])));
        }
        other => panic!("{other:?}"),
    }

    // unknown cid: cancel
    send(
        &mut h,
        vec![it(
            "nope",
            None,
            WsControlItemKind::KeepAlive { ttl: Some(60) },
        )],
    )
    .await;
    let items = recv(&mut h).await;
    assert_eq!(
        (items[0].cid.as_ref(), &items[0].kind),
        (&b"nope"[..], &WsControlItemKind::Cancel)
    );

    // gone: the session is dropped, so its cid becomes unknown
    send(&mut h, vec![it("c1", None, WsControlItemKind::Gone)]).await;
    send(
        &mut h,
        vec![it(
            "c1",
            None,
            WsControlItemKind::KeepAlive { ttl: Some(60) },
        )],
    )
    .await;
    assert_eq!(recv(&mut h).await[0].kind, WsControlItemKind::Cancel);
    h.stop().await;
}

/// 1.36 (`engine.cpp` `wsControlIn_readyRead`) returns from a packet at the first `grip`
/// item whose message does not parse, before writing the packet's answers: no ack for it nor
/// for the items before it, and the items after it are not processed; changes made by the
/// earlier items stay. The proxy then cancels the session when the ack times out (8 s).
#[tokio::test]
async fn malformed_grip_control_message_is_not_acknowledged() {
    let mut h = Harness::start("").await;
    let here = WsControlItemKind::Here {
        uri: Some(Bytes::from_static(b"ws://example.com/ws")),
        ttl: Some(60),
        route: None,
        separate_stats: false,
        channel_prefix: None,
    };
    send(&mut h, vec![it("c2", None, here)]).await;

    for bad in [
        r#"{"type": "bogus"}"#,
        "not json",
        "[]",
        r#"{"type": "subscribe"}"#,
    ] {
        send(&mut h, vec![grip("c2", "7", bad)]).await;
        let got = tokio::time::timeout(Duration::from_millis(300), h.ws_from_handler.recv()).await;
        assert!(got.is_err(), "{bad}: answered {got:?}");
    }

    send(
        &mut h,
        vec![
            grip("c2", "1", r#"{"type": "subscribe", "channel": "before"}"#),
            grip("c2", "2", "not json"),
            grip("c2", "3", r#"{"type": "subscribe", "channel": "after"}"#),
        ],
    )
    .await;
    let got = tokio::time::timeout(Duration::from_millis(300), h.ws_from_handler.recv()).await;
    assert!(got.is_err(), "answered {got:?}");

    // the subscription before the bad message was made, the one after it was not
    for channel in ["after", "before"] {
        let (code, _) = h
            .http(
                "POST",
                "/publish/",
                &item_json(
                    channel,
                    &format!(r#"{{"ws-message":{{"content":"to {channel}"}}}}"#),
                ),
            )
            .await;
        assert_eq!(code, 200);
    }
    match &recv(&mut h).await[0].kind {
        WsControlItemKind::Send { message, .. } => assert_eq!(message.as_ref(), b"to before"),
        other => panic!("{other:?}"),
    }

    // the session lives on: a valid message is acknowledged
    send(
        &mut h,
        vec![grip(
            "c2",
            "4",
            r#"{"type": "unsubscribe", "channel": "before"}"#,
        )],
    )
    .await;
    let items = recv(&mut h).await;
    assert_eq!(
        (&items[0].kind, items[0].req_id.as_deref()),
        (&WsControlItemKind::Ack, Some(&b"4"[..]))
    );
    h.stop().await;
}
