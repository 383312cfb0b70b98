//! Forwarding through a fake zurl over real ZeroMQ sockets: the exact first packet
//! (connect host/port, policies, credits, rewritten headers, Grip-Sig), streamed bodies
//! with credits in both directions, failover between targets, error answers, and GRIP
//! detection on origin responses.

#[path = "support/harness.rs"]
mod harness;

use bytes::Bytes;
use harness::{PROXY_ID, Setup, ZURL_ID, follow, get, header, inspect_ok, start};
use pushpin_internal::Call;
use pushpin_internal::zrpc::Outcome;
use pushpin_zhttp::{Condition, Header, Packet, PacketType};

fn head(code: u16, headers: Vec<Header>, body: &'static [u8], more: bool) -> Packet {
    Packet {
        code: Some(code),
        reason: Some(Bytes::from_static(b"OK")),
        headers: Some(headers),
        body: Some(Bytes::from_static(body)),
        more,
        ..Packet::default()
    }
}

fn setup(routes: &str) -> Setup<'_> {
    Setup {
        routes,
        with_handler: false,
        ..Setup::default()
    }
}

#[tokio::test]
async fn first_packet_and_plain_response() {
    let mut env = start(setup("* 127.0.0.1:17020,host=origin.example\n")).await;
    let mut req = get("f1", "http://example.com/path?x=1");
    if let Some(h) = req.headers.as_mut() {
        h.push(Header::new("Grip-Last", "evil; last-id=1"));
        h.push(Header::new("Accept-Encoding", "gzip"));
    }
    env.cm.first(&req).await;
    let ka = env.cm.recv().await;
    assert_eq!(ka.ptype, PacketType::KeepAlive);

    let z = env.zurl.first().await;
    assert_eq!(z.from, PROXY_ID);
    assert_eq!(z.seq, Some(0));
    assert!(z.ext.multi && z.stream && z.ignore_policies);
    assert_eq!(z.credits, Some(200_000));
    assert_eq!(z.method.as_deref(), Some(&b"GET"[..]));
    assert_eq!(
        z.uri.as_deref(),
        Some(&b"http://origin.example/path?x=1"[..])
    );
    assert_eq!(z.connect_host.as_deref(), Some(&b"127.0.0.1"[..]));
    assert_eq!(z.connect_port, Some(17020));
    assert!(!z.more);
    let names: Vec<&[u8]> = z.header_list().iter().map(|h| &h.name[..]).collect();
    assert_eq!(
        names,
        [&b"User-Agent"[..], b"Grip-Sig", b"Grip-Feature", b"Host"],
        "hop-by-hop and client Grip-* removed, Host rewritten and moved last"
    );
    assert_eq!(header(&z, "Host").unwrap(), "origin.example");
    let claims =
        pushpin_grip::sig::verify(header(&z, "Grip-Sig").unwrap(), b"changeme", 0).unwrap();
    assert_eq!(claims["iss"], "pushpin");

    let id = z.id().unwrap().clone();
    env.zurl.send(&id, Packet::new(PacketType::KeepAlive)).await;
    env.zurl
        .send(
            &id,
            head(
                200,
                vec![Header::new("Content-Type", "text/plain")],
                b"hello ",
                true,
            ),
        )
        .await;
    env.zurl
        .send(
            &id,
            Packet {
                body: Some(Bytes::from_static(b"world\n")),
                ..Packet::default()
            },
        )
        .await;
    let (resp, body) = env.cm.response().await;
    assert_eq!(resp.code, Some(200));
    assert_eq!(resp.from, PROXY_ID);
    assert_eq!(body, "hello world\n");
    env.stop().await;
}

