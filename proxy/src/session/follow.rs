//! A session that joined a shared origin request (`crate::sharing`, `spec/internal.md`
//! §4.3): it relays what the leader sends its own client, re-framed under this
//! session's sequence numbers and credits, pauses for a joint accept when asked, and
//! keeps its client alive meanwhile.
//!
//! The leader carries on when its own client leaves (`Conn::recv`). If the leader still
//! ends before this client got any of the response (say, its hand-off failed), the
//! session is *orphaned* and proxies on its own; once the response started, its client
//! is cut off instead.

use std::time::{Duration, Instant};

use pushpin_zhttp::{Packet, PacketType};
use tracing::debug;

use super::Request;
use super::body::Chunks;
use super::conn::{Conn, ConnEvent};
use super::handoff::{pause_own, request_state};
use super::respond;
use super::upstream::{KEEP_ALIVE, PEER_TIMEOUT};
use crate::sharing::{Feed, Member};

/// Relayed body waiting for client credits before the feed is read again.
const MAX_PENDING: usize = 200_000;

/// How following ended.
pub(crate) enum FollowEnd {
    /// The response was relayed (or the client cut off).
    Done,
    /// The handler took the session.
    Accepted,
    /// The client went away.
    Gone,
    /// The leader went away before anything was relayed: proxy alone.
    Orphaned,
}

/// The response as relayed to this client.
#[derive(Default)]
struct Relay {
    head_sent: bool,
    pending: Chunks,
    end_seen: bool,
    end_sent: bool,
    code: u16,
    bytes: usize,
    /// An `error` or `cancel` went out.
    failed: bool,
    paused: bool,
}

impl Relay {
    fn started(&self) -> bool {
        self.head_sent || self.failed
    }

    fn finished(&self) -> bool {
        self.end_sent || self.failed
    }

    /// Takes one template from the leader; `false` when the client is gone.
    async fn take(&mut self, conn: &mut Conn, t: Packet) -> bool {
        match t.ptype {
            PacketType::Data if !self.head_sent && t.code.is_some() => {
                self.code = t.code.unwrap_or(0);
                self.pending.push(t.body.clone().unwrap_or_default());
                self.end_seen = !t.more;
                let n = conn.out_credits.take(self.pending.len());
                let mut p = readdress(conn, t);
                p.body = Some(self.pending.take(n));
                p.more = !(self.end_seen && self.pending.is_empty());
                self.end_sent = !p.more;
                self.head_sent = true;
                self.bytes += n;
                conn.send(p).await
            }
            PacketType::Data if self.head_sent => {
                self.pending.push(t.body.unwrap_or_default());
                self.end_seen = !t.more;
                true
            }
            PacketType::Error => {
                self.failed = true;
                let p = readdress(conn, t);
                conn.send(p).await
            }
            PacketType::Cancel => {
                self.failed = true;
                conn.cancel().await;
                true
            }
            _ => true,
        }
    }

    /// Sends what the client has credits for, and the end once everything went.
    async fn flush(&mut self, conn: &mut Conn) -> bool {
        if !self.head_sent || self.end_sent {
            return true;
        }
        while !self.pending.is_empty() && conn.out_credits.available() > 0 {
            let n = conn.out_credits.take(self.pending.len());
            let mut p = conn.packet(PacketType::Data);
            p.body = Some(self.pending.take(n));
            p.more = !(self.end_seen && self.pending.is_empty());
            self.end_sent = !p.more;
            self.bytes += n;
            if !conn.send(p).await {
                return false;
            }
        }
        if self.end_seen && self.pending.is_empty() && !self.end_sent {
            self.end_sent = true;
            return conn.send(conn.packet(PacketType::Data)).await;
        }
        true
    }
}

/// The leader's packet addressed to this session.
fn readdress(conn: &Conn, mut t: Packet) -> Packet {
    let base = conn.packet(t.ptype.clone());
    t.from = base.from;
    t.ids = base.ids;
    t.seq = None;
    t.credits = None;
    t
}

/// Relays the shared response to this session's client.
pub(crate) async fn follow(conn: &mut Conn, req: &Request, member: Member) -> FollowEnd {
    let Member {
        group,
        history,
        mut feed,
    } = member;
    let mut relay = Relay::default();
    for t in history {
        if !relay.take(conn, t).await {
            return FollowEnd::Gone;
        }
    }
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        if !relay.flush(conn).await {
            return FollowEnd::Gone;
        }
        if relay.finished() {
            let outcome = if relay.failed {
                "error".to_string()
            } else {
                format!("code={} {}", relay.code, relay.bytes)
            };
            respond::log_request(conn, req, &group.target(), &outcome);
            return FollowEnd::Done;
        }
        tokio::select! {
            f = feed.recv(), if relay.pending.len() < MAX_PENDING => match f {
                None if relay.started() => {
                    debug!("shared response ended early; cancelling the client");
                    conn.cancel().await;
                    respond::log_request(conn, req, &group.target(), "error");
                    return FollowEnd::Done;
                }
                None => return FollowEnd::Orphaned,
                Some(Feed::Packet(t)) => {
                    // after a pause the leader's packets resume the session
                    relay.paused = false;
                    if !relay.take(conn, *t).await {
                        return FollowEnd::Gone;
                    }
                }
                Some(Feed::Pause(reply)) => {
                    if pause_own(conn).await.is_none() {
                        return FollowEnd::Gone;
                    }
                    relay.paused = true;
                    let mut state = request_state(conn, req);
                    if relay.head_sent {
                        state.response_code = Some(relay.code);
                    }
                    // the leader may have given up waiting; then the feed ends soon
                    let _ = reply.send(state);
                }
                Some(Feed::Accepted) => {
                    respond::log_request(conn, req, &group.target(), "accept");
                    return FollowEnd::Accepted;
                }
            },
            ev = conn.recv(), if !relay.paused => match ev {
                ConnEvent::Gone => return FollowEnd::Gone,
                ConnEvent::Body { .. } | ConnEvent::Credit | ConnEvent::HandoffProceed | ConnEvent::Ws(_) => {}
            },
            _ = tick.tick() => {
                let now = Instant::now();
                if !relay.paused && now.duration_since(conn.last_recv) > PEER_TIMEOUT {
                    debug!("client silent too long; ending session");
                    conn.cancel().await;
                    return FollowEnd::Gone;
                }
                if !relay.paused
                    && now.duration_since(conn.last_sent) >= KEEP_ALIVE
                    && !conn.keep_alive(false).await
                {
                    return FollowEnd::Gone;
                }
            }
        }
    }
}
