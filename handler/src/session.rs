//! One held HTTP session: the ZHTTP responder state taken over from the proxy
//! (`spec/internal.md` §5.3, `spec/zhttp.md` §6.3, §9) and the body writer
//! that respects the connection manager's credits.
//!
//! A session continues the proxy's sequence numbers (`out-seq`, `in-seq`)
//! and credit window (`out-credits`). Body bytes beyond the window wait in a
//! bounded queue ([`MAX_PENDING_ITEMS`] writes, as 1.36's 100-item session
//! queue); when it is full a new write is dropped and counted by the caller.
//! Every packet is encoded at once into an [`Outbox`] frame; nothing here
//! does I/O.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use pushpin_grip::{HoldMode, KeepAlive};
use pushpin_internal::{InspectInfo, RequestData};
use pushpin_zhttp::session::SeqState;
use pushpin_zhttp::{Header, Id, Ids, Packet, PacketType, framing};
use pushpin_zmq::Multipart;

/// Most body writes a session queues while it has no credits (1.36: 100).
pub(crate) const MAX_PENDING_ITEMS: usize = 100;

/// Frames encoded for the connection manager's PUB socket, flushed by the
/// engine after each batch of events.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    /// One message per packet: `"<sender> T..."`.
    pub(crate) frames: Vec<Multipart>,
}

/// A response: status, reason, headers, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Response {
    /// Status code.
    pub(crate) code: u16,
    /// Reason phrase.
    pub(crate) reason: Bytes,
    /// Headers, in order.
    pub(crate) headers: Vec<(Bytes, Bytes)>,
    /// Body.
    pub(crate) body: Bytes,
}

/// A subscribed channel of one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SubChannel {
    /// The channel name with the route prefix applied.
    pub(crate) name: Bytes,
    /// The instruct's `prev-id`, updated as items are delivered.
    pub(crate) prev_id: Option<String>,
    /// Filters named by the instruct (content-filters must equal them).
    pub(crate) filters: Vec<String>,
}

/// What a retry of this session's request needs (`spec/internal.md` §6).
#[derive(Debug, Clone, Default)]
pub(crate) struct RetryInfo {
    /// The original client request.
    pub(crate) request: RequestData,
    /// The route id.
    pub(crate) route: Option<Bytes>,
    /// The inspect info of the accept.
    pub(crate) inspect: Option<InspectInfo>,
    /// The target is trusted (copied into next-link requests).
    pub(crate) trusted: bool,
    /// Route `prefix=`, applied to channels of next-link responses.
    pub(crate) channel_prefix: Bytes,
}

/// The per-client part of an accept.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    /// ZHTTP peer (`rid.sender`).
    pub(crate) sender: Bytes,
    /// ZHTTP session id (`rid.id`).
    pub(crate) id: Bytes,
    /// Next seq expected from the connection manager.
    pub(crate) in_seq: u32,
    /// Next seq to send.
    pub(crate) out_seq: u32,
    /// Credits left.
    pub(crate) out_credits: u32,
    /// Client IP.
    pub(crate) peer_address: Option<Bytes>,
    /// TLS client.
    pub(crate) https: bool,
}

impl Client {
    /// The connection id of stats and conncheck: `<sender>:<id>`.
    pub(crate) fn connection_id(&self) -> Bytes {
        let mut v = Vec::with_capacity(self.sender.len() + 1 + self.id.len());
        v.extend_from_slice(&self.sender);
        v.push(b':');
        v.extend_from_slice(&self.id);
        Bytes::from(v)
    }
}

