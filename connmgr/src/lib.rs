//! `pushpin-connmgr`: the client-facing HTTP server of Pushpin, speaking ZHTTP to
//! the proxy and handler, a drop-in for condure 1.9 (layer L2).
//!
//! It accepts HTTP/1.0 and 1.1 clients on TCP and Unix listeners and turns each
//! request into a ZHTTP stream-mode session in which it is the initiator
//! (`spec/zhttp.md` §2.1, §6, §9, §11): the first packet goes out on a PUSH socket,
//! later packets on a ROUTER socket to the responder's identity, and responses come
//! back on a SUB socket subscribed to our id. Sequence numbers, credits in both
//! directions, keep-alives, session timeouts, cancel and handoff behave as condure's.
//! WebSocket connections become ZHTTP WebSocket sessions (§8). It does not own the
//! packet codec (`pushpin-zhttp`) or the sockets (`pushpin-zmq`). TLS listeners use
//! rustls (`tls`); req-mode listeners are not supported and are refused at startup.
//!
//! Layout: [`config`] (typed config, condure's `--listen`/`--zclient-stream`
//! values), `zio` (the three sockets and the session registry), `listener` (accept
//! loops, connection limit), `conn` (one client connection, keep-alive,
//! pipelining) with `conn::link` (the ZHTTP side of a session: seq, responder
//! address, keep-alive, timeout), `conn::session` (one HTTP request as a ZHTTP
//! session) and `conn::ws` (a WebSocket as a ZHTTP session), `http1` (sans-IO
//! HTTP/1 parsing and response heads), `tls` (rustls acceptors from
//! `--tls-identities-dir`). WebSocket frames are `pushpin-wsframe`'s.
//!
//! Entry points: [`run`], or [`Server::bind`] then [`Server::run`] when the caller
//! needs the bound addresses first (tests on port 0).

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::print_stdout))]

pub mod config;
mod conn;
mod http1;
mod listener;
mod tls;
mod zio;

use std::future::Future;
use std::net::SocketAddr;
use std::os::unix::fs::FileTypeExt;
use std::sync::Arc;

use anyhow::Context as _;
use bytes::Bytes;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tracing::{error, info};

pub use config::{Config, Listen, ListenAddr, TlsListen, ZclientStream};

use crate::conn::Shared;
use crate::listener::Bound;
use crate::zio::Zio;

/// A bound, not yet running, connection manager.
pub struct Server {
    config: Arc<Config>,
    listeners: Vec<Bound>,
    zio: Zio,
}

impl Server {
    /// Binds every listener and ZeroMQ socket. Must run inside a tokio runtime.
    pub async fn bind(config: Config) -> anyhow::Result<Self> {
        let errors = config.validate();
        if !errors.is_empty() {
            anyhow::bail!("invalid configuration: {}", errors.join("; "));
        }
        let zio = Zio::start(&config).context("setting up the zhttp sockets")?;
        let mut endpoints = Vec::new();
        for z in &config.zclient_stream {
            endpoints.extend([
                z.out.endpoint(),
                z.out_stream.endpoint(),
                z.inbound.endpoint(),
            ]);
        }
        let verb = if config.zclient_connect {
            "connect"
        } else {
            "bind"
        };
        info!("zhttp client {verb} {}", endpoints.join(" "));
        let mut listeners = Vec::new();
        for listen in &config.listen {
            let bound = match &listen.addr {
                ListenAddr::Tcp(addr) => {
                    let tls = match &listen.tls {
                        Some(t) => Some(
                            tls::acceptor(&config.tls_identities_dir, t.default_cert.as_deref())
                                .with_context(|| format!("setting up tls for {addr}"))?,
                        ),
                        None => None,
                    };
                    Bound::Tcp(
                        tokio::net::TcpListener::bind(addr)
                            .await
                            .with_context(|| format!("listening on {addr}"))?,
                        tls,
                    )
                }
                ListenAddr::Local(path) => {
                    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
                        let _ = std::fs::remove_file(path);
                    }
                    let l = tokio::net::UnixListener::bind(path)
                        .with_context(|| format!("listening on {}", path.display()))?;
                    Bound::Local(l, path.clone())
                }
            };
            match &bound {
                Bound::Tcp(l, _) => info!("listening on {}", l.local_addr()?),
                Bound::Local(_, p) => info!("listening on {}", p.display()),
            }
            listeners.push(bound);
        }
        Ok(Self {
            config: Arc::new(config),
            listeners,
            zio,
        })
    }

    /// The bound TCP addresses, in listener order (Unix listeners are skipped).
    pub fn tcp_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|b| match b {
                Bound::Tcp(l, _) => l.local_addr().ok(),
                Bound::Local(..) => None,
            })
            .collect()
    }

    /// Serves until `shutdown` resolves, then cancels every session (sending
    /// `cancel` to responders), waits up to the grace period, and returns.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let Self {
            config,
            listeners,
            mut zio,
        } = self;
        let (stop_tx, stop_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            config: Arc::clone(&config),
            from: Bytes::from(config.id.clone()),
            outbound: zio.outbound.clone(),
            registry: Arc::clone(&zio.registry),
            shutdown: stop_rx.clone(),
        });
        let limit = Arc::new(Semaphore::new(config.stream_maxconn));
        let mut accepts = JoinSet::new();
        for l in listeners {
            accepts.spawn(listener::accept_loop(
                l,
                Arc::clone(&shared),
                Arc::clone(&limit),
                stop_rx.clone(),
                config.shutdown_grace,
            ));
        }
        drop(shared);
        tokio::pin!(shutdown);
        tokio::select! {
            () = &mut shutdown => {}
            Some(res) = zio.tasks.join_next() => {
                error!("zhttp socket task ended unexpectedly: {res:?}");
            }
        }
        let _ = stop_tx.send(true);
        // Sessions learn of the stop through their packet queues.
        zio.registry.close();
        while let Some(res) = accepts.join_next().await {
            if let Err(e) = res {
                error!(error = %e, "accept task failed");
            }
        }
        zio.stop_receiving();
        // Connections are gone, so only our own handle keeps the send queues open:
        // drop it and let the socket tasks flush the final cancels.
        let Zio {
            outbound,
            mut tasks,
            ..
        } = zio;
        drop(outbound);
        let flush = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(config.shutdown_grace, flush)
            .await
            .is_err()
        {
            tasks.shutdown().await;
        }
        Ok(())
    }
}

/// Binds everything in `config` and serves until `shutdown` resolves.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    Server::bind(config).await?.run(shutdown).await
}
