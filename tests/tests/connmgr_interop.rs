//! Interop: the real Pushpin 1.36 runner (`/usr/bin/pushpin`, with the real
//! pushpin-proxy and pushpin-handler) with `condure_bin` pointing at our
//! `pushpin-connmgr`, on the proxy's built-in `test` route.
//!
//! Checks a plain `GET /` and a held `GET /stream` that receives a publish made
//! through the handler's HTTP publish endpoint (the stream is handed off from the
//! proxy to the handler on the way, `spec/zhttp.md` §9). The whole conformance
//! suite against 1.36 + our connmgr is the `our-connmgr` cell of
//! `tests/conformance/run-cell.sh`, which CI runs.
//!
//! Needs the `pushpin-connmgr` binary of the same build profile next to this test's
//! `deps/` directory: `cargo test --workspace` builds it (pushpin-connmgr has
//! integration tests, so cargo builds its binary before running tests); with
//! `cargo test -p pushpin-e2e` alone, run `cargo build -p pushpin-connmgr` first.
//! The test FAILS (never skips) when `/usr/bin/pushpin` or the binary is missing.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use pushpin_e2e::{
    Proc, StackDir, connect, free_ports, is_timeout, our_bin, request, require_real,
};

const PUSHPIN: &str = "/usr/bin/pushpin";
const STARTUP: Duration = Duration::from_secs(30);

/// The real runner with `condure_bin` pointing at our connmgr.
fn start(dir: &StackDir, http_port: u16, publish_port: u16) -> Proc {
    require_real(&[PUSHPIN]);
    let bin = our_bin("pushpin-connmgr");
    dir.write_conf(&format!(
        "[global]\n\
         include=/usr/lib/pushpin/internal.conf\n\
         rundir={run}\n\
         ipc_prefix=interop-\n\
         port_offset=0\n\
         [runner]\n\
         services=condure,pushpin-proxy,pushpin-handler\n\
         http_port={http_port}\n\
         logdir={log}\n\
         log_level=2\n\
         client_buffer_size=8192\n\
         client_maxconn=50000\n\
         condure_bin={bin}\n\
         [proxy]\n\
         routesfile=routes\n\
         sig_iss=pushpin\n\
         sig_key=changeme\n\
         [handler]\n\
         push_in_spec=ipc://{run}/push-in\n\
         push_in_sub_specs=ipc://{run}/push-in-sub\n\
         push_in_http_addr=127.0.0.1\n\
         push_in_http_port={publish_port}\n\
         stats_spec=ipc://{run}/stats\n\
         command_spec=ipc://{run}/command\n",
        run = dir.join("run").display(),
        log = dir.join("log").display(),
        bin = bin.display(),
    ));
    dir.start(Path::new(PUSHPIN), "runner.out")
}

/// Reads from `s` until `needle` shows up or `deadline` passes.
fn read_until(s: &mut TcpStream, buf: &mut Vec<u8>, needle: &str, deadline: Instant) -> bool {
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    while Instant::now() < deadline {
        if String::from_utf8_lossy(buf).contains(needle) {
            return true;
        }
        let mut chunk = [0u8; 4096];
        match s.read(&mut chunk) {
            Ok(0) => return String::from_utf8_lossy(buf).contains(needle),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if is_timeout(&e) => {}
            Err(e) => panic!("read failed: {e}"),
        }
    }
    String::from_utf8_lossy(buf).contains(needle)
}

