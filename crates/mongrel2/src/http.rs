//! The raw HTTP/1.1 a handler writes through mongrel2, as Pushpin 1.36's
//! `m2adapter` writes it (`spec/mongrel2.md` §5.2, §7.4): the response head, chunk
//! framing, and the header rules applied to a responder's headers (hop-by-hop
//! removal, `Transfer-Encoding: chunked` or `Content-Length`, `Connection`).
//!
//! mongrel2 forwards these bytes unchanged; nothing here does I/O or keeps state.

use bytes::{BufMut, Bytes, BytesMut};

use crate::wire::{put_decimal, put_hex_upper};

/// The closing chunk of a chunked body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Bytes of a connection's download credits `m2adapter` keeps back for chunk
/// framing: a chunk never carries more than `credits - 16` data bytes.
pub const CHUNK_FRAMING_RESERVE: usize = 16;

/// Appends `HTTP/1.1 <code> <reason>\r\n`, each header as `Name: value\r\n`, and
/// the blank line. Always `HTTP/1.1`, whatever the client spoke.
pub fn write_response_head<'a>(
    buf: &mut BytesMut,
    code: u16,
    reason: &[u8],
    headers: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
) {
    buf.put_slice(b"HTTP/1.1 ");
    put_decimal(buf, u64::from(code));
    buf.put_u8(b' ');
    buf.put_slice(reason);
    buf.put_slice(b"\r\n");
    for (name, value) in headers {
        buf.put_slice(name);
        buf.put_slice(b": ");
        buf.put_slice(value);
        buf.put_slice(b"\r\n");
    }
    buf.put_slice(b"\r\n");
}

/// Appends one chunk: upper-case hex size, CRLF, the data, CRLF. Empty data
/// writes [`LAST_CHUNK`].
pub fn write_chunk(buf: &mut BytesMut, data: &[u8]) {
    buf.reserve(data.len().saturating_add(20));
    put_hex_upper(buf, data.len() as u64);
    buf.put_slice(b"\r\n");
    buf.put_slice(data);
    buf.put_slice(b"\r\n");
}

/// How the client's request shapes the response's persistence (`m2adapter`'s
/// per-session flags, §7.4 "Persistence").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Persistence {
    /// Keep the connection open after the response.
    pub persistent: bool,
    /// The client spoke HTTP/1.1, so a chunked body is allowed.
    pub allow_chunked: bool,
    /// Answer with `Connection: Keep-Alive` (a persistent HTTP/1.0 session).
    pub respond_keep_alive: bool,
    /// Answer with `Connection: close` (an HTTP/1.1 client asked to close).
    pub respond_close: bool,
}

impl Persistence {
    /// The flags for a request with `VERSION` `version` and these `Connection`
    /// header values. As in `m2adapter`, values are split on commas and trimmed,
    /// and compared case-sensitively with `Keep-Alive` (HTTP/1.0) and `close`
    /// (HTTP/1.1). Other versions give all-false flags.
    pub fn for_request<'a>(version: &[u8], connection: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let has = |token: &[u8], tokens: &[&[u8]]| tokens.contains(&token);
        let tokens: Vec<&[u8]> = connection
            .into_iter()
            .flat_map(|v| v.split(|&b| b == b','))
            .map(<[u8]>::trim_ascii)
            .collect();
        match version {
            b"HTTP/1.0" if has(b"Keep-Alive", &tokens) => Self {
                persistent: true,
                respond_keep_alive: true,
                ..Self::default()
            },
            b"HTTP/1.1" if has(b"close", &tokens) => Self {
                allow_chunked: true,
                respond_close: true,
                ..Self::default()
            },
            b"HTTP/1.1" => Self {
                allow_chunked: true,
                persistent: true,
                ..Self::default()
            },
            _ => Self::default(),
        }
    }
}

