//! One client request from first packet to its end (`spec/internal.md` §4–§6,
//! `spec/grip.md` §2, `spec/config.md` §8.5): route, inspect, forward to each target in
//! turn (the built-in `test` origin or zurl), stream a plain response back, or hand a GRIP
//! response to the handler.
//!
//! States: `Start → Routed → (Inspected) → Forwarding(target i) → { Streaming → Done |
//! Grip → Paused → Accepted | Responded }`, with `Failed(target i) → Forwarding(i+1)` on
//! connect errors and an error response when every target failed. A retried session
//! (from the handler) starts at `Routed` with its saved sequence numbers. WebSocket
//! sessions go `Start → Routed → ws::forward` (plain passthrough, no inspect) or
//! `woh::forward` (WebSocket-over-HTTP, `over_http` targets).
//!
//! With an inspect sharing key, `Forwarding` is either led by this session (its response
//! packets copied to the others) or replaced by `follow` (relaying the leader's response;
//! `crate::sharing`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use pushpin_config::ProxyConfig;
use pushpin_config::routes::{Protocol, Route, Routes, TargetKind};
use pushpin_internal::{Call, InspectArgs, InspectInfo, MAX_INSPECT_BODY, RequestData};
use pushpin_zhttp::session::SeqState;
use pushpin_zhttp::{Condition, Packet, PacketType};
use tokio::sync::{mpsc, watch};
use tracing::{Instrument, debug, debug_span, info};

use crate::aco;
use crate::client::ClientHandle;
use crate::outgoing::{self, ClientRequest, Header};
use crate::rpc::{self, RpcClient};
use crate::server::Key;
use crate::test_target::{self, Response};
use crate::uri::Uri;

mod body;
pub(crate) mod conn;
mod follow;
mod handoff;
mod respond;
mod upstream;
mod woh;
mod ws;
mod wsgrip;

use body::RequestBody;
use conn::Conn;

/// Request-body credits granted to the connection manager up front (1.36: 200000).
pub(crate) const REQUEST_CREDITS: u32 = 200_000;
/// Largest request or GRIP response body kept for the handler (`spec/internal.md` §5.1).
pub(crate) const MAX_ACCEPT_BODY: usize = 100_000;

/// What every session shares: ids, config, routes and the queues to the I/O tasks.
pub(crate) struct Shared {
    /// Our instance id.
    pub(crate) id: Bytes,
    /// `[proxy]`.
    pub(crate) config: Arc<ProxyConfig>,
    /// The current route table.
    pub(crate) routes: watch::Receiver<Arc<Routes>>,
    /// Encoded PUB frames to the connection manager.
    pub(crate) server_out: mpsc::Sender<Bytes>,
    /// The zurl client, when configured.
    pub(crate) zurl: Option<ClientHandle>,
    /// The custom `zhttp/` targets' clients.
    pub(crate) zroutes: Arc<crate::zroutes::ZRoutes>,
    /// The handler's inspect socket, when configured.
    pub(crate) inspect: Option<RpcClient>,
    /// The handler's accept socket, when configured.
    pub(crate) accept: Option<RpcClient>,
    /// Whether inspect answered recently (1.36 stops waiting when it does not).
    pub(crate) inspect_available: AtomicBool,
    /// The stats socket, when configured (client sessions only).
    pub(crate) stats: Option<crate::stats::StatsHandle>,
    /// The ws-control link to the handler, when configured.
    pub(crate) wscontrol: Option<crate::wscontrol::WsControlHandle>,
    /// Shared origin requests by sharing key (client and intreq sessions alike).
    pub(crate) sharing: Arc<crate::sharing::Registry>,
    /// SockJS sessions (`sockjs=` routes).
    pub(crate) sockjs: Arc<crate::sockjs::Manager>,
}

/// A session handed back by the handler (retry, `spec/internal.md` §6).
#[derive(Debug)]
pub(crate) struct Adopt {
    /// The retry entry.
    pub(crate) request: pushpin_internal::RetryRequest,
    /// The original client request.
    pub(crate) request_data: RequestData,
    /// Inspect info to reuse.
    pub(crate) inspect: Option<InspectInfo>,
    /// Route id to use.
    pub(crate) route: Option<Bytes>,
}