#[test]
fn real_pushpin_with_our_connmgr_serves_get_and_held_stream() {
    let dir = StackDir::new("* test\n");
    let (http_port, publish_port) = free_ports();
    let _runner = start(&dir, http_port, publish_port);

    // GET / on the test route, polled until the stack is up.
    let deadline = Instant::now() + STARTUP;
    let answer = loop {
        match request(
            http_port,
            "GET / HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n",
        ) {
            Ok(a) if a.starts_with("HTTP/1.1 200") => break a,
            other => {
                assert!(
                    Instant::now() < deadline,
                    "stack did not come up: {other:?}; logs in {}",
                    dir.path().display()
                );
                std::thread::park_timeout(Duration::from_millis(100));
            }
        }
    };
    assert!(answer.contains("Content-Length: 37\r\n"), "{answer}");
    assert!(
        answer.ends_with("Hello from the Pushpin test handler!\n"),
        "{answer}"
    );

    // A held stream receives a publish (retried until the handler is connected).
    let (mut s, mut buf) = open_stream(http_port, deadline);
    let head = String::from_utf8_lossy(&buf).into_owned();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("Transfer-Encoding: chunked\r\n"), "{head}");

    let body =
        r#"{"items":[{"channel":"test","formats":{"http-stream":{"content":"hello interop\n"}}}]}"#;
    let mut delivered = false;
    for _ in 0..10 {
        publish(publish_port, body);
        if read_until(
            &mut s,
            &mut buf,
            "hello interop\n",
            Instant::now() + Duration::from_secs(1),
        ) {
            delivered = true;
            break;
        }
    }
    assert!(
        delivered,
        "publish never reached the stream: {}",
        String::from_utf8_lossy(&buf)
    );
}

/// Opens a held stream on the test route (retrying while the stack starts).
fn open_stream(http_port: u16, deadline: Instant) -> (TcpStream, Vec<u8>) {
    loop {
        let Ok(mut s) = connect(http_port) else {
            assert!(Instant::now() < deadline, "stack did not come up");
            std::thread::park_timeout(Duration::from_millis(100));
            continue;
        };
        s.write_all(b"GET /stream HTTP/1.1\r\nHost: example.test\r\n\r\n")
            .unwrap();
        let mut buf = Vec::new();
        if read_until(
            &mut s,
            &mut buf,
            "[stream opened]\n",
            Instant::now() + Duration::from_secs(2),
        ) {
            return (s, buf);
        }
        assert!(
            Instant::now() < deadline,
            "stream never opened: {}",
            String::from_utf8_lossy(&buf)
        );
        std::thread::park_timeout(Duration::from_millis(100));
    }
}

/// Our connmgr returns the credits of many sessions in one list-form `credit` packet;
/// 1.36's handler must apply them per session, or streams stall once their first
/// `client_buffer_size` (8192) bytes are used. 40 streams get 30 messages of 1,000
/// bytes each, all of them, in order.
#[test]
fn real_handler_takes_merged_credits_from_our_connmgr() {
    let dir = StackDir::new("* test\n");
    let (http_port, publish_port) = free_ports();
    let _runner = start(&dir, http_port, publish_port);
    let deadline = Instant::now() + STARTUP;
    let mut streams: Vec<(TcpStream, Vec<u8>)> =
        (0..40).map(|_| open_stream(http_port, deadline)).collect();
    // the last stream is subscribed once a publish reaches it
    let (probe, probe_buf) = streams.last_mut().unwrap();
    let mut subscribed = false;
    for _ in 0..20 {
        let body =
            r#"{"items":[{"channel":"test","formats":{"http-stream":{"content":"ready\n"}}}]}"#;
        publish(publish_port, body);
        if read_until(
            probe,
            probe_buf,
            "ready\n",
            Instant::now() + Duration::from_millis(500),
        ) {
            subscribed = true;
            break;
        }
    }
    assert!(subscribed, "subscriptions never became active");
    let filler = "x".repeat(993);
    for i in 0..30 {
        let body = format!(
            r#"{{"items":[{{"channel":"test","formats":{{"http-stream":{{"content":"m{i:02}{filler}\n"}}}}}}]}}"#
        );
        publish(publish_port, &body);
    }
    for (n, (s, buf)) in streams.iter_mut().enumerate() {
        let got = read_until(s, buf, "m29", Instant::now() + Duration::from_secs(20));
        let text = String::from_utf8_lossy(buf);
        assert!(got, "stream {n} stalled after {} bytes", buf.len());
        let positions: Vec<usize> = (0..30)
            .map(|i| text.find(&format!("m{i:02}")).expect("every message"))
            .collect();
        assert!(positions.is_sorted(), "stream {n} out of order");
    }
}

fn publish(port: u16, body: &str) {
    let req = format!(
        "POST /publish/ HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let answer = request(port, &req).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}
