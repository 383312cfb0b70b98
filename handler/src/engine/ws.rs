//! GRIP WebSocket sessions over ws-control (`spec/internal.md` §7,
//! `spec/grip.md` §10): `here`/`keep-alive`/`gone` keep a session alive,
//! `grip` control messages and `subscribe` items manage its channels, and
//! published `ws-message` items become `send`/`close` items for the proxy,
//! after the channel's filters (`spec/grip.md` §8: a mismatch, a drop or a
//! filter error silently drops the message; `set-meta` sets the meta the
//! filters see).
//!
//! Items carrying a `req-id` are acked first, as 1.36 does; items for an
//! unknown cid (other than `here`) are answered with `cancel`. A `grip` item
//! whose message does not parse ends the packet with nothing sent for it, not
//! even the acks of its earlier items (1.36 returns before writing them; the
//! proxy then cancels the session when the ack times out). Sessions not
//! refreshed within their `ttl` are dropped.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use pushpin_grip::filter::{self, FilterStack};
use pushpin_grip::{KeepAliveMode, PublishItem, WsMessageFormat, WsMessageType};
use pushpin_internal::{
    GripControl, Known, SubscriptionMode, WsControlItem, WsControlItemKind, WsControlPacket,
};
use tracing::{debug, warn};

use super::Engine;

/// Default keep-alive timeout of a `keep-alive` control message, seconds.
const DEFAULT_WS_KEEP_ALIVE: u32 = 55;

/// One WebSocket session known from ws-control.
#[derive(Debug)]
pub(crate) struct WsSession {
    cid: Bytes,
    prefix: Bytes,
    channels: Vec<(Bytes, Vec<String>)>,
    expires_at: Instant,
    keep_alive: Option<(WsMessageType, Bytes)>,
    /// Subscription meta from `set-meta` (`spec/grip.md` §8).
    meta: BTreeMap<String, String>,
}

fn item(cid: &Bytes, kind: WsControlItemKind) -> WsControlItem {
    WsControlItem {
        cid: cid.clone(),
        req_id: None,
        kind,
    }
}

impl Engine {
    /// Handles one packet from the proxy.
    pub(crate) fn ws_packet(&mut self, packet: WsControlPacket, now: Instant) {
        // the items this packet answers with start here
        let answers = self.ws_out.len();
        for it in packet.items {
            let known = self.ws_by_cid.get(&it.cid).copied();
            if let Some(req_id) = &it.req_id {
                if known.is_some() || matches!(it.kind, WsControlItemKind::Here { .. }) {
                    self.ws_out.push(WsControlItem {
                        cid: it.cid.clone(),
                        req_id: Some(req_id.clone()),
                        kind: WsControlItemKind::Ack,
                    });
                }
            }
            match (it.kind, known) {
                (
                    WsControlItemKind::Here {
                        ttl,
                        channel_prefix,
                        ..
                    },
                    _,
                ) => self.ws_here(&it.cid, ttl, channel_prefix, now),
                (WsControlItemKind::Cancel, Some(token)) => self.ws_remove(token),
                (WsControlItemKind::Cancel | WsControlItemKind::Ack, None) => {}
                (_, None) => {
                    self.ws_out.push(item(&it.cid, WsControlItemKind::Cancel));
                }
                (WsControlItemKind::KeepAlive { ttl }, Some(token)) => {
                    if let Some(s) = self.ws_sessions.get_mut(&token) {
                        s.expires_at = now + ttl_of(ttl);
                    }
                }
                (WsControlItemKind::Gone, Some(token)) => self.ws_remove(token),
                (WsControlItemKind::Subscribe { channel }, Some(token)) => {
                    if let Some(channel) = channel {
                        self.ws_subscribe(token, channel, Vec::new());
                    }
                }
                (WsControlItemKind::NeedKeepAlive, Some(token)) => {
                    if let Some(s) = self.ws_sessions.get(&token) {
                        if let Some((t, content)) = &s.keep_alive {
                            let send = send_item(&s.cid, *t, content.clone());
                            self.ws_out.push(send);
                            self.stats.activity();
                        }
                    }
                }
                (WsControlItemKind::Grip { message }, Some(token)) => {
                    if !self.ws_grip(token, &it.cid, &message) {
                        // 1.36 ignores the rest of the packet and drops its answers,
                        // acks included (state changes made so far stay)
                        self.ws_out.truncate(answers);
                        return;
                    }
                }
                (_, Some(_)) => {}
            }
        }
    }

