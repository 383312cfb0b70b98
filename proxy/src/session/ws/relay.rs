//! The message phase of a plain WebSocket session: frames both ways within each side's
//! credits and, with GRIP, the origin's messages sorted (`c:` control messages to the
//! handler, the message prefix removed, unprefixed messages dropped) and the handler's
//! items acted on (`send`, `close`, `detach`, `keep-alive-setup`, `cancel`), as 1.36's
//! `wsproxysession` does.
//!
//! A control message must be one frame (the rest of a fragmented one is skipped). A
//! handler `send` never splits an origin message: it waits until the message in
//! progress is complete, or is dropped when it may not wait (`queue` unset) or the
//! client has no credits. After `detach` the origin hears a close, client messages are
//! discarded (their credits returned) and a client close is answered by us.
//!
//! Queues: `to_origin` is bounded by the credits granted to the connection manager,
//! `to_client` by those granted to zurl (handler messages add at most
//! [`MAX_HANDLER_QUEUED`] more); origin bytes that never reach the client (control
//! messages, prefixes, dropped messages) are credited back at once.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use pushpin_grip::WsMessageType;
use pushpin_internal::{Known, WsControlItem, WsControlItemKind};
use pushpin_zhttp::{Packet, PacketType};
use tracing::debug;

use super::{Fit, fit, next_within, payload_len, relay};
use crate::session::conn::{Conn, ConnEvent};
use crate::session::upstream::{KEEP_ALIVE, PEER_TIMEOUT, Upstream};
use crate::session::wsgrip::{self, Control, OriginMessage, classify, message_packet};
use crate::wscontrol::SessionMsg;

/// Handler messages queued for the client (queued `send`s) beyond which more are dropped.
const MAX_HANDLER_QUEUED: usize = 1024;
/// How often the session checks the peers' liveness.
const TICK: Duration = Duration::from_secs(5);

/// A packet on its way to the client.
struct Out {
    packet: Packet,
    /// From the origin: its payload is credited back to zurl once delivered.
    from_origin: bool,
    /// A handler `send` acknowledged once written.
    ack: Option<Bytes>,
}

impl Out {
    fn origin(packet: Packet) -> Self {
        Self {
            packet,
            from_origin: true,
            ack: None,
        }
    }

    fn ours(packet: Packet) -> Self {
        Self {
            packet,
            from_origin: false,
            ack: None,
        }
    }
}

/// Takes the next packet for the client within `available` credits (see
/// [`super::next_within`]); an ack goes with the last part.
fn next_out(queue: &mut VecDeque<Out>, available: usize) -> Option<Out> {
    let front = queue.front_mut()?;
    match fit(&mut front.packet, available) {
        Fit::Whole => queue.pop_front(),
        Fit::Part(packet) => Some(Out {
            packet: *packet,
            from_origin: front.from_origin,
            ack: None,
        }),
        Fit::Nothing => None,
    }
}

/// What is done with the rest of an origin message spanning several frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rest {
    Relay,
    Skip,
}

/// Which closes have been seen and sent (queued).
#[derive(Debug, Default)]
struct Closes {
    from_client: bool,
    to_client: bool,
    from_origin: bool,
    to_origin: bool,
}

/// How the session ended.
enum End {
    /// Both close handshakes are done (or the origin side is over).
    Finished,
    /// The client went away: the origin is cancelled.
    ClientGone,
    /// The origin failed: the client is cancelled.
    DropClient,
    /// The handler cancelled the session (or did not acknowledge in time): both sides
    /// are cancelled.
    DropBoth,
}

struct Relay<'a> {
    conn: &'a mut Conn,
    up: Upstream,
    control: Option<Control>,
    /// The message prefix when origin messages are sorted (GRIP on, client untrusted).
    prefix: Option<Bytes>,
    to_origin: VecDeque<Packet>,
    to_client: VecDeque<Out>,
    /// Handler messages waiting for the origin message in progress.
    held: VecDeque<Out>,
    /// The origin message in progress, when its last frame is still to come.
    rest: Option<Rest>,
    /// Origin bytes consumed without reaching the client, to credit back.
    origin_discarded: usize,
    /// Client bytes discarded (detached), to credit back.
    client_discarded: usize,
    detached: bool,
    closes: Closes,
}