impl Adopt {
    /// The session key.
    pub(crate) fn key(&self) -> Key {
        (self.request.rid.sender.clone(), self.request.rid.id.clone())
    }
}

/// Everything known about the client request.
pub(crate) struct Request {
    pub(crate) client: ClientRequest,
    pub(crate) body: RequestBody,
    pub(crate) route: Route,
    pub(crate) trusted_client: bool,
    pub(crate) inspect: Option<InspectInfo>,
    pub(crate) is_retry: bool,
    pub(crate) https: bool,
    pub(crate) debug: bool,
    pub(crate) logical_peer: Option<Bytes>,
    pub(crate) user_data: Option<pushpin_internal::Value>,
    /// An intreq request from the handler (`passthrough`): client `Grip-*` headers are
    /// kept and GRIP responses are relayed as they are, never accepted.
    pub(crate) internal: bool,
}

/// The `passthrough` of an intreq request (`spec/internal.md` §10).
#[derive(Debug, Clone, Default)]
struct Passthrough {
    route: Option<String>,
    prefer_internal: bool,
    trusted: bool,
    auto_share: bool,
}

impl Passthrough {
    fn parse(v: &pushpin_internal::Value) -> Self {
        let flag = |k: &[u8]| matches!(v.get(k), Some(pushpin_internal::Value::Bool(true)));
        Self {
            route: v
                .get(b"route")
                .and_then(|r| r.as_bytes())
                .map(|b| String::from_utf8_lossy(b).into_owned()),
            prefer_internal: flag(b"prefer-internal"),
            trusted: flag(b"trusted"),
            auto_share: flag(b"auto-share"),
        }
    }
}

/// How forwarding to one target ended.
pub(crate) enum Outcome {
    /// The response was sent; nothing more to do.
    Done,
    /// The handler took the session.
    Accepted,
    /// Could not reach this target; try the next.
    TryNext,
    /// The client went away.
    Gone,
}

