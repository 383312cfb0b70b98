//! `pushpin_runner::run` called in-process with a hand-built plan: a child started through the
//! exec helper gets its pid file, is restarted after an unexpected exit, and is stopped when
//! the shutdown future resolves.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use pushpin_config::Service;
use pushpin_runner::{ChildSpec, Output, Plan};

async fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    check()
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_restarts_and_stops_a_child() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let starts = d.join("starts");
    let script = format!(
        "echo $$ >> '{}'; trap 'exit 0' TERM; while :; do sleep 0.1; done",
        starts.display()
    );
    let plan = Plan {
        children: vec![ChildSpec {
            service: Service::Handler,
            name: "handler".into(),
            program: PathBuf::from("/bin/sh"),
            args: vec!["-c".into(), script],
            pid_file: Some(d.join("run/pushpin-handler.pid")),
            output: Output::File(d.join("log/handler.log")),
            hup: true,
            generated: Some((d.join("run/handler.conf"), "x=1\n".into())),
            stale_file: None,
        }],
        rundir: d.join("run"),
        logdir: Some(d.join("log")),
        ipc_prefix: "pushpin-".into(),
        runner_level: 2,
        exec_helper: Some(PathBuf::from(env!("CARGO_BIN_EXE_pushpin"))),
        ..Plan::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(pushpin_runner::run(plan, async {
        let _ = stopped.await;
    }));
    let pids = || -> Vec<i32> {
        std::fs::read_to_string(&starts)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.parse().ok())
            .collect()
    };
    assert!(eventually(Duration::from_secs(10), || pids().len() == 1).await);
    let first = pids()[0];
    let pid_file = d.join("run/pushpin-handler.pid");
    assert!(
        eventually(Duration::from_secs(5), || std::fs::read_to_string(
            &pid_file
        )
        .is_ok_and(|s| s == format!("{first}\n")))
        .await
    );
    assert_eq!(
        std::fs::read_to_string(d.join("run/handler.conf")).unwrap(),
        "x=1\n"
    );
    kill(Pid::from_raw(first), Signal::SIGKILL).unwrap();
    assert!(eventually(Duration::from_secs(5), || pids().len() == 2).await);
    let second = pids()[1];
    stop.send(()).unwrap();
    let result = tokio::time::timeout(Duration::from_secs(15), task)
        .await
        .expect("run did not return")
        .unwrap();
    assert!(result.is_ok(), "{result:?}");
    assert!(!alive(second));
    assert!(!pid_file.exists());
}
