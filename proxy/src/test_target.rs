//! The built-in `test` target (`spec/config.md` §8.6, `spec/grip.md` §12): an origin inside
//! the proxy whose answers go through the same GRIP detection and hand-off as a real
//! origin's. Its WebSocket (`/ws`) is in [`ws`].

use bytes::Bytes;
use pushpin_config::routes::Route;

use crate::outgoing::Header;
use crate::uri::Uri;

pub(crate) mod ws;

/// Largest request body the test origin takes.
pub(crate) const MAX_BODY: usize = 100_000;

/// A complete origin response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Response {
    /// Status.
    pub(crate) code: u16,
    /// Reason phrase.
    pub(crate) reason: Bytes,
    /// Headers.
    pub(crate) headers: Vec<Header>,
    /// Body.
    pub(crate) body: Bytes,
}

impl Response {
    /// A `text/plain` response.
    pub(crate) fn text(code: u16, body: impl Into<Bytes>) -> Self {
        Self {
            code,
            reason: Bytes::from_static(pushpin_grip::status::reason(code).as_bytes()),
            headers: vec![(
                Bytes::from_static(b"Content-Type"),
                Bytes::from_static(b"text/plain"),
            )],
            body: body.into(),
        }
    }
}

/// The path the test origin looks at: shortened by the route's `path_beg` (less its
/// trailing `/`), without a trailing `/`.
fn resource_path<'a>(uri: &'a Uri, route: &Route) -> &'a str {
    let mut path = uri.path.as_str();
    if let Some(beg) = &route.path_beg {
        let strip = if beg.ends_with('/') {
            beg.len().saturating_sub(1)
        } else {
            beg.len()
        };
        if beg.get(..strip).is_some_and(|b| path.starts_with(b)) {
            path = path.get(strip..).unwrap_or("");
        }
    }
    if path.len() > 1 {
        path = path.strip_suffix('/').unwrap_or(path);
    }
    path
}

/// The `?channel=` values (empty ones dropped), else `test`.
fn channels(uri: &Uri) -> Vec<String> {
    let mut c = uri.query_values("channel");
    c.retain(|s| !s.is_empty());
    if c.is_empty() {
        c.push("test".to_string());
    }
    c
}

/// What a WebSocket request for `uri` on `route` asks of the test origin.
pub(crate) fn ws_resource(uri: &Uri, route: &Route) -> ws::Resource {
    if resource_path(uri, route) == "/ws" {
        let mut c = channels(uri);
        // 1.36 keeps them in a set
        let mut seen = std::collections::HashSet::new();
        c.retain(|ch| seen.insert(ch.clone()));
        ws::Resource::Ws(c)
    } else {
        ws::Resource::NotFound
    }
}

/// The test origin's answer to `uri` on `route`; `body_len` is the request body size
/// (`None` when it was too large to buffer).
pub(crate) fn respond(uri: &Uri, route: &Route, body_len: Option<usize>) -> Response {
    if body_len.is_none_or(|n| n > MAX_BODY) {
        return Response::text(400, "request too large\n");
    }
    let path = resource_path(uri, route);
    let channels = channels(uri).join(", ");
    let hold = |mode: &'static str, body: &'static str| {
        let mut r = Response::text(200, body);
        r.headers.push((
            Bytes::from_static(b"Grip-Hold"),
            Bytes::from_static(mode.as_bytes()),
        ));
        r.headers.push((
            Bytes::from_static(b"Grip-Channel"),
            Bytes::from(channels.clone()),
        ));
        r
    };
    match path {
        "" | "/" => Response::text(200, "Hello from the Pushpin test handler!\n"),
        "/response" => hold("response", "nothing for now\n"),
        "/stream" => hold("stream", "[stream opened]\n"),
        _ => Response::text(404, "no such test resource\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pushpin_config::routes::parse_rule;
    use std::path::Path;

    fn route(line: &str) -> Route {
        parse_rule(line, Path::new(".")).unwrap().unwrap()
    }

    #[test]
    fn answers_like_1_36() {
        let r = route("* test");
        let get = |u: &str| respond(&Uri::parse(u.as_bytes()).unwrap(), &r, Some(0));
        let root = get("http://h/");
        assert_eq!(root.code, 200);
        assert_eq!(root.body, "Hello from the Pushpin test handler!\n");
        let s = get("http://h/stream/?channel=a&channel=b");
        assert_eq!(s.body, "[stream opened]\n");
        assert_eq!(s.headers[1].1, "stream");
        assert_eq!(s.headers[2].1, "a, b");
        let resp = get("http://h/response");
        assert_eq!(resp.headers[2].1, "test");
        assert_eq!(get("http://h/nope").code, 404);
        let big = respond(&Uri::parse(b"http://h/").unwrap(), &r, None);
        assert_eq!(
            (big.code, big.body.as_ref()),
            (400, &b"request too large\n"[..])
        );
    }

    #[test]
    fn websocket_resource() {
        let r = route("*,path_beg=/t/ test");
        let res = |u: &str| ws_resource(&Uri::parse(u.as_bytes()).unwrap(), &r);
        assert_eq!(res("ws://h/t/ws/"), ws::Resource::Ws(vec!["test".into()]));
        assert_eq!(
            res("ws://h/t/ws?channel=a&channel=b&channel=a"),
            ws::Resource::Ws(vec!["a".into(), "b".into()])
        );
        assert_eq!(res("ws://h/t/other"), ws::Resource::NotFound);
    }

    #[test]
    fn strips_path_beg() {
        let r = route("*,path_beg=/test/ test");
        let u = Uri::parse(b"http://h/test/response").unwrap();
        assert_eq!(respond(&u, &r, Some(0)).body, "nothing for now\n");
        let r = route("*,path_beg=/t test");
        let u = Uri::parse(b"http://h/t/stream").unwrap();
        assert_eq!(respond(&u, &r, Some(0)).body, "[stream opened]\n");
    }
}
