//! What a request message is, worked out from its metadata headers and body
//! (`spec/mongrel2.md` §2.2–§3): an HTTP request (possibly the first piece of an
//! upload), a later upload chunk, a WebSocket handshake or frame, a `disconnect` or
//! `credits` event, or a JSON/XML socket message.

use std::fmt;

use bytes::Bytes;

use crate::headers::{
    DOWNLOAD_CREDITS, FLAGS, METHOD, METHOD_JSON, METHOD_WEBSOCKET, METHOD_WEBSOCKET_HANDSHAKE,
    METHOD_XML, UPLOAD_DONE, UPLOAD_START, UPLOAD_STREAM, UPLOAD_STREAM_DONE,
};
use crate::wire::parse_decimal;
use crate::{EVENT_PATH, Error, Headers};

/// The kind of a [`Request`](crate::Request).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RequestKind {
    /// An HTTP request: `METHOD` is an HTTP method. The body is inline, or the
    /// first piece of an upload when `upload` is set.
    Http {
        /// How a body too large to send inline is delivered, if it is.
        upload: Option<Upload>,
    },
    /// A later piece of a streamed body: headers hold only `UPLOAD_STREAM` (and
    /// `UPLOAD_STREAM_DONE` on the last one), no `METHOD` (§3.1 step 3).
    UploadChunk {
        /// Byte offset of this piece within the whole body.
        offset: u64,
        /// True on the last piece.
        done: bool,
    },
    /// A WebSocket upgrade request (`METHOD: WEBSOCKET_HANDSHAKE`); the body is
    /// the `Sec-WebSocket-Accept` value mongrel2 computed (§2.4).
    WebSocketHandshake,
    /// A WebSocket message or control frame from the client (`METHOD: WEBSOCKET`);
    /// the body is the unmasked payload. The headers repeat the handshake's,
    /// including its stale `DOWNLOAD_CREDITS`.
    WebSocketFrame {
        /// The `FLAGS` header: the frame's first byte with FIN set.
        flags: WsFlags,
    },
    /// The client went away (path `@*`, body `{"type":"disconnect"}`, §2.3).
    Disconnect,
    /// mongrel2 wrote bytes to the client (path `@*`, body `{"type":"credits"}`, §4).
    Credits {
        /// `DOWNLOAD_CREDITS`: how many bytes were written.
        credits: u32,
    },
    /// Any other `METHOD: JSON` message (a JSON-socket message or an unknown
    /// event); the body is the JSON text. `m2adapter` drops these.
    Json,
    /// A `METHOD: XML` (XML-socket) message.
    Xml,
}

/// How mongrel2 delivers a body larger than `limits.content_length` (§3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Upload {
    /// `upload.stream=1` (Pushpin's setting): this message carries the bytes from
    /// `offset` (`UPLOAD_STREAM`, 0 on the first message); more arrive as
    /// [`RequestKind::UploadChunk`]s as the handler grants `ctl` credits.
    Stream {
        /// Byte offset of this message's body within the whole body.
        offset: u64,
        /// True if this is also the last piece (`UPLOAD_STREAM_DONE`).
        done: bool,
    },
    /// `upload.stream=0` with `upload.temp_store`: the body goes to a temp file
    /// and the messages have empty bodies (§3.2; source only).
    TempFile {
        /// The file's path (`x-mongrel2-upload-start`).
        path: Bytes,
        /// True once the file is complete (`x-mongrel2-upload-done` is set too).
        done: bool,
    },
}

/// The `FLAGS` of a WebSocket frame message: the frame's first byte with FIN set
/// (`0x81` text, `0x82` binary, `0x88` close, `0x89` ping, `0x8A` pong).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WsFlags(pub u8);

impl WsFlags {
    /// Parses mongrel2's `0x%X` spelling; like Pushpin's `toInt(16)` the `0x`
    /// prefix is optional. At most two hex digits.
    pub fn parse(text: &[u8]) -> Option<Self> {
        let digits = text
            .strip_prefix(b"0x")
            .or_else(|| text.strip_prefix(b"0X"))
            .unwrap_or(text);
        if digits.is_empty() || digits.len() > 2 {
            return None;
        }
        digits
            .iter()
            .try_fold(0u8, |acc, &b| {
                let d = char::from(b).to_digit(16)?;
                acc.checked_mul(16)?.checked_add(u8::try_from(d).ok()?)
            })
            .map(Self)
    }

    /// The opcode (low four bits): 0 continuation, 1 text, 2 binary, 8 close,
    /// 9 ping, 10 pong.
    pub const fn opcode(self) -> u8 {
        self.0 & 0x0f
    }

    /// The FIN bit (always set by mongrel2).
    pub const fn fin(self) -> bool {
        self.0 & 0x80 != 0
    }
}

