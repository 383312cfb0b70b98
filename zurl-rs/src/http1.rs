//! The HTTP/1.1 client wire format, sans I/O: request heads written the way zurl's libcurl
//! writes them (spec/zhttp.md §10.4), response heads parsed with `httparse` keeping header
//! case, order and the raw reason phrase, and a body decoder for `Content-Length`, chunked
//! and close-delimited bodies that hands out at most the bytes the caller may send on.
//!
//! We parse with `httparse` (hyper's own parser) instead of going through hyper's client,
//! because hyper 1.x keeps response header case only in a crate-private extension and zurl
//! passes header names through exactly as the origin wrote them.

use bytes::{BufMut, Bytes, BytesMut};
use pushpin_zhttp::Header;

/// Largest response head accepted (status line plus headers).
pub const MAX_HEAD: usize = 64 * 1024;
/// Most response headers accepted.
pub const MAX_HEADERS: usize = 128;
/// Longest chunk-size line or trailer line accepted.
const MAX_LINE: usize = 4096;

/// A malformed or oversized response from the origin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The status line or headers do not parse.
    #[error("invalid response head: {0}")]
    Head(String),
    /// The head is larger than [`MAX_HEAD`].
    #[error("response head larger than {MAX_HEAD} bytes")]
    HeadTooLarge,
    /// `Content-Length` is not a number, or conflicting values.
    #[error("invalid Content-Length")]
    ContentLength,
    /// A chunk-size line is malformed.
    #[error("invalid chunked encoding")]
    Chunked,
    /// The connection ended inside a length-delimited or chunked body.
    #[error("connection closed before the body was complete")]
    Truncated,
}

/// A parsed response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// Status code.
    pub code: u16,
    /// Reason phrase as sent.
    pub reason: Bytes,
    /// Headers, in order, names as sent.
    pub headers: Vec<Header>,
    /// HTTP/1.0 response (`version` 0).
    pub http10: bool,
}

impl ResponseHead {
    /// The value of the first header named `name` (any case).
    pub fn header(&self, name: &[u8]) -> Option<&Bytes> {
        self.headers.iter().find(|h| h.is(name)).map(|h| &h.value)
    }

    /// Whether a header `name` lists `token` (comma-separated, any case).
    pub fn has_token(&self, name: &[u8], token: &[u8]) -> bool {
        self.headers.iter().filter(|h| h.is(name)).any(|h| {
            h.value
                .split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
        })
    }

    /// Whether the connection may be reused after this response (given a delimited body).
    pub fn keep_alive(&self) -> bool {
        if self.has_token(b"connection", b"close") {
            return false;
        }
        !self.http10 || self.has_token(b"connection", b"keep-alive")
    }
}

/// Parses a response head from the front of `buf`. `Ok(None)`: need more bytes. On success
/// the head's bytes are removed from `buf`.
pub fn parse_head(buf: &mut BytesMut) -> Result<Option<ResponseHead>, Error> {
    let len = {
        let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut storage);
        match resp.parse(buf).map_err(|e| Error::Head(e.to_string()))? {
            httparse::Status::Complete(len) => len,
            httparse::Status::Partial if buf.len() > MAX_HEAD => return Err(Error::HeadTooLarge),
            httparse::Status::Partial => return Ok(None),
        }
    };
    // Parse the detached head again so every field is a zero-copy slice of it.
    let head = buf.split_to(len).freeze();
    let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut storage);
    resp.parse(&head).map_err(|e| Error::Head(e.to_string()))?;
    let code = resp.code.ok_or_else(|| Error::Head("no status".into()))?;
    let http10 = resp.version == Some(0);
    let slice = |s: &[u8]| slice_of(&head, s);
    let reason = slice(resp.reason.unwrap_or_default().as_bytes());
    let headers = resp
        .headers
        .iter()
        .map(|h| Header::new(slice(h.name.as_bytes()), slice(h.value)))
        .collect();
    Ok(Some(ResponseHead {
        code,
        reason,
        headers,
        http10,
    }))
}

/// A zero-copy sub-slice of `whole` when `part` points into it, else a copy.
fn slice_of(whole: &Bytes, part: &[u8]) -> Bytes {
    let start = (part.as_ptr() as usize).wrapping_sub(whole.as_ptr() as usize);
    if part.is_empty() {
        return Bytes::new();
    }
    match start.checked_add(part.len()) {
        Some(end) if end <= whole.len() => whole.slice(start..end),
        _ => Bytes::copy_from_slice(part),
    }
}

/// How the response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// No body (HEAD, 1xx, 204, 304).
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the connection closes.
    Close,
}

