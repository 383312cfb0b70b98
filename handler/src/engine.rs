//! The engine: one task that owns every held session, the channel index and
//! the timers, and turns events (accepts, connection-manager packets,
//! publishes) into ZHTTP packets (`spec/grip.md` §5, `spec/publishing.md`
//! §7–§9).
//!
//! Work is split over both cores: the socket tasks decode on their side and
//! the engine only encodes; frames leave in batches over a bounded channel to
//! the PUB sender thread ([`crate::connmgr`]), which does the libzmq calls —
//! during a large fan-out every 256 frames, so sending overlaps encoding.
//! When that channel is full the engine waits (backpressure), so nothing is
//! dropped between engine and socket; the per-session bound on packets in
//! flight ([`crate::session::MAX_IN_FLIGHT_PACKETS`]) keeps the PUB socket
//! below its HWM, where it would drop.
//!
//! Fan-out encodes one packet per subscriber (each carries its own id and
//! seq) but shares the published body (`Bytes`) without copying it until the
//! frame is written.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use pushpin_grip::{HoldMode, KeepAliveMode, PublishItem};
use pushpin_internal::{
    RetryPacket, RetryRequest, Rid, SubscriptionMode, WsControlItem, WsControlPacket,
};
use pushpin_zhttp::{Packet, PacketType};
use pushpin_zmq::Multipart;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use crate::Stats;
use crate::ordering::{IdCache, Sequencer};
use crate::ratelimit::RateLimiter;
use crate::response::timeout_response;
use crate::session::{Backlog, Client, Hold, Outbox, Session, SubChannel};
use crate::stats::{StatsOut, StatsSettings};

/// The channel bookkeeping for [`detach_channels`], borrowed field by field
/// so a session can stay borrowed beside it.
macro_rules! detach {
    ($e:ident) => {
        Detach {
            channels: &mut $e.channels,
            sequencer: &mut $e.sequencer,
            sub_changes: &mut $e.sub_changes,
            stats: &mut $e.stats,
            linger: $e.settings.subscription_linger,
        }
    };
}

mod deliver;
mod link;
mod ws;

pub(crate) use link::resolve as resolve_link;

/// Events queued for the engine (bounded; senders wait when it is full).
#[derive(Debug)]
pub(crate) enum Event {
    /// The proxy handed over sessions; `done` fires once they are owned.
    Accept {
        /// The hold.
        hold: Box<Hold>,
        /// One per client session.
        clients: Vec<Client>,
        /// Completion signal.
        done: oneshot::Sender<()>,
    },
    /// Packets from the connection manager.
    Connmgr(Vec<Packet>),
    /// A published item.
    Publish(Box<PublishItem>),
    /// `recover`: forget every channel's last id.
    Recover,
    /// A ws-control packet from the proxy.
    WsControl(WsControlPacket),
    /// Packets of our internal (next-link) requests from the proxy.
    Intreq(Vec<Packet>),
    /// A stats packet from the proxy (`spec/internal.md` §8).
    ProxyStats(Box<pushpin_internal::StatsPacket>),
    /// `conncheck`: which of these connection ids (`sender:id`) are held.
    Conncheck {
        /// The ids asked about.
        ids: Vec<Bytes>,
        /// The ids held.
        reply: oneshot::Sender<Vec<Bytes>>,
    },
}

/// Engine settings.
#[derive(Debug, Clone)]
pub(crate) struct EngineSettings {
    /// Our ZHTTP `from` / instance id.
    pub(crate) from: Bytes,
    /// `message_wait`.
    pub(crate) message_wait: Duration,
    /// `id_cache_ttl`.
    pub(crate) id_cache_ttl: Duration,
    /// Stats output.
    pub(crate) stats: StatsSettings,
    /// `message_rate`.
    pub(crate) message_rate: Option<u32>,
    /// `message_hwm`.
    pub(crate) message_hwm: Option<u32>,
    /// `connection_subscription_max`.
    pub(crate) subscription_max: usize,
    /// `subscription_linger`.
    pub(crate) subscription_linger: Duration,
}

