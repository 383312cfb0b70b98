//! The `test` target's WebSocket, as 1.36's `TestWebSocket` (`spec/config.md` §8.6): `/ws`
//! accepts and echoes every frame; when the request offers the `grip` extension (the
//! proxy offers it on GRIP routes) it accepts `grip`, first sends one
//! `c:{"channel": …, "type": "subscribe"}` control message per channel (`?channel=`,
//! default `test`), and echoes messages with the `m:` prefix, so the proxy's GRIP
//! handling subscribes the connection and strips the prefix. Any other path is rejected
//! with `404` `no such test resource`. A close is answered with the same code and reason.
//!
//! The origin is a ZHTTP WebSocket responder behind a [`ClientHandle`], so the session
//! talks to it exactly as to zurl. It runs inside the session's task ([`peer`] returns its
//! future) and ends once the session drops its handle.
//!
//! Queues: packets for the session go into its inbox, and a full inbox ends the peer (as
//! the zurl client drops a stuck session); echoes wait for the session's credits, and the
//! session gets its credits back only as echoes leave, so the echo queue stays within
//! the 200000 bytes granted (1.36's `BUFFER_SIZE`).

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use pushpin_zhttp::{Condition, Header, Ids, Limits, Packet, PacketType};
use tokio::sync::mpsc;
use tracing::debug;

use crate::client::{ClientCmd, ClientHandle};

/// Credits granted to the session (1.36 `BUFFER_SIZE`).
const CREDITS: u32 = 200_000;
/// The prefix of echoed messages with GRIP.
const MESSAGE_PREFIX: &[u8] = b"m:";
/// Commands queued from the session.
const CMD_CAPACITY: usize = 64;
/// Our `from`.
const FROM: &[u8] = b"test";

/// What the request asked for: `/ws` with these channels, or something else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resource {
    /// `/ws`, with the channels to subscribe to under GRIP.
    Ws(Vec<String>),
    /// Anything else (`404`).
    NotFound,
}

/// A test WebSocket origin for one session: the handle to forward through and the
/// origin's future, to run alongside the session.
pub(crate) fn peer(resource: Resource) -> (ClientHandle, impl Future<Output = ()>) {
    let (tx, rx) = mpsc::channel(CMD_CAPACITY);
    (ClientHandle { tx }, run(rx, resource))
}

/// Whether `headers` offer the `grip` extension (the first item of an extension list).
fn grip_offered(headers: &[Header]) -> bool {
    headers
        .iter()
        .filter(|h| h.is(b"Sec-WebSocket-Extensions"))
        .flat_map(|h| h.value.split(|&b| b == b','))
        .any(|ext| {
            let name = ext.split(|&b| b == b';').next().unwrap_or_default();
            name.trim_ascii() == b"grip"
        })
}

/// A `c:` subscribe message as 1.36 writes it (`QJsonDocument::toJson`, indented).
fn subscribe_message(channel: &str) -> Bytes {
    let channel = serde_json::to_string(channel).unwrap_or_else(|_| "\"\"".to_string());
    Bytes::from(format!(
        "c:{{\n    \"channel\": {channel},\n    \"type\": \"subscribe\"\n}}\n"
    ))
}

/// Takes the next packet that fits in `available` credits: a control packet or a whole
/// message, or the first `available` bytes of a larger message as a fragment.
fn next_within(out: &mut VecDeque<Packet>, available: usize) -> Option<Packet> {
    let front = out.front_mut()?;
    if front.ptype != PacketType::Data || front.body_bytes().len() <= available {
        return out.pop_front();
    }
    if available == 0 {
        return None;
    }
    let part = front.body.as_mut()?.split_to(available);
    Some(Packet {
        ptype: PacketType::Data,
        body: Some(part),
        more: true,
        content_type: front.content_type.take(),
        ..Packet::default()
    })
}

struct Peer {
    inbox: mpsc::Sender<Packet>,
    id: Bytes,
    seq: u32,
    grip: bool,
    /// Credits the session granted us.
    credits: usize,
    /// Echoes and control messages waiting for credits.
    out: VecDeque<Packet>,
    /// Session message bytes taken in whose credits are not yet returned.
    owed: usize,
    /// Inside a fragmented message (no prefix on continuations).
    continuing: bool,
    closed: bool,
}

impl Peer {
    /// Sends `p` with the next seq; `false` when the session is gone or stuck.
    fn send(&mut self, mut p: Packet) -> bool {
        p.from = Bytes::from_static(FROM);
        p.ids = Ids::One(self.id.clone().into());
        if !matches!(p.ptype, PacketType::Error | PacketType::Cancel) {
            p.seq = Some(self.seq);
            self.seq = self.seq.wrapping_add(1);
        }
        self.inbox.try_send(p).is_ok()
    }