impl BodyKind {
    /// The body framing of `head` in answer to `method` (RFC 9112 §6.3).
    pub fn of(method: &[u8], head: &ResponseHead) -> Result<Self, Error> {
        if method.eq_ignore_ascii_case(b"HEAD")
            || (100..200).contains(&head.code)
            || head.code == 204
            || head.code == 304
        {
            return Ok(Self::Empty);
        }
        if head.has_token(b"transfer-encoding", b"chunked") {
            return Ok(Self::Chunked);
        }
        let mut length = None;
        for h in head.headers.iter().filter(|h| h.is(b"content-length")) {
            let n = std::str::from_utf8(&h.value)
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or(Error::ContentLength)?;
            if length.is_some_and(|l| l != n) {
                return Err(Error::ContentLength);
            }
            length = Some(n);
        }
        Ok(length.map_or(Self::Close, Self::Length))
    }
}

/// What [`BodyDecoder::decode`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// Body bytes (never empty).
    Data(Bytes),
    /// The buffer holds no complete piece; read more.
    NeedMore,
    /// The body is complete.
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    Size,
    Data(u64),
    DataEnd,
    Trailers,
}

/// Incremental response body decoder.
#[derive(Debug, Clone)]
pub struct BodyDecoder {
    kind: BodyKind,
    remaining: u64,
    chunk: ChunkState,
    done: bool,
}

impl BodyDecoder {
    /// A decoder for a body of `kind`.
    pub fn new(kind: BodyKind) -> Self {
        let (remaining, done) = match kind {
            BodyKind::Length(n) => (n, n == 0),
            BodyKind::Empty => (0, true),
            BodyKind::Chunked | BodyKind::Close => (0, false),
        };
        Self {
            kind,
            remaining,
            chunk: ChunkState::Size,
            done,
        }
    }

    /// Whether the body ended with its framing (so the connection can be reused).
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Whether the body is delimited by the connection closing.
    pub fn is_close_delimited(&self) -> bool {
        self.kind == BodyKind::Close
    }

    /// Takes up to `max` body bytes (`max > 0`) from the front of `buf`.
    pub fn decode(&mut self, buf: &mut BytesMut, max: usize) -> Result<Decoded, Error> {
        if self.done {
            return Ok(Decoded::Done);
        }
        match self.kind {
            BodyKind::Empty => Ok(Decoded::Done),
            BodyKind::Close => Ok(take(buf, max).map_or(Decoded::NeedMore, Decoded::Data)),
            BodyKind::Length(_) => {
                let want = usize::try_from(self.remaining)
                    .unwrap_or(usize::MAX)
                    .min(max);
                match take(buf, want) {
                    None => Ok(Decoded::NeedMore),
                    Some(data) => {
                        self.remaining -= data.len() as u64;
                        self.done = self.remaining == 0;
                        Ok(Decoded::Data(data))
                    }
                }
            }
            BodyKind::Chunked => self.decode_chunked(buf, max),
        }
    }

    /// The connection reached EOF: fine for a close-delimited body, else truncated.
    pub fn eof(&mut self) -> Result<(), Error> {
        if self.kind == BodyKind::Close || self.done {
            self.done = true;
            Ok(())
        } else {
            Err(Error::Truncated)
        }
    }

    fn decode_chunked(&mut self, buf: &mut BytesMut, max: usize) -> Result<Decoded, Error> {
        loop {
            match self.chunk {
                ChunkState::Size => {
                    let Some(line) = take_line(buf)? else {
                        return Ok(Decoded::NeedMore);
                    };
                    let hex = line[..].split(|&b| b == b';').next().unwrap_or_default();
                    let text = std::str::from_utf8(hex).map_err(|_| Error::Chunked)?;
                    let size = u64::from_str_radix(text.trim(), 16).map_err(|_| Error::Chunked)?;
                    self.chunk = if size == 0 {
                        ChunkState::Trailers
                    } else {
                        ChunkState::Data(size)
                    };
                }
                ChunkState::Data(left) => {
                    let want = usize::try_from(left).unwrap_or(usize::MAX).min(max);
                    let Some(data) = take(buf, want) else {
                        return Ok(Decoded::NeedMore);
                    };
                    let left = left - data.len() as u64;
                    self.chunk = if left == 0 {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left)
                    };
                    return Ok(Decoded::Data(data));
                }
                ChunkState::DataEnd => {
                    let Some(line) = take_line(buf)? else {
                        return Ok(Decoded::NeedMore);
                    };
                    if !line.is_empty() {
                        return Err(Error::Chunked);
                    }
                    self.chunk = ChunkState::Size;
                }
                ChunkState::Trailers => {
                    let Some(line) = take_line(buf)? else {
                        return Ok(Decoded::NeedMore);
                    };
                    if line.is_empty() {
                        self.done = true;
                        return Ok(Decoded::Done);
                    }
                }
            }
        }
    }
}