/// How often keep-alives towards the connection manager are checked.
const KEEP_ALIVE_TICK: Duration = Duration::from_secs(1);
/// Idle time after which a session gets a ZHTTP keep-alive (`spec/zhttp.md` §6.4).
const KEEP_ALIVE_IDLE: Duration = Duration::from_secs(45);
/// No packet from the connection manager for this long ends a session.
const SESSION_EXPIRY: Duration = Duration::from_secs(120);
/// Most ids in one batched keep-alive packet.
const KEEP_ALIVE_BATCH: usize = 128;
/// Time from a channel's first subscription to the refresh of its holds:
/// 1.36's 1 s `SUBSCRIBED_DELAY` plus the ~100 ms its update rate limiter
/// collects the first batch for (measured ≈1.05–1.15 s, `spec/grip.md`
/// §5.2). A 1 s response-hold timeout thus still wins, as in 1.36.
const REFRESH_DELAY: Duration = Duration::from_millis(1100);
/// Most events handled before the outbox is flushed.
const EVENT_BATCH: usize = 256;

#[derive(Debug, Default)]
struct ChannelSubs {
    response: HashSet<u64>,
    stream: HashSet<u64>,
    ws: HashSet<u64>,
    /// The last response hold left: the channel stays subscribed until then
    /// (`subscription_linger`, `spec/publishing.md` §9).
    response_linger: Option<Instant>,
    /// When the new-subscription refresh of this channel's holds is due
    /// (`spec/grip.md` §5.2); `None` once done.
    refresh_at: Option<Instant>,
}

impl ChannelSubs {
    fn is_empty(&self) -> bool {
        self.response.is_empty()
            && self.stream.is_empty()
            && self.ws.is_empty()
            && self.response_linger.is_none()
    }
}

/// Where the engine's output goes (each queue bounded; see the senders).
pub(crate) struct Outputs {
    /// Frames for the connection manager's PUB socket (engine waits when full).
    pub(crate) frames: mpsc::Sender<Vec<Multipart>>,
    /// Retry packets (engine waits when full).
    pub(crate) retry: Option<mpsc::Sender<Bytes>>,
    /// Stats frames (dropped and logged when full).
    pub(crate) stats: Option<mpsc::Sender<Vec<Bytes>>>,
    /// SUB subscription changes (kept and retried when full).
    pub(crate) subs: Option<mpsc::Sender<Vec<(Bytes, bool)>>>,
    /// ws-control packets to the proxy (engine waits when full).
    pub(crate) ws_control: Option<mpsc::Sender<Bytes>>,
    /// First packets of internal requests to the proxy (engine waits when full).
    pub(crate) intreq: Option<mpsc::Sender<Bytes>>,
    /// Counters for tests, metrics and benchmarks.
    pub(crate) counters: tokio::sync::watch::Sender<Stats>,
}

/// The engine state.
pub(crate) struct Engine {
    settings: EngineSettings,
    sessions: HashMap<u64, Session>,
    by_rid: HashMap<(Bytes, Bytes), u64>,
    channels: HashMap<Bytes, ChannelSubs>,
    timers: BTreeSet<(Instant, u64)>,
    /// Sessions waiting for `handoff-proceed` before a retry.
    handing_off: HashSet<u64>,
    next_token: u64,
    out: Outbox,
    retries: Vec<Bytes>,
    ids: IdCache,
    sequencer: Sequencer,
    counters: Stats,
    stats: StatsOut,
    limiter: RateLimiter,
    /// Room for body writes queued beyond each session's own allowance.
    backlog: Backlog,
    /// Drops since the last warning about them.
    drops: DropLog,
    connection_seconds: u64,
    /// Channel subscription changes not yet passed to the SUB socket task
    /// (coalesced per channel, so bounded by the number of channels).
    sub_changes: HashMap<Bytes, bool>,
    ws_sessions: HashMap<u64, ws::WsSession>,
    ws_by_cid: HashMap<Bytes, u64>,
    ws_out: Vec<WsControlItem>,
    /// New subscriptions whose holds are refreshed [`REFRESH_DELAY`]
    /// after they began, oldest first (one entry per new subscription, so
    /// bounded by the channels subscribed within that delay).
    refreshes: std::collections::VecDeque<(Instant, Bytes)>,
    intreqs: HashMap<Bytes, link::Fetch>,
    intreq_out: Vec<Bytes>,
    intreq_counter: u64,
}

