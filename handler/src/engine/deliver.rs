//! Publish delivery (`spec/publishing.md` §7, §8; `spec/grip.md` §5.2,
//! §5.3, §7.2): de-duplication and sequencing of a published item, fan-out
//! to the channel's sessions through the rate limiter, and what one
//! delivery does to a response hold, a stream hold or a WebSocket session.
//!
//! Each delivery runs the channel's filters (`spec/grip.md` §8, pure parts
//! in [`pushpin_grip::filter`]) after the prev-id check, in 1.36's order:
//! `content-filters` must match, delivery filters may drop the item, content
//! filters rewrite a `send`'s content. A mismatch or filter error fails the
//! session (§5.8): a response hold answers 502, a stream ends.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use pushpin_grip::filter::{self, Context, FilterStack};
use pushpin_grip::publish::FormatKind;
use pushpin_grip::{HttpResponseFormat, HttpStreamFormat, PublishItem};
use tracing::debug;

use super::{Detach, Engine, detach_channels};
use crate::ratelimit::{Delivery, Transport};
use crate::response::{build_response, content_length, failure_response};
use crate::session::{Session, SubChannel};

impl Engine {
    pub(super) fn publish(&mut self, item: PublishItem, now: Instant) {
        let channel = Bytes::from(item.channel.clone());
        if let Some(id) = &item.id {
            if self.ids.seen(&channel, id, now) {
                self.counters.duplicates = self.counters.duplicates.saturating_add(1);
                debug!(channel = %item.channel, id = %id, "dropping duplicate item");
                return;
            }
        }
        if !self.channels.contains_key(&channel) {
            debug!(channel = %item.channel, "publish to a channel without subscribers");
            return;
        }
        for ready in self.sequencer.add(channel, item, now) {
            self.deliver(ready, now);
        }
    }

    /// Fans an item out to the channel's sessions, through the rate limiter
    /// when `message_rate` is set (`spec/publishing.md` §8).
    pub(super) fn deliver(&mut self, item: PublishItem, now: Instant) {
        let channel = Bytes::from(item.channel.clone());
        let Some(subs) = self.channels.get(&channel) else {
            return;
        };
        let stream: Vec<u64> = if item.formats.http_stream.is_some() {
            subs.stream.iter().copied().collect()
        } else {
            Vec::new()
        };
        let response: Vec<u64> = if item.formats.http_response.is_some() {
            subs.response.iter().copied().collect()
        } else {
            Vec::new()
        };
        let ws: Vec<u64> = if item.formats.ws_message.is_some() {
            subs.ws.iter().copied().collect()
        } else {
            Vec::new()
        };
        debug!(channel = %item.channel, receivers = stream.len() + response.len() + ws.len(), "publish");
        if !ws.is_empty() {
            self.stats.message(
                &channel,
                item.id.as_deref(),
                ws.len(),
                FormatKind::WsMessage,
            );
        }
        if !stream.is_empty() {
            self.stats.message(
                &channel,
                item.id.as_deref(),
                stream.len(),
                FormatKind::HttpStream,
            );
        }
        if !response.is_empty() {
            self.stats.message(
                &channel,
                item.id.as_deref(),
                response.len(),
                FormatKind::HttpResponse,
            );
        }
        let item = Arc::new(item);
        let targets = stream
            .into_iter()
            .map(|t| (t, Transport::Stream))
            .chain(response.into_iter().map(|t| (t, Transport::Response)))
            .chain(ws.into_iter().map(|t| (t, Transport::Ws)));
        for (token, transport) in targets {
            if self.limiter.admit(now) {
                self.deliver_to(token, &item, &channel, transport, now);
            } else if !self.limiter.queue(Delivery {
                token,
                item: Arc::clone(&item),
                transport,
            }) {
                self.counters.dropped = self.counters.dropped.saturating_add(1);
            }
        }
    }

    /// Releases rate-limited deliveries whose turn has come.
    pub(super) fn release_limited(&mut self, now: Instant) {
        while let Some(d) = self.limiter.next_ready(now) {
            let channel = Bytes::from(d.item.channel.clone());
            self.deliver_to(d.token, &d.item, &channel, d.transport, now);
        }
    }