/// Everything the engine needs to start the sessions of one accept.
#[derive(Debug, Clone)]
pub(crate) struct Hold {
    /// `response` or `stream`.
    pub(crate) mode: HoldMode,
    /// Channels (prefixed, truncated, implicit ones added).
    pub(crate) channels: Vec<SubChannel>,
    /// The instruct response (headers already filtered).
    pub(crate) response: Arc<Response>,
    /// Response-hold timeout.
    pub(crate) timeout: std::time::Duration,
    /// Stream keep-alive.
    pub(crate) keep_alive: Option<KeepAlive>,
    /// Retry data.
    pub(crate) retry: Arc<RetryInfo>,
    /// The `rel=next` link, resolved against the request URI.
    pub(crate) next_link: Option<Bytes>,
    /// No hold: the stream only follows next links.
    pub(crate) chained: bool,
}

/// One held session.
#[derive(Debug)]
pub(crate) struct Session {
    /// The client.
    pub(crate) client: Client,
    /// The hold mode.
    pub(crate) mode: HoldMode,
    /// Subscribed channels.
    pub(crate) channels: Vec<SubChannel>,
    /// The instruct response.
    pub(crate) response: Arc<Response>,
    /// Retry data.
    pub(crate) retry: Arc<RetryInfo>,
    /// Stream keep-alive settings.
    pub(crate) keep_alive: Option<KeepAlive>,
    /// The next link, if any.
    pub(crate) next_link: Option<Bytes>,
    /// No hold: the stream only follows next links.
    pub(crate) chained: bool,
    /// The id of the internal request fetching the next link.
    pub(crate) fetching: Option<Bytes>,
    /// Response-hold deadline.
    pub(crate) timeout_at: Option<Instant>,
    /// Next stream keep-alive.
    pub(crate) keep_alive_at: Option<Instant>,
    /// Last packet sent to the connection manager.
    pub(crate) last_send: Instant,
    /// Last packet received from the connection manager.
    pub(crate) last_recv: Instant,
    seq: SeqState,
    credits: u32,
    pending: VecDeque<Bytes>,
    ending: bool,
    end_sent: bool,
}

impl Session {
    /// A session continuing the proxy's ZHTTP state.
    pub(crate) fn new(client: Client, hold: &Hold, now: Instant) -> Self {
        Self {
            seq: SeqState::resume(client.out_seq, client.in_seq),
            credits: client.out_credits,
            client,
            mode: hold.mode,
            channels: hold.channels.clone(),
            response: Arc::clone(&hold.response),
            retry: Arc::clone(&hold.retry),
            keep_alive: hold.keep_alive.clone(),
            next_link: hold.next_link.clone(),
            chained: hold.chained,
            fetching: None,
            timeout_at: None,
            keep_alive_at: None,
            last_send: now,
            last_recv: now,
            pending: VecDeque::new(),
            ending: false,
            end_sent: false,
        }
    }

    /// Whether the response has been ended (the session is over).
    pub(crate) const fn finished(&self) -> bool {
        self.end_sent
    }

    /// Checks the seq of a packet from the connection manager.
    pub(crate) fn receive(&mut self, seq: Option<u32>, now: Instant) -> bool {
        self.last_recv = now;
        self.seq.receive(seq).is_ok()
    }

    /// Adds credits granted by the connection manager.
    pub(crate) const fn grant(&mut self, credits: u32) {
        self.credits = self.credits.saturating_add(credits);
    }

    /// The current `(out-seq, in-seq, out-credits)`.
    pub(crate) const fn state(&self) -> (u32, u32, u32) {
        (self.seq.peek_out(), self.seq.expected_in(), self.credits)
    }

    /// Consumes one outgoing seq (for a packet built by the caller, e.g. a
    /// batched keep-alive).
    pub(crate) const fn consume_seq(&mut self) {
        self.seq.next_out();
    }

    fn packet(&mut self, from: &Bytes, ptype: PacketType) -> Packet {
        let mut p = Packet::new(ptype);
        p.from = from.clone();
        p.ids = Ids::One(Id(self.client.id.clone()));
        p.seq = Some(self.seq.next_out());
        p
    }

