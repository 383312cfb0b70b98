//! WebSocket-over-HTTP (`over_http` targets, `spec/grip.md` §9–§10): the proxy accepts
//! the client's WebSocket itself and talks to the backend in HTTP `POST`s carrying
//! `application/websocket-events` bodies ([`events`]), one request outstanding at a time
//! ([`post`]); client frames arriving meanwhile are queued (bounded by the 200000 credits
//! granted to the connection manager, returned once a request carried them). The OPEN
//! response decides the handshake and whether GRIP is on (`Sec-WebSocket-Extensions:
//! grip`); with GRIP, `c:` messages and the session itself go to the handler over
//! ws-control ([`crate::wscontrol`]) and the handler's `send`/`close`/`detach`/
//! `keep-alive-setup`/`cancel` items act on the client.
//!
//! Any malformed backend answer after the handshake (status, content type, undecodable
//! body, a second `OPEN`) is logged and drops the client, as in 1.36. Requests that fail
//! to connect are retried up to 5 times with 1.36's backoff (`1000·2^n + random(0..999)`
//! ms), except the OPEN request, which fails over to the next target instead.
//!
//! Layout: [`events`] (the body codec), [`post`] (one request through zurl),
//! [`backend`] (what every request carries, how responses are read), [`control`] (the
//! ws-control side); this file runs the handshake and the session loop.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use pushpin_config::routes::Target;
use pushpin_grip::WsMessageType;
use pushpin_zhttp::{Condition, Header as ZHeader, Packet, PacketType};
use tracing::{debug, warn};

use super::conn::{Conn, ConnEvent};
use super::upstream::{KEEP_ALIVE, PEER_TIMEOUT};
use super::ws::next_within;
use super::wsgrip::{self, OriginMessage, classify, message_packet};
use super::{Outcome, REQUEST_CREDITS, Request, respond, rewrite};
use crate::outgoing;
use crate::wscontrol::SessionMsg;

mod backend;
mod control;
pub(crate) mod events;
mod post;

use backend::{
    Backend, PostFuture, accept_header_dropped, client_header_dropped, grip_prefix,
    is_events_response, keep_alive_interval,
};
use control::Control;
use events::{Event, EventType};

/// Largest backend response body relayed on a rejected handshake (1.36).
const MAX_REJECT_BODY: usize = 100_000;
/// Response events queued for the client beyond which no new request starts.
const MAX_TO_CLIENT: usize = 1024;
/// Client events queued for the backend beyond which pings and pongs are dropped
/// (messages are bounded by the credits granted to the connection manager).
const MAX_QUEUED_EVENTS: usize = 4096;
/// Retries of a request that could not reach the backend (1.36 `RETRY_MAX`).
const RETRY_MAX: u32 = 5;

/// A request to the backend: its events (kept for retries) and the client message bytes
/// it carries (credits to return once it got through).
struct Batch {
    events: Vec<Event>,
    content: usize,
    retries: u32,
}

/// The request in flight.
struct InFlight {
    fut: PostFuture,
    batch: Batch,
}

/// 1.36's retry delay: `1000·2^n + random(0..999)` ms.
fn retry_delay(retries: u32) -> Duration {
    let jitter = u64::try_from(uuid::Uuid::new_v4().as_u128() % 1000).unwrap_or(0);
    Duration::from_millis(1000u64.saturating_mul(1 << retries.min(10)) + jitter)
}

/// A close payload: 2-byte big-endian code, then the reason.
fn close_payload(code: Option<u16>, reason: Option<&Bytes>) -> Option<Bytes> {
    let code = code?;
    let reason = reason.map_or(&[][..], |r| r.as_ref());
    let mut b = BytesMut::with_capacity(2 + reason.len());
    b.put_u16(code);
    b.put_slice(reason);
    Some(b.freeze())
}

fn close_packet(code: Option<u16>, reason: Option<Bytes>) -> Packet {
    Packet {
        ptype: PacketType::Close,
        code,
        body: reason.filter(|r| !r.is_empty()),
        ..Packet::default()
    }
}

