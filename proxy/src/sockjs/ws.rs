//! The framed WebSocket transport (`/<server>/<session>/<anything>` over WebSocket), as
//! 1.36's `SockJsSession` in `WebSocketFramed` mode: the backend's accept answers the
//! client's handshake and is followed by `o`; each backend message reaches the client
//! as `a["…"]`; `h` goes out every 25 s from the accept on; each client text or binary
//! frame must be a JSON array of strings (each at most 200000 bytes, the frame at most
//! 400000), each string a text message to the backend, anything else ends the session
//! (both sides dropped). Closes pass through as WebSocket closes (1.36 writes no `c`
//! frame here); client pings and pongs, and the backend's, are dropped. A backend
//! rejection (or `502` when no target answers) is relayed as the handshake's answer.
//!
//! Unlike 1.36, which wraps each WebSocket frame on its own and drops continuation
//! frames, a backend message arriving in fragments is reassembled and sent as one.
//!
//! Credits: the client's frames are credited back once all their messages went to the
//! backend session, which takes them within the credits it grants us; the backend's
//! messages are credited back once written to the client, within the client's credits.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use pushpin_zhttp::{Condition, ContentType, Packet, PacketType};
use tokio::sync::mpsc;
use tracing::debug;

use super::frame::{self, MAX_MESSAGE};
use super::virt::{self, Peer};
use crate::outgoing::ClientRequest;
use crate::session::conn::{Conn, ConnEvent};
use pushpin_config::routes::Route;

/// Credits the client grants us and we grant the backend session (1.36 `BUFFER_SIZE`).
pub(super) const WINDOW: u32 = 200_000;
/// Largest backend message reassembled from fragments; larger ones are dropped.
pub(super) const MAX_BACKEND_MESSAGE: usize = 2 * MAX_MESSAGE;
/// Heartbeat period (1.36 `KEEPALIVE_TIMEOUT`).
pub(super) const HEARTBEAT: Duration = Duration::from_secs(25);
/// How often liveness is checked and the backend session told we are here.
pub(super) const TICK: Duration = Duration::from_secs(5);
/// Client silence after which it is taken as gone (`spec/zhttp.md` §6.7).
pub(super) const PEER_TIMEOUT: Duration = Duration::from_secs(60);
/// Idle time after which the client gets a keep-alive (`spec/zhttp.md` §6.7).
pub(super) const KEEP_ALIVE: Duration = Duration::from_secs(45);

/// A WebSocket packet on its way to the client.
struct Out {
    packet: Packet,
    /// Backend message bytes to credit back once written.
    credit: usize,
}

/// A client message on its way to the backend session.
pub(super) enum In {
    /// A text message.
    Message(Bytes),
    /// The client's close.
    Close(Option<u16>, Option<Bytes>),
    /// Client frame bytes to credit back (after the messages before it went).
    Credit(usize),
}

struct Framed<'a> {
    real: &'a mut Conn,
    peer: Peer,
    /// What the backend session sends its "client".
    vrx: mpsc::Receiver<Packet>,
    accepted: bool,
    real_gone: bool,
    /// The client's handshake was answered with an error.
    rejected: bool,
    to_client: VecDeque<Out>,
    to_backend: VecDeque<In>,
    /// A backend message in fragments.
    partial: Option<BytesMut>,
    /// A client frame in fragments.
    incoming: Option<BytesMut>,
    /// The backend session cancelled us: drop the client.
    cancelled: bool,
}

fn text(body: Bytes) -> Packet {
    Packet {
        ptype: PacketType::Data,
        content_type: Some(ContentType::Text),
        body: Some(body),
        ..Packet::default()
    }
}

/// Takes the next packet for the client within `available` credits: a whole packet, or
/// the first part of a larger message as a fragment (the rest stays queued).
fn next_out(queue: &mut VecDeque<Out>, available: u32) -> Option<Out> {
    let front = queue.front_mut()?;
    let len = front.packet.body_bytes().len();
    let available = available as usize;
    if front.packet.ptype != PacketType::Data || len <= available {
        return queue.pop_front();
    }
    if available == 0 {
        return None;
    }
    let part = front.packet.body.as_mut()?.split_to(available);
    Some(Out {
        packet: Packet {
            ptype: PacketType::Data,
            content_type: front.packet.content_type.take(),
            body: Some(part),
            more: true,
            ..Packet::default()
        },
        credit: 0,
    })
}

