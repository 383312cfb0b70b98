//! The connection-manager side (`spec/zhttp.md` §2.1, §3): the proxy is the ZHTTP
//! responder, connecting PULL (first packets), ROUTER (follow-ups, identity = our
//! instance id) and PUB (everything we send).
//!
//! One task owns the three sockets and the session table `(peer from, id) → inbox`; each
//! session is its own task (spread over the runtime's workers) that encodes its packets
//! and hands finished PUB frames back through one bounded queue. Nothing here locks.
//!
//! Queues and what happens when full:
//! * session inbox ([`INBOX_CAPACITY`]): the peer is sending far more control packets
//!   than any correct peer does (body is credit-bounded), so the session is dropped from
//!   the table; its task sees the inbox close and ends with `cancel`.
//! * outgoing PUB frames ([`OUT_CAPACITY`]): sessions wait (backpressure). PUB itself never
//!   blocks; at its HWM libzmq drops, as in 1.36.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use pushpin_zhttp::framing;
use pushpin_zhttp::{Ids, Limits, Packet, PacketType};
use pushpin_zmq::{AsyncSocket, Multipart};
use tokio::sync::{mpsc, oneshot};
use tokio::task::{self, JoinSet};
use tracing::{debug, error, warn};

use crate::session::{self, Adopt, Shared};

/// Packets queued for one session before it is considered stuck. A peer may split a
/// 200000-byte credit window into many small packets, so this is large; tokio's channel
/// allocates slots in blocks of 32 as they fill, so an idle session pays for none.
pub(crate) const INBOX_CAPACITY: usize = 4096;
/// PUB frames queued from all sessions.
pub(crate) const OUT_CAPACITY: usize = 4096;
/// Messages taken from a socket per wake-up.
const BATCH: usize = 64;

/// A session key: the initiator's `from` and the session id.
pub(crate) type Key = (Bytes, Bytes);

/// Requests to the server task from elsewhere in the proxy.
#[derive(Debug)]
pub(crate) enum ServerCmd {
    /// Recreate a session handed back by the handler (retry).
    Adopt(Box<Adopt>),
    /// Which of these connection ids (`<sender>:<id>`) are live.
    Conncheck(Vec<Bytes>, oneshot::Sender<Vec<Bytes>>),
}

/// The server task's sockets and queues.
pub(crate) struct ServerIo {
    /// PULL, first packets.
    pub(crate) pull: AsyncSocket,
    /// ROUTER, follow-up packets.
    pub(crate) router: AsyncSocket,
    /// PUB, everything we send.
    pub(crate) publisher: AsyncSocket,
    /// Encoded PUB frames from the sessions.
    pub(crate) out_rx: mpsc::Receiver<Bytes>,
    /// Commands.
    pub(crate) cmd_rx: mpsc::Receiver<ServerCmd>,
}

struct Table {
    sessions: HashMap<Key, mpsc::Sender<Packet>>,
    tasks: JoinSet<()>,
    task_keys: HashMap<task::Id, Key>,
    shared: Arc<Shared>,
}

impl Table {
    fn spawn(&mut self, key: Key, fut: impl Future<Output = ()> + Send + 'static) {
        let handle = self.tasks.spawn(fut);
        self.task_keys.insert(handle.id(), key);
    }

    fn first_packet(&mut self, packet: Packet) {
        let Some(id) = packet.id().map(|i| i.0.clone()) else {
            debug!("first packet without a single id; dropped");
            return;
        };
        if packet.from.is_empty() {
            debug!("first packet without from; dropped");
            return;
        }
        if packet.ptype != PacketType::Data {
            // cancel/keep-alive for a session we do not know: nothing to do
            return;
        }
        let key = (packet.from.clone(), id);
        if self.sessions.contains_key(&key) {
            // 1.36 answers a reused id with cancel
            session::send_cancel(&self.shared, &key, None);
            return;
        }
        let (tx, rx) = mpsc::channel(INBOX_CAPACITY);
        self.sessions.insert(key.clone(), tx);
        let shared = self.shared.clone();
        self.spawn(key, session::run_new(shared, packet, rx));
    }

    fn adopt(&mut self, adopt: Box<Adopt>) {
        let key = adopt.key();
        if self.sessions.contains_key(&key) {
            warn!(rid = %String::from_utf8_lossy(&key.1), "retry for a session we still own; ignored");
            return;
        }
        let (tx, rx) = mpsc::channel(INBOX_CAPACITY);
        self.sessions.insert(key.clone(), tx);
        let shared = self.shared.clone();
        self.spawn(key, session::run_adopted(shared, adopt, rx));
    }

