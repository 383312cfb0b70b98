//! Interop: our `pushpin-proxy` (in-process) between the real Pushpin 1.36
//! components: `condure` in front, `pushpin-handler` behind, `zurl` towards an
//! origin. Checks the built-in `test` route (`GET /`), a `/stream` hold handed to the
//! real handler that receives a publish, a `/response` hold (which the real handler
//! retries through our proxy after 1 s) receiving a publish, a plain request
//! forwarded through the real zurl to a local origin, and GRIP over a plain WebSocket
//! (the origin accepts the `grip` extension and subscribes with a `c:` message; a
//! `ws-message` publish reaches the client).
//!
//! Fails (never skips) when the real binaries are missing.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pushpin_e2e::{Proc, StackDir, free_ports, require_real, websocket_origin, ws_next_text};

const WAIT: Duration = Duration::from_secs(15);
const REAL: [&str; 3] = [
    "/usr/bin/condure",
    "/usr/bin/pushpin-handler",
    "/usr/bin/zurl",
];

/// Writes `pushpin.conf` (returning its path), a copy of 1.36's `internal.conf` with
/// zurl's sockets in the run directory, and `zurl.conf`.
fn write_config(dir: &StackDir, publish_port: u16) -> PathBuf {
    let run = dir.join("run");
    let internal = std::fs::read_to_string("/usr/lib/pushpin/internal.conf")
        .unwrap()
        .replace(
            "ipc:///var/run/zurl/zurl-",
            "ipc://{rundir}/{ipc_prefix}zurl-",
        );
    std::fs::write(dir.join("internal.conf"), internal).unwrap();
    let conf = format!(
        "[global]\ninclude={inc}\nrundir={run}\nipc_prefix=px-\nstats_connection_ttl=120\n\n\
         [runner]\nservices=condure,zurl,pushpin-proxy,pushpin-handler\n\n\
         [proxy]\nroutesfile={routes}\nsig_iss=pushpin\nsig_key=changeme\n\n\
         [handler]\npush_in_spec=ipc://{run}/px-push-in\npush_in_http_addr=127.0.0.1\n\
         push_in_http_port={publish_port}\nstats_spec=ipc://{run}/px-stats\n\
         command_spec=ipc://{run}/px-command\n",
        inc = dir.join("internal.conf").display(),
        run = run.display(),
        routes = dir.join("routes").display(),
    );
    std::fs::write(
        dir.join("zurl.conf"),
        format!(
            "[General]\nin_spec=ipc://{run}/px-zurl-in\nin_stream_spec=ipc://{run}/px-zurl-in-stream\n\
             out_spec=ipc://{run}/px-zurl-out\ndefpolicy=allow\nbuffer_size=200000\ntimeout=60\n",
            run = run.display()
        ),
    )
    .unwrap();
    dir.write_conf(&conf)
}

/// Sends `request` and reads until `want` appears in the answer or the deadline.
fn exchange(addr: SocketAddr, request: &str, want: &str, until: Duration) -> String {
    let deadline = Instant::now() + until;
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return String::new();
    };
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
        if String::from_utf8_lossy(&got).contains(want) {
            break;
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n")
}

/// Retries `f` until it returns `Some` or the deadline passes.
fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out: {what}");
        std::thread::yield_now();
    }
}

fn publish(port: u16, body: &str) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let req = format!(
        "POST /publish/ HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.starts_with("HTTP/1.1 200")
}

