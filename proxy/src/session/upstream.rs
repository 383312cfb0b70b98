//! Forwarding to an origin through zurl (`spec/zhttp.md` §6.2–§6.3, §10.4): one ZHTTP
//! client session per attempt, request body streamed as zurl grants credits (client
//! credits returned as bytes move on), response body streamed as the client grants
//! credits (zurl credits returned as bytes move on). Nothing buffers more than the
//! credits it granted, so memory per session stays bounded whatever the body size.
//!
//! A response with GRIP instructions is buffered (≤ 100000 bytes) instead and handed to
//! [`handoff`](super::handoff) through [`respond::origin_complete`]. With auto
//! cross-origin on, the head gets CORS headers; a JSON-P response is buffered to be
//! wrapped whole, or wrapped on the way once it outgrows the buffer ([`crate::aco`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use pushpin_config::routes::{Target, TargetKind};
use pushpin_grip::instruct::is_grip_response;
use pushpin_zhttp::session::{Credits, SeqState};
use pushpin_zhttp::{Condition, Ext, Header, Ids, Packet, PacketType};
use tokio::sync::mpsc;
use tracing::debug;

use super::body::Chunks;
use super::conn::{Conn, ConnEvent};
use super::handoff;
use super::respond::{self, PROXY_ERROR};
use super::{MAX_ACCEPT_BODY, Outcome, Request, rewrite};
use crate::aco::{self, Jsonp, JsonpStream};
use crate::client::{ClientCmd, ClientHandle};
use crate::outgoing::{self, OriginRequest};
use crate::stats::{Counter, Tally, report};
use crate::test_target::Response;

mod initial;
mod req;

/// Response credits granted to zurl (1.36: 200000).
pub(super) const RESPONSE_CREDITS: u32 = 200_000;
/// Most request body put in the first packet without credits (RFC 33 exception).
const FIRST_PACKET_BODY: usize = 200_000;
/// Upstream inbox size (see `server::INBOX_CAPACITY` for why it is large).
const INBOX: usize = crate::server::INBOX_CAPACITY;
/// Keep-alive period towards both peers.
pub(super) const KEEP_ALIVE: Duration = Duration::from_secs(45);
/// A peer silent this long is gone.
pub(super) const PEER_TIMEOUT: Duration = Duration::from_secs(60);

/// The ZHTTP client session towards zurl.
pub(super) struct Upstream {
    io: ClientHandle,
    instance: Bytes,
    id: Bytes,
    pub(super) to: Option<Bytes>,
    seq: SeqState,
    pub(super) credits: Credits,
    rx: mpsc::Receiver<Packet>,
    pub(super) last_sent: Instant,
    last_recv: Instant,
    pub(super) done: bool,
    /// Where the origin side's bytes are counted (plain HTTP forwarding only).
    tally: Option<Arc<Tally>>,
}

enum UpEvent {
    Head(Box<Packet>),
    Body { data: Bytes, more: bool },
    Credit,
    Failed(Condition),
    Gone,
}

impl Upstream {
    /// Registers a new request `id` with the client task and sends `first` (seq 0).
    pub(super) async fn start(
        io: ClientHandle,
        instance: Bytes,
        mut first: Packet,
    ) -> Option<Self> {
        let (tx, rx) = mpsc::channel(INBOX);
        let now = Instant::now();
        let mut up = Self {
            io,
            instance,
            id: Bytes::from(uuid::Uuid::new_v4().to_string()),
            to: None,
            seq: SeqState::new(),
            credits: Credits::new(0),
            rx,
            last_sent: now,
            last_recv: now,
            done: false,
            tally: None,
        };
        let base = up.packet(PacketType::Data);
        first.from = base.from;
        first.ids = base.ids;
        first.seq = base.seq;
        let start = ClientCmd::Start {
            id: up.id.clone(),
            inbox: tx,
            frame: first.to_bytes(),
        };
        up.io.tx.send(start).await.ok()?;
        Some(up)
    }

    /// The next packet in sequence (credits added); `None` when the session is lost.
    pub(super) async fn recv_packet(&mut self) -> Option<Packet> {
        let p = self.rx.recv().await?;
        self.last_recv = Instant::now();
        if !p.from.is_empty() {
            self.to = Some(p.from.clone());
        }
        if !matches!(p.ptype, PacketType::Cancel | PacketType::Error) {
            if self.seq.receive(p.seq).is_err() {
                return None;
            }
            self.credits.grant(p.credits.unwrap_or(0));
        }
        Some(p)
    }

