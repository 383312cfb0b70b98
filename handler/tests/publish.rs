//! Publish inputs end to end: HTTP (good and bad requests), ZeroMQ PULL and
//! SUB, the command socket; ordering and de-duplication.

mod support;

use std::time::Duration;

use bytes::Bytes;
use pushpin_internal::{Call, Condition, Outcome};
use pushpin_zmq::{AsyncSocket, Hwm, Multipart, SocketKind, SocketSpec};
use support::{Harness, body, http_raw, item_json};

const STREAM: &[(&str, &str)] = &[("Grip-Hold", "stream"), ("Grip-Channel", "p")];

/// Starts a harness with one stream hold on channel `p`; returns it after
/// the initial packets.
async fn with_stream(extra: &str) -> Harness {
    let mut h = Harness::start(extra).await;
    let rid = h.rid();
    h.accept_with(&rid, 100_000, STREAM, "").await.unwrap();
    let _ka = h.next_packet().await;
    let _head = h.next_packet().await;
    h
}

fn connect(h: &Harness, kind: SocketKind, name: &str) -> AsyncSocket {
    let spec = SocketSpec::parse(&format!("ipc://{}/{name}", h.dir.path().display())).unwrap();
    let b = AsyncSocket::builder(kind, Hwm::both(1000));
    let b = if kind == SocketKind::Pub {
        b.bind(spec)
    } else {
        b.connect(spec)
    };
    b.build().unwrap()
}