/// Relays messages until the session ends, then tells whoever must hear of it.
pub(super) async fn run(
    conn: &mut Conn,
    up: Upstream,
    control: Option<Control>,
    prefix: Option<Bytes>,
) {
    let mut r = Relay {
        conn,
        up,
        prefix: prefix.filter(|_| control.is_some()),
        control,
        to_origin: VecDeque::new(),
        to_client: VecDeque::new(),
        held: VecDeque::new(),
        rest: None,
        origin_discarded: 0,
        client_discarded: 0,
        detached: false,
        closes: Closes::default(),
    };
    let end = r.run().await;
    if matches!(end, End::DropClient | End::DropBoth) {
        r.conn.cancel().await;
    }
    if matches!(end, End::Finished) {
        // the close handshake ended zurl's session too
        r.up.done = true;
    }
    r.up.cancel().await;
    if let Some(c) = r.control.take() {
        c.finish();
    }
}

impl Relay<'_> {
    async fn run(&mut self) -> End {
        let mut tick = tokio::time::interval(TICK);
        loop {
            if let Some(end) = self.pump().await {
                return end;
            }
            let deadline = self.control.as_ref().and_then(Control::next_deadline);
            let ctl = self.control.as_mut().map(|c| &mut c.rx);
            tokio::select! {
                ev = self.conn.recv() => {
                    if let Some(end) = self.client_event(ev) {
                        return end;
                    }
                }
                p = self.up.recv_packet(), if !self.up.done => {
                    let Some(p) = p else {
                        self.up.done = true;
                        if self.detached {
                            continue;
                        }
                        return End::DropClient;
                    };
                    if let Some(end) = self.origin_packet(p) {
                        return end;
                    }
                }
                item = wsgrip::next_msg(ctl) => match item {
                    Some(SessionMsg::Item(item)) => {
                        if let Some(end) = self.control_item(item) {
                            return end;
                        }
                    }
                    // only WebSocket-over-HTTP sessions can be refreshed
                    Some(SessionMsg::Refresh) => {}
                    None => self.control = None,
                },
                () = async {
                    match deadline {
                        Some(d) => tokio::time::sleep_until(d.into()).await,
                        None => std::future::pending().await,
                    }
                } => {
                    let now = Instant::now();
                    if let Some(c) = self.control.as_mut() {
                        if c.timers(now).is_err() {
                            return End::DropBoth;
                        }
                    }
                }
                _ = tick.tick() => {
                    if let Some(end) = self.liveness().await {
                        return end;
                    }
                }
            }
        }
    }

    /// Client silence ends the session; both sides get keep-alives when idle.
    async fn liveness(&mut self) -> Option<End> {
        let now = Instant::now();
        if now.duration_since(self.conn.last_recv) > PEER_TIMEOUT {
            debug!("client side silent too long; ending websocket");
            return Some(End::ClientGone);
        }
        if now.duration_since(self.conn.last_sent) >= KEEP_ALIVE
            && !self.conn.keep_alive(false).await
        {
            return Some(End::ClientGone);
        }
        if !self.up.done && now.duration_since(self.up.last_sent) >= KEEP_ALIVE {
            let _ = self.up.send_next(Packet::new(PacketType::KeepAlive)).await;
        }
        None
    }

    /// Moves queued work on: credits for discarded bytes, client → origin within zurl's
    /// credits, origin → client within the client's; `Some` when the session is over.
    async fn pump(&mut self) -> Option<End> {
        if self.client_discarded > 0 {
            let n = u32::try_from(std::mem::take(&mut self.client_discarded)).unwrap_or(u32::MAX);
            if !self.conn.grant(n).await {
                return Some(End::ClientGone);
            }
        }
        if self.origin_discarded > 0 && !self.up.done {
            let n = std::mem::take(&mut self.origin_discarded);
            if !self.up.grant(n).await {
                return Some(End::ClientGone);
            }
        }
        while !self.up.done {
            let Some(p) = next_within(&mut self.to_origin, self.up.credits.available() as usize)
            else {
                break;
            };
            let n = payload_len(&p);
            let data = p.ptype == PacketType::Data;
            if data {
                let _ = self.up.credits.take(n);
            }
            if !self.up.send_next(p).await {
                return Some(End::ClientGone);
            }
            if data && !self.conn.grant(u32::try_from(n).unwrap_or(u32::MAX)).await {
                return Some(End::ClientGone);
            }
        }
        while let Some(out) = next_out(
            &mut self.to_client,
            self.conn.out_credits.available() as usize,
        ) {
            let p = out.packet;
            let n = payload_len(&p);
            let data = p.ptype == PacketType::Data;
            if data {
                let _ = self.conn.out_credits.take(n);
            }
            let mut packet = self.conn.packet(p.ptype.clone());
            packet.body = p.body;
            packet.more = p.more;
            packet.content_type = p.content_type;
            packet.code = p.code;
            if !self.conn.send(packet).await {
                return Some(End::ClientGone);
            }
            if data && out.from_origin && !self.up.done && !self.up.grant(n).await {
                return Some(End::ClientGone);
            }
            if let Some(c) = self.control.as_mut() {
                c.message_sent(Instant::now());
                if let Some(id) = out.ack {
                    c.ack(id);
                }
            }
        }
        let c = &self.closes;
        let client_done = c.from_client && c.to_client && self.to_client.is_empty();
        let origin_done =
            self.up.done || (c.from_origin && c.to_origin && self.to_origin.is_empty());
        (client_done && origin_done).then_some(End::Finished)
    }

    fn client_event(&mut self, ev: ConnEvent) -> Option<End> {
        match ev {
            ConnEvent::Gone => return Some(End::ClientGone),
            ConnEvent::Credit | ConnEvent::HandoffProceed => {}
            ConnEvent::Body { data, more } => self.client_message(Packet {
                body: Some(data),
                more,
                ..Packet::default()
            }),
            ConnEvent::Ws(p) => match p.ptype {
                PacketType::Data => self.client_message(relay(&p)),
                PacketType::Close => {
                    self.closes.from_client = true;
                    if self.detached {
                        // nobody else will answer it
                        self.close_client(Packet::new(PacketType::Close));
                    } else if !self.closes.to_origin {
                        self.to_origin.push_back(relay(&p));
                        self.closes.to_origin = true;
                    }
                }
                PacketType::Ping | PacketType::Pong if !self.detached && !self.closes.to_origin => {
                    self.to_origin.push_back(relay(&p));
                }
                _ => {}
            },
        }
        None
    }

    fn client_message(&mut self, p: Packet) {
        if self.detached || self.closes.to_origin || self.up.done {
            self.client_discarded += payload_len(&p);
        } else {
            self.to_origin.push_back(p);
        }
    }

    /// Queues a close for the client unless one went already.
    fn close_client(&mut self, p: Packet) {
        if !self.closes.to_client {
            self.to_client.push_back(Out::ours(p));
            self.closes.to_client = true;
        }
    }

    /// Queues a close (without code) for the origin unless one went already.
    fn close_origin(&mut self) {
        if !self.closes.to_origin && !self.up.done {
            self.to_origin.push_back(Packet::new(PacketType::Close));
            self.closes.to_origin = true;
        }
    }

    fn origin_packet(&mut self, p: Packet) -> Option<End> {
        match p.ptype {
            PacketType::Data => self.origin_data(p),
            PacketType::Close => {
                self.closes.from_origin = true;
                if !self.detached {
                    let mut close = relay(&p);
                    close.body = p.body.filter(|b| !b.is_empty());
                    self.close_client(close);
                }
            }
            PacketType::Ping | PacketType::Pong if !self.detached && !self.closes.to_client => {
                self.to_client.push_back(Out::origin(relay(&p)));
            }
            PacketType::Error | PacketType::Cancel => {
                self.up.done = true;
                if !self.detached {
                    return Some(End::DropClient);
                }
            }
            _ => {}
        }
        None
    }

    /// An origin message frame: relayed, or with GRIP sorted (see the module docs).
    fn origin_data(&mut self, mut p: Packet) {
        let n = payload_len(&p);
        let rest = match self.rest {
            Some(rest) => rest,
            None if self.detached || self.closes.to_client => Rest::Skip,
            None => match (&self.prefix, self.control.as_mut()) {
                (Some(prefix), Some(c)) => {
                    let body = p.body.clone().unwrap_or_default();
                    match classify(!p.is_binary(), &body, prefix) {
                        OriginMessage::Control(message) if !p.more => {
                            c.grip_message(message);
                            Rest::Skip
                        }
                        OriginMessage::Control(_) => {
                            debug!("fragmented grip control message; dropped");
                            Rest::Skip
                        }
                        OriginMessage::Client(content) => {
                            self.origin_discarded += prefix.len();
                            p.body = Some(content);
                            Rest::Relay
                        }
                        OriginMessage::Unprefixed => {
                            debug!("dropping unprefixed message");
                            Rest::Skip
                        }
                    }
                }
                _ => Rest::Relay,
            },
        };
        match rest {
            Rest::Relay => self.to_client.push_back(Out::origin(relay(&p))),
            Rest::Skip => self.origin_discarded += n,
        }
        self.rest = p.more.then_some(rest);
        if !p.more {
            self.to_client.append(&mut self.held);
        }
    }

    /// Acts on an item from the handler.
    fn control_item(&mut self, item: WsControlItem) -> Option<End> {
        let item = wsgrip::settle_ack(self.control.as_mut(), item)?;
        let req_id = item.req_id.clone();
        match item.kind {
            WsControlItemKind::Send {
                content_type,
                message,
                queue,
            } => {
                // 1.36 takes any other content type as text
                let kind = match content_type {
                    Some(Known::Known(t)) => t,
                    _ => WsMessageType::Text,
                };
                return self.handler_send(kind, message, queue, req_id);
            }
            WsControlItemKind::KeepAliveSetup { timeout, mode } => {
                if let Some(c) = self.control.as_mut() {
                    c.keep_alive_setup(timeout, mode);
                }
            }
            WsControlItemKind::Close { code, reason } => {
                if !self.detached {
                    self.close_origin();
                }
                self.close_client(Packet {
                    ptype: PacketType::Close,
                    code,
                    body: reason.filter(|r| !r.is_empty()),
                    ..Packet::default()
                });
            }
            WsControlItemKind::Detach if !self.detached => {
                self.detached = true;
                self.close_origin();
                if self.closes.from_client {
                    self.close_client(Packet::new(PacketType::Close));
                }
            }
            WsControlItemKind::Cancel => return Some(End::DropBoth),
            _ => {}
        }
        wsgrip::ack(self.control.as_ref(), req_id);
        None
    }

    /// A handler `send`: written when the client can take it (after the origin message
    /// in progress), queued when `queue` allows, else dropped; acked once written or
    /// dropped.
    fn handler_send(
        &mut self,
        kind: WsMessageType,
        message: Bytes,
        queue: bool,
        req_id: Option<Bytes>,
    ) -> Option<End> {
        let busy = self.rest == Some(Rest::Relay);
        let closing = self.closes.to_client || self.closes.from_client;
        let blocked = busy || !self.to_client.is_empty() || self.conn.out_credits.available() == 0;
        let full = self.to_client.len() + self.held.len() >= MAX_HANDLER_QUEUED;
        if closing || (!queue && blocked) || (queue && full) {
            debug!("message from the handler not deliverable now; dropped");
            wsgrip::ack(self.control.as_ref(), req_id);
            return None;
        }
        let out = Out {
            packet: message_packet(kind, message),
            from_origin: false,
            ack: req_id,
        };
        if busy {
            self.held.push_back(out);
        } else {
            self.to_client.push_back(out);
        }
        None
    }
}