    /// Sends `p` with the next seq (follow-ups only).
    pub(super) async fn send_next(&mut self, mut p: Packet) -> bool {
        let base = self.packet(p.ptype.clone());
        p.from = base.from;
        p.ids = base.ids;
        p.seq = base.seq;
        self.send(p).await
    }

    fn packet(&mut self, ptype: PacketType) -> Packet {
        Packet {
            from: self.instance.clone(),
            ids: Ids::One(self.id.clone().into()),
            seq: Some(self.seq.next_out()),
            ptype,
            ..Packet::default()
        }
    }

    fn count(&self, c: Counter, n: usize) {
        if let Some(t) = &self.tally {
            t.add(c, n);
        }
    }

    async fn send(&mut self, p: Packet) -> bool {
        let Some(to) = self.to.clone() else {
            return true;
        };
        if p.ptype == PacketType::Data {
            self.count(Counter::ServerContentBytesSent, p.body_bytes().len());
        }
        self.last_sent = Instant::now();
        self.io
            .tx
            .send(ClientCmd::Send {
                to,
                frame: p.to_bytes(),
            })
            .await
            .is_ok()
    }

    pub(super) async fn grant(&mut self, n: usize) -> bool {
        if n == 0 {
            return true;
        }
        let mut p = self.packet(PacketType::Credit);
        p.credits = Some(u32::try_from(n).unwrap_or(u32::MAX));
        self.send(p).await
    }

    pub(super) async fn cancel(&mut self) {
        if !self.done {
            let p = self.packet(PacketType::Cancel);
            let _ = self.send(p).await;
            self.done = true;
        }
    }

    async fn recv(&mut self) -> UpEvent {
        loop {
            let Some(p) = self.rx.recv().await else {
                return UpEvent::Gone;
            };
            self.last_recv = Instant::now();
            if !p.from.is_empty() {
                self.to = Some(p.from.clone());
            }
            match p.ptype {
                PacketType::Cancel => {
                    debug!("zurl cancelled the request");
                    return UpEvent::Failed(Condition::UndefinedCondition);
                }
                PacketType::Error => {
                    return UpEvent::Failed(p.condition.unwrap_or(Condition::UndefinedCondition));
                }
                _ => {}
            }
            if let Err(e) = self.seq.receive(p.seq) {
                debug!(error = %e, "zurl packet out of sequence");
                return UpEvent::Failed(Condition::UndefinedCondition);
            }
            self.credits.grant(p.credits.unwrap_or(0));
            match p.ptype {
                PacketType::Data if p.code.is_some() => {
                    let head = report::response_head_bytes(
                        p.code.unwrap_or_default(),
                        p.reason.as_deref().unwrap_or_default(),
                        p.header_list()
                            .iter()
                            .map(|h| (h.name.as_ref(), h.value.as_ref())),
                    );
                    self.count(Counter::ServerHeaderBytesReceived, head);
                    self.count(Counter::ServerContentBytesReceived, p.body_bytes().len());
                    return UpEvent::Head(Box::new(p));
                }
                PacketType::Data => {
                    self.count(Counter::ServerContentBytesReceived, p.body_bytes().len());
                    return UpEvent::Body {
                        data: p.body.unwrap_or_default(),
                        more: p.more,
                    };
                }
                PacketType::Credit => return UpEvent::Credit,
                PacketType::KeepAlive if p.credits.is_some_and(|c| c > 0) => {
                    return UpEvent::Credit;
                }
                _ => {}
            }
        }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.io.tx.try_send(ClientCmd::Done {
            id: self.id.clone(),
        });
    }
}

pub(super) fn connect_failure(c: &Condition) -> bool {
    matches!(
        c,
        Condition::RemoteConnectionFailed
            | Condition::ConnectionTimeout
            | Condition::TlsError
            | Condition::PolicyViolation
    )
}

