//! The ZeroMQ side: the three stream-mode sockets of the ZHTTP initiator
//! (`spec/zhttp.md` §2.1, §3) and the routing of packets between them and the
//! client connections.
//!
//! * PUSH (`<base>-out`) carries each session's first packet; ROUTER
//!   (`<base>-out-stream`, `ROUTER_MANDATORY`) carries every later packet to the
//!   responder's identity (its `from`); SUB (`<base>-in`, subscribed to `"<id> "`)
//!   receives every responder packet.
//! * Each socket is owned by one task. Connections hand outgoing packets to the PUSH
//!   and ROUTER tasks over bounded channels ([`Outbound`]); when a channel is full the
//!   connection waits (backpressure up to the client socket). A connection queues
//!   without waiting when there is room (the usual case) and only then builds a
//!   waiting future. The socket tasks send in batches (one wake-up, many messages).
//! * `credit` packets reach the ROUTER task unencoded ([`ToResponder::Credit`]):
//!   consecutive ones for the same responder and amount are sent as one packet with
//!   a list-form `id` (up to 128 ids, `spec/zhttp.md` §4), which 1.36's handler and
//!   proxy split per session like ours. During a fan-out every subscriber returns
//!   the same amount at about the same time, so thousands of credit messages become
//!   tens.
//! * The SUB task decodes each packet once and hands it (boxed) to the inbox of the
//!   session registered under its id ([`Registry`]; an idle session's inbox is
//!   about 100 bytes with no buffer, see `inbox`). List-form ids (batched `keep-alive`/`cancel`) are split per
//!   session. When a session's queue is full the SUB task waits for it (so the
//!   backpressure reaches the responders through their PUB HWM), for at most a few
//!   seconds, after which that session is ended. Packets for unknown ids are
//!   dropped silently, as condure does.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use pushpin_zhttp::{Ext, Id, IdSeq, Ids, Limits, Packet, PacketType, framing};
use pushpin_zmq::{AsyncSocket, Hwm, Mode, Multipart, SocketKind, SocketSpec};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tracing::{debug, error, trace, warn};

use crate::config::Config;

/// Packets queued per session from the SUB task ([`Inbox`]; an empty queue holds
/// no buffer). When full, the SUB task waits (see the module docs).
pub(crate) const SESSION_QUEUE: usize = 1024;

/// Longest wait for a session with a full queue before it is ended.
const FULL_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Capacity of the connection → socket-task channels. When full, connections wait.
const OUTBOUND_QUEUE: usize = 4096;

/// Messages per socket wake-up.
const BATCH: usize = pushpin_zmq::DEFAULT_BATCH;

mod inbox;

pub(crate) use inbox::Receiver;

#[cfg(test)]
mod tests;
use inbox::{Inbox, Push};

/// One packet delivered to a session.
pub(crate) type Inbound = Box<Packet>;

/// Sessions by id, shared by the connections (insert/remove) and the SUB task
/// (lookup). Held only for a map operation, never across an `.await`.
///
/// [`close`](Self::close) (at shutdown) closes every session's inbox, and later
/// registrations get a closed one: a session sees its queue end and cancels, so
/// sessions need no shutdown watch of their own.
#[derive(Debug)]
pub(crate) struct Registry {
    sessions: Mutex<Sessions>,
    closed: AtomicBool,
}

type Sessions = HashMap<Bytes, Arc<Inbox>>;

impl Default for Registry {
    fn default() -> Self {
        Self {
            sessions: Mutex::new(HashMap::new()),
            closed: AtomicBool::new(false),
        }
    }
}

impl Registry {
    /// Registers a session; its packets arrive on the returned receiver until the
    /// [`Registration`] is dropped.
    pub(crate) fn register(self: &Arc<Self>, id: Bytes) -> (Registration, Receiver) {
        let (inbox, rx) = Inbox::new();
        {
            let mut map = self.lock();
            if self.closed.load(Ordering::Acquire) {
                inbox.close_sender();
            } else if let Some(old) = map.insert(id.clone(), inbox) {
                old.close_sender();
            }
        }
        (
            Registration {
                registry: Arc::clone(self),
                id,
            },
            rx,
        )
    }