#[tokio::test]
async fn bad_http_publishes_are_refused_with_a_reason() {
    let mut h = with_stream("").await;
    let cases: &[(&str, &str, &str, u16, &str)] = &[
        (
            "POST",
            "/publish/",
            "{\"items\": [",
            400,
            "Body is not valid JSON.\n",
        ),
        ("POST", "/publish/", "[1, 2]", 400, "Invalid format.\n"),
        (
            "POST",
            "/publish/",
            "{\"item\": []}",
            400,
            "Invalid format: object does not contain 'items'\n",
        ),
        (
            "POST",
            "/publish/",
            "{\"items\": {}}",
            400,
            "Invalid format: object contains 'items' with wrong type\n",
        ),
        (
            "POST",
            "/publish/",
            "{\"items\": [{\"channel\": \"p\"}]}",
            400,
            "Invalid format: no formats specified\n",
        ),
        ("GET", "/publish/", "", 405, "Method not allowed: GET.\n"),
        ("GET", "/", "", 200, "Pushpin API\n"),
        ("GET", "/nope", "", 404, "Not Found\n"),
        ("POST", "/publish?x=1", "{}", 404, "Not Found\n"),
        ("POST", "/recover", "", 200, "Updated\n"),
    ];
    for (method, path, body, code, text) in cases {
        let (c, t) = h.http(method, path, body).await;
        assert_eq!((c, t.as_str()), (*code, *text), "{method} {path} {body}");
    }
    // all-or-nothing: one bad item means nothing is published
    let mixed =
        r#"{"items":[{"channel":"p","formats":{"http-stream":{"content":"a"}}},{"channel":"p"}]}"#;
    assert_eq!(h.http("POST", "/publish/", mixed).await.0, 400);
    // and the good publish still works
    h.http(
        "POST",
        "/publish/",
        &item_json("p", r#"{"http-stream":{"content":"ok"}}"#),
    )
    .await;
    assert_eq!(body(&h.next_packet().await), "ok");
    h.stop().await;
}

#[tokio::test]
async fn http_server_limits_and_negotiation() {
    let h = Harness::start("push_in_max_body_size=20").await;
    let (c, head, b) = http_raw(h.http, "POST", "/publish/", &[], "012345678901234567890").await;
    assert_eq!((c, b.as_str()), (400, "Request body too large.\n"));
    assert!(head.contains("Connection: close"));
    let (c, _, b) = http_raw(h.http, "GET", "/", &[("Accept", "text/html")], "").await;
    assert_eq!(c, 406);
    assert_eq!(
        b,
        "Not Acceptable. Supported formats are text/plain and application/json.\n"
    );
    let (c, head, b) = http_raw(
        h.http,
        "POST",
        "/publish",
        &[("Accept", "application/json")],
        r#"{"items":[]}"#,
    )
    .await;
    assert_eq!((c, b.as_str()), (200, "{\"message\":\"Published\"}\n"));
    assert!(head.contains("Content-Type: application/json"));
    let (c, head, _) = http_raw(h.http, "PUT", "/recover", &[], "").await;
    assert_eq!(c, 405);
    assert!(head.contains("Allow: POST\r\nContent-Type: text/plain"));
    h.stop().await;
}

#[tokio::test]
async fn zmq_pull_and_sub_inputs_deliver_and_drop_garbage() {
    let mut h = with_stream("").await;
    let mut push = connect(&h, SocketKind::Push, "push-in");
    let good: [&[u8]; 3] = [
        b"J{\"channel\": \"p\", \"formats\": {\"http-stream\": {\"content\": \"json\"}}}",
        b"T61:7:channel,1:p,7:formats,33:11:http-stream,14:7:content,1:t,}}}",
        b"61:7:channel,1:p,7:formats,33:11:http-stream,14:7:content,1:b,}}}",
    ];
    let garbage: [Multipart; 3] = [
        Multipart::from(Bytes::from_static(b"{\"channel\": \"p\"}")),
        Multipart::from(vec![Bytes::from_static(b"J{}"), Bytes::from_static(b"x")]),
        Multipart::from(Bytes::from_static(b"60:5:items,50:47:")),
    ];
    for g in garbage {
        push.send(g).await.unwrap();
    }
    for g in good {
        push.send(Multipart::from(Bytes::from_static(g)))
            .await
            .unwrap();
    }
    for want in ["json", "t", "b"] {
        assert_eq!(body(&h.next_packet().await), want);
    }
    // the handler binds the SUB and subscribes per channel: an XPUB sees
    // exactly the held channel
    let mut publisher = {
        let spec =
            SocketSpec::parse(&format!("ipc://{}/push-sub", h.dir.path().display())).unwrap();
        AsyncSocket::builder(SocketKind::XPub, Hwm::both(1000))
            .connect(spec)
            .build()
            .unwrap()
    };
    assert_eq!(xpub_event(&mut publisher).await, b"\x01p");
    let msg = || {
        Multipart::from(vec![
            Bytes::from_static(b"p"),
            Bytes::from_static(b"J{\"formats\": {\"http-stream\": {\"content\": \"sub\"}}}"),
        ])
    };
    let deadline = tokio::time::Instant::now() + support::WAIT;
    loop {
        publisher.send(msg()).await.unwrap();
        if let Ok(msg) =
            tokio::time::timeout(Duration::from_millis(100), h.condure_sub.recv()).await
        {
            let pm = pushpin_zhttp::framing::parse_pub(&msg.unwrap()[0]).unwrap();
            let p = pushpin_zhttp::Packet::decode(&pm.payload, &Default::default()).unwrap();
            assert_eq!(body(&p), "sub");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "SUB never delivered"
        );
    }
    h.stop().await;
}

#[tokio::test]
async fn command_socket_publishes_and_answers() {
    let mut h = with_stream("").await;
    let mut cmd = connect(&h, SocketKind::Dealer, "command");
    let args = Bytes::from_static(
        b"77:5:items,65:61:7:channel,1:p,7:formats,33:11:http-stream,14:7:content,1:c,}}}]}",
    );
    let r = support::rpc(&mut cmd, &Call::Publish(args)).await;
    assert_eq!(r.outcome, Outcome::null());
    assert_eq!(body(&h.next_packet().await), "c");
    let r = support::rpc(&mut cmd, &Call::Publish(Bytes::from_static(b"0:}"))).await;
    assert!(matches!(
        &r.outcome,
        Outcome::Failure {
            condition: Condition::BadRequest,
            ..
        }
    ));
    assert_eq!(
        r.error_text().as_deref(),
        Some(&b"Invalid format: object does not contain 'items'"[..])
    );
    let r = support::rpc(&mut cmd, &Call::GetZmqUris).await;
    let Outcome::Success(v) = r.outcome else {
        panic!()
    };
    let uris = pushpin_internal::ZmqUris::decode(&v, &Default::default()).unwrap();
    assert!(uris.publish_pull.unwrap().ends_with(b"push-in"));
    assert!(uris.publish_sub.unwrap().ends_with(b"push-sub"));
    let r = support::rpc(&mut cmd, &Call::Recover).await;
    assert_eq!(r.outcome, Outcome::null());
    let r = support::rpc(&mut cmd, &Call::Unknown(Bytes::from_static(b"bogus"))).await;
    assert!(matches!(
        r.outcome,
        Outcome::Failure {
            condition: Condition::MethodNotFound,
            ..
        }
    ));
    h.stop().await;
}

fn seq_item(id: &str, prev: Option<&str>) -> String {
    let prev = prev
        .map(|p| format!(",\"prev-id\":\"{p}\""))
        .unwrap_or_default();
    format!(
        "{{\"items\":[{{\"channel\":\"p\",\"id\":\"{id}\"{prev},\"formats\":{{\"http-stream\":{{\"content\":\"{id}\"}}}}}}]}}"
    )
}

#[tokio::test]
async fn prev_id_orders_items_and_id_cache_drops_duplicates() {
    let mut h = with_stream("id_cache_ttl=60\nmessage_wait=1000").await;
    h.http("POST", "/publish/", &seq_item("1", None)).await;
    assert_eq!(body(&h.next_packet().await), "1");
    h.http("POST", "/publish/", &seq_item("3", Some("2"))).await;
    h.http("POST", "/publish/", &seq_item("2", Some("1"))).await;
    assert_eq!(body(&h.next_packet().await), "2");
    assert_eq!(body(&h.next_packet().await), "3");
    // duplicate id: dropped
    h.http("POST", "/publish/", &seq_item("3", Some("2"))).await;
    // a gap: released after message_wait
    h.http("POST", "/publish/", &seq_item("9", Some("8"))).await;
    let p = h.next_packet().await;
    assert_eq!(body(&p), "9");
    assert_eq!(h.stats.borrow().duplicates, 1);
    h.stop().await;
}

#[tokio::test]
async fn message_rate_and_hwm_bound_the_queue_and_count_drops() {
    let mut h = with_stream("message_rate=2\nmessage_hwm=3").await;
    for i in 0..8 {
        let item = item_json("p", &format!(r#"{{"http-stream":{{"content":"{i}"}}}}"#));
        h.http("POST", "/publish/", &item).await;
    }
    let got: Vec<String> = {
        let mut v = Vec::new();
        for _ in 0..4 {
            v.push(body(&h.next_packet().await));
        }
        v
    };
    assert_eq!(got, ["0", "1", "2", "3"]);
    let deadline = tokio::time::Instant::now() + support::WAIT;
    while h.stats.borrow().dropped < 4 {
        assert!(tokio::time::Instant::now() < deadline);
        h.stats.changed().await.unwrap();
    }
    h.no_packet(Duration::from_millis(700)).await;
    assert_eq!(h.stats.borrow().dropped, 4);
    h.stop().await;
}

#[tokio::test]
async fn conncheck_asks_the_proxy_about_unknown_ids() {
    use bytes::BytesMut;
    use pushpin_internal::zrpc::{self, Request, Response};
    let mut h = Harness::start("proxy_command_spec=ipc://{dir}/proxy-command").await;
    let spec =
        SocketSpec::parse(&format!("ipc://{}/proxy-command", h.dir.path().display())).unwrap();
    let mut proxy = AsyncSocket::builder(SocketKind::Router, Hwm::both(100))
        .bind(spec)
        .build()
        .unwrap();
    let fake = tokio::spawn(async move {
        let msg = proxy.recv().await.unwrap();
        let (envelope, body) = zrpc::server_request(&msg).unwrap();
        let req = Request::decode(body, &Default::default()).unwrap();
        let Ok(Call::Conncheck(ids)) = req.call(&Default::default()) else {
            panic!()
        };
        let mut buf = BytesMut::new();
        Response {
            id: req.id,
            outcome: Outcome::success_with(|b| pushpin_internal::encode_id_list(&ids[..1], b)),
        }
        .encode(&mut buf);
        proxy
            .send(Multipart::from(zrpc::server_reply(envelope, buf.freeze())))
            .await
            .unwrap();
        ids
    });
    let got = h.conncheck(&["condure:proxy-side", "condure:gone"]).await;
    assert_eq!(got, ["condure:proxy-side"]);
    let asked = fake.await.unwrap();
    assert_eq!(asked.len(), 2);
    h.stop().await;
}

/// The next (un)subscription an XPUB sees, ignoring the harness's probes.
async fn xpub_event(xpub: &mut AsyncSocket) -> Vec<u8> {
    loop {
        let m = tokio::time::timeout(support::WAIT, xpub.recv())
            .await
            .unwrap()
            .unwrap();
        if !m[0].ends_with(b"__probe") {
            return m[0].to_vec();
        }
    }
}

#[tokio::test]
async fn response_channel_lingers_before_the_sub_socket_unsubscribes() {
    let mut h = Harness::start("subscription_linger=1").await;
    let spec = SocketSpec::parse(&format!("ipc://{}/push-sub", h.dir.path().display())).unwrap();
    let mut xpub = AsyncSocket::builder(SocketKind::XPub, Hwm::both(1000))
        .connect(spec)
        .build()
        .unwrap();
    let rid = h.rid();
    h.accept_with(
        &rid,
        8192,
        &[("Grip-Hold", "response"), ("Grip-Channel", "lg")],
        "",
    )
    .await
    .unwrap();
    let _ka = h.next_packet().await;
    assert_eq!(xpub_event(&mut xpub).await, b"\x01lg");
    h.http(
        "POST",
        "/publish/",
        &item_json("lg", r#"{"http-response":{"body":"x"}}"#),
    )
    .await;
    let _resp = h.next_packet().await;
    let answered = tokio::time::Instant::now();
    assert_eq!(xpub_event(&mut xpub).await, b"\x00lg");
    assert!(
        answered.elapsed() >= Duration::from_millis(900),
        "unsubscribed without linger"
    );
    h.stop().await;
}
