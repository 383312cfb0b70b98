//! The built-in `test` target end to end over real ZeroMQ sockets, with fake
//! connection manager and handler peers: plain answers, GRIP hand-off (accept), the
//! accept outcomes, retries and the error answers.

#[path = "support/harness.rs"]
mod harness;

use bytes::Bytes;
use harness::{PROXY_ID, Setup, follow, get, inspect_ok, start};
use pushpin_internal::zrpc::{Condition, Outcome};
use pushpin_internal::{
    AcceptArgs, AcceptResult, Call, InspectInfo, RequestData, ResponseData, RetryPacket,
    RetryRequest, Rid,
};
use pushpin_zhttp::{Condition as ZCondition, PacketType};

fn success(write: impl FnOnce(&mut bytes::BytesMut)) -> Outcome {
    Outcome::success_with(write)
}

/// Table: path → (status, body) for plain answers of the test target.
#[tokio::test]
async fn plain_answers() {
    let mut env = start(Setup {
        with_handler: false,
        ..Setup::default()
    })
    .await;
    let cases: [(&'static str, &str, u16, &str); 3] = [
        (
            "a1",
            "http://example.com/",
            200,
            "Hello from the Pushpin test handler!\n",
        ),
        (
            "a2",
            "http://example.com/nope",
            404,
            "no such test resource\n",
        ),
        (
            "a3",
            "http://example.com",
            200,
            "Hello from the Pushpin test handler!\n",
        ),
    ];
    for (id, uri, code, body) in cases {
        env.cm.first(&get(id, uri)).await;
        let ack = env.cm.recv().await;
        assert_eq!(ack.ptype, PacketType::KeepAlive, "{uri}");
        assert_eq!(ack.seq, Some(0));
        assert!(ack.ext.multi);
        assert_eq!(ack.from, PROXY_ID);
        let resp = env.cm.recv().await;
        assert_eq!(resp.seq, Some(1));
        assert_eq!(resp.code, Some(code), "{uri}");
        assert_eq!(resp.body_bytes(), body.as_bytes(), "{uri}");
        assert!(!resp.more);
    }
    env.stop().await;
}

#[tokio::test]
async fn no_route_is_502() {
    let mut env = start(Setup {
        routes: "example.org test\n",
        with_handler: false,
        ..Setup::default()
    })
    .await;
    env.cm.first(&get("n1", "http://example.com/x")).await;
    let (head, body) = env.cm.response().await;
    assert_eq!(head.code, Some(502));
    assert_eq!(body, "No route for host: example.com\n");
    env.stop().await;
}

#[tokio::test]
async fn non_stream_and_bad_uri_are_bad_requests() {
    let mut env = start(Setup {
        with_handler: false,
        ..Setup::default()
    })
    .await;
    let mut p = get("b1", "http://example.com/");
    p.stream = false;
    env.cm.first(&p).await;
    let e = env.cm.recv().await;
    assert_eq!(e.ptype, PacketType::Error);
    assert_eq!(e.condition, Some(ZCondition::BadRequest));
    let p = get("b2", "gopher://example.com/");
    env.cm.first(&p).await;
    let e = env.cm.recv().await;
    assert_eq!(e.condition, Some(ZCondition::BadRequest));
    // garbage on the pull socket is skipped; the proxy keeps serving
    env.cm.first(&pushpin_zhttp::Packet::default()).await;
    env.cm.first(&get("b3", "http://example.com/")).await;
    let (head, _) = env.cm.response().await;
    assert_eq!(head.code, Some(200));
    env.stop().await;
}

/// GET /stream: inspect, keep-alive, handoff-start, handoff-proceed, accept with the
/// full request state; `accepted` ends the proxy's part silently.
#[tokio::test]
async fn stream_hold_is_handed_off() {
    let mut env = start(Setup::default()).await;
    env.cm
        .first(&get("s1", "http://example.com/stream?channel=news"))
        .await;
    let call = env.handler().inspect_call().await;
    let Call::Inspect(args) = call.call() else {
        panic!("expected inspect");
    };
    assert_eq!(args.request.uri, "http://example.com/stream?channel=news");
    assert!(!args.truncated);
    env.handler().inspect_reply(&call, inspect_ok()).await;

    let ka = env.cm.recv().await;
    assert_eq!((ka.ptype.clone(), ka.seq), (PacketType::KeepAlive, Some(0)));
    let hs = env.cm.recv().await;
    assert_eq!(
        (hs.ptype.clone(), hs.seq),
        (PacketType::HandoffStart, Some(1))
    );
    env.cm
        .send(&follow("s1", 1, PacketType::HandoffProceed))
        .await;

    let call = env.handler().accept_call().await;
    let Call::Accept(args) = call.call() else {
        panic!("expected accept");
    };
    let r = &args.requests[0];
    assert_eq!(r.rid.sender, "condure");
    assert_eq!(r.rid.id, "s1");
    assert_eq!((r.in_seq, r.out_seq, r.out_credits), (2, 2, 8192));
    assert_eq!(r.peer_address.as_deref(), Some(&b"127.0.0.1"[..]));
    assert_eq!(r.logical_peer_address.as_deref(), Some(&b"127.0.0.1"[..]));
    let resp = args.response.as_ref().unwrap();
    assert_eq!(resp.code, 200);
    assert_eq!(resp.body, "[stream opened]\n");
    assert!(resp.headers.contains(&(
        Bytes::from_static(b"Grip-Hold"),
        Bytes::from_static(b"stream")
    )));
    assert!(resp.headers.contains(&(
        Bytes::from_static(b"Grip-Channel"),
        Bytes::from_static(b"news")
    )));
    // request as sent: hop-by-hop removed, Grip-Sig and Grip-Feature added
    let names: Vec<&[u8]> = args.request_data.headers.iter().map(|h| &h.0[..]).collect();
    assert_eq!(
        names,
        [&b"Host"[..], b"User-Agent", b"Grip-Sig", b"Grip-Feature"]
    );
    let sig = &args.request_data.headers[2].1;
    pushpin_grip::sig::verify(sig, b"changeme", 0).unwrap();
    // request as received
    assert_eq!(args.orig_request_data.headers.len(), 3);
    assert_eq!(args.route.as_deref(), Some(&b"*,*,*,*"[..]));
    assert!(args.trusted);
    assert_eq!(args.inspect.as_ref().map(|i| i.no_proxy), Some(false));

    env.handler()
        .accept_reply(
            &call,
            success(|b| {
                AcceptResult {
                    accepted: true,
                    response: None,
                }
                .encode(b)
            }),
        )
        .await;
    assert!(
        env.cm
            .quiet_for(std::time::Duration::from_millis(300))
            .await
    );
    env.stop().await;
}

async fn accept_answer(outcome: Outcome, debug: bool) -> (u16, Bytes) {
    let mut env = start(Setup {
        proxy_extra: if debug { "debug=true" } else { "" },
        ..Setup::default()
    })
    .await;
    env.cm
        .first(&get("r1", "http://example.com/response"))
        .await;
    let call = env.handler().inspect_call().await;
    env.handler().inspect_reply(&call, inspect_ok()).await;
    let _ka = env.cm.recv().await;
    let _hs = env.cm.recv().await;
    env.cm
        .send(&follow("r1", 1, PacketType::HandoffProceed))
        .await;
    let call = env.handler().accept_call().await;
    env.handler().accept_reply(&call, outcome).await;
    let (head, body) = env.cm.response().await;
    assert_eq!(head.seq, Some(2), "resumed session continues the sequence");
    env.stop().await;
    (head.code.unwrap(), body)
}

/// Table: accept outcome → what the client gets.
#[tokio::test]
async fn accept_outcomes() {
    let with_response = success(|b| {
        AcceptResult {
            accepted: false,
            response: Some(ResponseData {
                code: 201,
                reason: Bytes::from_static(b"Created"),
                headers: vec![(Bytes::from_static(b"X-Origin"), Bytes::from_static(b"yes"))],
                body: Bytes::from_static(b"no hold\n"),
            }),
        }
        .encode(b)
    });
    let empty = success(|b| AcceptResult::default().encode(b));
    let bad = Outcome::error_text(Condition::BadFormat, b"bad hold mode");
    let refused = Outcome::error(Condition::ServiceUnavailable);
    let cases: [(Outcome, bool, u16, &str); 5] = [
        (with_response, false, 201, "no hold\n"),
        (empty, false, 500, "Accept service unavailable.\n"),
        (bad.clone(), false, 502, "Error while proxying to origin.\n"),
        (
            bad,
            true,
            502,
            "Failed to parse accept instructions: bad hold mode\n",
        ),
        (refused, false, 500, "Accept service unavailable.\n"),
    ];
    for (outcome, debug, code, body) in cases {
        let (got_code, got_body) = accept_answer(outcome, debug).await;
        assert_eq!((got_code, got_body.as_ref()), (code, body.as_bytes()));
    }
}

/// No handler connected: inspect and accept fail fast; the client gets 500.
#[tokio::test]
async fn no_handler_gives_500() {
    let mut env = start(Setup {
        with_handler: false,
        ..Setup::default()
    })
    .await;
    env.cm.first(&get("h1", "http://example.com/stream")).await;
    let ka = env.cm.recv().await;
    assert_eq!(ka.ptype, PacketType::KeepAlive);
    let hs = env.cm.recv().await;
    assert_eq!(hs.ptype, PacketType::HandoffStart);
    env.cm
        .send(&follow("h1", 1, PacketType::HandoffProceed))
        .await;
    let (head, body) = env.cm.response().await;
    assert_eq!(head.code, Some(500));
    assert_eq!(body, "Accept service unavailable.\n");
    env.stop().await;
}

/// A retry recreates the session with the handler's seq numbers, keeps the route and
/// marks the next accept `is-retry`, with Grip-Last from the inspect info.
#[tokio::test]
async fn retry_is_reproxied() {
    let mut env = start(Setup {
        routes: "*,id=main test\n",
        ..Setup::default()
    })
    .await;
    let retry = RetryPacket {
        requests: vec![RetryRequest {
            rid: Rid {
                sender: Bytes::from_static(b"condure"),
                id: Bytes::from_static(b"t1"),
            },
            in_seq: 3,
            out_seq: 4,
            out_credits: 8000,
            peer_address: Some(Bytes::from_static(b"127.0.0.1")),
            ..RetryRequest::default()
        }],
        request_data: RequestData {
            method: Bytes::from_static(b"GET"),
            uri: Bytes::from_static(b"http://example.com/response"),
            headers: vec![(
                Bytes::from_static(b"Host"),
                Bytes::from_static(b"example.com"),
            )],
            body: Bytes::new(),
        },
        inspect: Some(InspectInfo {
            no_proxy: false,
            last_ids: vec![(Bytes::from_static(b"test"), Bytes::from_static(b"7"))],
            ..InspectInfo::default()
        }),
        route: Some(Bytes::from_static(b"main")),
    };
    // a malformed retry first: logged and skipped
    env.handler().retry(Bytes::from_static(b"3:abc,")).await;
    let mut buf = bytes::BytesMut::new();
    retry.encode(&mut buf);
    env.handler().retry(buf.freeze()).await;
    let ka = env.cm.recv().await;
    assert_eq!((ka.ptype.clone(), ka.seq), (PacketType::KeepAlive, Some(4)));
    let hs = env.cm.recv().await;
    assert_eq!(
        (hs.ptype.clone(), hs.seq),
        (PacketType::HandoffStart, Some(5))
    );
    env.cm
        .send(&follow("t1", 3, PacketType::HandoffProceed))
        .await;
    let call = env.handler().accept_call().await;
    let Call::Accept(args) = call.call() else {
        panic!("expected accept");
    };
    let AcceptArgs {
        requests,
        request_data,
        route,
        ..
    } = *args;
    assert!(requests[0].is_retry);
    assert_eq!((requests[0].in_seq, requests[0].out_seq), (4, 6));
    assert_eq!(requests[0].out_credits, 8000);
    assert_eq!(route.as_deref(), Some(&b"main"[..]));
    assert!(request_data.headers.contains(&(
        Bytes::from_static(b"Grip-Last"),
        Bytes::from_static(b"test; last-id=7")
    )));
    env.stop().await;
}

#[tokio::test]
async fn command_socket_answers() {
    let mut env = start(Setup::default()).await;
    let r = env
        .handler()
        .command(&Call::Conncheck(vec![
            Bytes::from_static(b"condure:nope"),
            Bytes::from_static(b"garbage"),
        ]))
        .await;
    let Outcome::Success(v) = r.outcome else {
        panic!("conncheck failed");
    };
    let ids = pushpin_internal::decode_id_list(&v, &Default::default()).unwrap();
    assert!(ids.is_empty());
    let r = env.handler().command(&Call::Report(None)).await;
    assert!(matches!(
        r.outcome,
        Outcome::Failure {
            condition: Condition::ServiceUnavailable,
            ..
        }
    ));
    let r = env
        .handler()
        .command(&Call::Unknown(Bytes::from_static(b"nope")))
        .await;
    assert!(matches!(
        r.outcome,
        Outcome::Failure {
            condition: Condition::MethodNotFound,
            ..
        }
    ));
    env.stop().await;
}

/// The stats socket: `conn` when a request starts, `conn` unavailable when it ends here,
/// then `activity` and `counts`.
#[tokio::test]
async fn stats_are_published() {
    use pushpin_internal::{StatsBody, StatsPacket};
    let mut env = start(Setup {
        with_handler: false,
        ..Setup::default()
    })
    .await;
    let mut sub = harness::stats_sub(env.dir.path());
    let limits = pushpin_internal::Limits::default();
    // the SUB joins late: send requests until stats arrive
    let mut n = 0u32;
    loop {
        n += 1;
        assert!(n < 50, "no stats");
        let id = format!("st{n}");
        env.cm
            .first(&harness::get_owned(id, "http://example.com/"))
            .await;
        let _ = env.cm.response().await;
        if tokio::time::timeout(std::time::Duration::from_millis(150), sub.recv())
            .await
            .is_ok()
        {
            break;
        }
    }
    // drain, then one request with every packet checked
    while tokio::time::timeout(std::time::Duration::from_millis(300), sub.recv())
        .await
        .is_ok()
    {}
    env.cm.first(&get("stx", "http://example.com/")).await;
    let _ = env.cm.response().await;
    let mut kinds = Vec::new();
    while kinds.len() < 4 {
        let msg = tokio::time::timeout(harness::WAIT, sub.recv())
            .await
            .expect("stats")
            .unwrap();
        let p = StatsPacket::decode(&msg[0], &limits).unwrap();
        assert_eq!(p.from.as_deref(), Some(PROXY_ID.as_bytes()));
        kinds.push(p.body);
    }
    // conn comes first; the rest in any order (activity is flushed 100 ms after it)
    assert!(matches!(&kinds[0], StatsBody::Connected { id, ttl: 120, .. } if id == "condure:stx"));
    let rest = &kinds[1..];
    assert!(
        rest.iter()
            .any(|k| matches!(k, StatsBody::Disconnected { id } if id == "condure:stx"))
    );
    assert!(
        rest.iter()
            .any(|k| matches!(k, StatsBody::Activity { count: 1 }))
    );
    assert!(rest.iter().any(|k| matches!(
        k,
        StatsBody::Counts {
            requests_received: Some(1)
        }
    )));
    env.stop().await;
}
