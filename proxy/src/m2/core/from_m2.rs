//! Messages from mongrel2: requests (a new session, or more of the current one:
//! upload chunks, WebSocket frames) and the `disconnect` / `credits` events
//! (`spec/mongrel2.md` §2–§4, §7.4 "mongrel2 → ZHTTP").

use std::collections::VecDeque;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use pushpin_mongrel2::http::Persistence;
use pushpin_mongrel2::{CtlArg, Request, RequestKind, Upload, ws};
use pushpin_zhttp::{ContentType, Header, Packet, PacketType};
use tracing::{debug, info, warn};

use super::{Conn, ConnKey, Core, Item, Mode, Session};

impl Core {
    /// Handles one decoded frame from mongrel2 handler `index`.
    pub(crate) fn on_m2(&mut self, index: usize, req: Request, now: Instant) {
        if self.settings.idents.get(index) != Some(&req.sender) {
            // m2adapter looks the sender up among all idents; each PULL socket only
            // ever carries its own.
            match self.settings.idents.iter().position(|i| *i == req.sender) {
                Some(i) => return self.on_m2_ident(i, req, now),
                None => {
                    warn!(sender = %String::from_utf8_lossy(&req.sender), "m2: unknown send_ident");
                    return;
                }
            }
        }
        self.on_m2_ident(index, req, now);
    }

    fn on_m2_ident(&mut self, index: usize, req: Request, now: Instant) {
        let key = (index, req.conn_id);
        if req.kind == RequestKind::Disconnect {
            debug!(conn = req.conn_id.0, "m2: disconnected");
            if let Some(conn) = self.conns.remove(&key)
                && let Some(sid) = conn.session
            {
                self.end_session(&sid, None);
            }
            return;
        }
        if let Some(conn) = self.conns.get_mut(&key) {
            // Only `credits` events return credits: WebSocket frame messages repeat the
            // handshake's stale `DOWNLOAD_CREDITS` (1.36 adds those too, inflating the
            // window past what mongrel2 buffers).
            if conn.credits_enabled
                && let RequestKind::Credits { credits: c } = req.kind
                && c > 0
            {
                conn.out_credits = conn.out_credits.saturating_add(i64::from(c));
                self.bytes_written(key, c as usize, now);
                self.try_write(key, now);
                if !self.conns.contains_key(&key) {
                    return;
                }
            }
            if matches!(req.kind, RequestKind::Credits { .. }) {
                return;
            }
        } else {
            let version = req.version().cloned().unwrap_or_default();
            if version.as_ref() != b"HTTP/1.0" && version.as_ref() != b"HTTP/1.1" {
                if matches!(
                    req.kind,
                    RequestKind::Http { .. } | RequestKind::WebSocketHandshake
                ) {
                    warn!(
                        conn = req.conn_id.0,
                        "m2: missing or unknown version on initial packet"
                    );
                }
                self.m2_ctl(index, &[req.conn_id], &[CtlArg::Cancel]);
                return;
            }
            let (credits_enabled, out_credits) = match req.download_credits {
                Some(c) => (true, i64::from(c)),
                None => (false, 0),
            };
            self.conns.insert(
                key,
                Conn {
                    index,
                    id: req.conn_id,
                    credits_enabled,
                    out_credits,
                    flow_control: false,
                    pending: VecDeque::new(),
                    written: VecDeque::new(),
                    session: None,
                    next_sub: 0,
                    continuation: false,
                    last_refresh: now,
                },
            );
        }
        let session = self.conns.get(&key).and_then(|c| c.session.clone());
        match session {
            None => self.start_session(key, req, now),
            Some(sid) => self.continue_session(key, &sid, req),
        }
    }

