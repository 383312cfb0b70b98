//! Next links (`Grip-Link: <uri>; rel=next`, `spec/grip.md` §6): the
//! handler fetches the link through the proxy's internal-request (intreq)
//! ZHTTP interface (`spec/internal.md` §10), appends the response body to
//! the client's stream, and then follows the response's own instructions:
//! another link, a stream hold (the session adopts its channels), or the end
//! of the stream.
//!
//! Scope: links are fetched right after a no-hold ("chained") response and
//! on a `hint` publish to a stream with a link; 1.36 also refetches on a
//! per-link timer, which is not done here. A failed fetch (non-2xx, error,
//! invalid instructions) ends the stream at once (1.36 retries up to five
//! times first). Responses are read with the initial credit window
//! ([`INTREQ_CREDITS`]); a longer body ends the stream.

use bytes::{Bytes, BytesMut};
use pushpin_grip::filter::{self, FilterStack};
use pushpin_grip::{HoldMode, Instruct};
use pushpin_tnetstring::Value;
use pushpin_zhttp::{Header, Id, Ids, Packet, PacketType};
use tracing::{debug, warn};

use super::Engine;
use crate::session::SubChannel;

/// Response body bytes the handler lets the proxy send for one link.
pub(crate) const INTREQ_CREDITS: u32 = 200_000;

/// An internal request in flight.
#[derive(Debug)]
pub(crate) struct Fetch {
    token: u64,
    code: Option<u16>,
    reason: Bytes,
    headers: Vec<(Bytes, Bytes)>,
    body: BytesMut,
}

/// Resolves `link` against `base` (absolute, or absolute path, or relative
/// to the base's directory).
pub(crate) fn resolve(base: &[u8], link: &[u8]) -> Bytes {
    if link.starts_with(b"http://") || link.starts_with(b"https://") {
        return Bytes::copy_from_slice(link);
    }
    let authority_end = base
        .windows(3)
        .position(|w| w == b"://")
        .map(|at| at + 3)
        .and_then(|start| {
            let rest = base.get(start..)?;
            Some(start + rest.iter().position(|&c| c == b'/').unwrap_or(rest.len()))
        })
        .unwrap_or(0);
    let origin = base.get(..authority_end).unwrap_or_default();
    let mut out = origin.to_vec();
    if link.starts_with(b"/") {
        out.extend_from_slice(link);
    } else {
        let path = base.get(authority_end..).unwrap_or_default();
        let path = &path[..path.iter().position(|&c| c == b'?').unwrap_or(path.len())];
        let dir_end = path.iter().rposition(|&c| c == b'/').map_or(0, |at| at + 1);
        if dir_end == 0 {
            out.push(b'/');
        }
        out.extend_from_slice(path.get(..dir_end).unwrap_or_default());
        out.extend_from_slice(link);
    }
    Bytes::from(out)
}

fn same_origin(a: &[u8], b: &[u8]) -> bool {
    let origin = |u: &[u8]| -> Vec<u8> {
        let start = u
            .windows(3)
            .position(|w| w == b"://")
            .map_or(0, |at| at + 3);
        let rest = u.get(start..).unwrap_or_default();
        let end = start + rest.iter().position(|&c| c == b'/').unwrap_or(rest.len());
        u.get(..end).unwrap_or_default().to_ascii_lowercase()
    };
    origin(a) == origin(b)
}

impl Engine {
    /// Sends the internal request for a session's next link.
    pub(crate) fn fetch_next_link(&mut self, token: u64) {
        let Some(s) = self.sessions.get_mut(&token) else {
            return;
        };
        let Some(link) = s.next_link.clone() else {
            return;
        };
        if s.fetching.is_some() {
            return;
        }
        self.intreq_counter = self.intreq_counter.wrapping_add(1);
        let id = Bytes::from(format!(
            "{}-nl-{}",
            String::from_utf8_lossy(&self.settings.from),
            self.intreq_counter
        ));
        let mut p = Packet::new(PacketType::Data);
        p.from = self.settings.from.clone();
        p.ids = Ids::One(Id(id.clone()));
        p.seq = Some(0);
        p.ext.multi = true;
        p.method = Some(Bytes::from_static(b"GET"));
        p.uri = Some(link.clone());
        let headers: Vec<Header> = s
            .channels
            .iter()
            .filter_map(|c| {
                let prev = c.prev_id.as_ref()?;
                let name = c
                    .name
                    .strip_prefix(s.retry.channel_prefix.as_ref())
                    .unwrap_or(&c.name);
                let value = format!("{}; last-id={prev}", String::from_utf8_lossy(name));
                Some(Header::new(
                    Bytes::from_static(b"Grip-Last"),
                    Bytes::from(value),
                ))
            })
            .collect();
        if !headers.is_empty() {
            p.headers = Some(headers);
        }
        p.credits = Some(INTREQ_CREDITS);
        p.stream = true;
        let mut passthrough = Vec::new();
        if let Some(route) = &s.retry.route {
            passthrough.push((Bytes::from_static(b"route"), Value::Bytes(route.clone())));
        }
        if same_origin(&link, &s.retry.request.uri) {
            passthrough.push((Bytes::from_static(b"prefer-internal"), Value::Bool(true)));
        }
        if s.retry.trusted {
            passthrough.push((Bytes::from_static(b"trusted"), Value::Bool(true)));
        }
        passthrough.push((Bytes::from_static(b"auto-share"), Value::Bool(true)));
        p.passthrough = Some(Value::Map(passthrough));
        s.fetching = Some(id.clone());
        debug!(link = %String::from_utf8_lossy(&link), "fetching next link");
        self.intreq_out.push(p.to_bytes());
        self.intreqs.insert(
            id,
            Fetch {
                token,
                code: None,
                reason: Bytes::new(),
                headers: Vec::new(),
                body: BytesMut::new(),
            },
        );
    }

