//! One held HTTP session: the ZHTTP responder state taken over from the proxy
//! (`spec/internal.md` §5.3, `spec/zhttp.md` §6.3, §9) and the body writer
//! that respects the connection manager's credits.
//!
//! A session continues the proxy's sequence numbers (`out-seq`, `in-seq`)
//! and credit window (`out-credits`). Body bytes beyond the window wait in a
//! queue: each session may always queue [`MAX_PENDING_ITEMS`] writes (1.36's
//! 100-item session queue), and more only while the handler-wide
//! [`Backlog`] (sized by `message_hwm`) has room. A write that fits neither is
//! dropped and counted by the caller, so a publisher faster than the credit
//! round trip loses nothing below the configured limit. Queued writes leave
//! coalesced, as many as the credits allow per packet (1.36 sends its whole
//! buffered body up to the credits too). Every packet is encoded at once into
//! an [`Outbox`] frame; nothing here does I/O.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use pushpin_grip::{HoldMode, KeepAlive};
use pushpin_internal::{InspectInfo, RequestData};
use pushpin_zhttp::session::SeqState;
use pushpin_zhttp::{Header, Id, Ids, Packet, PacketType, framing};
use pushpin_zmq::Multipart;
use tokio::sync::mpsc;

/// Most data packets of one session on their way to the connection manager
/// (sent, their bytes not yet credited back). Credits bound the bytes in
/// flight but not the packets: small writes sent one per packet as credits
/// trickle back could put more packets in flight, over all sessions, than
/// the PUB socket's HWM (101000), and PUB drops silently: the connection
/// manager then sees a seq gap and ends the session. Past this bound writes
/// wait in the queue and leave coalesced when credits return.
pub(crate) const MAX_IN_FLIGHT_PACKETS: usize = 4;

/// Most body writes a session queues while it has no credits (1.36: 100).
pub(crate) const MAX_PENDING_ITEMS: usize = 100;

/// The handler-wide allowance for body writes queued beyond a session's
/// [`MAX_PENDING_ITEMS`] (each session holds its share and returns it as the
/// writes leave or the session ends). Shared by every session of one engine.
#[derive(Debug, Clone)]
pub(crate) struct Backlog {
    used: Arc<AtomicUsize>,
    max: usize,
}

impl Backlog {
    /// An allowance of `max` writes.
    pub(crate) fn new(max: usize) -> Self {
        Self {
            used: Arc::new(AtomicUsize::new(0)),
            max,
        }
    }

    /// The writes queued beyond the per-session allowance now.
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// The allowance.
    pub(crate) const fn max(&self) -> usize {
        self.max
    }

    fn try_take(&self) -> bool {
        self.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| {
                (u < self.max).then(|| u.saturating_add(1))
            })
            .is_ok()
    }

    fn release(&self, n: usize) {
        if n > 0 {
            self.used.fetch_sub(n, Ordering::Relaxed);
        }
    }
}

/// Frames encoded for the connection manager's PUB socket, flushed by the
/// engine after each batch of events. While one event produces many frames
/// (a fan-out), every [`OUTBOX_CHUNK`] frames are handed to the sender early
/// when its queue has room, so the connection manager starts writing to the
/// first subscribers while the last ones are still being encoded; when the
/// queue is full they stay here for the engine's (waiting) flush.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    /// One message per packet: `"<sender> T..."`.
    pub(crate) frames: Vec<Multipart>,
    early: Option<mpsc::Sender<Vec<Multipart>>>,
}

/// Frames after which an [`Outbox`] tries to hand its frames over early.
pub(crate) const OUTBOX_CHUNK: usize = 256;

impl Outbox {
    /// An outbox that hands full chunks to `early` when it has room.
    pub(crate) fn with_early(early: mpsc::Sender<Vec<Multipart>>) -> Self {
        Self {
            frames: Vec::new(),
            early: Some(early),
        }
    }