    /// One delivery to one session.
    fn deliver_to(
        &mut self,
        token: u64,
        item: &PublishItem,
        channel: &Bytes,
        transport: Transport,
        now: Instant,
    ) {
        if transport == Transport::Ws {
            if self.ws_deliver(token, item) {
                self.counters.sent = self.counters.sent.saturating_add(1);
                self.stats.sent(false);
            }
            return;
        }
        if self.handing_off.contains(&token) {
            return;
        }
        let from = self.settings.from.clone();
        let Some(s) = self.sessions.get_mut(&token) else {
            return;
        };
        if !s.channels.iter().any(|c| c.name == *channel) {
            // unsubscribed while the delivery waited
            return;
        }
        if !channel_accepts(s, channel, item) {
            // grip.md §7.2: the channel's last id is forgotten; a response
            // hold goes back to the origin, a stream (without a next link)
            // skips the item
            self.sequencer.forget(channel);
            if transport == Transport::Response {
                self.start_retry(token, now);
            }
            return;
        }
        let debug = s.client.debug;
        match (
            transport,
            &item.formats.http_stream,
            &item.formats.http_response,
        ) {
            (Transport::Stream, Some(fmt), _) => match fmt {
                HttpStreamFormat::Send {
                    content,
                    content_filters,
                } => match filter_content(s, channel, item, content_filters.as_deref(), content) {
                    Filtered::Send(content) => {
                        if s.write(&from, &mut self.out, now, content) {
                            self.counters.sent = self.counters.sent.saturating_add(1);
                            self.stats.sent(false);
                            self.reschedule_keep_alive_if_idle(token, now, true);
                        } else {
                            self.counters.dropped = self.counters.dropped.saturating_add(1);
                            self.drops.dropped(&item.channel, &self.backlog, now);
                        }
                    }
                    Filtered::Drop => {}
                    Filtered::Fail(error) => {
                        // grip.md §5.8: the stream ends, with the text in debug mode
                        debug!(error = %error, "stream delivery failed");
                        if debug {
                            s.write(
                                &from,
                                &mut self.out,
                                now,
                                Bytes::from(format!("\n\n{error}\n")),
                            );
                        }
                        s.end(&from, &mut self.out, now);
                        self.finish(token);
                    }
                },
                HttpStreamFormat::Close => {
                    if !drops(s, channel, item) {
                        s.end(&from, &mut self.out, now);
                        self.finish(token);
                    }
                }
                HttpStreamFormat::Hint => {
                    if !drops(s, channel, item) {
                        self.fetch_next_link(token);
                    }
                }
            },
            (Transport::Response, _, Some(fmt)) => match fmt {
                HttpResponseFormat::Send(content) => {
                    let mut response = build_response(&s.response, content);
                    let filtered = filter_content(
                        s,
                        channel,
                        item,
                        content.content_filters.as_deref(),
                        &response.body,
                    );
                    match filtered {
                        Filtered::Send(body) => {
                            response.body = body;
                            response.headers =
                                content_length(response.headers, response.body.len());
                        }
                        Filtered::Drop => return,
                        Filtered::Fail(error) => {
                            // grip.md §5.8: 502, with the text in debug mode
                            debug!(error = %error, "response delivery failed");
                            response = failure_response(debug.then_some(error.as_str()));
                        }
                    }
                    let response = s.client.aco.respond(&s.retry.request.headers, response);
                    s.send_head(&from, &mut self.out, now, &response, true);
                    self.counters.sent = self.counters.sent.saturating_add(1);
                    self.stats.sent(true);
                    self.finish(token);
                }
                HttpResponseFormat::Hint => {
                    if !drops(s, channel, item) {
                        self.start_retry(token, now);
                    }
                }
                HttpResponseFormat::Close => {}
            },
            _ => {}
        }
    }

    /// The response of `token` has been ended: drop the session once the
    /// end is out, and take it off its channels and timers at once.
    pub(super) fn finish(&mut self, token: u64) {
        let finished = self.sessions.get(&token).is_none_or(Session::finished);
        if finished {
            self.remove_session(token);
        } else if let Some(s) = self.sessions.get_mut(&token) {
            for at in [s.timeout_at.take(), s.keep_alive_at.take()]
                .into_iter()
                .flatten()
            {
                self.timers.remove(&(at, token));
            }
            detach_channels(detach!(self), s, token);
        }
    }
}

/// prev-id check of one session channel (`spec/grip.md` §7.2); updates the
/// channel's prev-id on success.
fn channel_accepts(s: &mut Session, channel: &Bytes, item: &PublishItem) -> bool {
    let Some(ch) = s.channels.iter_mut().find(|c| c.name == *channel) else {
        return true;
    };
    let Some(expected) = &ch.prev_id else {
        return true;
    };
    if item.prev_id.as_ref() != Some(expected) {
        return false;
    }
    if let Some(id) = &item.id {
        ch.prev_id = Some(id.clone());
    }
    true
}

/// What the filters make of one `send` delivery (`spec/grip.md` §8).
enum Filtered {
    /// Deliver this content.
    Send(Bytes),
    /// A delivery filter dropped the item.
    Drop,
    /// Content-filter mismatch or filter error: the session fails with
    /// this text.
    Fail(String),
}

/// The session channel an item was published to.
fn sub_channel<'s>(s: &'s Session, channel: &Bytes) -> Option<&'s SubChannel> {
    s.channels.iter().find(|c| c.name == *channel)
}

fn context<'a>(
    s: &'a Session,
    prev_ids: &'a BTreeMap<String, Option<String>>,
    item: &'a PublishItem,
) -> Context<'a> {
    Context {
        prev_ids,
        sub_meta: &s.meta,
        pub_meta: &item.meta,
    }
}

/// Whether a delivery filter of the item's channel drops it.
fn drops(s: &Session, channel: &Bytes, item: &PublishItem) -> bool {
    let Some(ch) = sub_channel(s, channel).filter(|c| !c.filters.is_empty()) else {
        return false;
    };
    let prev_ids = s.filter_prev_ids();
    FilterStack::new(&ch.filters, context(s, &prev_ids, item)).drops()
}

/// Checks `content-filters`, then the delivery filters, then runs the
/// content filters over `content` (1.36's order).
fn filter_content(
    s: &Session,
    channel: &Bytes,
    item: &PublishItem,
    content_filters: Option<&[String]>,
    content: &Bytes,
) -> Filtered {
    let Some(ch) = sub_channel(s, channel) else {
        return Filtered::Send(content.clone());
    };
    if let Err(e) = filter::check_content_filters(&ch.filters, content_filters) {
        return Filtered::Fail(e.to_string());
    }
    if ch.filters.is_empty() {
        return Filtered::Send(content.clone());
    }
    let prev_ids = s.filter_prev_ids();
    let mut stack = FilterStack::new(&ch.filters, context(s, &prev_ids, item));
    if stack.drops() {
        return Filtered::Drop;
    }
    if !stack.rewrites() {
        // delivery filters only: the content goes as it is, without a copy
        return Filtered::Send(content.clone());
    }
    match stack.process(content) {
        Ok(out) => Filtered::Send(Bytes::from(out)),
        Err(e) => Filtered::Fail(format!("filter error: {e}")),
    }
}