impl Engine {
    pub(crate) fn new(settings: EngineSettings) -> Self {
        Self {
            ids: IdCache::new(settings.id_cache_ttl),
            sequencer: Sequencer::new(settings.message_wait),
            connection_seconds: 0,
            sub_changes: HashMap::new(),
            ws_sessions: HashMap::new(),
            ws_by_cid: HashMap::new(),
            ws_out: Vec::new(),
            refreshes: std::collections::VecDeque::new(),
            intreqs: HashMap::new(),
            intreq_out: Vec::new(),
            intreq_counter: 0,
            limiter: RateLimiter::new(settings.message_rate, settings.message_hwm),
            backlog: Backlog::new(
                settings
                    .message_hwm
                    .filter(|h| *h > 0)
                    .and_then(|h| usize::try_from(h).ok())
                    .unwrap_or(crate::ratelimit::MAX_QUEUED),
            ),
            drops: DropLog::default(),
            stats: StatsOut::new(
                settings.stats.clone(),
                settings.from.clone(),
                Instant::now(),
            ),
            settings,
            sessions: HashMap::new(),
            by_rid: HashMap::new(),
            channels: HashMap::new(),
            timers: BTreeSet::new(),
            handing_off: HashSet::new(),
            next_token: 0,
            out: Outbox::default(),
            retries: Vec::new(),
            counters: Stats::default(),
        }
    }

    /// Runs until every event sender is gone.
    pub(crate) async fn run(
        mut self,
        mut events: mpsc::Receiver<Event>,
        outputs: Outputs,
    ) -> anyhow::Result<()> {
        let Outputs {
            frames,
            retry,
            stats,
            subs,
            ws_control,
            intreq,
            counters,
        } = outputs;
        self.out = Outbox::with_early(frames.clone());
        let mut tick = tokio::time::interval(KEEP_ALIVE_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let next_timer = self
                .timers
                .first()
                .map(|(t, _)| *t)
                .into_iter()
                .chain(self.sequencer.next_deadline())
                .chain(self.limiter.next_deadline())
                .chain(self.refreshes.front().map(|(t, _)| *t))
                .min();
            tokio::select! {
                ev = events.recv() => {
                    let Some(ev) = ev else { return Ok(()) };
                    self.handle(ev, Instant::now());
                    let mut n = 1;
                    while n < EVENT_BATCH {
                        let Ok(ev) = events.try_recv() else { break };
                        self.handle(ev, Instant::now());
                        n += 1;
                    }
                }
                () = sleep_until(next_timer) => self.fire_timers(Instant::now()),
                _ = tick.tick() => self.keep_alives(Instant::now()),
            }
            if !self.out.frames.is_empty() {
                let batch = std::mem::take(&mut self.out.frames);
                if frames.send(batch).await.is_err() {
                    return Ok(());
                }
            }
            let stats_frames = self.stats.take();
            if let (Some(tx), false) = (&stats, stats_frames.is_empty()) {
                if tx.try_send(stats_frames).is_err() {
                    warn!("stats queue full; stats dropped");
                }
            }
            if !self.ws_out.is_empty() {
                let packet = WsControlPacket {
                    items: std::mem::take(&mut self.ws_out),
                };
                match &ws_control {
                    Some(tx) => {
                        let mut buf = BytesMut::new();
                        packet.encode(&mut buf);
                        if tx.send(buf.freeze()).await.is_err() {
                            return Ok(());
                        }
                    }
                    None => warn!("ws-control items but no proxy_ws_control_out_spec; dropped"),
                }
            }
            for packet in self.intreq_out.drain(..) {
                match &intreq {
                    Some(tx) => {
                        if tx.send(packet).await.is_err() {
                            return Ok(());
                        }
                    }
                    None => warn!("next link but no proxy_intreq_out_specs; dropped"),
                }
            }
            match &subs {
                Some(tx) if !self.sub_changes.is_empty() => {
                    if let Ok(permit) = tx.try_reserve() {
                        permit.send(self.sub_changes.drain().collect());
                    }
                    // else: kept (coalesced) and retried after the next event
                }
                Some(_) => {}
                None => self.sub_changes.clear(),
            }
            for packet in self.retries.drain(..) {
                match &retry {
                    Some(tx) => {
                        if tx.send(packet).await.is_err() {
                            return Ok(());
                        }
                    }
                    None => warn!("retry needed but no proxy_retry_out_spec; dropped"),
                }
            }
            self.counters.connections = u64::try_from(self.sessions.len()).unwrap_or(u64::MAX);
            counters.send_if_modified(|c| {
                let changed = *c != self.counters;
                *c = self.counters;
                changed
            });
        }
    }

