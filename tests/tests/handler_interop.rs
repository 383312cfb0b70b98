//! Interop: our `pushpin-handler` (in-process) with the real Pushpin 1.36
//! `condure` and `pushpin-proxy`, started by the real 1.36 runner with
//! `services=condure,pushpin-proxy`. A client holds `/stream` and
//! `/response?channel=x` of the built-in `test` route; publishes to our
//! handler's HTTP port must reach it.
//!
//! Fails (never skips) when the real binaries are missing.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use pushpin_e2e::{StackDir, free_ports, is_timeout, require_real};

const WAIT: Duration = Duration::from_secs(15);
const REAL: [&str; 3] = [
    "/usr/bin/pushpin",
    "/usr/bin/condure",
    "/usr/bin/pushpin-proxy",
];

/// The `pushpin.conf` of the real runner starting condure and the real proxy, which hand
/// requests to our handler (publishing on `publish_port`).
fn config(dir: &StackDir, http_port: u16, publish_port: u16) -> String {
    format!(
        "[global]\ninclude=/usr/lib/pushpin/internal.conf\nrundir={run}\nipc_prefix=hx-\n\
         port_offset=0\nstats_connection_ttl=120\n\n\
         [runner]\nservices=condure,pushpin-proxy\nhttp_port={http_port}\nlogdir={log}\nlog_level=2\n\n\
         [proxy]\nroutesfile={routes}\nsig_iss=pushpin\nsig_key=changeme\nupdates_check=off\n\n\
         [handler]\npush_in_http_addr=127.0.0.1\npush_in_http_port={publish_port}\n",
        run = dir.join("run").display(),
        log = dir.join("log").display(),
        routes = dir.join("routes").display(),
    )
}

/// Sends a request and reads until `until` appears in the response (or EOF).
fn request_until(addr: SocketAddr, req: &str, until: &str) -> (TcpStream, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    read_until(&mut s, &mut out, until);
    (s, out)
}

fn read_until(s: &mut TcpStream, out: &mut String, until: &str) {
    read_for(s, out, until, WAIT);
}

fn read_for(s: &mut TcpStream, out: &mut String, until: &str, wait: Duration) {
    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 4096];
    while !out.contains(until) && Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(e) if is_timeout(&e) => {}
            Err(e) => panic!("read: {e}"),
        }
    }
}

fn publish(addr: SocketAddr, json: &str) -> String {
    let req = format!(
        "POST /publish/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{json}",
        json.len()
    );
    let (_s, out) = request_until(addr, &req, "Published\n");
    out
}

/// Holds `path` once the whole chain is up: retries while the proxy answers
/// without our handler (500) or the listener is not there yet.
fn hold(client: SocketAddr, path: &str, opened: &str) -> TcpStream {
    let deadline = Instant::now() + WAIT;
    let mut last = String::new();
    loop {
        assert!(
            Instant::now() < deadline,
            "could not hold {path}; last answer: {last:?}"
        );
        let Ok(mut s) = TcpStream::connect(client) else {
            std::thread::yield_now();
            continue;
        };
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
        s.write_all(req.as_bytes()).unwrap();
        let mut out = String::new();
        // a 500 (our handler not connected yet) keeps the connection open:
        // read for a short while only, then retry
        read_for(&mut s, &mut out, opened, Duration::from_secs(1));
        if out.contains(opened) && !out.contains(" 500 ") {
            return s;
        }
        if out.contains(" 500 ") || out.is_empty() {
            last = out;
            continue;
        }
        panic!("unexpected answer to {path}: {out:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_handler_with_real_condure_and_proxy() {
    require_real(&REAL);
    let dir = StackDir::new("* test\n");
    let (http_port, publish_port) = free_ports();
    let conf = dir.write_conf(&config(&dir, http_port, publish_port));
    let runner = dir.start(Path::new(REAL[0]), "runner.out");
    let config = pushpin_config::load(&conf, &Default::default()).unwrap();
    let handler = pushpin_handler::Handler::bind(pushpin_handler::Config::new(config.handler))
        .await
        .unwrap();
    let publish_addr = handler.http_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(handler.run(async move {
        let _ = stopped.await;
    }));
    let client: SocketAddr = format!("127.0.0.1:{http_port}").parse().unwrap();

    let checks = tokio::task::spawn_blocking(move || {
        // stream hold: initial body, then an http-stream publish
        let mut stream = hold(client, "/stream", "[stream opened]\n");
        let out = publish(
            publish_addr,
            r#"{"items":[{"channel":"test","formats":{"http-stream":{"content":"hello stream\n"}}}]}"#,
        );
        assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
        let mut got = String::new();
        read_until(&mut stream, &mut got, "hello stream\n");
        assert!(got.contains("hello stream\n"), "stream got {got:?}");

        // long-poll: an http-response publish on channel x
        let mut poll = hold(client, "/response?channel=x", "");
        // nothing arrives until the publish: poll until the hold is in place
        let deadline = Instant::now() + WAIT;
        let mut got = String::new();
        while !got.contains("published body\n") {
            assert!(
                Instant::now() < deadline,
                "long-poll never answered: {got:?}"
            );
            publish(
                publish_addr,
                r#"{"items":[{"channel":"x","formats":{"http-response":{"code":200,"headers":{"X-Pub":"yes"},"body":"published body\n"}}}]}"#,
            );
            read_for(
                &mut poll,
                &mut got,
                "published body\n",
                Duration::from_millis(500),
            );
        }
        assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
        assert!(got.contains("X-Pub: yes\r\n"), "{got}");
    });
    let result = checks.await;
    let _ = stop.send(());
    let _ = tokio::time::timeout(WAIT, task).await;
    drop(runner);
    if result.is_err() {
        for f in ["runner.out", "log/condure.log", "log/pushpin-proxy.log"] {
            eprintln!("--- {f}\n{}", dir.read(f));
        }
    }
    result.unwrap();
}
