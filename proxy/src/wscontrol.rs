//! The ws-control link to the handler (`spec/internal.md` §7): a bound PUSH carrying the
//! proxy's items (`here`, `keep-alive`, `grip`, `subscribe`, `need-keep-alive`, `ack`,
//! `gone`, `cancel`) and a bound PULL carrying the handler's (`send`, `close`, `detach`,
//! `keep-alive-setup`, `ack`, `cancel`). One task owns both sockets and the table
//! `cid → session inbox`; WebSocket-over-HTTP sessions register (GRIP ones receive the
//! handler's items, every one can be refreshed from the command socket), queue items and
//! unregister through one bounded command queue.
//!
//! Queues and what happens when full:
//! * commands ([`CMD_CAPACITY`]): sessions use `try_send`; a full queue drops the item
//!   (logged). Registration waits.
//! * items waiting for PUSH: the task stops taking commands while [`PUSH_BACKLOG`]
//!   packets wait (the handler is absent or slow), so the command queue fills.
//! * session inbox ([`INBOX_CAPACITY`]): a full inbox drops the item, as 1.36 drops a
//!   published message the client cannot take at once.
//!
//! An item for a cid we do not know is answered with `cancel` (1.36). A malformed packet
//! is logged and skipped (1.36 aborts).

use std::collections::{HashMap, VecDeque};

use bytes::{Bytes, BytesMut};
use pushpin_internal::{WsControlItem, WsControlItemKind, WsControlPacket};
use pushpin_zmq::{AsyncSocket, Multipart};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};

/// Commands queued from all sessions.
pub(crate) const CMD_CAPACITY: usize = 4096;
/// Items queued for one session.
pub(crate) const INBOX_CAPACITY: usize = 256;
/// Packets waiting for the PUSH socket before commands are paused.
const PUSH_BACKLOG: usize = 1024;
/// Messages taken per wake-up.
const BATCH: usize = 64;
/// How long a `refresh` command waits for the ws-control task.
const REFRESH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);
/// ws-control socket HWM (1.36).
pub(crate) const HWM: u32 = 101_000;

/// What reaches a registered session.
#[derive(Debug)]
pub(crate) enum SessionMsg {
    /// An item from the handler (GRIP sessions only).
    Item(WsControlItem),
    /// The command socket's `refresh`: send a request to the backend now.
    Refresh,
}

/// What the rest of the proxy asks of the ws-control task.
#[derive(Debug)]
pub(crate) enum WsCmd {
    /// Route messages for `cid` to `inbox`; handler items only when `grip`.
    Register {
        cid: Bytes,
        inbox: mpsc::Sender<SessionMsg>,
        grip: bool,
    },
    /// Forget `cid`.
    Unregister { cid: Bytes },
    /// Send an item to the handler.
    Send(WsControlItem),
    /// Refresh `cid`; the answer says whether it is known.
    Refresh {
        cid: Bytes,
        reply: oneshot::Sender<bool>,
    },
}

/// A registered session.
struct Entry {
    inbox: mpsc::Sender<SessionMsg>,
    grip: bool,
}

/// A handle to the ws-control task.
#[derive(Debug, Clone)]
pub(crate) struct WsControlHandle {
    pub(crate) tx: mpsc::Sender<WsCmd>,
}

impl WsControlHandle {
    /// Asks session `cid` to send a request to its backend now; `false` when unknown.
    pub(crate) async fn refresh(&self, cid: Bytes) -> bool {
        let ask = async {
            let (reply, rx) = oneshot::channel();
            self.tx.send(WsCmd::Refresh { cid, reply }).await.ok()?;
            rx.await.ok()
        };
        matches!(
            tokio::time::timeout(REFRESH_TIMEOUT, ask).await,
            Ok(Some(true))
        )
    }

    /// Queues `item` for the handler; dropped (and logged) when the queue is full.
    pub(crate) fn send(&self, item: WsControlItem) {
        if let Err(e) = self.tx.try_send(WsCmd::Send(item)) {
            debug!(error = %e, "ws-control queue full or closed; item dropped");
        }
    }
}