    pub(crate) fn handle(&mut self, ev: Event, now: Instant) {
        match ev {
            Event::Accept {
                hold,
                clients,
                done,
            } => {
                for client in clients {
                    self.start_session(&hold, client, now);
                }
                let _ignored = done.send(());
            }
            Event::Connmgr(packets) => {
                for p in packets {
                    self.connmgr_packet(&p, now);
                }
            }
            Event::Publish(item) => {
                self.counters.received = self.counters.received.saturating_add(1);
                self.stats.received();
                self.publish(*item, now);
            }
            Event::WsControl(packet) => self.ws_packet(packet, now),
            Event::ProxyStats(packet) => self.proxy_stats(*packet),
            Event::Intreq(packets) => {
                for p in packets {
                    self.intreq_packet(p, now);
                }
            }
            Event::Recover => {
                self.sequencer.clear_last_ids();
            }
            Event::Conncheck { ids, reply } => {
                let found = ids
                    .into_iter()
                    .filter(|cid| {
                        let at = cid.iter().position(|&c| c == b':');
                        at.is_some_and(|at| {
                            let key = (cid.slice(..at), cid.slice(at.saturating_add(1)..));
                            self.by_rid.contains_key(&key)
                        })
                    })
                    .collect();
                let _gone = reply.send(found);
            }
        }
    }

    fn start_session(&mut self, hold: &Hold, client: Client, now: Instant) {
        let key = (client.sender.clone(), client.id.clone());
        if self.by_rid.contains_key(&key) {
            warn!(rid = %String::from_utf8_lossy(&client.id), "received accept request for rid we already have");
            return;
        }
        let token = self.next_token;
        self.next_token = self.next_token.wrapping_add(1);
        self.counters.accepted = self.counters.accepted.saturating_add(1);
        let mut s = Session::new(client, hold, self.backlog.clone(), now);
        let from = self.settings.from.clone();
        s.send_keep_alive(&from, &mut self.out, now);
        if let Some(error) = &hold.start_error {
            // grip.md §5.4, §5.8: the initial body failed its filters: the
            // head, the error text in debug mode, and the end
            debug!(error = %error, "stream failed to start");
            let mut head = s
                .client
                .aco
                .stream_head(&s.retry.request.headers, &s.response)
                .unwrap_or_else(|| (*s.response).clone());
            head.body = if s.client.debug {
                Bytes::from(format!("\n\n{error}\n"))
            } else {
                Bytes::new()
            };
            s.send_head(&from, &mut self.out, now, &head, true);
            if !s.finished() {
                s.channels.clear();
                self.by_rid.insert(key, token);
                self.sessions.insert(token, s);
            }
            return;
        }
        let has_prev_id = s.channels.iter().any(|c| c.prev_id.is_some());
        if hold.mode == HoldMode::Stream && has_prev_id && s.next_link.is_none() {
            // grip.md §5.3: prev-id needs a next link; the hold fails and the
            // initial response is ended
            debug!("channel specifies prev-id, but no next link found");
            let response = s
                .client
                .aco
                .stream_head(&s.retry.request.headers, &s.response)
                .map_or_else(|| Arc::clone(&s.response), Arc::new);
            s.send_head(&from, &mut self.out, now, &response, true);
            if !s.finished() {
                s.channels.clear();
                self.by_rid.insert(key, token);
                self.sessions.insert(token, s);
            }
            return;
        }
        let conflict = hold.mode == HoldMode::Response
            && s.channels.iter().any(|c| {
                c.prev_id.as_ref().is_some_and(|p| {
                    self.sequencer
                        .last_id(&c.name)
                        .is_some_and(|last| last != p.as_str())
                })
            });
        match hold.mode {
            HoldMode::Stream => {
                let response = s
                    .client
                    .aco
                    .stream_head(&s.retry.request.headers, &s.response)
                    .map_or_else(|| Arc::clone(&s.response), Arc::new);
                s.send_head(&from, &mut self.out, now, &response, false);
                if let Some(ka) = &s.keep_alive {
                    let at = now + keep_alive_period(ka.timeout);
                    s.keep_alive_at = Some(at);
                    self.timers.insert((at, token));
                }
            }
            HoldMode::Response => {
                let at = now + hold.timeout;
                s.timeout_at = Some(at);
                self.timers.insert((at, token));
            }
        }
        self.attach_channels(token, &s);
        self.stats.connected(
            s.client.connection_id(),
            s.client.peer_address.clone(),
            s.client.https,
            self.sessions.len().saturating_add(1),
        );
        debug!(rid = %String::from_utf8_lossy(&s.client.id), mode = hold.mode.as_str(), "session held");
        let names: Vec<Bytes> = s.channels.iter().map(|c| c.name.clone()).collect();
        let chained = s.chained;
        self.by_rid.insert(key, token);
        self.sessions.insert(token, s);
        if chained {
            self.fetch_next_link(token);
        }
        if conflict {
            // grip.md §7.2: the known last id is forgotten and the request
            // retried at once
            for name in &names {
                self.sequencer.forget(name);
            }
            self.start_retry(token, now);
        }
    }