    fn deliver(&mut self, packet: Packet) {
        let from = packet.from.clone();
        match &packet.ids {
            Ids::One(_) => {
                let Some(id) = packet.id().map(|i| i.0.clone()) else {
                    return;
                };
                self.deliver_one((from, id), packet);
            }
            Ids::Many(_) => {
                let targets: Vec<(Bytes, Option<u32>)> =
                    packet.targets().map(|t| (t.0.0.clone(), t.1)).collect();
                for (id, seq) in targets {
                    let mut p = packet.clone();
                    p.ids = Ids::One(id.clone().into());
                    p.seq = seq;
                    self.deliver_one((from.clone(), id), p);
                }
            }
            Ids::None => {}
        }
    }

    fn deliver_one(&mut self, key: Key, packet: Packet) {
        let Some(tx) = self.sessions.get(&key) else {
            return;
        };
        match tx.try_send(packet) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                warn!(rid = %String::from_utf8_lossy(&key.1), "session inbox full; dropping session");
                self.sessions.remove(&key);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.sessions.remove(&key);
            }
        }
    }

    fn reap(&mut self, res: Result<(task::Id, ()), task::JoinError>) {
        let id = match res {
            Ok((id, ())) => id,
            Err(e) => {
                error!(error = %e, "session task failed");
                e.id()
            }
        };
        if let Some(key) = self.task_keys.remove(&id) {
            self.sessions.remove(&key);
        }
    }

    fn conncheck(&self, ids: Vec<Bytes>) -> Vec<Bytes> {
        ids.into_iter()
            .filter(|cid| {
                let Some(at) = cid.iter().position(|&b| b == b':') else {
                    return false;
                };
                let key = (cid.slice(..at), cid.slice(at + 1..));
                self.sessions.contains_key(&key)
            })
            .collect()
    }
}

fn decode(payload: &Bytes, limits: &Limits) -> Option<Packet> {
    match Packet::decode(payload, limits) {
        Ok(p) => Some(p),
        Err(e) => {
            warn!(error = %e, "dropping malformed zhttp packet");
            None
        }
    }
}

/// Runs the server side until the sockets fail or `stop` fires.
pub(crate) async fn run(
    mut io: ServerIo,
    shared: Arc<Shared>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let limits = Limits::default();
    let mut table = Table {
        sessions: HashMap::new(),
        tasks: JoinSet::new(),
        task_keys: HashMap::new(),
        shared,
    };
    let mut batch: Vec<Multipart> = Vec::with_capacity(BATCH);
    let mut batch2: Vec<Multipart> = Vec::with_capacity(BATCH);
    let mut cmd_open = true;
    let mut frames: Vec<Bytes> = Vec::with_capacity(BATCH);
    loop {
        tokio::select! {
            r = io.pull.recv_batch(&mut batch, BATCH) => {
                r?;
                for msg in batch.drain(..) {
                    match framing::single(&msg) {
                        Ok(payload) => {
                            if let Some(p) = decode(payload, &limits) {
                                table.first_packet(p);
                            }
                        }
                        Err(e) => warn!(error = %e, "bad message on the zhttp pull socket"),
                    }
                }
            }
            r = io.router.recv_batch(&mut batch2, BATCH) => {
                r?;
                for msg in batch2.drain(..) {
                    match framing::parse_router(&msg) {
                        Ok(routed) => {
                            if let Some(p) = decode(routed.payload, &limits) {
                                table.deliver(p);
                            }
                        }
                        Err(e) => warn!(error = %e, "bad message on the zhttp router socket"),
                    }
                }
            }
            n = io.out_rx.recv_many(&mut frames, BATCH) => {
                if n == 0 {
                    return Ok(());
                }
                for frame in frames.drain(..) {
                    io.publisher.send(frame).await?;
                }
            }
            cmd = io.cmd_rx.recv(), if cmd_open => match cmd {
                Some(ServerCmd::Adopt(a)) => table.adopt(a),
                Some(ServerCmd::Conncheck(ids, reply)) => {
                    let _ = reply.send(table.conncheck(ids));
                }
                // no retry or command socket configured
                None => cmd_open = false,
            },
            Some(res) = table.tasks.join_next_with_id(), if !table.tasks.is_empty() => {
                table.reap(res);
            }
            _ = stop.changed() => {
                table.tasks.abort_all();
                return Ok(());
            }
        }
    }
}
