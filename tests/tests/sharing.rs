//! Request sharing end to end (`spec/internal.md` §4.3, §5): our runner with all our
//! services and `[handler] share_all=true`, in front of a small origin here that counts
//! requests and answers only when the test lets it. Two simultaneous GETs reach the origin
//! once and both clients get its response; two long-polls on a GRIP response hold reach it
//! once and a publish reaches both.
//!
//! Needs our binaries next to this test's `deps/` directory (`cargo build --workspace
//! --bins`), as `runner.rs` does.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use pushpin_e2e::{Held, Proc, StackDir, eventually, free_ports, get, our_bin, publish_json};

const STARTUP: Duration = Duration::from_secs(30);

/// One stack at a time: each test's origin binds a port of its own, which could take
/// the HTTP port another test has just picked and not yet listened on.
static SERIAL: Mutex<()> = Mutex::new(());
/// How long a second request has to (not) reach the origin.
const QUIET: Duration = Duration::from_secs(1);

const PROBE: &str = r#"{"items":[{"channel":"probe","formats":{"http-stream":{"content":"x"}}}]}"#;

const SLOW_BODY: &str = "shared body\n";

/// The origin's state: requests seen per path, and which paths may be answered.
#[derive(Default)]
struct OriginState {
    seen: HashMap<String, usize>,
    released: Vec<String>,
}

#[derive(Clone, Default)]
struct Origin(Arc<(Mutex<OriginState>, Condvar)>);

impl Origin {
    fn seen(&self, path: &str) -> usize {
        let st = self.0.0.lock().unwrap();
        st.seen.get(path).copied().unwrap_or(0)
    }

    fn release(&self, path: &str) {
        let (m, c) = &*self.0;
        m.lock().unwrap().released.push(path.to_string());
        c.notify_all();
    }

    /// Serves on its own threads: `/slow` and `/hold` are answered once released (the
    /// answer waits at most 20 s), anything else at once.
    fn serve(&self, listener: TcpListener) {
        let origin = self.clone();
        std::thread::spawn(move || {
            for s in listener.incoming() {
                let Ok(s) = s else { return };
                let origin = origin.clone();
                std::thread::spawn(move || origin.answer(s));
            }
        });
    }

    fn answer(&self, mut s: TcpStream) {
        let _ = s.set_read_timeout(Some(Duration::from_secs(20)));
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match s.read(&mut b) {
                Ok(1) => head.push(b[0]),
                _ => return,
            }
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        let path = head.split(' ').nth(1).unwrap_or("/").to_string();
        let (m, c) = &*self.0;
        {
            let mut st = m.lock().unwrap();
            *st.seen.entry(path.clone()).or_default() += 1;
            if path == "/slow" || path == "/hold" {
                let _ = c
                    .wait_timeout_while(st, Duration::from_secs(20), |st| {
                        !st.released.contains(&path)
                    })
                    .unwrap();
            }
        }
        let resp = match path.as_str() {
            "/slow" => format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{SLOW_BODY}",
                SLOW_BODY.len()
            ),
            "/hold" => "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nGrip-Hold: response\r\n\
                 Grip-Channel: shared\r\nContent-Length: 8\r\nConnection: close\r\n\r\ntimeout\n"
                .to_string(),
            _ => {
                "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n".to_string()
            }
        };
        let _ = s.write_all(resp.as_bytes());
    }
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

struct Env {
    dir: StackDir,
    http: u16,
    publish: u16,
    origin: Origin,
}

impl Env {
    fn start() -> (Self, Proc, MutexGuard<'static, ()>) {
        Self::start_with("")
    }

    /// Like [`Self::start`] with more `[runner]` lines (e.g. a real component).
    fn start_with(runner_extra: &str) -> (Self, Proc, MutexGuard<'static, ()>) {
        let serial = SERIAL
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let origin_port = listener.local_addr().unwrap().port();
        let origin = Origin::default();
        origin.serve(listener);
        let dir = StackDir::new(&format!("* 127.0.0.1:{origin_port}\n"));
        let (http, publish) = free_ports();
        let d = dir.path();
        std::fs::write(d.join("internal.conf"), pushpin_config::INTERNAL_CONF).unwrap();
        dir.write_conf(&format!(
            "[global]\ninclude={d}/internal.conf\nrundir={d}/run\nipc_prefix=sh-\n\
             [runner]\nservices=connmgr,zurl,proxy,handler\nhttp_port={http}\nlogdir={d}/log\n{runner_extra}\n\
             [proxy]\nroutesfile=routes\nsig_iss=pushpin\nsig_key=changeme\nupdates_check=off\n\
             [handler]\nshare_all=true\npush_in_spec=ipc://{d}/run/push-in\n\
             push_in_http_addr=127.0.0.1\npush_in_http_port={publish}\n\
             command_spec=ipc://{d}/run/command\n",
            d = d.display()
        ));
        let runner = dir.start(&runner_bin(), "runner.out");
        let env = Self {
            dir,
            http,
            publish,
            origin,
        };
        let up = eventually(STARTUP, || {
            get(env.http, "/").is_ok_and(|a| a.starts_with("HTTP/1.1 200"))
                && publish_json(env.publish, PROBE).is_ok()
        });
        assert!(up, "stack did not come up:\n{}", env.logs());
        (env, runner, serial)
    }

