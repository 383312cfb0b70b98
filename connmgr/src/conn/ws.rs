//! One WebSocket connection as a ZHTTP session, condure's way
//! (`spec/zhttp.md` §8).
//!
//! ```text
//! handshake request ──first packet (ws:// uri, credits, no stream)──▶ waiting
//!   data code 101 ─▶ write 101 + our Upgrade/Connection/Sec-WebSocket-Accept ─▶ open
//!   error/rejected (code, headers, body) ─▶ write that HTTP response, close
//!   cancel/error ─▶ close
//! open:
//!   client text/binary/continuation ─▶ data (content-type, more = !fin), within credits
//!   client ping/pong/close ─▶ ping/pong/close packets (payload counts against credits)
//!   responder data/ping/pong/close ─▶ frames; written payload ─▶ credit packets
//!   both closes seen ─▶ close the TCP connection
//!   client protocol error ─▶ close frame 1002/1009 to the client, cancel
//! ```

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use pushpin_wsframe::{self as wsframe, Limits, Validation, opcode};
use pushpin_zhttp::session::Credits;
use pushpin_zhttp::{Condition, ContentType, Header, Packet, PacketType};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tracing::debug;

use super::link::{End, Link};
use super::{Peer, Shared};
use crate::http1::RequestHead;
use crate::zio::{Inbound, Receiver};

/// Headers of the responder's answer that we replace with our own.
const STRIPPED: [&[u8]; 4] = [
    b"upgrade",
    b"connection",
    b"sec-websocket-accept",
    b"sec-websocket-extensions",
];

/// Why a handshake request is not a valid WebSocket handshake, if it is not.
pub(crate) fn check_handshake(head: &RequestHead) -> Option<&'static str> {
    if head.method.as_ref() != b"GET" {
        return Some("websocket handshake must use GET");
    }
    if head.header(b"sec-websocket-version").map(Bytes::as_ref) != Some(b"13") {
        return Some("unsupported or missing Sec-WebSocket-Version");
    }
    if head
        .header(b"sec-websocket-key")
        .is_none_or(Bytes::is_empty)
    {
        return Some("missing Sec-WebSocket-Key");
    }
    if !matches!(head.body, crate::http1::BodyKind::None) {
        return Some("websocket handshake must not have a body");
    }
    None
}

/// Largest client data frame accepted. Data frames are streamed to the responder
/// in pieces as they arrive (within credits), so this bounds nothing in memory; it
/// only rejects absurd lengths (answered with close code 1009).
const MAX_FRAME: usize = 64 * 1024 * 1024;
/// The decoder's limits for client frames.
const LIMITS: Limits = Limits::new(MAX_FRAME);

/// A client data frame whose payload is still being forwarded.
struct Partial {
    fin: bool,
    mask: Option<[u8; 4]>,
    done: usize,
    left: usize,
}

struct Ws<'a> {
    link: Link<'a>,
    out_credits: Credits,
    in_credits: Credits,
    wbuf: BytesMut,
    unacked: u32,
    open: bool,
    client_binary: bool,
    partial: Option<Partial>,
    resp_fragmenting: bool,
    client_closed: bool,
    responder_closed: bool,
    eof: bool,
}