impl fmt::Display for WsFlags {
    /// mongrel2's spelling: `0x` and upper-case hex (`0x8A`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:X}", self.0)
    }
}

/// Works out the kind of a request and its `DOWNLOAD_CREDITS`, checking the
/// metadata that kind depends on.
pub(crate) fn classify(
    path: &[u8],
    headers: &Headers,
    body: &[u8],
) -> Result<(RequestKind, Option<u32>), Error> {
    let credits = match headers.first(DOWNLOAD_CREDITS.as_bytes()) {
        Some(v) => Some(
            parse_decimal(v)
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| invalid(DOWNLOAD_CREDITS, v))?,
        ),
        None => None,
    };
    let Some(method) = headers.first(METHOD.as_bytes()) else {
        return match stream_offset(headers)? {
            Some((offset, done)) => Ok((RequestKind::UploadChunk { offset, done }, credits)),
            None => Err(Error::MissingHeader { name: METHOD }),
        };
    };
    let kind = match method.as_ref() {
        m if m == METHOD_JSON.as_bytes() => match event(path, body) {
            Some(Event::Disconnect) => RequestKind::Disconnect,
            Some(Event::Credits) => RequestKind::Credits {
                credits: credits.ok_or(Error::MissingHeader {
                    name: DOWNLOAD_CREDITS,
                })?,
            },
            None => RequestKind::Json,
        },
        m if m == METHOD_XML.as_bytes() => RequestKind::Xml,
        m if m == METHOD_WEBSOCKET_HANDSHAKE.as_bytes() => RequestKind::WebSocketHandshake,
        m if m == METHOD_WEBSOCKET.as_bytes() => {
            let flags = headers
                .first(FLAGS.as_bytes())
                .ok_or(Error::MissingHeader { name: FLAGS })?;
            RequestKind::WebSocketFrame {
                flags: WsFlags::parse(flags).ok_or_else(|| invalid(FLAGS, flags))?,
            }
        }
        _ => RequestKind::Http {
            upload: upload(headers)?,
        },
    };
    Ok((kind, credits))
}

fn invalid(name: &'static str, value: &Bytes) -> Error {
    Error::InvalidHeaderValue {
        name,
        value: value.clone(),
    }
}

/// `UPLOAD_STREAM` and `UPLOAD_STREAM_DONE`, if present. Done is any non-empty
/// value other than `0`, as in `m2adapter`.
fn stream_offset(headers: &Headers) -> Result<Option<(u64, bool)>, Error> {
    let Some(offset) = headers.first(UPLOAD_STREAM.as_bytes()) else {
        return Ok(None);
    };
    let offset = parse_decimal(offset).ok_or_else(|| invalid(UPLOAD_STREAM, offset))?;
    let done = headers
        .first(UPLOAD_STREAM_DONE.as_bytes())
        .is_some_and(|v| !v.is_empty() && v.as_ref() != b"0");
    Ok(Some((offset, done)))
}

fn upload(headers: &Headers) -> Result<Option<Upload>, Error> {
    if let Some((offset, done)) = stream_offset(headers)? {
        return Ok(Some(Upload::Stream { offset, done }));
    }
    let non_empty = |name: &str| {
        headers
            .first(name.as_bytes())
            .filter(|v| !v.is_empty())
            .cloned()
    };
    let start = non_empty(UPLOAD_START);
    Ok(match (start, non_empty(UPLOAD_DONE)) {
        (start, Some(done)) => {
            if start.as_ref() != Some(&done) {
                return Err(Error::UploadPathMismatch {
                    start: start.unwrap_or_default(),
                    done,
                });
            }
            Some(Upload::TempFile {
                path: done,
                done: true,
            })
        }
        (Some(path), None) => Some(Upload::TempFile { path, done: false }),
        (None, None) => None,
    })
}

enum Event {
    Disconnect,
    Credits,
}

/// The event a `METHOD: JSON` message on the `@*` path announces. mongrel2
/// writes the two bodies as fixed strings; other spellings of the same JSON are
/// understood too. Messages on other paths (JSON-socket clients) are never
/// events, so a client cannot forge one.
fn event(path: &[u8], body: &[u8]) -> Option<Event> {
    if path != EVENT_PATH {
        return None;
    }
    match body {
        br#"{"type":"disconnect"}"# => return Some(Event::Disconnect),
        br#"{"type":"credits"}"# => return Some(Event::Credits),
        _ => {}
    }
    let doc: serde_json::Value = serde_json::from_slice(body).ok()?;
    match doc.get("type")?.as_str()? {
        "disconnect" => Some(Event::Disconnect),
        "credits" => Some(Event::Credits),
        _ => None,
    }
}
