//! GRIP over a WebSocket, shared by plain passthrough ([`super::ws`]) and
//! WebSocket-over-HTTP ([`super::woh`]) sessions (`spec/grip.md` §10,
//! `spec/internal.md` §7): the `grip` extension of the origin's handshake, the sorting of
//! origin messages into control messages (`c:`), prefixed messages for the client and
//! unprefixed ones to drop, and the session's ws-control registration with its timers
//! (the `here` / `keep-alive` / `gone` lifecycle, requests awaiting the handler's `ack`
//! for 8 s, the handler-driven keep-alive).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use pushpin_config::routes::Target;
use pushpin_grip::params::{ParseMode, parse_params, split_list};
use pushpin_grip::{KeepAliveMode, WsMessageType};
use pushpin_internal::{Known, WsControlItem, WsControlItemKind};
use pushpin_zhttp::{Packet, PacketType};
use tokio::sync::mpsc;
use tracing::debug;

use crate::outgoing::Header;
use crate::session::Request;
use crate::wscontrol::{SessionMsg, WsCmd, WsControlHandle};

/// The extension header of both handshakes.
pub(super) const EXTENSIONS: &[u8] = b"Sec-WebSocket-Extensions";
/// Default GRIP message prefix.
pub(super) const DEFAULT_PREFIX: &[u8] = b"m:";
/// The prefix of an origin's control message.
const CONTROL_PREFIX: &[u8] = b"c:";
/// ws-control session lifetime in the handler without a refresh (1.36 `SESSION_TTL`).
const SESSION_TTL: u32 = pushpin_internal::wscontrol::SESSION_TTL;
/// How often the session is refreshed in the handler.
const REFRESH: Duration = Duration::from_secs(45);
/// How long the handler has to acknowledge an item (1.36 `REQUEST_TIMEOUT`).
const ACK_TIMEOUT: Duration = Duration::from_secs(8);

/// The `grip` extension as the origin accepted it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct GripExtension {
    /// The element as written (relayed to a trusted client).
    pub(super) raw: Bytes,
    /// `message-prefix`, default `m:`.
    pub(super) prefix: Bytes,
}

/// The first `grip` element of the `Sec-WebSocket-Extensions` headers (values split on
/// commas), as 1.36 reads it: the element is `grip` or starts with `grip;`, and its
/// parameters must parse, else there is no extension.
pub(super) fn grip_extension(headers: &[Header]) -> Option<GripExtension> {
    let raw = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(EXTENSIONS))
        .flat_map(|(_, v)| split_list(v))
        .find(|e| {
            let name = e.split(|b| *b == b';').next().unwrap_or_default();
            name.trim_ascii() == b"grip"
        })?;
    let params = parse_params(raw, ParseMode::NoParseFirstParameter)?;
    Some(GripExtension {
        raw: Bytes::copy_from_slice(raw),
        prefix: Bytes::copy_from_slice(params.get(b"message-prefix").unwrap_or(DEFAULT_PREFIX)),
    })
}

/// What an origin message (its first frame) is when GRIP is on.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum OriginMessage {
    /// A `c:` text message: the control message for the handler, prefix removed.
    Control(Bytes),
    /// A message for the client: its content without the message prefix.
    Client(Bytes),
    /// A message without the prefix: dropped.
    Unprefixed,
}

/// Sorts the first frame of an origin message (`spec/internal.md` §7.5).
pub(super) fn classify(text: bool, content: &Bytes, prefix: &[u8]) -> OriginMessage {
    if text && content.starts_with(CONTROL_PREFIX) {
        OriginMessage::Control(content.slice(CONTROL_PREFIX.len()..))
    } else if content.starts_with(prefix) {
        OriginMessage::Client(content.slice(prefix.len()..))
    } else {
        OriginMessage::Unprefixed
    }
}

/// A client packet for a message of `kind` with `body`.
pub(super) fn message_packet(kind: WsMessageType, body: Bytes) -> Packet {
    let (ptype, content_type) = match kind {
        WsMessageType::Text => (PacketType::Data, None),
        WsMessageType::Binary => (PacketType::Data, Some(pushpin_zhttp::ContentType::Binary)),
        WsMessageType::Ping => (PacketType::Ping, None),
        WsMessageType::Pong => (PacketType::Pong, None),
    };
    Packet {
        ptype,
        body: Some(body),
        content_type,
        ..Packet::default()
    }
}