    /// Adds one frame.
    pub(crate) fn push(&mut self, frame: Multipart) {
        self.frames.push(frame);
        if self.frames.len() >= OUTBOX_CHUNK {
            if let Some(Ok(permit)) = self.early.as_ref().map(mpsc::Sender::try_reserve) {
                permit.send(std::mem::take(&mut self.frames));
            }
        }
    }
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
    /// The name filters see (`require-sub`, `build-id`'s `%(name)s`): 1.36
    /// uses the instruct's channel name without the route prefix (an
    /// implicit `sub=` channel's own name).
    pub(crate) filter_name: String,
    /// The instruct's `prev-id`, updated as items are delivered.
    pub(crate) prev_id: Option<String>,
    /// Filters named by the instruct (`spec/grip.md` §8).
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
    /// Auto cross-origin and JSON-P settings (`spec/grip.md` §11).
    pub(crate) aco: crate::aco::Aco,
    /// Debug mode: errors show their text (`spec/grip.md` §5.8).
    pub(crate) debug: bool,
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
    /// Subscription meta (`Grip-Set-Meta`, JSON `meta`) for filters.
    pub(crate) meta: Arc<BTreeMap<String, String>>,
    /// The initial body failed its filters (`filter error: ...`): the
    /// stream ends after its head (`spec/grip.md` §5.4, §5.8).
    pub(crate) start_error: Option<String>,
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
    /// Subscription meta for filters.
    pub(crate) meta: Arc<BTreeMap<String, String>>,
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
    /// Body sizes of the data packets in flight, oldest first (credits come
    /// back in the order the bytes were written).
    in_flight: VecDeque<usize>,
    pending: VecDeque<Bytes>,
    /// Slots of `backlog` this session holds (at most the writes queued
    /// beyond [`MAX_PENDING_ITEMS`]).
    overflow: usize,
    backlog: Backlog,
    ending: bool,
    end_sent: bool,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.backlog.release(self.overflow);
    }
}

impl Session {
    /// A session continuing the proxy's ZHTTP state.
    pub(crate) fn new(client: Client, hold: &Hold, backlog: Backlog, now: Instant) -> Self {
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
            meta: Arc::clone(&hold.meta),
            fetching: None,
            timeout_at: None,
            keep_alive_at: None,
            last_send: now,
            last_recv: now,
            in_flight: VecDeque::new(),
            pending: VecDeque::new(),
            overflow: 0,
            backlog,
            ending: false,
            end_sent: false,
        }
    }

    /// The channels and prev-ids filters see (`spec/grip.md` §8).
    pub(crate) fn filter_prev_ids(&self) -> BTreeMap<String, Option<String>> {
        self.channels
            .iter()
            .map(|c| (c.filter_name.clone(), c.prev_id.clone()))
            .collect()
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
    pub(crate) fn grant(&mut self, credits: u32) {
        self.credits = self.credits.saturating_add(credits);
        let mut returned = usize::try_from(credits).unwrap_or(usize::MAX);
        while returned > 0 {
            let Some(front) = self.in_flight.front_mut() else {
                break;
            };
            if *front > returned {
                *front -= returned;
                break;
            }
            returned -= *front;
            self.in_flight.pop_front();
        }
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
        out.push(Multipart::from(framing::pub_frame(&self.client.sender, p)));
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
        if !data.is_empty() {
            if self.pending.len() >= MAX_PENDING_ITEMS {
                if !self.backlog.try_take() {
                    return false;
                }
                self.overflow = self.overflow.saturating_add(1);
            }
            self.pending.push_back(data);
        }
        self.flush(from, out, now);
        true
    }

    /// Returns backlog slots no longer needed after writes left the queue.
    fn release_overflow(&mut self) {
        let excess = self.pending.len().saturating_sub(MAX_PENDING_ITEMS);
        if self.overflow > excess {
            self.backlog.release(self.overflow - excess);
            self.overflow = excess;
        }
    }

    /// Ends the response after the queued body.
    pub(crate) fn end(&mut self, from: &Bytes, out: &mut Outbox, now: Instant) {
        self.ending = true;
        self.flush(from, out, now);
    }

    /// The next body chunk: queued writes joined up to the credits (the
    /// last one split when it does not fit).
    fn take_chunk(&mut self) -> Option<Bytes> {
        let max = usize::try_from(self.credits).unwrap_or(usize::MAX);
        if max == 0 || self.in_flight.len() >= MAX_IN_FLIGHT_PACKETS {
            return None;
        }
        let front = self.pending.front_mut()?;
        let chunk = if front.len() > max {
            front.split_to(max)
        } else {
            let first = self.pending.pop_front()?;
            match self.pending.front() {
                Some(next) if first.len() < max => {
                    let mut buf = BytesMut::with_capacity(max.min(first.len() + next.len() * 8));
                    buf.extend_from_slice(&first);
                    while buf.len() < max {
                        let Some(next) = self.pending.front_mut() else {
                            break;
                        };
                        let room = max - buf.len();
                        if next.len() > room {
                            buf.extend_from_slice(&next.split_to(room));
                        } else {
                            buf.extend_from_slice(next);
                            self.pending.pop_front();
                        }
                    }
                    buf.freeze()
                }
                _ => first,
            }
        };
        let used = u32::try_from(chunk.len()).unwrap_or(u32::MAX);
        self.credits = self.credits.saturating_sub(used);
        self.in_flight.push_back(chunk.len());
        self.release_overflow();
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
