//! The translation state machine between mongrel2 connections and ZHTTP sessions
//! (`spec/mongrel2.md` §7.4), with no I/O: each input (a mongrel2 request frame, a
//! ZHTTP packet from a responder, a timer tick) appends [`Output`]s the caller sends.
//!
//! Transitions of one mongrel2 connection and its current session:
//!
//! ```text
//! first request (HTTP or WebSocket handshake) ─▶ new session, first packet (PUSH)
//!   upload chunks ─▶ data packets (held while the responder is unknown or in handoff)
//!   responder packets: learn/refresh its address, check `seq`
//!   first data packet ─▶ response head (101 for WebSockets), then body items queued
//!   queued items ─▶ written to mongrel2 within its download credits
//!   mongrel2 `credits` event ─▶ ZHTTP `credit` for the body bytes written
//!   data without `more` ─▶ session ends; the connection stays (persistent) or closes
//!   `handoff-start` ─▶ `handoff-proceed`; nothing sent until the new owner speaks
//!   `cancel`/`error` from the responder ─▶ close the client connection
//!   mongrel2 `disconnect` ─▶ `cancel` (or nothing if the responder is still unknown)
//!   WebSocket close both ways ─▶ session ends, connection closed
//!   60 s without responder activity ─▶ session ends, connection closed
//! ```
//!
//! Memory: the response bytes queued per connection are bounded by the credits the
//! responder was given (the connection's download window, or `m2_client_buffer`), and
//! upload bytes held during a hand-off by the upload credits granted; sessions are
//! bounded by `max_open_requests`, connections by mongrel2's own limit.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use pushpin_mongrel2::http::{self, CHUNK_FRAMING_RESERVE, Persistence};
use pushpin_mongrel2::{ConnId, CtlArg};
use pushpin_zhttp::{Condition, Ext, Id, IdSeq, Ids, Packet, PacketType};
use tracing::warn;

mod from_m2;
mod from_zhttp;

/// A session with no responder activity for this long is ended (m2adapter's `ZHTTP_EXPIRE`).
pub(crate) const SESSION_EXPIRE: Duration = Duration::from_secs(60);

/// How often a responder gets a `keep-alive` for a quiet session (m2adapter refreshes
/// each session within `ZHTTP_EXPIRE * 3 / 4`).
pub(crate) const SESSION_REFRESH: Duration = Duration::from_secs(45);

/// How often mongrel2 gets a `ctl keep-alive` per connection, below its 120 s
/// `limits.min_ping` (`spec/mongrel2.md` §5.4; m2adapter's `M2_CONNECTION_SHOULD_PROCESS`).
pub(crate) const CONN_REFRESH: Duration = Duration::from_secs(90);

/// Largest piece of a response body written in one message when mongrel2 gives no
/// download credits (m2adapter's "some reasonable max").
const UNLIMITED_CHUNK: usize = 200_000;

/// Which ZHTTP socket set a session uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Mode {
    /// `zhttp_*` sockets, `from` = `m2zhttp_<pid>`.
    Http,
    /// `zws_*` sockets, `from` = `m2zws_<pid>`.
    Ws,
}

/// Something to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Output {
    /// One frame for the PUB socket of mongrel2 handler `index`.
    M2 {
        /// Index into the configured send idents.
        index: usize,
        /// The whole frame.
        frame: Bytes,
    },
    /// A ZHTTP packet: to the responder `to` over ROUTER, or over PUSH when `None`
    /// (a session's first packet).
    Zhttp {
        /// Which socket set.
        mode: Mode,
        /// The responder's address.
        to: Option<Bytes>,
        /// The encoded packet.
        payload: Bytes,
    },
}

/// Fixed settings of the translation.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// mongrel2 `send_ident` per handler, in config order.
    pub(crate) idents: Vec<Bytes>,
    /// Our ZHTTP address for HTTP sessions.
    pub(crate) from_http: Bytes,
    /// Our ZHTTP address for WebSocket sessions.
    pub(crate) from_ws: Bytes,
    /// Credits offered when mongrel2 gives no `DOWNLOAD_CREDITS` (`m2_client_buffer`).
    pub(crate) client_buffer: u32,
    /// Most sessions open at once (`max_open_requests`), if limited.
    pub(crate) max_sessions: Option<usize>,
}

type ConnKey = (usize, ConnId);

