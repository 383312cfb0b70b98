//! Auto cross-origin and JSON-P (`spec/grip.md` §11), enabled by the route option `aco`
//! or by `[proxy] auto_cross_origin=true`, as Pushpin 1.36's proxy does them
//! (`requestsession.cpp`, `cors.cpp`):
//!
//! * [`apply_cors`] adds the `Access-Control-*` headers to a response, never replacing
//!   one the response already has;
//! * [`jsonp_request`] turns a JSON-P `GET` (callback in the query) into the request the
//!   origin sees (`_method`, `_headers`, `_body` or the route's `jsonp_body`, default
//!   method), or refuses it with 1.36's `400` text;
//! * [`Jsonp::wrap`] wraps a complete response in `/**/CB(...);\n` (extended or basic), and
//!   [`JsonpStream`] does the same for a response streamed in pieces;
//! * [`Shaping`] is what a session keeps for one client request: every answer to the
//!   client (origin response, proxy error, handler `response`) goes through it, so CORS
//!   applies when there is no JSON-P, and JSON-P wrapping replaces it when there is.
//!
//! Pure functions, bytes in and bytes out; nothing here panics on client or origin input.

use bytes::Bytes;
use pushpin_config::routes::{JsonpConfig, JsonpMode};

use crate::outgoing::Header;
use crate::test_target::Response;
use crate::uri::Uri;

/// Origin response headers 1.36 never relays (dropped before CORS or JSON-P see them).
pub(crate) const NOT_RELAYED: [&[u8]; 4] = [
    b"Connection",
    b"Keep-Alive",
    b"Content-Encoding",
    b"Transfer-Encoding",
];
/// The callback parameter when the route names none.
const DEFAULT_CALLBACK_PARAM: &str = "callback";
/// Origin headers copied onto a complete JSON-P wrapper.
const EXTRACTABLE: [&[u8]; 1] = [b"Cache-Control"];
/// `Content-Type` of every JSON-P wrapper.
const JAVASCRIPT: &[u8] = b"application/javascript";

fn push(headers: &mut Vec<Header>, name: &'static [u8], value: impl Into<Bytes>) {
    headers.push((Bytes::from_static(name), value.into()));
}

pub(crate) use pushpin_grip::cors::apply_cors;
use pushpin_grip::cors::json_string;

/// The JSON-P answer a request asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Jsonp {
    /// The callback name (never empty).
    pub(crate) callback: Bytes,
    /// Extended mode: code, reason, headers and body in an object; else the body only.
    pub(crate) extended: bool,
}

/// Strips one trailing `\r\n` or `\n`; returns what was stripped.
fn strip_newline(buf: &mut Vec<u8>) -> &'static [u8] {
    if buf.ends_with(b"\r\n") {
        buf.truncate(buf.len().saturating_sub(2));
        b"\r\n"
    } else if buf.ends_with(b"\n") {
        buf.truncate(buf.len().saturating_sub(1));
        b"\n"
    } else {
        b""
    }
}

impl Jsonp {
    /// `/**/CB(` and, in extended mode, the object up to the opening quote of `body`.
    fn start(&self, code: u16, reason: &[u8], headers: &[Header]) -> Vec<u8> {
        let mut out = b"/**/".to_vec();
        out.extend_from_slice(&self.callback);
        out.push(b'(');
        if self.extended {
            // first value per exact (case-sensitive) name, keys sorted, compact
            let mut names: Vec<(String, &[u8])> = Vec::new();
            for (name, value) in headers {
                let key = String::from_utf8_lossy(name).into_owned();
                if !names.iter().any(|(k, _)| *k == key) {
                    names.push((key, &value[..]));
                }
            }
            names.sort_by(|a, b| a.0.cmp(&b.0));
            let fields: Vec<String> = names
                .iter()
                .map(|(k, v)| format!("{}:{}", json_string(k.as_bytes()), json_string(v)))
                .collect();
            out.extend_from_slice(
                format!(
                    "{{\"code\": {code}, \"reason\": {}, \"headers\": {{{}}}, \"body\": \"",
                    json_string(reason),
                    fields.join(",")
                )
                .as_bytes(),
            );
        }
        out
    }

