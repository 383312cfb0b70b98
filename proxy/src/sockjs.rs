//! SockJS as Pushpin 1.36 serves it (its `SockJsManager` and `SockJsSession`): a route
//! with `sockjs=<prefix>` answers the SockJS protocol under that path prefix and
//! presents each SockJS session to the route's targets as a WebSocket session, so
//! WebSocket and WebSocket-over-HTTP backends (and GRIP over either) see no difference.
//! The backend sees the path `sockjs_as_path` when set, else the prefix (the prefix and
//! `/websocket` for sessions arriving over WebSocket), with the client's query and
//! headers (`spec/config.md` §8, `sockjs`, `sockjs_as_path`, `[proxy] sockjs_url`).
//!
//! What 1.36 answers under the prefix (anything else is `404 Not Found`):
//! - any `OPTIONS`: `204` (CORS preflight);
//! - `GET /info`: `{"cookie_needed":false,"entropy":N,"origins":["*:*"],"websocket":true}`;
//! - `GET /iframe*.html`: the iframe page naming `sockjs_url`, with an MD5 `ETag` and
//!   `304 Not Modified` for a matching `If-None-Match`;
//! - WebSocket `/websocket`: the raw transport, frames passed through unchanged;
//! - WebSocket `/<server>/<session>/<anything>`: the framed transport ([`ws`]);
//! - `POST /<server>/<session>/xhr`, `GET|POST …/jsonp` (which needs `c` or
//!   `callback`), with `xhr_send` / `jsonp_send` to send: the polling transports
//!   ([`http`]). 1.36 has no `xhr_streaming`, `eventsource` or `htmlfile`.
//!
//! Every HTTP answer carries 1.36's no-cache and CORS headers ([`answer`]); frames are
//! quoted as Qt's JSON writer does ([`frame`]).
//!
//! Layout: [`frame`] (pure framing and quoting), [`answer`] (HTTP answers), [`virt`]
//! (the local ZHTTP peer that presents a session to the WebSocket proxying code),
//! [`ws`] (the framed WebSocket transport), [`http`] (the polling transports and their
//! session registry). The iframe `ETag` is the page's MD5 (the `md-5` crate), as in
//! 1.36. The hook into routing is
//! [`base_len`] + [`handle`], called by `session::start` once the route is known.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use pushpin_config::routes::Route;
use tracing::debug;

use crate::outgoing::{self, ClientRequest};
use crate::session::conn::Conn;

mod answer;
pub(crate) mod frame;
mod http;
mod virt;
mod ws;

/// Largest SockJS request body (1.36 `MAX_REQUEST_BODY`); larger is `400`.
pub(crate) const MAX_REQUEST_BODY: usize = 100_000;
/// How long an ended polling session's close frame is still given out (1.36: 5 s).
const LINGER: Duration = Duration::from_secs(5);

/// 1.36's iframe page; `%1` is `sockjs_url`.
const IFRAME_TEMPLATE: &str = "<!DOCTYPE html>\n\
<html>\n\
<head>\n  \
<meta http-equiv=\"X-UA-Compatible\" content=\"IE=edge\" />\n  \
<meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\" />\n  \
<script src=\"%1\"></script>\n  \
<script>\n    \
document.domain = document.domain;\n    \
SockJS.bootstrap_iframe();\n  \
</script>\n\
</head>\n\
<body>\n  \
<h2>Don't panic!</h2>\n  \
<p>This is a SockJS hidden iframe. It's used for cross domain magic.</p>\n\
</body>\n\
</html>\n";

/// A polling session known by its id.
enum Entry {
    /// Live: requests for it go to its task.
    Live(http::Handle),
    /// Ended with this close value, given out until `until` (1.36 linger).
    Linger { value: Bytes, until: Instant },
}

/// What every SockJS request shares: the iframe page and the polling sessions by id.
pub(crate) struct Manager {
    iframe: Bytes,
    etag: Bytes,
    sessions: Mutex<HashMap<Bytes, Entry>>,
}