    /// Ends lingers that are over: unsubscribe channels nobody holds.
    fn end_lingers(&mut self, now: Instant) {
        let over: Vec<Bytes> = self
            .channels
            .iter()
            .filter(|(_, c)| c.response_linger.is_some_and(|t| t <= now))
            .map(|(n, _)| n.clone())
            .collect();
        for name in over {
            let Some(subs) = self.channels.get_mut(&name) else {
                continue;
            };
            subs.response_linger = None;
            if subs.response.is_empty() {
                self.stats.subscribers(SubscriptionMode::Response, &name, 0);
            }
            if subs.is_empty() {
                self.channels.remove(&name);
                self.sequencer.unsubscribed(&name);
                self.sub_changes.insert(name, false);
            }
        }
    }

    /// Puts a session on its channels' subscriber sets.
    fn attach_channels(&mut self, token: u64, s: &Session) {
        let names: Vec<Bytes> = s.channels.iter().map(|c| c.name.clone()).collect();
        self.attach_names(token, s.mode, &names);
    }

    fn attach_names(&mut self, token: u64, mode: HoldMode, names: &[Bytes]) {
        for name in names {
            self.sequencer.subscribed(name);
            let subs = self.subscribe_channel(name);
            let set = match mode {
                HoldMode::Stream => &mut subs.stream,
                HoldMode::Response => &mut subs.response,
            };
            set.insert(token);
            let count = set.len();
            if mode == HoldMode::Response {
                subs.response_linger = None;
            }
            self.stats.subscribers(sub_mode(mode), name, count);
        }
    }

    /// The subscriber sets of `name`; a channel nobody held before is
    /// subscribed (SUB socket) and its refresh scheduled.
    fn subscribe_channel(&mut self, name: &Bytes) -> &mut ChannelSubs {
        self.channels.entry(name.clone()).or_insert_with(|| {
            self.sub_changes.insert(name.clone(), true);
            let at = Instant::now() + REFRESH_DELAY;
            self.refreshes.push_back((at, name.clone()));
            ChannelSubs {
                refresh_at: Some(at),
                ..ChannelSubs::default()
            }
        })
    }

    /// The new-subscription refresh (`spec/grip.md` §5.2): a channel's first
    /// subscription became active a moment ago, so items published between
    /// the backend's answer and that moment may be missing; every response
    /// hold on the channel is sent back to the backend (a retry, as for a
    /// `hint`), every stream hold with a next link fetches it.
    fn refresh_new_subscriptions(&mut self, now: Instant) {
        while let Some((at, _)) = self.refreshes.front() {
            if *at > now {
                break;
            }
            let Some((at, name)) = self.refreshes.pop_front() else {
                break;
            };
            let Some(subs) = self.channels.get_mut(&name) else {
                continue;
            };
            if subs.refresh_at != Some(at) {
                continue;
            }
            subs.refresh_at = None;
            let response: Vec<u64> = subs.response.iter().copied().collect();
            let stream: Vec<u64> = subs.stream.iter().copied().collect();
            debug!(channel = %String::from_utf8_lossy(&name), holds = response.len() + stream.len(), "refreshing holds of a new subscription");
            for token in response {
                self.start_retry(token, now);
            }
            for token in stream {
                self.fetch_next_link(token);
            }
        }
    }

    /// Moves a session to other channels (a next link's stream hold).
    fn replace_channels(&mut self, token: u64, channels: Vec<SubChannel>) {
        let Some(s) = self.sessions.get_mut(&token) else {
            return;
        };
        detach_channels(detach!(self), s, token);
        let names: Vec<Bytes> = channels.iter().map(|c| c.name.clone()).collect();
        s.channels = channels;
        let mode = s.mode;
        self.attach_names(token, mode, &names);
    }

