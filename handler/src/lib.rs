//! `pushpin-handler`: holds GRIP sessions, takes publishes and delivers them
//! (layer L2), a drop-in for Pushpin 1.36's handler.
//!
//! It takes client sessions handed over by the proxy (`accept`,
//! `spec/internal.md` §5), continues their ZHTTP sessions with the connection
//! manager (`spec/zhttp.md` §9), holds them as response (long-poll) or stream
//! holds (`spec/grip.md` §5), and delivers items published over HTTP, ZeroMQ
//! PULL/SUB or the command socket (`spec/publishing.md`).
//!
//! # Layout
//!
//! * `engine` — the task owning sessions, channels, timers; its children
//!   `deliver` (publish fan-out), `link` (next links over intreq) and `ws`
//!   (WebSocket sessions over ws-control); `session` — one held HTTP session
//!   and its credit-aware writer; `ordering` — id cache and `prev-id`
//!   sequencer; `ratelimit` — `message_rate`/`message_hwm`; `response` and
//!   `patch` — responses the handler writes; `stats`, `metrics` — stats
//!   socket and Prometheus.
//! * `accept` — inspect/accept RPC servers; `connmgr` — PUB/ROUTER link to
//!   the connection manager; `http_publish`, `zmq_publish`, `command` — the
//!   publish inputs.
//!
//! Every socket connects or binds exactly as 1.36's handler does: it
//! connects all proxy-facing sockets and the connection manager link, and
//! binds the publisher-facing ones.
//!
//! Entry points: [`run`], or [`Handler::bind`] then [`Handler::run`] when the
//! caller needs the bound HTTP address first (tests).

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::print_stdout))]

mod accept;
mod aco;
mod command;
mod connmgr;
mod engine;
mod http_publish;
mod metrics;
mod ordering;
mod patch;
mod ratelimit;
mod response;
mod session;
mod stats;
mod zmq_publish;

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use pushpin_config::{HandlerConfig, ZmqSpec};
use pushpin_zmq::{AsyncSocket, Hwm, Mode, SocketKind, SocketSpec};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tracing::info;

use crate::accept::AcceptSettings;
use crate::engine::{Engine, EngineSettings};
use crate::http_publish::HttpLimits;
use crate::zmq_publish::Input;

/// Capacity of the engine's event queue; producers wait when it is full.
pub const EVENT_QUEUE: usize = 10_000;
/// Capacity, in batches, of the engine → PUB sender queue; the engine waits
/// when it is full.
pub const FRAME_QUEUE: usize = 256;
/// Capacity of the retry queue; the engine waits when it is full.
pub const RETRY_QUEUE: usize = 1000;
/// HWM of the sockets 1.36 gives 101000 (ZHTTP, publish inputs, retry).
pub const HIGH_HWM: u32 = 101_000;
/// HWM of the stats PUB socket (1.36: 200000).
pub const STATS_HWM: u32 = 200_000;
/// HWM of the RPC sockets (1.36: 100).
pub const RPC_HWM: u32 = 100;
/// Send HWM of the RPC ROUTER sockets (inspect, accept, command). A ROUTER
/// drops a reply silently when its queue to the peer is full, so 1.36's 100
/// loses replies under a burst (the proxy then waits out its 8 s call
/// timeout, after the handler has already taken the session). Replies are
/// bounded by the requests the peer has outstanding, so a large mark is
/// still a bound.
pub const RPC_REPLY_HWM: u32 = HIGH_HWM;

/// What the handler runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// The `[handler]` configuration (plus the keys it reads elsewhere).
    pub handler: HandlerConfig,
    /// Our instance id (`pushpin-handler_<pid>`): ZHTTP `from` and ROUTER
    /// identity towards the connection manager.
    pub instance_id: String,
}

impl Config {
    /// A config with the default instance id of this process.
    pub fn new(handler: HandlerConfig) -> Self {
        Self {
            handler,
            instance_id: format!("pushpin-handler_{}", std::process::id()),
        }
    }
}

/// A snapshot of the handler's delivery counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Items received from publishers.
    pub received: u64,
    /// Deliveries made to sessions.
    pub sent: u64,
    /// Deliveries dropped because a limit was reached: a session's queue
    /// and the shared `message_hwm` backlog, or the rate limiter's queue.
    pub dropped: u64,
    /// Items dropped as duplicates (`id_cache_ttl`).
    pub duplicates: u64,
    /// Client sessions taken over from the proxy.
    pub accepted: u64,
    /// Sessions held now.
    pub connections: u64,
    /// Connection-minutes held so far.
    pub connection_minutes: u64,
}