    /// Ends every session (see the type's docs).
    pub(crate) fn close(&self) {
        let mut map = self.lock();
        self.closed.store(true, Ordering::Release);
        for (_, inbox) in map.drain() {
            inbox.close_sender();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Sessions> {
        // A panic while holding this lock cannot leave the map inconsistent (each
        // operation is a single insert/remove/get), so poisoning is ignored.
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn deliver(&self, id: &[u8], packet: Inbound) {
        let (inbox, packet) = {
            let mut map = self.lock();
            let Some(inbox) = map.get(id) else {
                trace!(id = %String::from_utf8_lossy(id), "packet for unknown session dropped");
                return;
            };
            match inbox.try_push(packet, SESSION_QUEUE) {
                Push::Queued => return,
                Push::Closed => {
                    map.remove(id);
                    return;
                }
                Push::Full(packet) => (Arc::clone(inbox), packet),
            }
        };
        // Full: stop reading the SUB socket until this session catches up
        // (backpressure on all responders), but not for longer than FULL_WAIT.
        match tokio::time::timeout(FULL_WAIT, inbox.push(packet, SESSION_QUEUE)).await {
            Ok(true) => {}
            Ok(false) => {
                self.remove_if(id, &inbox);
            }
            Err(_) => {
                warn!(
                    id = %String::from_utf8_lossy(id),
                    "session not reading its packets; ending session"
                );
                inbox.close_sender();
                self.remove_if(id, &inbox);
            }
        }
    }

    /// Removes `id` if it still maps to `inbox` (not to a newer session).
    fn remove_if(&self, id: &[u8], inbox: &Arc<Inbox>) {
        let mut map = self.lock();
        if map.get(id).is_some_and(|cur| Arc::ptr_eq(cur, inbox)) {
            map.remove(id);
        }
    }
}

/// Removes a session from the [`Registry`] when dropped.
#[derive(Debug)]
pub(crate) struct Registration {
    registry: Arc<Registry>,
    id: Bytes,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.id);
    }
}

/// A later packet for the responder whose identity is `to` (the ROUTER task's input).
#[derive(Debug)]
pub(crate) enum ToResponder {
    /// An encoded packet.
    Packet {
        /// The responder.
        to: Bytes,
        /// The encoded packet.
        payload: Bytes,
    },
    /// A `credit` packet, sent by the task (merged with its neighbours when it can).
    Credit {
        /// The responder.
        to: Bytes,
        /// The session.
        id: Bytes,
        /// The session's sequence number for this packet.
        seq: u32,
        /// Credits granted.
        credits: u32,
    },
}

/// The connections' handle on the outgoing sockets.
#[derive(Debug, Clone)]
pub(crate) struct Outbound {
    push: mpsc::Sender<Bytes>,
    router: mpsc::Sender<ToResponder>,
}

impl Outbound {
    /// Queues a session's first packet for the PUSH socket without waiting.
    pub(crate) fn try_first(&self, payload: Bytes) -> Queued<Bytes> {
        Queued::from(self.push.try_send(payload))
    }

    /// Queues a first packet, waiting for room. `false` when the socket task is
    /// gone (shutting down).
    pub(crate) async fn first(&self, payload: Bytes) -> bool {
        self.push.send(payload).await.is_ok()
    }

    /// Queues a later packet for its responder without waiting.
    pub(crate) fn try_to(&self, msg: ToResponder) -> Queued<ToResponder> {
        Queued::from(self.router.try_send(msg))
    }

