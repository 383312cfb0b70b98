//! Packets from responders (the proxy, then the handler after a hand-off): the
//! response head and body, WebSocket messages and control frames, credits, hand-off,
//! cancel and error (`spec/mongrel2.md` §7.4 "ZHTTP → mongrel2").

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use pushpin_mongrel2::http::{self, BodyInfo};
use pushpin_mongrel2::{CtlArg, ws};
use pushpin_zhttp::{Condition, Id, Ids, Packet, PacketType};
use tracing::{debug, info, warn};

use super::{ConnKey, Core, Item, Mode, Output};

impl Core {
    /// Handles one packet (already split per id) from a responder.
    pub(crate) fn on_zhttp(&mut self, mode: Mode, p: Packet, now: Instant) {
        let Some(id) = p.id().map(|i| i.0.clone()) else {
            return;
        };
        let is_error = p.ptype == PacketType::Error;
        let known = self.sessions.get(&id).is_some_and(|s| s.mode == mode);
        if !known {
            debug!(id = %String::from_utf8_lossy(&id), "zhttp: packet for unknown session, canceling");
            if !is_error && !p.from.is_empty() {
                let mut c = Packet::new(PacketType::Cancel);
                c.from = self.from(mode);
                c.ids = Ids::One(Id(id));
                self.out.push(Output::Zhttp {
                    mode,
                    to: Some(p.from.clone()),
                    payload: c.to_bytes(),
                });
            }
            return;
        }
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        let seq = p.seq;
        if s.in_seq == 0 && s.to.is_none() {
            let sequenced = (!is_error && p.ptype != PacketType::Data)
                || (p.ptype == PacketType::Data && p.more);
            if sequenced {
                if p.from.is_empty() {
                    warn!("zhttp: first response of sequence with no from address, canceling");
                    return self.destroy_session_and_close(&id);
                }
                s.to = Some(p.from.clone());
                if seq.is_some_and(|n| n != 0) {
                    warn!("zhttp: first response of sequence without valid seq, canceling");
                    self.send(&id, Packet::new(PacketType::Cancel));
                    return self.destroy_session_and_close(&id);
                }
            } else {
                if !p.from.is_empty() {
                    s.to = Some(p.from.clone());
                }
                if seq.is_some_and(|n| n != 0) {
                    warn!("zhttp: response out of sequence, canceling");
                    if s.to.is_some() {
                        self.send(&id, Packet::new(PacketType::Cancel));
                    }
                    return self.destroy_session_and_close(&id);
                }
            }
        } else {
            if let Some(n) = seq
                && n != s.in_seq
            {
                warn!(
                    got = n,
                    expected = s.in_seq,
                    "zhttp: response out of sequence, canceling"
                );
                self.send(&id, Packet::new(PacketType::Cancel));
                return self.destroy_session_and_close(&id);
            }
            if !p.from.is_empty() {
                s.to = Some(p.from.clone());
            }
        }
        if seq.is_some() {
            s.in_seq = s.in_seq.wrapping_add(1);
        }
        s.last_active = now;

        // A session without a connection only waits to report how it ended.
        let Some(key) = s.conn else {
            let ptype = if s.error_condition.is_some() {
                PacketType::Error
            } else {
                PacketType::Cancel
            };
            let condition = s.error_condition.take();
            if s.to.is_some() {
                let mut e = Packet::new(ptype);
                e.condition = condition;
                self.send(&id, e);
            }
            self.destroy_session(&id);
            return;
        };

        if s.in_handoff {
            s.in_handoff = false;
            s.last_refresh = now;
            let mut queued: Vec<Packet> = Vec::new();
            if s.mode == Mode::Http {
                if !s.pending_in.is_empty() {
                    let mut d = Packet::new(PacketType::Data);
                    if s.pending_in_credits > 0 {
                        d.credits = Some(std::mem::take(&mut s.pending_in_credits));
                    }
                    d.body = Some(std::mem::take(&mut s.pending_in).freeze());
                    d.more = !s.in_finished;
                    queued.push(d);
                }
            } else {
                for mut d in std::mem::take(&mut s.pending_in_packets) {
                    if d.ptype == PacketType::Data && s.pending_in_credits > 0 {
                        d.credits = Some(std::mem::take(&mut s.pending_in_credits));
                    }
                    queued.push(d);
                }
            }
            if s.pending_in_credits > 0 {
                let mut c = Packet::new(PacketType::Credit);
                c.credits = Some(std::mem::take(&mut s.pending_in_credits));
                queued.push(c);
            }
            for q in queued {
                self.send(&id, q);
            }
        }

        match p.ptype {
            PacketType::Data => self.on_data(&id, key, p, now),
            PacketType::Error => {
                debug!(condition = ?p.condition, "zhttp: error from responder");
                if mode == Mode::Ws && p.condition == Some(Condition::Rejected) {
                    self.on_rejected(&id, key, &p, now);
                } else {
                    self.destroy_session_and_close(&id);
                }
            }
            PacketType::Credit => {
                if let Some(c) = p.credits.filter(|c| *c > 0) {
                    self.m2_ctl(key.0, &[key.1], &[CtlArg::Credits(c)]);
                }
            }
            PacketType::KeepAlive | PacketType::HandoffProceed => {}
            PacketType::Cancel => self.destroy_session_and_close(&id),
            PacketType::HandoffStart => {
                if let Some(s) = self.sessions.get_mut(&id) {
                    s.in_handoff = true;
                }
                self.send(&id, Packet::new(PacketType::HandoffProceed));
            }
            PacketType::Close | PacketType::Ping | PacketType::Pong => {
                self.on_ws_control(&id, key, &p, now);
            }
            PacketType::Unknown(_) => {
                warn!(ptype = %p.ptype, "zhttp: unsupported packet type");
            }
        }
    }