/// The response body moves only within the client's credits, and zurl gets credits
/// back as bytes reach the client.
#[tokio::test]
async fn response_credits_flow_end_to_end() {
    let mut env = start(setup("* 127.0.0.1:17020\n")).await;
    let mut req = get("c1", "http://example.com/big");
    req.credits = Some(10);
    env.cm.first(&req).await;
    let _ka = env.cm.recv().await;
    let z = env.zurl.first().await;
    let id = z.id().unwrap().clone();
    env.zurl
        .send(&id, head(200, vec![], b"0123456789abcdefghij", true))
        .await;
    let p = env.cm.recv().await;
    assert_eq!(p.code, Some(200));
    assert_eq!(p.body_bytes(), b"0123456789");
    assert!(p.more);
    // zurl is credited for what reached the client
    let c = env.zurl.recv().await;
    assert_eq!((c.ptype.clone(), c.credits), (PacketType::Credit, Some(10)));
    assert_eq!(c.seq, Some(1));
    // nothing more until the client grants credits
    assert!(
        env.cm
            .quiet_for(std::time::Duration::from_millis(200))
            .await
    );
    let mut credit = follow("c1", 1, PacketType::Credit);
    credit.credits = Some(100);
    env.cm.send(&credit).await;
    let p = env.cm.recv().await;
    assert_eq!(p.body_bytes(), b"abcdefghij");
    assert!(p.more);
    env.zurl
        .send(
            &id,
            Packet {
                body: Some(Bytes::from_static(b"end")),
                ..Packet::default()
            },
        )
        .await;
    let mut rest = Vec::new();
    loop {
        let p = env.cm.recv().await;
        if p.ptype == PacketType::Credit || p.ptype == PacketType::KeepAlive {
            continue;
        }
        rest.extend_from_slice(p.body_bytes());
        if !p.more {
            break;
        }
    }
    assert_eq!(rest, b"end");
    env.stop().await;
}

/// A streamed request body goes to zurl within zurl's credits; the client gets its
/// credits back as the body moves on.
#[tokio::test]
async fn request_body_streams_with_credits() {
    let mut env = start(setup("* 127.0.0.1:17020\n")).await;
    let mut req = get("p1", "http://example.com/upload");
    req.method = Some(Bytes::from_static(b"POST"));
    req.more = true;
    env.cm.first(&req).await;
    let ack = env.cm.recv().await;
    assert_eq!(
        (ack.ptype.clone(), ack.credits),
        (PacketType::Credit, Some(200_000))
    );
    let mut chunk = follow("p1", 1, PacketType::Data);
    chunk.ptype = PacketType::Data;
    chunk.body = Some(Bytes::from(vec![b'a'; 12_000]));
    chunk.more = true;
    env.cm.send(&chunk).await;
    // the first 10000 bytes are read for inspect (no handler here), then zurl is asked
    let z = env.zurl.first().await;
    assert!(z.more);
    assert_eq!(z.body_bytes().len(), 12_000);
    let id = z.id().unwrap().clone();
    let back = env.cm.recv().await;
    assert_eq!(
        (back.ptype.clone(), back.credits),
        (PacketType::Credit, Some(12_000))
    );
    // zurl grants credits; the rest of the body follows
    let mut last = follow("p1", 2, PacketType::Data);
    last.body = Some(Bytes::from_static(b"tail"));
    env.cm.send(&last).await;
    let mut credit = Packet::new(PacketType::Credit);
    credit.credits = Some(100);
    env.zurl.send(&id, credit).await;
    let d = env.zurl.recv().await;
    assert_eq!(d.body_bytes(), b"tail");
    assert!(!d.more);
    env.zurl.send(&id, head(204, vec![], b"", false)).await;
    let (resp, _) = env.cm.response().await;
    assert_eq!(resp.code, Some(204));
    env.stop().await;
}