enum Item {
    Headers(Bytes),
    Response { data: BytesMut, chunked: bool },
    Frame { data: Bytes, content: usize },
    Close,
}

struct Conn {
    index: usize,
    id: ConnId,
    credits_enabled: bool,
    out_credits: i64,
    flow_control: bool,
    pending: VecDeque<Item>,
    /// (wire bytes, body bytes) of messages written but not yet credited back.
    written: VecDeque<(usize, usize)>,
    session: Option<Bytes>,
    next_sub: u64,
    continuation: bool,
    last_refresh: Instant,
}

struct Session {
    mode: Mode,
    id: Bytes,
    conn: Option<ConnKey>,
    to: Option<Bytes>,
    out_seq: u32,
    in_seq: u32,
    method: Bytes,
    persistence: Persistence,
    chunked: bool,
    headers_only: bool,
    sent_header: bool,
    accept_token: Bytes,
    down_closed: bool,
    up_closed: bool,
    read_count: u64,
    in_finished: bool,
    pending_in: BytesMut,
    pending_in_packets: Vec<Packet>,
    pending_in_credits: u32,
    in_handoff: bool,
    error_condition: Option<Condition>,
    last_active: Instant,
    last_refresh: Instant,
}

/// All connections and sessions.
pub(crate) struct Core {
    settings: Settings,
    conns: HashMap<ConnKey, Conn>,
    sessions: HashMap<Bytes, Session>,
    out: Vec<Output>,
}

impl Core {
    pub(crate) fn new(settings: Settings) -> Self {
        Self {
            settings,
            conns: HashMap::new(),
            sessions: HashMap::new(),
            out: Vec::new(),
        }
    }

