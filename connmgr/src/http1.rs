//! HTTP/1.x on the client side, sans-IO: request head parsing (bounded by the
//! connection buffer size and 64 headers, as condure), request body framing
//! (Content-Length or chunked, [`ChunkedDecoder`]), and the response head condure
//! writes for a ZHTTP response (`spec/zhttp.md` §6.3).
//!
//! Header names and values of a parsed request are zero-copy slices of the received
//! header block.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Most request headers, condure's `HEADERS_MAX`.
pub(crate) const MAX_HEADERS: usize = 64;

/// Largest chunk-size line we accept (hex digits plus extensions).
const MAX_CHUNK_LINE: usize = 1024;

/// Why a request head was refused. Each maps to one answer in [`HeadError::status`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum HeadError {
    /// The header block does not fit the connection buffer.
    #[error("request header block larger than {limit} bytes")]
    TooLarge {
        /// The buffer size.
        limit: usize,
    },
    /// More than [`MAX_HEADERS`] headers.
    #[error("more than {MAX_HEADERS} request headers")]
    TooManyHeaders,
    /// httparse rejected the request line or a header.
    #[error("malformed request: {0}")]
    Malformed(httparse::Error),
    /// A Content-Length that is not a number, or several that differ.
    #[error("invalid content-length")]
    ContentLength,
    /// A Transfer-Encoding other than `chunked`, or with a Content-Length.
    #[error("unsupported transfer-encoding")]
    TransferEncoding,
}

impl HeadError {
    /// The status line and body we answer with before closing.
    pub(crate) fn status(&self) -> (u16, &'static str) {
        match self {
            Self::TooLarge { .. } | Self::TooManyHeaders => {
                (431, "Request Header Fields Too Large")
            }
            Self::TransferEncoding => (501, "Not Implemented"),
            Self::Malformed(_) | Self::ContentLength => (400, "Bad Request"),
        }
    }
}

/// How the request body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyKind {
    /// No body.
    None,
    /// `Content-Length` bytes (> 0).
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// A parsed request head.
#[derive(Debug, Clone)]
pub(crate) struct RequestHead {
    /// Method.
    pub(crate) method: Bytes,
    /// Request target as sent.
    pub(crate) target: Bytes,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub(crate) minor: u8,
    /// Headers in order, client casing.
    pub(crate) headers: Vec<(Bytes, Bytes)>,
    /// Body framing.
    pub(crate) body: BodyKind,
    /// Whether the client wants the connection kept after this request.
    pub(crate) keep_alive: bool,
    /// `Expect: 100-continue`.
    pub(crate) expect_continue: bool,
    /// `Upgrade: websocket` (exact lower-case value, as condure checks).
    pub(crate) websocket: bool,
}

impl RequestHead {
    /// The first header named `name` (case-insensitive).
    pub(crate) fn header(&self, name: &[u8]) -> Option<&Bytes> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Whether this is a `HEAD` request.
    pub(crate) fn is_head(&self) -> bool {
        self.method.as_ref() == b"HEAD"
    }
}

