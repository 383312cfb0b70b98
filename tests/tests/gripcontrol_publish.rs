//! The official Python GRIP library (`gripcontrol` with `pubcontrol`, from PyPI) publishing
//! to our handler: our runner starts all our services (connmgr, zurl-rs, proxy, handler); a
//! client holds a stream and a long-poll on the built-in `test` route and a GRIP WebSocket
//! (WebSocket-over-HTTP to a small origin here that subscribes it); a Python script then
//! publishes with `GripPubControl({'control_uri': ...})`: `publish_http_stream`,
//! `publish_http_response` (with code, reason and a header) and `publish` of a
//! `WebSocketMessageFormat` item. Each client must receive exactly what was published.
//!
//! The interpreter is `$PUSHPIN_TEST_PYTHON`; `.ci/run` creates a venv with `gripcontrol`
//! and sets it, and then the test FAILS when the library cannot be imported. Without the
//! variable it tries `python3`, and SKIPS (prints why and passes) when that cannot import
//! `gripcontrol`, so that the test command passes on a machine without network.
//!
//! Needs our binaries next to this test's `deps/` directory (`cargo build --workspace
//! --bins`), as `runner.rs` does.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use pushpin_e2e::{
    Held, IO_TIMEOUT, Proc, StackDir, eventually, free_ports, get, our_bin, websocket_connect,
    ws_next_text,
};
use tokio_tungstenite::tungstenite::WebSocket;

const STARTUP: Duration = Duration::from_secs(30);

/// Publishes one item with the official library: `publish.py CONTROL_URI KIND CHANNEL`.
/// A failed publish raises (`blocking=True`), so the exit status tells.
const PUBLISH_PY: &str = r#"
import sys
from gripcontrol import GripPubControl, HttpResponseFormat, WebSocketMessageFormat
from pubcontrol import Item

uri, kind, channel = sys.argv[1:4]
pub = GripPubControl({"control_uri": uri})
if kind == "stream":
    pub.publish_http_stream(channel, "hello from gripcontrol \u2713\n", blocking=True)
elif kind == "response":
    pub.publish_http_response(
        channel,
        HttpResponseFormat(
            code=201,
            reason="Created",
            headers={"X-Published-By": "gripcontrol"},
            body="long-poll from gripcontrol\n",
        ),
        blocking=True,
    )
elif kind == "ws":
    pub.publish(channel, Item(WebSocketMessageFormat("ws from gripcontrol")), blocking=True)
else:
    sys.exit("unknown kind " + kind)
pub.close()
"#;

/// What the script publishes, as the clients must see it.
const STREAM_CONTENT: &str = "hello from gripcontrol \u{2713}\n";
const RESPONSE_BODY: &str = "long-poll from gripcontrol\n";
const WS_CONTENT: &str = "ws from gripcontrol";