    /// Takes what is to be sent.
    pub(crate) fn drain(&mut self) -> std::vec::Drain<'_, Output> {
        self.out.drain(..)
    }

    /// Sessions open (for tests and logs).
    pub(crate) fn session_count(&self) -> usize {
        self.sessions.len()
    }

    fn from(&self, mode: Mode) -> Bytes {
        match mode {
            Mode::Http => self.settings.from_http.clone(),
            Mode::Ws => self.settings.from_ws.clone(),
        }
    }

    // ---- mongrel2 side: writing -------------------------------------------------

    fn m2_frame(&mut self, index: usize, frame: BytesMut) {
        self.out.push(Output::M2 {
            index,
            frame: frame.freeze(),
        });
    }

    fn m2_ctl(&mut self, index: usize, ids: &[ConnId], args: &[CtlArg]) {
        let Some(sender) = self.settings.idents.get(index).cloned() else {
            return;
        };
        let mut buf = BytesMut::new();
        pushpin_mongrel2::write_ctl(&mut buf, &sender, ids, args);
        self.m2_frame(index, buf);
    }

    fn m2_close_raw(&mut self, index: usize, id: ConnId) {
        let Some(sender) = self.settings.idents.get(index).cloned() else {
            return;
        };
        let mut buf = BytesMut::new();
        pushpin_mongrel2::write_close(&mut buf, &sender, &[id]);
        self.m2_frame(index, buf);
    }

    /// `ctl cancel` for a connection, which is forgotten.
    fn m2_cancel(&mut self, key: ConnKey) {
        self.m2_ctl(key.0, &[key.1], &[CtlArg::Cancel]);
        self.conns.remove(&key);
    }

    /// Empty message (close) for a connection, which is forgotten.
    fn m2_close(&mut self, key: ConnKey) {
        self.m2_close_raw(key.0, key.1);
        self.conns.remove(&key);
    }

    fn queue(&mut self, key: ConnKey, item: Item, now: Instant) {
        let Some(conn) = self.conns.get_mut(&key) else {
            return;
        };
        if let Item::Response { data, chunked } = &item {
            if data.is_empty() && !chunked {
                return;
            }
            if let Some(Item::Response {
                data: last,
                chunked: last_chunked,
            }) = conn.pending.back_mut()
            {
                let last_is_zero_chunk = *last_chunked && last.is_empty();
                if *last_chunked == *chunked && !last_is_zero_chunk {
                    last.extend_from_slice(data);
                    return;
                }
            }
        }
        let try_write = conn.pending.is_empty();
        conn.pending.push_back(item);
        if try_write {
            self.try_write(key, now);
        }
    }

    fn can_write(conn: &Conn) -> bool {
        !conn.flow_control || !conn.credits_enabled || conn.out_credits > 0
    }

    /// Writes queued items within the connection's credits.
    fn try_write(&mut self, key: ConnKey, now: Instant) {
        loop {
            let Some(conn) = self.conns.get_mut(&key) else {
                return;
            };
            if !Self::can_write(conn) {
                return;
            }
            let Some(item) = conn.pending.front_mut() else {
                return;
            };
            let (data, content) = match item {
                Item::Headers(_) | Item::Frame { .. } | Item::Close => {
                    match conn.pending.pop_front() {
                        Some(Item::Headers(h)) => (h, 0),
                        Some(Item::Frame { data, content }) => (data, content),
                        _ => {
                            self.m2_close(key);
                            return;
                        }
                    }
                }
                Item::Response { data, chunked } => {
                    let max = if conn.credits_enabled {
                        let reserve = if *chunked { CHUNK_FRAMING_RESERVE } else { 0 };
                        usize::try_from(conn.out_credits)
                            .unwrap_or(0)
                            .saturating_sub(reserve)
                    } else {
                        UNLIMITED_CHUNK
                    };
                    if max == 0 {
                        return;
                    }
                    let part = data.split_to(max.min(data.len()));
                    let content = part.len();
                    let wire = if *chunked {
                        let mut b = BytesMut::new();
                        http::write_chunk(&mut b, &part);
                        b.freeze()
                    } else {
                        part.freeze()
                    };
                    if data.is_empty() {
                        conn.pending.pop_front();
                    }
                    (wire, content)
                }
            };
            if conn.credits_enabled {
                conn.out_credits = conn
                    .out_credits
                    .saturating_sub(i64::try_from(data.len()).unwrap_or(i64::MAX));
            }
            conn.written.push_back((data.len(), content));
            let index = conn.index;
            let id = conn.id;
            let immediate = !conn.flow_control || !conn.credits_enabled;
            let Some(sender) = self.settings.idents.get(index).cloned() else {
                return;
            };
            let mut buf = BytesMut::new();
            pushpin_mongrel2::write_data(&mut buf, &sender, &[id], &data);
            self.m2_frame(index, buf);
            if immediate {
                self.bytes_written(key, data.len(), now);
            }
        }
    }

    /// mongrel2 wrote `written` bytes of this connection: the body bytes among them
    /// become credits for the responder.
    fn bytes_written(&mut self, key: ConnKey, written: usize, now: Instant) {
        let Some(conn) = self.conns.get_mut(&key) else {
            return;
        };
        let mut left = written;
        let mut body = 0usize;
        while left > 0 {
            let Some(front) = conn.written.front_mut() else {
                break;
            };
            if left >= front.0 {
                left -= front.0;
                body = body.saturating_add(front.1);
                conn.written.pop_front();
            } else {
                front.0 -= left;
                left = 0;
            }
        }
        let Some(sid) = conn.session.clone() else {
            return;
        };
        if body == 0 {
            return;
        }
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        s.last_active = now;
        s.pending_in_credits = s
            .pending_in_credits
            .saturating_add(u32::try_from(body).unwrap_or(u32::MAX));
        if s.in_handoff || s.to.is_none() {
            return;
        }
        let mut p = Packet::new(PacketType::Credit);
        p.credits = Some(std::mem::take(&mut s.pending_in_credits));
        self.send(&sid, p);
    }

    // ---- ZHTTP side: writing ----------------------------------------------------

    fn address(&mut self, sid: &Bytes, mut p: Packet) -> Option<(Mode, Option<Bytes>, Packet)> {
        let from = {
            let s = self.sessions.get(sid)?;
            self.from(s.mode)
        };
        let s = self.sessions.get_mut(sid)?;
        p.from = from;
        p.ids = Ids::One(Id(s.id.clone()));
        p.seq = Some(s.out_seq);
        s.out_seq = s.out_seq.wrapping_add(1);
        Some((s.mode, s.to.clone(), p))
    }

    /// Sends a later packet of a session to its responder.
    fn send(&mut self, sid: &Bytes, p: Packet) {
        let Some((mode, Some(to), p)) = self.address(sid, p) else {
            return;
        };
        self.out.push(Output::Zhttp {
            mode,
            to: Some(to),
            payload: p.to_bytes(),
        });
    }

    fn send_first(&mut self, sid: &Bytes, mut p: Packet) {
        p.ext = Ext {
            multi: true,
            quiet: false,
        };
        let Some((mode, _, p)) = self.address(sid, p) else {
            return;
        };
        self.out.push(Output::Zhttp {
            mode,
            to: None,
            payload: p.to_bytes(),
        });
    }

    fn destroy_session(&mut self, sid: &Bytes) -> Option<Session> {
        let s = self.sessions.remove(sid)?;
        if let Some(key) = s.conn
            && let Some(conn) = self.conns.get_mut(&key)
            && conn.session.as_ref() == Some(sid)
        {
            conn.session = None;
        }
        Some(s)
    }

    fn destroy_session_and_close(&mut self, sid: &Bytes) {
        if let Some(s) = self.destroy_session(sid)
            && let Some(key) = s.conn
        {
            self.m2_close(key);
        }
    }

    /// The client went away (or the connection was refused mid-session).
    fn end_session(&mut self, sid: &Bytes, condition: Option<Condition>) {
        let Some(s) = self.sessions.get_mut(sid) else {
            return;
        };
        if s.in_handoff || s.to.is_none() {
            // Tell the responder once it speaks again.
            if condition.is_some() {
                s.error_condition = condition;
            }
            s.conn = None;
            return;
        }
        let p = match condition {
            Some(c) => {
                let mut p = Packet::new(PacketType::Error);
                p.condition = Some(c);
                p
            }
            None => Packet::new(PacketType::Cancel),
        };
        self.send(sid, p);
        self.destroy_session(sid);
    }

    // ---- timers -----------------------------------------------------------------

    /// Keep-alives to responders and mongrel2, and session expiry. Call about once
    /// a second.
    pub(crate) fn tick(&mut self, now: Instant) {
        let expired: Vec<Bytes> = self
            .sessions
            .values()
            .filter(|s| now.saturating_duration_since(s.last_active) >= SESSION_EXPIRE)
            .map(|s| s.id.clone())
            .collect();
        for sid in expired {
            warn!(id = %String::from_utf8_lossy(&sid), "timing out request");
            self.destroy_session_and_close(&sid);
        }

        let due: Vec<Bytes> = self
            .sessions
            .values_mut()
            .filter(|s| {
                s.to.is_some()
                    && !s.in_handoff
                    && now.saturating_duration_since(s.last_refresh) >= SESSION_REFRESH
            })
            .map(|s| {
                s.last_refresh = now;
                s.id.clone()
            })
            .collect();
        for sid in due {
            self.send(&sid, Packet::new(PacketType::KeepAlive));
        }

        let mut by_index: HashMap<usize, Vec<ConnId>> = HashMap::new();
        for conn in self.conns.values_mut() {
            if now.saturating_duration_since(conn.last_refresh) >= CONN_REFRESH {
                conn.last_refresh = now;
                by_index.entry(conn.index).or_default().push(conn.id);
            }
        }
        for (index, ids) in by_index {
            for batch in ids.chunks(pushpin_mongrel2::DEFAULT_MAX_TARGETS) {
                self.m2_ctl(index, batch, &[CtlArg::KeepAlive]);
            }
        }
    }

    /// At shutdown: `cancel` to every responder that knows its session, and close
    /// every mongrel2 connection.
    pub(crate) fn shutdown(&mut self) {
        let sids: Vec<Bytes> = self.sessions.keys().cloned().collect();
        for sid in sids {
            if self.sessions.get(&sid).is_some_and(|s| s.to.is_some()) {
                self.send(&sid, Packet::new(PacketType::Cancel));
            }
            self.sessions.remove(&sid);
        }
        let keys: Vec<ConnKey> = self.conns.keys().copied().collect();
        for key in keys {
            self.m2_close(key);
        }
    }
}

/// Splits a packet addressed to several sessions (batched `keep-alive`/`cancel`)
/// into one packet per session.
pub(crate) fn split_ids(p: Packet) -> Vec<Packet> {
    match &p.ids {
        Ids::Many(list) => {
            let list: Vec<IdSeq> = list.clone();
            list.into_iter()
                .map(|IdSeq { id, seq }| {
                    let mut one = p.clone();
                    one.ids = Ids::One(id);
                    one.seq = seq;
                    one
                })
                .collect()
        }
        _ => vec![p],
    }
}

#[cfg(test)]
mod tests;