/// Where the response is in its life.
enum Phase {
    /// Waiting for the response head.
    Waiting,
    /// Relaying a plain response; `ended` once zurl sent its last packet, `end_sent`
    /// once the client got a packet without `more`; `jsonp` when it is wrapped on the way.
    Streaming {
        pending: Chunks,
        ended: bool,
        end_sent: bool,
        code: u16,
        jsonp: Option<Box<JsonpFeed>>,
        /// A GRIP response too large to buffer, sent by the proxy itself: the origin's
        /// head, for the accept that follows the body (`response-sent`).
        accept_after: Option<Box<Packet>>,
    },
    /// Buffering a plain response to wrap it whole in JSON-P; past [`MAX_ACCEPT_BODY`]
    /// it is streamed instead (1.36 streams whatever has not ended when it starts).
    Jsonp {
        head: Box<Packet>,
        headers: Vec<(Bytes, Bytes)>,
        body: BytesMut,
        jsonp: Jsonp,
    },
    /// Buffering a GRIP response.
    Grip { head: Box<Packet>, body: BytesMut },
}

/// A streamed response being wrapped in JSON-P. Origin bytes wait in `raw` and are
/// wrapped only once the client took the previous wrapped bytes, and zurl is credited
/// then, so memory stays bounded by the credits granted to zurl.
struct JsonpFeed {
    stream: JsonpStream,
    raw: Chunks,
    finished: bool,
}

/// Sends a complete plain response in JSON-P (the session's shaping wraps it).
async fn relay_jsonp_complete(
    conn: &mut Conn,
    req: &Request,
    target: &Target,
    head: &Packet,
    headers: Vec<(Bytes, Bytes)>,
    body: Bytes,
) -> Outcome {
    let code = head.code.unwrap_or(200);
    let response = Response {
        code,
        reason: head.reason.clone().unwrap_or_default(),
        headers,
        body,
    };
    let len = response.body.len();
    if !respond::send_response(conn, &response).await {
        return Outcome::Gone;
    }
    respond::log_request(
        conn,
        req,
        &target.kind.to_string(),
        &format!("code={code} {len}"),
    );
    Outcome::Done
}

/// More body for a response buffered for JSON-P: buffer it, send the whole wrapper once
/// it ends, or start streaming the wrapper when the buffer is full.
#[expect(
    clippy::too_many_arguments,
    reason = "one step of the forwarding loop's state"
)]
async fn jsonp_more(
    conn: &mut Conn,
    req: &Request,
    target: &Target,
    up: &mut Upstream,
    phase: Phase,
    data: Bytes,
    more: bool,
    sent_bytes: &mut usize,
) -> Result<Phase, Outcome> {
    let (head, headers, mut body, jsonp) = match phase {
        Phase::Jsonp {
            head,
            headers,
            body,
            jsonp,
        } => (head, headers, body, jsonp),
        other => return Ok(other),
    };
    body.extend_from_slice(&data);
    if !more {
        up.done = true;
        return Err(relay_jsonp_complete(conn, req, target, &head, headers, body.freeze()).await);
    }
    if body.len() <= MAX_ACCEPT_BODY {
        return Ok(Phase::Jsonp {
            head,
            headers,
            body,
            jsonp,
        });
    }
    let stream = JsonpStream::new(jsonp);
    let (wrapper_headers, start) = stream.head(
        head.code.unwrap_or(200),
        head.reason.as_deref().unwrap_or_default(),
        &headers,
    );
    let mut feed = JsonpFeed {
        stream,
        raw: Chunks::default(),
        finished: false,
    };
    feed.raw.push(body.freeze());
    let mut pending = Chunks::default();
    pending.push(start);
    let n = conn.out_credits.take(pending.len());
    let mut p = conn.packet(PacketType::Data);
    p.code = Some(200);
    p.reason = Some(Bytes::from_static(b"OK"));
    p.headers = Some(
        wrapper_headers
            .iter()
            .map(|(n, v)| Header::new(n.clone(), v.clone()))
            .collect(),
    );
    p.body = Some(pending.take(n));
    p.more = true;
    *sent_bytes += n;
    if !conn.send(p).await {
        up.cancel().await;
        return Err(Outcome::Gone);
    }
    Ok(Phase::Streaming {
        pending,
        ended: false,
        end_sent: false,
        code: 200,
        jsonp: Some(Box::new(feed)),
        accept_after: None,
    })
}

/// A buffered GRIP response from its head packet and complete body.
fn grip_response(head: &Packet, body: Bytes) -> Response {
    Response {
        code: head.code.unwrap_or(200),
        reason: head.reason.clone().unwrap_or_default(),
        headers: head
            .header_list()
            .iter()
            .map(|h| (h.name.clone(), h.value.clone()))
            .collect(),
        body,
    }
}