    fn start_session(&mut self, key: ConnKey, req: Request, now: Instant) {
        let (ws_mode, upload_more) = match &req.kind {
            RequestKind::Http { upload } => match upload {
                Some(Upload::Stream { offset, done }) => {
                    if *offset > 0 {
                        warn!(conn = key.1.0, "m2: stream offset > 0 but session unknown");
                        return self.m2_cancel(key);
                    }
                    (false, !done)
                }
                _ => (false, false),
            },
            RequestKind::WebSocketHandshake => (true, false),
            other => {
                warn!(conn = key.1.0, kind = ?other, "m2: unexpected starting packet");
                return self.m2_cancel(key);
            }
        };
        let https = req.url_scheme().is_some_and(|s| s.as_ref() == b"https");
        let scheme: &[u8] = match (ws_mode, https) {
            (false, false) => b"http",
            (false, true) => b"https",
            (true, false) => b"ws",
            (true, true) => b"wss",
        };
        let host = req
            .headers
            .first(b"host")
            .filter(|h| !h.is_empty())
            .cloned()
            .unwrap_or_else(|| Bytes::from_static(b"localhost"));
        if host.contains(&b'/') {
            warn!(host = %String::from_utf8_lossy(&host), "m2: invalid host");
            return self.m2_close(key);
        }
        let uri_path = req.uri().cloned().unwrap_or_default();
        if !uri_path.starts_with(b"/") {
            warn!(uri = %String::from_utf8_lossy(&uri_path), "m2: invalid uri");
            return self.m2_close(key);
        }
        if let Some(max) = self.settings.max_sessions
            && self.sessions.len() >= max
        {
            warn!(max, "m2: max open sessions reached, refusing new session");
            return self.m2_close(key);
        }
        let Some(conn) = self.conns.get_mut(&key) else {
            return;
        };
        let ident = self.settings.idents.get(key.0).cloned().unwrap_or_default();
        let sid = Bytes::from(format!(
            "{}_{}_{:x}",
            String::from_utf8_lossy(&ident),
            key.1.0,
            conn.next_sub
        ));
        conn.next_sub = conn.next_sub.wrapping_add(1);
        conn.session = Some(sid.clone());
        let credits = if conn.credits_enabled {
            u32::try_from(conn.out_credits.max(0)).unwrap_or(u32::MAX)
        } else {
            self.settings.client_buffer
        };
        let mode = if ws_mode { Mode::Ws } else { Mode::Http };
        let method = req.method().cloned().unwrap_or_default();
        let version = req.version().cloned().unwrap_or_default();
        let connection: Vec<&[u8]> = req
            .headers
            .get(b"connection")
            .map(|v| v.iter().map(AsRef::as_ref).collect())
            .unwrap_or_default();
        let persistence = if ws_mode {
            Persistence::default()
        } else {
            Persistence::for_request(&version, connection)
        };
        let mut uri = BytesMut::with_capacity(scheme.len() + 3 + host.len() + uri_path.len());
        uri.extend_from_slice(scheme);
        uri.extend_from_slice(b"://");
        uri.extend_from_slice(&host);
        uri.extend_from_slice(&uri_path);
        info!(
            "IN {} id={} {} {}",
            String::from_utf8_lossy(&ident),
            key.1.0,
            if ws_mode {
                "GET".into()
            } else {
                String::from_utf8_lossy(&method)
            },
            String::from_utf8_lossy(&uri)
        );
        let s = Session {
            mode,
            id: sid.clone(),
            conn: Some(key),
            to: None,
            out_seq: 0,
            in_seq: 0,
            method: method.clone(),
            persistence,
            chunked: false,
            headers_only: false,
            sent_header: false,
            accept_token: if ws_mode {
                req.body.clone()
            } else {
                Bytes::new()
            },
            down_closed: false,
            up_closed: false,
            read_count: req.body.len() as u64,
            in_finished: !upload_more,
            pending_in: BytesMut::new(),
            pending_in_packets: Vec::new(),
            pending_in_credits: 0,
            in_handoff: false,
            error_condition: None,
            last_active: now,
            last_refresh: now,
        };
        self.sessions.insert(sid.clone(), s);

        let mut p = Packet::new(PacketType::Data);
        p.credits = Some(credits);
        p.uri = Some(uri.freeze());
        p.headers = Some(
            req.headers
                .http_headers()
                .map(|(n, v)| Header::new(pushpin_mongrel2::headers::mixed_case(n), v.clone()))
                .collect(),
        );
        p.peer_address = req.remote_addr().cloned();
        if !ws_mode {
            p.stream = true;
            p.method = Some(method);
            if !req.body.is_empty() {
                p.body = Some(req.body);
            }
            p.more = upload_more;
        }
        self.send_first(&sid, p);
    }

