//! Request sharing over real ZeroMQ sockets (`spec/internal.md` §4.3, §5): requests
//! whose inspect answer carries the same `sharing-key` ride on one origin request; every
//! client gets the response, a GRIP response is handed over in one accept listing every
//! client, failures reach every client, a late joiner gets the head and body so far,
//! and a finished response frees the key. Also the `session` route option, which rides on
//! the same inspect answer: `get-session` in inspect, the answer's `sid` and `last-ids`
//! sent to the origin, `use-session` in accept.

#[path = "support/harness.rs"]
mod harness;

use std::collections::HashMap;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use harness::{Env, Setup, follow, get, inspect_ok, start};
use pushpin_internal::zrpc::Outcome;
use pushpin_internal::{AcceptResult, Call, InspectInfo, ResponseData};
use pushpin_zhttp::{Condition, Header, Packet, PacketType};

const KEY: &str = "GET|http://example.com/slow";

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

fn body(data: &'static [u8], more: bool) -> Packet {
    Packet {
        body: Some(Bytes::from_static(data)),
        more,
        ..Packet::default()
    }
}

async fn setup() -> Env {
    start(Setup {
        routes: "* 127.0.0.1:17020\n",
        ..Setup::default()
    })
    .await
}

/// Sends a GET for `id` and answers its inspect with the sharing key.
async fn request(env: &mut Env, id: &'static str) {
    env.cm.first(&get(id, "http://example.com/slow")).await;
    let call = env.handler().inspect_call().await;
    let info = InspectInfo {
        sharing_key: Some(Bytes::from_static(KEY.as_bytes())),
        ..InspectInfo::default()
    };
    env.handler()
        .inspect_reply(&call, Outcome::success_with(|b| info.encode(b)))
        .await;
}

/// The joining request does not reach the origin (and has joined by then).
async fn no_new_origin_request(env: &mut Env) {
    let second = tokio::time::timeout(Duration::from_millis(300), env.zurl.first()).await;
    assert!(second.is_err(), "a shared request went to the origin again");
}

fn id_of(p: &Packet) -> String {
    String::from_utf8_lossy(&p.id().unwrap().0).into_owned()
}

/// Collects packets to the connection manager until every id in `ids` got a packet
/// that ends its response (data without `more`, or anything else).
async fn collect(env: &mut Env, ids: &[&str]) -> HashMap<String, (Vec<Packet>, Bytes)> {
    let mut got: HashMap<String, (Vec<Packet>, BytesMut, bool)> = HashMap::new();
    while ids
        .iter()
        .any(|id| !got.get(*id).is_some_and(|(_, _, done)| *done))
    {
        let p = env.cm.recv().await;
        if matches!(p.ptype, PacketType::KeepAlive | PacketType::Credit) {
            continue;
        }
        let e = got.entry(id_of(&p)).or_default();
        e.1.extend_from_slice(p.body_bytes());
        e.2 = match p.ptype {
            PacketType::Data => !p.more,
            _ => true,
        };
        e.0.push(p);
    }
    got.into_iter()
        .map(|(k, (ps, b, _))| (k, (ps, b.freeze())))
        .collect()
}

/// Two simultaneous GETs: the origin sees one request, both clients get the response.
#[tokio::test]
async fn simultaneous_requests_share_one_origin_request() {
    let mut env = setup().await;
    request(&mut env, "s1").await;
    let z = env.zurl.first().await;
    request(&mut env, "s2").await;
    no_new_origin_request(&mut env).await;
    let id = z.id().unwrap().clone();
    env.zurl
        .send(
            &id,
            head(200, vec![Header::new("X-Origin", "1")], b"hello ", true),
        )
        .await;
    env.zurl.send(&id, body(b"world\n", false)).await;
    let got = collect(&mut env, &["s1", "s2"]).await;
    for id in ["s1", "s2"] {
        let (packets, b) = &got[id];
        let first = &packets[0];
        assert_eq!(first.code, Some(200), "{id}");
        assert_eq!(first.header_list()[0].value, "1");
        assert_eq!(b, "hello world\n", "{id}");
        // each session has its own sequence: its keep-alive was seq 0
        assert_eq!(first.seq, Some(1), "{id}");
    }
    // the key is free again: the next request goes to the origin
    request(&mut env, "s3").await;
    let z = env.zurl.first().await;
    assert_eq!(z.uri.as_deref(), Some(&b"http://example.com/slow"[..]));
    env.stop().await;
}

