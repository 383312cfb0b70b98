//! `pushpin-proxy`: Pushpin 1.36's proxy rebuilt (layer L2). It routes each client
//! request arriving over ZHTTP from the connection manager (condure or our connmgr),
//! forwards it to the origin through zurl (or answers from the built-in `test` target),
//! streams plain responses back with credits end to end, and hands responses carrying
//! GRIP instructions to the handler (`accept`), taking sessions back on `retry`.
//!
//! Specs: `spec/zhttp.md` (responder towards the connection manager, initiator towards
//! zurl), `spec/internal.md` (inspect, accept, retry, command; the proxy binds every
//! internal socket), `spec/grip.md` §2 (what the origin receives) and §5.7–§5.8 (errors),
//! `spec/config.md` §6 and §8 (`[proxy]`, routes, the `test` target).
//!
//! Also: plain WebSocket passthrough, WebSocket-over-HTTP with GRIP over ws-control
//! (`spec/grip.md` §9–§10, `spec/internal.md` §7), intreq (handler next links), the stats
//! and command sockets, custom `zhttp/` and `zhttpreq/` targets. Not yet here: GRIP over
//! plain WebSocket (see README.md).
//!
//! Layout:
//! - [`settings`]: the typed [`Config`] and route loading;
//! - `server` / `client`: the ZHTTP socket tasks towards the connection manager / zurl;
//!   `zroutes`: the socket sets of custom `zhttp/` and `zhttpreq/` targets;
//! - `session`: one task per request (routing, inspect, forwarding, hand-off);
//!   `sharing`: origin requests shared by inspect sharing key;
//! - `outgoing`: origin request rewriting and signing; `test_target`: the `test` origin;
//!   `aco`: auto cross-origin (CORS) and JSON-P; `sockjs`: SockJS (`sockjs=` routes)
//!   presented to the backend as WebSocket sessions;
//! - `rpc`, `retry`, `command`, `stats`, `wscontrol`: the handler-facing sockets; `reload`: route
//!   reloads.
//! - [`m2`]: the built-in mongrel2 adapter, run as its own binary `pushpin-m2adapter`
//!   (the runner's replacement for 1.36's `m2adapter`).
//!
//! Entry point: [`run`].

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::print_stdout))]

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Context as _;
use bytes::Bytes;
use pushpin_zmq::{Mode, SocketKind};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tracing::info;

mod aco;
mod client;
mod command;
pub mod m2;
mod outgoing;
mod reload;
mod retry;
mod rpc;
mod server;
mod session;
pub mod settings;
mod sharing;
mod sockets;
mod sockjs;
mod stats;
mod test_target;
mod uri;
mod wscontrol;
mod zroutes;

pub use settings::{Config, RouteSource};

use sockets::Opts;

/// ZRPC server-side receive HWM (1.36).
const HWM_RPC: u32 = 100;
/// ZHTTP stream socket HWM (1.36).
const HWM_STREAM: u32 = 101_000;
/// ZHTTP first-packet socket HWM (1.36).
const HWM_FIRST: u32 = 100;
/// Retry PULL HWM (1.36).
const HWM_RETRY: u32 = 1000;
/// Stats PUB HWM (1.36).
const HWM_STATS: u32 = 200_000;
/// Commands queued to the server task.
const SERVER_CMD_CAPACITY: usize = 1024;

