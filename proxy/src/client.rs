//! The origin side (`spec/zhttp.md` §2.1, §10): the proxy is the ZHTTP initiator towards
//! zurl (or any ZHTTP server peer), with PUSH (first packets), ROUTER (follow-ups,
//! addressed to the responder's `from`, `ZMQ_IMMEDIATE`) and SUB (responses, subscribed
//! to `"<instance id> "`). Towards zurl the sockets connect; a custom `zhttp/` route target
//! gets its own set, bound ([`crate::zroutes`]), run by the same task.
//!
//! One task owns the sockets and the table `request id → inbox`; sessions register, send
//! encoded frames and unregister through one bounded command queue.
//!
//! Queues and what happens when full:
//! * commands ([`CMD_CAPACITY`]): sessions wait (backpressure).
//! * first packets waiting for PUSH (HWM 100): kept in order in a local queue bounded by
//!   the command queue; the task stops taking commands while [`PUSH_BACKLOG`] are waiting,
//!   so sessions wait.
//! * session inbox: as on the server side, a full inbox drops the session (its task sees
//!   the inbox close and fails the request).
//! * ROUTER follow-ups: never wait; a frame for a peer that is gone is dropped, as in 1.36.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;
use pushpin_config::ZmqSpec;
use pushpin_zhttp::{Limits, Packet, framing};
use pushpin_zmq::{AsyncSocket, Mode, Multipart, SocketKind, TrySendError};
use tokio::sync::mpsc;
use tracing::{debug, warn};

/// Commands queued from all sessions.
pub(crate) const CMD_CAPACITY: usize = 4096;
/// First packets waiting for the PUSH socket before commands are paused.
const PUSH_BACKLOG: usize = 1024;
/// Messages taken per wake-up.
const BATCH: usize = 64;

/// What sessions ask of the client task.
#[derive(Debug)]
pub(crate) enum ClientCmd {
    /// Register `inbox` for `id`, then send the first packet `frame` on PUSH.
    Start {
        /// The request id.
        id: Bytes,
        /// Where responses for `id` go.
        inbox: mpsc::Sender<Packet>,
        /// The encoded first packet.
        frame: Bytes,
    },
    /// Send `frame` to the responder `to` on ROUTER.
    Send {
        /// The responder's `from`.
        to: Bytes,
        /// The encoded packet.
        frame: Bytes,
    },
    /// Forget `id`.
    Done {
        /// The request id.
        id: Bytes,
    },
}

/// A handle to a client task.
#[derive(Debug, Clone)]
pub(crate) struct ClientHandle {
    /// The command queue.
    pub(crate) tx: mpsc::Sender<ClientCmd>,
}

/// The client task's sockets.
pub(crate) struct ClientIo {
    /// PUSH, first packets.
    pub(crate) push: AsyncSocket,
    /// ROUTER, follow-ups.
    pub(crate) router: AsyncSocket,
    /// SUB, responses.
    pub(crate) sub: AsyncSocket,
    /// Commands.
    pub(crate) cmd_rx: mpsc::Receiver<ClientCmd>,
    /// Our instance id (the SUB topic).
    pub(crate) instance: Bytes,
}

/// Where a client's three sockets attach, and how.
pub(crate) struct ClientSockets<'a> {
    /// Names for errors (the config keys, or the route target): PUSH, ROUTER, SUB.
    pub(crate) names: [&'a str; 3],
    /// PUSH specs.
    pub(crate) push: &'a [ZmqSpec],
    /// ROUTER specs.
    pub(crate) router: &'a [ZmqSpec],
    /// SUB specs.
    pub(crate) sub: &'a [ZmqSpec],
    /// Connect (zurl) or bind (custom targets, as 1.36's `ZRoutes` does).
    pub(crate) mode: Mode,
    /// chmod of bound ipc sockets.
    pub(crate) ipc_file_mode: Option<u32>,
}

/// Creates a client's sockets with 1.36's types and options; returns the handle sessions
/// use and the task that owns the sockets (ends once every handle is dropped).
pub(crate) fn build(
    s: &ClientSockets<'_>,
    instance: &str,
) -> anyhow::Result<(
    ClientHandle,
    impl Future<Output = anyhow::Result<()>> + Send + 'static,
)> {
    use crate::sockets::{self, Opts};
    let [push_name, router_name, sub_name] = s.names;
    let opts = |name, kind, hwm| {
        let mut o = Opts::new(name, kind, s.mode, hwm);
        o.ipc_file_mode = s.ipc_file_mode;
        o
    };
    let push = sockets::build(opts(push_name, SocketKind::Push, crate::HWM_FIRST), s.push)?;
    let mut o = opts(router_name, SocketKind::Router, crate::HWM_STREAM);
    o.immediate = true;
    let router = sockets::build(o, s.router)?;
    let mut o = opts(sub_name, SocketKind::Sub, crate::HWM_STREAM);
    o.subscribe = Some(format!("{instance} "));
    let sub = sockets::build(o, s.sub)?;
    let (tx, cmd_rx) = mpsc::channel(CMD_CAPACITY);
    let io = ClientIo {
        push,
        router,
        sub,
        cmd_rx,
        instance: Bytes::from(instance.to_string()),
    };
    Ok((ClientHandle { tx }, run(io)))
}