    /// A piece of body: escaped (without quotes) in extended mode, as is in basic mode.
    fn body(&self, raw: &[u8]) -> Vec<u8> {
        if self.extended {
            let s = json_string(raw);
            s.as_bytes()
                .get(1..s.len().saturating_sub(1))
                .unwrap_or_default()
                .to_vec()
        } else {
            raw.to_vec()
        }
    }

    fn end(&self) -> &'static [u8] {
        if self.extended { b"\"});\n" } else { b");\n" }
    }

    /// The wrapper of a complete `response`: `200 OK`, `application/javascript`, its
    /// length, and the origin's `Cache-Control`.
    pub(crate) fn wrap(&self, response: &Response) -> Response {
        let mut raw = response.body.to_vec();
        if !self.extended {
            strip_newline(&mut raw);
        }
        let mut body = self.start(response.code, &response.reason, &response.headers);
        body.extend_from_slice(&self.body(&raw));
        body.extend_from_slice(self.end());
        let mut headers = Vec::new();
        push(&mut headers, b"Content-Type", JAVASCRIPT);
        push(&mut headers, b"Content-Length", body.len().to_string());
        for (name, value) in &response.headers {
            if EXTRACTABLE.iter().any(|e| name.eq_ignore_ascii_case(e)) {
                headers.push((name.clone(), value.clone()));
            }
        }
        Response {
            code: 200,
            reason: Bytes::from_static(b"OK"),
            headers,
            body: Bytes::from(body),
        }
    }
}

/// JSON-P wrapping of a response whose body arrives in pieces.
#[derive(Debug)]
pub(crate) struct JsonpStream {
    jsonp: Jsonp,
    /// Basic mode: a trailing newline held back until we know whether it ends the body.
    held: &'static [u8],
}

impl JsonpStream {
    /// A stream for `jsonp`.
    pub(crate) fn new(jsonp: Jsonp) -> Self {
        Self { jsonp, held: b"" }
    }

    /// The wrapper's head (`200 OK` with `application/javascript`) and first bytes.
    pub(crate) fn head(
        &self,
        code: u16,
        reason: &[u8],
        headers: &[Header],
    ) -> (Vec<Header>, Bytes) {
        let mut out = Vec::new();
        push(&mut out, b"Content-Type", JAVASCRIPT);
        let start = self.jsonp.start(code, reason, headers);
        (out, Bytes::from(start))
    }

    /// The wrapped form of the next `raw` piece; with `finished`, the wrapper's end too.
    pub(crate) fn body(&mut self, raw: &[u8], finished: bool) -> Bytes {
        let mut buf = self.held.to_vec();
        buf.extend_from_slice(raw);
        self.held = b"";
        if !self.jsonp.extended {
            let stripped = strip_newline(&mut buf);
            if !finished {
                self.held = stripped;
            }
        }
        let mut out = self.jsonp.body(&buf);
        if finished {
            out.extend_from_slice(self.jsonp.end());
        }
        Bytes::from(out)
    }
}

/// How every answer to one client request is shaped.
#[derive(Debug, Clone, Default)]
pub(crate) struct Shaping {
    /// Add CORS headers (auto cross-origin is on and there is no JSON-P).
    pub(crate) cors: bool,
    /// The request headers CORS answers.
    pub(crate) request_headers: Vec<Header>,
    /// Wrap answers in JSON-P.
    pub(crate) jsonp: Option<Jsonp>,
}

impl Shaping {
    /// `response` as the client gets it.
    pub(crate) fn complete(&self, response: &Response) -> Response {
        if let Some(j) = &self.jsonp {
            return j.wrap(response);
        }
        let mut out = response.clone();
        if self.cors {
            apply_cors(&self.request_headers, &mut out.headers);
        }
        out
    }

    /// The headers of a streamed origin response head as the client gets them (JSON-P
    /// excepted, see [`JsonpStream`]).
    pub(crate) fn head_headers(&self, headers: &mut Vec<Header>) {
        headers.retain(|(n, _)| !NOT_RELAYED.iter().any(|r| n.eq_ignore_ascii_case(r)));
        if self.cors {
            apply_cors(&self.request_headers, headers);
        }
    }
}