    /// Handles a packet of an internal request.
    pub(crate) fn intreq_packet(&mut self, p: Packet, now: std::time::Instant) {
        let Some(Id(id)) = p.id().cloned() else {
            return;
        };
        let Some(fetch) = self.intreqs.get_mut(&id) else {
            return;
        };
        let token = fetch.token;
        match p.ptype {
            PacketType::Data => {
                if let Some(code) = p.code {
                    fetch.code = Some(code);
                    fetch.reason = p.reason.clone().unwrap_or_default();
                    fetch.headers = p
                        .header_list()
                        .iter()
                        .map(|h| (h.name.clone(), h.value.clone()))
                        .collect();
                }
                fetch.body.extend_from_slice(p.body_bytes());
                if fetch.body.len() > INTREQ_CREDITS as usize {
                    warn!("next link response too large");
                    self.link_failed(&id, token, now);
                } else if !p.more {
                    self.link_done(&id, now);
                }
            }
            PacketType::Error | PacketType::Cancel => {
                warn!("next link request failed");
                self.link_failed(&id, token, now);
            }
            _ => {}
        }
    }

    fn link_failed(&mut self, id: &Bytes, token: u64, now: std::time::Instant) {
        self.intreqs.remove(id);
        let from = self.settings.from.clone();
        if let Some(s) = self.sessions.get_mut(&token) {
            s.fetching = None;
            s.end(&from, &mut self.out, now);
        }
        self.finish(token);
    }

    fn link_done(&mut self, id: &Bytes, now: std::time::Instant) {
        let Some(fetch) = self.intreqs.remove(id) else {
            return;
        };
        let token = fetch.token;
        let code = fetch.code.unwrap_or(0);
        if !(200..300).contains(&code) {
            warn!(code, "next link returned an error status");
            return self.link_failed(id, token, now);
        }
        let body = fetch.body.freeze();
        let instruct = match Instruct::parse(code, &fetch.reason, &fetch.headers, &body) {
            Ok(i) => i,
            Err(e) => {
                warn!(error = %e, "next link returned invalid instructions");
                return self.link_failed(id, token, now);
            }
        };
        if instruct.hold == Some(HoldMode::Response) {
            warn!("Next link returned non-stream hold.");
            return self.link_failed(id, token, now);
        }
        let from = self.settings.from.clone();
        let Some(s) = self.sessions.get_mut(&token) else {
            return;
        };
        s.fetching = None;
        let content = instruct.response.body_or_empty();
        if !content.is_empty() {
            // grip.md §5.4: next-link bodies go through the session's
            // proxy-content filters; an error ends the stream (§5.8)
            let names =
                filter::proxy_content_filters(s.channels.iter().map(|c| c.filters.as_slice()));
            let filtered = if names.is_empty() {
                Ok(content)
            } else {
                FilterStack::new(&names, filter::Context::proxy(&s.meta))
                    .process(&content)
                    .map(Bytes::from)
            };
            match filtered {
                Ok(content) => {
                    s.write(&from, &mut self.out, now, content);
                }
                Err(e) => {
                    debug!(error = %e, "next link body failed its filters");
                    if s.client.debug {
                        let text = format!("\n\nfilter error: {e}\n");
                        s.write(&from, &mut self.out, now, Bytes::from(text));
                    }
                    s.end(&from, &mut self.out, now);
                    self.finish(token);
                    return;
                }
            }
        }
        // 1.36 replaces the session's instruct, meta included
        s.meta = std::sync::Arc::new(instruct.meta.clone());
        let base = s.next_link.clone().unwrap_or_default();
        s.next_link = instruct.next_link.as_ref().map(|l| resolve(&base, &l.uri));
        match instruct.hold {
            Some(_) => {
                // stream hold: adopt the new channels
                let prefix = s.retry.channel_prefix.clone();
                let channels: Vec<SubChannel> = instruct
                    .channels
                    .iter()
                    .take(self.settings.subscription_max)
                    .map(|c| {
                        let mut name = prefix.to_vec();
                        name.extend_from_slice(c.name.as_bytes());
                        SubChannel {
                            name: Bytes::from(name),
                            filter_name: c.name.clone(),
                            prev_id: c.prev_id.clone(),
                            filters: c.filters.clone(),
                        }
                    })
                    .collect();
                s.chained = false;
                s.keep_alive.clone_from(&instruct.keep_alive);
                self.replace_channels(token, channels);
                self.restart_keep_alive(token, now);
            }
            None if self_has_link(self, token) => self.fetch_next_link(token),
            None => {
                if let Some(s) = self.sessions.get_mut(&token) {
                    s.end(&from, &mut self.out, now);
                }
                self.finish(token);
            }
        }
    }
}

fn self_has_link(engine: &Engine, token: u64) -> bool {
    engine
        .sessions
        .get(&token)
        .is_some_and(|s| s.next_link.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_resolve_like_urls() {
        let base = b"http://h:1/a/b?x=1";
        assert_eq!(resolve(base, b"/c"), Bytes::from_static(b"http://h:1/c"));
        assert_eq!(resolve(base, b"c"), Bytes::from_static(b"http://h:1/a/c"));
        assert_eq!(
            resolve(base, b"https://o/p"),
            Bytes::from_static(b"https://o/p")
        );
        assert!(same_origin(b"http://h:1/a", b"http://H:1/b"));
        assert!(!same_origin(b"http://h:1/a", b"http://h:2/a"));
    }
}
