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

use std::os::unix::fs::FileTypeExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use pushpin_e2e::{
    Held, Proc, StackDir, eventually, free_ports, get, our_bin, pause, publish_json, require_real,
    websocket_connect, websocket_origin,
};
use tokio_tungstenite::tungstenite::Message;

const STARTUP: Duration = Duration::from_secs(30);
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
    require_real(&REAL);
    our_bin("pushpin")
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

/// One runner's stack: its directory and its HTTP and publish ports.
struct Env {
    dir: StackDir,
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
        let dir = StackDir::new("* test\n");
        let (http, publish) = free_ports();
        let d = dir.path();
        dir.write_conf(&format!(
            "[global]\ninclude=/usr/lib/pushpin/internal.conf\nrundir={d}/run\nipc_prefix=rt-\n\
             [runner]\nservices={services}\nhttp_port={http}\nlogdir={d}/log\n{programs}\
             [proxy]\nroutesfile=routes\nsig_iss=pushpin\nsig_key=changeme\nupdates_check=off\n\
             zurl_out_specs=ipc://{{rundir}}/{{ipc_prefix}}zurl-in\n\
             zurl_out_stream_specs=ipc://{{rundir}}/{{ipc_prefix}}zurl-in-stream\n\
             zurl_in_specs=ipc://{{rundir}}/{{ipc_prefix}}zurl-out\n\
             [handler]\npush_in_spec=ipc://{d}/run/push-in\npush_in_http_addr=127.0.0.1\n\
             push_in_http_port={publish}\ncommand_spec=ipc://{d}/run/command\n",
            d = d.display()
        ));
        Self { dir, http, publish }
    }

    /// As [`Env::with_programs`], with WebSockets routed to an echo origin of their own.
    fn with_ws_echo(services: &str, programs: &str) -> Self {
        let origin = ws_echo_origin();
        let env = Self::with_programs(services, programs);
        std::fs::write(
            env.dir.join("routes"),
            format!("*,proto=ws 127.0.0.1:{origin}\n* test\n"),
        )
        .unwrap();
        env
    }

    fn runner(&self) -> Proc {
        self.dir.start(&runner_bin(), "runner.out")
    }

    fn read(&self, name: &str) -> String {
        self.dir.read(name)
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
        kill(runner.pid(), Signal::SIGTERM).unwrap();
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

/// Publishes `text` to `channel` as an `http-stream` chunk and an `http-response` body.
fn publish(port: u16, channel: &str, text: &str) -> std::io::Result<()> {
    let text = text.replace('\n', "\\n");
    publish_json(
        port,
        &format!(
            r#"{{"items":[{{"channel":"{channel}","formats":{{"http-stream":{{"content":"{text}"}},"http-response":{{"body":"{text}"}}}}}}]}}"#
        ),
    )
}

/// Publishes `text` until `held` receives it (subscriptions are set up asynchronously).
fn receives(held: &mut Held, port: u16, channel: &str, text: &str) -> bool {
    for _ in 0..6 {
        if publish(port, channel, text).is_err() {
            pause();
            continue;
        }
        if held.wait_for(text, Duration::from_millis(500)) {
            return true;
        }
    }
    false
}

/// The pids of the four `files` and of mongrel2 (whose pid file is named after the HTTP
/// port); asserts that all five are there.
/// The pid files of the 1.36 programs behind mongrel2 (mongrel2's own is named after the
/// HTTP port).
const M2_REAL_PID_FILES: [&str; 4] = [
    "m2adapter.pid",
    "zurl.pid",
    "pushpin-proxy.pid",
    "pushpin-handler.pid",
];

fn mongrel2_stack_pids(env: &Env, files: [&str; 4]) -> Vec<i32> {
    let mut kids: Vec<i32> = files.iter().filter_map(|f| env.pid(f)).collect();
    kids.extend(env.pid(&format!("mongrel2_{}.pid", env.http)));
    assert_eq!(kids.len(), 5, "{kids:?}");
    kids
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
        if receives(&mut held, env.publish, channel, &format!("{channel} {n}\n")) {
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
        receives(&mut poll, env.publish, "lp", "long-poll answer\n"),
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
        let survived = receives(&mut held, env.publish, "fault", &format!("after {file}\n"));
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
    let kids = mongrel2_stack_pids(&env, M2_REAL_PID_FILES);
    env.stop(runner, &kids);
}

/// A WebSocket echo origin on a thread of its own (one connection at a time); returns its
/// port.
fn ws_echo_origin() -> u16 {
    websocket_origin("", |mut ws, _| {
        while let Ok(m) = ws.read() {
            if (m.is_text() || m.is_binary()) && ws.send(m).is_err() {
                break;
            }
        }
    })
}

/// A WebSocket through the runner's front end to the echo origin: the handshake answers
/// RFC 6455's example key with its accept value, and `text` comes back. The close
/// handshake is finished before returning: mongrel2 1.12 exits uncleanly when stopped with
/// a client connection open (1.36's runner reports that too, for a held stream).
fn websocket_echoes(port: u16, text: &str) {
    let (mut ws, head) = websocket_connect(port);
    assert!(
        head.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
        "{head}"
    );
    ws.send(Message::text(text)).unwrap();
    let echo = loop {
        match ws.read().unwrap() {
            Message::Text(t) => break t.to_string(),
            _ => continue,
        }
    };
    assert_eq!(echo, text);
    ws.close(None).unwrap();
    while ws.read().is_ok() {}
}

/// mongrel2 and m2adapter (both 1.36's) in front of our proxy: a WebSocket round trip
/// (m2adapter's first ZHTTP packet of a WebSocket carries no `method`), and one
/// `mongrel2.log` for the service.
#[test]
fn our_runner_with_mongrel2_in_front_of_our_proxy_carries_websockets() {
    let env = Env::with_ws_echo(
        "mongrel2,zurl,pushpin-proxy,pushpin-handler",
        "m2adapter_bin=/usr/bin/m2adapter\nmongrel2_bin=/usr/bin/mongrel2\nm2sh_bin=/usr/bin/m2sh\n",
    );
    let runner = env.runner();
    env.wait_up();
    websocket_echoes(env.http, "hello m2");
    let log = env.dir.path().join("log");
    assert!(log.join("mongrel2.log").is_file());
    assert!(!log.join(format!("mongrel2_{}.log", env.http)).exists());
    let kids = mongrel2_stack_pids(&env, M2_REAL_PID_FILES);
    env.stop(runner, &kids);
}

/// mongrel2 in front of all our services, with our `pushpin-m2adapter` (the runner's
/// default when neither `services` lists `m2adapter` nor `m2adapter_bin` is set): a held
/// stream, a long-poll and a WebSocket round trip.
#[test]
fn our_runner_with_mongrel2_and_our_m2adapter() {
    let dir = runner_bin().parent().unwrap().to_path_buf();
    assert!(
        dir.join("pushpin-m2adapter").is_file(),
        "pushpin-m2adapter is missing next to the runner: run `cargo build --workspace --bins` first"
    );
    let env = Env::with_ws_echo(
        "mongrel2,zurl,proxy,handler",
        "mongrel2_bin=/usr/bin/mongrel2\nm2sh_bin=/usr/bin/m2sh\n",
    );
    let runner = env.runner();
    env.wait_up();
    let pid = env.pid("m2adapter.pid").expect("m2adapter pid file");
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    assert_eq!(exe, dir.join("pushpin-m2adapter"));
    stream_and_long_poll_work(&env);
    websocket_echoes(env.http, "hello ours");
    let kids = mongrel2_stack_pids(
        &env,
        ["m2adapter.pid", "zurl.pid", "proxy.pid", "handler.pid"],
    );
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
    let conf = format!("--config={}", env.dir.join("pushpin.conf").display());
    let procs: Vec<Proc> = alone
        .iter()
        .map(|name| {
            Proc::spawn(
                &Path::new("/usr/bin").join(name),
                &[conf.clone(), "--ipc-prefix=rt-".into()],
                Some(env.dir.path()),
                &env.dir.join(&format!("{name}.out")),
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