/// Table: how zurl fails → what the client gets (targets tried in order).
#[tokio::test]
async fn failover_and_errors() {
    let cases: [(&str, Vec<Condition>, bool, u16, &str); 4] = [
        (
            "* 127.0.0.1:1 127.0.0.1:2\n",
            vec![Condition::RemoteConnectionFailed],
            true,
            200,
            "ok",
        ),
        (
            "* 127.0.0.1:1 127.0.0.1:2\n",
            vec![Condition::ConnectionTimeout, Condition::TlsError],
            false,
            502,
            "Error while proxying to origin.\n",
        ),
        (
            "*,debug 127.0.0.1:1 127.0.0.1:2\n",
            vec![
                Condition::RemoteConnectionFailed,
                Condition::RemoteConnectionFailed,
            ],
            false,
            502,
            "Unable to connect to any targets. Tried: 127.0.0.1:1, 127.0.0.1:2\n",
        ),
        (
            "* 127.0.0.1:1 127.0.0.1:2\n",
            vec![Condition::SessionTimeout],
            false,
            502,
            "Error while proxying to origin.\n",
        ),
    ];
    for (routes, failures, answer_last, code, body) in cases {
        let mut env = start(setup(routes)).await;
        env.cm.first(&get("e1", "http://example.com/")).await;
        let _ka = env.cm.recv().await;
        let mut port = 1;
        for c in &failures {
            let z = env.zurl.first().await;
            assert_eq!(z.connect_port, Some(port), "{routes}");
            port += 1;
            let id = z.id().unwrap().clone();
            let mut e = Packet::new(PacketType::Error);
            e.condition = Some(c.clone());
            env.zurl.send(&id, e).await;
        }
        if answer_last {
            let z = env.zurl.first().await;
            assert_eq!(z.connect_port, Some(port));
            let id = z.id().unwrap().clone();
            env.zurl.send(&id, head(200, vec![], b"ok", false)).await;
        }
        let (resp, got) = env.cm.response().await;
        assert_eq!(
            (resp.code, got.as_ref()),
            (Some(code), body.as_bytes()),
            "{routes}"
        );
        env.stop().await;
    }
}

/// A GRIP response from the origin is buffered and handed to the handler; the accept
/// carries the origin's response and the request as sent to it.
#[tokio::test]
async fn grip_response_is_handed_off() {
    let mut env = start(Setup {
        routes: "* 127.0.0.1:17020\n",
        ..Setup::default()
    })
    .await;
    env.cm.first(&get("g1", "http://example.com/hold")).await;
    let call = env.handler().inspect_call().await;
    env.handler().inspect_reply(&call, inspect_ok()).await;
    let _ka = env.cm.recv().await;
    let z = env.zurl.first().await;
    let id = z.id().unwrap().clone();
    env.zurl
        .send(
            &id,
            head(
                200,
                vec![
                    Header::new("Content-Type", "text/plain"),
                    Header::new("Grip-Hold", "stream"),
                    Header::new("Grip-Channel", "news"),
                ],
                b"start\n",
                true,
            ),
        )
        .await;
    env.zurl
        .send(
            &id,
            Packet {
                body: Some(Bytes::from_static(b"more\n")),
                ..Packet::default()
            },
        )
        .await;
    let hs = env.cm.recv().await;
    assert_eq!(hs.ptype, PacketType::HandoffStart);
    env.cm
        .send(&follow("g1", 1, PacketType::HandoffProceed))
        .await;
    let call = env.handler().accept_call().await;
    let Call::Accept(args) = call.call() else {
        panic!("expected accept");
    };
    let resp = args.response.unwrap();
    assert_eq!(resp.body, "start\nmore\n");
    assert_eq!(args.request_data.uri, "http://example.com/hold");
    assert_eq!(args.orig_request_data.headers.len(), 3);
    assert_eq!(args.route.as_deref(), Some(&b"*,*,*,*"[..]));
    env.stop().await;
}

