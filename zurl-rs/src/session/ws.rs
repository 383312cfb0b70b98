//! Outbound WebSocket sessions (spec/zhttp.md §8): the handshake with the origin (our own
//! head writer and the `httparse` head parser, so the origin's 101 headers reach the
//! initiator as sent), then frames as ZHTTP packets, one for one, as zurl 1.11 relays them.
//!
//! Accept: `code` 101, `reason`, `headers`, `credits` = buffer_size (seq 0). A non-101
//! answer becomes `error`/`rejected` with its `code` and `body` (capped at buffer_size).
//! Fragmented messages are not joined: each origin frame is one data packet (`more` unless
//! FIN, `content-type: binary` on every frame of a binary message), and each initiator data
//! packet is one frame (a continuation after `more`). Origin frames are forwarded only
//! within the initiator's credits (a ping's or pong's payload counts too; reading stops
//! until credits arrive); every frame written to the origin is credited back, 0 for ping,
//! pong and empty frames. Ping and pong are forwarded without payload and never answered
//! here, control frames keep their place between fragments; `close` carries code and
//! reason both ways and each side's close is answered only by the other side's. Frames
//! larger than buffer_size end the session with `frame-too-large`.

use std::time::Instant;

use base64::Engine as _;
use bytes::{BufMut, Bytes, BytesMut};
use pushpin_wsframe::{self as wsframe, Frame, Limits, Validation, opcode};
use pushpin_zhttp::{Condition, ContentType, Ext, Header, Packet, PacketType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::debug;

use super::{End, Session, clamp_u32, recv};
use crate::http1::{self, BodyDecoder, BodyKind, Decoded, ResponseHead};
use crate::upstream::Stream;

/// Room made in the read buffer before each read from the origin.
const READ_MIN: usize = 4096;

/// Request headers we set ourselves in a WebSocket handshake.
fn own_header(h: &Header) -> bool {
    [
        &b"host"[..],
        b"upgrade",
        b"connection",
        b"sec-websocket-key",
        b"sec-websocket-version",
        b"content-length",
        b"transfer-encoding",
    ]
    .iter()
    .any(|n| h.is(n))
        // Compression is not negotiated: its frames would be unreadable.
        || (h.is(b"sec-websocket-extensions")
            && h.value.windows(7).any(|w| w.eq_ignore_ascii_case(b"deflate")))
}

impl Session {
    /// Runs a `ws://`/`wss://` session after the policy check.
    pub(super) async fn websocket(&mut self) -> Result<(), End> {
        let uri = self.req.uri.clone();
        let target = self.target(&uri);
        // A WebSocket never goes back to the pool, so it never takes from it either.
        let conn = self.connect(&target, false).await?;
        let mut stream = conn.stream;
        let key = base64::engine::general_purpose::STANDARD.encode(uuid::Uuid::new_v4().as_bytes());
        let mut head = BytesMut::with_capacity(512);
        head.put_slice(b"GET ");
        head.put_slice(&uri.target);
        head.put_slice(b" HTTP/1.1\r\nHost: ");
        head.put_slice(uri.authority.as_bytes());
        head.put_slice(b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ");
        head.put_slice(key.as_bytes());
        head.put_slice(b"\r\n");
        for h in self.req.headers.iter().filter(|h| !own_header(h)) {
            head.put_slice(&h.name);
            head.put_slice(b": ");
            head.put_slice(&h.value);
            head.put_slice(b"\r\n");
        }
        head.put_slice(b"\r\n");
        let fail = |e: std::io::Error| {
            debug!(error = %e, "websocket handshake i/o failed");
            End::Error(Condition::RemoteConnectionFailed)
        };
        stream.write_all(&head).await.map_err(fail)?;
        let mut rbuf = BytesMut::new();
        let response = loop {
            if let Some(h) = http1::parse_head(&mut rbuf)
                .map_err(|_| End::Error(Condition::UndefinedCondition))?
            {
                break h;
            }
            let deadline = self.deadline(Instant::now());
            tokio::select! {
                r = stream.read_buf(&mut rbuf) => {
                    if r.map_err(fail)? == 0 {
                        return Err(End::Error(Condition::RemoteConnectionFailed));
                    }
                }
                p = recv(&mut self.flow.rx) => self.on_ws_setup_packet(p)?,
                () = tokio::time::sleep_until(deadline.into()) => self.on_timer().await?,
            }
        };
        if response.code != 101 {
            return self.reject(response, stream, rbuf).await;
        }
        let expected = wsframe::accept_key(key.as_bytes());
        if response.header(b"sec-websocket-accept").map(|v| v.as_ref()) != Some(expected.as_bytes())
        {
            debug!("origin sent a wrong Sec-WebSocket-Accept");
            return Err(End::Error(Condition::UndefinedCondition));
        }
        let credits = clamp_u32(self.ctx.buffer_size);
        let accept = Packet {
            code: Some(101),
            reason: Some(response.reason.clone()),
            headers: Some(response.headers.clone()),
            credits: Some(credits),
            ext: Ext {
                multi: self.req.multi,
                quiet: false,
            },
            ..Packet::default()
        };
        self.flow.granted.grant(credits);
        self.send(accept).await?;
        self.relay(stream, rbuf).await
    }

    /// Before the accept only cancel/keep-alive/credit can sensibly arrive.
    fn on_ws_setup_packet(&mut self, p: Option<Packet>) -> Result<(), End> {
        let p = p.ok_or(End::Silent)?;
        self.flow.last_in = Instant::now();
        if matches!(p.ptype, PacketType::Cancel | PacketType::Error) {
            return Err(End::Silent);
        }
        self.flow.seq_in.receive(p.seq).map_err(|_| End::Cancel)?;
        if let Some(c) = p.credits {
            self.flow.credits.grant(c);
        }
        Ok(())
    }

    /// `error`/`rejected` with the origin's HTTP response.
    async fn reject(
        &mut self,
        head: ResponseHead,
        mut stream: Stream,
        mut rbuf: BytesMut,
    ) -> Result<(), End> {
        let kind = BodyKind::of(b"GET", &head).unwrap_or(BodyKind::Empty);
        let mut decoder = BodyDecoder::new(kind);
        let mut body = BytesMut::new();
        let cap = self.ctx.buffer_size;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match decoder.decode(&mut rbuf, cap.saturating_sub(body.len())) {
                Ok(Decoded::Data(d)) => body.extend_from_slice(&d),
                Ok(Decoded::NeedMore) if body.len() < cap => {
                    match tokio::time::timeout_at(deadline, stream.read_buf(&mut rbuf)).await {
                        Ok(Ok(n)) if n > 0 => {}
                        _ => break,
                    }
                }
                _ => break,
            }
        }
        let p = Packet {
            ptype: PacketType::Error,
            condition: Some(Condition::Rejected),
            // zurl 1.11 sends only the status code and body (checked by the differential
            // test), not the reason or headers.
            code: Some(head.code),
            body: Some(body.freeze()),
            ..Packet::default()
        };
        self.send(p).await
    }

    async fn send(&mut self, p: Packet) -> Result<(), End> {
        if self.out.send(p).await {
            Ok(())
        } else {
            Err(End::Silent)
        }
    }

    /// Relays frames both ways until the close handshake ends or an error.
    async fn relay(&mut self, stream: Stream, rbuf: BytesMut) -> Result<(), End> {
        let mut r = Relay {
            stream,
            rbuf,
            pending: None,
            origin_binary: false,
            sending: false,
            closed_by_us: false,
            peer_closed: false,
        };
        let limits = Limits::new(self.ctx.buffer_size);
        loop {
            // Forward what has been read, frame by frame, while the credits cover each
            // frame's payload (ping and pong payloads too, though they are not forwarded).
            loop {
                if r.pending.is_none() {
                    if r.peer_closed {
                        break;
                    }
                    let Some(f) = Frame::decode(&mut r.rbuf, &limits, Validation::SizeOnly)
                        .map_err(|e| {
                            debug!(error = %e, "origin frame too large");
                            End::Error(Condition::FrameTooLarge)
                        })?
                    else {
                        break;
                    };
                    r.pending = r.origin_packet(f);
                    continue;
                }
                let available = self.flow.credits.available() as usize;
                let Some((p, cost)) = r.pending.take_if(|(_, cost)| available >= *cost) else {
                    break;
                };
                self.flow.credits.take(cost);
                let close = p.ptype == PacketType::Close;
                self.send(p).await?;
                if close && r.closed_by_us {
                    return Ok(());
                }
            }
            let deadline = self.deadline(Instant::now());
            let reading = r.pending.is_none() && !r.peer_closed;
            if reading && r.rbuf.capacity() - r.rbuf.len() < READ_MIN {
                // At most one frame (≤ buffer_size, reserved by `decode`) plus this.
                r.rbuf.reserve(READ_MIN);
            }
            tokio::select! {
                n = r.stream.read_buf(&mut r.rbuf), if reading => {
                    let n = n.map_err(|e| {
                        debug!(error = %e, "websocket read failed");
                        End::Error(Condition::RemoteConnectionFailed)
                    })?;
                    if n == 0 {
                        return if r.closed_by_us { Ok(()) } else {
                            Err(End::Error(Condition::RemoteConnectionFailed))
                        };
                    }
                }
                p = recv(&mut self.flow.rx) => {
                    let p = p.ok_or(End::Silent)?;
                    if self.apply_to_origin(p, &mut r).await? {
                        return Ok(());
                    }
                }
                () = tokio::time::sleep_until(deadline.into()) => self.on_timer().await?,
            }
        }
    }

    /// Applies one initiator packet to the origin connection: each data packet is one
    /// frame (a continuation after `more`, FIN unless `more`), ping and pong are empty
    /// frames, and every frame written is credited back (its body size, 0 included) as
    /// zurl 1.11 does. `Ok(true)`: the close handshake is over.
    async fn apply_to_origin(&mut self, p: Packet, r: &mut Relay) -> Result<bool, End> {
        self.flow.last_in = Instant::now();
        if matches!(p.ptype, PacketType::Cancel | PacketType::Error) {
            return Err(End::Silent);
        }
        self.flow.seq_in.receive(p.seq).map_err(|_| End::Cancel)?;
        if p.user_data.is_some() {
            self.out.user_data = p.user_data.clone();
        }
        if let Some(c) = p.credits {
            self.flow.credits.grant(c);
        }
        let (opcode, fin, body) = match p.ptype {
            PacketType::Data | PacketType::Ping | PacketType::Pong | PacketType::Close
                if r.closed_by_us =>
            {
                return Err(End::Error(Condition::BadRequest));
            }
            PacketType::Data => {
                let body = p.body.clone().unwrap_or_default();
                self.flow
                    .granted
                    .spend(body.len())
                    .map_err(|_| End::Error(Condition::BadRequest))?;
                let opcode = if r.sending {
                    opcode::CONTINUATION
                } else if p.is_binary() {
                    opcode::BINARY
                } else {
                    opcode::TEXT
                };
                r.sending = p.more;
                (opcode, !p.more, body)
            }
            PacketType::Ping => (opcode::PING, true, Bytes::new()),
            PacketType::Pong => (opcode::PONG, true, Bytes::new()),
            PacketType::Close => {
                r.closed_by_us = true;
                let payload = wsframe::close_payload(p.code, p.body_bytes());
                r.write(opcode::CLOSE, true, &payload).await?;
                if r.peer_closed {
                    // zurl disconnects once it has answered the origin's close.
                    let _ = r.stream.shutdown().await;
                    return Ok(true);
                }
                return Ok(false);
            }
            PacketType::Credit | PacketType::KeepAlive => return Ok(false),
            _ => return Err(End::Error(Condition::BadRequest)),
        };
        r.write(opcode, fin, &body).await?;
        let n = clamp_u32(body.len());
        self.flow.granted.grant(n);
        self.send(Packet {
            ptype: PacketType::Credit,
            credits: Some(n),
            ..Packet::default()
        })
        .await?;
        Ok(false)
    }
}

/// The WebSocket connection to the origin after the handshake.
struct Relay {
    stream: Stream,
    /// Bytes read from the origin and not yet decoded.
    rbuf: BytesMut,
    /// The origin's next frame as a packet, waiting for credits, with its cost.
    pending: Option<(Packet, usize)>,
    /// Whether the origin's message in progress is binary (continuations take its type).
    origin_binary: bool,
    /// Whether the initiator's last data packet had `more` (the next is a continuation).
    sending: bool,
    /// The initiator's close was sent to the origin.
    closed_by_us: bool,
    /// The origin's close was read (later frames are ignored).
    peer_closed: bool,
}

impl Relay {
    /// Writes one masked frame to the origin.
    async fn write(&mut self, opcode: u8, fin: bool, payload: &[u8]) -> Result<(), End> {
        let mut buf = BytesMut::new();
        let key = uuid::Uuid::new_v4();
        let k = key.as_bytes();
        wsframe::encode(
            &mut buf,
            fin,
            opcode,
            payload,
            Some([k[0], k[1], k[2], k[3]]),
        );
        let io = |e: std::io::Error| {
            debug!(error = %e, "websocket write failed");
            End::Error(Condition::RemoteConnectionFailed)
        };
        self.stream.write_all(&buf).await.map_err(io)?;
        self.stream.flush().await.map_err(io)
    }

    /// A frame from the origin as a packet and its cost in credits (`None`: an unknown
    /// opcode, ignored as zurl does). Each text, binary or continuation frame is one data
    /// packet with `more` unless FIN, every frame of a binary message `content-type:
    /// binary`; ping and pong lose their payload; a close carries its code and reason.
    fn origin_packet(&mut self, f: Frame) -> Option<(Packet, usize)> {
        let cost = f.payload.len();
        let mut p = Packet::default();
        match f.opcode {
            opcode::CONTINUATION | opcode::TEXT | opcode::BINARY => {
                if f.opcode != opcode::CONTINUATION {
                    self.origin_binary = f.opcode == opcode::BINARY;
                }
                if self.origin_binary {
                    p.content_type = Some(ContentType::Binary);
                }
                p.more = !f.fin;
                p.body = Some(f.payload);
            }
            opcode::PING => p.ptype = PacketType::Ping,
            opcode::PONG => p.ptype = PacketType::Pong,
            opcode::CLOSE => {
                self.peer_closed = true;
                p.ptype = PacketType::Close;
                let (code, reason) = wsframe::parse_close(&f.payload);
                p.code = code;
                p.body = Some(reason);
                return Some((p, 0));
            }
            _ => return None,
        }
        Some((p, cost))
    }
}
