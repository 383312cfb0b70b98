//! One ZHTTP server session towards the connection manager (`spec/zhttp.md` §6): our
//! sequence numbers, the credits the peer granted us for response body, the credits we
//! granted for request body, and the typed events its packets become.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use pushpin_zhttp::framing;
use pushpin_zhttp::session::{Credits, SeqState};
use pushpin_zhttp::{Condition, Ext, Ids, Packet, PacketType};
use tokio::sync::mpsc;
use tracing::debug;

use super::Shared;
use crate::stats::report;
use crate::stats::{Counter, Tally};

/// How often a ghost session (see [`Conn::recv`]) checks that followers remain.
const GHOST_POLL: Duration = Duration::from_secs(1);

/// What a packet from the connection manager means to the session.
#[derive(Debug)]
pub(crate) enum ConnEvent {
    /// Request body bytes; `more` is false on the last.
    Body {
        /// The bytes.
        data: Bytes,
        /// More follows.
        more: bool,
    },
    /// The peer granted response credits (already added).
    Credit,
    /// `handoff-proceed`.
    HandoffProceed,
    /// A WebSocket `close`, `ping` or `pong`, or a data packet with a `content-type`
    /// (WebSocket sessions only use these).
    Ws(Box<Packet>),
    /// The client is gone (cancel, error, bad sequence, inbox closed).
    Gone,
}

/// Where a session's packets go.
pub(crate) enum Sink {
    /// The connection manager, through the server task's PUB socket.
    Server,
    /// A local peer playing the connection manager: a SockJS session presented as a
    /// WebSocket ([`crate::sockjs`]).
    Local(mpsc::Sender<Packet>),
}

/// The session state towards the connection manager.
pub(crate) struct Conn {
    pub(crate) shared: Arc<Shared>,
    /// The peer's `from` (our PUB topic for it).
    pub(crate) peer: Bytes,
    /// The session id.
    pub(crate) id: Bytes,
    pub(crate) seq: SeqState,
    /// Response body bytes we may still send.
    pub(crate) out_credits: Credits,
    /// Request body bytes the peer may still send us.
    pub(crate) in_window: Credits,
    rx: mpsc::Receiver<Packet>,
    pub(crate) last_sent: Instant,
    pub(crate) last_recv: Instant,
    /// The peer said `ext.multi`.
    pub(crate) multi: bool,
    /// CORS / JSON-P shaping of every answer to the client (`spec/grip.md` §11), when
    /// auto cross-origin is on or a retry carries a JSON-P callback.
    pub(crate) aco: Option<crate::aco::Shaping>,
    /// This session's part in a shared origin request (`crate::sharing`).
    pub(crate) sharing: Option<crate::sharing::Role>,
    /// The client left; going on for the followers (see [`Conn::recv`]).
    ghost: bool,
    sink: Sink,
    /// This session's byte counts for the stats `report` (`crate::stats::report`).
    pub(crate) tally: Arc<Tally>,
    /// Count response heads and bodies sent to the client (1.36 counts the relayed
    /// origin response, not the proxy's own error answers nor intreq answers).
    pub(crate) count_sent: bool,
}

impl Conn {
    /// A session in its initial state (or resumed with `seq`/credits from a retry).
    pub(crate) fn new(
        shared: Arc<Shared>,
        peer: Bytes,
        id: Bytes,
        seq: SeqState,
        out_credits: u32,
        rx: mpsc::Receiver<Packet>,
    ) -> Self {
        let now = Instant::now();
        Self {
            shared,
            peer,
            id,
            seq,
            out_credits: Credits::new(out_credits),
            in_window: Credits::new(0),
            rx,
            last_sent: now,
            last_recv: now,
            multi: true,
            aco: None,
            sharing: None,
            ghost: false,
            sink: Sink::Server,
            tally: Arc::default(),
            count_sent: false,
        }
    }

    /// A session whose peer is local (`tx` takes what the session sends), as though its
    /// first packet (seq 0) had been received.
    pub(crate) fn local(
        shared: Arc<Shared>,
        id: Bytes,
        out_credits: u32,
        rx: mpsc::Receiver<Packet>,
        tx: mpsc::Sender<Packet>,
    ) -> Self {
        let peer = Bytes::from_static(b"sockjs");
        let mut conn = Self::new(shared, peer, id, SeqState::resume(0, 1), out_credits, rx);
        conn.sink = Sink::Local(tx);
        conn
    }

    /// Whether the peer is local (a SockJS session, not the connection manager).
    pub(crate) fn is_local(&self) -> bool {
        matches!(self.sink, Sink::Local(_))
    }

    /// `"<sender>:<id>"`, for logs.
    pub(crate) fn rid_text(&self) -> String {
        format!(
            "{}:{}",
            String::from_utf8_lossy(&self.peer),
            String::from_utf8_lossy(&self.id)
        )
    }

    /// A packet of `ptype` addressed to this session, seq not yet assigned.
    pub(crate) fn packet(&self, ptype: PacketType) -> Packet {
        Packet {
            from: self.shared.id.clone(),
            ids: Ids::One(self.id.clone().into()),
            ptype,
            ..Packet::default()
        }
    }