fn take(buf: &mut BytesMut, max: usize) -> Option<Bytes> {
    let n = buf.len().min(max);
    (n > 0).then(|| buf.split_to(n).freeze())
}

/// One CRLF (or bare LF) terminated line, without its terminator.
fn take_line(buf: &mut BytesMut) -> Result<Option<BytesMut>, Error> {
    let Some(at) = buf.iter().position(|&b| b == b'\n') else {
        return if buf.len() > MAX_LINE {
            Err(Error::Chunked)
        } else {
            Ok(None)
        };
    };
    let mut line = buf.split_to(at + 1);
    line.truncate(at);
    if line.last() == Some(&b'\r') {
        line.truncate(at - 1);
    }
    Ok(Some(line))
}

/// How the request body is framed upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestFraming {
    /// No body and no length header.
    None,
    /// `Content-Length` (the client's, kept in place, or added).
    Length(u64),
    /// `Transfer-Encoding: chunked` (a streamed body of unknown length).
    Chunked,
}

/// Request header names we never forward: framing and hop-by-hop headers we set ourselves,
/// the codings (zurl drops `Accept-Encoding` and `Content-Encoding`; libcurl sends its own
/// `Accept-Encoding`), and `Expect` (libcurl suppresses it, spec/zhttp.md §10.4).
fn dropped(name: &[u8]) -> bool {
    const DROPPED: &[&[u8]] = &[
        b"host",
        b"accept-encoding",
        b"content-encoding",
        b"content-length",
        b"transfer-encoding",
        b"expect",
        b"connection",
        b"keep-alive",
        b"te",
        b"trailer",
        b"upgrade",
        b"proxy-connection",
    ];
    DROPPED.iter().any(|d| name.eq_ignore_ascii_case(d))
}

/// Writes a request head as libcurl orders it: request line, `Host`, `Accept: */*` when the
/// client gave none, libcurl's `Accept-Encoding`, the client's headers in order (its `Content-Length` where it was),
/// then an added `Content-Length` or `Transfer-Encoding: chunked` (checked against zurl
/// 1.11 by the differential test).
pub fn write_head(
    buf: &mut BytesMut,
    method: &[u8],
    target: &[u8],
    host: &[u8],
    headers: &[Header],
    framing: RequestFraming,
    client_length: bool,
) {
    buf.reserve(
        256 + headers
            .iter()
            .map(|h| h.name.len() + h.value.len() + 4)
            .sum::<usize>(),
    );
    buf.put_slice(method);
    buf.put_u8(b' ');
    buf.put_slice(target);
    buf.put_slice(b" HTTP/1.1\r\nHost: ");
    buf.put_slice(host);
    buf.put_slice(b"\r\n");
    if !headers.iter().any(|h| h.is(b"accept")) {
        buf.put_slice(b"Accept: */*\r\n");
    }
    put_header(buf, b"Accept-Encoding", crate::content::ACCEPT_ENCODING);
    let mut length_written = false;
    for h in headers {
        if h.is(b"content-length") && client_length && !length_written {
            if let RequestFraming::Length(n) = framing {
                put_header(buf, &h.name, n.to_string().as_bytes());
                length_written = true;
            }
            continue;
        }
        if dropped(&h.name) {
            continue;
        }
        put_header(buf, &h.name, &h.value);
    }
    if let (RequestFraming::Length(n), false) = (framing, length_written) {
        put_header(buf, b"Content-Length", n.to_string().as_bytes());
    }
    if framing == RequestFraming::Chunked {
        buf.put_slice(b"Transfer-Encoding: chunked\r\n");
    }
    buf.put_slice(b"\r\n");
}

fn put_header(buf: &mut BytesMut, name: &[u8], value: &[u8]) {
    buf.put_slice(name);
    buf.put_slice(b": ");
    buf.put_slice(value);
    buf.put_slice(b"\r\n");
}

/// One chunk of a chunked request body (`data` must not be empty).
pub fn chunk(data: &[u8]) -> Bytes {
    let mut buf = BytesMut::with_capacity(data.len() + 12);
    buf.put_slice(format!("{:x}\r\n", data.len()).as_bytes());
    buf.put_slice(data);
    buf.put_slice(b"\r\n");
    buf.freeze()
}

/// The last chunk of a chunked request body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Whether a header value is usable on the wire (no CR/LF/NUL that would split the head).
pub fn valid_header(h: &Header) -> bool {
    !h.name.is_empty()
        && h.name.iter().all(|&b| b.is_ascii_graphic() && b != b':')
        && !h.value.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0)
}

#[cfg(test)]
mod tests;