/// The ZHTTP client `target`'s requests go through, and the connect host and port to
/// ask it for: zurl with the target's `host:port`, or a `zhttp/` target's own sockets
/// with none (as 1.36, which sets them only for `host:port` targets). `None` when there
/// is no such client (the target then counts as unreachable).
pub(super) fn client_for(
    shared: &super::Shared,
    target: &Target,
) -> Option<(ClientHandle, Option<(Bytes, u16)>)> {
    match &target.kind {
        TargetKind::Origin { host, port } => {
            let Some(io) = shared.zurl.clone() else {
                debug!("no zurl sockets configured");
                return None;
            };
            Some((io, Some((Bytes::from(host.clone()), *port))))
        }
        TargetKind::Zhttp { .. } => Some((shared.zroutes.client(target)?, None)),
        TargetKind::Test => None,
    }
}

/// The 1.36 estimate of an origin request's head.
pub(crate) fn origin_head_bytes(method: &[u8], origin: &OriginRequest) -> usize {
    let uri = origin.uri.to_string();
    report::request_head_bytes(
        method,
        report::path_and_query(uri.as_bytes()),
        origin.headers.iter().map(|(n, v)| (n.as_ref(), v.as_ref())),
    )
}

/// Forwards the request to `target` through zurl (or a custom ZHTTP peer).
pub(crate) async fn forward(conn: &mut Conn, req: &mut Request, target: &Target) -> Outcome {
    let Some((io, connect)) = client_for(&conn.shared, target) else {
        return Outcome::TryNext;
    };
    let origin: OriginRequest = outgoing::origin_request(
        &conn.shared.config,
        &req.client,
        &req.route,
        target,
        rewrite(req),
    );
    if let TargetKind::Zhttp { req: true, .. } = &target.kind {
        return req::forward(conn, req, target, &origin, io).await;
    }
    let (tx, rx) = mpsc::channel(INBOX);
    let now = Instant::now();
    let mut up = Upstream {
        io,
        instance: conn.shared.id.clone(),
        id: Bytes::from(uuid::Uuid::new_v4().to_string()),
        to: None,
        seq: SeqState::new(),
        credits: Credits::new(0),
        rx,
        last_sent: now,
        last_recv: now,
        done: false,
        tally: Some(conn.tally.clone()),
    };
    let first_body = req.body.take(FIRST_PACKET_BODY);
    let sent_in_first = first_body.len();
    let mut first = up.packet(PacketType::Data);
    first.ext = Ext {
        multi: true,
        quiet: false,
    };
    first.method = Some(req.client.method.clone());
    first.uri = Some(Bytes::from(origin.uri.to_string()));
    first.headers = Some(
        origin
            .headers
            .iter()
            .map(|(n, v)| Header::new(n.clone(), v.clone()))
            .collect(),
    );
    first.body = Some(first_body).filter(|b| !b.is_empty());
    first.more = !(req.body.is_complete() && req.body.pending_len() == 0);
    first.stream = true;
    first.credits = Some(RESPONSE_CREDITS);
    if let Some((host, port)) = connect {
        first.connect_host = Some(host);
        first.connect_port = Some(port);
    }
    first.ignore_policies = target.trusted;
    first.trust_connect_host = target.trust_connect_host;
    first.ignore_tls_errors = target.insecure;
    up.count(
        Counter::ServerHeaderBytesSent,
        origin_head_bytes(&req.client.method, &origin),
    );
    up.count(Counter::ServerContentBytesSent, first.body_bytes().len());
    let mut req_end_sent = !first.more;
    let start = ClientCmd::Start {
        id: up.id.clone(),
        inbox: tx,
        frame: first.to_bytes(),
    };
    if up.io.tx.send(start).await.is_err() {
        return Outcome::TryNext;
    }
    // client body moved on: give the client its credits back
    if !req.body.is_complete() && !conn.grant(u32::try_from(sent_in_first).unwrap_or(0)).await {
        up.cancel().await;
        return Outcome::Gone;
    }

    let mut phase = Phase::Waiting;
    let mut sent_bytes: usize = 0;
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            ev = conn.recv() => match ev {
                ConnEvent::Body { data, more } => req.body.push(data, more),
                ConnEvent::Credit | ConnEvent::HandoffProceed | ConnEvent::Ws(_) => {}
                ConnEvent::Gone => {
                    up.cancel().await;
                    return Outcome::Gone;
                }
            },
            ev = up.recv(), if !up.done => match ev {
                UpEvent::Credit => {}
                UpEvent::Failed(c) => {
                    up.done = true;
                    return match phase {
                        Phase::Waiting if connect_failure(&c) => {
                            debug!(condition = %c, target = %target.kind, "target failed");
                            Outcome::TryNext
                        }
                        Phase::Waiting | Phase::Grip { .. } | Phase::Jsonp { .. } => {
                            respond::log_request(conn, req, &target.kind.to_string(), "error");
                            let body = if req.debug {
                                format!("Error while proxying to origin: {c}\n")
                            } else {
                                PROXY_ERROR.to_string()
                            };
                            let _ = respond::error_response(conn, 502, body).await;
                            Outcome::Done
                        }
                        Phase::Streaming { .. } => {
                            tracing::warn!(condition = %c, "zurl failed mid-response; cancelling the client");
                            conn.cancel().await;
                            Outcome::Done
                        }
                    };
                }
                UpEvent::Gone => {
                    tracing::warn!("zurl session lost; cancelling the client");
                    conn.cancel().await;
                    return Outcome::Gone;
                }
                UpEvent::Head(head) => {
                    let headers: Vec<(Bytes, Bytes)> = head
                        .header_list()
                        .iter()
                        .map(|h| (h.name.clone(), h.value.clone()))
                        .collect();
                    let grip = !req.trusted_client && !req.internal && req.route.grip && is_grip_response(&headers);
                    let ended = !head.more;
                    let body = head.body.clone().unwrap_or_default();
                    if grip {
                        // buffered (the whole response may be in this packet)
                        let mut buf = BytesMut::new();
                        buf.extend_from_slice(&body);
                        let current = Phase::Grip { head, body: buf };
                        match initial::grip_more(conn, req, target, &origin, &mut up, current, Bytes::new(), !ended, &mut sent_bytes).await {
                            Ok(next) => phase = next,
                            Err(outcome) => return outcome,
                        }
                    } else if let Some(jsonp) = conn.aco.as_ref().and_then(|a| a.jsonp.clone()) {
                        let mut headers = headers;
                        headers.retain(|(n, _)| !aco::NOT_RELAYED.iter().any(|r| n.eq_ignore_ascii_case(r)));
                        if ended {
                            up.done = true;
                            return relay_jsonp_complete(conn, req, target, &head, headers, body).await;
                        }
                        let mut buf = BytesMut::new();
                        buf.extend_from_slice(&body);
                        phase = Phase::Jsonp { head, headers, body: buf, jsonp };
                    } else {
                        let mut p = conn.packet(PacketType::Data);
                        p.code = head.code;
                        p.reason = head.reason.clone();
                        let mut headers = headers;
                        respond::strip_hop_headers(&mut headers);
                        if let Some(shaping) = &conn.aco {
                            shaping.head_headers(&mut headers);
                        }
                        p.headers = Some(headers.into_iter().map(|(n, v)| Header::new(n, v)).collect());
                        let mut pending = Chunks::default();
                        pending.push(body);
                        let n = conn.out_credits.take(pending.len());
                        p.body = Some(pending.take(n));
                        p.more = !(ended && pending.is_empty());
                        sent_bytes += n;
                        let end_sent = !p.more;
                        if !conn.send(p).await {
                            up.cancel().await;
                            return Outcome::Gone;
                        }
                        if !ended && !up.grant(n).await {
                            return Outcome::Gone;
                        }
                        let code = head.code.unwrap_or(0);
                        up.done = ended;
                        phase = Phase::Streaming { pending, ended, end_sent, code, jsonp: None, accept_after: None };
                    }
                }
                UpEvent::Body { data, more } if matches!(phase, Phase::Grip { .. }) => {
                    let current = std::mem::replace(&mut phase, Phase::Waiting);
                    match initial::grip_more(conn, req, target, &origin, &mut up, current, data, more, &mut sent_bytes).await {
                        Ok(next) => phase = next,
                        Err(outcome) => return outcome,
                    }
                }
                UpEvent::Body { data, more } if matches!(phase, Phase::Jsonp { .. }) => {
                    let current = std::mem::replace(&mut phase, Phase::Waiting);
                    match jsonp_more(conn, req, target, &mut up, current, data, more, &mut sent_bytes).await {
                        Ok(next) => phase = next,
                        Err(outcome) => return outcome,
                    }
                }
                UpEvent::Body { data, more } => match &mut phase {
                    Phase::Waiting | Phase::Jsonp { .. } => {}
                    Phase::Streaming { pending, ended, jsonp, .. } => {
                        match jsonp {
                            Some(feed) => feed.raw.push(data),
                            None => pending.push(data),
                        }
                        *ended = !more;
                        // zurl's session is over: a late `cancel` (answering a credit we
                        // sent before reading this) must not fail the response
                        up.done = !more;
                    }
                    // handled above
                    Phase::Grip { .. } => {}
                },
            },
            _ = tick.tick() => {
                let now = Instant::now();
                if now.duration_since(up.last_recv) > PEER_TIMEOUT
                    || now.duration_since(conn.last_recv) > PEER_TIMEOUT
                {
                    debug!("peer silent too long; ending session");
                    up.cancel().await;
                    conn.cancel().await;
                    return Outcome::Gone;
                }
                if now.duration_since(up.last_sent) >= KEEP_ALIVE && up.to.is_some() {
                    let p = up.packet(PacketType::KeepAlive);
                    let _ = up.send(p).await;
                }
                if now.duration_since(conn.last_sent) >= KEEP_ALIVE && !conn.keep_alive(false).await {
                    up.cancel().await;
                    return Outcome::Gone;
                }
            }
        }
        // request body: forward what zurl has credits for
        while !req_end_sent && up.to.is_some() {
            let avail = up.credits.available() as usize;
            if avail == 0 && req.body.pending_len() > 0 {
                break;
            }
            if req.body.pending_len() == 0 && !req.body.is_complete() {
                break;
            }
            let chunk = req.body.take(avail);
            let _ = up.credits.take(chunk.len());
            let mut p = up.packet(PacketType::Data);
            let n = chunk.len();
            p.body = Some(chunk).filter(|b| !b.is_empty());
            p.more = !(req.body.is_complete() && req.body.pending_len() == 0);
            req_end_sent = !p.more;
            if !up.send(p).await {
                return Outcome::Gone;
            }
            if !req.body.is_complete() && !conn.grant(u32::try_from(n).unwrap_or(0)).await {
                up.cancel().await;
                return Outcome::Gone;
            }
        }
        // response body: forward what the client has credits for
        if let Phase::Streaming {
            pending,
            ended,
            end_sent,
            code,
            jsonp,
            accept_after,
        } = &mut phase
        {
            loop {
                // JSON-P: wrap the next origin bytes once the client took the previous
                // ones, crediting zurl for the origin bytes then
                if let Some(feed) = jsonp.as_mut() {
                    if pending.is_empty() && !feed.finished && (!feed.raw.is_empty() || *ended) {
                        let raw = feed.raw.take(feed.raw.len());
                        pending.push(feed.stream.body(&raw, *ended));
                        feed.finished = *ended;
                        if !*ended && !up.grant(raw.len()).await {
                            return Outcome::Gone;
                        }
                    }
                }
                let wrapped_all = jsonp.as_ref().is_none_or(|f| f.finished);
                while !pending.is_empty() && conn.out_credits.available() > 0 {
                    let n = conn.out_credits.take(pending.len());
                    let chunk = pending.take(n);
                    let mut p = conn.packet(PacketType::Data);
                    p.body = Some(chunk);
                    p.more =
                        !(*ended && pending.is_empty() && wrapped_all) || accept_after.is_some();
                    *end_sent = !p.more;
                    sent_bytes += n;
                    if !conn.send(p).await {
                        up.cancel().await;
                        return Outcome::Gone;
                    }
                    if !*ended && jsonp.is_none() && !up.grant(n).await {
                        return Outcome::Gone;
                    }
                }
                let more_to_wrap = jsonp
                    .as_ref()
                    .is_some_and(|f| !f.finished && (!f.raw.is_empty() || *ended));
                if !(pending.is_empty() && more_to_wrap) {
                    break;
                }
            }
            let wrapped_all = jsonp.as_ref().is_none_or(|f| f.finished);
            if *ended && pending.is_empty() && wrapped_all {
                if let Some(head) = accept_after.take() {
                    // the body went out unended: now the handler takes over
                    up.done = true;
                    let response = grip_response(&head, Bytes::new());
                    return handoff::accept_sent(conn, req, target, &origin, response, *code).await;
                }
                if !*end_sent {
                    let p = conn.packet(PacketType::Data);
                    if !conn.send(p).await {
                        return Outcome::Gone;
                    }
                }
                up.done = true;
                let outcome = format!("code={code} {sent_bytes}");
                respond::log_request(conn, req, &target.kind.to_string(), &outcome);
                return Outcome::Done;
            }
        }
    }
}
