//! Shared state of a running zurl-rs: configuration values, the policy, the upstream pool
//! and TLS configs, the bounded output queues, and the registry that routes follow-up
//! packets (keyed by initiator `from` and session `id`, spec/zhttp.md §4) to their session
//! task. Also [`Output`], which addresses, numbers and encodes one session's packets.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use pushpin_tnetstring::Value;
use pushpin_zhttp::session::SeqState;
use pushpin_zhttp::{Condition, Ext, Format, Id, Ids, Packet, PacketType, framing};
use pushpin_zmq::Multipart;
use tokio::sync::mpsc;

use crate::policy::Policy;
use crate::upstream::{Pool, Tls};

/// Packets queued for one session before the DEALER reader waits (backpressure). Body
/// packets are bounded by the credits we grant, so this rarely fills. Packets travel boxed:
/// a `Packet` is ~640 bytes and the channel's slot block is allocated per session.
pub const SESSION_QUEUE: usize = 64;

/// Everything a session needs from the process.
#[derive(Debug)]
pub struct Ctx {
    /// Our `from` / DEALER identity.
    pub instance_id: Bytes,
    /// allow/deny rules.
    pub policy: Policy,
    /// `buffer_size`.
    pub buffer_size: usize,
    /// `timeout`: upstream inactivity limit.
    pub activity_timeout: Duration,
    /// Time allowed to open an origin connection ([`crate::Options::connect_timeout`]).
    pub connect_timeout: Duration,
    /// Keep-alive connections.
    pub pool: Pool,
    /// TLS client configs.
    pub tls: Tls,
    /// Stream sessions by (initiator from, id).
    pub registry: Arc<Registry>,
    /// PUB output queue (bounded; senders wait when full).
    pub pub_tx: mpsc::Sender<Multipart>,
}

type Key = (Bytes, Bytes);
/// A live session's serial number and queue.
type Slot = (u64, mpsc::Sender<Box<Packet>>);
/// The follow-up queue of one session.
pub type SessionTx = mpsc::Sender<Box<Packet>>;

/// Routes follow-up packets to live stream sessions.
#[derive(Debug, Default)]
pub struct Registry {
    map: Mutex<HashMap<Key, Slot>>,
    serial: AtomicU64,
}

impl Registry {
    /// Registers a session; a previous one under the same key is replaced (and ends when its
    /// queue closes). Returns the guard that unregisters on drop and the session's queue.
    pub fn register(
        self: &Arc<Self>,
        from: Bytes,
        id: Bytes,
    ) -> (Entry, mpsc::Receiver<Box<Packet>>) {
        let (tx, rx) = mpsc::channel(SESSION_QUEUE);
        let serial = self.serial.fetch_add(1, Ordering::Relaxed);
        let key = (from, id);
        self.lock().insert(key.clone(), (serial, tx));
        let entry = Entry {
            registry: Arc::clone(self),
            key,
            serial,
        };
        (entry, rx)
    }

    /// The queue of the session `(from, id)`.
    pub fn get(&self, from: &Bytes, id: &Bytes) -> Option<SessionTx> {
        self.lock()
            .get(&(from.clone(), id.clone()))
            .map(|(_, tx)| tx.clone())
    }

    /// Live sessions.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no session is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Slot>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Unregisters its session when dropped.
#[derive(Debug)]
pub struct Entry {
    registry: Arc<Registry>,
    key: Key,
    serial: u64,
}

impl Drop for Entry {
    fn drop(&mut self) {
        let mut map = self.registry.lock();
        if map.get(&self.key).is_some_and(|(s, _)| *s == self.serial) {
            map.remove(&self.key);
        }
    }
}

/// Where a session's packets go.
#[derive(Debug, Clone)]
pub enum Dest {
    /// Nowhere: fire-and-forget request (no `from` or no `id`).
    None,
    /// The PUB socket, topic = initiator `from`.
    Pub {
        /// Initiator address.
        to: Bytes,
    },
    /// The req ROUTER, on the request's envelope.
    Router {
        /// Routing ids.
        envelope: Vec<Bytes>,
        /// The ROUTER task's reply queue.
        tx: mpsc::Sender<Multipart>,
    },
}

/// Numbers, addresses and encodes one session's outgoing packets.
#[derive(Debug)]
pub struct Output {
    dest: Dest,
    pub_tx: mpsc::Sender<Multipart>,
    from: Bytes,
    id: Ids,
    format: Format,
    seq: SeqState,
    /// Latest `user-data` from the initiator, echoed in every packet.
    pub user_data: Option<Value>,
    /// When the last packet went out.
    pub last_sent: Instant,
}

impl Output {
    /// Output for a session. `from` is empty in req mode (zurl omits it there).
    pub fn new(
        dest: Dest,
        pub_tx: mpsc::Sender<Multipart>,
        from: Bytes,
        id: Option<Id>,
        format: Format,
        user_data: Option<Value>,
    ) -> Self {
        Self {
            dest,
            pub_tx,
            from,
            id: id.map_or(Ids::None, Ids::One),
            format,
            seq: SeqState::new(),
            user_data,
            last_sent: Instant::now(),
        }
    }