    /// (Re)starts the stream keep-alive timer from the session's settings.
    fn restart_keep_alive(&mut self, token: u64, now: Instant) {
        let Some(s) = self.sessions.get_mut(&token) else {
            return;
        };
        if let Some(old) = s.keep_alive_at.take() {
            self.timers.remove(&(old, token));
        }
        if let Some(ka) = &s.keep_alive {
            let at = now + keep_alive_period(ka.timeout);
            s.keep_alive_at = Some(at);
            self.timers.insert((at, token));
        }
    }

    fn remove_session(&mut self, token: u64) {
        let Some(mut s) = self.sessions.remove(&token) else {
            return;
        };
        self.handing_off.remove(&token);
        if let Some(id) = &s.fetching {
            self.intreqs.remove(id);
        }
        self.by_rid
            .remove(&(s.client.sender.clone(), s.client.id.clone()));
        for at in [s.timeout_at, s.keep_alive_at].into_iter().flatten() {
            self.timers.remove(&(at, token));
        }
        detach_channels(detach!(self), &mut s, token);
        self.stats.disconnected(s.client.connection_id());
    }

    fn connmgr_packet(&mut self, p: &Packet, now: Instant) {
        let from = self.settings.from.clone();
        let targets: Vec<(Bytes, Option<u32>)> =
            p.targets().map(|(id, seq)| (id.0.clone(), seq)).collect();
        for (id, seq) in targets {
            let Some(&token) = self.by_rid.get(&(p.from.clone(), id)) else {
                continue;
            };
            let Some(s) = self.sessions.get_mut(&token) else {
                continue;
            };
            if matches!(p.ptype, PacketType::Cancel | PacketType::Error) {
                debug!(rid = %String::from_utf8_lossy(&s.client.id), "session ended by the connection manager");
                self.remove_session(token);
                continue;
            }
            if !s.receive(seq, now) {
                warn!(rid = %String::from_utf8_lossy(&s.client.id), "out of sequence packet; canceling");
                s.send_cancel(&from, &mut self.out, now);
                self.remove_session(token);
                continue;
            }
            if let Some(credits) = p.credits {
                s.grant(credits);
            }
            match p.ptype {
                PacketType::HandoffProceed if self.handing_off.contains(&token) => {
                    self.retry_now(token);
                    continue;
                }
                PacketType::HandoffStart => {
                    // the peer wants the session: the responder wins the tie
                    // (`spec/zhttp.md` §9); nothing else to do here
                }
                _ => {}
            }
            if !self.handing_off.contains(&token) {
                s.flush(&from, &mut self.out, now);
                if s.finished() {
                    self.remove_session(token);
                } else {
                    self.reschedule_keep_alive_if_idle(token, now, false);
                }
            }
        }
    }

    /// Sends the retry for a session whose handoff completed, then drops it.
    fn retry_now(&mut self, token: u64) {
        let Some(s) = self.sessions.get(&token) else {
            return;
        };
        let (out_seq, in_seq, out_credits) = s.state();
        let mut inspect = s.retry.inspect.clone();
        let last_ids: Vec<(Bytes, Bytes)> = s
            .channels
            .iter()
            .filter_map(|c| {
                c.prev_id
                    .as_ref()
                    .map(|id| (c.name.clone(), Bytes::from(id.clone())))
            })
            .collect();
        if !last_ids.is_empty() {
            let info = inspect.get_or_insert_with(Default::default);
            info.last_ids = last_ids;
        }
        let packet = RetryPacket {
            requests: vec![RetryRequest {
                rid: Rid {
                    sender: s.client.sender.clone(),
                    id: s.client.id.clone(),
                },
                in_seq,
                out_seq,
                out_credits,
                https: s.client.https,
                peer_address: s.client.peer_address.clone(),
                auto_cross_origin: s.client.aco.enabled,
                jsonp_callback: s.client.aco.jsonp_callback.clone(),
                jsonp_extended_response: s.client.aco.jsonp_extended,
                ..RetryRequest::default()
            }],
            request_data: s.retry.request.clone(),
            inspect,
            route: s.retry.route.clone(),
        };
        let mut buf = BytesMut::new();
        packet.encode(&mut buf);
        self.retries.push(buf.freeze());
        self.remove_session(token);
    }

    /// Starts a retry: hand the ZHTTP session back first (`spec/internal.md` §6).
    fn start_retry(&mut self, token: u64, now: Instant) {
        if self.handing_off.contains(&token) {
            return;
        }
        let from = self.settings.from.clone();
        let Some(s) = self.sessions.get_mut(&token) else {
            return;
        };
        s.send_handoff_start(&from, &mut self.out, now);
        if let Some(at) = s.timeout_at.take() {
            self.timers.remove(&(at, token));
        }
        self.handing_off.insert(token);
    }