    /// Sends what the credits allow, then returns credits for what left.
    fn flush(&mut self) -> bool {
        let mut sent = 0usize;
        while let Some(p) = next_within(&mut self.out, self.credits) {
            if p.ptype == PacketType::Data {
                let n = p.body_bytes().len();
                self.credits = self.credits.saturating_sub(n);
                sent = sent.saturating_add(n);
            }
            if !self.send(p) {
                return false;
            }
        }
        let give = sent.min(self.owed);
        if give > 0 {
            self.owed -= give;
            let mut c = Packet::new(PacketType::Credit);
            c.credits = Some(u32::try_from(give).unwrap_or(u32::MAX));
            return self.send(c);
        }
        true
    }

    /// One packet from the session; `false` when the exchange is over.
    fn handle(&mut self, p: Packet) -> bool {
        match p.ptype {
            PacketType::Data => {
                self.owed = self.owed.saturating_add(p.body_bytes().len());
                let mut echo = Packet::new(PacketType::Data);
                echo.more = p.more;
                echo.content_type = p.content_type.clone();
                let body = p.body.clone().unwrap_or_default();
                echo.body = Some(if self.grip && !self.continuing {
                    let mut b = BytesMut::with_capacity(body.len() + MESSAGE_PREFIX.len());
                    b.extend_from_slice(MESSAGE_PREFIX);
                    b.extend_from_slice(&body);
                    b.freeze()
                } else {
                    body
                });
                self.continuing = p.more;
                self.out.push_back(echo);
            }
            PacketType::Ping | PacketType::Pong => {
                let mut echo = Packet::new(p.ptype.clone());
                echo.body = p.body.clone();
                self.out.push_back(echo);
            }
            PacketType::Credit => {}
            PacketType::KeepAlive => {
                // the session's liveness check needs to hear from us
                if !self.send(Packet::new(PacketType::KeepAlive)) {
                    return false;
                }
            }
            PacketType::Close => {
                if !self.closed {
                    self.closed = true;
                    let mut close = Packet::new(PacketType::Close);
                    close.code = p.code;
                    close.body = p.body.clone();
                    self.out.push_back(close);
                }
            }
            _ => return false,
        }
        self.credits = self.credits.saturating_add(p.credits.unwrap_or(0) as usize);
        self.flush()
    }
}

async fn run(mut rx: mpsc::Receiver<ClientCmd>, resource: Resource) {
    let limits = Limits::default();
    let Some(ClientCmd::Start { id, inbox, frame }) = rx.recv().await else {
        return;
    };
    let Ok(first) = Packet::decode(&frame, &limits) else {
        return;
    };
    let mut peer = Peer {
        inbox,
        id,
        seq: 0,
        grip: false,
        credits: first.credits.unwrap_or(0) as usize,
        out: VecDeque::new(),
        owed: 0,
        continuing: false,
        closed: false,
    };
    let channels = match resource {
        Resource::Ws(channels) => channels,
        Resource::NotFound => {
            let mut e = Packet::new(PacketType::Error);
            e.condition = Some(Condition::Rejected);
            e.code = Some(404);
            e.reason = Some(Bytes::from_static(b"Not Found"));
            e.headers = Some(vec![Header::new("Content-Type", "text/plain")]);
            e.body = Some(Bytes::from_static(b"no such test resource\n"));
            let _ = peer.send(e);
            return;
        }
    };
    peer.grip = grip_offered(first.header_list());
    let mut accept = Packet::new(PacketType::Data);
    accept.code = Some(101);
    accept.reason = Some(Bytes::from_static(b"Switching Protocols"));
    accept.headers = Some(if peer.grip {
        vec![Header::new("Sec-WebSocket-Extensions", "grip")]
    } else {
        Vec::new()
    });
    accept.credits = Some(CREDITS);
    if !peer.send(accept) {
        return;
    }
    if peer.grip {
        for channel in &channels {
            let mut m = Packet::new(PacketType::Data);
            m.body = Some(subscribe_message(channel));
            peer.out.push_back(m);
        }
        if !peer.flush() {
            return;
        }
    }
    while let Some(cmd) = rx.recv().await {
        match cmd {
            ClientCmd::Send { frame, .. } => {
                let Ok(p) = Packet::decode(&frame, &limits) else {
                    debug!("test websocket: undecodable packet; ending");
                    return;
                };
                if !peer.handle(p) {
                    return;
                }
            }
            ClientCmd::Done { .. } => return,
            ClientCmd::Start { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grip_extension_detected_as_1_36() {
        let h = |v: &'static str| vec![Header::new("Sec-WebSocket-Extensions", v)];
        assert!(grip_offered(&h("grip")));
        assert!(grip_offered(&h(
            "permessage-deflate, grip; message-prefix=\"\""
        )));
        assert!(!grip_offered(&h("permessage-deflate")));
        assert!(!grip_offered(&[]));
    }

    #[test]
    fn subscribe_message_is_indented_json() {
        assert_eq!(
            subscribe_message("a\"b"),
            "c:{\n    \"channel\": \"a\\\"b\",\n    \"type\": \"subscribe\"\n}\n"
        );
    }
}