/// Runs the proxy until `shutdown` resolves. Every socket is created before anything
/// runs, so a bad spec or a bind failure returns an error at once.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    // `file:` sig_key / upstream_key PEM files (1.36 reads them at startup)
    let proxy = config.proxy.clone();
    let p = Arc::new(
        tokio::task::spawn_blocking(move || settings::load_proxy_keys(&proxy))
            .await
            .context("loading sig_key/upstream_key files")?,
    );
    let instance = config.instance_id.clone();
    let server_specs = p.server_specs();

    // connection manager side
    let server_pull = sockets::build(
        Opts::new(
            "condure_in_specs",
            SocketKind::Pull,
            Mode::Connect,
            HWM_FIRST,
        ),
        &server_specs.in_specs,
    )?;
    let mut o = Opts::new(
        "condure_in_stream_specs",
        SocketKind::Router,
        Mode::Connect,
        HWM_STREAM,
    );
    o.identity = Some(&instance);
    let server_router = sockets::build(o, &server_specs.in_stream_specs)?;
    let server_pub = sockets::build(
        Opts::new(
            "condure_out_specs",
            SocketKind::Pub,
            Mode::Connect,
            HWM_STREAM,
        ),
        &server_specs.out_specs,
    )?;

    let mut tasks: JoinSet<anyhow::Result<()>> = JoinSet::new();
    let (stop_tx, stop_rx) = watch::channel(false);

    // zurl side
    let zurl = if p.zurl_out_specs.is_empty() {
        None
    } else {
        let (handle, task) = client::build(
            &client::ClientSockets {
                names: ["zurl_out_specs", "zurl_out_stream_specs", "zurl_in_specs"],
                push: &p.zurl_out_specs,
                router: &p.zurl_out_stream_specs,
                sub: &p.zurl_in_specs,
                mode: Mode::Connect,
                ipc_file_mode: None,
            },
            &instance,
        )?;
        tasks.spawn(task);
        Some(handle)
    };

    // handler side (the proxy binds)
    let rpc_socket = |key: &'static str, spec: &Option<pushpin_config::ZmqSpec>| {
        spec.as_ref()
            .map(|s| {
                let mut o = Opts::new(key, SocketKind::Dealer, Mode::Bind, HWM_RPC);
                o.ipc_file_mode = p.ipc_file_mode;
                sockets::build(o, std::slice::from_ref(s))
            })
            .transpose()
    };
    let inspect = rpc_socket("handler_inspect_spec", &p.handler_inspect_spec)?.map(|s| {
        let (c, fut) = rpc::client(s, "inspect");
        tasks.spawn(fut);
        c
    });
    let accept = rpc_socket("handler_accept_spec", &p.handler_accept_spec)?.map(|s| {
        let (c, fut) = rpc::client(s, "accept");
        tasks.spawn(fut);
        c
    });
    let (server_cmd_tx, server_cmd_rx) = mpsc::channel(SERVER_CMD_CAPACITY);
    if let Some(spec) = &p.handler_retry_in_spec {
        let mut o = Opts::new(
            "handler_retry_in_spec",
            SocketKind::Pull,
            Mode::Bind,
            HWM_RETRY,
        );
        o.ipc_file_mode = p.ipc_file_mode;
        let sock = sockets::build(o, std::slice::from_ref(spec))?;
        tasks.spawn(retry::run(sock, server_cmd_tx.clone()));
    }

    // ws-control: both sockets or neither
    let wscontrol = match (
        &p.handler_ws_control_out_spec,
        &p.handler_ws_control_in_spec,
    ) {
        (Some(out_spec), Some(in_spec)) => {
            let mut o = Opts::new(
                "handler_ws_control_out_spec",
                SocketKind::Push,
                Mode::Bind,
                wscontrol::HWM,
            );
            o.ipc_file_mode = p.ipc_file_mode;
            let push = sockets::build(o, std::slice::from_ref(out_spec))?;
            let mut o = Opts::new(
                "handler_ws_control_in_spec",
                SocketKind::Pull,
                Mode::Bind,
                wscontrol::HWM,
            );
            o.ipc_file_mode = p.ipc_file_mode;
            let pull = sockets::build(o, std::slice::from_ref(in_spec))?;
            let (tx, rx) = mpsc::channel(wscontrol::CMD_CAPACITY);
            tasks.spawn(wscontrol::run(push, pull, rx));
            Some(wscontrol::WsControlHandle { tx })
        }
        _ => None,
    };
    if let Some(spec) = &p.command_spec {
        let mut o = Opts::new("command_spec", SocketKind::Router, Mode::Bind, HWM_RPC);
        o.ipc_file_mode = p.ipc_file_mode;
        let sock = sockets::build(o, std::slice::from_ref(spec))?;
        tasks.spawn(command::run(sock, server_cmd_tx.clone(), wscontrol.clone()));
    }

    // routes
    let source = config.routes.clone();
    let initial = tokio::task::spawn_blocking(move || settings::load_routes(&source))
        .await
        .context("loading routes")?;
    // custom zhttp targets: their sockets are bound when the routes are loaded
    let zroutes = Arc::new(zroutes::ZRoutes::new(instance.clone()));
    zroutes.setup(&initial);
    let (routes_tx, routes_rx) = watch::channel(Arc::new(initial));
    tasks.spawn(zroutes::run(zroutes.clone(), routes_rx.clone()));
    tasks.spawn(reload::run(
        config.routes.clone(),
        routes_tx,
        stop_rx.clone(),
    ));

    let stats = match &p.stats_spec {
        Some(spec) => {
            let mut o = Opts::new("stats_spec", SocketKind::Pub, Mode::Bind, HWM_STATS);
            o.ipc_file_mode = p.ipc_file_mode;
            let sock = sockets::build(o, std::slice::from_ref(spec))?;
            let (handle, fut) = stats::publisher(
                sock,
                Bytes::from(instance.clone()),
                p.stats_connection_ttl,
                p.stats_report_interval,
            );
            tasks.spawn(fut);
            Some(handle)
        }
        None => None,
    };

    // intreq: the handler's ZHTTP requests (next links); created only when all three
    // specs are set, as in 1.36
    let intreq = if p.intreq_in_specs.is_empty()
        || p.intreq_in_stream_specs.is_empty()
        || p.intreq_out_specs.is_empty()
    {
        None
    } else {
        let mut o = Opts::new("intreq_in_specs", SocketKind::Pull, Mode::Bind, HWM_FIRST);
        o.ipc_file_mode = p.ipc_file_mode;
        let pull = sockets::build(o, &p.intreq_in_specs)?;
        let mut o = Opts::new(
            "intreq_in_stream_specs",
            SocketKind::Router,
            Mode::Bind,
            HWM_STREAM,
        );
        o.identity = Some(&instance);
        o.ipc_file_mode = p.ipc_file_mode;
        let router = sockets::build(o, &p.intreq_in_stream_specs)?;
        let mut o = Opts::new("intreq_out_specs", SocketKind::Pub, Mode::Bind, HWM_STREAM);
        o.ipc_file_mode = p.ipc_file_mode;
        let publisher = sockets::build(o, &p.intreq_out_specs)?;
        Some((pull, router, publisher))
    };

    let (server_out_tx, out_rx) = mpsc::channel(server::OUT_CAPACITY);
    let shared = Arc::new(session::Shared {
        id: Bytes::from(instance.clone()),
        config: p.clone(),
        routes: routes_rx,
        server_out: server_out_tx,
        zurl,
        zroutes: zroutes.clone(),
        inspect,
        accept,
        inspect_available: AtomicBool::new(true),
        stats,
        wscontrol: wscontrol.clone(),
        sharing: Arc::default(),
        sockjs: Arc::new(sockjs::Manager::new(&p.sockjs_url)),
    });
    if let Some((pull, router, publisher)) = intreq {
        let (out_tx, out_rx) = mpsc::channel(server::OUT_CAPACITY);
        let (_cmd_tx, cmd_rx) = mpsc::channel(1);
        let internal = Arc::new(session::Shared {
            id: shared.id.clone(),
            config: p.clone(),
            routes: shared.routes.clone(),
            server_out: out_tx,
            zurl: shared.zurl.clone(),
            zroutes: zroutes.clone(),
            inspect: shared.inspect.clone(),
            accept: shared.accept.clone(),
            inspect_available: AtomicBool::new(true),
            stats: None,
            wscontrol: wscontrol.clone(),
            sharing: shared.sharing.clone(),
            sockjs: shared.sockjs.clone(),
        });
        tasks.spawn(server::run(
            server::ServerIo {
                pull,
                router,
                publisher,
                out_rx,
                cmd_rx,
            },
            internal,
            stop_rx.clone(),
        ));
    }
    tasks.spawn(server::run(
        server::ServerIo {
            pull: server_pull,
            router: server_router,
            publisher: server_pub,
            out_rx,
            cmd_rx: server_cmd_rx,
        },
        shared,
        stop_rx,
    ));
    drop(server_cmd_tx);
    info!("started");

    tokio::pin!(shutdown);
    let result = tokio::select! {
        () = &mut shutdown => Ok(()),
        Some(res) = tasks.join_next() => match res {
            Ok(Ok(())) => Err(anyhow::anyhow!("a proxy task ended unexpectedly")),
            Ok(Err(e)) => Err(e),
            Err(e) => Err(anyhow::Error::new(e).context("a proxy task panicked")),
        },
    };
    let _ = stop_tx.send(true);
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    result
}