/// A request arriving while the response streams gets the head and body so far.
#[tokio::test]
async fn late_joiner_gets_the_response_so_far() {
    let mut env = setup().await;
    request(&mut env, "l1").await;
    let z = env.zurl.first().await;
    let id = z.id().unwrap().clone();
    env.zurl.send(&id, head(200, vec![], b"part1 ", true)).await;
    let got = loop {
        let p = env.cm.recv().await;
        if p.ptype == PacketType::Data {
            break p;
        }
    };
    assert_eq!(got.body_bytes(), b"part1 ");
    request(&mut env, "l2").await;
    // l2's head and body so far arrive without any new origin request
    let early = loop {
        let p = env.cm.recv().await;
        if p.ptype == PacketType::Data {
            break p;
        }
    };
    assert_eq!(id_of(&early), "l2");
    assert_eq!(early.code, Some(200));
    assert_eq!(early.body_bytes(), b"part1 ");
    env.zurl.send(&id, body(b"part2", false)).await;
    let got = collect(&mut env, &["l1", "l2"]).await;
    assert_eq!(got["l1"].1, "part2");
    assert_eq!(got["l2"].1, "part2");
    env.stop().await;
}

/// A GRIP response is handed over in one accept listing both clients; `accepted`
/// leaves both sessions to the handler.
#[tokio::test]
async fn grip_hold_is_accepted_for_every_client() {
    let mut env = setup().await;
    request(&mut env, "g1").await;
    let z = env.zurl.first().await;
    request(&mut env, "g2").await;
    no_new_origin_request(&mut env).await;
    let id = z.id().unwrap().clone();
    env.zurl
        .send(
            &id,
            head(
                200,
                vec![
                    Header::new("Grip-Hold", "response"),
                    Header::new("Grip-Channel", "news"),
                ],
                b"timeout\n",
                false,
            ),
        )
        .await;
    let mut starts = Vec::new();
    while starts.len() < 2 {
        let p = env.cm.recv().await;
        if p.ptype == PacketType::HandoffStart {
            starts.push(p);
        }
    }
    for p in &starts {
        let id: &'static str = if id_of(p) == "g1" { "g1" } else { "g2" };
        env.cm
            .send(&follow(id, 1, PacketType::HandoffProceed))
            .await;
    }
    let call = env.handler().accept_call().await;
    let Call::Accept(args) = call.call() else {
        panic!("expected accept");
    };
    let mut rids: Vec<Bytes> = args.requests.iter().map(|r| r.rid.id.clone()).collect();
    rids.sort();
    assert_eq!(rids, ["g1", "g2"]);
    for r in &args.requests {
        assert_eq!(
            (r.in_seq, r.out_seq),
            (2, 2),
            "keep-alive and handoff-start sent"
        );
    }
    assert_eq!(
        args.inspect.as_ref().and_then(|i| i.sharing_key.as_deref()),
        Some(KEY.as_bytes())
    );
    let result = AcceptResult {
        accepted: true,
        response: None,
    };
    env.handler()
        .accept_reply(&call, Outcome::success_with(|b| result.encode(b)))
        .await;
    // both sessions now belong to the handler: nothing more from the proxy
    assert!(env.cm.quiet_for(Duration::from_millis(300)).await);
    env.stop().await;
}

