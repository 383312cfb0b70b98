//! `pushpin-e2e`: multi-process end-to-end and interop tests, and the set-up they share.
//!
//! The tests live in `tests/tests/`, one file per pairing: our runner with every mix of
//! services (`runner.rs`; `sharing.rs` for request sharing across the whole stack), and
//! each of our components beside the real Pushpin 1.36 counterparts from Debian
//! (`connmgr_interop.rs`, `proxy_interop.rs`, `handler_interop.rs`,
//! `zurl_differential.rs`). They start processes themselves, kill
//! them by PID, bound every wait, and use loopback only. They fail, rather than skip, when
//! a real component they need is missing (`.ci/run` installs them); the one exception is
//! `gripcontrol_publish.rs` (the official Python GRIP library publishing to our handler),
//! which skips when no Python can import that library, unless `PUSHPIN_TEST_PYTHON` is set
//! (as `.ci/run` does). They run the binaries that `cargo test --workspace` builds into
//! `target/<profile>/`.
//!
//! This library holds the set-up that several of those files need: processes stopped by
//! PID ([`Proc`]), free ports, bounded waits, plain HTTP and WebSocket client helpers and
//! the WebSocket handshake of the small origins the tests run.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio_tungstenite::tungstenite::{self, Message, WebSocket, protocol::Role};

/// Read and write timeout of the client sockets that [`connect`] opens.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// A started process, SIGTERMed then SIGKILLed (by PID, after 10 s) when dropped.
pub struct Proc(pub Child);

impl Proc {
    /// Starts `program` with `args` in `dir` (when given), stdout and stderr to `log`.
    pub fn spawn(program: &Path, args: &[String], dir: Option<&Path>, log: &Path) -> Self {
        let out = std::fs::File::create(log)
            .unwrap_or_else(|e| panic!("creating {}: {e}", log.display()));
        let mut cmd = Command::new(program);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("clone log file"))
            .stderr(out);
        if let Some(dir) = dir {
            cmd.current_dir(dir);
        }
        Self(
            cmd.spawn()
                .unwrap_or_else(|e| panic!("starting {}: {e}", program.display())),
        )
    }

    /// The process id, as nix wants it.
    pub fn pid(&self) -> Pid {
        Pid::from_raw(i32::try_from(self.0.id()).unwrap_or(i32::MAX))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // never signal a reaped PID: it may belong to someone else by now
        if matches!(self.0.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = kill(self.pid(), Signal::SIGTERM);
        if !eventually(Duration::from_secs(10), || {
            matches!(self.0.try_wait(), Ok(Some(_)))
        }) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// The directory of one test stack (removed when dropped): `run/` and `log/` inside, a
/// `routes` file and, once written, `pushpin.conf`.
pub struct StackDir(tempfile::TempDir);

impl StackDir {
    /// A new directory with empty `run/` and `log/` and `routes` holding `routes`.
    pub fn new(routes: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        for sub in ["run", "log"] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("create run and log dirs");
        }
        std::fs::write(dir.path().join("routes"), routes).expect("write routes");
        Self(dir)
    }

    /// The directory itself.
    pub fn path(&self) -> &Path {
        self.0.path()
    }

    /// `<dir>/<name>`.
    pub fn join(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }

    /// The file `<dir>/<name>` as text, empty when it cannot be read.
    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.join(name)).unwrap_or_default()
    }

    /// Writes `pushpin.conf`; returns its path.
    pub fn write_conf(&self, conf: &str) -> PathBuf {
        let path = self.join("pushpin.conf");
        std::fs::write(&path, conf).expect("write pushpin.conf");
        path
    }

    /// Starts `program --config=<dir>/pushpin.conf` in the directory, output to `<dir>/<log>`.
    pub fn start(&self, program: &Path, log: &str) -> Proc {
        Proc::spawn(
            program,
            &[format!("--config={}", self.join("pushpin.conf").display())],
            Some(self.path()),
            &self.join(log),
        )
    }
}

/// `target/<profile>/`, where cargo puts our binaries (the tests run from its `deps/`).
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("test binary lives in target/<profile>/deps")
        .to_path_buf()
}