    fn ws_here(&mut self, cid: &Bytes, ttl: Option<u32>, prefix: Option<Bytes>, now: Instant) {
        if let Some(&token) = self.ws_by_cid.get(cid) {
            if let Some(s) = self.ws_sessions.get_mut(&token) {
                s.expires_at = now + ttl_of(ttl);
                s.prefix = prefix.unwrap_or_default();
            }
            return;
        }
        let token = self.next_token;
        self.next_token = self.next_token.wrapping_add(1);
        self.ws_by_cid.insert(cid.clone(), token);
        self.ws_sessions.insert(
            token,
            WsSession {
                cid: cid.clone(),
                prefix: prefix.unwrap_or_default(),
                channels: Vec::new(),
                expires_at: now + ttl_of(ttl),
                keep_alive: None,
                meta: BTreeMap::new(),
            },
        );
        debug!(cid = %String::from_utf8_lossy(cid), "websocket session");
    }

    /// Applies a GRIP control message; `false` when it does not parse.
    fn ws_grip(&mut self, token: u64, cid: &Bytes, message: &[u8]) -> bool {
        let control = match GripControl::parse(message) {
            Ok(c) => c,
            Err(e) => {
                // 1.36 logs this at debug level only
                debug!(error = %e, "failed to parse grip control message");
                return false;
            }
        };
        let prefix = self
            .ws_sessions
            .get(&token)
            .map(|s| s.prefix.clone())
            .unwrap_or_default();
        match control {
            GripControl::Subscribe { channel, filters } => {
                let mut name = prefix.to_vec();
                name.extend_from_slice(channel.as_bytes());
                self.ws_subscribe(token, Bytes::from(name), filters);
            }
            GripControl::Unsubscribe { channel } => {
                let mut name = prefix.to_vec();
                name.extend_from_slice(channel.as_bytes());
                self.ws_unsubscribe(token, &Bytes::from(name));
            }
            GripControl::Detach => self.ws_out.push(item(cid, WsControlItemKind::Detach)),
            GripControl::KeepAlive {
                message_type,
                content,
                timeout,
                mode,
            } => {
                let Some(s) = self.ws_sessions.get_mut(&token) else {
                    return true;
                };
                let setup = match content {
                    Some(content) => {
                        s.keep_alive = Some((message_type, content));
                        let mode = match mode {
                            Some(Known::Known(m)) => m,
                            _ => KeepAliveMode::Idle,
                        };
                        WsControlItemKind::KeepAliveSetup {
                            timeout: Some(timeout.unwrap_or(DEFAULT_WS_KEEP_ALIVE)),
                            mode: Some(Known::Known(mode)),
                        }
                    }
                    None => {
                        s.keep_alive = None;
                        WsControlItemKind::KeepAliveSetup {
                            timeout: None,
                            mode: None,
                        }
                    }
                };
                self.ws_out.push(item(cid, setup));
            }
            GripControl::SetMeta { name, value } => {
                if let Some(s) = self.ws_sessions.get_mut(&token) {
                    match value {
                        Some(value) => {
                            s.meta.insert(name, value);
                        }
                        None => {
                            s.meta.remove(&name);
                        }
                    }
                }
            }
            GripControl::Session { .. }
            | GripControl::SendDelayed { .. }
            | GripControl::FlushDelayed => {
                debug!("grip control message not supported yet; ignored");
            }
        }
        true
    }