/// Why the session loop ended.
enum End {
    /// The close handshake is done: nothing more to tell anyone.
    Finished,
    /// The client went away: the backend hears DISCONNECT.
    ClientGone,
    /// The backend failed or said DISCONNECT: the client is dropped.
    DropClient,
    /// The handler cancelled the session: the client is dropped and the backend hears
    /// DISCONNECT.
    DropBoth,
}

/// The session state after the handshake.
struct Session<'a> {
    conn: &'a mut Conn,
    backend: Backend,
    one_event: bool,
    /// The ws-control registration, when the link is configured.
    control: Option<Control>,
    /// The GRIP message prefix when GRIP is on.
    prefix: Option<Bytes>,
    outq: VecDeque<Event>,
    in_flight: Option<InFlight>,
    /// A request waiting to be retried, and when.
    retry: Option<(Batch, Instant)>,
    /// The command socket asked for a request now.
    refresh: bool,
    partial: Option<(EventType, BytesMut)>,
    to_client: VecDeque<Packet>,
    keep_alive: Option<Duration>,
    keep_alive_at: Option<Instant>,
    /// The client sent its close.
    client_closed: bool,
    /// We sent a close to the client.
    close_sent: bool,
    /// We posted a CLOSE to the backend (or detached from it).
    backend_closed: bool,
    /// The client's close, echoed when the backend does not close first.
    client_close: Option<(Option<u16>, Option<Bytes>)>,
    detached: bool,
    /// Client bytes discarded (detached) whose credits are still to return.
    discarded: usize,
}