/// Table: a GRIP response whose head packet is also its last (zurl sends small
/// responses in one packet) or whose instruct is in the body; both are handed off.
#[tokio::test]
async fn grip_response_in_one_packet_is_handed_off() {
    let cases: [(Vec<Header>, &'static [u8]); 2] = [
        (
            vec![
                Header::new("Grip-Hold", "response"),
                Header::new("Grip-Channel", "c"),
            ],
            b"tb\n",
        ),
        (
            vec![Header::new(
                "Content-Type",
                "application/grip-instruct; charset=utf-8",
            )],
            br#"{"hold":{"channels":[{"name":"c"}]}}"#,
        ),
    ];
    for (headers, body) in cases {
        let mut env = start(Setup {
            routes: "* 127.0.0.1:17020\n",
            ..Setup::default()
        })
        .await;
        env.cm.first(&get("o1", "http://example.com/lp")).await;
        let call = env.handler().inspect_call().await;
        env.handler().inspect_reply(&call, inspect_ok()).await;
        let _ka = env.cm.recv().await;
        let z = env.zurl.first().await;
        let id = z.id().unwrap().clone();
        env.zurl.send(&id, head(200, headers, body, false)).await;
        let hs = env.cm.recv().await;
        assert_eq!(hs.ptype, PacketType::HandoffStart);
        env.cm
            .send(&follow("o1", 1, PacketType::HandoffProceed))
            .await;
        let call = env.handler().accept_call().await;
        let Call::Accept(args) = call.call() else {
            panic!("expected accept");
        };
        assert_eq!(args.response.unwrap().body, body);
        env.stop().await;
    }
}

/// A trusted client (valid Grip-Sig under upstream_key) keeps its Grip-* headers, gets
/// no new signature, and GRIP responses pass through untouched.
#[tokio::test]
async fn trusted_client_passthrough() {
    let mut env = start(Setup {
        routes: "* 127.0.0.1:17020\n",
        proxy_extra: "upstream_key=upkey",
        with_handler: false,
    })
    .await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let token = pushpin_grip::sig::sign("up", b"upkey", now);
    let mut req = get("u1", "http://example.com/");
    if let Some(h) = req.headers.as_mut() {
        h.push(Header::new("Grip-Sig", token.clone()));
    }
    env.cm.first(&req).await;
    let _ka = env.cm.recv().await;
    let z = env.zurl.first().await;
    assert_eq!(header(&z, "Grip-Sig").unwrap(), token.as_str());
    assert!(header(&z, "Grip-Feature").is_none());
    let id = z.id().unwrap().clone();
    env.zurl
        .send(
            &id,
            head(200, vec![Header::new("Grip-Hold", "stream")], b"x", false),
        )
        .await;
    let (resp, body) = env.cm.response().await;
    assert_eq!(header(&resp, "Grip-Hold").unwrap(), "stream");
    assert_eq!(body, "x");
    let _ = ZURL_ID;
    env.stop().await;
}

/// The client going away cancels the origin request.
#[tokio::test]
async fn client_cancel_reaches_zurl() {
    let mut env = start(setup("* 127.0.0.1:17020\n")).await;
    env.cm.first(&get("x1", "http://example.com/")).await;
    let _ka = env.cm.recv().await;
    let z = env.zurl.first().await;
    let id = z.id().unwrap().clone();
    env.zurl.send(&id, Packet::new(PacketType::KeepAlive)).await;
    // the proxy learns zurl's address from the ack; wait for that to be processed by
    // sending the response head first
    env.zurl.send(&id, head(200, vec![], b"", true)).await;
    let _head = env.cm.recv().await;
    env.cm.send(&follow("x1", 1, PacketType::Cancel)).await;
    loop {
        let p = env.zurl.recv().await;
        if p.ptype == PacketType::Cancel {
            break;
        }
    }
    env.stop().await;
}

/// intreq (handler next links): a request with `passthrough` goes straight to the URL's
/// host (not through the routes), keeps its `Grip-*` headers, is signed with the
/// original route's key, and a GRIP response is relayed as is instead of accepted.
#[tokio::test]
async fn intreq_next_link_is_passed_through() {
    use pushpin_internal::Value;
    let mut env = start(Setup {
        routes: "*,id=main,sig_iss=rt,sig_key=rkey 127.0.0.1:9\n",
        ..Setup::default()
    })
    .await;
    let mut ir = harness::Intreq::connect(env.dir.path());
    let passthrough = Value::Map(vec![
        (
            Bytes::from_static(b"route"),
            Value::Bytes(Bytes::from_static(b"main")),
        ),
        (Bytes::from_static(b"trusted"), Value::Bool(true)),
    ]);
    // the SUB joins late: resend until the proxy's answer arrives
    let mut n = 0u32;
    let z = loop {
        n += 1;
        assert!(n < 50, "no intreq answer");
        let mut p = get("i1", "http://127.0.0.1:17021/link2");
        p.ids = pushpin_zhttp::Ids::One(pushpin_zhttp::Id::new(Bytes::from(format!("i{n}"))));
        p.from = Bytes::from_static(harness::INTREQ_FROM.as_bytes());
        p.credits = Some(200_000);
        p.headers = Some(vec![Header::new("Grip-Last", "ch; last-id=3")]);
        p.passthrough = Some(passthrough.clone());
        ir.first(&p).await;
        if let Some(ack) = ir.recv_within(std::time::Duration::from_millis(100)).await {
            assert_eq!(ack.ptype, PacketType::KeepAlive);
            break env.zurl.first().await;
        }
        // an unanswered attempt may still reach zurl; answer nothing and retry
        while let Ok(z) =
            tokio::time::timeout(std::time::Duration::from_millis(10), env.zurl.first()).await
        {
            drop(z);
        }
    };
    assert_eq!(z.connect_port, Some(17021));
    assert!(z.ignore_policies);
    assert_eq!(header(&z, "Grip-Last").unwrap(), "ch; last-id=3");
    let claims = pushpin_grip::sig::verify(header(&z, "Grip-Sig").unwrap(), b"rkey", 0).unwrap();
    assert_eq!(claims["iss"], "rt");
    let id = z.id().unwrap().clone();
    env.zurl
        .send(
            &id,
            head(
                200,
                vec![Header::new("Grip-Hold", "stream")],
                b"page2\n",
                false,
            ),
        )
        .await;
    let resp = loop {
        let p = ir
            .recv_within(harness::WAIT)
            .await
            .expect("no intreq response");
        if p.ptype == PacketType::Data {
            break p;
        }
    };
    assert_eq!(resp.code, Some(200));
    assert_eq!(header(&resp, "Grip-Hold").unwrap(), "stream");
    assert_eq!(resp.body_bytes(), b"page2\n");
    env.stop().await;
}

/// A client that splits its body into many small packets (within its credits) is not
/// dropped: the session inbox holds a whole credit window of them.
#[tokio::test]
async fn many_small_body_packets_are_forwarded() {
    let mut env = start(setup("* 127.0.0.1:17020\n")).await;
    let mut req = get("m1", "http://example.com/upload");
    req.method = Some(Bytes::from_static(b"POST"));
    req.more = true;
    env.cm.first(&req).await;
    let ack = env.cm.recv().await;
    assert_eq!(ack.ptype, PacketType::Credit);
    const N: u32 = 500;
    for seq in 1..=N {
        let mut p = follow("m1", seq, PacketType::Data);
        p.body = Some(Bytes::from_static(b"0123456789"));
        p.more = seq < N;
        env.cm.send(&p).await;
    }
    let z = env.zurl.first().await;
    let id = z.id().unwrap().clone();
    let mut got = z.body_bytes().len();
    let mut more = z.more;
    let mut credit = Packet::new(PacketType::Credit);
    credit.credits = Some(100_000);
    env.zurl.send(&id, credit).await;
    while more {
        let p = env.zurl.recv().await;
        got += p.body_bytes().len();
        more = p.more;
    }
    assert_eq!(got, N as usize * 10);
    env.stop().await;
}

/// Editing the routes file swaps the table (checked once a second, as 1.36 reloads 1 s
/// after a change) without restarting.
#[tokio::test]
async fn routes_file_change_is_picked_up() {
    let mut env = start(setup("* test\n")).await;
    std::fs::write(env.routes_path(), "other.example test\n").unwrap();
    let deadline = tokio::time::Instant::now() + harness::WAIT;
    let mut n = 0u32;
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "routes were not reloaded"
        );
        n += 1;
        let id = format!("rl{n}");
        env.cm
            .first(&harness::get_owned(id, "http://example.com/"))
            .await;
        let (head, body) = env.cm.response().await;
        if head.code == Some(502) {
            assert_eq!(body, "No route for host: example.com\n");
            break;
        }
        assert_eq!(head.code, Some(200));
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    env.stop().await;
}