    /// Queues a later packet, waiting for room. `false` when the socket task is
    /// gone.
    pub(crate) async fn to(&self, msg: ToResponder) -> bool {
        self.router.send(msg).await.is_ok()
    }
}

/// The outcome of queueing without waiting.
#[derive(Debug)]
pub(crate) enum Queued<T> {
    /// Queued.
    Yes,
    /// The socket task is gone (shutting down).
    Closed,
    /// The queue is full; here is the message back.
    Full(T),
}

impl<T> From<Result<(), mpsc::error::TrySendError<T>>> for Queued<T> {
    fn from(res: Result<(), mpsc::error::TrySendError<T>>) -> Self {
        match res {
            Ok(()) => Self::Yes,
            Err(mpsc::error::TrySendError::Closed(_)) => Self::Closed,
            Err(mpsc::error::TrySendError::Full(msg)) => Self::Full(msg),
        }
    }
}

/// The running socket tasks.
pub(crate) struct Zio {
    /// Handle for connections.
    pub(crate) outbound: Outbound,
    /// Session table for connections.
    pub(crate) registry: Arc<Registry>,
    /// The socket tasks (they end when every [`Outbound`] is dropped, or on error).
    pub(crate) tasks: JoinSet<()>,
    /// The SUB task, aborted at shutdown (it never ends by itself).
    sub_task: tokio::task::AbortHandle,
}

impl Zio {
    /// Builds and attaches the sockets and spawns their tasks.
    pub(crate) fn start(config: &Config) -> anyhow::Result<Self> {
        // condure: HWM = max(1, (req_maxconn + stream_maxconn) / 20), req_maxconn = 100.
        let hwm = u32::try_from(config.stream_maxconn.saturating_add(100) / 20)
            .unwrap_or(u32::MAX)
            .max(1);
        let mode = if config.zclient_connect {
            Mode::Connect
        } else {
            Mode::Bind
        };
        let build = |kind: SocketKind, hwm: Hwm, specs: Vec<SocketSpec>| {
            let mut b = AsyncSocket::builder(kind, hwm);
            if let Some(m) = config.ipc_file_mode {
                b = b.ipc_file_mode(m);
            }
            for spec in specs {
                b = match mode {
                    Mode::Bind => b.bind(spec),
                    Mode::Connect => b.connect(spec),
                };
            }
            b
        };
        let zs = &config.zclient_stream;
        let push = build(
            SocketKind::Push,
            Hwm::both(hwm),
            zs.iter().map(|z| z.out.clone()).collect(),
        )
        .build()?;
        let router = build(
            SocketKind::Router,
            Hwm::both(hwm),
            zs.iter().map(|z| z.out_stream.clone()).collect(),
        )
        .router_mandatory(true)
        .build()?;
        let topic = Bytes::from(format!("{} ", config.id));
        let sub = build(
            SocketKind::Sub,
            Hwm::both(hwm),
            zs.iter().map(|z| z.inbound.clone()).collect(),
        )
        .subscribe(topic)
        .build()?;

        let (push_tx, push_rx) = mpsc::channel(OUTBOUND_QUEUE);
        let (router_tx, router_rx) = mpsc::channel(OUTBOUND_QUEUE);
        let registry = Arc::new(Registry::default());
        let mut tasks = JoinSet::new();
        tasks.spawn(push_task(push, push_rx));
        tasks.spawn(router_task(
            router,
            router_rx,
            Bytes::from(config.id.clone()),
        ));
        let sub_task = tasks.spawn(sub_task(
            sub,
            Bytes::from(config.id.clone()),
            Arc::clone(&registry),
        ));
        Ok(Self {
            outbound: Outbound {
                push: push_tx,
                router: router_tx,
            },
            registry,
            tasks,
            sub_task,
        })
    }

    /// Stops receiving; the send tasks finish once every [`Outbound`] clone is gone
    /// and their queues are flushed.
    pub(crate) fn stop_receiving(&self) {
        self.sub_task.abort();
    }
}

async fn push_task(mut sock: AsyncSocket, mut rx: mpsc::Receiver<Bytes>) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut queue: VecDeque<Multipart> = VecDeque::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        queue.extend(batch.drain(..).map(Multipart::from));
        if let Err(e) = sock.send_all(&mut queue).await {
            error!(error = %e, "zhttp push send failed");
            queue.pop_front();
        }
    }
}

async fn router_task(mut sock: AsyncSocket, mut rx: mpsc::Receiver<ToResponder>, from: Bytes) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut queue: VecDeque<Multipart> = VecDeque::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        encode_batch(&mut batch, &from, &mut queue);
        while !queue.is_empty() {
            if let Err(e) = sock.send_all(&mut queue).await {
                let to = queue
                    .front()
                    .and_then(|m| m.first())
                    .map(|f| String::from_utf8_lossy(f).into_owned())
                    .unwrap_or_default();
                // condure drops a message whose peer is not connected, and logs it.
                error!(error = %e, to = %to, "zhttp stream send failed; message dropped");
                queue.pop_front();
            }
        }
    }
}