/// The handler answers the accept with a response: every client gets it.
#[tokio::test]
async fn accept_response_reaches_every_client() {
    let mut env = setup().await;
    request(&mut env, "r1").await;
    let z = env.zurl.first().await;
    request(&mut env, "r2").await;
    no_new_origin_request(&mut env).await;
    let id = z.id().unwrap().clone();
    env.zurl
        .send(
            &id,
            head(
                200,
                vec![Header::new("Content-Type", "application/grip-instruct")],
                b"{}",
                false,
            ),
        )
        .await;
    let mut started = 0;
    while started < 2 {
        let p = env.cm.recv().await;
        if p.ptype == PacketType::HandoffStart {
            let id: &'static str = if id_of(&p) == "r1" { "r1" } else { "r2" };
            env.cm
                .send(&follow(id, 1, PacketType::HandoffProceed))
                .await;
            started += 1;
        }
    }
    let call = env.handler().accept_call().await;
    let Call::Accept(args) = call.call() else {
        panic!("expected accept");
    };
    assert_eq!(args.requests.len(), 2);
    let result = AcceptResult {
        accepted: false,
        response: Some(ResponseData {
            code: 201,
            reason: Bytes::from_static(b"Created"),
            headers: vec![(Bytes::from_static(b"X-Hold"), Bytes::from_static(b"no"))],
            body: Bytes::from_static(b"no hold\n"),
        }),
    };
    env.handler()
        .accept_reply(&call, Outcome::success_with(|b| result.encode(b)))
        .await;
    let got = collect(&mut env, &["r1", "r2"]).await;
    for id in ["r1", "r2"] {
        assert_eq!(got[id].0[0].code, Some(201), "{id}");
        assert_eq!(got[id].1, "no hold\n", "{id}");
    }
    env.stop().await;
}

/// An origin failure reaches every client as 502.
#[tokio::test]
async fn failure_reaches_every_client() {
    let mut env = setup().await;
    request(&mut env, "e1").await;
    let z = env.zurl.first().await;
    request(&mut env, "e2").await;
    no_new_origin_request(&mut env).await;
    let id = z.id().unwrap().clone();
    let mut err = Packet::new(PacketType::Error);
    err.condition = Some(Condition::BadRequest);
    env.zurl.send(&id, err).await;
    let got = collect(&mut env, &["e1", "e2"]).await;
    for id in ["e1", "e2"] {
        assert_eq!(got[id].0[0].code, Some(502), "{id}");
        assert_eq!(got[id].1, "Error while proxying to origin.\n", "{id}");
    }
    env.stop().await;
}

/// The first client leaves before the origin answers: the origin request goes on and
/// the other client still gets the response.
#[tokio::test]
async fn origin_request_goes_on_when_the_first_client_leaves() {
    let mut env = setup().await;
    request(&mut env, "o1").await;
    let z = env.zurl.first().await;
    request(&mut env, "o2").await;
    no_new_origin_request(&mut env).await;
    env.cm.send(&follow("o1", 1, PacketType::Cancel)).await;
    no_new_origin_request(&mut env).await;
    let id = z.id().unwrap().clone();
    env.zurl
        .send(&id, head(200, vec![], b"still here\n", false))
        .await;
    let got = collect(&mut env, &["o2"]).await;
    assert_eq!(got["o2"].1, "still here\n");
    env.stop().await;
}

/// The first client leaves while the response streams: the other one gets all of it.
#[tokio::test]
async fn response_goes_on_when_the_first_client_leaves_mid_stream() {
    let mut env = setup().await;
    request(&mut env, "m1").await;
    let z = env.zurl.first().await;
    let id = z.id().unwrap().clone();
    env.zurl.send(&id, head(200, vec![], b"part1 ", true)).await;
    request(&mut env, "m2").await;
    let mut heads = 0;
    while heads < 2 {
        let p = env.cm.recv().await;
        if p.ptype == PacketType::Data {
            heads += 1;
        }
    }
    env.cm.send(&follow("m1", 1, PacketType::Cancel)).await;
    // zurl is credited as the bytes reach the remaining client
    let c = env.zurl.recv().await;
    assert_eq!(c.ptype, PacketType::Credit);
    env.zurl.send(&id, body(b"part2", false)).await;
    let got = collect(&mut env, &["m2"]).await;
    assert_eq!(got["m2"].1, "part2");
    env.stop().await;
}