    fn continue_session(&mut self, key: ConnKey, sid: &Bytes, req: Request) {
        let Some(s) = self.sessions.get_mut(sid) else {
            return;
        };
        let (offset, done) = match &req.kind {
            RequestKind::UploadChunk { offset, done } => (Some(*offset), *done),
            RequestKind::Http {
                upload: Some(Upload::Stream { offset, done }),
            } => (Some(*offset), *done),
            RequestKind::Http { .. } => (Some(0), true),
            RequestKind::WebSocketFrame { .. } => (None, false),
            other => {
                warn!(kind = ?other, "m2: unexpected subsequent packet");
                self.end_session(sid, None);
                return self.m2_cancel(key);
            }
        };
        if let Some(offset) = offset {
            if offset != s.read_count {
                warn!(
                    got = offset,
                    expected = s.read_count,
                    "m2: unexpected stream offset"
                );
                self.end_session(sid, None);
                return self.m2_cancel(key);
            }
            s.read_count = s.read_count.saturating_add(req.body.len() as u64);
            if done {
                s.in_finished = true;
            }
        }
        if s.to.is_none() {
            warn!("m2: multiple packets from m2 before response from zhttp");
            self.end_session(sid, None);
            return self.m2_cancel(key);
        }
        let RequestKind::WebSocketFrame { flags } = req.kind else {
            if s.in_handoff {
                s.pending_in.extend_from_slice(&req.body);
            } else {
                let mut p = Packet::new(PacketType::Data);
                if !req.body.is_empty() {
                    p.body = Some(req.body);
                }
                p.more = !s.in_finished;
                self.send(sid, p);
            }
            return;
        };
        let p = match flags.opcode() {
            ws::OPCODE_TEXT | ws::OPCODE_BINARY => {
                let mut p = Packet::new(PacketType::Data);
                if flags.opcode() == ws::OPCODE_BINARY {
                    p.content_type = Some(ContentType::Binary);
                }
                p.body = Some(req.body);
                p
            }
            ws::OPCODE_CLOSE => {
                let mut p = Packet::new(PacketType::Close);
                if req.body.len() >= 2 {
                    let (code, _) = ws::parse_close_payload(&req.body);
                    p.code = code;
                    let reason = req.body.slice(2..);
                    if !reason.is_empty() {
                        p.body = Some(reason);
                    }
                }
                p
            }
            ws::OPCODE_PING | ws::OPCODE_PONG => {
                let ptype = if flags.opcode() == ws::OPCODE_PING {
                    PacketType::Ping
                } else {
                    PacketType::Pong
                };
                let mut p = Packet::new(ptype);
                if !req.body.is_empty() {
                    p.body = Some(req.body);
                }
                p
            }
            other => {
                warn!(opcode = other, "m2: unsupported ws opcode");
                self.end_session(sid, None);
                return self.m2_cancel(key);
            }
        };
        if s.down_closed {
            debug!("m2: ignoring frame after close");
            return;
        }
        if p.ptype == PacketType::Close {
            s.down_closed = true;
        }
        if s.in_handoff {
            s.pending_in_packets.push(p);
            return;
        }
        let both_closed = s.down_closed && s.up_closed;
        self.send(sid, p);
        if both_closed {
            self.destroy_session(sid);
            self.queue(key, Item::Close, Instant::now());
        }
    }
}