/// A JSON-P request refused with `400 Bad Request` (1.36's texts in [`Self::body`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum JsonpError {
    /// The callback parameter is empty or not decodable.
    #[error("invalid jsonp callback parameter")]
    Callback,
    /// `_method` is empty or has unprintable characters.
    #[error("invalid jsonp _method parameter")]
    Method,
    /// `_headers` is not a JSON object of strings.
    #[error("invalid jsonp _headers parameter")]
    Headers,
    /// The route's `jsonp_body` parameter is empty.
    #[error("invalid jsonp body parameter")]
    Body,
    /// `_body` is empty.
    #[error("invalid jsonp _body parameter")]
    UnderscoreBody,
}

impl JsonpError {
    /// The response body 1.36 sends.
    pub(crate) fn body(self) -> &'static str {
        match self {
            Self::Callback => "Invalid callback parameter.\n",
            Self::Method => "Invalid _method parameter.\n",
            Self::Headers => "Invalid _headers parameter.\n",
            Self::Body => "Invalid body parameter.\n",
            Self::UnderscoreBody => "Invalid _body parameter.\n",
        }
    }
}

/// The request the origin gets for a JSON-P request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JsonpRequest {
    /// `_method`, else the route's default method.
    pub(crate) method: Bytes,
    /// The query without the JSON-P parameters (`None` when nothing is left).
    pub(crate) query: Option<String>,
    /// `_headers`, `Content-Type` (body parameter), `Host`, `Accept: */*`, then the
    /// client's headers other than `Host` and `Accept`.
    pub(crate) headers: Vec<Header>,
    /// The body from the query (empty when none).
    pub(crate) body: Bytes,
    /// How to answer.
    pub(crate) jsonp: Jsonp,
}

/// Percent-decodes `s`; a `%` not followed by two hex digits stays as it is (what a
/// tolerant `QUrl` makes of it).
fn percent_decode(s: &str) -> Vec<u8> {
    crate::uri::percent_decode_bytes(s.as_bytes())
}

/// A query as `QUrlQuery` sees it: `&`-separated items, key and value split at the
/// first `=`, empty items skipped; items are kept as written.
struct Query<'a> {
    /// (item as written, key, value)
    items: Vec<(&'a str, &'a str, &'a str)>,
}

impl<'a> Query<'a> {
    fn parse(q: &'a str) -> Self {
        let items = q
            .split('&')
            .filter(|i| !i.is_empty())
            .map(|i| {
                let (k, v) = i.split_once('=').unwrap_or((i, ""));
                (i, k, v)
            })
            .collect();
        Self { items }
    }

    fn has(&self, key: &str) -> bool {
        self.items
            .iter()
            .any(|(_, k, _)| percent_decode(k) == key.as_bytes())
    }

    /// The first value of `key`, percent-decoded.
    fn value(&self, key: &str) -> Option<Vec<u8>> {
        self.items
            .iter()
            .find(|(_, k, _)| percent_decode(k) == key.as_bytes())
            .map(|(_, _, v)| percent_decode(v))
    }

    fn remove_all(&mut self, key: &str) {
        self.items
            .retain(|(_, k, _)| percent_decode(k) != key.as_bytes());
    }

    fn to_query(&self) -> Option<String> {
        if self.items.is_empty() {
            return None;
        }
        let parts: Vec<&str> = self.items.iter().map(|(i, _, _)| *i).collect();
        Some(parts.join("&"))
    }
}

/// 1.36's `validMethod`: not empty, every character (bytes read as Latin-1) printable.
fn valid_method(m: &[u8]) -> bool {
    !m.is_empty()
        && m.iter()
            .all(|&b| b >= 0x20 && !(0x7f..=0x9f).contains(&b) && b != 0xad)
}