/// A WebSocket through zurl: the handshake with both sides' credits, a message each way
/// (fragmented to fit the client's credits), and the close exchange.
#[tokio::test]
async fn websocket_passthrough() {
    let mut env = start(setup("* 127.0.0.1:17021\n")).await;
    let mut req = get("w1", "ws://example.com/echo");
    req.stream = false;
    req.credits = Some(4);
    if let Some(h) = req.headers.as_mut() {
        h.push(Header::new("Upgrade", "websocket"));
        h.push(Header::new("Sec-WebSocket-Key", "abc"));
    }
    env.cm.first(&req).await;
    let z = env.zurl.first().await;
    assert_eq!(z.uri.as_deref(), Some(&b"ws://example.com/echo"[..]));
    assert!(!z.stream);
    assert_eq!(z.credits, Some(200_000));
    assert_eq!(header(&z, "Sec-WebSocket-Key").unwrap(), "abc");
    let id = z.id().unwrap().clone();
    let mut accept = head(101, vec![Header::new("Upgrade", "websocket")], b"", false);
    accept.reason = Some(Bytes::from_static(b"Switching Protocols"));
    accept.credits = Some(1000);
    env.zurl.send(&id, accept).await;
    let a = env.cm.recv().await;
    assert_eq!(
        (a.code, a.seq, a.credits),
        (Some(101), Some(0), Some(200_000))
    );

    // client → origin
    let mut m = follow("w1", 1, PacketType::Data);
    m.content_type = Some(pushpin_zhttp::ContentType::Text);
    m.body = Some(Bytes::from_static(b"hello"));
    env.cm.send(&m).await;
    let got = env.zurl.recv().await;
    assert_eq!(got.body_bytes(), b"hello");
    assert_eq!(got.content_type, Some(pushpin_zhttp::ContentType::Text));
    let c = env.cm.recv().await;
    assert_eq!((c.ptype.clone(), c.credits), (PacketType::Credit, Some(5)));

    // origin → client: 6 bytes with 4 credits goes as a fragment, then the rest
    env.zurl
        .send(
            &id,
            Packet {
                body: Some(Bytes::from_static(b"world!")),
                ..Packet::default()
            },
        )
        .await;
    let f1 = env.cm.recv().await;
    assert_eq!((f1.body_bytes(), f1.more), (&b"worl"[..], true));
    let mut credit = follow("w1", 2, PacketType::Credit);
    credit.credits = Some(10);
    env.cm.send(&credit).await;
    let f2 = env.cm.recv().await;
    assert_eq!((f2.body_bytes(), f2.more), (&b"d!"[..], false));

    // close from the client, echoed by the origin
    let mut close = follow("w1", 3, PacketType::Close);
    close.code = Some(1000);
    env.cm.send(&close).await;
    loop {
        let p = env.zurl.recv().await;
        if p.ptype == PacketType::Close {
            assert_eq!(p.code, Some(1000));
            break;
        }
    }
    let mut echo = Packet::new(PacketType::Close);
    echo.code = Some(1000);
    env.zurl.send(&id, echo).await;
    loop {
        let p = env.cm.recv().await;
        if p.ptype == PacketType::Close {
            assert_eq!(p.code, Some(1000));
            break;
        }
    }
    env.stop().await;
}