    fn emit(&mut self, out: &mut Outbox, p: &Packet, now: Instant) {
        out.frames
            .push(Multipart::from(framing::pub_frame(&self.client.sender, p)));
        self.last_send = now;
    }

    /// Sends a `keep-alive` (with `ext.multi`, as 1.36 does after a handoff).
    pub(crate) fn send_keep_alive(&mut self, from: &Bytes, out: &mut Outbox, now: Instant) {
        let mut p = self.packet(from, PacketType::KeepAlive);
        p.ext.multi = true;
        self.emit(out, &p, now);
    }

    /// Sends `handoff-start` (before a retry).
    pub(crate) fn send_handoff_start(&mut self, from: &Bytes, out: &mut Outbox, now: Instant) {
        let p = self.packet(from, PacketType::HandoffStart);
        self.emit(out, &p, now);
    }

    /// Sends `cancel` (session dropped by us).
    pub(crate) fn send_cancel(&mut self, from: &Bytes, out: &mut Outbox, now: Instant) {
        let p = self.packet(from, PacketType::Cancel);
        self.emit(out, &p, now);
        self.end_sent = true;
    }

    /// Sends the response head with `body`; `end` ends the response after it.
    pub(crate) fn send_head(
        &mut self,
        from: &Bytes,
        out: &mut Outbox,
        now: Instant,
        response: &Response,
        end: bool,
    ) {
        if !response.body.is_empty() {
            self.pending.push_back(response.body.clone());
        }
        self.ending = end;
        let mut p = self.packet(from, PacketType::Data);
        p.code = Some(response.code);
        p.reason = Some(response.reason.clone());
        p.headers = Some(
            response
                .headers
                .iter()
                .map(|(n, v)| Header::new(n.clone(), v.clone()))
                .collect(),
        );
        if let Some(chunk) = self.take_chunk() {
            p.body = Some(chunk);
        }
        p.more = !(self.ending && self.pending.is_empty());
        self.end_sent = !p.more;
        self.emit(out, &p, now);
        self.flush(from, out, now);
    }

    /// Queues body bytes; `false` when the queue is full and they were
    /// dropped.
    pub(crate) fn write(
        &mut self,
        from: &Bytes,
        out: &mut Outbox,
        now: Instant,
        data: Bytes,
    ) -> bool {
        if self.ending {
            return false;
        }
        if self.pending.len() >= MAX_PENDING_ITEMS {
            return false;
        }
        if !data.is_empty() {
            self.pending.push_back(data);
        }
        self.flush(from, out, now);
        true
    }

    /// Ends the response after the queued body.
    pub(crate) fn end(&mut self, from: &Bytes, out: &mut Outbox, now: Instant) {
        self.ending = true;
        self.flush(from, out, now);
    }

    fn take_chunk(&mut self) -> Option<Bytes> {
        if self.credits == 0 {
            return None;
        }
        let front = self.pending.front_mut()?;
        let max = usize::try_from(self.credits).unwrap_or(usize::MAX);
        let chunk = if front.len() <= max {
            self.pending.pop_front()?
        } else {
            front.split_to(max)
        };
        let used = u32::try_from(chunk.len()).unwrap_or(u32::MAX);
        self.credits = self.credits.saturating_sub(used);
        Some(chunk)
    }

    /// Sends what the credits allow; ends the response when due.
    pub(crate) fn flush(&mut self, from: &Bytes, out: &mut Outbox, now: Instant) {
        if self.end_sent {
            return;
        }
        while let Some(chunk) = self.take_chunk() {
            let mut p = self.packet(from, PacketType::Data);
            p.body = Some(chunk);
            p.more = !(self.ending && self.pending.is_empty());
            self.end_sent = !p.more;
            self.emit(out, &p, now);
        }
        if self.ending && self.pending.is_empty() && !self.end_sent {
            let p = self.packet(from, PacketType::Data);
            self.end_sent = true;
            self.emit(out, &p, now);
        }
    }
}
