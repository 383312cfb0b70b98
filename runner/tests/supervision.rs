//! The runner binary against fake children (shell scripts in a temp dir): argument lists, pid
//! and log files, start and stop order, restart with backoff, giving up, SIGKILL after the stop
//! bound, SIGHUP forwarding, merged output, and no orphans when the runner is SIGKILLed.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const RUNNER: &str = env!("CARGO_BIN_EXE_pushpin");

/// Polls `check` every 20 ms until it holds or `timeout` passes.
#[expect(
    clippy::disallowed_methods,
    reason = "the poll interval of a bounded wait on another process"
)]
fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A fake service: records its arguments and pid, logs TERM and HUP, optionally misbehaves.
fn fake(dir: &Path, name: &str, behaviour: &str) -> PathBuf {
    let path = dir.join(format!("fake-{name}"));
    let script = format!(
        r#"#!/bin/sh
d='{d}'
printf '%s\n' "$@" > "$d/{name}.args"
echo $$ >> "$d/{name}.starts"
echo "[INFO] 2026-01-01 00:00:00.000 hello from {name}"
{behaviour}
trap 'echo {name} >> "$d/stops"; exit 0' TERM
trap 'echo {name} >> "$d/hups"' HUP
echo $$ >> "$d/{name}.ready"
while :; do sleep 0.2; done
"#,
        d = dir.display()
    );
    fs::write(&path, script).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    path
}

struct Suite {
    dir: tempfile::TempDir,
    runner: Child,
}

impl Suite {
    fn start(behaviours: &[(&str, &str)], extra: &str, args: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let b = |name: &str| {
            let how = behaviours
                .iter()
                .find(|(n, _)| *n == name)
                .map_or("", |(_, b)| *b);
            fake(d, name, how).display().to_string()
        };
        let conf = format!(
            "[global]\nrundir={d}/run\n[runner]\nservices=condure,zurl,pushpin-proxy,pushpin-handler\n\
             http_port=127.0.0.1:1\nlogdir={d}/log\ncondure_bin={}\nzurl_bin={}\nproxy_bin={}\n\
             handler_bin={}\n{extra}",
            b("condure"),
            b("zurl"),
            b("proxy"),
            b("handler"),
            d = d.display()
        );
        fs::write(d.join("pushpin.conf"), conf).unwrap();
        let out = fs::File::create(d.join("runner.out")).unwrap();
        let runner = Command::new(RUNNER)
            .arg(format!("--config={}", d.join("pushpin.conf").display()))
            .args(args)
            .current_dir(d)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        Self { dir, runner }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn read(&self, name: &str) -> String {
        fs::read_to_string(self.path(name)).unwrap_or_default()
    }

    fn pids(&self, name: &str) -> Vec<i32> {
        self.read(&format!("{name}.starts"))
            .lines()
            .filter_map(|l| l.parse().ok())
            .collect()
    }

    fn wait_started(&self) {
        let ok = eventually(Duration::from_secs(10), || {
            ["condure", "zurl", "proxy", "handler"]
                .iter()
                .all(|n| !self.pids(n).is_empty())
                && self.read("runner.out").contains(" started\n")
        });
        assert!(ok, "runner output:\n{}", self.read("runner.out"));
    }

    fn signal(&self, sig: Signal) {
        kill(Pid::from_raw(self.runner.id() as i32), sig).unwrap();
    }

    fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let mut status = None;
        eventually(timeout, || {
            status = self.runner.try_wait().unwrap();
            status.is_some()
        });
        status.unwrap_or_else(|| panic!("runner still running:\n{}", self.read("runner.out")))
    }
}

impl Drop for Suite {
    fn drop(&mut self) {
        let _ = self.runner.kill();
        let _ = self.runner.wait();
    }
}

fn alive(pid: i32) -> bool {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // "pid (comm) S ..." — a zombie is dead for our purposes
    !stat.is_empty()
        && !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
}