    /// Assigns the next seq and queues the packet. `false` when the proxy is stopping.
    /// A leader of a shared request copies its response packets to the followers first.
    pub(crate) async fn send(&mut self, mut p: Packet) -> bool {
        if let Some(crate::sharing::Role::Leader(group)) = &self.sharing {
            group.broadcast(&p).await;
        }
        if self.ghost {
            return true;
        }
        if self.count_sent && p.ptype == PacketType::Data {
            if let Some(code) = p.code {
                let head = report::response_head_bytes(
                    code,
                    p.reason.as_deref().unwrap_or_default(),
                    p.header_list()
                        .iter()
                        .map(|h| (h.name.as_ref(), h.value.as_ref())),
                );
                self.tally.add(Counter::ClientHeaderBytesSent, head);
            }
            let body = p.body.as_ref().map_or(0, Bytes::len);
            self.tally.add(Counter::ClientContentBytesSent, body);
        }
        p.seq = Some(self.seq.next_out());
        self.last_sent = Instant::now();
        match &self.sink {
            Sink::Server => {
                let frame = framing::pub_frame(&self.peer, &p);
                self.shared.server_out.send(frame).await.is_ok()
            }
            Sink::Local(tx) => tx.send(p).await.is_ok(),
        }
    }

    /// Sends a `credit` packet granting `n` request-body bytes (nothing for 0).
    pub(crate) async fn grant(&mut self, n: u32) -> bool {
        if n == 0 {
            return true;
        }
        self.in_window.grant(n);
        let mut p = self.packet(PacketType::Credit);
        p.credits = Some(n);
        self.send(p).await
    }

    /// `keep-alive`, with `ext.multi` when `multi`.
    pub(crate) async fn keep_alive(&mut self, multi: bool) -> bool {
        let mut p = self.packet(PacketType::KeepAlive);
        p.ext = Ext {
            multi,
            quiet: false,
        };
        self.send(p).await
    }

    /// `cancel` (best effort).
    pub(crate) async fn cancel(&mut self) {
        let p = self.packet(PacketType::Cancel);
        let _ = self.send(p).await;
    }

    /// `error` with `condition`.
    pub(crate) async fn error(&mut self, condition: Condition) {
        let mut p = self.packet(PacketType::Error);
        p.condition = Some(condition);
        let _ = self.send(p).await;
    }

    /// Waits for the next meaningful packet. Keep-alives are absorbed; credits are added
    /// before [`ConnEvent::Credit`] is returned; a bad sequence ends the session with
    /// `cancel`.
    ///
    /// When the client of a session leading a shared request goes away while others share
    /// it, the session carries on for them as a *ghost* (1.36 keeps the origin request for
    /// the remaining clients): it sends nothing to its own peer, has unlimited credits,
    /// and reports [`ConnEvent::Credit`] every [`GHOST_POLL`] until no follower is left.
    pub(crate) async fn recv(&mut self) -> ConnEvent {
        if self.ghost {
            // callers check `last_recv` against a peer timeout; a ghost has no peer
            self.last_recv = Instant::now();
            tokio::time::sleep(GHOST_POLL).await;
            self.last_recv = Instant::now();
            return if self.leads_followers() {
                ConnEvent::Credit
            } else {
                ConnEvent::Gone
            };
        }
        match self.recv_own().await {
            ConnEvent::Gone if self.leads_followers() => {
                debug!(rid = %self.rid_text(), "client gone; going on for the clients sharing its request");
                self.ghost = true;
                self.out_credits.grant(u32::MAX);
                ConnEvent::Credit
            }
            ev => ev,
        }
    }

    /// Whether the client went away while the session goes on for shared requests.
    pub(crate) fn is_ghost(&self) -> bool {
        self.ghost
    }

    fn leads_followers(&self) -> bool {
        matches!(&self.sharing, Some(crate::sharing::Role::Leader(g)) if g.has_followers())
    }

    async fn recv_own(&mut self) -> ConnEvent {
        loop {
            let Some(p) = self.rx.recv().await else {
                return ConnEvent::Gone;
            };
            self.last_recv = Instant::now();
            if matches!(p.ptype, PacketType::Cancel | PacketType::Error) {
                return ConnEvent::Gone;
            }
            if let Err(e) = self.seq.receive(p.seq) {
                debug!(rid = %self.rid_text(), error = %e, "out of sequence packet; cancelling");
                self.cancel().await;
                return ConnEvent::Gone;
            }
            if !p.from.is_empty() && p.from != self.peer {
                self.peer = p.from.clone();
            }
            let granted = p.credits.unwrap_or(0);
            if p.ptype != PacketType::Data {
                self.out_credits.grant(granted);
            }
            match p.ptype {
                PacketType::Data if p.content_type.is_some() => {
                    if self.in_window.spend(p.body_bytes().len()).is_err() {
                        debug!(rid = %self.rid_text(), "message beyond granted credits; cancelling");
                        self.cancel().await;
                        return ConnEvent::Gone;
                    }
                    self.out_credits.grant(granted);
                    return ConnEvent::Ws(Box::new(p));
                }
                PacketType::Close | PacketType::Ping | PacketType::Pong => {
                    return ConnEvent::Ws(Box::new(p));
                }
                PacketType::Data => {
                    let data = p.body.unwrap_or_default();
                    if self.in_window.spend(data.len()).is_err() {
                        debug!(rid = %self.rid_text(), "request body beyond granted credits; cancelling");
                        self.cancel().await;
                        return ConnEvent::Gone;
                    }
                    self.out_credits.grant(granted);
                    return ConnEvent::Body { data, more: p.more };
                }
                PacketType::Credit => return ConnEvent::Credit,
                PacketType::HandoffProceed => return ConnEvent::HandoffProceed,
                PacketType::KeepAlive => {
                    if granted > 0 {
                        return ConnEvent::Credit;
                    }
                }
                PacketType::HandoffStart => {
                    // initiator-side handoff is unused by 1.36 peers; let it go ahead
                    let p = self.packet(PacketType::HandoffProceed);
                    if !self.send(p).await {
                        return ConnEvent::Gone;
                    }
                }
                other => {
                    debug!(rid = %self.rid_text(), ptype = %other, "unexpected packet type; ignored");
                }
            }
        }
    }
}