/// The next message from the handler for a registered session (the `rx` of its
/// [`Control`]); without a registration, never.
pub(super) async fn next_msg(rx: Option<&mut mpsc::Receiver<SessionMsg>>) -> Option<SessionMsg> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Settles a handler `ack` item (the handler acknowledged one of our requests) and returns
/// `None`; returns any other item, to act on.
pub(super) fn settle_ack(
    control: Option<&mut Control>,
    item: WsControlItem,
) -> Option<WsControlItem> {
    if !matches!(item.kind, WsControlItemKind::Ack) {
        return Some(item);
    }
    if let (Some(id), Some(c)) = (item.req_id, control) {
        c.acked(&id);
    }
    None
}

/// Acknowledges a handler item that carried `req_id`, when it did and the session is
/// registered.
pub(super) fn ack(control: Option<&Control>, req_id: Option<Bytes>) {
    if let (Some(id), Some(c)) = (req_id, control) {
        c.ack(id);
    }
}

/// The handler gave up on the session (or did not acknowledge in time).
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Expired;

/// A session's ws-control registration; GRIP state when `grip`.
pub(super) struct Control {
    /// GRIP is on or the target has `sub=` channels: the handler knows the session.
    pub(super) grip: bool,
    handle: WsControlHandle,
    cid: Bytes,
    pub(super) rx: mpsc::Receiver<SessionMsg>,
    next_req_id: u32,
    pending_acks: VecDeque<(Bytes, Instant)>,
    refresh_at: Instant,
    keep_alive: Option<(Duration, KeepAliveMode)>,
    keep_alive_at: Option<Instant>,
}

/// Registers the session with the ws-control task; when `grip`, tells the handler
/// (`here`, then the target's `sub=` channels).
pub(super) async fn register(
    handle: &WsControlHandle,
    cid: Bytes,
    req: &Request,
    target: &Target,
    grip: bool,
) -> Option<Control> {
    let (tx, rx) = mpsc::channel(crate::wscontrol::INBOX_CAPACITY);
    handle
        .tx
        .send(WsCmd::Register {
            cid: cid.clone(),
            inbox: tx,
            grip,
        })
        .await
        .ok()?;
    let now = Instant::now();
    let mut c = Control {
        grip,
        handle: handle.clone(),
        cid,
        rx,
        next_req_id: 0,
        pending_acks: VecDeque::new(),
        refresh_at: now + REFRESH,
        keep_alive: None,
        keep_alive_at: None,
    };
    if !grip {
        return Some(c);
    }
    c.send(WsControlItemKind::Here {
        uri: Some(req.client.uri_text.clone()),
        ttl: Some(SESSION_TTL),
        route: req.route.id.clone().map(Bytes::from),
        separate_stats: false,
        channel_prefix: Some(Bytes::from(req.route.prefix.clone())).filter(|p| !p.is_empty()),
    });
    for channel in &target.subscriptions {
        debug!(channel = %channel, "implicit subscription");
        c.request(WsControlItemKind::Subscribe {
            channel: Some(Bytes::from(channel.clone())),
        });
    }
    Some(c)
}

impl Control {
    fn item(&self, kind: WsControlItemKind) -> WsControlItem {
        WsControlItem {
            cid: self.cid.clone(),
            req_id: None,
            kind,
        }
    }

    /// Sends an item that wants an `ack`.
    pub(super) fn request(&mut self, kind: WsControlItemKind) {
        let id = Bytes::from(self.next_req_id.to_string());
        self.next_req_id = self.next_req_id.wrapping_add(1);
        let mut item = self.item(kind);
        item.req_id = Some(id.clone());
        self.pending_acks
            .push_back((id, Instant::now() + ACK_TIMEOUT));
        self.handle.send(item);
    }

    /// Forwards an origin's control message (`c:` removed) to the handler.
    pub(super) fn grip_message(&mut self, message: Bytes) {
        self.request(WsControlItemKind::Grip { message });
    }

    fn send(&self, kind: WsControlItemKind) {
        self.handle.send(self.item(kind));
    }

    /// Acknowledges a handler item that carried `req_id`.
    pub(super) fn ack(&self, req_id: Bytes) {
        let mut item = self.item(WsControlItemKind::Ack);
        item.req_id = Some(req_id);
        self.handle.send(item);
    }

    /// The handler acknowledged one of our requests.
    pub(super) fn acked(&mut self, req_id: &Bytes) {
        self.pending_acks.retain(|(p, _)| p != req_id);
    }

