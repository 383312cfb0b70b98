//! Channel filters end to end (`spec/grip.md` §8): holds from a fake proxy,
//! publishes over HTTP with publish meta, packets to a fake connection
//! manager; WebSocket sessions over ws-control.

mod support;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use pushpin_internal::zrpc::Outcome;
use pushpin_internal::{WsControlItem, WsControlItemKind, WsControlPacket};
use pushpin_zhttp::PacketType;
use pushpin_zmq::Multipart;
use support::{Harness, body, header};

/// One item with `meta` (a JSON object) and `formats`.
fn item(channel: &str, meta: &str, formats: &str) -> String {
    format!(r#"{{"items":[{{"channel":"{channel}","meta":{meta},"formats":{formats}}}]}}"#)
}

/// `text` as the inside of a JSON string (newlines escaped).
fn js(text: &str) -> String {
    text.replace('\n', "\\n")
}

fn stream_item(channel: &str, meta: &str, content: &str) -> String {
    let content = js(content);
    item(
        channel,
        meta,
        &format!(r#"{{"http-stream":{{"content":"{content}"}}}}"#),
    )
}

async fn publish(h: &Harness, json: &str) {
    let (code, text) = h.http("POST", "/publish/", json).await;
    assert_eq!((code, text.as_str()), (200, "Published\n"), "{json}");
}

/// Holds a stream with `headers` (plus `Grip-Hold: stream`); returns the
/// head packet.
async fn stream(h: &mut Harness, headers: &[(&str, &str)], body: &str, debug: bool) -> String {
    let rid = h.rid();
    let mut all = vec![("Grip-Hold", "stream")];
    all.extend_from_slice(headers);
    let r = h
        .accept_edited(&rid, 100_000, &all, body, |a| a.requests[0].debug = debug)
        .await
        .unwrap();
    assert!(r.accepted);
    let ka = h.next_packet().await;
    assert_eq!(ka.ptype, PacketType::KeepAlive);
    rid
}

#[tokio::test]
async fn skip_self_drops_the_senders_own_items() {
    let mut h = Harness::start("").await;
    stream(
        &mut h,
        &[
            ("Grip-Channel", "f; filter=skip-self"),
            ("Grip-Set-Meta", "user=alice"),
        ],
        "",
        false,
    )
    .await;
    let _head = h.next_packet().await;
    publish(&h, &stream_item("f", r#"{"sender":"alice"}"#, "own\n")).await;
    publish(&h, &stream_item("f", r#"{"sender":"bob"}"#, "bob\n")).await;
    publish(&h, &stream_item("f", "{}", "anon\n")).await;
    assert_eq!(body(&h.next_packet().await), "bob\n");
    assert_eq!(body(&h.next_packet().await), "anon\n");
    h.no_packet(Duration::from_millis(100)).await;
    h.stop().await;
}

#[tokio::test]
async fn skip_users_drops_listed_users() {
    let mut h = Harness::start("").await;
    stream(
        &mut h,
        &[
            ("Grip-Channel", "f; filter=skip-users"),
            ("Grip-Set-Meta", "user=alice"),
        ],
        "",
        false,
    )
    .await;
    let _head = h.next_packet().await;
    publish(
        &h,
        &stream_item("f", r#"{"skip_users":"bob, alice "}"#, "skipped\n"),
    )
    .await;
    publish(
        &h,
        &stream_item("f", r#"{"skip_users":"bob,alicia"}"#, "kept\n"),
    )
    .await;
    assert_eq!(body(&h.next_packet().await), "kept\n");
    h.no_packet(Duration::from_millis(100)).await;
    h.stop().await;
}

#[tokio::test]
async fn require_sub_needs_the_session_on_that_channel() {
    let mut h = Harness::start("").await;
    stream(
        &mut h,
        &[("Grip-Channel", "f; filter=require-sub, g")],
        "",
        false,
    )
    .await;
    let _head = h.next_packet().await;
    publish(&h, &stream_item("f", r#"{"require_sub":"zz"}"#, "no\n")).await;
    publish(&h, &stream_item("f", r#"{"require_sub":"g"}"#, "yes\n")).await;
    assert_eq!(body(&h.next_packet().await), "yes\n");
    h.no_packet(Duration::from_millis(100)).await;
    h.stop().await;
}

#[tokio::test]
async fn require_sub_uses_channel_names_without_the_route_prefix() {
    // 1.36 src/handler/httpsession.cpp: prevIds are keyed by the instruct's
    // channel names
    let mut h = Harness::start("").await;
    let rid = h.rid();
    let headers = [
        ("Grip-Hold", "stream"),
        ("Grip-Channel", "f; filter=require-sub, g"),
    ];
    h.accept_edited(&rid, 100_000, &headers, "", |a| {
        a.channel_prefix = Some(Bytes::from_static(b"pre-"));
    })
    .await
    .unwrap();
    let _ka = h.next_packet().await;
    let _head = h.next_packet().await;
    publish(
        &h,
        &stream_item("pre-f", r#"{"require_sub":"pre-g"}"#, "no\n"),
    )
    .await;
    publish(&h, &stream_item("pre-f", r#"{"require_sub":"g"}"#, "yes\n")).await;
    assert_eq!(body(&h.next_packet().await), "yes\n");
    h.no_packet(Duration::from_millis(100)).await;
    h.stop().await;
}

#[tokio::test]
async fn var_subst_on_a_stream_and_its_error_ends_the_stream() {
    let mut h = Harness::start("").await;
    stream(
        &mut h,
        &[
            ("Grip-Channel", "f; filter=var-subst"),
            ("Grip-Set-Meta", "user=alice"),
        ],
        "hi %(user)s\n",
        true,
    )
    .await;
    // not applied to the initial body
    assert_eq!(body(&h.next_packet().await), "hi %(user)s\n");
    publish(&h, &stream_item("f", "{}", "hello %(user)s, 100%%\n")).await;
    assert_eq!(body(&h.next_packet().await), "hello alice, 100%\n");
    publish(&h, &stream_item("f", "{}", "%(nope)s")).await;
    let p = h.next_packet().await;
    assert_eq!(
        body(&p),
        "\n\nfilter error: var-subst: No such variable 'nope' at position 7\n"
    );
    let end = if p.more { h.next_packet().await } else { p };
    assert!(!end.more);
    // the session is gone
    publish(&h, &stream_item("f", "{}", "late\n")).await;
    h.no_packet(Duration::from_millis(100)).await;
    h.stop().await;
}

#[tokio::test]
async fn stream_filter_error_without_debug_just_ends() {
    let mut h = Harness::start("").await;
    stream(
        &mut h,
        &[("Grip-Channel", "f; filter=var-subst")],
        "",
        false,
    )
    .await;
    let _head = h.next_packet().await;
    publish(&h, &stream_item("f", "{}", "%c")).await;
    let end = h.next_packet().await;
    assert_eq!((end.more, end.body_bytes().len()), (false, 0));
    h.stop().await;
}

#[tokio::test]
async fn content_filter_mismatch_ends_the_stream() {
    let mut h = Harness::start("").await;
    stream(
        &mut h,
        &[("Grip-Channel", "f; filter=var-subst; filter=skip-self")],
        "",
        true,
    )
    .await;
    let _head = h.next_packet().await;
    let formats = r#"{"http-stream":{"content":"x","content-filters":["var-subst"]}}"#;
    publish(&h, &item("f", "{}", formats)).await;
    assert_eq!(body(&h.next_packet().await), "x");
    let formats = r#"{"http-stream":{"content":"x","content-filters":[]}}"#;
    publish(&h, &item("f", "{}", formats)).await;
    let p = h.next_packet().await;
    assert_eq!(
        body(&p),
        "\n\ncontent filter mismatch: subscription=var-subst message=\n"
    );
    let end = if p.more { h.next_packet().await } else { p };
    assert!(!end.more);
    h.stop().await;
}

/// Holds a response on `channel` with `filter`; returns after its keep-alive.
async fn response_hold(h: &mut Harness, channel: &str, debug: bool) {
    let rid = h.rid();
    let headers = [
        ("Grip-Hold", "response"),
        ("Grip-Channel", channel),
        ("Grip-Set-Meta", "user=alice"),
        ("X-Foo", "bar"),
    ];
    h.accept_edited(&rid, 8192, &headers, "timeout\n", |a| {
        a.requests[0].debug = debug;
    })
    .await
    .unwrap();
    let ka = h.next_packet().await;
    assert_eq!(ka.ptype, PacketType::KeepAlive);
}

fn response_item(channel: &str, meta: &str, text: &str) -> String {
    let text = js(text);
    item(
        channel,
        meta,
        &format!(r#"{{"http-response":{{"body":"{text}"}}}}"#),
    )
}

#[tokio::test]
async fn var_subst_on_a_response_hold() {
    let mut h = Harness::start("").await;
    response_hold(&mut h, "r; filter=var-subst", false).await;
    publish(&h, &response_item("r", "{}", "hi %(user)s\n")).await;
    let p = h.next_packet().await;
    assert_eq!((p.code, p.more), (Some(200), false));
    assert_eq!(body(&p), "hi alice\n");
    assert_eq!(header(&p, "Content-Length"), Some(&b"9"[..]));
    assert_eq!(header(&p, "X-Foo"), Some(&b"bar"[..]));
    h.stop().await;
}

#[tokio::test]
async fn response_hold_filter_error_is_a_502() {
    let mut h = Harness::start("").await;
    response_hold(&mut h, "r1; filter=var-subst", true).await;
    response_hold(&mut h, "r2; filter=var-subst", false).await;
    publish(&h, &response_item("r1", "{}", "hello %(nope)s")).await;
    let p = h.next_packet().await;
    assert_eq!((p.code, p.more), (Some(502), false));
    assert_eq!(p.reason.as_deref(), Some(&b"Bad Gateway"[..]));
    assert_eq!(header(&p, "Content-Type"), Some(&b"text/plain"[..]));
    assert_eq!(
        body(&p),
        "filter error: var-subst: No such variable 'nope' at position 13\n"
    );
    publish(&h, &response_item("r2", "{}", "%")).await;
    let p = h.next_packet().await;
    assert_eq!(
        (p.code, body(&p).as_str()),
        (Some(502), "Error while proxying to origin.\n")
    );
    h.stop().await;
}

#[tokio::test]
async fn skip_self_on_a_response_hold_keeps_holding() {
    let mut h = Harness::start("").await;
    response_hold(&mut h, "r; filter=skip-self", false).await;
    publish(&h, &response_item("r", r#"{"sender":"alice"}"#, "own")).await;
    publish(&h, &response_item("r", r#"{"sender":"bob"}"#, "bob")).await;
    let p = h.next_packet().await;
    assert_eq!((p.code, body(&p).as_str()), (Some(200), "bob"));
    h.stop().await;
}

#[tokio::test]
async fn build_id_renders_prev_ids_on_a_stream_and_the_initial_body() {
    let mut h = Harness::start("").await;
    stream(
        &mut h,
        &[
            ("Grip-Channel", "b; prev-id=p0; filter=build-id"),
            ("Grip-Link", "</next>; rel=next"),
            ("Grip-Set-Meta", "id_format=\"b:%(b)s\""),
        ],
        "start %(s)I %%\n",
        true,
    )
    .await;
    // proxy content: literal ids only (no prev-ids there)
    assert_eq!(body(&h.next_packet().await), "start s %\n");
    let formats = r#"{"http-stream":{"content":"id=%I lit=%(x)I\n"}}"#;
    let json =
        format!(r#"{{"items":[{{"channel":"b","id":"p1","prev-id":"p0","formats":{formats}}}]}}"#);
    publish(&h, &json).await;
    assert_eq!(body(&h.next_packet().await), "id=b:p1 lit=x\n");
    h.stop().await;
}

#[tokio::test]
async fn build_id_hex_and_missing_id_format() {
    let mut h = Harness::start("").await;
    stream(
        &mut h,
        &[
            ("Grip-Channel", "b; prev-id=p0; filter=build-id"),
            ("Grip-Link", "</next>; rel=next"),
            ("Grip-Set-Meta", "id_format=\"%(b)s\", id_encoding=hex"),
        ],
        "",
        false,
    )
    .await;
    let _head = h.next_packet().await;
    let json = r#"{"items":[{"channel":"b","id":"AB","prev-id":"p0","formats":{"http-stream":{"content":"%I"}}}]}"#;
    publish(&h, json).await;
    assert_eq!(body(&h.next_packet().await), "4142");

    // no id_format: the initial body fails its filters; the stream ends
    // after the head, with the text in debug mode
    stream(&mut h, &[("Grip-Channel", "c; filter=build-id")], "x", true).await;
    let p = h.next_packet().await;
    assert_eq!(p.code, Some(200));
    assert_eq!(
        body(&p),
        "\n\nfilter error: build-id: no sub meta 'id_format'\n"
    );
    let end = if p.more { h.next_packet().await } else { p };
    assert!(!end.more);
    h.stop().await;
}

#[tokio::test]
async fn no_hold_response_goes_through_build_id() {
    let mut h = Harness::start("").await;
    let rid = h.rid();
    let headers = [
        ("Grip-Channel", "n; filter=build-id"),
        ("Grip-Set-Meta", "id_format=x"),
    ];
    let r = h
        .accept_with(&rid, 8192, &headers, "a %(b)I")
        .await
        .unwrap();
    assert!(!r.accepted);
    assert_eq!(r.response.unwrap().body.as_ref(), b"a b");
    let r = h
        .accept_with(&rid, 8192, &headers, "a %I")
        .await
        .unwrap_err();
    let Outcome::Failure { .. } = r.outcome else {
        panic!("{r:?}")
    };
    assert_eq!(
        r.error_text().as_deref(),
        Some(
            &b"filter error: build-id: No ID specified and no default ID in context at position 3"
                [..]
        )
    );
    // 1.36 quirk: a JSON instruct without body and without hold
    let json = [("Content-Type", "application/grip-instruct")];
    let r = h.accept_with(&rid, 8192, &json, "{}").await.unwrap_err();
    assert_eq!(r.error_text().as_deref(), Some(&b"filter error: "[..]));
    h.stop().await;
}

fn ws_item(cid: &str, req_id: Option<&str>, kind: WsControlItemKind) -> WsControlItem {
    WsControlItem {
        cid: Bytes::copy_from_slice(cid.as_bytes()),
        req_id: req_id.map(|r| Bytes::copy_from_slice(r.as_bytes())),
        kind,
    }
}

async fn ws_send(h: &mut Harness, items: Vec<WsControlItem>) {
    let mut buf = BytesMut::new();
    WsControlPacket { items }.encode(&mut buf);
    h.ws_to_handler
        .send(Multipart::from(buf.freeze()))
        .await
        .unwrap();
}

async fn ws_recv(h: &mut Harness) -> Vec<WsControlItem> {
    let msg = tokio::time::timeout(support::WAIT, h.ws_from_handler.recv())
        .await
        .expect("no ws-control packet")
        .unwrap();
    WsControlPacket::decode(&msg[0], &Default::default())
        .unwrap()
        .items
}

fn ws_grip(req: &str, json: &str) -> WsControlItem {
    ws_item(
        "c1",
        Some(req),
        WsControlItemKind::Grip {
            message: Bytes::copy_from_slice(json.as_bytes()),
        },
    )
}

fn ws_message(channel: &str, meta: &str, content: &str) -> String {
    item(
        channel,
        meta,
        &format!(r#"{{"ws-message":{{"content":"{content}"}}}}"#),
    )
}

#[tokio::test]
async fn websocket_filters_drop_or_rewrite_messages() {
    let mut h = Harness::start("").await;
    let here = WsControlItemKind::Here {
        uri: Some(Bytes::from_static(b"ws://example.com/ws")),
        ttl: Some(60),
        route: None,
        separate_stats: false,
        channel_prefix: None,
    };
    ws_send(&mut h, vec![ws_item("c1", None, here)]).await;
    ws_send(
        &mut h,
        vec![
            ws_grip("0", r#"{"type": "set-meta", "name": "user", "value": "alice"}"#),
            ws_grip(
                "1",
                r#"{"type": "subscribe", "channel": "w", "filters": ["skip-self", "var-subst", "require-sub"]}"#,
            ),
        ],
    )
    .await;
    let acks = ws_recv(&mut h).await;
    assert_eq!(acks.len(), 2);
    publish(&h, &ws_message("w", r#"{"sender":"alice"}"#, "own")).await;
    publish(&h, &ws_message("w", "{}", "%(nope)s")).await;
    // ws sessions give filters no channels: any require_sub drops
    publish(&h, &ws_message("w", r#"{"require_sub":"w"}"#, "req")).await;
    publish(&h, &ws_message("w", r#"{"sender":"bob"}"#, "hi %(user)s")).await;
    let items = ws_recv(&mut h).await;
    match &items[0].kind {
        WsControlItemKind::Send { message, .. } => assert_eq!(message.as_ref(), b"hi alice"),
        other => panic!("{other:?}"),
    }
    // deleting the meta makes the variable unknown: the message is dropped
    ws_send(
        &mut h,
        vec![ws_grip("2", r#"{"type": "set-meta", "name": "user"}"#)],
    )
    .await;
    assert_eq!(ws_recv(&mut h).await[0].kind, WsControlItemKind::Ack);
    publish(&h, &ws_message("w", "{}", "hi %(user)s")).await;
    publish(&h, &ws_message("w", "{}", "plain")).await;
    let items = ws_recv(&mut h).await;
    match &items[0].kind {
        WsControlItemKind::Send { message, .. } => assert_eq!(message.as_ref(), b"plain"),
        other => panic!("{other:?}"),
    }
    h.stop().await;
}