    fn ws_subscribe(&mut self, token: u64, channel: Bytes, filters: Vec<String>) {
        let max = self.settings.subscription_max;
        let Some(s) = self.ws_sessions.get_mut(&token) else {
            return;
        };
        if s.channels.iter().any(|(c, _)| *c == channel) {
            return;
        }
        if s.channels.len() >= max {
            warn!("too many subscriptions");
            return;
        }
        s.channels.push((channel.clone(), filters));
        self.sequencer.subscribed(&channel);
        let subs = self.subscribe_channel(&channel);
        subs.ws.insert(token);
        let count = subs.ws.len();
        self.stats
            .subscribers(SubscriptionMode::Ws, &channel, count);
    }

    fn ws_unsubscribe(&mut self, token: u64, channel: &Bytes) {
        if let Some(s) = self.ws_sessions.get_mut(&token) {
            s.channels.retain(|(c, _)| c != channel);
        }
        let Some(subs) = self.channels.get_mut(channel) else {
            return;
        };
        if subs.ws.remove(&token) {
            let count = subs.ws.len();
            let empty = subs.is_empty();
            self.stats.subscribers(SubscriptionMode::Ws, channel, count);
            if empty {
                self.channels.remove(channel);
                self.sequencer.unsubscribed(channel);
                self.sub_changes.insert(channel.clone(), false);
            }
        }
    }

    pub(crate) fn ws_remove(&mut self, token: u64) {
        let Some(s) = self.ws_sessions.remove(&token) else {
            return;
        };
        self.ws_by_cid.remove(&s.cid);
        for (channel, _) in &s.channels {
            self.ws_unsubscribe(token, channel);
        }
    }

    /// Drops sessions whose ttl passed.
    pub(crate) fn ws_expire(&mut self, now: Instant) {
        let expired: Vec<u64> = self
            .ws_sessions
            .iter()
            .filter(|(_, s)| s.expires_at <= now)
            .map(|(&t, _)| t)
            .collect();
        for token in expired {
            debug!("websocket session expired");
            self.ws_remove(token);
        }
    }

    /// Delivers a `ws-message` item to one session.
    pub(crate) fn ws_deliver(&mut self, token: u64, item_: &PublishItem) -> bool {
        let Some(fmt) = &item_.formats.ws_message else {
            return false;
        };
        let Some(s) = self.ws_sessions.get(&token) else {
            return false;
        };
        let channel = item_.channel.as_bytes();
        let Some((_, filters)) = s.channels.iter().find(|(c, _)| c.as_ref() == channel) else {
            return false;
        };
        // grip.md §8: mismatch, drop and filter errors all drop the message;
        // WebSocket sessions give filters no prev-ids
        if let WsMessageFormat::Send {
            content_filters, ..
        } = fmt
        {
            if let Err(e) = filter::check_content_filters(filters, content_filters.as_deref()) {
                debug!(error = %e, "websocket message dropped");
                return false;
            }
        }
        let ctx = filter::Context {
            sub_meta: &s.meta,
            pub_meta: &item_.meta,
            ..filter::Context::default()
        };
        let mut stack = FilterStack::new(filters, ctx);
        if stack.drops() {
            return false;
        }
        match fmt {
            WsMessageFormat::Send {
                message_type,
                content,
                ..
            } => {
                let content = if !stack.rewrites() {
                    content.clone()
                } else {
                    match stack.process(content) {
                        Ok(out) => Bytes::from(out),
                        Err(e) => {
                            debug!(error = %e, "filter error");
                            return false;
                        }
                    }
                };
                let send = send_item(&s.cid, *message_type, content);
                self.ws_out.push(send);
                true
            }
            WsMessageFormat::Close { code, reason } => {
                let close = item(
                    &s.cid,
                    WsControlItemKind::Close {
                        code: *code,
                        reason: reason.clone(),
                    },
                );
                self.ws_out.push(close);
                true
            }
            WsMessageFormat::Hint => false,
        }
    }
}

fn send_item(cid: &Bytes, t: WsMessageType, content: Bytes) -> WsControlItem {
    item(
        cid,
        WsControlItemKind::Send {
            content_type: Some(Known::Known(t)),
            message: content,
            queue: false,
        },
    )
}

fn ttl_of(ttl: Option<u32>) -> Duration {
    Duration::from_secs(u64::from(
        ttl.unwrap_or(pushpin_internal::wscontrol::SESSION_TTL),
    ))
}