/// The Python interpreter to use, or `None` (skip) when none can import `gripcontrol` and
/// `PUSHPIN_TEST_PYTHON` is not set.
fn python() -> Option<PathBuf> {
    let imports = |py: &Path| {
        Command::new(py)
            .args(["-c", "import gripcontrol, pubcontrol"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if let Some(py) = std::env::var_os("PUSHPIN_TEST_PYTHON").filter(|v| !v.is_empty()) {
        let py = PathBuf::from(py);
        assert!(
            imports(&py),
            "PUSHPIN_TEST_PYTHON={} cannot import gripcontrol and pubcontrol \
             (pip install gripcontrol into it)",
            py.display()
        );
        return Some(py);
    }
    let py = PathBuf::from("python3");
    if imports(&py) {
        return Some(py);
    }
    eprintln!(
        "SKIPPED: no Python with the gripcontrol library: set PUSHPIN_TEST_PYTHON to an \
         interpreter that has it (`.ci/run` creates one: `python3 -m venv V && \
         V/bin/pip install gripcontrol`)"
    );
    None
}

/// Our runner, after checking that the services it is to start are built too.
fn runner_bin() -> PathBuf {
    for name in [
        "pushpin-connmgr",
        "zurl-rs",
        "pushpin-proxy",
        "pushpin-handler",
    ] {
        our_bin(name);
    }
    our_bin("pushpin")
}

/// The stack our runner started: its directory and its HTTP and publish ports.
struct Env {
    dir: StackDir,
    http: u16,
    publish: u16,
}

impl Env {
    /// Our runner with all our services; WebSockets go over HTTP to `ws_origin`, the rest
    /// to the `test` route.
    fn start(ws_origin: u16) -> (Self, Proc) {
        let dir = StackDir::new(&format!(
            "*,proto=ws 127.0.0.1:{ws_origin},over_http\n* test\n"
        ));
        let (http, publish) = free_ports();
        let d = dir.path();
        std::fs::write(d.join("internal.conf"), pushpin_config::INTERNAL_CONF).unwrap();
        dir.write_conf(&format!(
            "[global]\ninclude={d}/internal.conf\nrundir={d}/run\nipc_prefix=gc-\n\
             [runner]\nservices=connmgr,zurl,proxy,handler\nhttp_port={http}\nlogdir={d}/log\n\
             [proxy]\nroutesfile=routes\nsig_iss=pushpin\nsig_key=changeme\nupdates_check=off\n\
             [handler]\npush_in_spec=ipc://{d}/run/push-in\npush_in_http_addr=127.0.0.1\n\
             push_in_http_port={publish}\ncommand_spec=ipc://{d}/run/command\n",
            d = d.display()
        ));
        let runner = dir.start(&runner_bin(), "runner.out");
        let env = Self { dir, http, publish };
        let up = eventually(STARTUP, || {
            get(env.http, "/").is_ok_and(|a| a.starts_with("HTTP/1.1 200"))
                && publish_json(env.publish, "probe", "probe\n").is_ok()
        });
        assert!(up, "stack did not come up:\n{}", env.logs());
        (env, runner)
    }

    fn logs(&self) -> String {
        let mut out = self.dir.read("runner.out");
        for name in ["connmgr", "zurl", "proxy", "handler"] {
            let log = self.dir.read(&format!("log/{name}.log"));
            out.push_str(&format!("--- {name}.log\n{log}"));
        }
        out
    }

    /// Runs the library's publish of `kind` to `channel`; panics when the script fails.
    fn gripcontrol_publish(&self, python: &Path, kind: &str, channel: &str) {
        let out = Command::new(python)
            .args(["-c", PUBLISH_PY])
            .arg(format!("http://127.0.0.1:{}", self.publish))
            .args([kind, channel])
            .stdin(Stdio::null())
            .output()
            .expect("run python");
        assert!(
            out.status.success(),
            "gripcontrol publish ({kind}) failed: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Our own publish (not the library's): used to learn that a subscription is live.
fn publish_json(port: u16, channel: &str, text: &str) -> std::io::Result<()> {
    let text = text.replace('\n', "\\n");
    let body = format!(
        r#"{{"items":[{{"channel":"{channel}","formats":{{"http-stream":{{"content":"{text}"}},"ws-message":{{"content":"{text}"}}}}}}]}}"#
    );
    pushpin_e2e::publish_json(port, &body)
}

/// The chunks of a chunked body that starts at `body` (complete chunks only).
fn dechunk(mut body: &[u8]) -> Vec<Vec<u8>> {
    let mut chunks = Vec::new();
    loop {
        let Some(eol) = body.windows(2).position(|w| w == b"\r\n") else {
            return chunks;
        };
        let Some(size) = std::str::from_utf8(&body[..eol])
            .ok()
            .and_then(|l| usize::from_str_radix(l.split(';').next()?.trim(), 16).ok())
        else {
            return chunks;
        };
        let Some(data) = body.get(eol + 2..eol + 2 + size) else {
            return chunks;
        };
        if size == 0 {
            return chunks;
        }
        chunks.push(data.to_vec());
        body = body.get(eol + 2 + size + 2..).unwrap_or_default();
    }
}

fn split_head(buf: &[u8]) -> (String, &[u8]) {
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete head");
    (
        String::from_utf8_lossy(&buf[..end + 4]).into_owned(),
        &buf[end + 4..],
    )
}

/// A WebSocket-over-HTTP GRIP origin on a thread of its own: the OPEN request is accepted
/// with the `grip` extension and a `subscribe` control message for `channel`; any later
/// request gets an empty event list. Returns its port.
fn woh_origin(channel: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let _ = s.set_read_timeout(Some(IO_TIMEOUT));
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let (head, body) = loop {
                if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + len {
                        break (head, buf[end + 4..end + 4 + len].to_vec());
                    }
                }
                match s.read(&mut chunk) {
                    Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                    _ => break (String::new(), Vec::new()),
                }
            };
            if head.is_empty() {
                continue;
            }
            let (extra, events) = if body.starts_with(b"OPEN\r\n") {
                let control = format!(r#"c:{{"type": "subscribe", "channel": "{channel}"}}"#);
                (
                    "Sec-WebSocket-Extensions: grip\r\n",
                    format!("OPEN\r\nTEXT {:x}\r\n{control}\r\n", control.len()),
                )
            } else {
                ("", String::new())
            };
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/websocket-events\r\n{extra}\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{events}",
                events.len()
            );
            let _ = s.write_all(answer.as_bytes());
        }
    });
    port
}

/// A WebSocket to `/ws`, reading with a 500 ms timeout.
fn ws_open(port: u16) -> WebSocket<TcpStream> {
    let (mut ws, _) = websocket_connect(port);
    ws.get_mut()
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    ws
}

#[test]
fn gripcontrol_library_publishes_to_our_handler() {
    let Some(python) = python() else {
        return;
    };
    let (env, runner) = Env::start(woh_origin("gc-ws"));

    // HTTP streaming: once our own probe arrives the subscription is live; the library's
    // publish must then be the next and only chunk.
    let mut stream = Held::open(env.http, "/stream?channel=gc-stream", "[stream opened]\n");
    let probed = (0..20).any(|i| {
        let probe = format!("probe {i}\n");
        publish_json(env.publish, "gc-stream", &probe).is_ok()
            && stream.wait_for(&probe, Duration::from_millis(500))
    });
    assert!(probed, "stream never subscribed:\n{}", env.logs());
    env.gripcontrol_publish(&python, "stream", "gc-stream");
    assert!(
        stream.wait_for(STREAM_CONTENT, IO_TIMEOUT),
        "stream did not receive the library's publish: {:?}\n{}",
        stream.text(),
        env.logs()
    );
    stream.drain(Duration::from_millis(300));
    let (head, body) = split_head(&stream.buf);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let chunks: Vec<String> = dechunk(body)
        .iter()
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    let last = chunks.iter().rposition(|c| c.starts_with("probe "));
    let after = &chunks[last.map_or(0, |i| i + 1)..];
    assert_eq!(after, [STREAM_CONTENT], "chunks: {chunks:?}");

    // Long-poll: a publish before the subscription is live is lost, so publish again until
    // the held response completes; it must carry exactly the published code, header and
    // body.
    let mut poll = Held::open(env.http, "/response?channel=gc-response", "");
    let mut answered = false;
    for _ in 0..10 {
        env.gripcontrol_publish(&python, "response", "gc-response");
        if poll.wait_for(RESPONSE_BODY, Duration::from_secs(1)) {
            answered = true;
            break;
        }
    }
    assert!(
        answered,
        "long-poll did not receive the library's publish: {:?}\n{}",
        poll.text(),
        env.logs()
    );
    poll.drain(Duration::from_millis(300));
    let (head, body) = split_head(&poll.buf);
    assert!(head.starts_with("HTTP/1.1 201 Created\r\n"), "{head}");
    assert!(
        head.contains("\r\nX-Published-By: gripcontrol\r\n"),
        "{head}"
    );
    assert!(
        head.contains(&format!("\r\nContent-Length: {}\r\n", RESPONSE_BODY.len())),
        "{head}"
    );
    assert_eq!(String::from_utf8_lossy(body), RESPONSE_BODY);

    // WebSocket (GRIP over WebSocket-over-HTTP): probe until subscribed, then the library's
    // ws-message must be the next message.
    let mut ws = ws_open(env.http);
    let probed = (0..20).any(|i| {
        let probe = format!("probe {i}");
        publish_json(env.publish, "gc-ws", &probe).is_ok()
            && ws_next_text(&mut ws, Duration::from_millis(500)).is_some()
    });
    assert!(probed, "websocket never subscribed:\n{}", env.logs());
    env.gripcontrol_publish(&python, "ws", "gc-ws");
    let mut next = ws_next_text(&mut ws, IO_TIMEOUT);
    // a probe that arrived late is still in front
    while next.as_deref().is_some_and(|t| t.starts_with("probe ")) {
        next = ws_next_text(&mut ws, IO_TIMEOUT);
    }
    assert_eq!(next.as_deref(), Some(WS_CONTENT), "{}", env.logs());
    assert_eq!(ws_next_text(&mut ws, Duration::from_millis(300)), None);
    drop(ws);

    drop(runner);
}