    fn logs(&self) -> String {
        let mut out = self.dir.read("runner.out");
        for name in ["connmgr", "zurl", "proxy", "handler"] {
            let log = self.dir.read(&format!("log/{name}.log"));
            out.push_str(&format!("--- {name}.log\n{log}"));
        }
        out
    }

    /// Waits until the origin has seen `n` requests for `path`, then checks that no
    /// more arrive for a while.
    fn origin_saw_exactly(&self, path: &str, n: usize) {
        assert!(
            eventually(Duration::from_secs(10), || self.origin.seen(path) >= n),
            "origin saw {} requests for {path}, wanted {n}\n{}",
            self.origin.seen(path),
            self.logs()
        );
        assert!(
            !eventually(QUIET, || self.origin.seen(path) > n),
            "origin saw {} requests for {path}, wanted {n}\n{}",
            self.origin.seen(path),
            self.logs()
        );
    }
}

#[test]
fn simultaneous_gets_share_one_origin_request() {
    let (env, _runner, _serial) = Env::start();
    let http = env.http;
    let a = std::thread::spawn(move || get(http, "/slow"));
    env.origin_saw_exactly("/slow", 1);
    let b = std::thread::spawn(move || get(http, "/slow"));
    // the second request joins the first instead of reaching the origin
    env.origin_saw_exactly("/slow", 1);
    env.origin.release("/slow");
    for (name, t) in [("first", a), ("second", b)] {
        let answer = t.join().unwrap().unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 200 OK\r\n") && answer.ends_with(SLOW_BODY),
            "{name} client got {answer:?}\n{}",
            env.logs()
        );
    }
    assert_eq!(env.origin.seen("/slow"), 1);
    let proxy_log = env.dir.read("log/proxy.log");
    assert_eq!(
        proxy_log.matches(" shared=").count(),
        2,
        "both requests are logged as shared:\n{proxy_log}"
    );
}

#[test]
fn shared_grip_hold_gets_the_publish_on_every_client() {
    let (env, _runner, _serial) = Env::start();
    shared_grip_hold(&env);
}

/// The same with the real 1.36 handler: it takes our accept listing both clients.
#[test]
fn shared_grip_hold_with_the_real_handler() {
    pushpin_e2e::require_real(&["/usr/bin/pushpin-handler"]);
    let (env, _runner, _serial) = Env::start_with("handler_bin=/usr/bin/pushpin-handler");
    shared_grip_hold(&env);
}

fn shared_grip_hold(env: &Env) {
    let mut a = Held::open(env.http, "/hold", "");
    env.origin_saw_exactly("/hold", 1);
    let mut b = Held::open(env.http, "/hold", "");
    env.origin_saw_exactly("/hold", 1);
    env.origin.release("/hold");
    // publish until both long-polls have it (the handler re-checks a new channel's holds
    // with the origin once, during which a publish can miss them)
    let item =
        r#"{"items":[{"channel":"shared","formats":{"http-response":{"body":"published\n"}}}]}"#;
    let wait = Duration::from_millis(300);
    let both = eventually(Duration::from_secs(15), || {
        publish_json(env.publish, item).is_ok()
            && a.wait_for("published\n", wait)
            && b.wait_for("published\n", wait)
    });
    assert!(
        both,
        "first: {:?}\nsecond: {:?}\n{}",
        a.text(),
        b.text(),
        env.logs()
    );
    for h in [&a, &b] {
        assert!(h.text().starts_with("HTTP/1.1 200 OK\r\n"), "{}", h.text());
    }
    // both were handed to the handler from the one shared origin request
    let proxy_log = env.dir.read("log/proxy.log");
    let shared_accepts = proxy_log
        .lines()
        .filter(|l| l.contains("/hold ->") && l.contains(" accept") && l.contains(" shared="))
        .count();
    assert!(shared_accepts >= 2, "{proxy_log}");
}