/// A handler whose sockets and listener are set up, ready to [`run`](Self::run).
pub struct Handler {
    tasks: JoinSet<anyhow::Result<()>>,
    pending: Vec<std::pin::Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>>,
    http_addr: Option<SocketAddr>,
    stats: watch::Receiver<Stats>,
}

fn specs(list: &[ZmqSpec]) -> anyhow::Result<Vec<SocketSpec>> {
    list.iter()
        .map(|s| SocketSpec::parse(&s.to_string()).with_context(|| format!("socket spec {s}")))
        .collect()
}

fn socket(
    kind: SocketKind,
    hwm: Hwm,
    mode: Mode,
    list: &[ZmqSpec],
    what: &str,
) -> anyhow::Result<pushpin_zmq::SocketBuilder> {
    Ok(
        AsyncSocket::builder(kind, hwm)
            .attach(mode, &specs(list).with_context(|| what.to_owned())?),
    )
}

impl Handler {
    /// Creates every socket and the HTTP listener; fails before anything runs
    /// when one cannot be set up.
    pub async fn bind(config: Config) -> anyhow::Result<Self> {
        let c = &config.handler;
        let from = Bytes::from(config.instance_id.clone());
        let server = c.server_specs();
        let file_mode = c.ipc_file_mode;
        let with_mode = |b: pushpin_zmq::SocketBuilder| match file_mode {
            Some(m) => b.ipc_file_mode(m),
            None => b,
        };

        let out_pub = socket(
            SocketKind::Pub,
            Hwm::both(HIGH_HWM),
            Mode::Connect,
            &server.out_specs,
            "connection manager out specs",
        )?
        .build()
        .context("connection manager PUB socket")?;
        let in_router = socket(
            SocketKind::Router,
            Hwm::both(HIGH_HWM),
            Mode::Connect,
            &server.in_stream_specs,
            "connection manager in stream specs",
        )?
        .identity(from.clone())
        .build()
        .context("connection manager ROUTER socket")?;
        let need = |s: &Option<ZmqSpec>, key: &str| {
            s.clone()
                .map(|s| vec![s])
                .with_context(|| format!("{key} is not set"))
        };
        let inspect = socket(
            SocketKind::Router,
            Hwm::new(RPC_REPLY_HWM, RPC_HWM),
            Mode::Connect,
            &need(&c.proxy_inspect_spec, "proxy_inspect_spec")?,
            "proxy_inspect_spec",
        )?
        .build()
        .context("inspect socket")?;
        let accept = socket(
            SocketKind::Router,
            Hwm::new(RPC_REPLY_HWM, RPC_HWM),
            Mode::Connect,
            &need(&c.proxy_accept_spec, "proxy_accept_spec")?,
            "proxy_accept_spec",
        )?
        .build()
        .context("accept socket")?;
        let retry = match &c.proxy_retry_out_spec {
            Some(spec) => Some(
                socket(
                    SocketKind::Push,
                    Hwm::both(HIGH_HWM),
                    Mode::Connect,
                    std::slice::from_ref(spec),
                    "proxy_retry_out_spec",
                )?
                .build()
                .context("retry socket")?,
            ),
            None => None,
        };
        let pull = match &c.push_in_spec {
            Some(spec) => Some(
                with_mode(socket(
                    SocketKind::Pull,
                    Hwm::both(HIGH_HWM),
                    Mode::Bind,
                    std::slice::from_ref(spec),
                    "push_in_spec",
                )?)
                .build()
                .context("push_in_spec PULL socket")?,
            ),
            None => None,
        };
        let sub_mode = if c.push_in_sub_connect {
            Mode::Connect
        } else {
            Mode::Bind
        };
        let sub = if c.push_in_sub_specs.is_empty() {
            None
        } else {
            let mut b = socket(
                SocketKind::Sub,
                Hwm::both(HIGH_HWM),
                sub_mode,
                &c.push_in_sub_specs,
                "push_in_sub_specs",
            )?;
            if sub_mode == Mode::Bind {
                b = with_mode(b);
            } else {
                b = b.tcp_keepalive(pushpin_zmq::TcpKeepalive {
                    idle: Duration::from_secs(30),
                    count: 6,
                    interval: Duration::from_secs(5),
                });
            }
            Some(b.build().context("push_in_sub_specs SUB socket")?)
        };
        let (sub, sub_changes_tx) = match sub {
            Some(sock) => {
                let (tx, rx) = mpsc::channel(zmq_publish::SUB_CHANGES_QUEUE);
                (Some((sock, rx)), Some(tx))
            }
            None => (None, None),
        };
        let command = match &c.command_spec {
            Some(spec) => Some(
                with_mode(socket(
                    SocketKind::Router,
                    Hwm::new(RPC_REPLY_HWM, RPC_HWM),
                    Mode::Bind,
                    std::slice::from_ref(spec),
                    "command_spec",
                )?)
                .build()
                .context("command socket")?,
            ),
            None => None,
        };
        let listener = match c.push_in_http_port {
            Some(port) => {
                let ip = c
                    .push_in_http_addr
                    .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
                let addr = SocketAddr::new(ip, port);
                Some(
                    TcpListener::bind(addr)
                        .await
                        .with_context(|| format!("binding the publish HTTP port {addr}"))?,
                )
            }
            None => None,
        };
        let http_addr = listener.as_ref().map(TcpListener::local_addr).transpose()?;

        let (ev_tx, ev_rx) = mpsc::channel(EVENT_QUEUE);
        let (frame_tx, frame_rx) = mpsc::channel(FRAME_QUEUE);
        let (stats_tx, stats_rx) = watch::channel(Stats::default());
        let mut pending: Vec<std::pin::Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>> =
            Vec::new();

        let retry_tx = retry.map(|sock| {
            let (tx, rx) = mpsc::channel(RETRY_QUEUE);
            pending.push(Box::pin(retry_loop(sock, rx)));
            tx
        });
        let stats_sock = match &c.stats_spec {
            Some(spec) => Some(
                with_mode(socket(
                    SocketKind::Pub,
                    Hwm::both(STATS_HWM),
                    Mode::Bind,
                    std::slice::from_ref(spec),
                    "stats_spec",
                )?)
                .build()
                .context("stats socket")?,
            ),
            None => None,
        };
        let stats_out = stats_sock.map(|sock| {
            let (tx, rx) = mpsc::channel(stats::STATS_QUEUE);
            pending.push(Box::pin(stats_loop(sock, rx)));
            tx
        });
        let ws_out_tx = match &c.proxy_ws_control_out_spec {
            Some(spec) => {
                let sock = socket(
                    SocketKind::Push,
                    Hwm::both(HIGH_HWM),
                    Mode::Connect,
                    std::slice::from_ref(spec),
                    "proxy_ws_control_out_spec",
                )?
                .build()
                .context("ws-control out socket")?;
                let (tx, rx) = mpsc::channel(RETRY_QUEUE);
                pending.push(Box::pin(retry_loop(sock, rx)));
                Some(tx)
            }
            None => None,
        };
        if let Some(spec) = &c.proxy_ws_control_in_spec {
            let sock = socket(
                SocketKind::Pull,
                Hwm::both(HIGH_HWM),
                Mode::Connect,
                std::slice::from_ref(spec),
                "proxy_ws_control_in_spec",
            )?
            .build()
            .context("ws-control in socket")?;
            pending.push(Box::pin(ws_control_in(sock, ev_tx.clone())));
        }
        // the intreq ZHTTP client (next links): PUSH for first packets, SUB
        // for the proxy's answers, ROUTER for later packets (connected so the
        // proxy sees a complete client; nothing is sent on it yet)
        let intreq_tx = if c.proxy_intreq_out_specs.is_empty() || c.proxy_intreq_in_specs.is_empty()
        {
            None
        } else {
            let push = socket(
                SocketKind::Push,
                Hwm::both(RPC_HWM),
                Mode::Connect,
                &c.proxy_intreq_out_specs,
                "proxy_intreq_out_specs",
            )?
            .build()
            .context("intreq PUSH socket")?;
            let mut prefix = config.instance_id.clone().into_bytes();
            prefix.push(b' ');
            let sub = socket(
                SocketKind::Sub,
                Hwm::both(HIGH_HWM),
                Mode::Connect,
                &c.proxy_intreq_in_specs,
                "proxy_intreq_in_specs",
            )?
            .subscribe(Bytes::from(prefix))
            .build()
            .context("intreq SUB socket")?;
            let (tx, rx) = mpsc::channel(RETRY_QUEUE);
            pending.push(Box::pin(retry_loop(push, rx)));
            pending.push(Box::pin(intreq_in(sub, ev_tx.clone())));
            Some(tx)
        };
        if let Some(spec) = &c.proxy_stats_spec {
            let sock = socket(
                SocketKind::Sub,
                Hwm::both(HIGH_HWM),
                Mode::Connect,
                std::slice::from_ref(spec),
                "proxy_stats_spec",
            )?
            .subscribe(Bytes::new())
            .build()
            .context("proxy stats socket")?;
            pending.push(Box::pin(proxy_stats_in(sock, ev_tx.clone())));
        }
        let engine = Engine::new(EngineSettings {
            from,
            message_wait: c.message_wait,
            id_cache_ttl: c.id_cache_ttl,
            subscription_max: usize::try_from(c.connection_subscription_max).unwrap_or(usize::MAX),
            subscription_linger: c.subscription_linger,
            message_rate: c.message_rate,
            message_hwm: c.message_hwm,
            stats: stats::StatsSettings {
                enabled: stats_out.is_some(),
                json: c.stats_format == pushpin_config::handler::StatsFormat::Json,
                connection_ttl: c.stats_connection_ttl,
                subscription_ttl: c.stats_subscription_ttl,
                report_interval: c.stats_report_interval,
            },
        });
        let outputs = engine::Outputs {
            frames: frame_tx,
            retry: retry_tx,
            stats: stats_out,
            subs: sub_changes_tx,
            ws_control: ws_out_tx,
            intreq: intreq_tx,
            counters: stats_tx,
        };
        pending.push(Box::pin(engine.run(ev_rx, outputs)));
        pending.push(Box::pin(connmgr::send_thread(out_pub, frame_rx)));
        pending.push(Box::pin(connmgr::recv_loop(in_router, ev_tx.clone())));
        if c.state_spec.is_some() {
            // 1.36 binds a DEALER here and asks an external session store for sids
            // and last ids; we have no store client (README, "Differences")
            tracing::warn!("state_spec is set but session stores are not supported; ignored");
        }
        let settings = AcceptSettings {
            subscription_max: usize::try_from(c.connection_subscription_max).unwrap_or(usize::MAX),
            share_all: c.share_all,
        };
        pending.push(Box::pin(accept::run(
            inspect,
            accept,
            settings,
            ev_tx.clone(),
        )));
        if let Some(sock) = pull {
            pending.push(Box::pin(zmq_publish::run(
                sock,
                Input::Pull,
                ev_tx.clone(),
                None,
            )));
        }
        if let Some((sock, changes)) = sub {
            pending.push(Box::pin(zmq_publish::run(
                sock,
                Input::Sub,
                ev_tx.clone(),
                Some(changes),
            )));
        }
        if let Some(sock) = command {
            let uris = command::zmq_uris(
                c.command_spec.as_ref().map(ToString::to_string),
                c.push_in_spec.as_ref().map(ToString::to_string),
                (!c.push_in_sub_connect)
                    .then(|| c.push_in_sub_specs.first().map(ToString::to_string))
                    .flatten(),
            );
            let proxy = match &c.proxy_command_spec {
                Some(spec) => Some(
                    socket(
                        SocketKind::Dealer,
                        Hwm::both(RPC_HWM),
                        Mode::Connect,
                        std::slice::from_ref(spec),
                        "proxy_command_spec",
                    )?
                    .build()
                    .context("proxy command socket")?,
                ),
                None => None,
            };
            pending.push(Box::pin(command::run(sock, uris, ev_tx.clone(), proxy)));
        }
        if let Some(listener) = listener {
            let limits = HttpLimits {
                max_headers: c.push_in_max_headers_size,
                max_body: c.push_in_max_body_size,
            };
            pending.push(Box::pin(http_publish::serve(
                listener,
                limits,
                ev_tx.clone(),
            )));
        }
        if let Some(addr) = &c.prometheus_port {
            let listener = metrics::Listener::bind(addr).await?;
            let prefix = c.prometheus_prefix.clone();
            pending.push(Box::pin(metrics::serve(listener, prefix, stats_rx.clone())));
        }
        drop(ev_tx);
        Ok(Self {
            tasks: JoinSet::new(),
            pending,
            http_addr,
            stats: stats_rx,
        })
    }

