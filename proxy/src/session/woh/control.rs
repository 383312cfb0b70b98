//! The GRIP side of a WebSocket-over-HTTP session (`spec/internal.md` §7,
//! `spec/grip.md` §10): registration with the ws-control task, the `here` /
//! `keep-alive` / `gone` lifecycle, requests awaiting the handler's `ack` (8 s), the
//! handler-driven keep-alive timer, and what the handler's items do to the session.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use pushpin_config::routes::Target;
use pushpin_grip::{KeepAliveMode, WsMessageType};
use pushpin_internal::{Known, WsControlItem, WsControlItemKind};
use tokio::sync::mpsc;
use tracing::debug;

use super::events::{Event, EventType};
use super::{End, Session, close_packet, close_payload, message_packet};
use crate::session::Request;
use crate::wscontrol::{SessionMsg, WsCmd, WsControlHandle};

/// ws-control session lifetime in the handler without a refresh (1.36 `SESSION_TTL`).
const SESSION_TTL: u32 = pushpin_internal::wscontrol::SESSION_TTL;
/// How often the session is refreshed in the handler.
const REFRESH: Duration = Duration::from_secs(45);
/// How long the handler has to acknowledge an item (1.36 `REQUEST_TIMEOUT`).
const ACK_TIMEOUT: Duration = Duration::from_secs(8);

/// A session's ws-control registration; GRIP state when `grip`.
pub(super) struct Control {
    /// GRIP is on or the target has `sub=` channels: the handler knows the session.
    pub(super) grip: bool,
    handle: WsControlHandle,
    cid: Bytes,
    pub(super) rx: mpsc::Receiver<SessionMsg>,
    next_req_id: u32,
    pub(super) pending_acks: VecDeque<(Bytes, Instant)>,
    pub(super) refresh_at: Instant,
    keep_alive: Option<(Duration, KeepAliveMode)>,
    pub(super) keep_alive_at: Option<Instant>,
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

    fn send(&self, kind: WsControlItemKind) {
        self.handle.send(self.item(kind));
    }

    pub(super) fn message_sent(&mut self, now: Instant) {
        if let Some((t, KeepAliveMode::Idle)) = self.keep_alive {
            self.keep_alive_at = Some(now + t);
        }
    }
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
        c.request(WsControlItemKind::Subscribe {
            channel: Some(Bytes::from(channel.clone())),
        });
    }
    Some(c)
}

impl Session<'_> {
    /// Acts on an item from the handler.
    pub(super) fn control_item(&mut self, item: WsControlItem) -> Option<End> {
        let c = self.control.as_mut()?;
        let ack = item.req_id.clone();
        match item.kind {
            WsControlItemKind::Ack => {
                if let Some(id) = ack {
                    c.pending_acks.retain(|(p, _)| *p != id);
                }
                return None;
            }
            WsControlItemKind::Send {
                content_type,
                message,
                queue,
            } => {
                let kind = match content_type {
                    None => Some(WsMessageType::Text),
                    Some(Known::Known(t)) => Some(t),
                    Some(Known::Other(_)) => None,
                };
                let fits = self.to_client.is_empty()
                    && self.conn.out_credits.available() as usize >= message.len();
                match kind {
                    Some(kind)
                        if !self.close_sent
                            && ((queue && self.to_client.len() < super::MAX_TO_CLIENT) || fits) =>
                    {
                        self.to_client.push_back(message_packet(kind, message));
                    }
                    _ => debug!("message from the handler not deliverable now; dropped"),
                }
            }
            WsControlItemKind::KeepAliveSetup { timeout, mode } => {
                match timeout.filter(|t| *t > 0) {
                    Some(t) => {
                        let t = Duration::from_secs(u64::from(t));
                        let mode = match mode {
                            Some(Known::Known(m)) => m,
                            _ => KeepAliveMode::Idle,
                        };
                        c.keep_alive = Some((t, mode));
                        c.keep_alive_at = Some(Instant::now() + t);
                    }
                    None => {
                        c.keep_alive = None;
                        c.keep_alive_at = None;
                    }
                }
            }
            WsControlItemKind::Close { code, reason } => {
                if !self.close_sent {
                    self.to_client.push_back(close_packet(code, reason.clone()));
                    self.close_sent = true;
                    self.client_close = None;
                }
                if !self.backend_closed && !self.detached {
                    let ev = match close_payload(code, reason.as_ref()) {
                        Some(payload) => Event::with(EventType::Close, payload),
                        None => Event::bare(EventType::Close),
                    };
                    self.outq.push_back(ev);
                    self.backend_closed = true;
                }
            }
            WsControlItemKind::Detach => {
                if !self.backend_closed {
                    self.outq.push_back(Event::bare(EventType::Close));
                    self.backend_closed = true;
                }
                self.detached = true;
            }
            WsControlItemKind::Cancel => return Some(End::DropBoth),
            _ => {}
        }
        if let (Some(id), Some(c)) = (ack, self.control.as_ref()) {
            let mut item = c.item(WsControlItemKind::Ack);
            item.req_id = Some(id);
            c.handle.send(item);
        }
        None
    }
}

impl Control {
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
    /// handler's keep-alive. `Some` when the session must end.
    pub(super) fn timers(&mut self, now: Instant) -> Option<End> {
        if !self.grip {
            return None;
        }
        if self.refresh_at <= now {
            self.send(WsControlItemKind::KeepAlive {
                ttl: Some(SESSION_TTL),
            });
            self.refresh_at = now + REFRESH;
        }
        if self.pending_acks.front().is_some_and(|(_, t)| *t <= now) {
            tracing::warn!("handler did not acknowledge a ws-control request; dropping the client");
            return Some(End::DropBoth);
        }
        if let Some((t, _)) = self
            .keep_alive
            .filter(|_| self.keep_alive_at.is_some_and(|a| a <= now))
        {
            self.send(WsControlItemKind::NeedKeepAlive);
            self.keep_alive_at = Some(now + t);
        }
        None
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