/// Runs a WebSocket-over-HTTP session against `target`.
pub(crate) async fn forward(conn: &mut Conn, req: &mut Request, target: &Target) -> Outcome {
    let Some((io, connect)) = super::upstream::client_for(&conn.shared, target) else {
        return Outcome::TryNext;
    };
    let mut client = req.client.clone();
    client.headers.retain(|(n, _)| !client_header_dropped(n));
    let origin = outgoing::origin_request(
        &conn.shared.config,
        &client,
        &req.route,
        target,
        rewrite(req),
    );
    let mut uri = origin.uri;
    uri.scheme = if uri.is_tls() { "https" } else { "http" }.to_string();
    let mut headers = origin.headers;
    let grip_offered = req.route.grip && !req.trusted_client;
    if grip_offered {
        headers.push((
            Bytes::from_static(b"Sec-WebSocket-Extensions"),
            Bytes::from_static(b"grip"),
        ));
    }
    let cid = Bytes::from(uuid::Uuid::new_v4().to_string());
    let mut backend = Backend {
        io,
        instance: conn.shared.id.clone(),
        target: post::Target {
            uri: Bytes::from(uri.to_string()),
            connect,
            ignore_policies: target.trusted,
            trust_connect_host: target.trust_connect_host,
            ignore_tls_errors: target.insecure,
        },
        headers,
        cid: cid.clone(),
        meta: Vec::new(),
    };
    let name = target.kind.to_string();

    // handshake: OPEN, racing the client going away
    let open = backend.request(&[Event::bare(EventType::Open)]);
    let resp = tokio::select! {
        r = open => r,
        () = wait_gone(conn) => return Outcome::Gone,
    };
    let resp = match resp {
        Ok(r) => r,
        Err(e) if e.is_connect_failure() => return Outcome::TryNext,
        Err(e) => {
            debug!(error = %e, "websocket-over-http open request failed");
            respond::log_request(conn, req, &name, "code=502");
            respond::reject(conn, 502, respond::PROXY_ERROR.to_string()).await;
            return Outcome::Done;
        }
    };
    if !is_events_response(&resp) {
        respond::log_request(conn, req, &name, &format!("code={}", resp.code));
        reject_with(conn, &resp).await;
        return Outcome::Done;
    }
    let evs = match events::decode(&resp.body) {
        Ok(evs) if evs.first().is_some_and(|e| e.kind == EventType::Open) => evs,
        Ok(_) => {
            warn!("websocket-over-http backend did not open the connection");
            respond::log_request(conn, req, &name, "code=502");
            respond::reject(conn, 502, respond::PROXY_ERROR.to_string()).await;
            return Outcome::Done;
        }
        Err(e) => {
            warn!(error = %e, "malformed websocket-events body from the backend");
            respond::log_request(conn, req, &name, "code=502");
            respond::reject(conn, 502, respond::PROXY_ERROR.to_string()).await;
            return Outcome::Done;
        }
    };
    backend.apply_meta(&resp.headers);
    let keep_alive = keep_alive_interval(&resp.headers).flatten();
    let prefix = grip_offered.then(|| grip_prefix(&resp.headers)).flatten();

    // accept the client
    let mut p = conn.packet(PacketType::Data);
    p.ext.multi = true;
    p.code = Some(101);
    p.reason = Some(Bytes::from_static(b"Switching Protocols"));
    p.headers = Some(
        resp.headers
            .iter()
            .filter(|(n, _)| !accept_header_dropped(n))
            .map(|(n, v)| ZHeader::new(n.clone(), v.clone()))
            .collect(),
    );
    p.credits = Some(REQUEST_CREDITS);
    conn.in_window.grant(REQUEST_CREDITS);
    if !conn.send(p).await {
        return Outcome::Gone;
    }
    respond::log_request(conn, req, &name, "code=101");

    // register for refreshes and, with GRIP, with the handler
    let grip = prefix.is_some() || !target.subscriptions.is_empty();
    let control = match &conn.shared.wscontrol {
        Some(handle) => control::register(handle, cid, req, target, grip).await,
        None => None,
    };

    let now = Instant::now();
    let mut s = Session {
        conn,
        backend,
        one_event: target.one_event,
        control,
        prefix,
        outq: VecDeque::new(),
        in_flight: None,
        retry: None,
        refresh: false,
        partial: None,
        to_client: VecDeque::new(),
        keep_alive,
        keep_alive_at: keep_alive.map(|k| now + k),
        client_closed: false,
        close_sent: false,
        backend_closed: false,
        client_close: None,
        detached: false,
        discarded: 0,
    };
    let end = match s.backend_events(evs.into_iter().skip(1)) {
        Some(end) => end,
        None => s.run().await,
    };
    s.finish(end).await;
    Outcome::Done
}

/// Waits until the client is gone (any other event is ignored during the handshake).
async fn wait_gone(conn: &mut Conn) {
    loop {
        if matches!(conn.recv().await, ConnEvent::Gone) {
            return;
        }
    }
}

/// Relays a rejected handshake: the backend's status, reason, headers and body.
async fn reject_with(conn: &mut Conn, resp: &post::Response) {
    let mut p = conn.packet(PacketType::Error);
    p.condition = Some(Condition::Rejected);
    p.code = Some(resp.code);
    p.reason = Some(resp.reason.clone());
    p.headers = Some(
        resp.headers
            .iter()
            .filter(|(n, _)| !n.eq_ignore_ascii_case(b"Content-Length"))
            .map(|(n, v)| ZHeader::new(n.clone(), v.clone()))
            .collect(),
    );
    p.body = Some(resp.body.slice(..resp.body.len().min(MAX_REJECT_BODY)));
    let _ = conn.send(p).await;
}