/// The `_headers` object: string values only, `Host` and `Accept` ignored, keys sorted.
fn parse_headers(raw: &[u8]) -> Result<Vec<Header>, JsonpError> {
    let value: serde_json::Value = serde_json::from_slice(raw).map_err(|_| JsonpError::Headers)?;
    let serde_json::Value::Object(map) = value else {
        return Err(JsonpError::Headers);
    };
    let mut entries: Vec<(&String, &serde_json::Value)> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = Vec::new();
    for (k, v) in entries {
        let serde_json::Value::String(s) = v else {
            return Err(JsonpError::Headers);
        };
        if k.eq_ignore_ascii_case("host") || k.eq_ignore_ascii_case("accept") {
            continue;
        }
        out.push((Bytes::from(k.clone()), Bytes::from(s.clone())));
    }
    Ok(out)
}

/// The JSON-P form of a request (1.36's `tryApplyJsonp`): `None` when JSON-P does not
/// apply (not a `GET`, or neither the callback parameter nor, with a default callback,
/// the body parameter is in the query).
pub(crate) fn jsonp_request(
    config: &JsonpConfig,
    method: &[u8],
    uri: &Uri,
    headers: &[Header],
) -> Result<Option<JsonpRequest>, JsonpError> {
    if method != b"GET" {
        return Ok(None);
    }
    let callback_param = if config.callback_param.is_empty() {
        DEFAULT_CALLBACK_PARAM
    } else {
        config.callback_param.as_str()
    };
    let body_param = config.body_param.as_str();
    let Some(q) = uri.query.as_deref() else {
        return Ok(None);
    };
    let mut query = Query::parse(q);
    let by_body =
        !config.default_callback.is_empty() && !body_param.is_empty() && query.has(body_param);
    if !query.has(callback_param) && !by_body {
        return Ok(None);
    }
    let callback = match query.value(callback_param) {
        Some(cb) if cb.is_empty() => return Err(JsonpError::Callback),
        Some(cb) => {
            query.remove_all(callback_param);
            Bytes::from(cb)
        }
        None => Bytes::from(config.default_callback.clone()),
    };
    let mut new_method = None;
    if let Some(m) = query.value("_method") {
        if !valid_method(&m) {
            return Err(JsonpError::Method);
        }
        query.remove_all("_method");
        new_method = Some(Bytes::from(m));
    }
    let mut out_headers = Vec::new();
    if let Some(h) = query.value("_headers") {
        out_headers = parse_headers(&h)?;
        query.remove_all("_headers");
    }
    let mut body = Vec::new();
    if !body_param.is_empty() {
        if let Some(b) = query.value(body_param) {
            if b.is_empty() {
                return Err(JsonpError::Body);
            }
            body = b;
            out_headers.retain(|(n, _)| !n.eq_ignore_ascii_case(b"Content-Type"));
            push(&mut out_headers, b"Content-Type", &b"application/json"[..]);
            query.remove_all(body_param);
        }
    } else if let Some(b) = query.value("_body") {
        if b.is_empty() {
            return Err(JsonpError::UnderscoreBody);
        }
        body = b;
        query.remove_all("_body");
    }
    let method = new_method.unwrap_or_else(|| {
        if config.default_method.is_empty() {
            Bytes::copy_from_slice(method)
        } else {
            Bytes::from(config.default_method.clone())
        }
    });
    let host = match uri.port {
        Some(p) => format!("{}:{p}", uri.host),
        None => uri.host.clone(),
    };
    push(&mut out_headers, b"Host", host);
    push(&mut out_headers, b"Accept", &b"*/*"[..]);
    out_headers.extend(
        headers
            .iter()
            .filter(|(n, _)| !n.eq_ignore_ascii_case(b"Host") && !n.eq_ignore_ascii_case(b"Accept"))
            .cloned(),
    );
    Ok(Some(JsonpRequest {
        method,
        query: query.to_query(),
        headers: out_headers,
        body: Bytes::from(body),
        jsonp: Jsonp {
            callback,
            extended: config.mode == JsonpMode::Extended,
        },
    }))
}

/// The JSON-P settings for a request without a route (global `auto_cross_origin`).
pub(crate) fn default_jsonp_config() -> JsonpConfig {
    JsonpConfig {
        mode: JsonpMode::Extended,
        callback_param: String::new(),
        body_param: String::new(),
        default_callback: String::new(),
        default_method: String::new(),
    }
}

#[cfg(test)]
mod tests;
