//! Hold modes end to end: accept from a fake proxy, packets to a fake
//! connection manager, publishes over HTTP.

mod support;

use std::time::Duration;

use pushpin_zhttp::PacketType;
use support::{Harness, body, header, item_json};

const STREAM: &[(&str, &str)] = &[
    ("Grip-Hold", "stream"),
    ("Grip-Channel", "s"),
    ("Content-Type", "text/plain"),
    ("Content-Length", "7"),
];

#[tokio::test]
async fn stream_hold_gets_initial_body_publishes_and_close() {
    let mut h = Harness::start("").await;
    let rid = h.rid();
    let r = h.accept_with(&rid, 8192, STREAM, "[open]\n").await.unwrap();
    assert!(r.accepted);
    let ka = h.next_packet().await;
    assert_eq!(ka.ptype, PacketType::KeepAlive);
    assert_eq!(ka.seq, Some(2));
    assert!(ka.ext.multi);
    let head = h.next_packet().await;
    assert_eq!((head.seq, head.code, head.more), (Some(3), Some(200), true));
    assert_eq!(body(&head), "[open]\n");
    assert_eq!(header(&head, "Content-Type"), Some(&b"text/plain"[..]));
    assert_eq!(header(&head, "Content-Length"), None);
    assert_eq!(header(&head, "Grip-Hold"), None);

    let (code, text) = h
        .http(
            "POST",
            "/publish/",
            &item_json("s", r#"{"http-stream":{"content":"hello\n"}}"#),
        )
        .await;
    assert_eq!((code, text.as_str()), (200, "Published\n"));
    let p = h.next_packet().await;
    assert_eq!(
        (p.seq, p.more, body(&p).as_str()),
        (Some(4), true, "hello\n")
    );

    h.http(
        "POST",
        "/publish",
        &item_json("s", r#"{"http-stream":{"action":"close"}}"#),
    )
    .await;
    let end = h.next_packet().await;
    assert_eq!(
        (end.seq, end.more, end.body_bytes().len()),
        (Some(5), false, 0)
    );
    h.stop().await;
}

#[tokio::test]
async fn stream_respects_credits_and_resumes_on_credit() {
    let mut h = Harness::start("").await;
    let rid = h.rid();
    h.accept_with(&rid, 4, STREAM, "[open]\n").await.unwrap();
    let _ka = h.next_packet().await;
    let head = h.next_packet().await;
    assert_eq!(body(&head), "[ope");
    h.no_packet(Duration::from_millis(100)).await;
    h.send_packet(&rid, 2, PacketType::Credit, Some(100)).await;
    let rest = h.next_packet().await;
    assert_eq!((body(&rest).as_str(), rest.more), ("n]\n", true));
    h.stop().await;
}

#[tokio::test]
async fn response_hold_delivers_http_response_publish() {
    let mut h = Harness::start("").await;
    let rid = h.rid();
    let headers = [
        ("Grip-Hold", "response"),
        ("Grip-Channel", "r"),
        ("Content-Type", "text/plain"),
        ("X-Foo", "bar"),
    ];
    h.accept_with(&rid, 8192, &headers, "timeout body\n")
        .await
        .unwrap();
    let ka = h.next_packet().await;
    assert_eq!(ka.ptype, PacketType::KeepAlive);
    h.no_packet(Duration::from_millis(100)).await;
    let item = item_json(
        "r",
        r#"{"http-response":{"code":201,"headers":[["Content-Type","application/json"],["X-Pub","1"]],"body":"{}\n"}}"#,
    );
    assert_eq!(h.http("POST", "/publish/", &item).await.0, 200);
    let p = h.next_packet().await;
    assert_eq!((p.code, p.more), (Some(201), false));
    assert_eq!(p.reason.as_deref(), Some(&b"Created"[..]));
    let names: Vec<_> = p
        .header_list()
        .iter()
        .map(|h| String::from_utf8_lossy(&h.name).into_owned())
        .collect();
    assert_eq!(names, ["X-Foo", "Content-Type", "X-Pub", "Content-Length"]);
    assert_eq!(header(&p, "Content-Length"), Some(&b"3"[..]));
    assert_eq!(body(&p), "{}\n");
    // the session is gone: a second publish reaches nobody
    h.http("POST", "/publish/", &item).await;
    h.no_packet(Duration::from_millis(200)).await;
    h.stop().await;
}

/// Holds a response on `channel` and lets the new-subscription refresh send
/// it back to the proxy, so that the channel is subscribed (lingering) after.
async fn subscribe_through_a_refreshed_hold(h: &mut Harness, channel: &str) {
    let rid = h.rid();
    let headers = [("Grip-Hold", "response"), ("Grip-Channel", channel)];
    h.accept_with(&rid, 8192, &headers, "").await.unwrap();
    let _ka = h.next_packet().await;
    let hs = h.next_packet().await;
    assert_eq!(hs.ptype, PacketType::HandoffStart);
    h.send_packet(&rid, 2, PacketType::HandoffProceed, None)
        .await;
    let _retry = tokio::time::timeout(support::WAIT, h.retry.recv())
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn response_hold_times_out_with_the_instruct_response() {
    let mut h = Harness::start("").await;
    // on a channel already subscribed, so that no refresh comes first
    subscribe_through_a_refreshed_hold(&mut h, "t").await;
    let rid = h.rid();
    let headers = [
        ("Grip-Hold", "response"),
        ("Grip-Channel", "t"),
        ("Grip-Timeout", "5"),
        ("Content-Type", "text/plain"),
    ];
    h.accept_with(&rid, 8192, &headers, "nothing yet\n")
        .await
        .unwrap();
    let _ka = h.next_packet().await;
    let p = h.next_packet().await;
    assert_eq!((p.code, p.more), (Some(200), false));
    assert_eq!(body(&p), "nothing yet\n");
    assert_eq!(header(&p, "Content-Length"), Some(&b"12"[..]));
    h.stop().await;
}

#[tokio::test]
async fn no_hold_returns_the_response_and_bad_instructions_are_bad_format() {
    let mut h = Harness::start("").await;
    let rid = h.rid();
    let r = h
        .accept_with(
            &rid,
            8192,
            &[
                ("Grip-Status", "201 Made"),
                ("X-A", "1"),
                ("Content-Length", "3"),
            ],
            "hi\n",
        )
        .await
        .unwrap();
    assert!(!r.accepted);
    let resp = r.response.unwrap();
    assert_eq!((resp.code, resp.reason.as_ref()), (201, &b"Made"[..]));
    assert_eq!(resp.headers, vec![("X-A".into(), "1".into())]);
    let rid = h.rid();
    let err = h
        .accept_with(&rid, 8192, &[("Grip-Hold", "bogus")], "")
        .await
        .unwrap_err();
    match &err.outcome {
        pushpin_internal::Outcome::Failure { condition, .. } => {
            assert_eq!(*condition, pushpin_internal::Condition::BadFormat);
        }
        other => panic!("{other:?}"),
    }
    assert!(err.error_text().is_some());
    h.stop().await;
}

#[tokio::test]
async fn cancel_from_connmgr_ends_the_session() {
    let mut h = Harness::start("").await;
    let rid = h.rid();
    h.accept_with(&rid, 8192, STREAM, "").await.unwrap();
    let _ka = h.next_packet().await;
    let _head = h.next_packet().await;
    let cid = format!("condure:{rid}");
    assert_eq!(h.conncheck(&[&cid]).await, vec![cid.clone()]);
    h.send_packet(&rid, 2, PacketType::Cancel, None).await;
    let deadline = tokio::time::Instant::now() + support::WAIT;
    while !h.conncheck(&[&cid]).await.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "session not removed"
        );
        tokio::task::yield_now().await;
    }
    h.http(
        "POST",
        "/publish/",
        &item_json("s", r#"{"http-stream":{"content":"x"}}"#),
    )
    .await;
    h.no_packet(Duration::from_millis(100)).await;
    h.stop().await;
}

#[tokio::test]
async fn hint_hands_the_session_back_and_sends_a_retry() {
    let mut h = Harness::start("").await;
    let rid = h.rid();
    let headers = [("Grip-Hold", "response"), ("Grip-Channel", "h; prev-id=7")];
    h.accept_with(&rid, 8192, &headers, "").await.unwrap();
    let _ka = h.next_packet().await;
    h.http(
        "POST",
        "/publish/",
        &item_json("h", r#"{"http-response":{"action":"hint"}}"#),
    )
    .await;
    let hs = h.next_packet().await;
    assert_eq!((hs.ptype, hs.seq), (PacketType::HandoffStart, Some(3)));
    h.send_packet(&rid, 2, PacketType::HandoffProceed, None)
        .await;
    let msg = tokio::time::timeout(support::WAIT, h.retry.recv())
        .await
        .unwrap()
        .unwrap();
    let retry = pushpin_internal::RetryPacket::decode(&msg[0], &Default::default()).unwrap();
    let r = &retry.requests[0];
    assert_eq!(
        (r.rid.id.as_ref(), r.in_seq, r.out_seq, r.out_credits),
        (rid.as_bytes(), 3, 4, 8192)
    );
    assert_eq!(retry.route.as_deref(), Some(&b"test"[..]));
    let inspect = retry.inspect.unwrap();
    assert_eq!(inspect.last_ids, vec![("h".into(), "7".into())]);
    h.stop().await;
}

#[tokio::test]
async fn stream_keep_alive_is_sent_while_idle() {
    let mut h = Harness::start("").await;
    let rid = h.rid();
    let headers = [
        ("Grip-Hold", "stream"),
        ("Grip-Channel", "k"),
        ("Grip-Keep-Alive", "ping\\n; format=cstring; timeout=1"),
    ];
    h.accept_with(&rid, 8192, &headers, "").await.unwrap();
    let _ka = h.next_packet().await;
    let _head = h.next_packet().await;
    let p = h.next_packet().await;
    assert_eq!((body(&p).as_str(), p.more), ("ping\n", true));
    h.stop().await;
}

#[tokio::test]
async fn stream_hold_with_prev_id_but_no_next_link_is_ended() {
    let mut h = Harness::start("").await;
    let rid = h.rid();
    let headers = [("Grip-Hold", "stream"), ("Grip-Channel", "pv; prev-id=1")];
    h.accept_with(&rid, 8192, &headers, "initial\n")
        .await
        .unwrap();
    let _ka = h.next_packet().await;
    let head = h.next_packet().await;
    assert_eq!((body(&head).as_str(), head.more), ("initial\n", false));
    h.stop().await;
}

#[tokio::test]
async fn response_hold_with_a_conflicting_prev_id_is_retried_at_once() {
    let mut h = Harness::start("").await;
    // a stream on the channel keeps it subscribed; publish id 5 on it
    let rid = h.rid();
    h.accept_with(
        &rid,
        8192,
        &[("Grip-Hold", "stream"), ("Grip-Channel", "cf")],
        "",
    )
    .await
    .unwrap();
    let _ka = h.next_packet().await;
    let _head = h.next_packet().await;
    let item = r#"{"items":[{"channel":"cf","id":"5","formats":{"http-stream":{"content":"5"}}}]}"#;
    h.http("POST", "/publish/", item).await;
    assert_eq!(body(&h.next_packet().await), "5");
    let rid2 = h.rid();
    let headers = [("Grip-Hold", "response"), ("Grip-Channel", "cf; prev-id=4")];
    h.accept_with(&rid2, 8192, &headers, "").await.unwrap();
    let ka = h.next_packet().await;
    assert_eq!(ka.ptype, PacketType::KeepAlive);
    let hs = h.next_packet().await;
    assert_eq!(hs.ptype, PacketType::HandoffStart);
    h.stop().await;
}

#[tokio::test]
async fn next_link_is_fetched_over_intreq_and_appended() {
    use bytes::Bytes;
    use pushpin_zhttp::{Id, Ids, Packet};
    let mut h = Harness::start("").await;
    let rid = h.rid();
    let headers = [
        ("Content-Type", "text/plain"),
        ("Grip-Link", "</next>; rel=next"),
    ];
    let r = h
        .accept_with(&rid, 8192, &headers, "page1\n")
        .await
        .unwrap();
    assert!(r.accepted);
    let _ka = h.next_packet().await;
    let head = h.next_packet().await;
    assert_eq!((body(&head).as_str(), head.more), ("page1\n", true));
    let msg = tokio::time::timeout(support::WAIT, h.intreq_in.recv())
        .await
        .unwrap()
        .unwrap();
    let req = Packet::decode(&msg[0], &Default::default()).unwrap();
    assert_eq!(req.uri.as_deref(), Some(&b"http://example.com/next"[..]));
    assert_eq!(req.method.as_deref(), Some(&b"GET"[..]));
    assert!(req.stream && req.passthrough.is_some());
    let mut resp = Packet::new(PacketType::Data);
    resp.from = Bytes::from_static(b"pushpin-proxy_1");
    resp.ids = Ids::One(Id(req.id().unwrap().0.clone()));
    resp.seq = Some(0);
    resp.code = Some(200);
    resp.reason = Some(Bytes::from_static(b"OK"));
    resp.headers = Some(Vec::new());
    resp.body = Some(Bytes::from_static(b"page2\n"));
    let frame = pushpin_zhttp::framing::pub_frame(h.instance.as_bytes(), &resp);
    h.intreq_out
        .send(pushpin_zmq::Multipart::from(frame))
        .await
        .unwrap();
    let p = h.next_packet().await;
    assert_eq!((body(&p).as_str(), p.more), ("page2\n", true));
    let end = h.next_packet().await;
    assert!(!end.more);
    h.stop().await;
}

#[tokio::test]
async fn new_subscription_refreshes_its_response_holds_after_a_second() {
    let mut h = Harness::start("").await;
    let rid = h.rid();
    let headers = [("Grip-Hold", "response"), ("Grip-Channel", "fresh")];
    let held = tokio::time::Instant::now();
    h.accept_with(&rid, 8192, &headers, "").await.unwrap();
    let _ka = h.next_packet().await;
    // the channel was new: ~1.1 s later the hold goes back to the backend
    let hs = h.next_packet().await;
    assert_eq!((hs.ptype, hs.seq), (PacketType::HandoffStart, Some(3)));
    let waited = held.elapsed();
    assert!(
        waited >= Duration::from_millis(1000),
        "refreshed after {waited:?}"
    );
    h.send_packet(&rid, 2, PacketType::HandoffProceed, None)
        .await;
    let msg = tokio::time::timeout(support::WAIT, h.retry.recv())
        .await
        .unwrap()
        .unwrap();
    let retry = pushpin_internal::RetryPacket::decode(&msg[0], &Default::default()).unwrap();
    assert_eq!(retry.requests[0].rid.id.as_ref(), rid.as_bytes());
    // the channel stays subscribed (linger): the next hold is not refreshed
    let rid = h.rid();
    h.accept_with(&rid, 8192, &headers, "").await.unwrap();
    let _ka = h.next_packet().await;
    h.no_packet(Duration::from_millis(1500)).await;
    h.stop().await;
}

/// Sets the accept's auto cross-origin fields (and an `Origin` request header).
fn aco(args: &mut pushpin_internal::AcceptArgs, callback: Option<&'static str>) {
    let r = &mut args.requests[0];
    r.auto_cross_origin = true;
    r.jsonp_callback = callback.map(|cb| bytes::Bytes::from_static(cb.as_bytes()));
    r.jsonp_extended_response = callback.is_some();
    for data in [&mut args.request_data, &mut args.orig_request_data] {
        data.headers.push(("Origin".into(), "http://o.com".into()));
    }
}

// spec/vectors/grip/auto-cross-origin-jsonp.txt, "JSON-P on a long-poll"
#[tokio::test]
async fn jsonp_wraps_the_response_hold_timeout() {
    let mut h = Harness::start("").await;
    subscribe_through_a_refreshed_hold(&mut h, "jp1").await;
    let rid = h.rid();
    let headers = [
        ("Content-Type", "text/plain"),
        ("X-Foo", "bar"),
        ("Grip-Hold", "response"),
        ("Grip-Channel", "jp1"),
        ("Grip-Timeout", "5"),
    ];
    h.accept_edited(&rid, 8192, &headers, "timeout body\n", |a| {
        aco(a, Some("cb"));
    })
    .await
    .unwrap();
    let _ka = h.next_packet().await;
    let p = h.next_packet().await;
    assert_eq!((p.code, p.more), (Some(200), false));
    let names: Vec<&[u8]> = p
        .headers
        .iter()
        .flatten()
        .map(|hd| hd.name.as_ref())
        .collect();
    assert_eq!(names, [&b"X-Foo"[..], b"Content-Type", b"Content-Length"]);
    assert_eq!(
        header(&p, "Content-Type"),
        Some(&b"application/javascript"[..])
    );
    assert_eq!(header(&p, "Content-Length"), Some(&b"114"[..]));
    assert_eq!(
        body(&p),
        "/**/cb({\"body\":\"timeout body\\n\",\"code\":200,\
         \"headers\":{\"Content-Type\":\"text/plain\",\"X-Foo\":\"bar\"},\"reason\":\"OK\"});\n"
    );
    h.stop().await;
}

#[tokio::test]
async fn auto_cross_origin_adds_cors_to_stream_initial_headers() {
    let mut h = Harness::start("").await;
    let rid = h.rid();
    h.accept_edited(&rid, 8192, STREAM, "[open]\n", |a| aco(a, None))
        .await
        .unwrap();
    let _ka = h.next_packet().await;
    let head = h.next_packet().await;
    assert_eq!((head.code, head.more), (Some(200), true));
    assert_eq!(body(&head), "[open]\n");
    let cors = [
        (
            "Access-Control-Allow-Methods",
            "OPTIONS, HEAD, GET, POST, PUT, DELETE",
        ),
        ("Access-Control-Allow-Credentials", "true"),
        ("Access-Control-Allow-Origin", "http://o.com"),
        ("Access-Control-Max-Age", "3600"),
    ];
    for (name, value) in cors {
        assert_eq!(header(&head, name), Some(value.as_bytes()), "{name}");
    }
    assert_eq!(header(&head, "Access-Control-Expose-Headers"), None);
    assert_eq!(header(&head, "Content-Length"), None);
    h.stop().await;
}

#[tokio::test]
async fn retry_carries_the_auto_cross_origin_fields() {
    let mut h = Harness::start("").await;
    let rid = h.rid();
    let headers = [("Grip-Hold", "response"), ("Grip-Channel", "hj")];
    h.accept_edited(&rid, 8192, &headers, "", |a| aco(a, Some("cb")))
        .await
        .unwrap();
    let _ka = h.next_packet().await;
    h.http(
        "POST",
        "/publish/",
        &item_json("hj", r#"{"http-response":{"action":"hint"}}"#),
    )
    .await;
    let hs = h.next_packet().await;
    assert_eq!(hs.ptype, PacketType::HandoffStart);
    h.send_packet(&rid, 2, PacketType::HandoffProceed, None)
        .await;
    let msg = tokio::time::timeout(support::WAIT, h.retry.recv())
        .await
        .unwrap()
        .unwrap();
    let retry = pushpin_internal::RetryPacket::decode(&msg[0], &Default::default()).unwrap();
    let r = &retry.requests[0];
    assert!(r.auto_cross_origin);
    assert_eq!(r.jsonp_callback.as_deref(), Some(&b"cb"[..]));
    assert!(r.jsonp_extended_response);
    h.stop().await;
}

/// A shared origin request is handed over in one accept listing several requests
/// (`spec/internal.md` §5.2): each gets its own session, and a publish reaches all.
#[tokio::test]
async fn accept_with_several_requests_holds_each_client() {
    let mut h = Harness::start("").await;
    let first = h.rid();
    let second = h.rid();
    let other = second.clone();
    let r = h
        .accept_edited(&first, 8192, STREAM, "[open]\n", |args| {
            let mut state = args.requests[0].clone();
            state.rid.id = bytes::Bytes::from(other);
            args.requests.push(state);
        })
        .await
        .unwrap();
    assert!(r.accepted);
    let mut got: std::collections::HashMap<String, Vec<(PacketType, String)>> =
        std::collections::HashMap::new();
    for _ in 0..4 {
        let p = h.next_packet().await;
        let id = String::from_utf8_lossy(&p.id().unwrap().0).into_owned();
        got.entry(id).or_default().push((p.ptype.clone(), body(&p)));
    }
    for rid in [&first, &second] {
        assert_eq!(
            got[rid.as_str()],
            [
                (PacketType::KeepAlive, String::new()),
                (PacketType::Data, "[open]\n".to_owned())
            ],
            "{rid}"
        );
    }
    let cids = [format!("condure:{first}"), format!("condure:{second}")];
    let mut live = h.conncheck(&[&cids[0], &cids[1]]).await;
    live.sort();
    assert_eq!(live, cids);
    h.http(
        "POST",
        "/publish/",
        &item_json("s", r#"{"http-stream":{"content":"hello\n"}}"#),
    )
    .await;
    let mut to: Vec<String> = Vec::new();
    for _ in 0..2 {
        let p = h.next_packet().await;
        assert_eq!(body(&p), "hello\n");
        to.push(String::from_utf8_lossy(&p.id().unwrap().0).into_owned());
    }
    to.sort();
    let mut want = vec![first, second];
    want.sort();
    assert_eq!(to, want);
    h.stop().await;
}

/// The `session` route option without a session store (`state_spec` unset, as packaged):
/// inspect with `get-session` answers no sid, and an accept with `use-session` and
/// `Grip-Session-*` instructions holds as usual, those headers stripped.
#[tokio::test]
async fn session_flags_without_a_store_change_nothing() {
    let mut h = Harness::start("").await;
    let call = pushpin_internal::Call::Inspect(pushpin_internal::InspectArgs {
        request: support::request_data("GET", "http://example.com/stream"),
        get_session: true,
        ..Default::default()
    });
    let reply = support::rpc(&mut h.inspect, &call).await;
    let pushpin_internal::Outcome::Success(v) = &reply.outcome else {
        panic!("{reply:?}");
    };
    let info = pushpin_internal::InspectInfo::decode(v, &Default::default()).unwrap();
    assert_eq!(
        (info.no_proxy, info.sid, info.last_ids.len()),
        (false, None, 0)
    );
    let rid = h.rid();
    let mut headers = STREAM.to_vec();
    headers.push(("Grip-Session-Id", "sess-1"));
    headers.push(("Grip-Session-Detect", "path-prefix=/; sid-ptr=/sid"));
    let r = h
        .accept_edited(&rid, 8192, &headers, "[open]\n", |args| {
            args.use_session = true;
        })
        .await
        .unwrap();
    assert!(r.accepted);
    let _ka = h.next_packet().await;
    let head = h.next_packet().await;
    assert_eq!(body(&head), "[open]\n");
    assert_eq!(header(&head, "Grip-Session-Id"), None);
    assert_eq!(header(&head, "Grip-Session-Detect"), None);
    h.stop().await;
}