    /// Whether this session answers on the req interface (one reply, no acks).
    pub fn is_req(&self) -> bool {
        matches!(self.dest, Dest::Router { .. })
    }

    /// Whether anything is sent at all.
    pub fn is_silent(&self) -> bool {
        matches!(self.dest, Dest::None)
    }

    /// Sends `p` with addressing, seq and user-data filled in. In req mode only the final
    /// packet (data or error) is sent. Resolves to false when the output is gone (shutdown).
    ///
    /// The packet is encoded before the returned future is created, so a waiting send holds
    /// only the encoded message (this keeps every session task small).
    pub fn send(&mut self, p: Packet) -> impl Future<Output = bool> + Send + '_ {
        let msg = self.encode(p);
        let tx = match &self.dest {
            Dest::Router { tx, .. } => tx,
            _ => &self.pub_tx,
        };
        async move {
            match msg {
                Some(msg) => tx.send(msg).await.is_ok(),
                None => true,
            }
        }
    }

    fn encode(&mut self, mut p: Packet) -> Option<Multipart> {
        if self.is_req() && !matches!(p.ptype, PacketType::Data | PacketType::Error) {
            return None;
        }
        p.from = self.from.clone();
        p.ids = self.id.clone();
        p.seq = Some(self.seq.next_out());
        if p.user_data.is_none() {
            p.user_data = self.user_data.clone();
        }
        self.last_sent = Instant::now();
        match &self.dest {
            Dest::None => None,
            Dest::Pub { to } => {
                let mut buf = BytesMut::with_capacity(to.len() + 64 + p.body_bytes().len());
                framing::write_pub_prefix(&mut buf, to);
                p.encode_as(self.format, &mut buf);
                Some(Multipart::from(buf.freeze()))
            }
            Dest::Router { envelope, .. } => {
                let mut buf = BytesMut::new();
                p.encode_as(self.format, &mut buf);
                Some(Multipart::from(framing::reply_frames(
                    envelope,
                    buf.freeze(),
                )))
            }
        }
    }

    /// Sends an `error` packet with `condition`.
    pub fn error(&mut self, condition: Condition) -> impl Future<Output = bool> + Send + '_ {
        self.send(Packet {
            ptype: PacketType::Error,
            condition: Some(condition),
            ..Packet::default()
        })
    }

    /// Sends a `keep-alive`, or a `credit` of `credits`, carrying `ext.multi` if asked.
    pub fn ack(
        &mut self,
        credits: Option<u32>,
        multi: bool,
    ) -> impl Future<Output = bool> + Send + '_ {
        let ptype = if credits.is_some() {
            PacketType::Credit
        } else {
            PacketType::KeepAlive
        };
        self.send(Packet {
            ptype,
            credits,
            ext: Ext {
                multi,
                quiet: false,
            },
            ..Packet::default()
        })
    }
}

/// The `cancel` zurl sends for a packet addressed to an unknown session: `{id, type}` only
/// (spec/zhttp.md §6.5).
pub fn unknown_session_cancel(to: &[u8], id: &Bytes) -> Multipart {
    let p = Packet {
        ids: Ids::One(Id(id.clone())),
        ptype: PacketType::Cancel,
        ..Packet::default()
    };
    Multipart::from(framing::pub_frame(to, &p))
}