/// Parses a request head from the front of `buf`. `Ok(None)`: incomplete (read
/// more). On success the head bytes are removed from `buf`.
pub(crate) fn parse_head(
    buf: &mut BytesMut,
    limit: usize,
) -> Result<Option<RequestHead>, HeadError> {
    let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut storage);
    let status = match req.parse(buf) {
        Ok(s) => s,
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooManyHeaders),
        Err(e) => return Err(HeadError::Malformed(e)),
    };
    let len = match status {
        httparse::Status::Partial => {
            if buf.len() >= limit {
                return Err(HeadError::TooLarge { limit });
            }
            return Ok(None);
        }
        httparse::Status::Complete(n) => n,
    };
    if len > limit {
        return Err(HeadError::TooLarge { limit });
    }
    let base = buf.as_ptr() as usize;
    let range = |s: &[u8]| {
        let start = (s.as_ptr() as usize).wrapping_sub(base);
        start..start.saturating_add(s.len())
    };
    let method_r = range(req.method.unwrap_or_default().as_bytes());
    let target_r = range(req.path.unwrap_or_default().as_bytes());
    let minor = req.version.unwrap_or(1);
    let header_r: Vec<_> = req
        .headers
        .iter()
        .map(|h| (range(h.name.as_bytes()), range(h.value)))
        .collect();
    let head = buf.split_to(len).freeze();
    let slice = |r: std::ops::Range<usize>| {
        head.get(r.clone())
            .map(|_| head.slice(r))
            .unwrap_or_default()
    };
    let headers: Vec<(Bytes, Bytes)> = header_r
        .into_iter()
        .map(|(n, v)| (slice(n), slice(v)))
        .collect();

    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    let mut conn_close = false;
    let mut conn_keep_alive = false;
    let mut expect_continue = false;
    let mut websocket = false;
    for (name, value) in &headers {
        if name.eq_ignore_ascii_case(b"content-length") {
            let n = std::str::from_utf8(value)
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or(HeadError::ContentLength)?;
            if content_length.is_some_and(|old| old != n) {
                return Err(HeadError::ContentLength);
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            let v = String::from_utf8_lossy(value);
            for coding in v.split(',').map(str::trim).filter(|c| !c.is_empty()) {
                if coding.eq_ignore_ascii_case("chunked") && !chunked {
                    chunked = true;
                } else {
                    return Err(HeadError::TransferEncoding);
                }
            }
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in String::from_utf8_lossy(value).split(',').map(str::trim) {
                conn_close |= token.eq_ignore_ascii_case("close");
                conn_keep_alive |= token.eq_ignore_ascii_case("keep-alive");
            }
        } else if name.eq_ignore_ascii_case(b"expect") {
            expect_continue |= value.eq_ignore_ascii_case(b"100-continue");
        } else if name.eq_ignore_ascii_case(b"upgrade") {
            websocket |= value.as_ref() == b"websocket";
        }
    }
    if chunked && content_length.is_some() {
        return Err(HeadError::TransferEncoding);
    }
    let body = match (chunked, content_length) {
        (true, _) => BodyKind::Chunked,
        (false, Some(n)) if n > 0 => BodyKind::Length(n),
        _ => BodyKind::None,
    };
    let keep_alive = if minor == 0 {
        conn_keep_alive && !conn_close
    } else {
        !conn_close
    };
    Ok(Some(RequestHead {
        method: slice(method_r),
        target: slice(target_r),
        minor,
        headers,
        body,
        keep_alive,
        expect_continue,
        websocket,
    }))
}

/// The complete answer for a refused request head: status, `Connection: close`, a
/// one-line body naming the problem.
pub(crate) fn error_response(err: &HeadError) -> Bytes {
    let (code, reason) = err.status();
    plain_response(code, reason, &err.to_string())
}

/// A complete `text/plain` answer with `Connection: close`.
pub(crate) fn plain_response(code: u16, reason: &str, message: &str) -> Bytes {
    let body = format!("{message}\n");
    let text = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    Bytes::from(text)
}

/// A bad chunked request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ChunkError {
    /// A chunk-size line that is not hex or too long.
    #[error("invalid chunk size line")]
    Size,
    /// Missing CRLF after chunk data.
    #[error("missing CRLF after chunk data")]
    Crlf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    Size,
    Data(u64),
    DataEnd,
    Trailers,
    Done,
}

/// Incremental decoder of a chunked request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChunkedDecoder {
    state: ChunkState,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self {
            state: ChunkState::Size,
        }
    }
}

impl ChunkedDecoder {
    /// Whether the terminating chunk and trailers were consumed.
    pub(crate) fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Consumes framing from `buf` and returns up to `max` data bytes (possibly
    /// empty when more input is needed or the body ended).
    pub(crate) fn decode(&mut self, buf: &mut BytesMut, max: usize) -> Result<Bytes, ChunkError> {
        loop {
            match self.state {
                ChunkState::Done => return Ok(Bytes::new()),
                ChunkState::Size => {
                    let Some(line) =
                        take_line(buf, MAX_CHUNK_LINE).map_err(|()| ChunkError::Size)?
                    else {
                        return Ok(Bytes::new());
                    };
                    let hex = line.split(|&b| b == b';').next().unwrap_or_default();
                    let hex = std::str::from_utf8(hex)
                        .map_err(|_| ChunkError::Size)?
                        .trim();
                    let n = u64::from_str_radix(hex, 16).map_err(|_| ChunkError::Size)?;
                    self.state = if n == 0 {
                        ChunkState::Trailers
                    } else {
                        ChunkState::Data(n)
                    };
                }
                ChunkState::Data(left) => {
                    if buf.is_empty() || max == 0 {
                        return Ok(Bytes::new());
                    }
                    let n = usize::try_from(left)
                        .unwrap_or(usize::MAX)
                        .min(buf.len())
                        .min(max);
                    let data = buf.split_to(n).freeze();
                    let left = left.saturating_sub(n as u64);
                    self.state = if left == 0 {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left)
                    };
                    return Ok(data);
                }
                ChunkState::DataEnd => {
                    if buf.len() < 2 {
                        return Ok(Bytes::new());
                    }
                    if buf.get(..2) != Some(b"\r\n".as_slice()) {
                        return Err(ChunkError::Crlf);
                    }
                    buf.advance(2);
                    self.state = ChunkState::Size;
                }
                ChunkState::Trailers => {
                    let Some(line) =
                        take_line(buf, MAX_CHUNK_LINE).map_err(|()| ChunkError::Size)?
                    else {
                        return Ok(Bytes::new());
                    };
                    if line.is_empty() {
                        self.state = ChunkState::Done;
                    }
                }
            }
        }
    }
}