/// Frames `batch` (drained) onto `queue` in order, merging each run of consecutive
/// credits for one responder and amount into one list-form packet. Only consecutive
/// credits are merged, so every session's packets keep their order.
fn encode_batch(batch: &mut Vec<ToResponder>, from: &Bytes, queue: &mut VecDeque<Multipart>) {
    let mut run: Option<(Bytes, u32)> = None;
    let mut ids: Vec<IdSeq> = Vec::new();
    for msg in batch.drain(..) {
        match msg {
            ToResponder::Packet { to, payload } => {
                flush_credits(&mut run, &mut ids, from, queue);
                queue.push_back(Multipart::from(framing::router_frames(to, payload)));
            }
            ToResponder::Credit {
                to,
                id,
                seq,
                credits,
            } => {
                let same = run
                    .as_ref()
                    .is_some_and(|(t, c)| *t == to && *c == credits && ids.len() < MAX_IDS);
                if !same {
                    flush_credits(&mut run, &mut ids, from, queue);
                    run = Some((to, credits));
                }
                ids.push(IdSeq::new(Id(id), seq));
            }
        }
    }
    flush_credits(&mut run, &mut ids, from, queue);
}

/// Most ids in one merged credit packet (the ZHTTP per-packet limit).
const MAX_IDS: usize = pushpin_zhttp::DEFAULT_MAX_IDS;

fn flush_credits(
    run: &mut Option<(Bytes, u32)>,
    ids: &mut Vec<IdSeq>,
    from: &Bytes,
    queue: &mut VecDeque<Multipart>,
) {
    let Some((to, credits)) = run.take() else {
        return;
    };
    let mut p = Packet::new(PacketType::Credit);
    p.from = from.clone();
    p.credits = Some(credits);
    p.ext = Ext {
        multi: true,
        quiet: false,
    };
    if ids.len() == 1 {
        let one = ids.remove(0);
        p.ids = Ids::One(one.id);
        p.seq = one.seq;
    } else {
        p.ids = Ids::Many(std::mem::take(ids));
    }
    trace!(packet = ?p, "zhttp out");
    queue.push_back(Multipart::from(framing::router_frames(to, p.to_bytes())));
}

async fn sub_task(mut sock: AsyncSocket, own: Bytes, registry: Arc<Registry>) {
    let limits = Limits::default();
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        if let Err(e) = sock.recv_batch(&mut batch, BATCH).await {
            error!(error = %e, "zhttp sub receive failed");
            batch.clear();
            continue;
        }
        for msg in batch.drain(..) {
            dispatch(&msg, &own, &limits, &registry).await;
        }
    }
}

async fn dispatch(msg: &[Bytes], own: &Bytes, limits: &Limits, registry: &Registry) {
    let frame = match framing::single(msg) {
        Ok(f) => f,
        Err(e) => {
            warn!(error = %e, "bad zhttp message on sub socket");
            return;
        }
    };
    let parsed = match framing::parse_pub(frame) {
        Ok(p) => p,
        Err(e) => {
            warn!(error = %e, "bad zhttp message on sub socket");
            return;
        }
    };
    if parsed.address != *own {
        debug!("packet not for us");
        return;
    }
    let packet = match Packet::decode(&parsed.payload, limits) {
        Ok(p) => p,
        Err(e) => {
            warn!(error = %e, "undecodable zhttp packet dropped");
            return;
        }
    };
    trace!(packet = ?packet, "zhttp in");
    match &packet.ids {
        Ids::One(id) => {
            let id = id.0.clone();
            registry.deliver(&id, Box::new(packet)).await;
        }
        Ids::Many(_) => {
            let targets: Vec<(Bytes, Option<u32>)> = packet
                .targets()
                .map(|(id, seq)| (id.0.clone(), seq))
                .collect();
            for (id, seq) in targets {
                let mut one = packet.clone();
                one.ids = Ids::One(Id(id.clone()));
                one.seq = seq;
                registry.deliver(&id, Box::new(one)).await;
            }
        }
        Ids::None => debug!("zhttp packet without id dropped"),
    }
}