/// What the first response packet says about the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BodyInfo {
    /// More body follows in later packets (ZHTTP `more`).
    pub more: bool,
    /// Body bytes in this first packet.
    pub len: usize,
    /// No body may be sent: a HEAD request, or status 204 or 304.
    pub headers_only: bool,
}

/// The head `m2adapter` writes and the framing it chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedHead {
    /// The headers to write, in order.
    pub headers: Vec<(Bytes, Bytes)>,
    /// Body packets are to be sent as chunks ([`write_chunk`]).
    pub chunked: bool,
    /// The session flags after the decision (persistence is turned off when a
    /// streamed body of unknown length goes to an HTTP/1.0 client).
    pub persistence: Persistence,
}

/// Applies `m2adapter`'s rules to a responder's headers for the first packet of
/// an HTTP response (§7.4):
///
/// 1. streamed (`more`) without `Content-Length`: chunked if the client allows
///    it, else persistence and `Keep-Alive` are turned off;
/// 2. remove `Connection`, every header it names, and `Transfer-Encoding`;
/// 3. unless headers-only: chunked adds `Transfer-Encoding: chunked` (and the
///    `Transfer-Encoding` connection option); a complete body without
///    `Content-Length` gets one;
/// 4. append `Connection: Keep-Alive`, `close`, `Transfer-Encoding` as they apply,
///    joined with `", "`.
///
/// Header names are compared case-insensitively.
pub fn prepare_response_headers(
    headers: &[(Bytes, Bytes)],
    body: BodyInfo,
    persistence: Persistence,
) -> PreparedHead {
    let mut persistence = persistence;
    let mut chunked = false;
    if body.more && !contains(headers, b"Content-Length") {
        if persistence.allow_chunked {
            chunked = true;
        } else {
            persistence.persistent = false;
            persistence.respond_keep_alive = false;
        }
    }

    let named: Vec<&[u8]> = headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case(b"Connection"))
        .flat_map(|(_, value)| value.split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|token| !token.is_empty())
        .collect();
    let mut out: Vec<(Bytes, Bytes)> = headers
        .iter()
        .filter(|(name, _)| {
            !name.eq_ignore_ascii_case(b"Connection")
                && !name.eq_ignore_ascii_case(b"Transfer-Encoding")
                && !named.iter().any(|n| name.eq_ignore_ascii_case(n))
        })
        .cloned()
        .collect();

    let mut options: Vec<&[u8]> = Vec::new();
    if persistence.respond_keep_alive {
        options.push(b"Keep-Alive");
    }
    if persistence.respond_close {
        options.push(b"close");
    }
    if !body.headers_only {
        if chunked {
            options.push(b"Transfer-Encoding");
            out.push((
                Bytes::from_static(b"Transfer-Encoding"),
                Bytes::from_static(b"chunked"),
            ));
        } else if !body.more && !contains(&out, b"Content-Length") {
            out.push((
                Bytes::from_static(b"Content-Length"),
                Bytes::from(body.len.to_string()),
            ));
        }
    }
    if !options.is_empty() {
        out.push((
            Bytes::from_static(b"Connection"),
            Bytes::from(options.join(&b", "[..])),
        ));
    }
    PreparedHead {
        headers: out,
        chunked,
        persistence,
    }
}

/// The head of a WebSocket handshake rejection (`rejected` error from the
/// responder): `Connection` and what it names and `Transfer-Encoding` removed,
/// `Content-Length` added if missing, `Connection: close` for HTTP/1.1 clients.
/// The connection is closed after the body.
pub fn prepare_rejection_headers(
    headers: &[(Bytes, Bytes)],
    body_len: usize,
    http11: bool,
) -> Vec<(Bytes, Bytes)> {
    let persistence = Persistence {
        respond_close: http11,
        ..Persistence::default()
    };
    let body = BodyInfo {
        more: false,
        len: body_len,
        headers_only: false,
    };
    prepare_response_headers(headers, body, persistence).headers
}

fn contains(headers: &[(Bytes, Bytes)], name: &[u8]) -> bool {
    headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests;
