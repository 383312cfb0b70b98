//! SockJS (`sockjs=` routes) over real ZeroMQ sockets: a fake connection manager plays
//! the SockJS client's HTTP requests and WebSockets, the fake zurl plays a WebSocket
//! backend. Checks `/info`, the iframe page, `OPTIONS` and the error answers against
//! what Pushpin 1.36 answered (`vectors/sockjs/*.http`, recorded with curl through
//! 1.36.0 with condure; `Content-Length` is condure's and not compared), the raw and
//! framed WebSocket transports, and the `xhr`/`xhr_send`/`jsonp`/`jsonp_send`
//! transports against the backend.

#[path = "support/harness.rs"]
mod harness;

use bytes::Bytes;
use harness::{Env, Setup, follow, get, header, start};
use pushpin_zhttp::{ContentType, Header, Id, Packet, PacketType};

const SOCKJS_URL: &str = "http://cdn.jsdelivr.net/sockjs/0.3.4/sockjs.min.js";

async fn env() -> Env {
    start(Setup {
        routes: "*,sockjs=/sockjs localhost:8080\n",
        proxy_extra: "sockjs_url=http://cdn.jsdelivr.net/sockjs/0.3.4/sockjs.min.js",
        with_handler: false,
    })
    .await
}

/// Packets to the connection manager, sorted by session id.
#[derive(Default)]
struct Mux {
    pending: Vec<Packet>,
}

impl Mux {
    /// The next packet for `id` that is not a credit or keep-alive.
    async fn next(&mut self, env: &mut Env, id: &str) -> Packet {
        loop {
            if let Some(i) = self.pending.iter().position(|p| is_for(p, id)) {
                return self.pending.remove(i);
            }
            let p = env.cm.recv().await;
            if matches!(p.ptype, PacketType::Credit | PacketType::KeepAlive) {
                continue;
            }
            self.pending.push(p);
        }
    }