/// The first client leaves before a GRIP response: the accept hands over the other one.
#[tokio::test]
async fn accept_without_the_client_that_left() {
    let mut env = setup().await;
    request(&mut env, "h1").await;
    let z = env.zurl.first().await;
    request(&mut env, "h2").await;
    no_new_origin_request(&mut env).await;
    env.cm.send(&follow("h1", 1, PacketType::Cancel)).await;
    let id = z.id().unwrap().clone();
    env.zurl
        .send(
            &id,
            head(
                200,
                vec![
                    Header::new("Grip-Hold", "response"),
                    Header::new("Grip-Channel", "news"),
                ],
                b"",
                false,
            ),
        )
        .await;
    // (h1 may see a handoff-start if the origin's answer overtook its cancel)
    loop {
        let p = env.cm.recv().await;
        if p.ptype == PacketType::HandoffStart && id_of(&p) == "h2" {
            break;
        }
    }
    env.cm
        .send(&follow("h2", 1, PacketType::HandoffProceed))
        .await;
    let call = env.handler().accept_call().await;
    let Call::Accept(args) = call.call() else {
        panic!("expected accept");
    };
    let rids: Vec<Bytes> = args.requests.iter().map(|r| r.rid.id.clone()).collect();
    assert_eq!(rids, ["h2"]);
    env.stop().await;
}

/// Without a sharing key, identical requests each go to the origin.
#[tokio::test]
async fn no_key_no_sharing() {
    let mut env = setup().await;
    for id in ["n1", "n2"] {
        env.cm.first(&get(id, "http://example.com/slow")).await;
        let call = env.handler().inspect_call().await;
        let Call::Inspect(args) = call.call() else {
            panic!("expected inspect");
        };
        assert!(!args.get_session, "route without the session option");
        env.handler().inspect_reply(&call, inspect_ok()).await;
    }
    let a = env.zurl.first().await;
    let b = env.zurl.first().await;
    assert_ne!(a.id(), b.id());
    env.stop().await;
}

/// Route option `session`: inspect asks for the session, the answer's sid and last ids go
/// to the origin (`Grip-Session-Id`, `Grip-Last`), and accept says `use-session`.
#[tokio::test]
async fn session_option_asks_for_and_uses_the_session() {
    let mut env = start(Setup {
        routes: "*,session 127.0.0.1:17020\n",
        ..Setup::default()
    })
    .await;
    env.cm.first(&get("x1", "http://example.com/s")).await;
    let call = env.handler().inspect_call().await;
    let Call::Inspect(args) = call.call() else {
        panic!("expected inspect");
    };
    assert!(args.get_session);
    let info = InspectInfo {
        sid: Some(Bytes::from_static(b"sess-1")),
        last_ids: vec![(Bytes::from_static(b"ch"), Bytes::from_static(b"7"))],
        ..InspectInfo::default()
    };
    env.handler()
        .inspect_reply(&call, Outcome::success_with(|b| info.encode(b)))
        .await;
    let z = env.zurl.first().await;
    assert_eq!(harness::header(&z, "Grip-Session-Id").unwrap(), "sess-1");
    assert_eq!(harness::header(&z, "Grip-Last").unwrap(), "ch; last-id=7");
    let id = z.id().unwrap().clone();
    env.zurl
        .send(
            &id,
            head(
                200,
                vec![
                    Header::new("Grip-Hold", "response"),
                    Header::new("Grip-Channel", "ch"),
                ],
                b"",
                false,
            ),
        )
        .await;
    let hs = loop {
        let p = env.cm.recv().await;
        if p.ptype != PacketType::KeepAlive {
            break p;
        }
    };
    assert_eq!(hs.ptype, PacketType::HandoffStart);
    env.cm
        .send(&follow("x1", 1, PacketType::HandoffProceed))
        .await;
    let call = env.handler().accept_call().await;
    let Call::Accept(args) = call.call() else {
        panic!("expected accept");
    };
    assert!(args.use_session);
    assert_eq!(
        args.inspect.and_then(|i| i.sid),
        Some(Bytes::from_static(b"sess-1"))
    );
    env.stop().await;
}