/// Removes one CRLF- (or LF-) terminated line from `buf`; `Ok(None)` when
/// incomplete, `Err` when longer than `max`.
fn take_line(buf: &mut BytesMut, max: usize) -> Result<Option<Bytes>, ()> {
    match buf.iter().position(|&b| b == b'\n') {
        Some(at) => {
            let mut line = buf.split_to(at.saturating_add(1)).freeze();
            line.truncate(at);
            if line.last() == Some(&b'\r') {
                line.truncate(at.saturating_sub(1));
            }
            Ok(Some(line))
        }
        None if buf.len() > max => Err(()),
        None => Ok(None),
    }
}

/// How the response body is framed on the client connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RespFraming {
    /// No body may be written (HEAD, 1xx, 204, 304).
    NoBody,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// Delimited by closing the connection (HTTP/1.0 with unknown length).
    Close,
}

/// Writes condure's response head for a first response packet: the responder's
/// headers minus `Connection`, `Content-Length`, `Transfer-Encoding`, then its own
/// framing headers in condure's order (checked against condure 1.9.1). Returns the
/// body framing and whether the connection persists.
///
/// One deliberate difference: an HTTP/1.0 client asking for keep-alive gets a
/// close-delimited body when the length is unknown (condure announces keep-alive
/// and leaves such a body unframed).
#[expect(
    clippy::too_many_arguments,
    reason = "one call site; each input is a distinct fact"
)]
pub(crate) fn write_response_head(
    out: &mut BytesMut,
    minor: u8,
    head_request: bool,
    keep_alive: bool,
    code: u16,
    reason: &[u8],
    headers: &[pushpin_zhttp::Header],
    complete_body_len: Option<usize>,
) -> (RespFraming, bool) {
    let declared: Option<u64> = headers
        .iter()
        .find(|h| h.is(b"content-length"))
        .and_then(|h| std::str::from_utf8(&h.value).ok()?.trim().parse().ok());
    let no_body_status = (100..200).contains(&code) || code == 204 || code == 304;
    let length = declared.or(complete_body_len.map(|n| n as u64));
    let framing = if head_request || no_body_status {
        RespFraming::NoBody
    } else if let Some(n) = length {
        RespFraming::Length(n)
    } else if minor >= 1 {
        RespFraming::Chunked
    } else {
        RespFraming::Close
    };
    let persistent = keep_alive && framing != RespFraming::Close;

    out.reserve(256);
    out.put_slice(if minor == 0 {
        b"HTTP/1.0 "
    } else {
        b"HTTP/1.1 "
    });
    out.put_slice(code.to_string().as_bytes());
    out.put_u8(b' ');
    out.put_slice(reason);
    out.put_slice(b"\r\n");
    for h in headers {
        if h.is(b"content-length") || h.is(b"transfer-encoding") || h.is(b"connection") {
            continue;
        }
        out.put_slice(&h.name);
        out.put_slice(b": ");
        out.put_slice(&h.value);
        out.put_slice(b"\r\n");
    }
    // condure's order: its Connection header, the length, then chunked framing.
    if minor == 0 && persistent {
        out.put_slice(b"Connection: keep-alive\r\n");
    } else if minor >= 1 && !persistent {
        out.put_slice(b"Connection: close\r\n");
    }
    let length_header = match framing {
        RespFraming::Length(n) => Some(n),
        RespFraming::NoBody if head_request && !no_body_status => length,
        _ => None,
    };
    if let Some(n) = length_header {
        out.put_slice(b"Content-Length: ");
        out.put_slice(n.to_string().as_bytes());
        out.put_slice(b"\r\n");
    }
    if framing == RespFraming::Chunked {
        out.put_slice(b"Connection: Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n");
    }
    out.put_slice(b"\r\n");
    (framing, persistent)
}

#[cfg(test)]
mod tests;
