//! Auto cross-origin and JSON-P (`spec/grip.md` §11) over real ZeroMQ sockets with a
//! fake zurl and handler: CORS headers on relayed and proxy-made responses, the JSON-P
//! request rewrite as zurl receives it, the wrapped responses (whole or streamed in
//! pieces), the `400` for an empty callback, and the JSON-P state in `accept`.
//! Expected bytes are those of `spec/vectors/grip/auto-cross-origin-jsonp.txt`.

#[path = "support/harness.rs"]
mod harness;

use bytes::Bytes;
use harness::{Setup, follow, get, header, inspect_ok, start};
use pushpin_internal::Call;
use pushpin_internal::zrpc::Outcome;
use pushpin_zhttp::{Header, Packet, PacketType};

const ROUTES: &str = "*,path_beg=/aco/,replace_beg=/,aco 127.0.0.1:17020\n\
                      *,path_beg=/acob/,replace_beg=/,aco,jsonp_mode=basic 127.0.0.1:17020\n\
                      * 127.0.0.1:17020\n";

fn setup(routes: &str) -> Setup<'_> {
    Setup {
        routes,
        with_handler: false,
        ..Setup::default()
    }
}

fn plain_head(more: bool) -> Packet {
    Packet {
        code: Some(200),
        reason: Some(Bytes::from_static(b"OK")),
        headers: Some(vec![
            Header::new("Content-Type", "text/plain"),
            Header::new("X-Foo", "bar"),
            Header::new("Content-Length", "6"),
        ]),
        body: Some(Bytes::from_static(if more { b"hel" } else { b"hello\n" })),
        more,
        ..Packet::default()
    }
}

