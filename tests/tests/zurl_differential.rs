//! Differential test: the same table of ZHTTP requests sent to the real zurl 1.11
//! (`/usr/bin/zurl`, run as a child process) and to zurl-rs (in process), against the same
//! local origin; the normalised answers must be equal (packet types, codes, reasons,
//! headers, bodies, conditions; ids, `from` and packet splitting may differ).
//!
//! Fails (does not skip) when `/usr/bin/zurl` is missing.

#[path = "../../zurl-rs/tests/support/common.rs"]
mod common;
#[path = "../../zurl-rs/tests/support/tls.rs"]
mod tls;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use common::*;
use pushpin_e2e::{Proc, free_port};
use pushpin_tnetstring::Value;
use pushpin_zhttp::{Id, Ids, Limits, Packet, PacketType};
use pushpin_zmq::SocketSpec;

const REAL_ZURL: &str = "/usr/bin/zurl";
const DENY: &str = "deny=denied.invalid";

/// A real zurl child, killed by PID on drop.
struct RealZurl {
    child: Child,
    dir: tempfile::TempDir,
}

impl Drop for RealZurl {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_real() -> RealZurl {
    assert!(
        Path::new(REAL_ZURL).exists(),
        "{REAL_ZURL} is missing: install the zurl package (apt-get install zurl)"
    );
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("zurl.conf");
    std::fs::write(&conf, conf_text(dir.path(), DENY)).unwrap();
    let child = Command::new(REAL_ZURL)
        .arg(format!("--config={}", conf.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn zurl");
    RealZurl { child, dir }
}

fn spec(dir: &Path, name: &str) -> SocketSpec {
    SocketSpec::parse(&format!("ipc://{}", dir.join(name).display())).unwrap()
}

/// What a session's packets amount to, independent of how they were split.
#[derive(Debug, PartialEq, Default)]
struct Summary {
    ack: Option<String>,
    ack_credits: Option<u32>,
    ack_multi: bool,
    code: Option<u16>,
    reason: Option<String>,
    headers: Vec<(String, String)>,
    body: String,
    error: Option<String>,
    cancel: bool,
    user_data_everywhere: bool,
}

/// One stream-mode case: the first packet, and body pieces to send after the ack.
struct Case {
    name: &'static str,
    first: Packet,
    body: Vec<&'static [u8]>,
    /// Return credits for body received (else the window stays as granted).
    credits: bool,
}

async fn run_stream(c: &mut Client, case: &Case, id: &'static str) -> Summary {
    let mut first = case.first.clone();
    first.from = c.from.clone();
    first.ids = Ids::One(Id::from(id));
    c.send_first(&first).await;
    let mut s = Summary {
        user_data_everywhere: true,
        ..Summary::default()
    };
    let mut seq = 1;
    let mut pieces: std::collections::VecDeque<&'static [u8]> = case.body.iter().copied().collect();
    let total = pieces.len();
    let mut sent = 0;
    let mut avail: usize = 0;
    loop {
        let p = c.recv_for(id).await;
        if first.user_data.is_some() && p.user_data != first.user_data {
            s.user_data_everywhere = false;
        }
        let is_ack = s.ack.is_none();
        if matches!(p.ptype, PacketType::KeepAlive | PacketType::Credit) {
            if is_ack {
                s.ack = Some(p.ptype.to_string());
                s.ack_credits = p.credits;
                s.ack_multi = p.ext.multi;
            }
            // Send request body within the credits granted so far.
            avail += p.credits.unwrap_or(0) as usize;
            while pieces.front().is_some_and(|b| b.len() <= avail) {
                let piece = pieces.pop_front().unwrap_or_default();
                avail -= piece.len();
                sent += 1;
                let mut d = c.follow(id, seq, PacketType::Data);
                seq += 1;
                d.body = Some(Bytes::from_static(piece));
                d.more = sent < total;
                c.send_next(d).await;
            }
            continue;
        }
        match &p.ptype {
            PacketType::KeepAlive | PacketType::Credit => {}
            PacketType::Error => {
                s.error = p.condition.map(|c| c.to_string());
                return s;
            }
            PacketType::Cancel => {
                s.cancel = true;
                return s;
            }
            PacketType::Data => {
                if let Some(code) = p.code {
                    s.code = Some(code);
                    s.reason = p
                        .reason
                        .as_ref()
                        .map(|r| String::from_utf8_lossy(r).into_owned());
                    s.headers = p
                        .header_list()
                        .iter()
                        .map(|h| {
                            (
                                String::from_utf8_lossy(&h.name).into_owned(),
                                String::from_utf8_lossy(&h.value).into_owned(),
                            )
                        })
                        .collect();
                }
                s.body.push_str(&String::from_utf8_lossy(p.body_bytes()));
                if !p.more {
                    return s;
                }
                if case.credits && !p.body_bytes().is_empty() {
                    let mut cr = c.follow(id, seq, PacketType::Credit);
                    seq += 1;
                    cr.credits = Some(p.body_bytes().len() as u32);
                    c.send_next(cr).await;
                }
            }
            other => panic!("{}: unexpected packet type {other}", case.name),
        }
    }
}

/// Local origins besides the plain one.
struct Ports {
    /// Nothing listens here.
    dead: u16,
    /// Connects hang (full accept queue).
    hung: u16,
    /// TLS with a CA-issued certificate for `name.test`.
    tls_named: u16,
    /// TLS with a CA-issued certificate for `127.0.0.1`.
    tls_ip: u16,
}

fn cases(origin: &Origin, ports: &Ports) -> Vec<Case> {
    let dead_port = ports.dead;
    let base = |method: &str, path: &str| Packet {
        seq: Some(0),
        method: Some(Bytes::from(method.to_owned())),
        uri: Some(Bytes::from(origin.url(path))),
        stream: true,
        credits: Some(200_000),
        ..Packet::default()
    };
    let case = |name, first, body: Vec<&'static [u8]>, credits| Case {
        name,
        first,
        body,
        credits,
    };
    let mut v = Vec::new();
    let mut p = base("GET", "/hello?x=1");
    p.ext.multi = true;
    p.headers = Some(headers(&[("User-Agent", "diff")]));
    v.push(case("get", p, vec![], true));
    let mut p = base("GET", "/big?n=2500");
    p.credits = Some(1000);
    v.push(case("credits", p, vec![], true));
    let mut p = base("POST", "/echo");
    p.more = true;
    p.headers = Some(headers(&[
        ("Content-Type", "text/plain"),
        ("Content-Length", "11"),
    ]));
    v.push(case("post-stream", p, vec![b"hello ", b"world"], true));
    // Larger than the 200000 credits of the ack: needs zurl's credits for written body.
    let big: &'static [u8] = Box::leak(vec![b'z'; 100_000].into_boxed_slice());
    let mut p = base("POST", "/echo");
    p.more = true;
    v.push(case("post-beyond-credits", p, vec![big, big, big], true));
    let mut p = base("POST", "/headers");
    p.more = true;
    p.headers = Some(headers(&[("X-Custom", "1"), ("Host", "wrong.example")]));
    v.push(case("upstream-head-chunked", p, vec![b"abc"], true));
    let mut p = base("GET", "/headers");
    p.headers = Some(headers(&[
        ("Accept", "text/plain"),
        ("X-A", "1"),
        ("x-b", "2"),
    ]));
    v.push(case("upstream-head-get", p, vec![], true));
    let mut p = base("POST", "/echo");
    p.body = Some(Bytes::from_static(b"abc=1"));
    p.headers = Some(headers(&[("Content-Length", "5")]));
    v.push(case("post-inline", p, vec![], true));
    let mut p = base("GET", "/chunked");
    p.stream = false;
    v.push(case("non-stream-chunked", p, vec![], true));
    v.push(case("status", base("GET", "/status/418"), vec![], true));
    v.push(case("no-content", base("GET", "/head-only"), vec![], true));
    v.push(case("close-delimited", base("GET", "/close"), vec![], true));
    let mut p = base("GET", "/redirect");
    p.follow_redirects = true;
    v.push(case("redirect-followed", p, vec![], true));
    let mut p = base("POST", "/r307");
    p.follow_redirects = true;
    p.body = Some(Bytes::from_static(b"abc"));
    p.headers = Some(headers(&[("Content-Length", "3")]));
    v.push(case("redirect-307-post", p, vec![], true));
    let mut p = base("POST", "/redirect");
    p.follow_redirects = true;
    p.body = Some(Bytes::from_static(b"abc"));
    p.headers = Some(headers(&[("Content-Length", "3")]));
    v.push(case("redirect-302-post", p, vec![], true));
    v.push(case(
        "redirect-not-followed",
        base("GET", "/redirect"),
        vec![],
        true,
    ));
    let mut p = base("GET", "/big?n=5000");
    p.max_size = Some(100);
    v.push(case("max-size", p, vec![], true));
    let mut p = base("GET", "/hello");
    p.uri = Some(Bytes::from(format!("http://127.0.0.1:{dead_port}/")));
    v.push(case("refused", p, vec![], true));
    let mut p = base("GET", "/hello");
    p.uri = Some(Bytes::from_static(b"http://denied.invalid/"));
    v.push(case("policy", p, vec![], true));
    let mut p = base("GET", "/hello");
    p.method = None;
    v.push(case("no-method", p, vec![], true));
    let mut p = base("GET", "/hello");
    p.uri = Some(Bytes::from_static(b"ftp://127.0.0.1/"));
    v.push(case("bad-scheme", p, vec![], true));
    let mut p = base("GET", "/slow");
    p.timeout = Some(300);
    v.push(case("timeout", p, vec![], true));
    let mut p = base("GET", "/big?n=30");
    p.user_data = Some(Value::Bytes(Bytes::from_static(b"ud")));
    p.credits = Some(10);
    v.push(case("user-data", p, vec![], true));
    // zurl's timers run while a connect hangs.
    let mut p = base("GET", "/hello");
    p.uri = Some(Bytes::from(format!("http://127.0.0.1:{}/", ports.hung)));
    p.timeout = Some(500);
    v.push(case("connect-hang-timeout", p, vec![], true));
    // Content codings: libcurl's Accept-Encoding replaces the client's (and the client's
    // Content-Encoding is dropped); bodies arrive decoded, still labelled.
    let mut p = base("GET", "/headers");
    p.headers = Some(headers(&[
        ("Accept", "text/plain"),
        ("Accept-Encoding", "br"),
        ("Content-Encoding", "gzip"),
        ("X-A", "1"),
    ]));
    v.push(case("accept-encoding-replaced", p, vec![], true));
    let mut p = base("GET", "/gzip");
    p.headers = Some(headers(&[("Accept-Encoding", "gzip")]));
    v.push(case("gzip", p, vec![], true));
    v.push(case(
        "gzip-chunked",
        base("GET", "/gzip-chunked"),
        vec![],
        true,
    ));
    let mut p = base("GET", "/gzip");
    p.credits = Some(5);
    v.push(case("gzip-credits", p, vec![], true));
    let mut p = base("GET", "/gzip");
    p.stream = false;
    v.push(case("gzip-non-stream", p, vec![], true));
    v.push(case("gzip-corrupt", base("GET", "/bad-gzip"), vec![], true));
    v.push(case(
        "unknown-coding",
        base("GET", "/unknown-coding"),
        vec![],
        true,
    ));
    // TLS names: the URI host, or the connect host with trust-connect-host.
    let https = |host: &str, port: u16, connect: &str, trust: bool| {
        let mut p = base("GET", "/");
        p.uri = Some(Bytes::from(format!("https://{host}:{port}/")));
        p.connect_host = Some(Bytes::from(connect.to_owned()));
        p.connect_port = Some(port);
        p.trust_connect_host = trust;
        p
    };
    let (named, ip) = (ports.tls_named, ports.tls_ip);
    for (name, p) in [
        (
            "tls-uri-name",
            https("name.test", named, "127.0.0.1", false),
        ),
        (
            "tls-uri-name-trusted",
            https("name.test", named, "localhost", true),
        ),
        (
            "tls-connect-name-untrusted",
            https("other.test", ip, "127.0.0.1", false),
        ),
        (
            "tls-connect-name-trusted",
            https("other.test", ip, "127.0.0.1", true),
        ),
        ("tls-no-name", https("other.test", named, "127.0.0.1", true)),
    ] {
        v.push(case(name, p, vec![], true));
    }
    v
}

/// A packet as text, without the fields that legitimately differ (ids, from, seq of the
/// initiator's view, the handshake's random-key-dependent accept value).
fn describe(p: &Packet) -> String {
    let headers: Vec<String> = p
        .header_list()
        .iter()
        .filter(|h| !h.is(b"sec-websocket-accept"))
        .map(|h| {
            format!(
                "{}: {}",
                String::from_utf8_lossy(&h.name),
                String::from_utf8_lossy(&h.value)
            )
        })
        .collect();
    format!(
        "type={} code={:?} reason={:?} condition={:?} credits={:?} ctype={:?} body={:?} headers={headers:?} more={}",
        p.ptype,
        p.code,
        p.reason.as_deref().map(String::from_utf8_lossy),
        p.condition.as_ref().map(ToString::to_string),
        p.credits,
        p.content_type.as_ref().map(ToString::to_string),
        String::from_utf8_lossy(p.body_bytes()),
        p.more,
    )
}

/// WebSocket sessions: echo (accept, text, binary, close) and a rejected handshake.
async fn run_ws(c: &mut Client, ws_port: u16) -> Vec<(String, Summary)> {
    let mut out = Vec::new();
    let first = |c: &Client, id: &'static str, path: &str| Packet {
        from: c.from.clone(),
        ids: Ids::One(Id::from(id)),
        seq: Some(0),
        uri: Some(Bytes::from(format!("ws://127.0.0.1:{ws_port}{path}"))),
        headers: Some(headers(&[("Sec-WebSocket-Protocol", "chat")])),
        credits: Some(10_000),
        ..Packet::default()
    };
    let mut lines = Vec::new();
    c.send_first(&first(c, "ws-1", "/echo")).await;
    lines.push(describe(&c.recv_for("ws-1").await));
    let mut text = c.follow("ws-1", 1, PacketType::Data);
    text.body = Some(Bytes::from_static(b"hello ws"));
    c.send_next(text).await;
    lines.push(describe(&c.recv_for("ws-1").await));
    lines.push(describe(&c.recv_for("ws-1").await));
    let mut bin = c.follow("ws-1", 2, PacketType::Data);
    bin.body = Some(Bytes::from_static(b"\x01\x02"));
    bin.content_type = Some(pushpin_zhttp::ContentType::Binary);
    c.send_next(bin).await;
    lines.push(describe(&c.recv_for("ws-1").await));
    lines.push(describe(&c.recv_for("ws-1").await));
    let mut close = c.follow("ws-1", 3, PacketType::Close);
    close.code = Some(1000);
    c.send_next(close).await;
    lines.push(describe(&c.recv_for("ws-1").await));
    out.push((
        "ws-echo".to_owned(),
        Summary {
            body: lines.join("\n"),
            ..Summary::default()
        },
    ));
    c.send_first(&first(c, "ws-2", "/other")).await;
    out.push((
        "ws-reject".to_owned(),
        Summary {
            body: describe(&c.recv_for("ws-2").await),
            ..Summary::default()
        },
    ));
    out
}

/// Fragmented WebSocket messages, frame by frame both ways (spec/zhttp.md §8.2): the
/// origin's fragments with a ping and a pong between them, within small credits; the
/// initiator's fragments (`more`), pings and pongs, each waited for (its `credit`) before
/// the next; a close in the middle of the initiator's message, answered by the origin with
/// the list of frames it received; and an origin closing in the middle of its message.
async fn run_ws_fragments(c: &mut Client, port: u16) -> Vec<(String, Summary)> {
    let first = |c: &Client, id: &'static str, path: &str, credits: u32| Packet {
        from: c.from.clone(),
        ids: Ids::One(Id::from(id)),
        seq: Some(0),
        uri: Some(Bytes::from(format!("ws://127.0.0.1:{port}{path}"))),
        credits: Some(credits),
        ..Packet::default()
    };
    let mut lines = Vec::new();
    let id = "wsf-1";
    c.send_first(&first(c, id, "/frames", 4)).await;
    // The accept, then "hel" (3 of the 4 credits; the ping's 2 payload bytes wait).
    for _ in 0..2 {
        lines.push(describe(&c.recv_for(id).await));
    }
    let mut seq = 1;
    let mut credit = c.follow(id, seq, PacketType::Credit);
    seq += 1;
    credit.credits = Some(1000);
    c.send_next(credit).await;
    for _ in 1..SCRIPTED_FRAMES.len() {
        lines.push(describe(&c.recv_for(id).await));
    }
    use pushpin_zhttp::ContentType;
    let steps: [(PacketType, &[u8], bool, Option<ContentType>); 9] = [
        (PacketType::Data, b"ab", true, None),
        (PacketType::Ping, b"P1", false, None),
        (PacketType::Data, b"cd", true, None),
        (PacketType::Pong, b"P2", false, None),
        (PacketType::Data, b"ef", false, None),
        (PacketType::Data, b"x", true, Some(ContentType::Binary)),
        (PacketType::Data, b"", true, None),
        (PacketType::Data, b"y", false, Some(ContentType::Text)),
        (PacketType::Data, b"mid", true, None),
    ];
    for (ptype, body, more, ctype) in steps {
        let mut p = c.follow(id, seq, ptype);
        seq += 1;
        p.body = Some(Bytes::from_static(body));
        p.more = more;
        p.content_type = ctype;
        c.send_next(p).await;
        lines.push(describe(&c.recv_for(id).await));
    }
    let mut close = c.follow(id, seq, PacketType::Close);
    close.code = Some(1000);
    close.body = Some(Bytes::from_static(b"done"));
    c.send_next(close).await;
    // The origin's close, whose reason lists the frames it got.
    lines.push(describe(&c.recv_for(id).await));
    let mut out = vec![(
        "ws-fragments".to_owned(),
        Summary {
            body: lines.join("\n"),
            ..Summary::default()
        },
    )];
    let id = "wsf-2";
    let mut lines = Vec::new();
    c.send_first(&first(c, id, "/frames-close", 1000)).await;
    // The accept and "part" (more).
    for _ in 0..2 {
        lines.push(describe(&c.recv_for(id).await));
    }
    let mut go = c.follow(id, 1, PacketType::Data);
    go.body = Some(Bytes::from_static(b"go"));
    c.send_next(go).await;
    // The credit for "go", then the origin's close.
    for _ in 0..2 {
        lines.push(describe(&c.recv_for(id).await));
    }
    let mut reply = c.follow(id, 2, PacketType::Close);
    reply.code = Some(1000);
    c.send_next(reply).await;
    out.push((
        "ws-origin-close-mid-message".to_owned(),
        Summary {
            body: lines.join("\n"),
            ..Summary::default()
        },
    ));
    out
}