    /// Idle-mode stream keep-alives restart whenever data is written.
    fn reschedule_keep_alive_if_idle(&mut self, token: u64, now: Instant, wrote: bool) {
        if !wrote {
            return;
        }
        let Some(s) = self.sessions.get_mut(&token) else {
            return;
        };
        let Some(ka) = &s.keep_alive else { return };
        if ka.mode != KeepAliveMode::Idle {
            return;
        }
        if let Some(old) = s.keep_alive_at.take() {
            self.timers.remove(&(old, token));
        }
        let at = now + keep_alive_period(ka.timeout);
        s.keep_alive_at = Some(at);
        self.timers.insert((at, token));
    }

    fn fire_timers(&mut self, now: Instant) {
        for item in self.sequencer.expire(now) {
            self.deliver(item, now);
        }
        self.release_limited(now);
        self.refresh_new_subscriptions(now);
        let from = self.settings.from.clone();
        while let Some(&(at, token)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            let Some(s) = self.sessions.get_mut(&token) else {
                continue;
            };
            if s.timeout_at == Some(at) {
                s.timeout_at = None;
                let response = s
                    .client
                    .aco
                    .respond(&s.retry.request.headers, timeout_response(&s.response));
                debug!(rid = %String::from_utf8_lossy(&s.client.id), "response hold timed out");
                s.send_head(&from, &mut self.out, now, &response, true);
                if s.finished() {
                    self.remove_session(token);
                } else {
                    detach_channels(detach!(self), s, token);
                }
            } else if s.keep_alive_at == Some(at) {
                let Some(ka) = s.keep_alive.clone() else {
                    continue;
                };
                s.write(&from, &mut self.out, now, ka.data.clone());
                self.stats.activity();
                let next = now + keep_alive_period(ka.timeout);
                s.keep_alive_at = Some(next);
                self.timers.insert((next, token));
            }
        }
    }

    /// Merges the proxy's stats: its `conn` packets are re-published with
    /// our `from` unless we own the connection, its activity is added to ours,
    /// its report counters go into our next reports.
    fn proxy_stats(&mut self, packet: pushpin_internal::StatsPacket) {
        use pushpin_internal::StatsBody;
        match packet.body {
            StatsBody::Connected { ref id, .. } | StatsBody::Disconnected { ref id } => {
                let owned = id.iter().position(|&c| c == b':').is_some_and(|at| {
                    let key = (id.slice(..at), id.slice(at.saturating_add(1)..));
                    self.by_rid.contains_key(&key)
                });
                if !owned {
                    self.stats.forward(packet.body);
                }
            }
            StatsBody::Activity { count } => self.stats.add_activity(count),
            // merged into our own reports, never forwarded (1.36)
            StatsBody::Report(ref r) => {
                self.stats
                    .merge_report(packet.route.clone(), r, Instant::now());
            }
            _ => {}
        }
    }

    /// Re-sends `conn` for every held session and `sub` for every channel.
    fn refresh_stats(&mut self) {
        let n = self.sessions.len();
        for s in self.sessions.values() {
            self.stats.connected(
                s.client.connection_id(),
                s.client.peer_address.clone(),
                s.client.https,
                n,
            );
        }
        for (name, subs) in &self.channels {
            for (mode, count) in [
                (SubscriptionMode::Response, subs.response.len()),
                (SubscriptionMode::Stream, subs.stream.len()),
                (SubscriptionMode::Ws, subs.ws.len()),
            ] {
                if count > 0 {
                    self.stats.subscribers(mode, name, count);
                }
            }
        }
    }

