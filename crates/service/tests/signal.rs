//! Signal helpers, exercised with signals raised to this test process.
//!
//! Only first signals are raised here (a second SIGINT/SIGTERM would end the
//! process); the forced exit is tested in a child process in `run_main.rs`.

use std::time::Duration;

use pushpin_service::signal::{hup_signals, shutdown_signal};
use signal_hook::consts::{SIGHUP, SIGINT};
use signal_hook::low_level::raise;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn hup_stream_yields_each_sighup() {
    let mut hups = hup_signals().unwrap();
    for round in 0..2 {
        raise(SIGHUP).unwrap();
        let got = timeout(WAIT, hups.recv()).await;
        assert_eq!(got, Ok(Some(())), "round {round}");
    }
}

#[tokio::test]
async fn shutdown_resolves_on_first_sigint_only() {
    let mut stop = shutdown_signal().unwrap();
    assert!(
        timeout(Duration::ZERO, &mut stop).await.is_err(),
        "resolved before any signal"
    );
    raise(SIGINT).unwrap();
    timeout(WAIT, stop)
        .await
        .expect("no shutdown within 10 s of SIGINT");
}