impl Manager {
    /// A manager whose iframe page names `sockjs_url`.
    pub(crate) fn new(sockjs_url: &str) -> Self {
        let iframe = IFRAME_TEMPLATE.replace("%1", sockjs_url);
        let digest = <md5::Md5 as md5::Digest>::digest(iframe.as_bytes());
        let mut etag = String::from("\"");
        for b in digest {
            let _ = write!(etag, "{b:02x}");
        }
        etag.push('"');
        Self {
            iframe: Bytes::from(iframe),
            etag: Bytes::from(etag),
            sessions: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Bytes, Entry>> {
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The session `sid`: its handle, or the close value it left.
    fn lookup(&self, sid: &Bytes) -> Option<Lookup> {
        let mut map = self.lock();
        let now = Instant::now();
        let found = match map.get(sid)? {
            Entry::Live(h) => Lookup::Live(h.clone()),
            Entry::Linger { value, until } if *until > now => Lookup::Closed(value.clone()),
            Entry::Linger { .. } => {
                map.remove(sid);
                return None;
            }
        };
        Some(found)
    }

    /// Registers a new live session; `false` (nothing changed) when `sid` is taken
    /// meanwhile (two opening requests racing).
    fn insert(&self, sid: Bytes, handle: http::Handle) -> bool {
        let mut map = self.lock();
        let now = Instant::now();
        map.retain(|_, e| !matches!(e, Entry::Linger { until, .. } if *until <= now));
        if map.contains_key(&sid) {
            return false;
        }
        map.insert(sid, Entry::Live(handle));
        true
    }

    /// The session `sid` ended: keep its close value a while, or forget it.
    fn ended(&self, sid: &Bytes, handle: &http::Handle, close: Option<Bytes>) {
        let mut map = self.lock();
        if !matches!(map.get(sid), Some(Entry::Live(h)) if h.same(handle)) {
            return;
        }
        match close {
            Some(value) => {
                let until = Instant::now() + LINGER;
                map.insert(sid.clone(), Entry::Linger { value, until });
            }
            None => {
                map.remove(sid);
            }
        }
    }
}

/// A looked-up session.
enum Lookup {
    Live(http::Handle),
    Closed(Bytes),
}

/// The length of the route's SockJS prefix when `path` (percent-encoded, as received)
/// is under it: 1.36 compares bytes, so `/sockjsx` is under `/sockjs` too.
pub(crate) fn base_len(route: &Route, path: &str) -> Option<usize> {
    let prefix = route.sockjs_path.as_deref().filter(|p| !p.is_empty())?;
    path.starts_with(prefix).then_some(prefix.len())
}

/// The path under the prefix split as `/<server>/<session>/<last>`.
fn session_parts(rest: &str) -> Option<(&str, &str)> {
    let mut parts = rest.get(1..).unwrap_or_default().split('/');
    let (_server, sid, last) = (parts.next()?, parts.next()?, parts.next()?);
    parts.next().is_none().then_some((sid, last))
}

/// Serves a SockJS request: `body` is the complete request body for HTTP (longer than
/// [`MAX_REQUEST_BODY`] when too large), `None` for a WebSocket.
pub(crate) async fn handle(conn: Conn, client: ClientRequest, body: Option<Bytes>, route: Route) {
    let Some(base) = base_len(&route, &client.uri.path) else {
        return;
    };
    match body {
        None => handle_socket(conn, client, route, base).await,
        Some(body) => handle_request(conn, client, body, route, base).await,
    }
}

/// The URI the backend sees: the client's with `ws`/`wss` and the presented path.
fn as_uri(client: &ClientRequest, route: &Route, default_path: String) -> crate::uri::Uri {
    let mut uri = client.uri.clone();
    uri.scheme = if uri.is_tls() { "wss" } else { "ws" }.to_string();
    uri.path = match route.sockjs_as_path.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => p.to_string(),
        None => default_path,
    };
    uri
}

/// The client request as the backend's WebSocket handshake.
fn as_websocket(client: &ClientRequest, uri: crate::uri::Uri) -> ClientRequest {
    ClientRequest {
        method: Bytes::from_static(b"GET"),
        uri_text: Bytes::from(uri.to_string()),
        uri,
        headers: client.headers.clone(),
        peer_address: client.peer_address.clone(),
    }
}

async fn handle_socket(mut conn: Conn, client: ClientRequest, route: Route, base: usize) {
    let path = client.uri.path.get(base..).unwrap_or_default().to_string();
    let prefix = client.uri.path.get(..base).unwrap_or_default();
    let uri = as_uri(&client, &route, format!("{prefix}/websocket"));
    debug!(path = %path, as_uri = %uri, "sockjs websocket");
    let ws_client = as_websocket(&client, uri);
    if path == "/websocket" {
        // the raw transport: frames pass through unchanged
        crate::session::forward_websocket(conn, ws_client, route).await;
    } else if session_parts(&path).is_some() {
        ws::framed(conn, ws_client, route).await;
    } else {
        answer::ws_error(&mut conn, 404, b"Not Found", "Not Found").await;
    }
}

/// The JSON-P callback of a `…/jsonp*` request: `callback`, else `c`.
fn jsonp_callback(client: &ClientRequest, rest: &str) -> Option<Bytes> {
    let last = rest.rsplit('/').next().unwrap_or_default();
    if !last.starts_with("jsonp") {
        return None;
    }
    ["callback", "c"].iter().find_map(|name| {
        client
            .uri
            .query_values(name)
            .into_iter()
            .next()
            .map(Bytes::from)
    })
}

async fn handle_request(
    mut conn: Conn,
    client: ClientRequest,
    body: Bytes,
    route: Route,
    base: usize,
) {
    let headers = client.headers.clone();
    if body.len() > MAX_REQUEST_BODY {
        answer::error(
            &mut conn,
            &headers,
            400,
            b"Bad Request",
            "Request too large.",
        )
        .await;
        return;
    }
    let rest = client.uri.path.get(base..).unwrap_or_default().to_string();
    let prefix = client.uri.path.get(..base).unwrap_or_default().to_string();
    let method = client.method.clone();
    let callback = jsonp_callback(&client, &rest);
    debug!(path = %rest, method = %String::from_utf8_lossy(&method), "sockjs request");
    let shared = conn.shared.clone();
    let manager = &shared.sockjs;
    if method == "OPTIONS" {
        answer::empty(&mut conn, &headers).await;
        return;
    }
    if method == "GET" && rest == "/info" {
        let entropy = u32::try_from(uuid::Uuid::new_v4().as_u128() & 0xffff_ffff).unwrap_or(0);
        answer::ok_frame(&mut conn, &headers, &frame::info(entropy), None).await;
        return;
    }
    if method == "GET" && rest.starts_with("/iframe") && rest.ends_with(".html") {
        let etag = (Bytes::from_static(b"ETag"), manager.etag.clone());
        if outgoing::get(&headers, b"If-None-Match") == Some(&manager.etag) {
            answer::respond(
                &mut conn,
                &headers,
                304,
                b"Not Modified",
                vec![etag],
                Bytes::new(),
            )
            .await;
        } else {
            let h = vec![
                etag,
                (
                    Bytes::from_static(b"Content-Type"),
                    Bytes::from_static(b"text/html; charset=UTF-8"),
                ),
                (
                    Bytes::from_static(b"Cache-Control"),
                    Bytes::from_static(b"public, max-age=31536000"),
                ),
            ];
            answer::respond(&mut conn, &headers, 200, b"OK", h, manager.iframe.clone()).await;
        }
        return;
    }
    if let Some((sid, last)) = session_parts(&rest) {
        let sid = Bytes::from(sid.to_string());
        let last = last.to_string();
        let cb = callback.as_deref();
        match manager.lookup(&sid) {
            Some(Lookup::Live(handle)) => {
                let r = http::Incoming {
                    method,
                    last,
                    body,
                    callback,
                    uri: client.uri.clone(),
                };
                http::give(handle, conn, headers, r).await;
                return;
            }
            Some(Lookup::Closed(value)) => {
                answer::ok_frame(&mut conn, &headers, &frame::close(&value), cb).await;
                return;
            }
            None => {}
        }
        let opens = (method == "POST" && last == "xhr")
            || ((method == "GET" || method == "POST") && last == "jsonp");
        if opens {
            if last == "jsonp" && cb.is_none_or(<[u8]>::is_empty) {
                answer::error(&mut conn, &headers, 400, b"Bad Request", "Bad Request").await;
                return;
            }
            let uri = as_uri(&client, &route, prefix);
            let ws_client = as_websocket(&client, uri);
            http::open(conn, ws_client, route, sid, callback).await;
            return;
        }
    }
    answer::error(&mut conn, &headers, 404, b"Not Found", "Not Found").await;
}