/// Sends `cancel` for a session the server task refuses (reused id).
pub(crate) fn send_cancel(shared: &Shared, key: &Key, seq: Option<u32>) {
    let p = Packet {
        from: shared.id.clone(),
        ids: pushpin_zhttp::Ids::One(key.1.clone().into()),
        seq,
        ptype: PacketType::Cancel,
        ..Packet::default()
    };
    let _ = shared
        .server_out
        .try_send(pushpin_zhttp::framing::pub_frame(&key.0, &p));
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn headers_from_packet(p: &Packet) -> Vec<Header> {
    p.header_list()
        .iter()
        .map(|h| (h.name.clone(), h.value.clone()))
        .collect()
}

/// Runs a new session from its first packet.
pub(crate) async fn run_new(shared: Arc<Shared>, first: Packet, rx: mpsc::Receiver<Packet>) {
    let id = first.id().map(|i| i.0.clone()).unwrap_or_default();
    let span = debug_span!("session", rid = %String::from_utf8_lossy(&id));
    async move {
        let credits = first.credits.unwrap_or(0);
        let mut conn = Conn::new(shared, first.from.clone(), id, SeqState::new(), credits, rx);
        conn.multi = first.ext.multi;
        if let Err(e) = conn.seq.receive(first.seq.or(Some(0))) {
            debug!(error = %e, "first packet out of sequence");
            conn.error(Condition::BadRequest).await;
            return;
        }
        start(conn, first).await;
    }
    .instrument(span)
    .await;
}

async fn start(mut conn: Conn, first: Packet) {
    let Some(uri_text) = first.uri.clone() else {
        debug!("first packet without uri");
        conn.error(Condition::BadRequest).await;
        return;
    };
    let mut uri = match Uri::parse(&uri_text) {
        Ok(u) => u,
        Err(e) => {
            debug!(error = %e, "bad request uri");
            conn.error(Condition::BadRequest).await;
            return;
        }
    };
    // A WebSocket request needs no method: condure sends `GET`, m2adapter sends none
    // (1.36's proxy never reads it for WebSockets).
    let method = match first.method.clone() {
        Some(m) => m,
        None if uri.is_websocket() => Bytes::from_static(b"GET"),
        None => {
            debug!("first packet without method");
            conn.error(Condition::BadRequest).await;
            return;
        }
    };
    if !first.stream && !uri.is_websocket() {
        debug!("non-stream request; rejecting as 1.36 does");
        conn.error(Condition::BadRequest).await;
        return;
    }
    let headers = headers_from_packet(&first);
    let config = conn.shared.config.clone();
    let scheme = uri.scheme.clone();
    outgoing::apply_accept_xfp(&config, &mut uri, &headers);
    let uri_text = if uri.scheme == scheme {
        uri_text
    } else {
        Bytes::from(uri.to_string())
    };
    let mut client = ClientRequest {
        method,
        uri,
        uri_text,
        headers,
        peer_address: first.peer_address.clone(),
    };
    let mut body = RequestBody::new(first.body.clone().unwrap_or_default(), !first.more);
    let websocket = client.uri.is_websocket();
    // ack: credit when a body follows, else keep-alive (spec/zhttp.md §6.8); a WebSocket
    // is answered by the accept (or rejection) itself
    let ok = if websocket {
        true
    } else if first.more {
        let mut p = conn.packet(PacketType::Credit);
        p.credits = Some(REQUEST_CREDITS.saturating_sub(body.buffered_len_u32()));
        p.ext.multi = true;
        conn.in_window
            .grant(REQUEST_CREDITS.saturating_sub(body.buffered_len_u32()));
        conn.send(p).await
    } else {
        conn.keep_alive(true).await
    };
    if !ok {
        return;
    }
    let trusted_client = outgoing::is_trusted_client(&config, &client.headers, now_unix());
    let passthrough = first.passthrough.as_ref().map(Passthrough::parse);
    let route = match &passthrough {
        Some(pt) => internal_route(&conn.shared, &config, &client, pt),
        None => select_route(&conn.shared, &config, &client),
    };
    // 1.36 hands SockJS requests over before anything else (no aco, no inspect)
    if let Some(r) = route
        .as_ref()
        .filter(|r| passthrough.is_none() && crate::sockjs::base_len(r, &client.uri.path).is_some())
    {
        let r = r.clone();
        let body = if websocket {
            None
        } else {
            if !body
                .read_until(&mut conn, crate::sockjs::MAX_REQUEST_BODY + 1)
                .await
            {
                return;
            }
            Some(body.take(crate::sockjs::MAX_REQUEST_BODY + 1))
        };
        crate::sockjs::handle(conn, client, body, r).await;
        return;
    }
    if !websocket
        // a direct intreq request (no prefer-internal) gets 1.36's bare route: no aco
        && ((config.auto_cross_origin && passthrough.as_ref().is_none_or(|pt| pt.prefer_internal))
            || route.as_ref().is_some_and(|r| r.auto_cross_origin))
        && !apply_aco(&mut conn, route.as_ref(), &mut client, &mut body).await
    {
        return;
    }
    let Some(route) = route else {
        let host = client.uri.host.clone();
        if websocket {
            respond::reject(&mut conn, 502, format!("No route for host: {host}\n")).await;
        } else {
            respond::no_route(&mut conn, &client, &host).await;
        }
        return;
    };
    let logical_peer = outgoing::logical_peer_address(&config, &client, trusted_client);
    let https = client.uri.is_tls();
    let debug = config.debug || route.debug;
    let mut req = Request {
        client,
        body,
        route,
        trusted_client,
        inspect: None,
        is_retry: false,
        https,
        debug,
        logical_peer,
        user_data: first.user_data.clone(),
        internal: passthrough.is_some(),
    };
    if websocket {
        forward_ws(conn, req).await;
        return;
    }
    // read enough body for inspect
    if !req.body.read_until(&mut conn, MAX_INSPECT_BODY).await {
        return;
    }
    // intreq requests are inspected only when routed like client requests
    let inspect_it = passthrough.as_ref().is_none_or(|pt| pt.prefer_internal);
    if inspect_it {
        let auto_share = passthrough.as_ref().is_some_and(|pt| pt.auto_share);
        req.inspect = inspect(&conn.shared, &req, auto_share).await;
    }
    forward_all(conn, req).await;
}

/// Turns auto cross-origin on for the session (`spec/grip.md` §11): answers will carry
/// CORS headers, and a JSON-P request is rewritten into what the origin gets, its
/// answers wrapped. `false` when the request was refused (`400`, already answered).
async fn apply_aco(
    conn: &mut Conn,
    route: Option<&Route>,
    client: &mut ClientRequest,
    body: &mut RequestBody,
) -> bool {
    let default_config;
    let jsonp_config = match route {
        Some(r) => &r.jsonp,
        None => {
            default_config = aco::default_jsonp_config();
            &default_config
        }
    };
    let mut shaping = aco::Shaping {
        cors: true,
        request_headers: client.headers.clone(),
        jsonp: None,
    };
    match aco::jsonp_request(jsonp_config, &client.method, &client.uri, &client.headers) {
        Ok(None) => {}
        Ok(Some(j)) => {
            client.method = j.method;
            client.uri.query = j.query;
            client.uri_text = Bytes::from(client.uri.to_string());
            client.headers = j.headers;
            body.prepend(j.body);
            shaping.jsonp = Some(j.jsonp);
        }
        Err(e) => {
            debug!(error = %e, "refusing the json-p request");
            conn.aco = Some(shaping);
            let _ = respond::error_response(conn, 400, e.body().to_string()).await;
            return false;
        }
    }
    conn.aco = Some(shaping);
    true
}

fn select_route(shared: &Shared, config: &ProxyConfig, client: &ClientRequest) -> Option<Route> {
    let routes = shared.routes.borrow().clone();
    if config.accept_pushpin_route {
        if let Some(id) = outgoing::get(&client.headers, b"Pushpin-Route").filter(|v| !v.is_empty())
        {
            let id = String::from_utf8_lossy(id);
            return routes.find_by_id(&id).cloned();
        }
    }
    let proto = if client.uri.is_websocket() {
        Protocol::WebSocket
    } else {
        Protocol::Http
    };
    routes
        .find(
            proto,
            client.uri.is_tls(),
            &client.uri.host,
            &client.uri.path,
        )
        .cloned()
}

/// The route of an intreq request: like a client request's (by id when unique) with
/// `prefer-internal`, else a one-off route straight to the URL's host with the original
/// route's signing.
fn internal_route(
    shared: &Shared,
    config: &ProxyConfig,
    client: &ClientRequest,
    pt: &Passthrough,
) -> Option<Route> {
    let routes = shared.routes.borrow().clone();
    let original = pt
        .route
        .as_deref()
        .filter(|id| !routes.is_id_shared(id))
        .and_then(|id| routes.find_by_id(id).cloned());
    if pt.prefer_internal {
        return original.or_else(|| select_route(shared, config, client));
    }
    let port = client.uri.port.unwrap_or(client.uri.default_port());
    let mut line = format!("* {}:{port}", client.uri.host);
    if client.uri.is_tls() {
        line.push_str(",ssl");
    }
    if !pt.trusted {
        line.push_str(",untrusted");
    }
    let mut route = pushpin_config::routes::parse_rule(&line, std::path::Path::new("."))
        .ok()
        .flatten()?;
    if let Some(orig) = original {
        route.id = orig.id.clone();
        route.sig_iss = orig.sig_iss.clone();
        route.sig_key = orig.sig_key.clone();
        route.prefix = orig.prefix.clone();
    }
    Some(route)
}

async fn inspect(shared: &Shared, req: &Request, auto_share: bool) -> Option<InspectInfo> {
    let client = shared.inspect.as_ref()?;
    let (body, truncated) = req.body.prefix(MAX_INSPECT_BODY);
    let args = InspectArgs {
        request: RequestData {
            method: req.client.method.clone(),
            uri: req.client.uri_text.clone(),
            headers: req.client.headers.clone(),
            body,
        },
        truncated,
        get_session: req.route.session,
        auto_share,
    };
    let call = Call::Inspect(args);
    if !shared.inspect_available.load(Ordering::Relaxed) {
        // 1.36 still asks but does not wait while inspect is unavailable
        let rx = client.start(call).await;
        drop(rx);
        return None;
    }
    let resp = client.call(call).await;
    let resp = match resp {
        Ok(r) => r,
        Err(rpc::RpcError::Timeout) => {
            shared.inspect_available.store(false, Ordering::Relaxed);
            debug!("inspect timed out; proxying without it");
            return None;
        }
        Err(e) => {
            debug!(error = %e, "inspect failed; proxying without it");
            return None;
        }
    };
    shared.inspect_available.store(true, Ordering::Relaxed);
    match &resp.outcome {
        pushpin_internal::Outcome::Success(value) => {
            match InspectInfo::decode(value, &pushpin_internal::Limits::default()) {
                Ok(info) => Some(info),
                Err(e) => {
                    debug!(error = %e, "malformed inspect result; ignored");
                    None
                }
            }
        }
        pushpin_internal::Outcome::Failure { condition, .. } => {
            debug!(condition = %condition, "inspect failed; proxying without it");
            None
        }
    }
}

/// Proxies a WebSocket session that SockJS presents (`crate::sockjs`) to the route's
/// targets, as a client WebSocket would be.
pub(crate) async fn forward_websocket(conn: Conn, client: ClientRequest, route: Route) {
    let config = conn.shared.config.clone();
    let trusted_client = outgoing::is_trusted_client(&config, &client.headers, now_unix());
    let logical_peer = outgoing::logical_peer_address(&config, &client, trusted_client);
    let https = client.uri.is_tls();
    let debug = config.debug || route.debug;
    let req = Request {
        client,
        body: RequestBody::new(Bytes::new(), true),
        route,
        trusted_client,
        inspect: None,
        is_retry: false,
        https,
        debug,
        logical_peer,
        user_data: None,
        internal: false,
    };
    forward_ws(conn, req).await;
}

/// Tries each target of a WebSocket route in order.
async fn forward_ws(mut conn: Conn, mut req: Request) {
    let targets = req.route.targets.clone();
    let mut tried: Vec<String> = Vec::new();
    for target in &targets {
        // the test target answers WebSockets itself, even with over_http (1.36)
        let outcome = if target.over_http && target.kind != TargetKind::Test {
            woh::forward(&mut conn, &mut req, target).await
        } else {
            ws::forward(&mut conn, &mut req, target).await
        };
        match outcome {
            Outcome::TryNext => tried.push(target.kind.to_string()),
            _ => return,
        }
    }
    let body = if req.debug {
        format!(
            "Unable to connect to any targets. Tried: {}\n",
            tried.join(", ")
        )
    } else {
        respond::PROXY_ERROR.to_string()
    };
    respond::reject(&mut conn, 502, body).await;
}

/// Reports the session to the stats socket. An intreq session has no connection entry:
/// its (origin side) counts go on their own when it ends.
fn report(conn: &Conn, req: &Request, ended: Option<bool>) {
    let Some(stats) = conn.shared.stats.as_ref() else {
        return;
    };
    if req.internal {
        // counted only at the end (nothing is counted before the first call)
        if ended.is_none() {
            return;
        }
        let counts = conn.tally.drain();
        if !counts.is_empty() {
            let route = req.route.stats_route().map(|r| Bytes::from(r.to_string()));
            stats.report(crate::stats::StatsEvent::Counters { route, counts });
        }
        return;
    }
    let route = req.route.stats_route().map(|r| Bytes::from(r.to_string()));
    let id = Bytes::from(conn.rid_text());
    let ev = match ended {
        // accepted: a final refresh, then the handler reports it
        None | Some(false) => crate::stats::StatsEvent::Conn {
            id,
            peer_address: req.client.peer_address.clone(),
            ssl: req.https,
            route,
            counted: ended.is_none() && !req.is_retry,
            linger: ended.is_some(),
            tally: conn.tally.clone(),
        },
        Some(true) => crate::stats::StatsEvent::Gone { id, route },
    };
    stats.report(ev);
}

/// Tries each target of the route in order, alone or sharing the origin request.
async fn forward_all(mut conn: Conn, mut req: Request) {
    conn.count_sent = !req.internal;
    // a retry's request was counted when it first came in (1.36)
    let count_received = !req.internal && !req.is_retry;
    if count_received {
        let c = &req.client;
        let head = crate::stats::report::request_head_bytes(
            &c.method,
            crate::stats::report::path_and_query(&c.uri_text),
            c.headers.iter().map(|(n, v)| (n.as_ref(), v.as_ref())),
        );
        conn.tally
            .add(crate::stats::Counter::ClientHeaderBytesReceived, head);
    }
    report(&conn, &req, None);
    let accepted = forward_shared(&mut conn, &mut req).await;
    if count_received {
        conn.tally.add(
            crate::stats::Counter::ClientContentBytesReceived,
            req.body.total(),
        );
    }
    report(&conn, &req, Some(!accepted));
}

/// Times an orphaned follower tries to join or lead again before proxying alone.
const MAX_SHARE_ATTEMPTS: usize = 3;

/// Request sharing (`crate::sharing`, 1.36 `doProxy`): with an inspect sharing key and a
/// complete body (read up to [`MAX_ACCEPT_BODY`]), join the origin request in flight for
/// that key, or lead a new one. Sessions with CORS / JSON-P shaping never share, since
/// followers relay the leader's shaped packets. `true` when the handler took the session.
async fn forward_shared(conn: &mut Conn, req: &mut Request) -> bool {
    let Some(key) = req.inspect.as_ref().and_then(|i| i.sharing_key.clone()) else {
        return forward_targets(conn, req).await;
    };
    if !req.body.read_until(conn, MAX_ACCEPT_BODY).await {
        return false;
    }
    if !req.body.is_complete() || conn.aco.is_some() {
        return forward_targets(conn, req).await;
    }
    debug!(key = %String::from_utf8_lossy(&key), "proxying with a sharing key");
    let registry = conn.shared.sharing.clone();
    for _ in 0..MAX_SHARE_ATTEMPTS {
        match registry.join_or_lead(key.clone()) {
            crate::sharing::Join::Lead(lead) => {
                conn.sharing = Some(crate::sharing::Role::Leader(lead.group().clone()));
                let accepted = forward_targets(conn, req).await;
                conn.sharing = None;
                // dropping the lead ends the group: followers still waiting are orphaned
                drop(lead);
                return accepted;
            }
            crate::sharing::Join::Follow(member) => {
                debug!("joining a shared origin request");
                conn.sharing = Some(crate::sharing::Role::Follower(member.group.clone()));
                let end = follow::follow(conn, req, member).await;
                conn.sharing = None;
                match end {
                    follow::FollowEnd::Accepted => return true,
                    follow::FollowEnd::Done | follow::FollowEnd::Gone => return false,
                    follow::FollowEnd::Orphaned => {
                        debug!("shared origin request went away; proxying again");
                    }
                }
            }
        }
    }
    forward_targets(conn, req).await
}

/// Tries each target in order; `true` when the handler took the session.
async fn forward_targets(conn: &mut Conn, req: &mut Request) -> bool {
    let targets = req.route.targets.clone();
    let mut tried: Vec<String> = Vec::new();
    for target in &targets {
        if let Some(crate::sharing::Role::Leader(g)) = &conn.sharing {
            g.set_target(target.kind.to_string());
        }
        let outcome = match &target.kind {
            TargetKind::Test => {
                if !req.body.read_until(conn, MAX_ACCEPT_BODY + 1).await {
                    return false;
                }
                let len = req.body.complete_len().filter(|n| *n <= MAX_ACCEPT_BODY);
                let response: Response = test_target::respond(&req.client.uri, &req.route, len);
                let origin = outgoing::origin_request(
                    &conn.shared.config,
                    &req.client,
                    &req.route,
                    target,
                    rewrite(req),
                );
                count_test_origin(conn, req, &origin, &response);
                respond::origin_complete(conn, req, target, &origin, response).await
            }
            TargetKind::Origin { .. } | TargetKind::Zhttp { .. } => {
                upstream::forward(conn, req, target).await
            }
        };
        match outcome {
            Outcome::Accepted => return true,
            Outcome::Done | Outcome::Gone => return false,
            Outcome::TryNext => tried.push(target.kind.to_string()),
        }
    }
    respond::all_targets_failed(conn, req, &tried).await;
    false
}

/// The test target stands in for an origin (1.36 counts its request and response as
/// server bytes too).
fn count_test_origin(
    conn: &Conn,
    req: &Request,
    origin: &outgoing::OriginRequest,
    response: &Response,
) {
    use crate::stats::Counter;
    let t = &conn.tally;
    t.add(
        Counter::ServerHeaderBytesSent,
        upstream::origin_head_bytes(&req.client.method, origin),
    );
    t.add(
        Counter::ServerContentBytesSent,
        req.body.complete_len().unwrap_or(0),
    );
    let head = crate::stats::report::response_head_bytes(
        response.code,
        &response.reason,
        response
            .headers
            .iter()
            .map(|(n, v)| (n.as_ref(), v.as_ref())),
    );
    t.add(Counter::ServerHeaderBytesReceived, head);
    t.add(Counter::ServerContentBytesReceived, response.body.len());
}

/// The per-request rewriting facts.
pub(crate) fn rewrite(req: &Request) -> outgoing::Rewrite<'_> {
    let (last_ids, sid) = match &req.inspect {
        Some(i) => (i.last_ids.as_slice(), i.sid.as_ref()),
        None => (&[][..], None),
    };
    outgoing::Rewrite {
        trusted_client: req.trusted_client,
        internal: req.internal,
        last_ids,
        sid,
        now: now_unix(),
    }
}