/// Runs a WebSocket session; the connection is closed afterwards. The set-up runs
/// before the future is returned, as in [`session::run`](super::session::run).
pub(crate) fn run<'a, R, W>(
    r: &'a mut R,
    w: &'a mut W,
    rbuf: &'a mut BytesMut,
    head: RequestHead,
    id: Bytes,
    peer: &Peer,
    shared: &'a Arc<Shared>,
) -> impl Future<Output = ()> + use<'a, R, W>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let config = &shared.config;
    let (registration, mut rx) = shared.registry.register(id.clone());
    let credits = u32::try_from(config.buffer_size).unwrap_or(u32::MAX);
    let mut s = Ws {
        link: Link::new(shared, id),
        out_credits: Credits::new(0),
        in_credits: Credits::new(credits),
        wbuf: BytesMut::new(),
        unacked: 0,
        open: false,
        client_binary: false,
        partial: None,
        resp_fragmenting: false,
        client_closed: false,
        responder_closed: false,
        eof: false,
    };
    let key = head
        .header(b"sec-websocket-key")
        .cloned()
        .unwrap_or_default();
    let host = head
        .header(b"host")
        .cloned()
        .unwrap_or_else(|| peer.local_host.clone());
    let mut uri = BytesMut::with_capacity(6 + host.len() + head.target.len());
    uri.put_slice(if peer.secure { b"wss://" } else { b"ws://" });
    uri.put_slice(&host);
    uri.put_slice(&head.target);
    let first = Packet {
        method: Some(head.method.clone()),
        uri: Some(uri.freeze()),
        headers: Some(
            head.headers
                .iter()
                .map(|(n, v)| Header::new(n.clone(), v.clone()))
                .collect(),
        ),
        credits: Some(credits),
        peer_address: peer.addr.map(|a| Bytes::from(a.ip().to_string())),
        peer_port: peer.addr.map(|a| a.port()),
        ..Packet::default()
    };
    drop(head);
    let first = s.link.encode_first(first);
    async move {
        let _registration = &registration;
        if !s.link.send_first(first).await {
            debug!("could not queue the first packet");
            return;
        }
        match s.drive(r, w, rbuf, &mut rx, &key).await {
            Ok(()) | Err(End::Silent) => {}
            Err(End::Cancel) => s.link.cancel().await,
        }
    }
}