    fn on_data(&mut self, sid: &Bytes, key: ConnKey, p: Packet, now: Instant) {
        if let Some(c) = p.credits.filter(|c| *c > 0) {
            self.m2_ctl(key.0, &[key.1], &[CtlArg::Credits(c)]);
        }
        let Some(s) = self.sessions.get_mut(sid) else {
            return;
        };
        let body = p.body.clone().unwrap_or_default();
        if s.mode == Mode::Ws {
            if !s.sent_header {
                s.sent_header = true;
                let token = s.accept_token.clone();
                if let Some(conn) = self.conns.get_mut(&key) {
                    conn.flow_control = conn.credits_enabled;
                }
                let headers: Vec<(Bytes, Bytes)> = p
                    .header_list()
                    .iter()
                    .map(|h| (h.name.clone(), h.value.clone()))
                    .collect();
                let mut head = BytesMut::new();
                ws::write_accept_head(
                    &mut head,
                    p.reason.as_deref().unwrap_or_default(),
                    &headers,
                    &token,
                );
                self.queue(key, Item::Headers(head.freeze()), now);
            } else {
                let Some(conn) = self.conns.get_mut(&key) else {
                    return;
                };
                let opcode = if conn.continuation {
                    ws::OPCODE_CONTINUATION
                } else if p.is_binary() {
                    ws::OPCODE_BINARY
                } else {
                    ws::OPCODE_TEXT
                };
                conn.continuation = p.more;
                let mut frame = BytesMut::new();
                ws::write_frame(&mut frame, !p.more, opcode, &body);
                let content = body.len();
                self.queue(
                    key,
                    Item::Frame {
                        data: frame.freeze(),
                        content,
                    },
                    now,
                );
            }
            return;
        }

        let first = !s.sent_header;
        if !body.is_empty() || first {
            if first {
                s.sent_header = true;
                let code = p.code.unwrap_or(200);
                s.headers_only = s.method.as_ref() == b"HEAD" || code == 204 || code == 304;
                let headers: Vec<(Bytes, Bytes)> = p
                    .header_list()
                    .iter()
                    .map(|h| (h.name.clone(), h.value.clone()))
                    .collect();
                let prepared = http::prepare_response_headers(
                    &headers,
                    BodyInfo {
                        more: p.more,
                        len: body.len(),
                        headers_only: s.headers_only,
                    },
                    s.persistence,
                );
                s.chunked = prepared.chunked;
                s.persistence = prepared.persistence;
                if let Some(conn) = self.conns.get_mut(&key) {
                    conn.flow_control = conn.credits_enabled && p.more;
                }
                info!(
                    "OUT {} id={} code={} {}{}",
                    String::from_utf8_lossy(
                        self.settings.idents.get(key.0).map_or(&b""[..], |b| b)
                    ),
                    key.1.0,
                    code,
                    body.len(),
                    if p.more { " M" } else { "" }
                );
                let mut head = BytesMut::new();
                http::write_response_head(
                    &mut head,
                    code,
                    p.reason.as_deref().unwrap_or_default(),
                    prepared
                        .headers
                        .iter()
                        .map(|(n, v)| (n.as_ref(), v.as_ref())),
                );
                self.queue(key, Item::Headers(head.freeze()), now);
            }
            let Some(s) = self.sessions.get(sid) else {
                return;
            };
            if !body.is_empty() {
                if s.headers_only {
                    warn!("zhttp: unexpected response body, canceling");
                    let persistent = s.persistence.persistent;
                    self.send(sid, Packet::new(PacketType::Cancel));
                    self.destroy_session(sid);
                    if !persistent {
                        self.queue(key, Item::Close, now);
                    }
                    return;
                }
                let chunked = s.chunked;
                self.queue(
                    key,
                    Item::Response {
                        data: BytesMut::from(&body[..]),
                        chunked,
                    },
                    now,
                );
            }
        }
        let Some(s) = self.sessions.get(sid) else {
            return;
        };
        if !p.more {
            let chunked = s.chunked;
            let persistent = s.persistence.persistent;
            if chunked {
                self.queue(
                    key,
                    Item::Response {
                        data: BytesMut::new(),
                        chunked: true,
                    },
                    now,
                );
            }
            self.destroy_session(sid);
            if !persistent {
                self.queue(key, Item::Close, now);
            }
        }
    }