    /// The first complete HTTP response for any of `ids`: (id, body).
    async fn first_response(
        &mut self,
        env: &mut Env,
        ids: &[&'static str],
    ) -> (&'static str, Bytes) {
        loop {
            if let Some(id) = ids
                .iter()
                .find(|id| self.pending.iter().any(|p| is_for(p, id)))
            {
                let (_, body) = self.response(env, id).await;
                return (id, body);
            }
            let p = env.cm.recv().await;
            if !matches!(p.ptype, PacketType::Credit | PacketType::KeepAlive) {
                self.pending.push(p);
            }
        }
    }

    /// Waits for the proxy's first keep-alive to `id` (it has the session).
    async fn wait_ack(&mut self, env: &mut Env, id: &str) {
        loop {
            let p = env.cm.recv().await;
            if is_for(&p, id) && p.ptype == PacketType::KeepAlive {
                return;
            }
            if !matches!(p.ptype, PacketType::Credit | PacketType::KeepAlive) {
                self.pending.push(p);
            }
        }
    }

    /// A complete HTTP response for `id`: (head, body).
    async fn response(&mut self, env: &mut Env, id: &str) -> (Packet, Bytes) {
        let head = self.next(env, id).await;
        assert_eq!(head.ptype, PacketType::Data, "{head:?}");
        let mut body = head.body_bytes().to_vec();
        let mut more = head.more;
        while more {
            let p = self.next(env, id).await;
            body.extend_from_slice(p.body_bytes());
            more = p.more;
        }
        (head, Bytes::from(body))
    }
}

fn is_for(p: &Packet, id: &str) -> bool {
    p.id().is_some_and(|i| i.0 == id.as_bytes())
}

fn request(id: &'static str, method: &str, path: &str, body: &[u8]) -> Packet {
    let mut p = get(id, &format!("http://example.com{path}"));
    p.method = Some(Bytes::from(method.to_string()));
    if !body.is_empty() {
        p.body = Some(Bytes::copy_from_slice(body));
    }
    p
}

fn handshake(id: &'static str, path: &str) -> Packet {
    let mut p = get(id, &format!("ws://example.com{path}"));
    p.stream = false;
    p.credits = Some(100_000);
    if let Some(h) = p.headers.as_mut() {
        h.push(Header::new("Upgrade", "websocket"));
        h.push(Header::new("Sec-WebSocket-Key", "abc"));
    }
    p
}

fn accept() -> Packet {
    Packet {
        code: Some(101),
        reason: Some(Bytes::from_static(b"Switching Protocols")),
        headers: Some(vec![
            Header::new("Upgrade", "websocket"),
            Header::new("X-Backend", "yes"),
        ]),
        credits: Some(100_000),
        ..Packet::default()
    }
}

fn text(body: &str) -> Packet {
    Packet {
        body: Some(Bytes::from(body.to_string())),
        content_type: Some(ContentType::Text),
        ..Packet::default()
    }
}

fn ws_text(id: &'static str, seq: u32, body: &str) -> Packet {
    let mut p = follow(id, seq, PacketType::Data);
    p.body = Some(Bytes::from(body.to_string()));
    p.content_type = Some(ContentType::Text);
    p
}

/// The next packet to the backend that is not a credit or keep-alive.
async fn backend_packet(env: &mut Env) -> Packet {
    loop {
        let p = env.zurl.recv().await;
        if !matches!(p.ptype, PacketType::Credit | PacketType::KeepAlive) {
            return p;
        }
    }
}

/// A response recorded from 1.36: status code, reason, headers, body.
struct Recorded {
    code: u16,
    reason: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn recorded(name: &str) -> Recorded {
    let path = format!("{}/tests/vectors/sockjs/{name}", env!("CARGO_MANIFEST_DIR"));
    let raw = std::fs::read(path).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = std::str::from_utf8(&raw[..split]).unwrap();
    let body = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap();
    let mut parts = status.splitn(3, ' ');
    let _ = parts.next();
    let code = parts.next().unwrap().parse().unwrap();
    let reason = parts.next().unwrap().to_string();
    let headers = lines
        .map(|l| {
            let (n, v) = l.split_once(": ").unwrap();
            (n.to_string(), v.to_string())
        })
        .filter(|(n, _)| n != "Content-Length")
        .collect();
    Recorded {
        code,
        reason,
        headers,
        body,
    }
}

fn headers_of(p: &Packet) -> Vec<(String, String)> {
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

fn assert_matches_1_36(name: &str, head: &Packet, body: &[u8]) {
    let want = recorded(name);
    assert_eq!(head.code, Some(want.code), "{name}");
    assert_eq!(
        head.reason.as_deref(),
        Some(want.reason.as_bytes()),
        "{name}"
    );
    assert_eq!(headers_of(head), want.headers, "{name}");
    assert_eq!(
        String::from_utf8_lossy(body),
        String::from_utf8_lossy(&want.body),
        "{name}"
    );
}

/// Replaces the entropy value of an `/info` body.
fn without_entropy(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(body).into_owned();
    let start = s.find("\"entropy\":").unwrap() + "\"entropy\":".len();
    let end = start + s[start..].find(',').unwrap();
    assert!(s[start..end].parse::<u32>().is_ok(), "{s}");
    format!("{}N{}", &s[..start], &s[end..])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_match_1_36() {
    let mut env = env().await;
    let mut mux = Mux::default();

    env.cm
        .first(&request("i1", "GET", "/sockjs/info", b""))
        .await;
    let (head, body) = mux.response(&mut env, "i1").await;
    let want = recorded("info.http");
    assert_eq!(head.code, Some(200));
    assert_eq!(headers_of(&head), want.headers);
    assert_eq!(without_entropy(&body), without_entropy(&want.body));

    let mut p = request("i2", "GET", "/sockjs/info", b"");
    p.headers
        .as_mut()
        .unwrap()
        .push(Header::new("Origin", "http://foo"));
    env.cm.first(&p).await;
    let (head, body) = mux.response(&mut env, "i2").await;
    let want = recorded("info-origin.http");
    assert_eq!(headers_of(&head), want.headers);
    assert_eq!(without_entropy(&body), without_entropy(&want.body));

    env.cm
        .first(&request("f1", "GET", "/sockjs/iframe.html", b""))
        .await;
    let (head, body) = mux.response(&mut env, "f1").await;
    assert_matches_1_36("iframe.http", &head, &body);
    assert!(String::from_utf8_lossy(&body).contains(SOCKJS_URL));

    let mut p = request("f2", "GET", "/sockjs/iframe-0.3.4.html", b"");
    p.headers.as_mut().unwrap().push(Header::new(
        "If-None-Match",
        "\"64c0a4ebd4572b4443cb844140a070c5\"",
    ));
    env.cm.first(&p).await;
    let (head, body) = mux.response(&mut env, "f2").await;
    assert_matches_1_36("iframe-304.http", &head, &body);

    let mut p = request("o1", "OPTIONS", "/sockjs/000/abc/xhr", b"");
    p.headers
        .as_mut()
        .unwrap()
        .push(Header::new("Origin", "http://foo"));
    env.cm.first(&p).await;
    let (head, body) = mux.response(&mut env, "o1").await;
    assert_matches_1_36("options.http", &head, &body);

    for (id, method, path, vector) in [
        ("n1", "GET", "/sockjs/nope", "not-found.http"),
        // 1.36 has no streaming transports
        (
            "n2",
            "POST",
            "/sockjs/000/abc/xhr_streaming",
            "xhr-streaming.http",
        ),
        ("n3", "GET", "/sockjs/000/abc/eventsource", "not-found.http"),
        (
            "n4",
            "GET",
            "/sockjs/000/abc/htmlfile?c=x",
            "not-found.http",
        ),
        // sending to an unknown session
        ("n5", "POST", "/sockjs/000/zzz/xhr_send", "not-found.http"),
        (
            "n6",
            "GET",
            "/sockjs/000/abc/jsonp",
            "jsonp-no-callback.http",
        ),
    ] {
        env.cm.first(&request(id, method, path, b"[\"x\"]")).await;
        let (head, body) = mux.response(&mut env, id).await;
        assert_matches_1_36(vector, &head, &body);
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_websocket_passes_frames_through() {
    let mut env = env().await;
    let mut mux = Mux::default();
    env.cm
        .first(&handshake("w1", "/sockjs/websocket?x=1"))
        .await;
    let z = env.zurl.first().await;
    let uri = String::from_utf8_lossy(z.uri.as_ref().unwrap()).into_owned();
    assert!(uri.ends_with("/sockjs/websocket?x=1"), "{uri}");
    let zid = z.id().unwrap().clone();
    env.zurl.send(&zid, accept()).await;
    let p = mux.next(&mut env, "w1").await;
    assert_eq!(p.code, Some(101));
    assert_eq!(header(&p, "X-Backend").unwrap(), "yes");
    env.cm.send(&ws_text("w1", 1, "raw")).await;
    let p = backend_packet(&mut env).await;
    assert_eq!(p.body_bytes(), b"raw");
    env.zurl.send(&zid, text("back")).await;
    let p = mux.next(&mut env, "w1").await;
    assert_eq!(p.body_bytes(), b"back");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn framed_websocket() {
    let mut env = env().await;
    let mut mux = Mux::default();
    env.cm
        .first(&handshake("w2", "/sockjs/000/sess/websocket"))
        .await;
    let z = env.zurl.first().await;
    let uri = String::from_utf8_lossy(z.uri.as_ref().unwrap()).into_owned();
    assert!(
        uri.starts_with("ws://") && uri.ends_with("/sockjs/websocket"),
        "{uri}"
    );
    let zid = z.id().unwrap().clone();
    env.zurl.send(&zid, accept()).await;
    let p = mux.next(&mut env, "w2").await;
    assert_eq!(p.code, Some(101));
    assert_eq!(header(&p, "X-Backend").unwrap(), "yes");
    let p = mux.next(&mut env, "w2").await;
    assert_eq!(p.body_bytes(), b"o");

    // client frames carry arrays of messages
    env.cm
        .send(&ws_text("w2", 1, "[\"one\",\"tw\\\"o\"]"))
        .await;
    assert_eq!(backend_packet(&mut env).await.body_bytes(), b"one");
    assert_eq!(backend_packet(&mut env).await.body_bytes(), b"tw\"o");

    // backend messages are wrapped one per frame, quoted as 1.36 (Qt)
    env.zurl.send(&zid, text("hi \u{2028} \"q\" / \u{1}")).await;
    let p = mux.next(&mut env, "w2").await;
    assert_eq!(
        String::from_utf8_lossy(p.body_bytes()),
        "a[\"hi \u{2028} \\\"q\\\" / \\u0001\"]"
    );

    // a fragmented backend message arrives whole
    let mut part = text("ab");
    part.more = true;
    env.zurl.send(&zid, part).await;
    env.zurl
        .send(
            &zid,
            Packet {
                body: Some(Bytes::from_static(b"cd")),
                ..Packet::default()
            },
        )
        .await;
    let p = mux.next(&mut env, "w2").await;
    assert_eq!(p.body_bytes(), b"a[\"abcd\"]");

    // the backend's close passes through as a close
    env.zurl
        .send(
            &zid,
            Packet {
                ptype: PacketType::Close,
                code: Some(3000),
                body: Some(Bytes::from_static(b"bye")),
                ..Packet::default()
            },
        )
        .await;
    let p = mux.next(&mut env, "w2").await;
    assert_eq!(p.ptype, PacketType::Close);
    assert_eq!(p.code, Some(3000));
    assert_eq!(p.body_bytes(), b"bye");
    let mut c = follow("w2", 2, PacketType::Close);
    c.code = Some(3000);
    env.cm.send(&c).await;
    let p = backend_packet(&mut env).await;
    assert_eq!(p.ptype, PacketType::Close);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn framed_websocket_bad_frame_drops_both() {
    let mut env = env().await;
    let mut mux = Mux::default();
    env.cm
        .first(&handshake("w3", "/sockjs/1/s/websocket"))
        .await;
    let z = env.zurl.first().await;
    let zid = z.id().unwrap().clone();
    env.zurl.send(&zid, accept()).await;
    assert_eq!(mux.next(&mut env, "w3").await.code, Some(101));
    assert_eq!(mux.next(&mut env, "w3").await.body_bytes(), b"o");
    env.cm.send(&ws_text("w3", 1, "not json")).await;
    assert_eq!(mux.next(&mut env, "w3").await.ptype, PacketType::Cancel);
    assert_eq!(backend_packet(&mut env).await.ptype, PacketType::Cancel);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_unknown_path_is_404() {
    let mut env = env().await;
    let mut mux = Mux::default();
    env.cm.first(&handshake("w4", "/sockjs/a/b")).await;
    let p = mux.next(&mut env, "w4").await;
    assert_eq!(p.ptype, PacketType::Error);
    assert_eq!(p.code, Some(404));
    assert_eq!(p.body_bytes(), b"Not Found\n");
    env.stop().await;
}

/// Opens an xhr session `sid` (request `id`) and returns the backend's request id.
async fn open_xhr(env: &mut Env, mux: &mut Mux, id: &'static str, sid: &str) -> Id {
    env.cm
        .first(&request(id, "POST", &format!("/sockjs/000/{sid}/xhr"), b""))
        .await;
    let z = env.zurl.first().await;
    let uri = String::from_utf8_lossy(z.uri.as_ref().unwrap()).into_owned();
    assert!(
        uri.starts_with("ws://") && uri.ends_with("/sockjs"),
        "{uri}"
    );
    let zid = z.id().unwrap().clone();
    env.zurl.send(&zid, accept()).await;
    let (head, body) = mux.response(env, id).await;
    assert_eq!(head.code, Some(200));
    assert_eq!(header(&head, "Content-Type").unwrap(), "text/plain");
    assert_eq!(body, "o\n");
    zid
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xhr_polling() {
    let mut env = env().await;
    let mut mux = Mux::default();
    let zid = open_xhr(&mut env, &mut mux, "x1", "s1").await;

    // send: messages reach the backend, the answer is `ok`
    env.cm
        .first(&request(
            "x2",
            "POST",
            "/sockjs/000/s1/xhr_send",
            b"[\"a\",\"b\"]",
        ))
        .await;
    let (head, body) = mux.response(&mut env, "x2").await;
    assert_eq!(head.code, Some(200));
    assert_eq!(body, "ok");
    assert_eq!(backend_packet(&mut env).await.body_bytes(), b"a");
    assert_eq!(backend_packet(&mut env).await.body_bytes(), b"b");

    // bad payloads
    for (id, payload, message) in [
        ("x3", &b"nope"[..], "Payload expected\n"),
        ("x4", b"[1]", "Payload expected\n"),
    ] {
        env.cm
            .first(&request(id, "POST", "/sockjs/000/s1/xhr_send", payload))
            .await;
        let (head, body) = mux.response(&mut env, id).await;
        assert_eq!(head.code, Some(400));
        assert_eq!(body, message);
    }

    // backend messages wait for the next poll, all pending in one frame (m2 may not
    // have reached the session when the first poll comes)
    env.zurl.send(&zid, text("m1")).await;
    env.zurl.send(&zid, text("m2")).await;
    env.cm
        .first(&request("x5", "POST", "/sockjs/000/s1/xhr", b""))
        .await;
    let (_, body) = mux.response(&mut env, "x5").await;
    if body == "a[\"m1\"]\n" {
        env.cm
            .first(&request("x5b", "POST", "/sockjs/000/s1/xhr", b""))
            .await;
        let (_, body) = mux.response(&mut env, "x5b").await;
        assert_eq!(body, "a[\"m2\"]\n");
    } else {
        assert_eq!(body, "a[\"m1\",\"m2\"]\n");
    }

    // a poll waits for a message; a second poll meanwhile is refused
    env.cm
        .first(&request("x6", "POST", "/sockjs/000/s1/xhr", b""))
        .await;
    env.cm
        .first(&request("x7", "POST", "/sockjs/000/s1/xhr", b""))
        .await;
    // (either may reach the session first)
    let (refused, body) = mux.first_response(&mut env, &["x6", "x7"]).await;
    assert_eq!(body, "c[2010,\"Another connection still open\"]\n");
    let open = if refused == "x6" { "x7" } else { "x6" };
    env.zurl.send(&zid, text("m3")).await;
    let (_, body) = mux.response(&mut env, open).await;
    assert_eq!(body, "a[\"m3\"]\n");

    // the backend closes: the next poll gets the close, later ones too (linger)
    env.zurl
        .send(
            &zid,
            Packet {
                ptype: PacketType::Close,
                code: Some(3000),
                body: Some(Bytes::from_static(b"Go away!")),
                ..Packet::default()
            },
        )
        .await;
    env.cm
        .first(&request("x8", "POST", "/sockjs/000/s1/xhr", b""))
        .await;
    let (_, body) = mux.response(&mut env, "x8").await;
    assert_eq!(body, "c[3000,\"Go away!\"]\n");
    let p = backend_packet(&mut env).await;
    assert_eq!(p.ptype, PacketType::Close);
    env.cm
        .first(&request("x9", "POST", "/sockjs/000/s1/xhr", b""))
        .await;
    let (_, body) = mux.response(&mut env, "x9").await;
    assert_eq!(body, "c[3000,\"Go away!\"]\n");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xhr_poll_disconnect_closes() {
    let mut env = env().await;
    let mut mux = Mux::default();
    let zid = open_xhr(&mut env, &mut mux, "y1", "s2").await;
    env.cm
        .first(&request("y2", "POST", "/sockjs/000/s2/xhr", b""))
        .await;
    // the client walks away from its poll (once the proxy has its session)
    mux.wait_ack(&mut env, "y2").await;
    env.cm.send(&follow("y2", 1, PacketType::Cancel)).await;
    let p = backend_packet(&mut env).await;
    assert_eq!(p.ptype, PacketType::Close);
    env.cm
        .first(&request("y3", "POST", "/sockjs/000/s2/xhr", b""))
        .await;
    let (_, body) = mux.response(&mut env, "y3").await;
    assert_eq!(body, "c[3000,\"Client already closed connection\"]\n");
    env.zurl
        .send(
            &zid,
            Packet {
                ptype: PacketType::Close,
                ..Packet::default()
            },
        )
        .await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jsonp_polling() {
    let mut env = env().await;
    let mut mux = Mux::default();
    env.cm
        .first(&request("j1", "GET", "/sockjs/000/s3/jsonp?c=cb", b""))
        .await;
    let z = env.zurl.first().await;
    let zid = z.id().unwrap().clone();
    env.zurl.send(&zid, accept()).await;
    let (head, body) = mux.response(&mut env, "j1").await;
    assert_eq!(
        header(&head, "Content-Type").unwrap(),
        "application/javascript"
    );
    assert_eq!(body, "/**/cb(\"o\");\n");

    env.cm
        .first(&request(
            "j2",
            "POST",
            "/sockjs/000/s3/jsonp_send?c=cb",
            b"d=%5B%22hey%22%5D",
        ))
        .await;
    let (_, body) = mux.response(&mut env, "j2").await;
    assert_eq!(body, "/**/cb(\"ok\");\n");
    assert_eq!(backend_packet(&mut env).await.body_bytes(), b"hey");

    env.zurl.send(&zid, text("r\"1")).await;
    env.cm
        .first(&request(
            "j3",
            "GET",
            "/sockjs/000/s3/jsonp?callback=f",
            b"",
        ))
        .await;
    let (_, body) = mux.response(&mut env, "j3").await;
    assert_eq!(body, "/**/f(\"a[\\\"r\\\\\\\"1\\\"]\");\n");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejection_is_relayed_with_sockjs_headers() {
    let mut env = env().await;
    let mut mux = Mux::default();
    env.cm
        .first(&request("r1", "POST", "/sockjs/000/s4/xhr", b""))
        .await;
    let z = env.zurl.first().await;
    let zid = z.id().unwrap().clone();
    env.zurl
        .send(
            &zid,
            Packet {
                ptype: PacketType::Error,
                condition: Some(pushpin_zhttp::Condition::Rejected),
                code: Some(403),
                reason: Some(Bytes::from_static(b"Forbidden")),
                headers: Some(vec![Header::new("X-Why", "no")]),
                body: Some(Bytes::from_static(b"denied\n")),
                ..Packet::default()
            },
        )
        .await;
    let (head, body) = mux.response(&mut env, "r1").await;
    assert_eq!(head.code, Some(403));
    assert_eq!(
        headers_of(&head),
        vec![
            ("X-Why".to_string(), "no".to_string()),
            (
                "Cache-Control".to_string(),
                "no-store, no-cache, must-revalidate, max-age=0".to_string()
            ),
            ("Access-Control-Allow-Origin".to_string(), "*".to_string()),
            (
                "Access-Control-Allow-Credentials".to_string(),
                "true".to_string()
            ),
        ]
    );
    assert_eq!(body, "denied\n");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_backend_answers_as_1_36() {
    let mut env = env().await;
    let mut mux = Mux::default();
    env.cm
        .first(&request("u1", "POST", "/sockjs/000/abc/xhr", b""))
        .await;
    let z = env.zurl.first().await;
    let zid = z.id().unwrap().clone();
    env.zurl
        .send(
            &zid,
            Packet {
                ptype: PacketType::Error,
                condition: Some(pushpin_zhttp::Condition::RemoteConnectionFailed),
                ..Packet::default()
            },
        )
        .await;
    let (head, body) = mux.response(&mut env, "u1").await;
    assert_matches_1_36("xhr-no-backend.http", &head, &body);
    // the session is gone: sending to it is 404
    env.cm
        .first(&request(
            "u2",
            "POST",
            "/sockjs/000/abc/xhr_send",
            b"[\"x\"]",
        ))
        .await;
    let (head, _) = mux.response(&mut env, "u2").await;
    assert_eq!(head.code, Some(404));
    env.stop().await;
}

/// A WebSocket-over-HTTP backend answer carrying `events`.
fn events(body: &[u8]) -> Packet {
    Packet {
        code: Some(200),
        reason: Some(Bytes::from_static(b"OK")),
        headers: Some(vec![Header::new(
            "Content-Type",
            "application/websocket-events",
        )]),
        body: Some(Bytes::copy_from_slice(body)),
        ..Packet::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xhr_over_websocket_over_http_backend() {
    let mut env = start(Setup {
        routes: "*,sockjs=/sockjs,sockjs_as_path=/backend localhost:8080,over_http\n",
        proxy_extra: "",
        with_handler: false,
    })
    .await;
    let mut mux = Mux::default();
    env.cm
        .first(&request("h1", "POST", "/sockjs/000/s9/xhr?k=v", b""))
        .await;
    let open = env.zurl.first().await;
    assert_eq!(
        open.uri.as_deref(),
        Some(&b"http://example.com/backend?k=v"[..])
    );
    assert_eq!(open.body_bytes(), b"OPEN\r\n");
    let zid = open.id().unwrap().clone();
    env.zurl
        .send(&zid, events(b"OPEN\r\nTEXT 5\r\nhello\r\n"))
        .await;
    let (_, body) = mux.response(&mut env, "h1").await;
    assert_eq!(body, "o\n");
    env.cm
        .first(&request("h2", "POST", "/sockjs/000/s9/xhr", b""))
        .await;
    let (_, body) = mux.response(&mut env, "h2").await;
    assert_eq!(body, "a[\"hello\"]\n");

    env.cm
        .first(&request(
            "h3",
            "POST",
            "/sockjs/000/s9/xhr_send",
            b"[\"hi\"]",
        ))
        .await;
    let (_, body) = mux.response(&mut env, "h3").await;
    assert_eq!(body, "ok");
    let req = env.zurl.first().await;
    assert_eq!(req.body_bytes(), b"TEXT 2\r\nhi\r\n");
    let zid = req.id().unwrap().clone();
    env.zurl.send(&zid, events(b"")).await;
    env.stop().await;
}

/// The next ws-control item from the proxy.
async fn next_item(
    ctl: &mut harness::WsControl,
    pending: &mut Vec<pushpin_internal::WsControlItem>,
) -> pushpin_internal::WsControlItem {
    if pending.is_empty() {
        *pending = ctl.recv().await.items;
        pending.reverse();
    }
    pending.pop().expect("an empty ws-control packet")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grip_over_a_framed_session() {
    use pushpin_internal::WsControlItemKind;
    let mut env = env().await;
    let mut ctl = harness::WsControl::connect(env.dir.path());
    let mut pending = Vec::new();
    let mut mux = Mux::default();
    env.cm
        .first(&handshake("g1", "/sockjs/000/gs/websocket"))
        .await;
    let z = env.zurl.first().await;
    assert_eq!(header(&z, "Sec-WebSocket-Extensions").unwrap(), "grip");
    assert!(header(&z, "Grip-Sig").is_some());
    let zid = z.id().unwrap().clone();
    let mut a = accept();
    a.headers
        .as_mut()
        .unwrap()
        .push(Header::new("Sec-WebSocket-Extensions", "grip"));
    env.zurl.send(&zid, a).await;
    let p = mux.next(&mut env, "g1").await;
    assert_eq!(p.code, Some(101));
    assert!(header(&p, "Sec-WebSocket-Extensions").is_none());
    assert_eq!(mux.next(&mut env, "g1").await.body_bytes(), b"o");
    let here = next_item(&mut ctl, &mut pending).await;
    assert!(matches!(here.kind, WsControlItemKind::Here { .. }));

    // prefixed backend messages reach the client unprefixed, framed
    env.zurl.send(&zid, text("m:hello")).await;
    assert_eq!(mux.next(&mut env, "g1").await.body_bytes(), b"a[\"hello\"]");

    // a handler publish reaches the client framed
    ctl.send(vec![pushpin_internal::WsControlItem {
        cid: here.cid.clone(),
        req_id: None,
        kind: WsControlItemKind::Send {
            content_type: None,
            message: Bytes::from_static(b"published"),
            queue: false,
        },
    }])
    .await;
    assert_eq!(
        mux.next(&mut env, "g1").await.body_bytes(),
        b"a[\"published\"]"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_without_polls_ends_after_5_s() {
    let mut env = env().await;
    let mut mux = Mux::default();
    let _zid = open_xhr(&mut env, &mut mux, "t1", "s5").await;
    // 1.36's unconnected timeout is 5 s: nothing reaches the client meanwhile
    assert!(
        env.cm
            .quiet_for(std::time::Duration::from_millis(5_500))
            .await
    );
    assert_eq!(backend_packet(&mut env).await.ptype, PacketType::Cancel);
    env.cm
        .first(&request(
            "t2",
            "POST",
            "/sockjs/000/s5/xhr_send",
            b"[\"x\"]",
        ))
        .await;
    let (head, _) = mux.response(&mut env, "t2").await;
    assert_eq!(head.code, Some(404));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_body_over_100000_bytes_is_refused() {
    let mut env = env().await;
    let mut mux = Mux::default();
    let body = vec![b'x'; 100_001];
    env.cm
        .first(&request("b1", "POST", "/sockjs/000/s6/xhr_send", &body))
        .await;
    let (head, body) = mux.response(&mut env, "b1").await;
    assert_eq!(head.code, Some(400));
    assert_eq!(body, "Request too large.\n");
    env.stop().await;
}
