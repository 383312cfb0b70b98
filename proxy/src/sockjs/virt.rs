//! The local ZHTTP peer a SockJS session talks through: a [`Conn`] whose packets come
//! from us and go to us instead of the connection manager, handed to the ordinary
//! WebSocket proxying code (`session::forward_websocket`). We play the connection
//! manager's part of `spec/zhttp.md` §8: client messages as text `data` packets within
//! the credits the session grants (its accept's `credits`, then `credit` packets),
//! `close`, `credit` for the messages we have delivered, and the end of the inbox when
//! the client is gone (the session reads that as `cancel`). Our packets carry no `seq`
//! (accepted in order without one).
//!
//! Both run in one task, so we never wait on the session's inbox: packets queue here
//! ([`Peer::queue`]; messages only within the session's credits, so the queue is
//! bounded by them and by the few control packets) and move on as room appears
//! ([`Peer::flush`], [`Peer::writable`]). What the session sends us is bounded by
//! [`OUTBOX`], the session waiting while we are busy.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use pushpin_zhttp::session::Credits;
use pushpin_zhttp::{ContentType, Packet, PacketType};
use tokio::sync::mpsc;

use crate::session::Shared;
use crate::session::conn::Conn;

/// Packets queued in the session's inbox.
const INBOX: usize = 64;
/// Packets queued from the session.
const OUTBOX: usize = 64;

/// Our end of the pair.
pub(super) struct Peer {
    tx: Option<mpsc::Sender<Packet>>,
    /// Message bytes the session lets us send.
    credits: Credits,
    queue: VecDeque<Packet>,
    /// Bytes delivered to the client not yet credited back.
    credit: usize,
}

/// A session `Conn` with `out_credits` for messages to us, our end of it, and what the
/// session sends to its "client" (ending once the session is over and all was read).
pub(super) fn pair(
    shared: Arc<Shared>,
    id: Bytes,
    out_credits: u32,
) -> (Conn, Peer, mpsc::Receiver<Packet>) {
    let (in_tx, in_rx) = mpsc::channel(INBOX);
    let (out_tx, out_rx) = mpsc::channel(OUTBOX);
    let conn = Conn::local(shared, id, out_credits, in_rx, out_tx);
    let peer = Peer {
        tx: Some(in_tx),
        credits: Credits::new(0),
        queue: VecDeque::new(),
        credit: 0,
    };
    (conn, peer, out_rx)
}

impl Peer {
    /// Takes the credits a packet from the session grants.
    pub(super) fn absorb(&mut self, p: &Packet) {
        if let Some(n) = p.credits {
            self.credits.grant(n);
        }
    }

    /// Queues a client text message when the session's credits allow; `false` (and
    /// nothing queued) when they do not yet.
    pub(super) fn message(&mut self, body: &Bytes) -> bool {
        let fits = u32::try_from(body.len()).is_ok_and(|n| n <= self.credits.available());
        if fits {
            let _ = self.credits.take(body.len());
            self.queue.push_back(Packet {
                ptype: PacketType::Data,
                content_type: Some(ContentType::Text),
                body: Some(body.clone()),
                ..Packet::default()
            });
        }
        fits
    }

    /// Queues the client's close.
    pub(super) fn close(&mut self, code: Option<u16>, reason: Option<Bytes>) {
        self.queue.push_back(Packet {
            ptype: PacketType::Close,
            code,
            body: reason.filter(|r| !r.is_empty()),
            ..Packet::default()
        });
    }

    /// `n` more message bytes may come to us (sent with the next flush).
    pub(super) fn credit(&mut self, n: usize) {
        self.credit = self.credit.saturating_add(n);
    }

    /// Queues a keep-alive, so the session does not take its client as silent.
    pub(super) fn keep_alive(&mut self) {
        if self.queue.is_empty() {
            self.queue.push_back(Packet::new(PacketType::KeepAlive));
        }
    }

    /// The client is gone: the session sees its inbox end once it has read the rest.
    pub(super) fn cancel(&mut self) {
        self.queue.clear();
        self.tx = None;
    }

    /// Moves queued packets into the session's inbox while there is room.
    pub(super) fn flush(&mut self) {
        let Some(tx) = &self.tx else {
            self.queue.clear();
            return;
        };
        if self.credit > 0 {
            let p = Packet {
                ptype: PacketType::Credit,
                credits: Some(u32::try_from(self.credit).unwrap_or(u32::MAX)),
                ..Packet::default()
            };
            match tx.try_send(p) {
                Ok(()) => self.credit = 0,
                Err(mpsc::error::TrySendError::Full(_)) => return,
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    self.cancel();
                    return;
                }
            }
        }
        while let Some(p) = self.queue.pop_front() {
            match tx.try_send(p) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(p)) => {
                    self.queue.push_front(p);
                    return;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    self.cancel();
                    return;
                }
            }
        }
    }

    /// Whether packets wait for room in the session's inbox.
    pub(super) fn backlogged(&self) -> bool {
        self.tx.is_some() && (!self.queue.is_empty() || self.credit > 0)
    }

    /// The session's inbox, to wait for room in ([`writable`]) while [`Self::backlogged`].
    pub(super) fn inbox(&self) -> Option<mpsc::Sender<Packet>> {
        self.tx.clone()
    }
}

/// Resolves once `inbox` has room (or is gone; never without one).
pub(super) async fn writable(inbox: Option<mpsc::Sender<Packet>>) {
    match inbox {
        Some(tx) => {
            let _ = tx.reserve().await;
        }
        None => std::future::pending().await,
    }
}