/// Our binary `name` of the current build profile; panics (with what to run) when missing.
pub fn our_bin(name: &str) -> PathBuf {
    let bin = profile_dir().join(name);
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build --workspace --bins` first",
        bin.display()
    );
    bin
}

/// Panics unless every one of the real 1.36 programs in `paths` is installed.
pub fn require_real(paths: &[&str]) {
    for p in paths {
        assert!(
            Path::new(p).is_file(),
            "{p} is missing: install Pushpin 1.36"
        );
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    free_ports().0
}

/// Two distinct free loopback ports (both listeners are held while the second is picked).
pub fn free_ports() -> (u16, u16) {
    let a = TcpListener::bind("127.0.0.1:0").unwrap();
    let b = TcpListener::bind("127.0.0.1:0").unwrap();
    (
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    )
}

/// A short sleep between the tries of a bounded wait.
pub fn pause() {
    std::thread::park_timeout(Duration::from_millis(50));
}

/// Tries `check` until it holds (true) or `timeout` passes (false).
pub fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
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

/// Connects to a loopback port with [`IO_TIMEOUT`] on reads and writes.
pub fn connect(port: u16) -> std::io::Result<TcpStream> {
    let s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(s)
}

/// Sends `req` on a new connection and returns the whole answer (read to EOF).
pub fn request(port: u16, req: &str) -> std::io::Result<String> {
    let mut s = connect(port)?;
    s.write_all(req.as_bytes())?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// `GET path` with `Connection: close`; the whole answer.
pub fn get(port: u16, path: &str) -> std::io::Result<String> {
    request(
        port,
        &format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"),
    )
}

/// POSTs the JSON `body` to the handler's `/publish/`; an answer other than 200 is an error.
pub fn publish_json(port: u16, body: &str) -> std::io::Result<()> {
    let out = request(
        port,
        &format!(
            "POST /publish/ HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )?;
    if out.starts_with("HTTP/1.1 200") {
        Ok(())
    } else {
        Err(std::io::Error::other(out))
    }
}

/// Reads an HTTP head (up to the blank line) byte by byte.
pub fn read_head(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && s.read(&mut b).is_ok_and(|n| n == 1) {
        head.push(b[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// A held request: the connection and the bytes received so far.
pub struct Held {
    /// The connection.
    pub s: TcpStream,
    /// Everything received on it so far.
    pub buf: Vec<u8>,
}

impl Held {
    /// Sends `GET path`; with a non-empty `until`, retries (a GRIP hold answers 500 until
    /// the handler is connected) until the answer contains it, for up to 10 s.
    pub fn open(port: u16, path: &str, until: &str) -> Self {
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

    /// What has arrived so far, lossily as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.buf).into_owned()
    }

    /// Reads until `needle` arrives (true), the peer closes or `timeout` passes (false).
    pub fn wait_for(&mut self, needle: impl AsRef<[u8]>, timeout: Duration) -> bool {
        let needle = needle.as_ref();
        let has = |buf: &[u8]| buf.windows(needle.len()).any(|w| w == needle);
        let deadline = Instant::now() + timeout;
        let _ = self.s.set_read_timeout(Some(Duration::from_millis(100)));
        loop {
            if has(&self.buf) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            let mut chunk = [0u8; 4096];
            match self.s.read(&mut chunk) {
                Ok(0) => return has(&self.buf),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if is_timeout(&e) => {}
                Err(_) => return false,
            }
        }
    }

    /// Reads whatever arrives within `wait`.
    pub fn drain(&mut self, wait: Duration) {
        let _ = self.wait_for(b"\0never\0", wait);
    }
}

/// A read that ran into its socket timeout (the peer is just quiet).
pub fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

/// The `Sec-WebSocket-Accept` value answering the `Sec-WebSocket-Key` of an upgrade
/// request head, or `None` when the head has no key.
pub fn websocket_accept(head: &str) -> Option<String> {
    use base64::Engine as _;
    use sha1::{Digest, Sha1};
    let key = head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("sec-websocket-key")
            .then(|| value.trim().to_owned())
    })?;
    let digest = Sha1::digest(format!("{key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11"));
    Some(base64::engine::general_purpose::STANDARD.encode(digest))
}

/// A WebSocket origin on a thread of its own, one connection at a time: it accepts every
/// upgrade that carries a key (adding `extra_headers`, each ending in CRLF, to the 101
/// answer) and hands the socket and the request head to `serve`. Returns its port.
pub fn websocket_origin(
    extra_headers: &'static str,
    serve: impl Fn(WebSocket<TcpStream>, &str) + Send + 'static,
) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let head = read_head(&mut s);
            let Some(accept) = websocket_accept(&head) else {
                continue;
            };
            let answer = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n{extra_headers}\r\n"
            );
            if s.write_all(answer.as_bytes()).is_err() {
                continue;
            }
            serve(WebSocket::from_raw_socket(s, Role::Server, None), &head);
        }
    });
    port
}

/// Opens a WebSocket to `/ws` on a loopback port with RFC 6455's example key; panics
/// unless the answer is a 101. Returns the socket and the answer's head.
pub fn websocket_connect(port: u16) -> (WebSocket<TcpStream>, String) {
    let mut s = connect(port).unwrap();
    s.write_all(
        b"GET /ws HTTP/1.1\r\nHost: example.test\r\nUpgrade: websocket\r\n\
          Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    .unwrap();
    let head = read_head(&mut s);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    (WebSocket::from_raw_socket(s, Role::Client, None), head)
}

/// The next text message within `timeout`, skipping control frames; panics on a read
/// error other than the socket's timeout.
pub fn ws_next_text(ws: &mut WebSocket<TcpStream>, timeout: Duration) -> Option<String> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        match ws.read() {
            Ok(Message::Text(t)) => return Some(t.to_string()),
            Ok(_) => {}
            Err(tungstenite::Error::Io(e)) if is_timeout(&e) => {}
            Err(e) => panic!("websocket read: {e}"),
        }
    }
    None
}
