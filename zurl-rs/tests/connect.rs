//! Connecting to origins that do not answer: `connection-timeout` when the connect
//! timeout expires (zurl 1.11: libcurl's 300 s default, or the kernel's `ETIMEDOUT`, both
//! `connection-timeout`), and `session-timeout` when zurl.conf's `timeout` or the request's
//! own `timeout` comes first (zurl's timers run while connecting). The hanging connect is
//! a loopback listener with a full accept queue (see `hung_listener`).

#[path = "support/common.rs"]
mod common;

use std::time::{Duration, Instant};

use common::*;
use pushpin_zhttp::{Condition, PacketType};

/// Sends a GET to the hung listener and returns the error condition and when it came.
async fn hung_request(z: &Zurl, timeout_ms: Option<u32>) -> (Option<Condition>, Duration) {
    let hung = hung_listener().await;
    let mut c = Client::connect(z).await;
    let url = format!("http://127.0.0.1:{}/", hung.port);
    let mut req = c.request("h-1", "GET", &url);
    req.timeout = timeout_ms;
    let started = Instant::now();
    c.send_first(&req).await;
    assert_eq!(c.recv_for("h-1").await.ptype, PacketType::KeepAlive);
    let e = c.recv_for("h-1").await;
    assert_eq!(e.ptype, PacketType::Error, "{e:?}");
    (e.condition, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_connect_is_connection_timeout() {
    let options = zurl_rs::Options {
        connect_timeout: Duration::from_secs(1),
        ..zurl_rs::Options::default()
    };
    let z = start_zurl_with("", options).await;
    let (condition, took) = hung_request(&z, None).await;
    assert_eq!(condition, Some(Condition::ConnectionTimeout));
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "answered after {took:?}"
    );
    z.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activity_timeout_runs_while_connecting() {
    // zurl 1.11 with timeout=3 and a hung connect: session-timeout after 3 s.
    let z = start_zurl("timeout=1").await;
    let (condition, took) = hung_request(&z, None).await;
    assert_eq!(condition, Some(Condition::SessionTimeout));
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "answered after {took:?}"
    );
    z.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_timeout_runs_while_connecting() {
    let z = start_zurl("").await;
    let (condition, took) = hung_request(&z, Some(300)).await;
    assert_eq!(condition, Some(Condition::SessionTimeout));
    assert!(took < Duration::from_secs(5), "answered after {took:?}");
    z.stop().await;
}