    /// The bound publish HTTP address, if any.
    pub const fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// A receiver of the delivery counters (updated after every engine step).
    pub fn stats(&self) -> watch::Receiver<Stats> {
        self.stats.clone()
    }

    /// Runs until `shutdown` resolves or a task fails.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        for task in self.pending.drain(..) {
            self.tasks.spawn(task);
        }
        info!("started");
        tokio::pin!(shutdown);
        tokio::select! {
            () = &mut shutdown => Ok(()),
            Some(res) = self.tasks.join_next() => match res {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(e),
                Err(e) => Err(anyhow::anyhow!("handler task failed: {e}")),
            },
        }
    }
}

/// Receives messages on `socket` and hands each to `decode`, which turns it into an engine
/// event, or answers `None` after logging why the message is skipped. Ends when the engine
/// is gone.
async fn forward_events(
    mut socket: AsyncSocket,
    events: mpsc::Sender<engine::Event>,
    mut decode: impl FnMut(&pushpin_zmq::Multipart) -> Option<engine::Event>,
) -> anyhow::Result<()> {
    loop {
        let msg = socket.recv().await?;
        if let Some(event) = decode(&msg) {
            if events.send(event).await.is_err() {
                return Ok(());
            }
        }
    }
}

/// Reads ws-control packets from the proxy; bad ones are logged and skipped.
async fn ws_control_in(
    socket: AsyncSocket,
    events: mpsc::Sender<engine::Event>,
) -> anyhow::Result<()> {
    let limits = pushpin_tnetstring::Limits::default();
    forward_events(socket, events, |msg| {
        let [frame] = msg.as_slice() else {
            tracing::warn!(frames = msg.len(), "ws-control: expected one frame");
            return None;
        };
        pushpin_internal::WsControlPacket::decode(frame, &limits)
            .map(engine::Event::WsControl)
            .inspect_err(|e| tracing::warn!(error = %e, "ws-control: invalid packet"))
            .ok()
    })
    .await
}

