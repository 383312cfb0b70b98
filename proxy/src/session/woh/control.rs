//! The handler's items acting on a WebSocket-over-HTTP session (`spec/internal.md` §7,
//! `spec/grip.md` §10); the registration and its timers are shared with plain
//! WebSockets ([`crate::session::wsgrip`]).

use pushpin_grip::WsMessageType;
use pushpin_internal::{Known, WsControlItem, WsControlItemKind};
use tracing::debug;

use super::events::{Event, EventType};
use super::{End, Session, close_packet, close_payload, message_packet};
use crate::session::wsgrip;
pub(super) use crate::session::wsgrip::{Control, register};

impl Session<'_> {
    /// Acts on an item from the handler.
    pub(super) fn control_item(&mut self, item: WsControlItem) -> Option<End> {
        let c = self.control.as_mut()?;
        let item = wsgrip::settle_ack(Some(&mut *c), item)?;
        let ack = item.req_id.clone();
        match item.kind {
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
                c.keep_alive_setup(timeout, mode);
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
        wsgrip::ack(self.control.as_ref(), ack);
        None
    }
}
