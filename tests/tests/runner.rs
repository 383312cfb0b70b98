//! Our runner (`pushpin`) driving our own services (connmgr, zurl-rs, proxy, handler) and the
//! real Pushpin 1.36 components: condure, zurl, pushpin-proxy and pushpin-handler; mongrel2 + m2adapter in place of condure; and proxy and
//! handler started alone beside a runner that starts only the rest. Each case checks a plain
//! `GET /`, a held stream and a long-poll receiving publishes on the proxy's `test` route.
//! The first case also kills each child with SIGKILL in turn while a stream is held: the child
//! must be back and new requests must succeed within 2 s; it reports which held streams
//! survived. Two more cases put mongrel2 and an m2adapter (1.36's, then ours) in front of our
//! proxy and carry a WebSocket to a local origin. Every case ends with SIGTERM to the runner, which must leave
//! no child and no ipc file behind.
//!
//! Needs our binaries of the same build profile next to this test's `deps/` directory: run
//! `cargo build --workspace --bins` first (`cargo test` alone builds only the binaries of
//! packages that have integration tests). FAILS, never skips, when a 1.36 program is missing.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::FileTypeExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const STARTUP: Duration = Duration::from_secs(30);
const IO_TIMEOUT: Duration = Duration::from_secs(5);
const REAL: [&str; 7] = [
    "/usr/bin/condure",
    "/usr/bin/zurl",
    "/usr/bin/pushpin-proxy",
    "/usr/bin/pushpin-handler",
    "/usr/bin/mongrel2",
    "/usr/bin/m2sh",
    "/usr/bin/m2adapter",
];

/// The `[runner]` keys that select the real 1.36 programs.
const REAL_PROGRAMS: &str = "condure_bin=/usr/bin/condure\nzurl_bin=/usr/bin/zurl\n\
                             proxy_bin=/usr/bin/pushpin-proxy\nhandler_bin=/usr/bin/pushpin-handler\n\
                             m2adapter_bin=/usr/bin/m2adapter\nmongrel2_bin=/usr/bin/mongrel2\n\
                             m2sh_bin=/usr/bin/m2sh\n";

/// Our service binaries, which the runner finds next to itself.
const OURS: [&str; 4] = [
    "pushpin-connmgr",
    "zurl-rs",
    "pushpin-proxy",
    "pushpin-handler",
];