/// m2adapter sends a WebSocket's first packet without `method` (condure sends `GET`);
/// 1.36's proxy never reads it for WebSockets, so neither may we.
#[tokio::test]
async fn websocket_without_method_is_accepted() {
    let mut env = start(setup("* 127.0.0.1:17021\n")).await;
    let mut req = get("w2", "ws://example.com/echo");
    req.method = None;
    req.stream = false;
    if let Some(h) = req.headers.as_mut() {
        h.push(Header::new("Upgrade", "websocket"));
    }
    env.cm.first(&req).await;
    let z = env.zurl.first().await;
    assert_eq!(z.uri.as_deref(), Some(&b"ws://example.com/echo"[..]));
    let id = z.id().unwrap().clone();
    let mut accept = head(101, vec![Header::new("Upgrade", "websocket")], b"", false);
    accept.credits = Some(1000);
    env.zurl.send(&id, accept).await;
    let a = env.cm.recv().await;
    assert_eq!((a.ptype.clone(), a.code), (PacketType::Data, Some(101)));

    // an HTTP request still needs its method
    let mut req = get("h2", "http://example.com/x");
    req.method = None;
    env.cm.first(&req).await;
    let e = env.cm.recv().await;
    assert_eq!(
        (e.ptype.clone(), e.condition),
        (PacketType::Error, Some(Condition::BadRequest))
    );
    env.stop().await;
}