/// Creates a req-mode client (`zhttpreq/` targets, 1.36 `setClientReqSpecs`): one DEALER
/// on `spec` (bound, as 1.36's `ZRoutes` does) carrying whole requests and whole
/// responses. Sessions use it through the same commands; follow-ups do not exist in req
/// mode and are ignored.
pub(crate) fn build_req(
    name: &str,
    spec: &ZmqSpec,
    ipc_file_mode: Option<u32>,
) -> anyhow::Result<(
    ClientHandle,
    impl Future<Output = anyhow::Result<()>> + Send + 'static,
)> {
    use crate::sockets::{self, Opts};
    let mut o = Opts::new(name, SocketKind::Dealer, Mode::Bind, crate::HWM_FIRST);
    o.ipc_file_mode = ipc_file_mode;
    let dealer = sockets::build(o, std::slice::from_ref(spec))?;
    let (tx, cmd_rx) = mpsc::channel(CMD_CAPACITY);
    Ok((ClientHandle { tx }, run_req(dealer, cmd_rx)))
}

/// Runs a req-mode client until the command queue closes or the socket fails. A request
/// waits for the DEALER (HWM 100), so sessions wait in turn.
async fn run_req(
    mut dealer: AsyncSocket,
    mut cmd_rx: mpsc::Receiver<ClientCmd>,
) -> anyhow::Result<()> {
    let limits = Limits::default();
    let mut inboxes: HashMap<Bytes, mpsc::Sender<Packet>> = HashMap::new();
    let mut batch: Vec<Multipart> = Vec::with_capacity(BATCH);
    loop {
        tokio::select! {
            cmd = cmd_rx.recv() => match cmd {
                None => return Ok(()),
                Some(ClientCmd::Start { id, inbox, frame }) => {
                    inboxes.insert(id, inbox);
                    dealer.send(Multipart::from(framing::dealer_frames(frame))).await?;
                }
                Some(ClientCmd::Send { .. }) => {}
                Some(ClientCmd::Done { id }) => {
                    inboxes.remove(&id);
                }
            },
            r = dealer.recv_batch(&mut batch, BATCH) => {
                r?;
                for msg in batch.drain(..) {
                    let Ok(payload) = framing::parse_dealer(&msg) else {
                        warn!("zhttp client req: received message with parts != 2, skipping");
                        continue;
                    };
                    match Packet::decode(payload, &limits) {
                        Ok(packet) => deliver(&mut inboxes, packet),
                        Err(e) => warn!(error = %e, "dropping malformed zhttp req response"),
                    }
                }
            }
        }
    }
}

/// Runs the client side until the command queue closes or a socket fails.
pub(crate) async fn run(mut io: ClientIo) -> anyhow::Result<()> {
    let limits = Limits::default();
    let mut inboxes: HashMap<Bytes, mpsc::Sender<Packet>> = HashMap::new();
    let mut push_queue: VecDeque<Multipart> = VecDeque::new();
    let mut batch: Vec<Multipart> = Vec::with_capacity(BATCH);
    let mut cmds: Vec<ClientCmd> = Vec::with_capacity(BATCH);
    loop {
        tokio::select! {
            r = io.push.send_batch(&mut push_queue, BATCH), if !push_queue.is_empty() => {
                r?;
            }
            n = io.cmd_rx.recv_many(&mut cmds, BATCH), if push_queue.len() < PUSH_BACKLOG => {
                if n == 0 {
                    return Ok(());
                }
                for cmd in cmds.drain(..) {
                    match cmd {
                        ClientCmd::Start { id, inbox, frame } => {
                            inboxes.insert(id, inbox);
                            push_queue.push_back(Multipart::from(frame));
                        }
                        ClientCmd::Send { to, frame } => {
                            let msg = Multipart::from(framing::router_frames(to, frame));
                            match io.router.try_send(msg) {
                                Ok(()) => {}
                                Err(TrySendError::Full(_)) => {
                                    debug!("zhttp client router full or peer gone; packet dropped");
                                }
                                Err(TrySendError::Failed(e)) => {
                                    debug!(error = %e, "zhttp client router send failed; packet dropped");
                                }
                            }
                        }
                        ClientCmd::Done { id } => {
                            inboxes.remove(&id);
                        }
                    }
                }
            }
            r = io.sub.recv_batch(&mut batch, BATCH) => {
                r?;
                for msg in batch.drain(..) {
                    let Ok(frame) = framing::single(&msg) else {
                        warn!("bad message on the zhttp client sub socket");
                        continue;
                    };
                    let Ok(pubmsg) = framing::parse_pub(frame) else {
                        warn!("zhttp client sub frame without address");
                        continue;
                    };
                    if pubmsg.address != io.instance {
                        continue;
                    }
                    let packet = match Packet::decode(&pubmsg.payload, &limits) {
                        Ok(p) => p,
                        Err(e) => {
                            warn!(error = %e, "dropping malformed zhttp response");
                            continue;
                        }
                    };
                    deliver(&mut inboxes, packet);
                }
            }
        }
    }
}

fn deliver(inboxes: &mut HashMap<Bytes, mpsc::Sender<Packet>>, packet: Packet) {
    let targets: Vec<(Bytes, Option<u32>)> =
        packet.targets().map(|t| (t.0.0.clone(), t.1)).collect();
    let single = targets.len() == 1;
    for (id, seq) in targets {
        let Some(tx) = inboxes.get(&id) else {
            continue;
        };
        let p = if single {
            packet.clone()
        } else {
            let mut p = packet.clone();
            p.ids = pushpin_zhttp::Ids::One(id.clone().into());
            p.seq = seq;
            p
        };
        if tx.try_send(p).is_err() {
            inboxes.remove(&id);
        }
    }
}