/// Moves client messages to the backend session as its credits allow; client bytes to
/// credit back are added to `grant`.
pub(super) fn move_to_backend(queue: &mut VecDeque<In>, peer: &mut Peer, grant: &mut usize) {
    while let Some(front) = queue.front() {
        match front {
            In::Message(m) => {
                if !peer.message(m) {
                    break;
                }
            }
            In::Close(code, reason) => peer.close(*code, reason.clone()),
            In::Credit(n) => *grant = grant.saturating_add(*n),
        }
        queue.pop_front();
    }
}

/// Runs a framed SockJS session over the client's WebSocket `real`.
pub(super) async fn framed(mut real: Conn, client: ClientRequest, route: Route) {
    let (vconn, peer, vrx) = virt::pair(real.shared.clone(), real.id.clone(), WINDOW);
    let fwd = crate::session::forward_websocket(vconn, client, route);
    let mut f = Framed {
        real: &mut real,
        peer,
        vrx,
        accepted: false,
        real_gone: false,
        rejected: false,
        to_client: VecDeque::new(),
        to_backend: VecDeque::new(),
        partial: None,
        incoming: None,
        cancelled: false,
    };
    f.run(fwd).await;
}

impl Framed<'_> {
    async fn run(&mut self, fwd: impl Future<Output = ()>) {
        tokio::pin!(fwd);
        let mut fwd_done = false;
        let mut tick = tokio::time::interval(TICK);
        let mut heartbeat: Option<tokio::time::Interval> = None;
        loop {
            if !self.pump().await {
                self.client_gone();
            }
            tokio::select! {
                () = &mut fwd, if !fwd_done => fwd_done = true,
                p = self.vrx.recv() => match p {
                    Some(p) => {
                        if !self.backend_packet(p, &mut heartbeat).await {
                            self.client_gone();
                        }
                    }
                    // the backend session is over and all it said has been read
                    None => break,
                },
                ev = self.real.recv(), if !self.real_gone && !self.rejected => {
                    if !self.client_event(ev).await {
                        self.client_gone();
                    }
                }
                () = virt::writable(self.peer.inbox()), if self.peer.backlogged() => {}
                _ = async {
                    match heartbeat.as_mut() {
                        Some(h) => h.tick().await,
                        None => std::future::pending().await,
                    }
                } => self.to_client.push_back(Out {
                    packet: text(Bytes::from_static(frame::HEARTBEAT)),
                    credit: 0,
                }),
                _ = tick.tick() => {
                    self.peer.keep_alive();
                    if !self.real_gone && !self.liveness().await {
                        self.client_gone();
                    }
                }
            }
        }
        // finish writing what the backend said, within a bound
        if !self.real_gone && !self.cancelled {
            let deadline = Instant::now() + PEER_TIMEOUT;
            loop {
                if !self.pump().await || self.to_client.is_empty() {
                    break;
                }
                match tokio::time::timeout_at(deadline.into(), self.real.recv()).await {
                    Ok(ConnEvent::Gone) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        }
        if self.cancelled && !self.real_gone {
            self.real.cancel().await;
        }
    }

    /// The client went away (or was dropped): the backend session hears it.
    fn client_gone(&mut self) {
        self.real_gone = true;
        self.peer.cancel();
    }

    async fn liveness(&mut self) -> bool {
        let now = Instant::now();
        if now.duration_since(self.real.last_recv) > PEER_TIMEOUT {
            debug!("sockjs client silent too long");
            return false;
        }
        if self.accepted && now.duration_since(self.real.last_sent) >= KEEP_ALIVE {
            return self.real.keep_alive(false).await;
        }
        true
    }

    /// Writes what can go: to the client within its credits, to the backend session
    /// within its. `false` when the client went away.
    async fn pump(&mut self) -> bool {
        while self.accepted && !self.real_gone {
            let Some(p) = next_out(&mut self.to_client, self.real.out_credits.available()) else {
                break;
            };
            let (p, credit) = (p.packet, p.credit);
            let _ = self.real.out_credits.take(p.body_bytes().len());
            let mut packet = self.real.packet(p.ptype.clone());
            packet.body = p.body;
            packet.more = p.more;
            packet.content_type = p.content_type;
            packet.code = p.code;
            if !self.real.send(packet).await {
                return false;
            }
            self.peer.credit(credit);
        }
        let mut grant = 0usize;
        move_to_backend(&mut self.to_backend, &mut self.peer, &mut grant);
        self.peer.flush();
        if grant > 0 && !self.real_gone {
            let n = u32::try_from(grant).unwrap_or(u32::MAX);
            if !self.real.grant(n).await {
                return false;
            }
        }
        true
    }

    /// A packet the backend session sent its "client". `false` when the client went away.
    async fn backend_packet(
        &mut self,
        p: Packet,
        heartbeat: &mut Option<tokio::time::Interval>,
    ) -> bool {
        self.peer.absorb(&p);
        match p.ptype {
            PacketType::Data if p.code.is_some() && !self.accepted => {
                if self.real_gone {
                    return true;
                }
                // the backend's accept answers the client's handshake, then `o`
                let mut a = self.real.packet(PacketType::Data);
                a.code = p.code;
                a.reason = p.reason.clone();
                a.headers = p.headers.clone();
                a.credits = Some(WINDOW);
                self.real.in_window.grant(WINDOW);
                if !self.real.send(a).await {
                    return false;
                }
                self.accepted = true;
                self.to_client.push_front(Out {
                    packet: text(Bytes::from_static(frame::OPEN)),
                    credit: 0,
                });
                let start = tokio::time::Instant::now() + HEARTBEAT;
                *heartbeat = Some(tokio::time::interval_at(start, HEARTBEAT));
            }
            PacketType::Data => {
                let n = p.body_bytes().len();
                let buf = self.partial.get_or_insert_with(BytesMut::new);
                buf.extend_from_slice(p.body_bytes());
                if p.more {
                    // fragments are credited as they come, so any size can complete
                    self.peer.credit(n);
                    return true;
                }
                let msg = self.partial.take().unwrap_or_default();
                if msg.len() > MAX_BACKEND_MESSAGE {
                    debug!(
                        bytes = msg.len(),
                        "backend message too large for sockjs; dropped"
                    );
                    self.peer.credit(n);
                    return true;
                }
                self.to_client.push_back(Out {
                    packet: text(frame::messages([msg.as_ref()])),
                    credit: n,
                });
            }
            PacketType::Close => {
                // nothing may follow a close, heartbeats included
                *heartbeat = None;
                self.to_client.push_back(Out {
                    packet: Packet {
                        ptype: PacketType::Close,
                        code: p.code,
                        body: p.body.filter(|b| !b.is_empty()),
                        ..Packet::default()
                    },
                    credit: 0,
                });
            }
            PacketType::Error
                if p.condition == Some(Condition::Rejected)
                    && !self.accepted
                    && !self.real_gone =>
            {
                // the backend refused (or no target answered): relay the answer
                self.rejected = true;
                let mut e = self.real.packet(PacketType::Error);
                e.condition = p.condition;
                e.code = p.code;
                e.reason = p.reason;
                e.headers = p.headers;
                e.body = p.body;
                return self.real.send(e).await;
            }
            PacketType::Error | PacketType::Cancel => self.cancelled = true,
            // pings and pongs are not relayed in this mode (1.36)
            _ => {}
        }
        true
    }

    /// An event from the client's WebSocket. `false` when the session must end (client
    /// gone, or a malformed frame: 1.36 drops both sides).
    async fn client_event(&mut self, ev: ConnEvent) -> bool {
        let (data, more) = match ev {
            ConnEvent::Gone => return false,
            ConnEvent::Credit | ConnEvent::HandoffProceed => return true,
            ConnEvent::Body { data, more } => (data, more),
            ConnEvent::Ws(p) => match p.ptype {
                PacketType::Data => (p.body.clone().unwrap_or_default(), p.more),
                PacketType::Close => {
                    self.to_backend.push_back(In::Close(p.code, p.body.clone()));
                    return true;
                }
                // pings and pongs are dropped (1.36)
                _ => return true,
            },
        };
        let buf = self.incoming.get_or_insert_with(BytesMut::new);
        buf.extend_from_slice(&data);
        if buf.len() > 2 * MAX_MESSAGE {
            debug!("sockjs client frame too large; ending session");
            self.real.cancel().await;
            return false;
        }
        if more {
            return true;
        }
        let wrapped = self.incoming.take().unwrap_or_default();
        match frame::parse_messages(&wrapped) {
            Ok(messages) => {
                self.to_backend
                    .extend(messages.into_iter().map(In::Message));
                self.to_backend.push_back(In::Credit(wrapped.len()));
                true
            }
            Err(e) => {
                debug!(error = %e, "bad sockjs client frame; ending session");
                self.real.cancel().await;
                false
            }
        }
    }
}