    /// ZHTTP keep-alives to the connection manager and session expiry.
    fn keep_alives(&mut self, now: Instant) {
        if self.stats.refresh_due(now) {
            self.refresh_stats();
        }
        self.end_lingers(now);
        let from = self.settings.from.clone();
        let mut expired = Vec::new();
        let mut due: HashMap<Bytes, Vec<pushpin_zhttp::IdSeq>> = HashMap::new();
        for (&token, s) in &mut self.sessions {
            if now.saturating_duration_since(s.last_recv) >= SESSION_EXPIRY {
                expired.push(token);
                continue;
            }
            if now.saturating_duration_since(s.last_send) >= KEEP_ALIVE_IDLE {
                let (seq, _, _) = s.state();
                s.consume_seq();
                s.last_send = now;
                due.entry(s.client.sender.clone())
                    .or_default()
                    .push(pushpin_zhttp::IdSeq::new(s.client.id.clone(), seq));
            }
        }
        for (sender, ids) in due {
            for chunk in ids.chunks(KEEP_ALIVE_BATCH) {
                let mut p = Packet::new(PacketType::KeepAlive);
                p.from = from.clone();
                p.ext.multi = true;
                p.ids = pushpin_zhttp::Ids::Many(chunk.to_vec());
                self.out
                    .push(Multipart::from(pushpin_zhttp::framing::pub_frame(
                        &sender, &p,
                    )));
            }
        }
        for token in expired {
            info!("session expired: no packet from the connection manager");
            self.remove_session(token);
        }
        self.ids.purge(now);
        self.ws_expire(now);
        self.stats.tick(now, self.sessions.len());
        let held = u64::try_from(self.sessions.len()).unwrap_or(u64::MAX);
        self.connection_seconds = self.connection_seconds.saturating_add(held);
        self.counters.connection_minutes = self.connection_seconds / 60;
    }
}

const fn sub_mode(mode: HoldMode) -> SubscriptionMode {
    match mode {
        HoldMode::Response => SubscriptionMode::Response,
        HoldMode::Stream => SubscriptionMode::Stream,
    }
}

/// Least time between two warnings about dropped deliveries.
const DROP_WARN_INTERVAL: Duration = Duration::from_secs(1);

/// Deliveries dropped because a session's queue and the shared backlog
/// (`message_hwm`) were full: every drop is counted in [`Stats::dropped`],
/// and a warning with the count goes out at most once per
/// [`DROP_WARN_INTERVAL`] so an overload does not also flood the log.
#[derive(Debug, Default)]
struct DropLog {
    unreported: u64,
    last_warn: Option<Instant>,
}

impl DropLog {
    fn dropped(&mut self, channel: &str, backlog: &Backlog, now: Instant) {
        self.unreported = self.unreported.saturating_add(1);
        if self
            .last_warn
            .is_some_and(|t| now.saturating_duration_since(t) < DROP_WARN_INTERVAL)
        {
            return;
        }
        warn!(
            channel,
            dropped = self.unreported,
            hwm = backlog.max(),
            queued = backlog.used(),
            "session queue full and message_hwm reached; items dropped"
        );
        self.unreported = 0;
        self.last_warn = Some(now);
    }
}

/// Channel bookkeeping a detach touches.
pub(crate) struct Detach<'a> {
    channels: &'a mut HashMap<Bytes, ChannelSubs>,
    sequencer: &'a mut Sequencer,
    sub_changes: &'a mut HashMap<Bytes, bool>,
    stats: &'a mut StatsOut,
    linger: Duration,
}

fn detach_channels(d: Detach<'_>, s: &mut Session, token: u64) {
    let Detach {
        channels,
        sequencer,
        sub_changes,
        stats,
        linger,
    } = d;
    for ch in s.channels.drain(..) {
        if let Some(subs) = channels.get_mut(&ch.name) {
            let set = match s.mode {
                HoldMode::Stream => &mut subs.stream,
                HoldMode::Response => &mut subs.response,
            };
            if set.remove(&token) {
                if s.mode == HoldMode::Response && set.is_empty() && !linger.is_zero() {
                    // the unsubscribe (and its stats) wait for the linger
                    subs.response_linger = Some(Instant::now() + linger);
                } else {
                    stats.subscribers(sub_mode(s.mode), &ch.name, set.len());
                }
            }
            if subs.is_empty() {
                channels.remove(&ch.name);
                sequencer.unsubscribed(&ch.name);
                sub_changes.insert(ch.name.clone(), false);
            }
        }
    }
}

fn keep_alive_period(timeout_secs: u32) -> Duration {
    // 1.36: timeout*1000 - random(0..999) ms
    let jitter = u64::from(rand_below(1000));
    Duration::from_millis(
        u64::from(timeout_secs)
            .saturating_mul(1000)
            .saturating_sub(jitter),
    )
}

fn rand_below(n: u32) -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| {
                u64::try_from(d.as_nanos() & 0xffff_ffff).unwrap_or(0)
            }),
    );
    u32::try_from(h.finish() % u64::from(n.max(1))).unwrap_or(0)
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