/// Reads the proxy's stats (`<type> T<tnetstring>`); bad frames are skipped.
async fn proxy_stats_in(
    socket: AsyncSocket,
    events: mpsc::Sender<engine::Event>,
) -> anyhow::Result<()> {
    let limits = pushpin_tnetstring::Limits::default();
    forward_events(socket, events, |msg| {
        pushpin_internal::StatsPacket::decode(msg.first()?, &limits)
            .map(|p| engine::Event::ProxyStats(Box::new(p)))
            .inspect_err(|e| tracing::debug!(error = %e, "proxy stats: invalid packet"))
            .ok()
    })
    .await
}

/// Reads the proxy's answers to our internal requests (`"<from> T..."`).
async fn intreq_in(socket: AsyncSocket, events: mpsc::Sender<engine::Event>) -> anyhow::Result<()> {
    let limits = pushpin_zhttp::Limits::default();
    forward_events(socket, events, |msg| {
        pushpin_zhttp::framing::parse_pub(msg.first()?)
            .map_err(|e| e.to_string())
            .and_then(|m| {
                pushpin_zhttp::Packet::decode(&m.payload, &limits).map_err(|e| e.to_string())
            })
            .map(|p| engine::Event::Intreq(vec![p]))
            .inspect_err(|e| tracing::warn!(error = %e, "intreq: invalid packet"))
            .ok()
    })
    .await
}

/// Sends single-frame packets (retry, ws-control, intreq) over a PUSH socket.
async fn retry_loop(mut socket: AsyncSocket, mut rx: mpsc::Receiver<Bytes>) -> anyhow::Result<()> {
    while let Some(packet) = rx.recv().await {
        socket.send(pushpin_zmq::Multipart::from(packet)).await?;
    }
    Ok(())
}

async fn stats_loop(
    mut socket: AsyncSocket,
    mut rx: mpsc::Receiver<Vec<Bytes>>,
) -> anyhow::Result<()> {
    let mut queue = std::collections::VecDeque::new();
    while let Some(batch) = rx.recv().await {
        queue.extend(batch.into_iter().map(pushpin_zmq::Multipart::from));
        socket.send_all(&mut queue).await?;
    }
    Ok(())
}

/// Runs the handler until `shutdown` resolves.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    Handler::bind(config).await?.run(shutdown).await
}