#[test]
fn arguments_pid_and_log_files_and_reverse_stop() {
    let mut s = Suite::start(&[], "", &["--route=* test"]);
    s.wait_started();
    let d = s.dir.path().display().to_string();
    assert_eq!(
        s.read("condure.args"),
        format!(
            "--log-level=2\n--listen=127.0.0.1:1,stream\n--zclient-stream=ipc://{d}/run/pushpin-condure\n\
             --buffer-size=8192\n--stream-maxconn=50000\n"
        )
    );
    assert_eq!(
        s.read("zurl.args"),
        format!("--config={d}/run/zurl.conf\n--logfile={d}/log/zurl.log\n--loglevel=2\n")
    );
    assert!(
        s.read("run/zurl.conf")
            .contains(&format!("in_spec=ipc://{d}/run/pushpin-zurl-in\n"))
    );
    assert_eq!(
        s.read("proxy.args"),
        format!(
            "--config={d}/pushpin.conf\n--ipc-prefix=pushpin-\n--logfile={d}/log/pushpin-proxy.log\n\
             --loglevel=2\n--route=* test\n--quiet-check\n"
        )
    );
    for (service, file) in [
        ("condure", "condure"),
        ("zurl", "zurl"),
        ("proxy", "pushpin-proxy"),
        ("handler", "pushpin-handler"),
    ] {
        let pid = s.pids(service)[0];
        assert_eq!(s.read(&format!("run/{file}.pid")), format!("{pid}\n"));
        assert!(s.path(&format!("log/{file}.log")).is_file(), "{file}.log");
    }
    // condure's stdout goes to its log file
    assert!(eventually(Duration::from_secs(5), || s
        .read("log/condure.log")
        .contains("hello from condure")));
    let kids: Vec<i32> = ["condure", "zurl", "proxy", "handler"]
        .iter()
        .map(|n| s.pids(n)[0])
        .collect();
    s.signal(Signal::SIGTERM);
    assert!(
        s.wait_exit(Duration::from_secs(20)).success(),
        "{}",
        s.read("runner.out")
    );
    assert_eq!(s.read("stops"), "handler\nproxy\nzurl\ncondure\n");
    assert!(kids.iter().all(|&p| !alive(p)));
    for file in ["condure", "zurl", "pushpin-proxy", "pushpin-handler"] {
        assert!(
            !s.path(&format!("run/{file}.pid")).exists(),
            "{file}.pid left"
        );
    }
    let out = s.read("runner.out");
    assert!(
        out.contains("stopping handler\n") && out.contains(" stopped\n"),
        "{out}"
    );
}

#[test]
fn crashed_child_restarts_alone_and_sighup_skips_condure() {
    let mut s = Suite::start(&[], "", &[]);
    s.wait_started();
    let first = s.pids("handler")[0];
    kill(Pid::from_raw(first), Signal::SIGKILL).unwrap();
    assert!(
        eventually(Duration::from_secs(2), || s.pids("handler").len() == 2),
        "{}",
        s.read("runner.out")
    );
    let second = s.pids("handler")[1];
    assert!(eventually(Duration::from_secs(2), || s
        .read("run/pushpin-handler.pid")
        == format!("{second}\n")));
    // a SIGHUP before the new handler has set its trap would kill it
    assert!(eventually(Duration::from_secs(10), || s
        .read("handler.ready")
        .lines()
        .any(|l| l == second.to_string())));
    for other in ["condure", "zurl", "proxy"] {
        assert_eq!(s.pids(other).len(), 1, "{other} was restarted");
    }
    assert!(
        s.read("runner.out")
            .contains("handler: Exited unexpectedly")
    );
    s.signal(Signal::SIGHUP);
    assert!(eventually(Duration::from_secs(10), || {
        let h = s.read("hups");
        h.contains("zurl") && h.contains("proxy") && h.contains("handler")
    }));
    assert!(!s.read("hups").contains("condure"));
    s.signal(Signal::SIGINT);
    assert!(s.wait_exit(Duration::from_secs(20)).success());
}

