//! `pushpin`, the runner (layer L2): starts the services named in `[runner] services` with the
//! argument lists Pushpin 1.36's runner uses, and supervises them (spec/runner.md, the
//! `[runner]` keys of spec/config.md §5).
//!
//! It owns processes, not protocols: it never opens a ZeroMQ or HTTP socket. Configuration
//! parsing is `pushpin-config`'s; the log line format and signal plumbing are
//! `pushpin-service`'s.
//!
//! # Layout
//!
//! * [`cli`] — the 1.36 command line and the config file search.
//! * [`plan`] — config + command line → [`Plan`]: each child's program, arguments, pid/log
//!   files and generated config file (pure, unit-tested).
//! * [`template`] — the Jinja subset of 1.36's `*.conf.template` files.
//! * [`spawn`] — starting a child in its own process group with a parent-death signal
//!   ([`spawn::exec_child`] is the exec helper, see below).
//! * [`supervise`] — start order, restart with capped backoff, SIGHUP forwarding, the stop in
//!   reverse order with SIGKILL after a bound.
//! * [`merge`] — `--merge-output`: children's lines with `[name] ` prefixes.
//! * [`files`] — pid files, stale ipc sockets, `m2sh load`.
//!
//! # Entry point
//!
//! [`run`] takes a [`Plan`] and a shutdown future; `main` builds the plan (exiting 1 with every
//! error before anything starts) and hands SIGINT/SIGTERM to it through
//! `pushpin_service::run_main`.
//!
//! # No orphans
//!
//! `unsafe_code` is forbidden, so `prctl(PR_SET_PDEATHSIG)` cannot run in a `pre_exec` hook.
//! Instead each child is started through the runner's own binary in helper mode
//! ([`spawn::EXEC_HELPER_ARG`]): the helper calls `nix::sys::prctl::set_pdeathsig(SIGKILL)`
//! (a safe function), checks that its parent is still the runner (closing the race with a
//! runner dying during the fork), then `execv`s the real program, which keeps the setting.
//! The death signal fires when the *thread* that forked the child ends, so every child is
//! forked by one thread that lives as long as the process ([`spawn`]). The normal stop path
//! does not rely on it: SIGTERM by PID in reverse start order, SIGKILL after
//! [`STOP_TIMEOUT`].
//!
//! # Differences from 1.36 (on purpose)
//!
//! * A child that exits unexpectedly is restarted with capped backoff; the others keep
//!   running. After [`MAX_FAST_FAILURES`] fast failures in [`FAILURE_WINDOW`] the runner
//!   gives up, stops everything and exits 1 (1.36 stops everything on the first exit).
//! * Children are stopped in reverse start order (handler first, connection manager last), one
//!   at a time; 1.36 signals them all in start order at once.
//! * A child that dies of the SIGTERM we sent counts as a clean stop.
//! * With `--logfile` children, stdout goes to `/dev/null` as in 1.36 but stderr is appended to
//!   the child's log file, so panics and early errors are kept.
//! * With no known service, the runner logs that and exits 0 (1.36 hangs).
//! * Stale ipc socket files of our prefix (nobody accepting on them) are removed at start and
//!   after the stop.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::print_stdout))]

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use pushpin_config::Service;

pub mod cli;
pub mod files;
pub mod merge;
pub mod plan;
pub mod spawn;
pub mod supervise;
pub mod template;

/// How long a child gets between SIGTERM and SIGKILL (1.36: 4 s).
pub const STOP_TIMEOUT: Duration = Duration::from_secs(4);
/// First restart delay after an unexpected exit.
pub const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Restart delays double per fast failure up to this cap.
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// A child that ran at least this long before exiting is "stable": its failure count resets.
pub const STABLE_RUN: Duration = Duration::from_secs(10);
/// Fast failures within [`FAILURE_WINDOW`] after which the runner gives up.
pub const MAX_FAST_FAILURES: usize = 5;
/// The window in which fast failures are counted.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);

/// Where a child's stdout and stderr go (spec/runner.md §3, §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Both appended to this file (condure, mongrel2).
    File(PathBuf),
    /// The child writes its own `--logfile`; stdout to `/dev/null`, stderr appended here.
    OwnLog {
        /// The child's log file.
        stderr: PathBuf,
    },
    /// Read by the runner and printed with a `[name] ` prefix (`--merge-output`).
    Merge,
}

/// One child process to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildSpec {
    /// The service.
    pub service: Service,
    /// The display name (`condure`, `zurl`, `proxy`, `handler`, `m2a`, `m2 http:PORT`).
    pub name: String,
    /// The program (resolved path, or a bare name if nothing was found).
    pub program: PathBuf,
    /// Arguments after the program name.
    pub args: Vec<String>,
    /// Runner-written pid file, removed when the child exits.
    pub pid_file: Option<PathBuf>,
    /// Output.
    pub output: Output,
    /// Forward SIGHUP (everything except the connection manager).
    pub hup: bool,
    /// A config file written before each start: path and contents.
    pub generated: Option<(PathBuf, String)>,
    /// A file deleted before each start: mongrel2's own pid file, which a crashed mongrel2
    /// leaves behind.
    pub stale_file: Option<PathBuf>,
}

/// A step before the children start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Setup {
    /// Write the mongrel2 config and `m2sh load` it into the sqlite file.
    M2shLoad {
        /// m2sh.
        program: PathBuf,
        /// Generated config path and text.
        config: (PathBuf, String),
        /// The sqlite file.
        db: PathBuf,
    },
}

/// Everything [`run`] needs, built and validated by [`plan::build`].
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Children in start order.
    pub children: Vec<ChildSpec>,
    /// Steps before the first start.
    pub setup: Vec<Setup>,
    /// Lines to log at start (services folded into ours, extra services started).
    pub notes: Vec<String>,
    /// Absolute run directory (created).
    pub rundir: PathBuf,
    /// Absolute log directory (created), `None` when merging output.
    pub logdir: Option<PathBuf>,
    /// The ipc prefix (for stale-socket cleanup).
    pub ipc_prefix: String,
    /// The runner's own log level.
    pub runner_level: u32,
    /// With `--merge-output` and `--logfile`: the file children's lines are appended to.
    pub merge_logfile: Option<PathBuf>,
    /// The exec helper (normally the runner binary itself); `None` execs children directly
    /// (no parent-death signal).
    pub exec_helper: Option<PathBuf>,
}

/// Runs the plan until `shutdown` resolves, then stops every child. Returns an error (exit 1)
/// when a child cannot be started, when one keeps failing, or when a child stopped badly.
pub async fn run(plan: Plan, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    supervise::run(plan, shutdown).await
}