/// Runs a session the handler handed back (retry).
pub(crate) async fn run_adopted(
    shared: Arc<Shared>,
    adopt: Box<Adopt>,
    rx: mpsc::Receiver<Packet>,
) {
    let span = debug_span!("session", rid = %String::from_utf8_lossy(&adopt.request.rid.id));
    async move {
        let r = &adopt.request;
        let mut conn = Conn::new(
            shared,
            r.rid.sender.clone(),
            r.rid.id.clone(),
            SeqState::resume(r.out_seq, r.in_seq),
            r.out_credits,
            rx,
        );
        // 1.36 takes the retry's own auto cross-origin and JSON-P state, not the route's
        let jsonp = r
            .jsonp_callback
            .clone()
            .filter(|cb| !cb.is_empty())
            .map(|callback| aco::Jsonp {
                callback,
                extended: r.jsonp_extended_response,
            });
        if r.auto_cross_origin || jsonp.is_some() {
            conn.aco = Some(aco::Shaping {
                cors: r.auto_cross_origin,
                request_headers: adopt.request_data.headers.clone(),
                jsonp,
            });
        }
        if !conn.keep_alive(true).await {
            return;
        }
        let mut uri = match Uri::parse(&adopt.request_data.uri) {
            Ok(u) => u,
            Err(e) => {
                debug!(error = %e, "retry with a bad uri; cancelling");
                conn.cancel().await;
                return;
            }
        };
        if r.https {
            uri.scheme = if uri.is_websocket() { "wss" } else { "https" }.to_string();
        }
        let config = conn.shared.config.clone();
        let client = ClientRequest {
            method: adopt.request_data.method.clone(),
            uri,
            uri_text: adopt.request_data.uri.clone(),
            headers: adopt.request_data.headers.clone(),
            peer_address: r.peer_address.clone(),
        };
        let routes = conn.shared.routes.borrow().clone();
        let by_id = adopt
            .route
            .as_ref()
            .map(|id| String::from_utf8_lossy(id).into_owned())
            .filter(|id| !routes.is_id_shared(id))
            .and_then(|id| routes.find_by_id(&id).cloned());
        let route = by_id.or_else(|| select_route(&conn.shared, &config, &client));
        let Some(route) = route else {
            let host = client.uri.host.clone();
            respond::no_route(&mut conn, &client, &host).await;
            return;
        };
        let trusted_client = outgoing::is_trusted_client(&config, &client.headers, now_unix());
        let logical_peer = outgoing::logical_peer_address(&config, &client, trusted_client);
        let debug = r.debug || config.debug || route.debug;
        let req = Request {
            body: RequestBody::new(adopt.request_data.body.clone(), true),
            client,
            route,
            trusted_client,
            inspect: adopt.inspect.clone(),
            is_retry: true,
            https: r.https,
            debug,
            logical_peer,
            user_data: r.user_data.clone(),
            internal: false,
        };
        info!("retrying {}", conn.rid_text());
        forward_all(conn, req).await;
    }
    .instrument(span)
    .await;
}