impl Ws<'_> {
    async fn drive<R, W>(
        &mut self,
        r: &mut R,
        w: &mut W,
        rbuf: &mut BytesMut,
        rx: &mut Receiver,
        key: &[u8],
    ) -> Result<(), End>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let limit = self.link.shared.config.buffer_size;
        // One timer per session; shutdown ends `rx` (see `session::drive`).
        let timer = tokio::time::sleep_until(self.link.deadline());
        tokio::pin!(timer);
        loop {
            if self.open {
                if let Err(e) = self.pump_frames(rbuf).await {
                    return self.fail(w, e).await;
                }
            }
            if rbuf.is_empty() && rbuf.capacity() > super::session::RELEASE_ABOVE {
                *rbuf = BytesMut::new();
            }
            if self.wbuf.is_empty() {
                if self.client_closed && self.responder_closed {
                    return Ok(());
                }
                self.return_credits().await?;
            }
            let want_read = !self.eof && !self.client_closed && rbuf.len() < limit + 14;
            // No read buffer is reserved while idle (`read_buf` allocates a small
            // one when bytes arrive); once a frame is arriving, read in large pieces.
            if want_read
                && (self.partial.is_some() || !rbuf.is_empty())
                && rbuf.capacity() == rbuf.len()
            {
                rbuf.reserve((limit + 14).saturating_sub(rbuf.len()).min(4096));
            }
            let deadline = self.link.deadline();
            if deadline < timer.deadline() {
                timer.as_mut().reset(deadline);
            }
            tokio::select! {
                packet = rx.recv() => match packet {
                    Some(p) => self.handle(p, w, key).await?,
                    None => return Err(End::Cancel),
                },
                res = w.write(&self.wbuf), if !self.wbuf.is_empty() => match res {
                    Ok(0) | Err(_) => return Err(End::Cancel),
                    Ok(n) => {
                        bytes::Buf::advance(&mut self.wbuf, n);
                        if self.wbuf.is_empty() {
                            self.wbuf = BytesMut::new();
                        }
                    }
                },
                res = r.read_buf(rbuf), if want_read => match res {
                    Ok(0) | Err(_) => {
                        debug!("client closed");
                        self.eof = true;
                        return Err(End::Cancel);
                    }
                    Ok(_) => {}
                },
                () = &mut timer => {
                    self.link.on_timer().await?;
                    timer.as_mut().reset(self.link.deadline());
                }
            }
        }
    }

    /// Answers a client protocol error with a close frame, then cancels.
    async fn fail<W: AsyncWrite + Unpin>(
        &mut self,
        w: &mut W,
        e: wsframe::Error,
    ) -> Result<(), End> {
        debug!(error = %e, "websocket protocol error from client");
        wsframe::encode_close(&mut self.wbuf, Some(e.close_code()), b"", None);
        let _ =
            tokio::time::timeout(std::time::Duration::from_secs(5), w.write_all(&self.wbuf)).await;
        Err(End::Cancel)
    }

    async fn return_credits(&mut self) -> Result<(), End> {
        if self.unacked == 0 || !self.link.can_send() || self.responder_closed {
            return Ok(());
        }
        let n = std::mem::take(&mut self.unacked);
        self.in_credits.grant(n);
        // In a block: a `Packet` local would be kept across the `.await`.
        let sending = {
            let mut p = Packet::new(PacketType::Credit);
            p.credits = Some(n);
            self.link.send(p)
        };
        sending.await
    }

    /// Forwards client frames within the responder's credits: control frames
    /// whole, data frames in pieces as their payload arrives.
    async fn pump_frames(&mut self, rbuf: &mut BytesMut) -> Result<(), wsframe::Error> {
        let piece_max = self.link.shared.config.buffer_size;
        while !self.client_closed && self.link.can_send() {
            if let Some(part) = &mut self.partial {
                let avail = (self.out_credits.available() as usize).min(piece_max);
                let n = part.left.min(rbuf.len()).min(avail);
                if n == 0 {
                    return Ok(());
                }
                let mut chunk = rbuf.split_to(n);
                if let Some(mask) = part.mask {
                    wsframe::apply_mask(&mut chunk, mask, part.done);
                }
                part.done += n;
                part.left -= n;
                let more = part.left > 0 || !part.fin;
                if part.left == 0 {
                    self.partial = None;
                }
                self.out_credits.take(n);
                let sending = {
                    let mut p = self.data_packet(more);
                    p.body = Some(chunk.freeze());
                    self.link.send(p)
                };
                if sending.await.is_err() {
                    return Ok(());
                }
                continue;
            }
            let Some(h) = wsframe::Header::decode(rbuf, &LIMITS, Validation::ClientFrame)? else {
                return Ok(());
            };
            if !h.is_control() {
                bytes::Buf::advance(rbuf, h.header_len);
                if h.opcode != opcode::CONTINUATION {
                    self.client_binary = h.opcode == opcode::BINARY;
                }
                if h.len > 0 {
                    self.partial = Some(Partial {
                        fin: h.fin,
                        mask: h.mask,
                        done: 0,
                        left: h.len,
                    });
                    continue;
                }
                let sending = {
                    let p = self.data_packet(!h.fin);
                    self.link.send(p)
                };
                if sending.await.is_err() {
                    return Ok(());
                }
                continue;
            }
            if rbuf.len() < h.total() || (self.out_credits.available() as usize) < h.len {
                return Ok(());
            }
            let payload = h.take(rbuf);
            self.out_credits.take(payload.len());
            let sending = {
                let mut p = Packet::new(PacketType::Data);
                match h.opcode {
                    opcode::PING | opcode::PONG => {
                        p.ptype = if h.opcode == opcode::PING {
                            PacketType::Ping
                        } else {
                            PacketType::Pong
                        };
                        p.body = Some(payload).filter(|b| !b.is_empty());
                    }
                    _ => {
                        let (code, reason) = wsframe::parse_close(&payload);
                        p.ptype = PacketType::Close;
                        p.code = code;
                        p.body = Some(reason).filter(|b| !b.is_empty());
                        self.client_closed = true;
                    }
                }
                self.link.send(p)
            };
            if sending.await.is_err() {
                // The session is gone; the main loop notices on its next step.
                return Ok(());
            }
        }
        Ok(())
    }

    /// A data packet of the client's current message type.
    fn data_packet(&self, more: bool) -> Packet {
        let mut p = Packet::new(PacketType::Data);
        p.content_type = Some(if self.client_binary {
            ContentType::Binary
        } else {
            ContentType::Text
        });
        p.more = more;
        p
    }

    async fn handle<W: AsyncWrite + Unpin>(
        &mut self,
        p: Inbound,
        w: &mut W,
        key: &[u8],
    ) -> Result<(), End> {
        self.link.receive(&p)?;
        if let Some(c) = p.credits {
            self.out_credits.grant(c);
        }
        if !self.open {
            return self.handle_handshake(*p, key);
        }
        match p.ptype {
            PacketType::Credit | PacketType::KeepAlive | PacketType::HandoffProceed => Ok(()),
            PacketType::Cancel | PacketType::Error => Err(End::Silent),
            PacketType::HandoffStart => {
                if !self.wbuf.is_empty() {
                    w.write_all(&self.wbuf).await.map_err(|_| End::Cancel)?;
                    self.wbuf = BytesMut::new();
                }
                self.link.handoff().await
            }
            PacketType::Data | PacketType::Ping | PacketType::Pong | PacketType::Close => {
                let body = p.body.clone().unwrap_or_default();
                if let Err(e) = self.in_credits.spend(body.len()) {
                    debug!(error = %e, "responder exceeded its credits");
                    return Err(End::Cancel);
                }
                self.unacked = self
                    .unacked
                    .saturating_add(u32::try_from(body.len()).unwrap_or(u32::MAX));
                if self.responder_closed {
                    return Ok(());
                }
                match p.ptype {
                    PacketType::Data => {
                        let op = if self.resp_fragmenting {
                            opcode::CONTINUATION
                        } else if p.is_binary() {
                            opcode::BINARY
                        } else {
                            opcode::TEXT
                        };
                        self.resp_fragmenting = p.more;
                        wsframe::encode(&mut self.wbuf, !p.more, op, &body, None);
                    }
                    PacketType::Ping => {
                        wsframe::encode(&mut self.wbuf, true, opcode::PING, &body, None)
                    }
                    PacketType::Pong => {
                        wsframe::encode(&mut self.wbuf, true, opcode::PONG, &body, None)
                    }
                    _ => {
                        wsframe::encode_close(&mut self.wbuf, p.code, &body, None);
                        self.responder_closed = true;
                    }
                }
                Ok(())
            }
            other => {
                debug!(ptype = %other, "unexpected packet type in a websocket session");
                Err(End::Cancel)
            }
        }
    }

    fn handle_handshake(&mut self, p: Packet, key: &[u8]) -> Result<(), End> {
        match (&p.ptype, p.code) {
            (PacketType::Data, Some(101)) => {
                if p.credits.is_none() {
                    // condure 1.9.1 assumes its own buffer size (older proxies).
                    self.out_credits.grant(
                        u32::try_from(self.link.shared.config.buffer_size).unwrap_or(u32::MAX),
                    );
                }
                let reason = p.reason.as_deref().unwrap_or(b"Switching Protocols");
                self.wbuf.put_slice(b"HTTP/1.1 101 ");
                self.wbuf.put_slice(reason);
                self.wbuf.put_slice(b"\r\n");
                write_headers(&mut self.wbuf, p.header_list(), &[]);
                self.wbuf.put_slice(
                    b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ",
                );
                self.wbuf.put_slice(wsframe::accept_key(key).as_bytes());
                self.wbuf.put_slice(b"\r\n\r\n");
                self.open = true;
                Ok(())
            }
            (PacketType::Data, Some(code)) | (PacketType::Error, Some(code))
                if p.ptype == PacketType::Data || p.condition == Some(Condition::Rejected) =>
            {
                let body = p.body.clone().unwrap_or_default();
                self.wbuf.put_slice(format!("HTTP/1.1 {code} ").as_bytes());
                self.wbuf.put_slice(p.reason.as_deref().unwrap_or_default());
                self.wbuf.put_slice(b"\r\n");
                write_headers(
                    &mut self.wbuf,
                    p.header_list(),
                    &[b"content-length", b"transfer-encoding"],
                );
                self.wbuf
                    .put_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
                self.wbuf.put_slice(&body);
                // Nothing more will be exchanged: the session ends once this is written.
                self.client_closed = true;
                self.responder_closed = true;
                Ok(())
            }
            (PacketType::Credit | PacketType::KeepAlive | PacketType::HandoffProceed, _) => Ok(()),
            (PacketType::HandoffStart, _) => {
                debug!("handoff before the websocket handshake completed; ending session");
                Err(End::Cancel)
            }
            (PacketType::Cancel | PacketType::Error, _) => Err(End::Silent),
            _ => {
                debug!(ptype = %p.ptype, "unexpected packet during the websocket handshake");
                Err(End::Cancel)
            }
        }
    }
}

fn write_headers(out: &mut BytesMut, headers: &[Header], also_strip: &[&[u8]]) {
    for h in headers {
        if STRIPPED.iter().chain(also_strip).any(|n| h.is(n)) {
            continue;
        }
        out.put_slice(&h.name);
        out.put_slice(b": ");
        out.put_slice(&h.value);
        out.put_slice(b"\r\n");
    }
}