impl Session<'_> {
    async fn run(&mut self) -> End {
        loop {
            if let Some(end) = self.pump().await {
                return end;
            }
            let deadline = self.next_deadline();
            let ctl = self.control.as_mut().map(|c| &mut c.rx);
            let in_flight = self.in_flight.as_mut().map(|f| &mut f.fut);
            tokio::select! {
                ev = self.conn.recv() => {
                    if let Some(end) = self.client_event(ev) {
                        return end;
                    }
                }
                r = async {
                    match in_flight {
                        Some(f) => f.await,
                        None => std::future::pending().await,
                    }
                } => {
                    if let Some(f) = self.in_flight.take() {
                        if let Some(end) = self.response(r, f.batch).await {
                            return end;
                        }
                    }
                }
                item = wsgrip::next_msg(ctl) => match item {
                    Some(SessionMsg::Item(item)) => {
                        if let Some(end) = self.control_item(item) {
                            return end;
                        }
                    }
                    Some(SessionMsg::Refresh) => self.refresh = true,
                    None => self.control = None,
                },
                () = tokio::time::sleep_until(deadline.into()) => {
                    if let Some(end) = self.timers().await {
                        return end;
                    }
                }
            }
        }
    }

    /// Moves queued work on: returns discarded credits, writes to the client within its
    /// credits, starts the next request; `Some` when the session is over.
    async fn pump(&mut self) -> Option<End> {
        if self.discarded > 0 {
            let n = u32::try_from(std::mem::take(&mut self.discarded)).unwrap_or(u32::MAX);
            if !self.conn.grant(n).await {
                return Some(End::ClientGone);
            }
        }
        while let Some(p) = next_within(
            &mut self.to_client,
            self.conn.out_credits.available() as usize,
        ) {
            let data = p.ptype == PacketType::Data;
            if data {
                let _ = self.conn.out_credits.take(p.body_bytes().len());
            }
            let mut out = self.conn.packet(p.ptype.clone());
            out.body = p.body;
            out.more = p.more;
            out.content_type = p.content_type;
            out.code = p.code;
            if !self.conn.send(out).await {
                return Some(End::ClientGone);
            }
            if let Some(c) = self.control.as_mut().filter(|_| data) {
                c.message_sent(Instant::now());
            }
        }
        if self.in_flight.is_none() {
            self.start_request();
        }
        let closed = self.close_sent && self.client_closed;
        let idle = self.in_flight.is_none() && self.outq.is_empty() && self.to_client.is_empty();
        (closed && idle).then_some(End::Finished)
    }

    /// Starts the next request: a retry when due, else the queued events (or an empty
    /// body for a refresh or keep-alive).
    fn start_request(&mut self) {
        let batch = match self.retry.take() {
            Some((batch, at)) if at <= Instant::now() => batch,
            Some(waiting) => {
                self.retry = Some(waiting);
                return;
            }
            None => {
                let refresh = self.refresh && !self.backend_closed;
                if (self.outq.is_empty() && !refresh) || self.to_client.len() >= MAX_TO_CLIENT {
                    return;
                }
                self.refresh = false;
                let n = if self.one_event { 1 } else { self.outq.len() };
                let events: Vec<Event> = self.outq.drain(..n.min(self.outq.len())).collect();
                let content = events
                    .iter()
                    .filter(|e| matches!(e.kind, EventType::Text | EventType::Binary))
                    .map(Event::content_len)
                    .sum();
                Batch {
                    events,
                    content,
                    retries: 0,
                }
            }
        };
        self.in_flight = Some(InFlight {
            fut: self.backend.request(&batch.events),
            batch,
        });
        self.keep_alive_at = None;
    }

    fn next_deadline(&self) -> Instant {
        let mut d = (self.conn.last_recv + PEER_TIMEOUT).min(self.conn.last_sent + KEEP_ALIVE);
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                d = d.min(t);
            }
        };
        consider(self.keep_alive_at);
        consider(self.retry.as_ref().map(|(_, at)| *at));
        consider(self.control.as_ref().and_then(Control::next_deadline));
        d
    }

    /// A client message (or its last fragment) is complete.
    fn client_message(&mut self, kind: EventType, body: Bytes) {
        if self.detached || self.backend_closed {
            self.discarded += body.len();
        } else {
            self.outq.push_back(Event::with(kind, body));
        }
    }

    fn client_event(&mut self, ev: ConnEvent) -> Option<End> {
        match ev {
            ConnEvent::Gone => return Some(End::ClientGone),
            ConnEvent::Credit | ConnEvent::HandoffProceed => {}
            ConnEvent::Body { data, more } => match self.partial.take() {
                Some((kind, mut buf)) => {
                    buf.extend_from_slice(&data);
                    if more {
                        self.partial = Some((kind, buf));
                    } else {
                        self.client_message(kind, buf.freeze());
                    }
                }
                None if more => self.partial = Some((EventType::Text, BytesMut::from(&data[..]))),
                None => self.client_message(EventType::Text, data),
            },
            ConnEvent::Ws(p) => match p.ptype {
                PacketType::Data => {
                    let kind = if p
                        .content_type
                        .as_ref()
                        .is_some_and(pushpin_zhttp::ContentType::is_binary)
                    {
                        EventType::Binary
                    } else {
                        EventType::Text
                    };
                    let body = p.body.clone().unwrap_or_default();
                    if p.more {
                        self.partial = Some((kind, BytesMut::from(&body[..])));
                    } else {
                        self.client_message(kind, body);
                    }
                }
                PacketType::Close => {
                    self.client_closed = true;
                    let reason = p.body.clone().filter(|b| !b.is_empty());
                    if !self.backend_closed && !self.detached {
                        let ev = match close_payload(p.code, reason.as_ref()) {
                            Some(payload) => Event::with(EventType::Close, payload),
                            None => Event::bare(EventType::Close),
                        };
                        self.outq.push_back(ev);
                        self.backend_closed = true;
                    }
                    if !self.close_sent {
                        self.client_close = Some((p.code, reason));
                        if self.detached {
                            self.echo_client_close();
                        }
                    }
                }
                PacketType::Ping | PacketType::Pong if self.outq.len() >= MAX_QUEUED_EVENTS => {
                    // pings and pongs carry no credits: the queue bound is ours
                    debug!("too many client events queued; ping/pong dropped");
                }
                PacketType::Ping | PacketType::Pong if !self.detached && !self.backend_closed => {
                    let kind = if p.ptype == PacketType::Ping {
                        EventType::Ping
                    } else {
                        EventType::Pong
                    };
                    let ev = match p.body.clone().filter(|b| !b.is_empty()) {
                        Some(b) => Event::with(kind, b),
                        None => Event::bare(kind),
                    };
                    self.outq.push_back(ev);
                }
                _ => {}
            },
        }
        None
    }

    fn echo_client_close(&mut self) {
        if let Some((code, reason)) = self.client_close.take() {
            self.to_client.push_back(close_packet(code, reason));
            self.close_sent = true;
        }
    }

    /// Handles the answer to the request in flight.
    async fn response(
        &mut self,
        r: Result<post::Response, post::Error>,
        mut batch: Batch,
    ) -> Option<End> {
        let resp = match r {
            Ok(resp) => resp,
            Err(e) if e.is_connect_failure() && batch.retries < RETRY_MAX => {
                let delay = retry_delay(batch.retries);
                debug!(error = %e, ?delay, "websocket-over-http request failed; retrying");
                batch.retries += 1;
                self.retry = Some((batch, Instant::now() + delay));
                return None;
            }
            Err(e) => {
                warn!(error = %e, "websocket-over-http request failed; dropping the client");
                return Some(End::DropClient);
            }
        };
        if !is_events_response(&resp) {
            warn!(
                code = resp.code,
                "websocket-over-http backend answered without events; dropping the client"
            );
            return Some(End::DropClient);
        }
        let evs = match events::decode(&resp.body) {
            Ok(evs) => evs,
            Err(e) => {
                warn!(error = %e, "malformed websocket-events body from the backend; dropping the client");
                return Some(End::DropClient);
            }
        };
        if evs.iter().any(|e| e.kind == EventType::Open) {
            warn!("websocket-over-http backend sent OPEN again; dropping the client");
            return Some(End::DropClient);
        }
        self.backend.apply_meta(&resp.headers);
        if let Some(k) = keep_alive_interval(&resp.headers) {
            self.keep_alive = k;
        }
        self.discarded += batch.content;
        if let Some(end) = self.backend_events(evs.into_iter()) {
            return Some(end);
        }
        if self.client_closed && !self.close_sent && self.outq.is_empty() {
            self.echo_client_close();
        }
        self.keep_alive_at = self.keep_alive.map(|k| Instant::now() + k);
        None
    }

    /// Acts on the events of a backend response.
    fn backend_events(&mut self, evs: impl Iterator<Item = Event>) -> Option<End> {
        for ev in evs {
            let content = ev.content.unwrap_or_default();
            match ev.kind {
                EventType::Open => {}
                EventType::Text | EventType::Binary => {
                    if self.close_sent {
                        continue;
                    }
                    let text = ev.kind == EventType::Text;
                    let body = match &self.prefix {
                        None => content,
                        Some(prefix) => match classify(text, &content, prefix) {
                            OriginMessage::Client(body) => body,
                            OriginMessage::Control(message) => {
                                match self.control.as_mut() {
                                    Some(c) => c.grip_message(message),
                                    None => {
                                        debug!("grip control message without ws-control; dropped");
                                    }
                                }
                                continue;
                            }
                            OriginMessage::Unprefixed => {
                                debug!("backend message without the grip message prefix; dropped");
                                continue;
                            }
                        },
                    };
                    let kind = if text {
                        WsMessageType::Text
                    } else {
                        WsMessageType::Binary
                    };
                    self.to_client.push_back(message_packet(kind, body));
                }
                EventType::Ping | EventType::Pong => {
                    if self.close_sent {
                        continue;
                    }
                    let kind = if ev.kind == EventType::Ping {
                        WsMessageType::Ping
                    } else {
                        WsMessageType::Pong
                    };
                    self.to_client.push_back(message_packet(kind, content));
                }
                EventType::Close => {
                    if !self.close_sent {
                        let code = content.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]]));
                        let reason = code.map(|_| content.slice(2..));
                        self.to_client.push_back(close_packet(code, reason));
                        self.close_sent = true;
                        self.client_close = None;
                    }
                }
                EventType::Disconnect => return Some(End::DropClient),
            }
        }
        None
    }

    async fn timers(&mut self) -> Option<End> {
        let now = Instant::now();
        if now.duration_since(self.conn.last_recv) >= PEER_TIMEOUT {
            debug!("client side silent too long; ending websocket-over-http session");
            return Some(End::ClientGone);
        }
        if now.duration_since(self.conn.last_sent) >= KEEP_ALIVE
            && !self.conn.keep_alive(false).await
        {
            return Some(End::ClientGone);
        }
        if self.keep_alive_at.is_some_and(|t| t <= now) {
            // an empty request, unless one is already on its way
            self.keep_alive_at = None;
            self.refresh |= self.in_flight.is_none() && self.retry.is_none();
        }
        let c = self.control.as_mut()?;
        c.timers(now).err().map(|_| End::DropBoth)
    }

    /// Ends the session: drops the client, tells the backend and the handler.
    async fn finish(mut self, end: End) {
        if matches!(end, End::DropClient | End::DropBoth) {
            self.conn.cancel().await;
        }
        if matches!(end, End::ClientGone | End::DropBoth) && !self.backend_closed && !self.detached
        {
            // the backend hears DISCONNECT after any request in flight (1.36 keeps a
            // helper for this; here the session task does it, bounded by the post timeout)
            if let Some(f) = self.in_flight.take() {
                let _ = f.fut.await;
            }
            // a request waiting for its retry is given up
            let _ = self
                .backend
                .request(&[Event::bare(EventType::Disconnect)])
                .await;
        }
        if let Some(c) = self.control.take() {
            c.finish();
        }
    }
}