#[test]
fn repeated_fast_failures_give_up_and_stop_everything() {
    let mut s = Suite::start(&[("handler", "exit 3")], "", &[]);
    let status = s.wait_exit(Duration::from_secs(20));
    assert_eq!(status.code(), Some(1), "{}", s.read("runner.out"));
    assert_eq!(s.pids("handler").len(), 5);
    let out = s.read("runner.out");
    assert!(out.contains("handler: failed 5 times"), "{out}");
    for other in ["condure", "zurl", "proxy"] {
        let pid = s.pids(other)[0];
        assert!(!alive(pid), "{other} still alive");
    }
}

#[test]
fn child_ignoring_sigterm_is_killed_after_the_bound() {
    let mut s = Suite::start(
        &[("handler", "trap '' TERM; while :; do sleep 0.2; done")],
        "",
        &[],
    );
    assert!(eventually(Duration::from_secs(10), || !s
        .pids("handler")
        .is_empty()
        && s.read("runner.out").contains(" started\n")));
    let handler = s.pids("handler")[0];
    let t0 = Instant::now();
    s.signal(Signal::SIGTERM);
    s.wait_exit(Duration::from_secs(20));
    assert!(t0.elapsed() >= Duration::from_secs(3), "not waited for");
    assert!(!alive(handler));
    assert!(
        s.read("runner.out")
            .contains("handler taking too long, forcing quit")
    );
}

#[test]
fn no_orphans_when_the_runner_is_killed() {
    let mut s = Suite::start(&[], "", &[]);
    s.wait_started();
    let kids: Vec<i32> = ["condure", "zurl", "proxy", "handler"]
        .iter()
        .map(|n| s.pids(n)[0])
        .collect();
    s.signal(Signal::SIGKILL);
    s.wait_exit(Duration::from_secs(5));
    assert!(
        eventually(Duration::from_secs(5), || kids.iter().all(|&p| !alive(p))),
        "orphans: {:?}",
        kids.iter().filter(|&&p| alive(p)).collect::<Vec<_>>()
    );
}

#[test]
fn merged_output_is_prefixed_and_needs_no_logdir() {
    let mut s = Suite::start(&[], "", &["-m", "--id=2"]);
    assert!(
        eventually(Duration::from_secs(10), || {
            let out = s.read("runner.out");
            out.contains("[INFO] 2026-01-01 00:00:00.000 [handler] hello from handler")
                && out.contains("[condure] hello from condure")
        }),
        "{}",
        s.read("runner.out")
    );
    assert!(!s.path("log").exists());
    assert!(s.path("run/p2-condure.pid").exists());
    assert!(s.read("handler.args").contains("--port-offset=20\n"));
    assert!(!s.read("runner.out").contains("starting handler"));
    s.signal(Signal::SIGTERM);
    assert!(s.wait_exit(Duration::from_secs(20)).success());
}

#[test]
fn startup_errors_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(RUNNER)
            .args(args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let missing = run(&["--config=/nonexistent/pushpin.conf"]);
    assert_eq!(missing.status.code(), Some(1));
    assert_eq!(run(&["--bogus"]).status.code(), Some(1));
    assert_eq!(run(&["--port=0"]).status.code(), Some(1));
    assert_eq!(run(&["--version"]).status.code(), Some(0));
    assert_eq!(run(&["--help"]).status.code(), Some(0));
    let conf = dir.path().join("p.conf");
    fs::write(&conf, "[runner]\nservices=condure,mongrel2\nhttp_port=1\n").unwrap();
    let both = run(&[&format!("--config={}", conf.display())]);
    assert_eq!(both.status.code(), Some(1));
    fs::write(
        &conf,
        format!(
            "[global]\nrundir={0}/run\n[runner]\nservices=pushpin-handler\nhttp_port=1\n\
             logdir={0}/log\nhandler_bin=/nonexistent/handler\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let out = run(&[&format!("--config={}", conf.display())]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("handler: Error running: /nonexistent/handler"),
        "{text}"
    );
}