fn runner_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binary lives in target/<profile>/deps");
    let bin = profile_dir.join("pushpin");
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build -p pushpin-runner` first",
        bin.display()
    );
    for p in REAL {
        assert!(
            Path::new(p).is_file(),
            "{p} is missing: install Pushpin 1.36"
        );
    }
    bin
}

/// Two distinct free ports (both listeners are held while the second is picked).
fn free_ports() -> (u16, u16) {
    let a = TcpListener::bind("127.0.0.1:0").unwrap();
    let b = TcpListener::bind("127.0.0.1:0").unwrap();
    (
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    )
}

fn pause() {
    std::thread::park_timeout(Duration::from_millis(50));
}

fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        pause();
    }
}

fn alive(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    !stat.is_empty()
        && !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
}

/// A started process, SIGTERMed then SIGKILLed (by PID) when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        // never signal a reaped PID: it may belong to someone else by now
        if matches!(self.0.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = kill(Pid::from_raw(self.0.id() as i32), Signal::SIGTERM);
        if !eventually(Duration::from_secs(10), || {
            matches!(self.0.try_wait(), Ok(Some(_)))
        }) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

struct Env {
    dir: tempfile::TempDir,
    http: u16,
    publish: u16,
}

impl Env {
    fn new(services: &str) -> Self {
        Self::with_programs(services, REAL_PROGRAMS)
    }

    /// `programs` is the `[runner]` lines naming the programs (empty: ours, found next to the
    /// runner).
    fn with_programs(services: &str, programs: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (http, publish) = free_ports();
        let d = dir.path();
        let conf = format!(
            "[global]\ninclude=/usr/lib/pushpin/internal.conf\nrundir={d}/run\nipc_prefix=rt-\n\
             [runner]\nservices={services}\nhttp_port={http}\nlogdir={d}/log\n{programs}\
             [proxy]\nroutesfile=routes\nsig_iss=pushpin\nsig_key=changeme\nupdates_check=off\n\
             zurl_out_specs=ipc://{{rundir}}/{{ipc_prefix}}zurl-in\n\
             zurl_out_stream_specs=ipc://{{rundir}}/{{ipc_prefix}}zurl-in-stream\n\
             zurl_in_specs=ipc://{{rundir}}/{{ipc_prefix}}zurl-out\n\
             [handler]\npush_in_spec=ipc://{d}/run/push-in\npush_in_http_addr=127.0.0.1\n\
             push_in_http_port={publish}\ncommand_spec=ipc://{d}/run/command\n",
            d = d.display()
        );
        std::fs::write(d.join("pushpin.conf"), conf).unwrap();
        std::fs::write(d.join("routes"), "* test\n").unwrap();
        Self { dir, http, publish }
    }

    fn conf(&self) -> PathBuf {
        self.dir.path().join("pushpin.conf")
    }

    fn spawn(&self, program: &Path, args: &[String], out: &str) -> Proc {
        let out = std::fs::File::create(self.dir.path().join(out)).unwrap();
        Proc(
            Command::new(program)
                .args(args)
                .current_dir(self.dir.path())
                .stdin(Stdio::null())
                .stdout(out.try_clone().unwrap())
                .stderr(out)
                .spawn()
                .unwrap(),
        )
    }

    fn runner(&self) -> Proc {
        self.spawn(
            &runner_bin(),
            &[format!("--config={}", self.conf().display())],
            "runner.out",
        )
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }

    fn pid(&self, file: &str) -> Option<i32> {
        self.read(&format!("run/{file}")).trim().parse().ok()
    }

    fn wait_up(&self) {
        let ok = eventually(STARTUP, || {
            get(self.http, "/").is_ok_and(|a| a.starts_with("HTTP/1.1 200"))
                && publish(self.publish, "test", "probe\n").is_ok()
        });
        assert!(ok, "stack did not come up:\n{}", self.read("runner.out"));
    }

    fn ipc_files(&self) -> Vec<String> {
        std::fs::read_dir(self.dir.path().join("run"))
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_socket()))
                    .filter_map(|e| e.file_name().to_str().map(str::to_owned))
                    .filter(|n| n.starts_with("rt-"))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// SIGTERM to the runner: exit 0, no child left, no ipc file of ours left.
    fn stop(&self, mut runner: Proc, kids: &[i32]) {
        kill(Pid::from_raw(runner.0.id() as i32), Signal::SIGTERM).unwrap();
        let mut status = None;
        eventually(Duration::from_secs(20), || {
            status = runner.0.try_wait().unwrap();
            status.is_some()
        });
        let status = status.expect("runner did not stop");
        assert!(status.success(), "{status}:\n{}", self.read("runner.out"));
        assert!(
            eventually(Duration::from_secs(5), || kids.iter().all(|&p| !alive(p))),
            "children left"
        );
        assert_eq!(self.ipc_files(), Vec::<String>::new());
    }
}

fn connect(port: u16) -> std::io::Result<TcpStream> {
    let s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(s)
}

fn get(port: u16, path: &str) -> std::io::Result<String> {
    let mut s = connect(port)?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes())?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn publish(port: u16, channel: &str, text: &str) -> std::io::Result<()> {
    let body = format!(
        r#"{{"items":[{{"channel":"{channel}","formats":{{"http-stream":{{"content":"{}"}},"http-response":{{"body":"{}"}}}}}}]}}"#,
        text.replace('\n', "\\n"),
        text.replace('\n', "\\n")
    );
    let mut s = connect(port)?;
    s.write_all(
        format!(
            "POST /publish/ HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    if out.starts_with(b"HTTP/1.1 200") {
        Ok(())
    } else {
        Err(std::io::Error::other(
            String::from_utf8_lossy(&out).into_owned(),
        ))
    }
}

/// A held request: the connection and what it has received.
struct Held {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Held {
    /// Sends the request; with a non-empty `until`, retries (a GRIP hold answers 500 until
    /// the handler is connected) until the answer contains it, for up to 10 s.
    fn open(port: u16, path: &str, until: &str) -> Self {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut s = connect(port).unwrap();
            s.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
                .unwrap();
            let mut h = Self { s, buf: Vec::new() };
            if until.is_empty() || h.wait_for(until, IO_TIMEOUT) {
                return h;
            }
            assert!(Instant::now() < deadline, "{}", h.text());
            pause();
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.buf).into_owned()
    }

    /// Reads until `needle` arrives (true), the peer closes or `timeout` passes (false).
    fn wait_for(&mut self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let _ = self.s.set_read_timeout(Some(Duration::from_millis(100)));
        loop {
            if self.text().contains(needle) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            let mut chunk = [0u8; 4096];
            match self.s.read(&mut chunk) {
                Ok(0) => return self.text().contains(needle),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return false,
            }
        }
    }

    /// Publishes `text` until it arrives (subscriptions are set up asynchronously).
    fn receives(&mut self, port: u16, channel: &str, text: &str) -> bool {
        for _ in 0..6 {
            if publish(port, channel, text).is_err() {
                pause();
                continue;
            }
            if self.wait_for(text, Duration::from_millis(500)) {
                return true;
            }
        }
        false
    }
}

/// Opens streams on `channel` and publishes until one receives a publish, for up to
/// `timeout` (the suite takes a moment to connect all its parts after a start or restart, and
/// a stream opened in that moment may be closed); returns how long it took.
fn stream_works(env: &Env, channel: &str, timeout: Duration) -> Option<Duration> {
    let t0 = Instant::now();
    let mut n = 0;
    while t0.elapsed() < timeout {
        n += 1;
        let mut held = Held::open(
            env.http,
            &format!("/stream?channel={channel}"),
            "[stream opened]\n",
        );
        if held.receives(env.publish, channel, &format!("{channel} {n}\n")) {
            return Some(t0.elapsed());
        }
    }
    None
}

/// Stream and long-poll on the test route.
fn stream_and_long_poll_work(env: &Env) {
    assert!(
        stream_works(env, "test", Duration::from_secs(15)).is_some(),
        "no stream received a publish:\n{}",
        env.read("runner.out")
    );
    let mut poll = Held::open(env.http, "/response?channel=lp", "");
    assert!(
        poll.receives(env.publish, "lp", "long-poll answer\n"),
        "{}",
        poll.text()
    );
    assert!(poll.text().starts_with("HTTP/1.1 200"), "{}", poll.text());
}

#[test]
fn our_runner_with_condure_zurl_proxy_handler_survives_kills() {
    let env = Env::new("condure,zurl,pushpin-proxy,pushpin-handler");
    let runner = env.runner();
    env.wait_up();
    stream_and_long_poll_work(&env);
    let files = [
        "condure.pid",
        "zurl.pid",
        "pushpin-proxy.pid",
        "pushpin-handler.pid",
    ];
    let mut report = Vec::new();
    for file in files {
        let old = env.pid(file).expect(file);
        let mut held = Held::open(env.http, "/stream?channel=fault", "[stream opened]\n");
        let t0 = Instant::now();
        kill(Pid::from_raw(old), Signal::SIGKILL).unwrap();
        let back = eventually(Duration::from_secs(2), || {
            env.pid(file).is_some_and(|p| p != old && alive(p))
        });
        assert!(
            back,
            "{file} not restarted within 2 s:\n{}",
            env.read("runner.out")
        );
        let restarted = t0.elapsed();
        let serving = eventually(Duration::from_secs(5), || {
            get(env.http, "/").is_ok_and(|a| a.starts_with("HTTP/1.1 200"))
        });
        assert!(serving, "{file}: GET / fails after the restart");
        let served = t0.elapsed();
        let survived = held.receives(env.publish, "fault", &format!("after {file}\n"));
        let streams = stream_works(&env, "fresh", Duration::from_secs(10))
            .map(|d| (t0.elapsed() - d).as_millis());
        assert!(
            streams.is_some(),
            "{file}: no new stream works:\n{}",
            env.read("runner.out")
        );
        report.push(format!(
            "{file}: restarted in {} ms, GET / served in {} ms, new streams work; held stream {}",
            restarted.as_millis(),
            served.as_millis(),
            if survived { "survived" } else { "was lost" }
        ));
        drop(held);
    }
    eprintln!("kill -9 report:\n  {}", report.join("\n  "));
    let kids: Vec<i32> = files.iter().filter_map(|f| env.pid(f)).collect();
    env.stop(runner, &kids);
}

#[test]
fn our_runner_with_all_our_services() {
    let dir = runner_bin().parent().unwrap().to_path_buf();
    for name in OURS {
        assert!(
            dir.join(name).is_file(),
            "{name} is missing next to the runner: run `cargo build --workspace --bins` first"
        );
    }
    let env = Env::with_programs("connmgr,zurl,proxy,handler", "");
    let runner = env.runner();
    env.wait_up();
    stream_and_long_poll_work(&env);
    // pid and log files are named after the names used in `services`
    for log in ["connmgr.log", "zurl.log", "proxy.log", "handler.log"] {
        assert!(env.dir.path().join("log").join(log).is_file(), "{log}");
    }
    let kids: Vec<i32> = ["connmgr.pid", "zurl.pid", "proxy.pid", "handler.pid"]
        .iter()
        .filter_map(|f| env.pid(f))
        .collect();
    assert_eq!(kids.len(), 4, "{kids:?}");
    for pid in &kids {
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
        assert_eq!(
            exe.parent(),
            Some(dir.as_path()),
            "{} is not ours",
            exe.display()
        );
    }
    env.stop(runner, &kids);
}

#[test]
fn our_runner_with_mongrel2_m2adapter_zurl_proxy_handler() {
    let env = Env::new("mongrel2,zurl,pushpin-proxy,pushpin-handler");
    let runner = env.runner();
    env.wait_up();
    stream_and_long_poll_work(&env);
    let out = env.read("runner.out");
    assert!(out.contains("starting m2 http:"), "{out}");
    assert!(out.contains("starting m2a"), "{out}");
    let mut kids: Vec<i32> = [
        "m2adapter.pid",
        "zurl.pid",
        "pushpin-proxy.pid",
        "pushpin-handler.pid",
    ]
    .iter()
    .filter_map(|f| env.pid(f))
    .collect();
    kids.extend(env.pid(&format!("mongrel2_{}.pid", env.http)));
    assert_eq!(kids.len(), 5, "{kids:?}");
    env.stop(runner, &kids);
}

/// Reads an HTTP head (up to the blank line) byte by byte.
fn read_head(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && s.read(&mut b).is_ok_and(|n| n == 1) {
        head.push(b[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// A WebSocket echo origin on a thread of its own (one connection at a time); returns its
/// port.
fn ws_echo_origin() -> u16 {
    use base64::Engine as _;
    use sha1::{Digest, Sha1};
    use tokio_tungstenite::tungstenite::{WebSocket, protocol::Role};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let head = read_head(&mut s);
            let Some(key) = head.lines().find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("sec-websocket-key")
                    .then(|| value.trim().to_owned())
            }) else {
                continue;
            };
            let digest = Sha1::digest(format!("{key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11"));
            let accept = base64::engine::general_purpose::STANDARD.encode(digest);
            let answer = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
            );
            if s.write_all(answer.as_bytes()).is_err() {
                continue;
            }
            let mut ws = WebSocket::from_raw_socket(s, Role::Server, None);
            while let Ok(m) = ws.read() {
                if (m.is_text() || m.is_binary()) && ws.send(m).is_err() {
                    break;
                }
            }
        }
    });
    port
}

/// mongrel2 and m2adapter (both 1.36's) in front of our proxy: a WebSocket round trip
/// (m2adapter's first ZHTTP packet of a WebSocket carries no `method`), and one
/// `mongrel2.log` for the service.
#[test]
fn our_runner_with_mongrel2_in_front_of_our_proxy_carries_websockets() {
    use tokio_tungstenite::tungstenite::{Message, WebSocket, protocol::Role};
    let origin = ws_echo_origin();
    let env = Env::with_programs(
        "mongrel2,zurl,pushpin-proxy,pushpin-handler",
        "m2adapter_bin=/usr/bin/m2adapter\nmongrel2_bin=/usr/bin/mongrel2\nm2sh_bin=/usr/bin/m2sh\n",
    );
    std::fs::write(
        env.dir.path().join("routes"),
        format!("*,proto=ws 127.0.0.1:{origin}\n* test\n"),
    )
    .unwrap();
    let runner = env.runner();
    env.wait_up();
    let mut stream = connect(env.http).unwrap();
    stream
        .write_all(
            b"GET /ws HTTP/1.1\r\nHost: example.test\r\nUpgrade: websocket\r\n\
              Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        )
        .unwrap();
    let head = read_head(&mut stream);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    // RFC 6455's example key and its accept value
    assert!(
        head.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
        "{head}"
    );
    let mut ws = WebSocket::from_raw_socket(stream, Role::Client, None);
    ws.send(Message::text("hello m2")).unwrap();
    let echo = loop {
        match ws.read().unwrap() {
            Message::Text(t) => break t.to_string(),
            _ => continue,
        }
    };
    assert_eq!(echo, "hello m2");
    // finish the close handshake first: mongrel2 1.12 exits uncleanly when stopped with a
    // client connection open (1.36's runner reports that too, for a held stream)
    ws.close(None).unwrap();
    while ws.read().is_ok() {}
    drop(ws);
    let log = env.dir.path().join("log");
    assert!(log.join("mongrel2.log").is_file());
    assert!(!log.join(format!("mongrel2_{}.log", env.http)).exists());
    let mut kids: Vec<i32> = [
        "m2adapter.pid",
        "zurl.pid",
        "pushpin-proxy.pid",
        "pushpin-handler.pid",
    ]
    .iter()
    .filter_map(|f| env.pid(f))
    .collect();
    kids.extend(env.pid(&format!("mongrel2_{}.pid", env.http)));
    assert_eq!(kids.len(), 5, "{kids:?}");
    env.stop(runner, &kids);
}

/// mongrel2 in front of all our services, with our `pushpin-m2adapter` (the runner's
/// default when neither `services` lists `m2adapter` nor `m2adapter_bin` is set): a held
/// stream, a long-poll and a WebSocket round trip.
#[test]
fn our_runner_with_mongrel2_and_our_m2adapter() {
    use tokio_tungstenite::tungstenite::{Message, WebSocket, protocol::Role};
    let dir = runner_bin().parent().unwrap().to_path_buf();
    assert!(
        dir.join("pushpin-m2adapter").is_file(),
        "pushpin-m2adapter is missing next to the runner: run `cargo build --workspace --bins` first"
    );
    let origin = ws_echo_origin();
    let env = Env::with_programs(
        "mongrel2,zurl,proxy,handler",
        "mongrel2_bin=/usr/bin/mongrel2\nm2sh_bin=/usr/bin/m2sh\n",
    );
    std::fs::write(
        env.dir.path().join("routes"),
        format!("*,proto=ws 127.0.0.1:{origin}\n* test\n"),
    )
    .unwrap();
    let runner = env.runner();
    env.wait_up();
    let pid = env.pid("m2adapter.pid").expect("m2adapter pid file");
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    assert_eq!(exe, dir.join("pushpin-m2adapter"));
    stream_and_long_poll_work(&env);
    let mut stream = connect(env.http).unwrap();
    stream
        .write_all(
            b"GET /ws HTTP/1.1\r\nHost: example.test\r\nUpgrade: websocket\r\n\
              Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        )
        .unwrap();
    let head = read_head(&mut stream);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        head.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
        "{head}"
    );
    let mut ws = WebSocket::from_raw_socket(stream, Role::Client, None);
    ws.send(Message::text("hello ours")).unwrap();
    let echo = loop {
        match ws.read().unwrap() {
            Message::Text(t) => break t.to_string(),
            _ => continue,
        }
    };
    assert_eq!(echo, "hello ours");
    ws.close(None).unwrap();
    while ws.read().is_ok() {}
    drop(ws);
    let mut kids: Vec<i32> = ["m2adapter.pid", "zurl.pid", "proxy.pid", "handler.pid"]
        .iter()
        .filter_map(|f| env.pid(f))
        .collect();
    kids.extend(env.pid(&format!("mongrel2_{}.pid", env.http)));
    assert_eq!(kids.len(), 5, "{kids:?}");
    env.stop(runner, &kids);
}

#[test]
fn runner_killed_takes_children_along_and_a_new_start_cleans_up() {
    let env = Env::new("condure,zurl,pushpin-proxy,pushpin-handler");
    let mut runner = env.runner();
    env.wait_up();
    let files = [
        "condure.pid",
        "zurl.pid",
        "pushpin-proxy.pid",
        "pushpin-handler.pid",
    ];
    let kids: Vec<i32> = files.iter().filter_map(|f| env.pid(f)).collect();
    assert_eq!(kids.len(), 4);
    runner.0.kill().unwrap();
    runner.0.wait().unwrap();
    assert!(
        eventually(Duration::from_secs(5), || kids.iter().all(|&p| !alive(p))),
        "children outlived the runner"
    );
    // the proxy's and zurl's sockets stay behind, as after any crash
    assert!(!env.ipc_files().is_empty());
    let runner = env.runner();
    env.wait_up();
    stream_and_long_poll_work(&env);
    let kids: Vec<i32> = files.iter().filter_map(|f| env.pid(f)).collect();
    env.stop(runner, &kids);
}

/// The runner starts `services`; the 1.36 programs in `alone` run beside it with `--config`.
fn started_alone_beside_the_runner(services: &str, alone: &[&str]) {
    let env = Env::new(services);
    let runner = env.runner();
    assert!(eventually(STARTUP, || env
        .read("runner.out")
        .contains(" started\n")));
    let conf = format!("--config={}", env.conf().display());
    let procs: Vec<Proc> = alone
        .iter()
        .map(|name| {
            env.spawn(
                &Path::new("/usr/bin").join(name),
                &[conf.clone(), "--ipc-prefix=rt-".into()],
                &format!("{name}.out"),
            )
        })
        .collect();
    env.wait_up();
    stream_and_long_poll_work(&env);
    drop(procs);
    let kids: Vec<i32> = [
        "condure.pid",
        "zurl.pid",
        "pushpin-proxy.pid",
        "pushpin-handler.pid",
    ]
    .iter()
    .filter_map(|f| env.pid(f))
    .collect();
    env.stop(runner, &kids);
}

#[test]
fn proxy_and_handler_started_alone_beside_the_runner() {
    started_alone_beside_the_runner("condure,zurl", &["pushpin-proxy", "pushpin-handler"]);
}

#[test]
fn proxy_started_alone_beside_the_runner() {
    started_alone_beside_the_runner("condure,zurl,pushpin-handler", &["pushpin-proxy"]);
}

#[test]
fn handler_started_alone_beside_the_runner() {
    started_alone_beside_the_runner("condure,zurl,pushpin-proxy", &["pushpin-handler"]);
}