fn names_values(p: &Packet) -> Vec<(String, String)> {
    p.header_list()
        .iter()
        .map(|h| {
            (
                String::from_utf8_lossy(&h.name).into_owned(),
                String::from_utf8_lossy(&h.value).into_owned(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| ((*n).to_string(), (*v).to_string()))
        .collect()
}

fn with_headers(mut p: Packet, extra: &[(&str, &str)]) -> Packet {
    if let Some(h) = p.headers.as_mut() {
        for (n, v) in extra {
            h.push(Header::new(n.to_string(), v.to_string()));
        }
    }
    p
}

/// An `aco` route: a preflight is forwarded and its response gets the CORS headers after
/// its own; a route without `aco` relays the response untouched.
#[tokio::test]
async fn cors_headers_on_relayed_responses() {
    let mut env = start(setup(ROUTES)).await;
    let mut req = with_headers(
        get("c1", "http://e/aco/plain"),
        &[
            ("Origin", "http://a.com"),
            ("Access-Control-Request-Method", "PUT"),
            ("Access-Control-Request-Headers", "X-One, X-Two"),
        ],
    );
    req.method = Some(Bytes::from_static(b"OPTIONS"));
    env.cm.first(&req).await;
    let _ka = env.cm.recv().await;
    let z = env.zurl.first().await;
    assert_eq!(z.method.as_deref(), Some(&b"OPTIONS"[..]));
    assert_eq!(z.uri.as_deref(), Some(&b"http://e/plain"[..]));
    let id = z.id().unwrap().clone();
    let mut resp = plain_head(false);
    if let Some(h) = resp.headers.as_mut() {
        h.push(Header::new("Transfer-Encoding", "chunked"));
        h.push(Header::new("access-control-max-age", "10"));
    }
    env.zurl.send(&id, resp).await;
    let (head, body) = env.cm.response().await;
    assert_eq!(body, "hello\n");
    assert_eq!(
        names_values(&head),
        pairs(&[
            ("Content-Type", "text/plain"),
            ("X-Foo", "bar"),
            ("Content-Length", "6"),
            ("access-control-max-age", "10"),
            ("Access-Control-Allow-Methods", "PUT"),
            ("Access-Control-Allow-Headers", "X-One, X-Two"),
            ("Access-Control-Expose-Headers", "X-Foo"),
            ("Access-Control-Allow-Credentials", "true"),
            ("Access-Control-Allow-Origin", "http://a.com"),
        ])
    );

    env.cm.first(&get("c2", "http://e/other")).await;
    let _ka = env.cm.recv().await;
    let z = env.zurl.first().await;
    let id = z.id().unwrap().clone();
    env.zurl.send(&id, plain_head(false)).await;
    let (head, _) = env.cm.response().await;
    assert!(header(&head, "Access-Control-Allow-Origin").is_none());
    env.stop().await;
}

/// JSON-P extended mode: the callback leaves the query, `Accept: */*` replaces the
/// client's, and the response (here in two packets) is wrapped whole.
#[tokio::test]
async fn jsonp_extended_wraps_the_response() {
    let mut env = start(setup(ROUTES)).await;
    let req = with_headers(
        get("j1", "http://e/aco/plain?callback=cb&x=1"),
        &[("Accept", "text/html")],
    );
    env.cm.first(&req).await;
    let _ka = env.cm.recv().await;
    let z = env.zurl.first().await;
    assert_eq!(z.method.as_deref(), Some(&b"GET"[..]));
    assert_eq!(z.uri.as_deref(), Some(&b"http://e/plain?x=1"[..]));
    assert_eq!(header(&z, "Accept").unwrap(), "*/*");
    assert_eq!(
        z.header_list().iter().filter(|h| h.is(b"Accept")).count(),
        1
    );
    let id = z.id().unwrap().clone();
    env.zurl.send(&id, plain_head(true)).await;
    env.zurl
        .send(
            &id,
            Packet {
                body: Some(Bytes::from_static(b"lo\n")),
                ..Packet::default()
            },
        )
        .await;
    let (head, body) = env.cm.response().await;
    assert_eq!(
        (head.code, head.reason.as_deref()),
        (Some(200), Some(&b"OK"[..]))
    );
    assert_eq!(
        names_values(&head),
        pairs(&[
            ("Content-Type", "application/javascript"),
            ("Content-Length", "135"),
        ])
    );
    assert_eq!(
        body,
        "/**/cb({\"code\": 200, \"reason\": \"OK\", \"headers\": {\"Content-Length\":\"6\",\"Content-Type\":\"text/plain\",\"X-Foo\":\"bar\"}, \"body\": \"hello\\n\"});\n"
    );
    env.stop().await;
}

/// JSON-P basic mode with `_method`, `_headers` and `_body`: the origin gets a `PUT`
/// with the body and header; the client gets the body alone in the callback.
#[tokio::test]
async fn jsonp_basic_with_method_headers_and_body() {
    let mut env = start(setup(ROUTES)).await;
    env.cm
        .first(&get(
            "b1",
            "http://e/acob/plain?callback=cb&_method=PUT&_headers=%7B%22X-H%22%3A%22v%22%7D&_body=hello",
        ))
        .await;
    let _ka = env.cm.recv().await;
    let z = env.zurl.first().await;
    assert_eq!(z.method.as_deref(), Some(&b"PUT"[..]));
    assert_eq!(z.uri.as_deref(), Some(&b"http://e/plain"[..]));
    assert_eq!(header(&z, "X-H").unwrap(), "v");
    assert_eq!(z.body_bytes(), b"hello");
    assert!(!z.more);
    let id = z.id().unwrap().clone();
    env.zurl.send(&id, plain_head(false)).await;
    let (head, body) = env.cm.response().await;
    assert_eq!(head.code, Some(200));
    assert_eq!(body, "/**/cb(hello);\n");

    // basic mode turns a plain JSON-P GET into a POST
    env.cm
        .first(&get("b2", "http://e/acob/plain?callback=cb"))
        .await;
    let _ka = env.cm.recv().await;
    let z = env.zurl.first().await;
    assert_eq!(z.method.as_deref(), Some(&b"POST"[..]));
    env.stop().await;
}

/// An empty callback is refused with 1.36's `400`, CORS headers included, and nothing
/// reaches the origin; with `auto_cross_origin=true` a request without a route gets
/// CORS headers on its `502`.
#[tokio::test]
async fn bad_callback_and_global_aco() {
    let mut env = start(setup(ROUTES)).await;
    env.cm
        .first(&get("e1", "http://e/aco/plain?callback="))
        .await;
    let (head, body) = env.cm.response().await;
    assert_eq!(head.code, Some(400));
    assert_eq!(body, "Invalid callback parameter.\n");
    assert_eq!(
        names_values(&head),
        pairs(&[
            ("Content-Type", "text/plain"),
            (
                "Access-Control-Allow-Methods",
                "OPTIONS, HEAD, GET, POST, PUT, DELETE"
            ),
            ("Access-Control-Allow-Credentials", "true"),
            ("Access-Control-Allow-Origin", "*"),
            ("Access-Control-Max-Age", "3600"),
        ])
    );
    env.stop().await;

    let mut env = start(Setup {
        routes: "example.com 127.0.0.1:17020\n",
        proxy_extra: "auto_cross_origin=true",
        with_handler: false,
    })
    .await;
    env.cm
        .first(&with_headers(
            get("n1", "http://nowhere/x"),
            &[("Origin", "http://o.com")],
        ))
        .await;
    let (head, body) = env.cm.response().await;
    assert_eq!(head.code, Some(502));
    assert_eq!(body, "No route for host: nowhere\n");
    assert_eq!(
        header(&head, "Access-Control-Allow-Origin").unwrap(),
        "http://o.com"
    );
    env.stop().await;
}

/// A JSON-P response larger than the buffer is streamed in its wrapper, and zurl is
/// credited for what reached the client.
#[tokio::test]
async fn large_jsonp_response_is_streamed() {
    let mut env = start(setup(ROUTES)).await;
    let mut req = get("s1", "http://e/acob/big?callback=f");
    req.credits = Some(1_000_000);
    env.cm.first(&req).await;
    let _ka = env.cm.recv().await;
    let z = env.zurl.first().await;
    let id = z.id().unwrap().clone();
    let chunk = Bytes::from(vec![b'a'; 60_000]);
    env.zurl
        .send(
            &id,
            Packet {
                code: Some(200),
                reason: Some(Bytes::from_static(b"OK")),
                headers: Some(vec![Header::new("Content-Type", "text/plain")]),
                body: Some(chunk.clone()),
                more: true,
                ..Packet::default()
            },
        )
        .await;
    env.zurl
        .send(
            &id,
            Packet {
                body: Some(chunk.clone()),
                more: true,
                ..Packet::default()
            },
        )
        .await;
    let first = env.cm.recv().await;
    assert_eq!(first.code, Some(200));
    assert_eq!(
        header(&first, "Content-Type").unwrap(),
        "application/javascript"
    );
    assert!(header(&first, "Content-Length").is_none());
    assert!(first.more);
    let mut body = first.body_bytes().to_vec();
    // zurl gets credits back for the 120000 origin bytes
    let c = env.zurl.recv().await;
    assert_eq!((c.ptype, c.credits), (PacketType::Credit, Some(120_000)));
    env.zurl
        .send(
            &id,
            Packet {
                body: Some(Bytes::from_static(b"end\n")),
                ..Packet::default()
            },
        )
        .await;
    loop {
        let p = env.cm.recv().await;
        if p.ptype != PacketType::Data {
            continue;
        }
        body.extend_from_slice(p.body_bytes());
        if !p.more {
            break;
        }
    }
    let mut expected = b"/**/f(".to_vec();
    expected.extend(std::iter::repeat_n(b'a', 120_000));
    expected.extend_from_slice(b"end);\n");
    assert_eq!(body.len(), expected.len());
    assert!(body == expected);
    env.stop().await;
}

/// A GRIP response to a JSON-P request: the accept tells the handler to wrap what it
/// sends (`auto-cross-origin`, `jsonp-callback`, `jsonp-extended-response`), and a
/// `response` answered by the handler is wrapped by the proxy.
#[tokio::test]
async fn accept_carries_the_jsonp_state() {
    let mut env = start(Setup {
        routes: ROUTES,
        ..Setup::default()
    })
    .await;
    env.cm
        .first(&get("g1", "http://e/aco/lp?callback=cb&ch=a"))
        .await;
    let call = env.handler().inspect_call().await;
    let Call::Inspect(args) = call.call() else {
        panic!("expected inspect");
    };
    assert_eq!(args.request.uri, "http://e/aco/lp?ch=a");
    env.handler().inspect_reply(&call, inspect_ok()).await;
    let _ka = env.cm.recv().await;
    let z = env.zurl.first().await;
    let id = z.id().unwrap().clone();
    env.zurl
        .send(
            &id,
            Packet {
                code: Some(200),
                reason: Some(Bytes::from_static(b"OK")),
                headers: Some(vec![
                    Header::new("Grip-Hold", "response"),
                    Header::new("Grip-Channel", "a"),
                ]),
                body: Some(Bytes::from_static(b"timeout\n")),
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
    let state = &args.requests[0];
    assert!(state.auto_cross_origin);
    assert_eq!(state.jsonp_callback.as_deref(), Some(&b"cb"[..]));
    assert!(state.jsonp_extended_response);
    assert_eq!(args.request_data.uri, "http://e/lp?ch=a");
    // the handler answers with a response instead of taking the session
    let result = pushpin_internal::AcceptResult {
        accepted: false,
        response: Some(pushpin_internal::ResponseData {
            code: 200,
            reason: Bytes::from_static(b"OK"),
            headers: vec![(
                Bytes::from_static(b"Content-Type"),
                Bytes::from_static(b"text/plain"),
            )],
            body: Bytes::from_static(b"hi\n"),
        }),
    };
    env.handler()
        .accept_reply(&call, Outcome::success_with(|b| result.encode(b)))
        .await;
    let (head, body) = env.cm.response().await;
    assert_eq!(head.code, Some(200));
    assert_eq!(
        body,
        "/**/cb({\"code\": 200, \"reason\": \"OK\", \"headers\": {\"Content-Type\":\"text/plain\"}, \"body\": \"hi\\n\"});\n"
    );
    env.stop().await;
}