/// Table: malformed GRIP responses from the origin — an unknown `Grip-Hold`, a
/// grip-instruct body that is not JSON (both refused by the handler, which parses
/// instructions), a GRIP response cut off mid-body — give the client 502 with
/// Pushpin's body, and the proxy goes on serving the next request.
#[tokio::test]
async fn malformed_grip_responses_give_502_and_the_proxy_keeps_serving() {
    let cases: [(&str, Vec<Header>, &'static [u8], bool); 3] = [
        (
            "unknown hold mode",
            vec![
                Header::new("Content-Type", "text/plain"),
                Header::new("Grip-Hold", "forever"),
                Header::new("Grip-Channel", "x"),
            ],
            b"x\n",
            false,
        ),
        (
            "instruct body not JSON",
            vec![Header::new("Content-Type", "application/grip-instruct")],
            b"{nope",
            false,
        ),
        (
            "cut off mid-body",
            vec![
                Header::new("Grip-Hold", "stream"),
                Header::new("Grip-Channel", "news"),
            ],
            b"start\n",
            true,
        ),
    ];
    let mut env = start(Setup {
        routes: "* 127.0.0.1:17020\n",
        ..Setup::default()
    })
    .await;
    let ids = [("bad0", "ok0"), ("bad1", "ok1"), ("bad2", "ok2")];
    for ((name, headers, body, cut), (bad, ok)) in cases.into_iter().zip(ids) {
        for (rid, grip) in [(bad, true), (ok, false)] {
            env.cm.first(&get(rid, "http://example.com/path")).await;
            let call = env.handler().inspect_call().await;
            env.handler().inspect_reply(&call, inspect_ok()).await;
            let _ka = env.cm.recv().await;
            let z = env.zurl.first().await;
            let id = z.id().unwrap().clone();
            if !grip {
                env.zurl.send(&id, head(200, vec![], b"fine", false)).await;
                let (resp, got) = env.cm.response().await;
                assert_eq!(
                    (resp.code, got.as_ref()),
                    (Some(200), &b"fine"[..]),
                    "request after {name}"
                );
                continue;
            }
            env.zurl
                .send(&id, head(200, headers.clone(), body, cut))
                .await;
            if cut {
                let mut e = Packet::new(PacketType::Error);
                e.condition = Some(Condition::RemoteConnectionFailed);
                env.zurl.send(&id, e).await;
            }
            // A GRIP response asks for the session first (handoff-start); the
            // connection manager agrees. Instructions are parsed by the handler, which
            // refuses these (`bad-format`, as ours and 1.36's do); a body cut off never
            // reaches it. Either way the 502 comes on the same session.
            let first = env.cm.recv().await;
            let (code, got) = if first.ptype == PacketType::HandoffStart {
                env.cm
                    .send(&follow(rid, 1, PacketType::HandoffProceed))
                    .await;
                if !cut {
                    let call = env.handler().accept_call().await;
                    env.handler()
                        .accept_reply(
                            &call,
                            Outcome::error_text(
                                pushpin_internal::zrpc::Condition::BadFormat,
                                name.as_bytes(),
                            ),
                        )
                        .await;
                }
                let (resp, got) = env.cm.response().await;
                (resp.code, got)
            } else {
                assert!(!first.more, "{name}: a 502 comes in one packet");
                (first.code, Bytes::copy_from_slice(first.body_bytes()))
            };
            assert_eq!(
                (code, got.as_ref()),
                (Some(502), &b"Error while proxying to origin.\n"[..]),
                "{name}"
            );
        }
    }
    env.stop().await;
}