    /// The handler's `keep-alive-setup`: start (timeout > 0) or stop the timer.
    pub(super) fn keep_alive_setup(
        &mut self,
        timeout: Option<u32>,
        mode: Option<Known<KeepAliveMode>>,
    ) {
        match timeout.filter(|t| *t > 0) {
            Some(t) => {
                let t = Duration::from_secs(u64::from(t));
                let mode = match mode {
                    Some(Known::Known(m)) => m,
                    _ => KeepAliveMode::Idle,
                };
                self.keep_alive = Some((t, mode));
                self.keep_alive_at = Some(Instant::now() + t);
            }
            None => {
                self.keep_alive = None;
                self.keep_alive_at = None;
            }
        }
    }

    /// A message went to the client: an idle keep-alive starts over.
    pub(super) fn message_sent(&mut self, now: Instant) {
        if let Some((t, KeepAliveMode::Idle)) = self.keep_alive {
            self.keep_alive_at = Some(now + t);
        }
    }

    /// The earliest of this side's timers.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        if !self.grip {
            return None;
        }
        [
            Some(self.refresh_at),
            self.pending_acks.front().map(|(_, t)| *t),
            self.keep_alive_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Runs the timers that are due: the session refresh, the ack timeout, the
    /// handler's keep-alive. `Err` when the session must end.
    pub(super) fn timers(&mut self, now: Instant) -> Result<(), Expired> {
        if !self.grip {
            return Ok(());
        }
        if self.refresh_at <= now {
            self.send(WsControlItemKind::KeepAlive {
                ttl: Some(SESSION_TTL),
            });
            self.refresh_at = now + REFRESH;
        }
        if self.pending_acks.iter().any(|(_, t)| *t <= now) {
            tracing::warn!("handler did not acknowledge a ws-control request; dropping the client");
            return Err(Expired);
        }
        if let Some((t, _)) = self
            .keep_alive
            .filter(|_| self.keep_alive_at.is_some_and(|a| a <= now))
        {
            self.send(WsControlItemKind::NeedKeepAlive);
            self.keep_alive_at = Some(now + t);
        }
        Ok(())
    }

    /// The session is over: the handler hears `gone`, the task forgets the cid.
    pub(super) fn finish(self) {
        if self.grip {
            self.send(WsControlItemKind::Gone);
        }
        if let Err(e) = self.handle.tx.try_send(WsCmd::Unregister {
            cid: self.cid.clone(),
        }) {
            debug!(error = %e, "ws-control queue full; the task forgets the session on its next item");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(v: &'static str) -> Header {
        (
            Bytes::from_static(EXTENSIONS),
            Bytes::from_static(v.as_bytes()),
        )
    }

    #[test]
    fn grip_extension_found_as_1_36_reads_it() {
        let ext = grip_extension(&[h("grip")]).unwrap();
        assert_eq!((&ext.raw[..], &ext.prefix[..]), (&b"grip"[..], &b"m:"[..]));
        let ext = grip_extension(&[h("permessage-deflate, grip; message-prefix=\"\"")]).unwrap();
        assert_eq!(&ext.raw[..], b"grip; message-prefix=\"\"");
        assert_eq!(&ext.prefix[..], b"");
        let ext = grip_extension(&[h("x"), h("grip ;message-prefix=p-")]).unwrap();
        assert_eq!(&ext.prefix[..], b"p-");
        assert_eq!(grip_extension(&[h("gripx"), h("permessage-deflate")]), None);
        assert_eq!(grip_extension(&[]), None);
        // unparseable parameters: no extension
        assert_eq!(grip_extension(&[h("grip; message-prefix=\"m:")]), None);
    }

    #[test]
    fn origin_messages_sorted() {
        let b = |s: &'static str| Bytes::from_static(s.as_bytes());
        assert_eq!(
            classify(true, &b("c:{\"type\":\"detach\"}"), b"m:"),
            OriginMessage::Control(b("{\"type\":\"detach\"}"))
        );
        assert_eq!(
            classify(true, &b("m:hi"), b"m:"),
            OriginMessage::Client(b("hi"))
        );
        // binary messages are never control messages
        assert_eq!(classify(false, &b("c:x"), b"m:"), OriginMessage::Unprefixed);
        assert_eq!(
            classify(false, &b("c:x"), b"c"),
            OriginMessage::Client(b(":x"))
        );
        assert_eq!(
            classify(true, &b("plain"), b"m:"),
            OriginMessage::Unprefixed
        );
        // an empty prefix passes everything but control messages
        assert_eq!(
            classify(true, &b("plain"), b""),
            OriginMessage::Client(b("plain"))
        );
    }
}