/// A one-thread origin answering every request with `hello from origin`.
fn origin() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in l.incoming().flatten() {
            let mut r = BufReader::new(conn);
            let mut line = String::new();
            let mut sig = false;
            loop {
                line.clear();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                sig |= line.to_ascii_lowercase().starts_with("grip-sig:");
            }
            let body = if sig {
                "hello from origin\n"
            } else {
                "unsigned\n"
            };
            let mut c = r.into_inner();
            let _ = write!(
                c,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

/// A WebSocket origin accepting the `grip` extension: on connect it subscribes to
/// `wsx` with a control message, then says `m:welcome`; it answers `m:echo:<text>`.
fn grip_ws_origin() -> u16 {
    use tokio_tungstenite::tungstenite::Message;
    websocket_origin("Sec-WebSocket-Extensions: grip\r\n", |mut ws, head| {
        let offered = head.lines().any(|l| {
            l.to_ascii_lowercase()
                .starts_with("sec-websocket-extensions: grip")
        });
        let hello = if offered {
            "m:welcome"
        } else {
            "m:not offered"
        };
        let _ = ws.send(Message::text(r#"c:{"type":"subscribe","channel":"wsx"}"#));
        let _ = ws.send(Message::text("unprefixed"));
        let _ = ws.send(Message::text(hello));
        while let Ok(m) = ws.read() {
            if let Message::Text(t) = m {
                if ws.send(Message::text(format!("m:echo:{t}"))).is_err() {
                    break;
                }
            }
        }
    })
}

/// Reads an HTTP head byte by byte (up to the blank line).
fn read_head(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(1) => head.push(b[0]),
            Ok(_) => break,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

#[test]
fn our_proxy_with_real_condure_handler_and_zurl() {
    require_real(&REAL);
    let dir = StackDir::new("* test\n");
    let d = dir.path();
    let (publish_port, http_port) = free_ports();
    let conf = write_config(&dir, publish_port);
    let run = d.join("run");
    let _condure = Proc::spawn(
        Path::new(REAL[0]),
        &[
            format!("--listen=127.0.0.1:{http_port},stream"),
            format!("--zclient-stream=ipc://{}/px-condure", run.display()),
            "--log-level=3".to_string(),
        ],
        None,
        &d.join("condure.log"),
    );
    let _handler = Proc::spawn(
        Path::new(REAL[1]),
        &[format!("--config={}", conf.display())],
        None,
        &d.join("handler.log"),
    );
    let _zurl = Proc::spawn(
        Path::new(REAL[2]),
        &[format!("--config={}", d.join("zurl.conf").display())],
        None,
        &d.join("zurl.log"),
    );

    // start our proxy once condure has bound its sockets, so its first connects succeed
    // (a connect made earlier is only retried later, which races the first requests)
    eventually("condure's zhttp sockets", || {
        ["px-condure-out", "px-condure-out-stream", "px-condure-in"]
            .iter()
            .all(|f| run.join(f).exists())
            .then_some(())
    });

    // our proxy, in-process, logging to a file shown when a step fails
    let _log = pushpin_service::log::init(
        pushpin_service::args::level_from_number(3),
        Some(&d.join("proxy.log")),
    )
    .unwrap();
    let cfg = pushpin_config::load(&conf, &Default::default()).unwrap();
    cfg.check_proxy().unwrap();
    let config = pushpin_proxy::Config::new(
        cfg.proxy,
        pushpin_proxy::RouteSource::File(d.join("routes")),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let proxy = rt.spawn(pushpin_proxy::run(config, async move {
        let _ = stop_rx.await;
    }));
    let addr: SocketAddr = ([127, 0, 0, 1], http_port).into();

    // 1. GET / from the test target
    let text = eventually("GET / through condure and our proxy", || {
        let t = exchange(addr, &get("/"), "handler!", Duration::from_secs(2));
        t.contains("Hello from the Pushpin test handler!")
            .then_some(t)
    });
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");

    // 2. a held stream receives a publish
    // (the handler connects to our bound sockets after we start; until it has, accept
    // fails fast with 500 as in 1.36, so retry the hold)
    let mut s = eventually("a stream hold accepted by the handler", || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        s.write_all(get("/stream?channel=px").as_bytes()).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until {
            if let Ok(n) = s.read(&mut buf) {
                got.extend_from_slice(&buf[..n]);
            }
            let t = String::from_utf8_lossy(&got);
            if t.contains("[stream opened]") {
                return Some(s);
            }
            if t.contains("Accept service unavailable") {
                return None;
            }
        }
        None
    });
    let mut got = b"[stream opened]".to_vec();
    let mut buf = [0u8; 4096];
    let mut read_until = |s: &mut TcpStream, got: &mut Vec<u8>, want: &str| {
        let deadline = Instant::now() + WAIT;
        while !String::from_utf8_lossy(got).contains(want) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {want:?}: {:?}\nproxy log:\n{}",
                String::from_utf8_lossy(got),
                std::fs::read_to_string(d.join("proxy.log")).unwrap_or_default()
                    + &std::fs::read_to_string(d.join("condure.log")).unwrap_or_default()
            );
            if let Ok(n) = s.read(&mut buf) {
                got.extend_from_slice(&buf[..n]);
            }
        }
    };
    eventually("publish to the stream", || {
        publish(
            publish_port,
            r#"{"items":[{"channel":"px","formats":{"http-stream":{"content":"pushed\n"}}}]}"#,
        )
        .then_some(())
    });
    read_until(&mut s, &mut got, "pushed");
    drop(s);

    // 3. a response hold: the real handler retries through us after ~1 s, then the
    //    publish completes it
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    s.write_all(get("/response?channel=lp").as_bytes()).unwrap();
    let handler_log = d.join("handler.log");
    eventually("the handler's retry after subscribing", || {
        let log = std::fs::read_to_string(&handler_log).unwrap_or_default();
        log.contains("subscribe").then_some(())
    });
    let mut got = Vec::new();
    let deadline = Instant::now() + WAIT;
    while !String::from_utf8_lossy(&got).contains("long-polled") {
        assert!(Instant::now() < deadline, "no publish on the response hold");
        let _ = publish(
            publish_port,
            r#"{"items":[{"channel":"lp","formats":{"http-response":{"body":"long-polled\n"}}}]}"#,
        );
        let until = Instant::now() + Duration::from_millis(500);
        while Instant::now() < until {
            if let Ok(n) = s.read(&mut buf) {
                got.extend_from_slice(&buf[..n]);
            }
        }
    }
    drop(s);

    // 4. forwarding through the real zurl to an origin (signed request)
    let origin_port = origin();
    std::fs::write(d.join("routes"), format!("* 127.0.0.1:{origin_port}\n")).unwrap();
    let text = eventually("GET through zurl after the routes reload", || {
        let t = exchange(addr, &get("/x"), "origin", Duration::from_secs(2));
        t.contains("hello from origin").then_some(t)
    });
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");

    // 5. GRIP over a plain WebSocket: the origin subscribes with a control message, the
    //    client sees neither it nor the extension, and a publish reaches the client
    let ws_port = grip_ws_origin();
    std::fs::write(d.join("routes"), format!("* 127.0.0.1:{ws_port}\n")).unwrap();
    let (mut ws, head) = eventually("a GRIP WebSocket after the routes reload", || {
        use tokio_tungstenite::tungstenite::{WebSocket, protocol::Role};
        let mut s = TcpStream::connect(addr).ok()?;
        s.set_read_timeout(Some(Duration::from_millis(200))).ok()?;
        s.write_all(
            b"GET /ws HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
              Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        )
        .ok()?;
        let head = read_head(&mut s);
        head.starts_with("HTTP/1.1 101")
            .then(|| (WebSocket::from_raw_socket(s, Role::Client, None), head))
    });
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("sec-websocket-extensions"),
        "{head}"
    );
    let mut texts: Vec<String> = Vec::new();
    let read_text = |ws: &mut tokio_tungstenite::tungstenite::WebSocket<TcpStream>,
                     texts: &mut Vec<String>,
                     until: Instant| {
        texts.extend(ws_next_text(
            ws,
            until.saturating_duration_since(Instant::now()),
        ));
    };
    read_text(&mut ws, &mut texts, Instant::now() + WAIT);
    assert_eq!(texts, ["welcome"]);
    let deadline = Instant::now() + WAIT;
    while !texts.iter().any(|t| t == "pub-ws") {
        assert!(
            Instant::now() < deadline,
            "no publish on the websocket: {texts:?}"
        );
        let _ = publish(
            publish_port,
            r#"{"items":[{"channel":"wsx","formats":{"ws-message":{"content":"pub-ws"}}}]}"#,
        );
        read_text(
            &mut ws,
            &mut texts,
            Instant::now() + Duration::from_millis(500),
        );
    }
    ws.send(tokio_tungstenite::tungstenite::Message::text("hi"))
        .unwrap();
    while !texts.iter().any(|t| t == "echo:hi") {
        assert!(Instant::now() < deadline + WAIT, "no echo: {texts:?}");
        read_text(
            &mut ws,
            &mut texts,
            Instant::now() + Duration::from_millis(500),
        );
    }
    assert!(
        !texts
            .iter()
            .any(|t| t.contains("unprefixed") || t.starts_with("c:")),
        "{texts:?}"
    );
    drop(ws);

    let _ = stop_tx.send(());
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(5), proxy)
            .await
            .expect("proxy did not stop")
            .unwrap()
            .unwrap();
    });
}
