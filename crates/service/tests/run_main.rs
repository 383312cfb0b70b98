//! `run_main` end to end, in child processes.
//!
//! `run_main` installs the global subscriber and real signal handlers, so each
//! case re-runs this test binary as a child with `CHILD_ENV` naming the case;
//! the child's `child_process` test then calls `run_main` and exits with its
//! status. The parent checks the exit status and the log lines on stdout.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::anyhow;
use pushpin_service::args::CommonArgs;
use pushpin_service::run_main;
use signal_hook::consts::{SIGHUP, SIGTERM};
use signal_hook::low_level::raise;
use tracing::info;

const CHILD_ENV: &str = "PUSHPIN_SERVICE_TEST_CHILD";
const LOGFILE_ENV: &str = "PUSHPIN_SERVICE_TEST_LOGFILE";
const CHILD_TIMEOUT: Duration = Duration::from_secs(60);
const MISSING_LOGFILE: &str = "/nonexistent-pushpin-service-test/dir/x.log";

/// Child side: does nothing unless started by `run_child`.
#[test]
fn child_process() {
    let Ok(case) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut args = CommonArgs::default();
    let code = match case.as_str() {
        "error" => run_main("svc-error", &args, |_shutdown| async {
            Err(anyhow!("failed to open pushpin.conf").context("loading config"))
        }),
        "stop" => run_main("svc-stop", &args, |shutdown| async move {
            info!("started");
            raise(SIGTERM)?;
            shutdown.await;
            Ok(())
        }),
        "force" => run_main("svc-force", &args, |shutdown| async move {
            info!("started");
            raise(SIGTERM)?;
            shutdown.await;
            // A slow drain, cut short by a second signal.
            raise(SIGTERM)?;
            tokio::time::sleep(CHILD_TIMEOUT).await;
            Ok(())
        }),
        "logfile" => {
            args.logfile = Some(PathBuf::from(MISSING_LOGFILE));
            run_main("svc-logfile", &args, |_shutdown| async { Ok(()) })
        }
        "reopen" => {
            let path = PathBuf::from(std::env::var(LOGFILE_ENV).unwrap());
            args.logfile = Some(path.clone());
            run_main("svc-reopen", &args, |_shutdown| async move {
                info!("before");
                std::fs::rename(&path, path.with_extension("log.1"))?;
                raise(SIGHUP)?;
                // Bounded wait for the reopen to create the file again.
                for _ in 0..1000 {
                    if path.exists() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                info!("after");
                Ok(())
            })
        }
        "quiet" => {
            args.loglevel = Some(0);
            run_main("svc-quiet", &args, |_shutdown| async { Ok(()) })
        }
        other => panic!("unknown child case {other}"),
    };
    std::process::exit(if code == ExitCode::SUCCESS { 0 } else { 1 });
}

/// Runs `child_process` in a child for `case`; returns its exit status and
/// the log lines (lines starting with `[`) it wrote to stdout.
fn run_child(case: &str) -> (Option<i32>, Vec<String>) {
    run_child_with(case, &[])
}

fn run_child_with(case: &str, env: &[(&str, &Path)]) -> (Option<i32>, Vec<String>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .envs(env.iter().copied())
        .env(CHILD_ENV, case)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::sync_channel(1);
    std::thread::spawn(move || {
        let mut out = String::new();
        let read = stdout.read_to_string(&mut out);
        let status = child.wait();
        let _ = tx.send((read.map(|_| out), status));
    });
    let Ok((out, status)) = rx.recv_timeout(CHILD_TIMEOUT) else {
        // Kill our own child by PID so no orphan survives the failure.
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        panic!("child {case} did not finish within {CHILD_TIMEOUT:?}");
    };
    (status.unwrap().code(), log_lines(&out.unwrap()))
}

/// The log lines in `out`, the lines starting with `[`.
fn log_lines(out: &str) -> Vec<String> {
    out.lines()
        // libtest's `test child_process ... ` has no newline before our first line.
        .map(|l| l.strip_prefix("test child_process ... ").unwrap_or(l))
        .filter(|l| l.starts_with('['))
        .map(str::to_owned)
        .collect()
}

/// `[LEVEL] YYYY-MM-DD HH:MM:SS.mmm message` → (`LEVEL`, `message`).
fn split(line: &str) -> (&str, &str) {
    let (level, rest) = line[1..].split_once("] ").unwrap();
    let ts_len = "2026-11-29 02:45:44.567".len();
    assert_eq!(rest.as_bytes()[ts_len], b' ', "{line:?}");
    (level, &rest[ts_len + 1..])
}

fn messages(lines: &[String]) -> Vec<(&str, &str)> {
    lines.iter().map(|l| split(l)).collect()
}

#[test]
fn error_is_logged_and_exits_1() {
    let (code, lines) = run_child("error");
    assert_eq!(code, Some(1), "{lines:?}");
    assert_eq!(
        messages(&lines),
        [
            ("INFO", "starting..."),
            ("ERR", "loading config: failed to open pushpin.conf"),
        ]
    );
}

#[test]
fn first_signal_stops_gracefully_with_0() {
    let (code, lines) = run_child("stop");
    assert_eq!(code, Some(0), "{lines:?}");
    assert_eq!(
        messages(&lines),
        [
            ("INFO", "starting..."),
            ("INFO", "started"),
            ("INFO", "stopping..."),
            ("INFO", "stopped"),
        ]
    );
}

#[test]
fn second_signal_exits_at_once_with_1() {
    let (code, lines) = run_child("force");
    assert_eq!(code, Some(1), "{lines:?}");
    assert_eq!(
        messages(&lines),
        [
            ("INFO", "starting..."),
            ("INFO", "started"),
            ("INFO", "stopping..."),
        ]
    );
}

#[test]
fn unopenable_logfile_is_reported_on_stdout_with_1() {
    let (code, lines) = run_child("logfile");
    assert_eq!(code, Some(1), "{lines:?}");
    let messages = messages(&lines);
    assert_eq!(messages.len(), 1, "{lines:?}");
    assert_eq!(messages[0].0, "ERR");
    let expected = format!("failed to open log file: {MISSING_LOGFILE}: ");
    assert!(messages[0].1.starts_with(&expected), "{lines:?}");
}

#[test]
fn loglevel_0_hides_info_lines() {
    let (code, lines) = run_child("quiet");
    assert_eq!(code, Some(0));
    assert!(lines.is_empty(), "{lines:?}");
}

#[test]
fn sighup_reopens_the_logfile() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("svc.log");
    let (code, stdout) = run_child_with("reopen", &[(LOGFILE_ENV, &path)]);
    assert_eq!(code, Some(0));
    assert!(stdout.is_empty(), "{stdout:?}");
    let old = std::fs::read_to_string(path.with_extension("log.1")).unwrap();
    let new = std::fs::read_to_string(&path).unwrap();
    let (old, new) = (log_lines(&old), log_lines(&new));
    assert_eq!(
        messages(&old),
        [("INFO", "starting..."), ("INFO", "before")]
    );
    assert_eq!(messages(&new), [("INFO", "after"), ("INFO", "stopped")]);
}
