//! The backend side of a WebSocket-over-HTTP connection: what every request carries
//! (the rewritten client headers, `Connection-Id`, `Meta-*` from `Set-Meta-*`) and how
//! backend responses and client handshake headers are read (`spec/grip.md` §9.1, §9.3,
//! §9.4, §10.1).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};

use super::events::{self, Event};
use super::post;
use crate::outgoing::{self, Header};

/// The content type of both directions.
pub(super) const EVENTS_TYPE: &[u8] = b"application/websocket-events";
/// Smallest honoured `Keep-Alive-Interval` (1.36).
pub(super) const MIN_KEEP_ALIVE_INTERVAL: u64 = 20;

/// A request to the backend, owning everything it needs.
pub(super) type PostFuture =
    Pin<Box<dyn Future<Output = Result<post::Response, post::Error>> + Send>>;

/// What stays the same for every request of the connection.
pub(super) struct Backend {
    pub(super) io: crate::client::ClientHandle,
    pub(super) instance: Bytes,
    pub(super) target: post::Target,
    pub(super) headers: Vec<Header>,
    pub(super) cid: Bytes,
    pub(super) meta: Vec<Header>,
}

impl Backend {
    pub(super) fn request(&self, events: &[Event]) -> PostFuture {
        let mut body = BytesMut::new();
        events::encode(events, &mut body);
        let mut headers = Vec::with_capacity(self.headers.len() + 4 + self.meta.len());
        headers.extend(self.headers.iter().cloned());
        headers.push((
            Bytes::from_static(b"Accept"),
            Bytes::from_static(EVENTS_TYPE),
        ));
        headers.push((Bytes::from_static(b"Connection-Id"), self.cid.clone()));
        headers.push((
            Bytes::from_static(b"Content-Type"),
            Bytes::from_static(EVENTS_TYPE),
        ));
        headers.push((
            Bytes::from_static(b"Content-Length"),
            Bytes::from(body.len().to_string()),
        ));
        for (name, value) in &self.meta {
            let mut n = BytesMut::with_capacity(5 + name.len());
            n.put_slice(b"Meta-");
            n.put_slice(name);
            headers.push((n.freeze(), value.clone()));
        }
        Box::pin(post::post(
            self.io.clone(),
            self.instance.clone(),
            self.target.clone(),
            headers,
            body.freeze(),
        ))
    }

    /// Applies `Set-Meta-*` headers (an empty value deletes).
    pub(super) fn apply_meta(&mut self, headers: &[Header]) {
        for (name, value) in headers {
            let Some(meta) = strip_prefix_ci(name, b"Set-Meta-").filter(|m| !m.is_empty()) else {
                continue;
            };
            self.meta.retain(|(n, _)| !n.eq_ignore_ascii_case(meta));
            if !value.is_empty() {
                self.meta.push((name.slice(9..), value.clone()));
            }
        }
    }
}

pub(super) fn strip_prefix_ci<'a>(b: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let head = b.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| b.get(prefix.len()..))
        .flatten()
}

/// A backend answer in the events format: 200 and exactly the events content type.
pub(super) fn is_events_response(r: &post::Response) -> bool {
    r.code == 200 && outgoing::get(&r.headers, b"Content-Type").is_some_and(|v| v == EVENTS_TYPE)
}

/// `Keep-Alive-Interval`: `None` to leave as is, `Some(None)` to disable.
pub(super) fn keep_alive_interval(headers: &[Header]) -> Option<Option<Duration>> {
    let v = outgoing::get(headers, b"Keep-Alive-Interval")?;
    let n = std::str::from_utf8(v)
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .filter(|n| *n > 0);
    Some(n.map(|n| Duration::from_secs(u64::try_from(n).unwrap_or(0).max(MIN_KEEP_ALIVE_INTERVAL))))
}

/// The `grip` extension's message prefix when the backend accepted it.
pub(super) fn grip_prefix(headers: &[Header]) -> Option<Bytes> {
    crate::session::wsgrip::grip_extension(headers).map(|e| e.prefix)
}

/// Client request headers the backend must not see from the client (1.36).
pub(super) fn client_header_dropped(name: &[u8]) -> bool {
    [
        b"Upgrade".as_slice(),
        b"Accept",
        b"Connection-Id",
        b"Content-Length",
        b"Sec-WebSocket-Extensions",
    ]
    .iter()
    .any(|n| name.eq_ignore_ascii_case(n))
        || strip_prefix_ci(name, b"Meta-").is_some()
}

/// Response headers not passed on in the 101.
pub(super) fn accept_header_dropped(name: &[u8]) -> bool {
    [
        b"Content-Length".as_slice(),
        b"Content-Type",
        b"Keep-Alive-Interval",
        b"Sec-WebSocket-Extensions",
    ]
    .iter()
    .any(|n| name.eq_ignore_ascii_case(n))
        || strip_prefix_ci(name, b"Set-Meta-").is_some()
}
