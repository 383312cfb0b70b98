//! Stop and reload signals, as Pushpin's components handle them.
//!
//! [`shutdown_signal`] gives a future that resolves on the first SIGINT or
//! SIGTERM, which starts a graceful stop; a second SIGINT or SIGTERM ends the
//! process at once with status 1 (signal-hook's `register_conditional_shutdown`,
//! the pattern of pushpin `src/connmgr/mod.rs` `wait_for_term`). [`hup_signals`]
//! gives a stream of SIGHUPs for reloads. Both register their handlers when
//! called, not when first polled, so a signal arriving in between is not lost.
//! Both need a running tokio runtime (they use `tokio::signal`). See
//! `spec/runner.md` §5.2, §5.3 and §7.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::task::{Context, Poll};

use signal_hook::consts::{SIGINT, SIGTERM};
use tokio::signal::unix::{Signal, SignalKind, signal};

/// Exit status when a second stop signal arrives during a graceful stop.
pub const FORCED_EXIT_STATUS: i32 = 1;

/// Resolves on the first SIGINT or SIGTERM received after this call.
///
/// From then on, another SIGINT or SIGTERM exits the process immediately with
/// [`FORCED_EXIT_STATUS`], skipping destructors (log lines already written
/// are not lost; see [`crate::log`]). Call it once per process, inside a
/// tokio runtime; the handlers stay installed for the life of the process.
pub fn shutdown_signal() -> io::Result<ShutdownSignal> {
    let armed = Arc::new(AtomicBool::new(false));
    for sig in [SIGINT, SIGTERM] {
        // Order matters: the conditional exit checks the flag before the
        // second handler sets it, so only a later signal finds it armed.
        signal_hook::flag::register_conditional_shutdown(
            sig,
            FORCED_EXIT_STATUS,
            Arc::clone(&armed),
        )?;
        signal_hook::flag::register(sig, Arc::clone(&armed))?;
    }
    Ok(ShutdownSignal {
        interrupt: signal(SignalKind::interrupt())?,
        terminate: signal(SignalKind::terminate())?,
    })
}

/// The future returned by [`shutdown_signal`].
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct ShutdownSignal {
    interrupt: Signal,
    terminate: Signal,
}

impl Future for ShutdownSignal {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        // `Ready(None)` means the runtime is shutting down: stopping is right then too.
        if this.interrupt.poll_recv(cx).is_ready() || this.terminate.poll_recv(cx).is_ready() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// A stream of SIGHUPs (reload requests): `while hups.recv().await.is_some()`.
///
/// Several SIGHUPs arriving before a `recv` count as one. Once this is called,
/// SIGHUP no longer terminates the process. Needs a tokio runtime.
pub fn hup_signals() -> io::Result<Signal> {
    signal(SignalKind::hangup())
}
