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
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const PUSHPIN: &str = "/usr/bin/pushpin";
const STARTUP: Duration = Duration::from_secs(30);
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Our connmgr binary of the current build profile.
fn connmgr_bin() -> PathBuf {
    // The test runs from target/<profile>/deps/<name>-<hash>.
    let exe = std::env::current_exe().expect("current exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binary lives in target/<profile>/deps");
    let bin = profile_dir.join("pushpin-connmgr");
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build -p pushpin-connmgr` (or `cargo test --workspace`) first",
        bin.display()
    );
    bin
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The runner and its children; SIGTERM to the runner (by PID) stops them all.
struct Runner {
    child: Child,
}

impl Drop for Runner {
    fn drop(&mut self) {
        let pid = Pid::from_raw(i32::try_from(self.child.id()).unwrap());
        let _ = kill(pid, Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::park_timeout(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &Path, http_port: u16, publish_port: u16) -> Runner {
    assert!(
        Path::new(PUSHPIN).is_file(),
        "{PUSHPIN} is missing: install Pushpin 1.36 (apt-get install pushpin)"
    );
    let bin = connmgr_bin();
    let run = dir.join("run");
    let log = dir.join("log");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::create_dir_all(&log).unwrap();
    let conf = format!(
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
        run = run.display(),
        log = log.display(),
        bin = bin.display(),
    );
    std::fs::write(dir.join("pushpin.conf"), conf).unwrap();
    std::fs::write(dir.join("routes"), "* test\n").unwrap();
    let child = Command::new(PUSHPIN)
        .arg(format!("--config={}", dir.join("pushpin.conf").display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting pushpin");
    Runner { child }
}

fn connect(port: u16) -> std::io::Result<TcpStream> {
    let s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(s)
}

/// One request with `Connection: close`; the whole answer.
fn request(port: u16, req: &str) -> std::io::Result<String> {
    let mut s = connect(port)?;
    s.write_all(req.as_bytes())?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
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
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("read failed: {e}"),
        }
    }
    String::from_utf8_lossy(buf).contains(needle)
}

#[test]
fn real_pushpin_with_our_connmgr_serves_get_and_held_stream() {
    let dir = tempfile::tempdir().unwrap();
    let http_port = free_port();
    let publish_port = free_port();
    let _runner = start(dir.path(), http_port, publish_port);

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

    // A held stream receives a publish. The proxy answers 500 "Accept service
    // unavailable" until the handler is connected: retry until the deadline.
    let (mut s, buf) = loop {
        let mut s = connect(http_port).unwrap();
        s.write_all(b"GET /stream HTTP/1.1\r\nHost: example.test\r\n\r\n")
            .unwrap();
        let mut buf = Vec::new();
        if read_until(
            &mut s,
            &mut buf,
            "[stream opened]\n",
            Instant::now() + Duration::from_secs(2),
        ) {
            break (s, buf);
        }
        assert!(
            Instant::now() < deadline,
            "stream never opened: {}",
            String::from_utf8_lossy(&buf)
        );
        std::thread::park_timeout(Duration::from_millis(100));
    };
    let mut buf = buf;
    let head = String::from_utf8_lossy(&buf).into_owned();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("Transfer-Encoding: chunked\r\n"), "{head}");

    let body =
        r#"{"items":[{"channel":"test","formats":{"http-stream":{"content":"hello interop\n"}}}]}"#;
    let publish = format!(
        "POST /publish/ HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut delivered = false;
    for _ in 0..10 {
        let answer = request(publish_port, &publish).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
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
