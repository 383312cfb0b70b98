//! The common body of a binary's `main`: log, run until stopped, exit status.
//!
//! [`run_main`] is what a ~20-line `main` calls after parsing its command
//! line. It installs logging from [`CommonArgs`], logs `starting...`, builds
//! the runtime, registers the stop signals, runs the binary's future, and
//! turns the outcome into an exit status, logging the lines 1.36 logs:
//! `starting...`, `stopping...` on the first SIGINT/SIGTERM, `stopped` on a
//! clean finish, or the error as an `[ERR]` line. With `--logfile`, each
//! SIGHUP reopens the file (for rotation), as 1.36 does. The future loads its
//! config before it binds anything, so a bad config fails before any socket
//! exists. See `spec/runner.md` §7.

use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use tokio::signal::unix::Signal;
use tracing::{error, info};

use crate::args::CommonArgs;
use crate::{log, runtime, signal};

/// The shutdown trigger handed to the binary's future: resolves on the
/// first SIGINT or SIGTERM (after logging `stopping...`).
pub type Shutdown = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// How long runtime teardown waits for leftover tasks and blocking threads
/// after the binary's future has returned.
pub const RUNTIME_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(1);

/// Runs a binary: logging per `args`, then `f(shutdown)` on a runtime named
/// `name`. Returns success when the future returns `Ok`. Returns failure
/// (status 1), after logging the error chain, when the future returns `Err`,
/// when the log file cannot be opened (logged to stdout, as 1.36 does), or
/// when the runtime or signal handlers cannot be set up.
pub fn run_main<F, Fut>(name: &str, args: &CommonArgs, f: F) -> ExitCode
where
    F: FnOnce(Shutdown) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let level = args.log_level();
    let guard = match log::init(level, args.logfile.as_deref()) {
        Ok(guard) => guard,
        Err(e) => {
            // Report on stdout instead; if that cannot be installed either,
            // a subscriber already exists and takes the line.
            let _fallback = log::init(level, None).ok();
            error!("{e:#}");
            return ExitCode::FAILURE;
        }
    };
    info!("starting...");
    match run(name, &guard, f) {
        Ok(()) => {
            info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run<F, Fut>(name: &str, guard: &log::Guard, f: F) -> anyhow::Result<()>
where
    F: FnOnce(Shutdown) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let rt = runtime::build(name, None).context("building the tokio runtime")?;
    let result = rt.block_on(async {
        let signal = signal::shutdown_signal().context("installing signal handlers")?;
        let hups = match guard.logfile() {
            Some(_) => Some(signal::hup_signals().context("installing the SIGHUP handler")?),
            None => None,
        };
        let main = f(Box::pin(async {
            signal.await;
            info!("stopping...");
        }));
        tokio::select! {
            result = main => result,
            () = reopen_on_hup(guard, hups) => Ok(()),
        }
    });
    rt.shutdown_timeout(RUNTIME_SHUTDOWN_TIMEOUT);
    result
}

/// Reopens the log file on each SIGHUP, as 1.36 does (the binary does its own
/// reload on the same signal). Never finishes.
async fn reopen_on_hup(guard: &log::Guard, hups: Option<Signal>) {
    if let (Some(mut hups), Some(path)) = (hups, guard.logfile()) {
        while hups.recv().await.is_some() {
            if let Err(e) = guard.reopen() {
                error!("failed to reopen log file: {}: {e}", path.display());
            }
        }
    }
    std::future::pending().await
}