    fn on_rejected(&mut self, sid: &Bytes, key: ConnKey, p: &Packet, now: Instant) {
        if !self.sessions.contains_key(sid) {
            return;
        }
        // m2adapter adds `Connection: close` only for HTTP/1.1 *HTTP* sessions
        // (`allowChunked`), a flag WebSocket sessions never set.
        let http11 = false;
        let body = p.body.clone().unwrap_or_default();
        let headers: Vec<(Bytes, Bytes)> = p
            .header_list()
            .iter()
            .map(|h| (h.name.clone(), h.value.clone()))
            .collect();
        let prepared = http::prepare_rejection_headers(&headers, body.len(), http11);
        let mut head = BytesMut::new();
        http::write_response_head(
            &mut head,
            p.code.unwrap_or(403),
            p.reason.as_deref().unwrap_or_default(),
            prepared.iter().map(|(n, v)| (n.as_ref(), v.as_ref())),
        );
        self.queue(key, Item::Headers(head.freeze()), now);
        self.queue(
            key,
            Item::Response {
                data: BytesMut::from(&body[..]),
                chunked: false,
            },
            now,
        );
        self.destroy_session(sid);
        self.queue(key, Item::Close, now);
    }

    fn on_ws_control(&mut self, sid: &Bytes, key: ConnKey, p: &Packet, now: Instant) {
        let Some(s) = self.sessions.get_mut(sid) else {
            return;
        };
        let mut frame = BytesMut::new();
        let body = p.body.clone().unwrap_or_default();
        let content = match p.ptype {
            PacketType::Close => {
                s.up_closed = true;
                ws::write_close_frame(&mut frame, p.code, &body);
                body.len().saturating_add(2)
            }
            PacketType::Ping => {
                ws::write_frame(&mut frame, true, ws::OPCODE_PING, &body);
                body.len()
            }
            _ => {
                ws::write_frame(&mut frame, true, ws::OPCODE_PONG, &body);
                body.len()
            }
        };
        let both_closed = s.down_closed && s.up_closed;
        self.queue(
            key,
            Item::Frame {
                data: frame.freeze(),
                content,
            },
            now,
        );
        if both_closed {
            self.destroy_session(sid);
            self.queue(key, Item::Close, now);
        }
    }
}