fn encode(items: Vec<WsControlItem>) -> Multipart {
    let mut buf = BytesMut::new();
    WsControlPacket { items }.encode(&mut buf);
    Multipart::from(buf.freeze())
}

/// Runs the ws-control link until a socket fails or every handle is gone.
pub(crate) async fn run(
    mut push: AsyncSocket,
    mut pull: AsyncSocket,
    mut cmd_rx: mpsc::Receiver<WsCmd>,
) -> anyhow::Result<()> {
    let limits = pushpin_internal::Limits::default();
    let mut sessions: HashMap<Bytes, Entry> = HashMap::new();
    let mut push_queue: VecDeque<Multipart> = VecDeque::new();
    let mut cmds: Vec<WsCmd> = Vec::with_capacity(BATCH);
    let mut batch: Vec<Multipart> = Vec::with_capacity(BATCH);
    loop {
        tokio::select! {
            r = push.send_batch(&mut push_queue, BATCH), if !push_queue.is_empty() => {
                r?;
            }
            n = cmd_rx.recv_many(&mut cmds, BATCH), if push_queue.len() < PUSH_BACKLOG => {
                if n == 0 {
                    return Ok(());
                }
                let mut items = Vec::new();
                for cmd in cmds.drain(..) {
                    match cmd {
                        WsCmd::Register { cid, inbox, grip } => {
                            sessions.insert(cid, Entry { inbox, grip });
                        }
                        WsCmd::Refresh { cid, reply } => {
                            let known = sessions.get(&cid).is_some_and(|e| {
                                // a full inbox already has work queued; a refresh adds nothing
                                !matches!(
                                    e.inbox.try_send(SessionMsg::Refresh),
                                    Err(mpsc::error::TrySendError::Closed(_))
                                )
                            });
                            let _ = reply.send(known);
                        }
                        WsCmd::Unregister { cid } => {
                            sessions.remove(&cid);
                        }
                        WsCmd::Send(item) => {
                            items.push(item);
                            if items.len() == pushpin_internal::wscontrol::MAX_ITEMS_PER_PACKET {
                                push_queue.push_back(encode(std::mem::take(&mut items)));
                            }
                        }
                    }
                }
                if !items.is_empty() {
                    push_queue.push_back(encode(items));
                }
            }
            r = pull.recv_batch(&mut batch, BATCH) => {
                r?;
                let mut replies = Vec::new();
                for msg in batch.drain(..) {
                    let [frame] = msg.as_slice() else {
                        warn!(frames = msg.len(), "ws-control message with the wrong frame count; dropped");
                        continue;
                    };
                    let packet = match WsControlPacket::decode(frame, &limits) {
                        Ok(p) => p,
                        Err(e) => {
                            warn!(error = %e, "malformed ws-control packet; dropped");
                            continue;
                        }
                    };
                    for item in packet.items {
                        route(&mut sessions, item, &mut replies);
                    }
                }
                if !replies.is_empty() && push_queue.len() < PUSH_BACKLOG {
                    push_queue.push_back(encode(replies));
                }
            }
        }
    }
}

/// Hands `item` to its session, or answers `cancel` for an unknown cid.
fn route(
    sessions: &mut HashMap<Bytes, Entry>,
    item: WsControlItem,
    replies: &mut Vec<WsControlItem>,
) {
    let Some(tx) = sessions.get(&item.cid).filter(|e| e.grip).map(|e| &e.inbox) else {
        if item.kind != WsControlItemKind::Cancel {
            replies.push(WsControlItem {
                cid: item.cid,
                req_id: None,
                kind: WsControlItemKind::Cancel,
            });
        }
        return;
    };
    let cid = item.cid.clone();
    match tx.try_send(SessionMsg::Item(item)) {
        Ok(()) => {}
        Err(mpsc::error::TrySendError::Full(_)) => {
            debug!(cid = %String::from_utf8_lossy(&cid), "ws-control session inbox full; item dropped");
        }
        Err(mpsc::error::TrySendError::Closed(_)) => {
            sessions.remove(&cid);
        }
    }
}
