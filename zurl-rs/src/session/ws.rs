//! Outbound WebSocket sessions (spec/zhttp.md §8): the handshake with the origin (our own
//! head writer and the `httparse` head parser, so the origin's 101 headers reach the
//! initiator as sent), then frames as ZHTTP packets via `tokio-tungstenite`.
//!
//! Accept: `code` 101, `reason`, `headers`, `credits` = buffer_size (seq 0). A non-101
//! answer becomes `error`/`rejected` with its `code` and `body` (capped at buffer_size).
//! Messages from the origin are forwarded only within the initiator's credits (reading
//! stops until credits arrive); messages from the initiator are credited back once written.
//! Ping and pong are forwarded without payload, as zurl 1.11 does; `close` carries code and
//! reason both ways. Frames larger than buffer_size end the session with `frame-too-large`.

use std::time::Instant;

use base64::Engine as _;
use bytes::{BufMut, Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use pushpin_zhttp::{Condition, ContentType, Ext, Header, Packet, PacketType};
use sha1::{Digest, Sha1};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message};
use tracing::debug;

use super::{End, Session, clamp_u32, recv};
use crate::http1::{self, BodyDecoder, BodyKind, Decoded, ResponseHead};
use crate::upstream::Stream;

const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

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

/// Buffers fragments of one initiator message (`more`).
struct Incoming {
    buf: BytesMut,
    binary: bool,
    started: bool,
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
        let expected = accept_key(&key);
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
        let config = WebSocketConfig::default()
            .max_message_size(Some(self.ctx.buffer_size))
            .max_frame_size(Some(self.ctx.buffer_size));
        let ws =
            WebSocketStream::from_partially_read(stream, rbuf.to_vec(), Role::Client, Some(config))
                .await;
        self.relay(ws).await
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

    /// Relays messages both ways until a close or an error.
    async fn relay(&mut self, mut ws: WebSocketStream<Stream>) -> Result<(), End> {
        let mut pending: Option<Packet> = None;
        let mut incoming = Incoming {
            buf: BytesMut::new(),
            binary: false,
            started: false,
        };
        let mut closing = false;
        loop {
            if let Some(p) = pending.take() {
                let len = p.body_bytes().len();
                if (self.flow.credits.available() as usize) >= len {
                    self.flow.credits.take(len);
                    self.send(p).await?;
                } else {
                    pending = Some(p);
                }
            }
            let deadline = self.deadline(Instant::now());
            tokio::select! {
                m = ws.next(), if pending.is_none() => {
                    match m {
                        None => {
                            return if closing { Ok(()) } else {
                                Err(End::Error(Condition::RemoteConnectionFailed))
                            };
                        }
                        Some(Err(e)) => return Err(End::Error(ws_condition(&e))),
                        Some(Ok(msg)) => {
                            if let Some(p) = origin_packet(msg, &mut closing) {
                                let done = p.ptype == PacketType::Close;
                                pending = Some(p);
                                if done {
                                    // Flush tungstenite's close reply, then send ours.
                                    let _ = ws.flush().await;
                                    if let Some(p) = pending.take() {
                                        self.send(p).await?;
                                    }
                                    return Ok(());
                                }
                            }
                        }
                    }
                }
                p = recv(&mut self.flow.rx) => {
                    let p = p.ok_or(End::Silent)?;
                    self.apply_to_origin(p, &mut ws, &mut incoming, &mut closing).await?;
                }
                () = tokio::time::sleep_until(deadline.into()) => self.on_timer().await?,
            }
        }
    }

    /// Applies one initiator packet to the origin connection.
    async fn apply_to_origin(
        &mut self,
        p: Packet,
        ws: &mut WebSocketStream<Stream>,
        incoming: &mut Incoming,
        closing: &mut bool,
    ) -> Result<(), End> {
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
        let io = |e: tungstenite::Error| End::Error(ws_condition(&e));
        match p.ptype {
            PacketType::Data => {
                let body = p.body.clone().unwrap_or_default();
                self.flow
                    .granted
                    .spend(body.len())
                    .map_err(|_| End::Error(Condition::BadRequest))?;
                if !incoming.started {
                    incoming.started = true;
                    incoming.binary = p.is_binary();
                }
                if incoming.buf.len() + body.len() > self.ctx.buffer_size {
                    return Err(End::Error(Condition::FrameTooLarge));
                }
                incoming.buf.extend_from_slice(&body);
                if p.more {
                    return Ok(());
                }
                incoming.started = false;
                let data = std::mem::take(&mut incoming.buf).freeze();
                let len = data.len();
                let msg = if incoming.binary {
                    Message::Binary(data)
                } else {
                    match tungstenite::Utf8Bytes::try_from(data.clone()) {
                        Ok(text) => Message::Text(text),
                        Err(_) => Message::Binary(data),
                    }
                };
                ws.send(msg).await.map_err(io)?;
                if len > 0 {
                    let n = clamp_u32(len);
                    self.flow.granted.grant(n);
                    self.send(Packet {
                        ptype: PacketType::Credit,
                        credits: Some(n),
                        ..Packet::default()
                    })
                    .await?;
                }
            }
            PacketType::Close => {
                *closing = true;
                let frame = p.code.map(|code| CloseFrame {
                    code: CloseCode::from(code),
                    reason: String::from_utf8_lossy(p.body_bytes()).into_owned().into(),
                });
                ws.send(Message::Close(frame)).await.map_err(io)?;
            }
            PacketType::Ping => ws.send(Message::Ping(Bytes::new())).await.map_err(io)?,
            PacketType::Pong => ws.send(Message::Pong(Bytes::new())).await.map_err(io)?,
            PacketType::Credit | PacketType::KeepAlive => {}
            _ => return Err(End::Error(Condition::BadRequest)),
        }
        Ok(())
    }
}

/// A message from the origin as a packet (`None`: nothing to forward).
fn origin_packet(msg: Message, closing: &mut bool) -> Option<Packet> {
    let mut p = Packet::default();
    match msg {
        Message::Text(t) => p.body = Some(Bytes::from(t)),
        Message::Binary(b) => {
            p.body = Some(b);
            p.content_type = Some(ContentType::Binary);
        }
        Message::Ping(_) => p.ptype = PacketType::Ping,
        Message::Pong(_) => p.ptype = PacketType::Pong,
        Message::Close(frame) => {
            *closing = true;
            p.ptype = PacketType::Close;
            if let Some(f) = frame {
                p.code = Some(u16::from(f.code));
                p.body = Some(Bytes::copy_from_slice(f.reason.as_bytes()));
            }
        }
        Message::Frame(_) => return None,
    }
    Some(p)
}

/// The condition for a WebSocket failure.
fn ws_condition(e: &tungstenite::Error) -> Condition {
    match e {
        tungstenite::Error::Capacity(_) => Condition::FrameTooLarge,
        tungstenite::Error::Io(_) | tungstenite::Error::ConnectionClosed => {
            Condition::RemoteConnectionFailed
        }
        _ => Condition::UndefinedCondition,
    }
}

/// `Sec-WebSocket-Accept` for `key` (RFC 6455 §4.2.2).
fn accept_key(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.as_bytes());
    sha.update(WS_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6455_accept_example() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }
}