async fn run_table(
    dir: &Path,
    origin: &Origin,
    ports: &Ports,
    ws_port: u16,
    frames_port: u16,
) -> Vec<(String, Summary)> {
    let mut c = Client::connect_specs(
        spec(dir, "in"),
        spec(dir, "in-stream"),
        spec(dir, "out"),
        ZURL_ID,
    )
    .await;
    let mut out = Vec::new();
    for (i, case) in cases(origin, ports).iter().enumerate() {
        let id: &'static str = Box::leak(format!("d-{i}").into_boxed_str());
        let s = tokio::time::timeout(WAIT, run_stream(&mut c, case, id))
            .await
            .unwrap_or_else(|_| panic!("{}: no answer", case.name));
        out.push((case.name.to_owned(), s));
    }
    // A packet for an unknown session: zurl's bare cancel.
    let mut credit = c.follow("unknown", 1, PacketType::Credit);
    credit.credits = Some(10);
    c.send_next(credit).await;
    let p = c.recv_for("unknown").await;
    out.push((
        "unknown-session".into(),
        Summary {
            cancel: p.ptype == PacketType::Cancel && p.seq.is_none() && p.from.is_empty(),
            ..Summary::default()
        },
    ));
    // Req mode, tnetstring and JSON.
    let mut sock = pushpin_zmq::AsyncSocket::builder(
        pushpin_zmq::SocketKind::Dealer,
        pushpin_zmq::Hwm::both(100),
    )
    .connect(spec(dir, "req"))
    .build()
    .unwrap();
    // A packet with a badly typed field: bad-request when from and id are readable.
    let mut raw = bytes::BytesMut::new();
    pushpin_tnetstring::write_t_message(&mut raw, |buf| {
        for (k, v) in [
            (&b"from"[..], &c.from[..]),
            (b"id", b"bad-1"),
            (b"method", b"GET"),
            (b"uri", origin.url("/hello").as_bytes()),
        ] {
            pushpin_tnetstring::write_bytes(buf, k);
            pushpin_tnetstring::write_bytes(buf, v);
        }
        pushpin_tnetstring::write_bytes(buf, b"headers");
        pushpin_tnetstring::write_bytes(buf, b"not a list");
    });
    c.push
        .send(pushpin_zmq::Multipart::from(raw.freeze()))
        .await
        .unwrap();
    let p = c.recv_for("bad-1").await;
    out.push((
        "bad-field".into(),
        Summary {
            error: p.condition.map(|c| c.to_string()),
            ..Summary::default()
        },
    ));
    out.extend(run_ws(&mut c, ws_port).await);
    out.extend(run_ws_fragments(&mut c, frames_port).await);
    let req = Packet {
        ids: Ids::One(Id::from("req-1")),
        method: Some(Bytes::from_static(b"GET")),
        uri: Some(Bytes::from(origin.url("/hello?x=1"))),
        user_data: Some(Value::Bytes(Bytes::from_static(b"echoed"))),
        ..Packet::default()
    };
    let reply = req_roundtrip(&mut sock, req.to_bytes()).await;
    let p = Packet::decode(&reply, &Limits::default()).unwrap();
    out.push((
        "req-tnet".into(),
        Summary {
            code: p.code,
            body: String::from_utf8_lossy(p.body_bytes()).into_owned(),
            user_data_everywhere: p.user_data == req.user_data
                && p.seq == Some(0)
                && p.from.is_empty(),
            ..Summary::default()
        },
    ));
    let text = format!(
        r#"J{{"id":"req-2","method":"POST","uri":"{}","body":"json body"}}"#,
        origin.url("/echo")
    );
    let reply = req_roundtrip(&mut sock, Bytes::from(text)).await;
    out.push((
        "req-json".into(),
        Summary {
            body: String::from_utf8_lossy(&reply).into_owned(),
            ..Summary::default()
        },
    ));
    let req = Packet {
        ids: Ids::One(Id::from("req-3")),
        method: Some(Bytes::from_static(b"POST")),
        uri: Some(Bytes::from(origin.url("/echo"))),
        more: true,
        ..Packet::default()
    };
    let reply = req_roundtrip(&mut sock, req.to_bytes()).await;
    let p = Packet::decode(&reply, &Limits::default()).unwrap();
    out.push((
        "req-more".into(),
        Summary {
            error: p.condition.map(|c| c.to_string()),
            ..Summary::default()
        },
    ));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zurl_rs_answers_like_zurl() {
    let origin = start_origin().await;
    let (ws_port, ws_task) = ws_origin().await;
    let (frames_port, frames_task) = ws_frames_origin().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = closed.local_addr().unwrap().port();
    drop(closed);
    let hung = hung_listener().await;
    let ca = tls::Ca::new();
    let (cert, key) = ca.issue(&["name.test"]);
    let (tls_named, named_task) = tls::tls_origin(cert, key).await;
    let (cert, key) = ca.issue(&["127.0.0.1"]);
    let (tls_ip, ip_task) = tls::tls_origin(cert, key).await;
    let ports = Ports {
        dead,
        hung: hung.port,
        tls_named,
        tls_ip,
    };

    let real = start_real();
    let theirs = run_table(real.dir.path(), &origin, &ports, ws_port, frames_port).await;
    drop(real);

    // zurl 1.11 does not check certificate chains; zurl-rs trusts the test CA.
    let options = zurl_rs::Options {
        extra_roots: vec![ca.der()],
        ..zurl_rs::Options::default()
    };
    let ours_z = start_zurl_with(DENY, options).await;
    let ours = run_table(ours_z.dir.path(), &origin, &ports, ws_port, frames_port).await;
    ours_z.stop().await;
    ws_task.abort();
    frames_task.abort();
    named_task.abort();
    ip_task.abort();

    // The fragment case really went frame by frame (and is not equal by being empty).
    let fragments = theirs
        .iter()
        .find(|(name, _)| name == "ws-fragments")
        .map(|(_, s)| s.body.as_str())
        .unwrap_or_default();
    assert!(
        fragments.contains("body=\"hel\"") && fragments.contains("1-ab 9+ 0-cd 10+ 0+ef"),
        "zurl 1.11's fragment exchange:\n{fragments}"
    );
    let mut diffs = Vec::new();
    for ((name, a), (_, b)) in theirs.iter().zip(&ours) {
        if a != b {
            diffs.push(format!("{name}:\n  zurl:    {a:?}\n  zurl-rs: {b:?}"));
        }
    }
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

/// One HTTP/1.0 exchange over a raw socket; returns the whole response text.
async fn http(port: u16, request: String) -> Option<Vec<u8>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    s.write_all(request.as_bytes()).await.ok()?;
    let mut out = Vec::new();
    tokio::time::timeout(WAIT, s.read_to_end(&mut out))
        .await
        .ok()?
        .ok()?;
    Some(out)
}

/// Opens a WebSocket to pushpin, sends one text message and returns the echo.
async fn ws_echo_via(port: u16) -> Option<String> {
    use futures_util::{SinkExt, StreamExt};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_tungstenite::tungstenite::Message;
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    s.write_all(
        b"GET /echo HTTP/1.1\r\nHost: example.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    .await
    .ok()?;
    let mut head = Vec::new();
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let mut b = [0u8; 1];
        let n = tokio::time::timeout(WAIT, s.read(&mut b))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        head.push(b[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
        s,
        tokio_tungstenite::tungstenite::protocol::Role::Client,
        None,
    )
    .await;
    ws.send(Message::text("hello ws")).await.ok()?;
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await.ok()?? {
            Ok(Message::Text(t)) => return Some(t.to_string()),
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
}

/// Whether nothing listens on `port` (loopback) right now.
fn port_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

fn pushpin_logs(d: &Path) -> String {
    let mut logs = String::new();
    for name in [
        "runner.out",
        "log/condure.log",
        "log/pushpin-proxy.log",
        "log/pushpin-handler.log",
    ] {
        let text = std::fs::read_to_string(d.join(name)).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(15).collect();
        logs.push_str(&format!(
            "--- {name}\n{}\n",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        ));
    }
    logs
}

/// Starts the real runner with fresh ports and waits until `GET /hello` answers 200
/// through zurl-rs. Ports are probed first; if another process takes one meanwhile and the
/// runner exits, it is started again with other ports (3 attempts).
async fn start_pushpin(d: &Path) -> (Proc, u16, Vec<u8>) {
    for attempt in 0..3u32 {
        let http_port = free_port();
        // The handler's tcp ports are 5560-5563 + offset: below the ephemeral range.
        let offset = (0..200u32)
            .map(|i| 10_000 + (std::process::id() * 7 + attempt * 311 + i * 97) % 16_000)
            .find(|o| (5560..=5563).all(|p| port_free((p + o) as u16)))
            .expect("free handler ports");
        let conf = format!(
            "[global]\ninclude={d}/internal.conf\nrundir={d}/run\nipc_prefix=zd-\nport_offset={offset}\n\
             [runner]\nservices=condure,pushpin-proxy,pushpin-handler\nhttp_port={http_port}\n\
             logdir={d}/log\nlog_level=2\n\
             [proxy]\nroutesfile={d}/routes\nsig_key=changeme\n\
             [handler]\npush_in_spec=tcp://127.0.0.1:5560\npush_in_sub_specs=tcp://127.0.0.1:5562\n\
             push_in_http_addr=127.0.0.1\npush_in_http_port=5561\ncommand_spec=tcp://127.0.0.1:5563\n\
             stats_spec=ipc://{{rundir}}/{{ipc_prefix}}stats\n",
            d = d.display()
        );
        std::fs::write(d.join("pushpin.conf"), conf).unwrap();
        let mut pushpin = Proc::spawn(
            Path::new("/usr/bin/pushpin"),
            &[format!("--config={}", d.join("pushpin.conf").display())],
            Some(d),
            &d.join("runner.out"),
        );
        let get = format!("GET /hello?x=1 HTTP/1.0\r\nHost: example.test:{http_port}\r\n\r\n");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while tokio::time::Instant::now() < deadline {
            if matches!(pushpin.0.try_wait(), Ok(Some(_))) {
                break;
            }
            match http(http_port, get.clone()).await {
                Some(r) if r.starts_with(b"HTTP/1.0 200") || r.starts_with(b"HTTP/1.1 200") => {
                    return (pushpin, http_port, r);
                }
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        let logs = pushpin_logs(d);
        drop(pushpin);
        if attempt == 2 {
            panic!("pushpin never answered through zurl-rs\n{logs}");
        }
    }
    unreachable!("the last attempt panics")
}

/// Interop: real pushpin 1.36 proxies requests through zurl-rs to a local origin. Our zurl
/// binds the runner's zurl sockets (`{rundir}/{ipc_prefix}zurl-*`), as the runner's child
/// would; the route target is trusted, so the proxy sets `ignore-policies`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_pushpin_proxies_through_zurl_rs() {
    assert!(
        Path::new("/usr/bin/pushpin").exists(),
        "/usr/bin/pushpin is missing"
    );
    let origin = start_origin().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("run")).unwrap();
    std::fs::create_dir_all(d.join("log")).unwrap();
    std::fs::write(d.join("internal.conf"), pushpin_config::INTERNAL_CONF).unwrap();
    let (ws_port, ws_task) = ws_origin().await;
    std::fs::write(
        d.join("routes"),
        format!("* {}\n*,proto=ws 127.0.0.1:{ws_port}\n", origin.addr),
    )
    .unwrap();
    let run = d.join("run");
    let zconf = format!(
        "[General]\nin_spec=ipc://{r}/zd-zurl-in\nin_stream_spec=ipc://{r}/zd-zurl-in-stream\n\
         out_spec=ipc://{r}/zd-zurl-out\ndefpolicy=allow\ndeny=127.*,10.*,192.168.*,*.local\n\
         max_open_requests=2000\nbuffer_size=200000\n",
        r = run.display()
    );
    let config = pushpin_config::zurl::parse(&zconf, &d.join("zurl.conf")).unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let zurl = tokio::spawn(zurl_rs::run(config, async {
        let _ = stop_rx.await;
    }));
    let (pushpin, http_port, resp) = start_pushpin(d).await;
    let text = String::from_utf8_lossy(&resp);
    assert!(text.ends_with("\r\n\r\nhello from origin\n"), "{text}");
    assert!(text.contains("X-Origin: yes"), "{text}");
    // A request body goes through zurl-rs to the origin and back.
    let body = "a".repeat(300_000);
    let post = format!(
        "POST /echo HTTP/1.0\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let resp = http(http_port, post).await.expect("post answer");
    let text = String::from_utf8_lossy(&resp);
    assert!(
        text.starts_with("HTTP/1.0 200") || text.starts_with("HTTP/1.1 200"),
        "{}",
        &text[..100.min(text.len())]
    );
    assert!(text.ends_with(&format!("echo:{body}")), "echoed body");
    // A large response streams through with credits.
    let resp = http(
        http_port,
        "GET /big?n=3000000 HTTP/1.0\r\nHost: x\r\n\r\n".to_string(),
    )
    .await
    .expect("big answer");
    let split = resp.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(resp.len() - split, 3_000_000);
    // A WebSocket session through condure, the proxy and zurl-rs to the echo origin.
    let echoed = ws_echo_via(http_port).await;
    assert_eq!(echoed.as_deref(), Some("hello ws"));
    drop(pushpin);
    ws_task.abort();
    let _ = stop_tx.send(());
    tokio::time::timeout(WAIT, zurl)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

/// Sends one req-mode request on a fresh DEALER and waits up to `wait` for the reply.
async fn req_once(dir: &Path, req: &Packet, wait: Duration) -> Packet {
    let mut sock = pushpin_zmq::AsyncSocket::builder(
        pushpin_zmq::SocketKind::Dealer,
        pushpin_zmq::Hwm::both(100),
    )
    .connect(spec(dir, "req"))
    .build()
    .unwrap();
    // Let the DEALER connect before sending.
    tokio::time::sleep(Duration::from_millis(300)).await;
    sock.send(pushpin_zmq::Multipart::from(
        pushpin_zhttp::framing::dealer_frames(req.to_bytes()),
    ))
    .await
    .unwrap();
    let msg = tokio::time::timeout(wait, sock.recv())
        .await
        .expect("req reply")
        .unwrap();
    let payload = pushpin_zhttp::framing::parse_dealer(&msg).unwrap().clone();
    Packet::decode(&payload, &Limits::default()).unwrap()
}

/// A connect the kernel gives up on (unanswered SYNs, about 130 s on Linux) is
/// `connection-timeout` for both (libcurl maps `ETIMEDOUT` to `CURLE_OPERATION_TIMEDOUT`).
/// Slow, so ignored by default: `cargo test -p pushpin-e2e --test zurl_differential --
/// --ignored`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "takes about 135 s (the kernel's SYN retries)"]
async fn kernel_connect_timeout_like_zurl() {
    let hung = hung_listener().await;
    let req = Packet {
        ids: Ids::One(Id::from("hang-1")),
        method: Some(Bytes::from_static(b"GET")),
        uri: Some(Bytes::from(format!("http://127.0.0.1:{}/", hung.port))),
        ..Packet::default()
    };
    let real = start_real();
    let ours = start_zurl(DENY).await;
    let wait = Duration::from_secs(250);
    let started = std::time::Instant::now();
    let (theirs, mine) = tokio::join!(
        req_once(real.dir.path(), &req, wait),
        req_once(ours.dir.path(), &req, wait)
    );
    let took = started.elapsed();
    assert_eq!(
        (
            theirs.ptype.to_string(),
            theirs.condition.map(|c| c.to_string())
        ),
        ("error".to_owned(), Some("connection-timeout".to_owned()))
    );
    assert_eq!(
        (
            mine.ptype.to_string(),
            mine.condition.map(|c| c.to_string())
        ),
        ("error".to_owned(), Some("connection-timeout".to_owned()))
    );
    assert!(took > Duration::from_secs(60), "answered after {took:?}");
    drop(real);
    ours.stop().await;
}
