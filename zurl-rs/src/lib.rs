//! `zurl-rs`: the outbound HTTP client of the suite, a drop-in for zurl 1.11 (layer L2).
//!
//! It is the ZHTTP **responder** towards pushpin-proxy (spec/zhttp.md §1, §10): it binds
//! zurl's sockets from a zurl.conf (PULL `in_spec`, DEALER `in_stream_spec`, PUB `out_spec`,
//! ROUTER `in_req_spec`), performs each request against the origin over HTTP/1.1 (plain or
//! TLS, with pooled keep-alive connections), and answers with zurl's packets: the ack,
//! streamed body within the initiator's credits, `credit` for streamed request bodies,
//! keep-alives, and zurl's error conditions. It does not own the packet codec
//! (`pushpin-zhttp`), the sockets (`pushpin-zmq`) or the config format (`pushpin-config`).
//!
//! # Layout
//!
//! * [`server`] — the sockets and their reader/writer tasks, `max_open_requests`.
//! * [`session`] — one request session (stream and req mode).
//! * [`request`] — first-packet validation and URI parsing.
//! * [`http1`] — the HTTP/1.1 client wire format (sans I/O).
//! * [`content`] — response content decoding (gzip, deflate, br, zstd), as libcurl does.
//! * [`upstream`] — DNS, policy on resolved addresses, TCP/TLS connect, the pool.
//! * [`roots`] — the system's root certificates (or the bundled webpki roots), loaded once.
//! * [`policy`] — allow/deny patterns.
//! * [`ctx`] — shared state, the session registry, packet output.
//!
//! # Entry point
//!
//! [`run`] with a [`Config`] (a validated zurl.conf) and a shutdown future;
//! [`run_with`] also takes [`Options`] that zurl.conf has no key for.
//!
//! Deliberate difference: certificate chains are verified (zurl 1.11 checks the names
//! only); see the README.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::print_stdout))]

pub mod content;
pub mod ctx;
pub mod http1;
pub mod policy;
pub mod request;
pub mod roots;
pub mod server;
pub mod session;
pub mod upstream;

use std::future::Future;
use std::sync::Arc;

use anyhow::Context as _;
use bytes::Bytes;
use pushpin_config::ZurlConfig;
use pushpin_zmq::{Hwm, SocketKind};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tracing::info;

use crate::ctx::{Ctx, Registry};
use crate::policy::Policy;
use crate::upstream::{Pool, Tls};

/// The configuration `run` takes: a validated zurl.conf.
pub type Config = ZurlConfig;

/// zurl's random instance id when `instance_id` is empty: `{uuid}` text.
pub fn random_instance_id() -> String {
    format!("{{{}}}", uuid::Uuid::new_v4())
}

fn hwm(n: i32) -> Hwm {
    Hwm::both(u32::try_from(n).ok().filter(|&n| n > 0).unwrap_or(1))
}

/// Settings that zurl.conf has no key for (zurl 1.11 takes them from libcurl's defaults).
#[derive(Debug, Clone)]
pub struct Options {
    /// Time allowed to open an origin connection (DNS, TCP, TLS) before
    /// `connection-timeout`; default [`upstream::CONNECT_TIMEOUT`] (libcurl's 300 s).
    pub connect_timeout: std::time::Duration,
    /// Certificate authorities trusted besides the system's roots (DER); for tests and
    /// embedders.
    pub extra_roots: Vec<tokio_rustls::rustls::pki_types::CertificateDer<'static>>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            connect_timeout: upstream::CONNECT_TIMEOUT,
            extra_roots: Vec::new(),
        }
    }
}

/// Binds the configured sockets and serves until `shutdown` resolves.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    run_with(config, Options::default(), shutdown).await
}

/// [`run`] with [`Options`].
pub async fn run_with(
    config: Config,
    options: Options,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let instance_id = Bytes::from(
        config
            .instance_id
            .clone()
            .unwrap_or_else(random_instance_id),
    );
    // Once per process, before any socket is bound; file reads, so off the runtime threads.
    let roots = tokio::task::spawn_blocking(roots::system)
        .await
        .context("loading the system's root certificates")?;
    let tls = Tls::new(&roots.store, &options.extra_roots)
        .context("building the TLS client configuration")?;
    let (pub_tx, pub_rx) = mpsc::channel(server::PUB_QUEUE);
    let ctx = Arc::new(Ctx {
        instance_id: instance_id.clone(),
        policy: Policy::new(
            config.defpolicy,
            &config.allow,
            &config.deny,
            config.allow_ipv6,
        ),
        buffer_size: config.buffer_size.max(1),
        activity_timeout: config.timeout,
        connect_timeout: options.connect_timeout,
        pool: Pool::new(config.connection_max_time),
        tls,
        registry: Arc::new(Registry::default()),
        pub_tx,
    });
    let permits = config
        .max_open_requests
        .map_or(Semaphore::MAX_PERMITS, |n| n as usize);
    let sem = Arc::new(Semaphore::new(permits));
    let mode = config.ipc_file_mode;
    let mut tasks = JoinSet::new();
    if let (Some(in_spec), Some(stream_spec), Some(out_spec)) =
        (&config.in_spec, &config.in_stream_spec, &config.out_spec)
    {
        let pull = server::bind(SocketKind::Pull, hwm(config.in_hwm), in_spec, None, mode)
            .context("unable to bind to in_spec")?;
        let dealer = server::bind(
            SocketKind::Dealer,
            hwm(config.in_hwm),
            stream_spec,
            Some(&instance_id),
            mode,
        )
        .context("unable to bind to in_stream_spec")?;
        let publ = server::bind(SocketKind::Pub, hwm(config.out_hwm), out_spec, None, mode)
            .context("unable to bind to out_spec")?;
        info!("in_spec: {in_spec}, in_stream_spec: {stream_spec}, out_spec: {out_spec}");
        tasks.spawn(server::pub_writer(publ, pub_rx));
        tasks.spawn(server::pull_reader(
            pull,
            Arc::clone(&ctx),
            Arc::clone(&sem),
        ));
        tasks.spawn(server::dealer_reader(dealer, Arc::clone(&ctx)));
    }
    if let Some(req_spec) = &config.in_req_spec {
        let router = server::bind(SocketKind::Router, hwm(config.in_hwm), req_spec, None, mode)
            .context("unable to bind to in_req_spec")?;
        info!("in_req_spec: {req_spec}");
        tasks.spawn(server::router_task(router, Arc::clone(&ctx), sem));
    }
    info!("started");
    tokio::select! {
        () = shutdown => {}
        Some(r) = tasks.join_next() => {
            r.context("socket task failed")?;
        }
    }
    tasks.shutdown().await;
    Ok(())
}
