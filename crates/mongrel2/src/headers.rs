//! The headers object of a request (`spec/mongrel2.md` §2.2): client headers
//! (lower-cased names) and mongrel2's upper-case metadata keys, with single or
//! repeated values, in wire order. Read and written in both handler protocols:
//! JSON in a netstring ([`Protocol::Json`], `json.rs`) or a tnetstring dictionary
//! ([`Protocol::Tnetstring`], `tnet.rs`).

use std::fmt;
use std::str::FromStr;

use bytes::Bytes;

mod json;
mod tnet;

pub(crate) use json::{decode as decode_json, encode as encode_json};
pub(crate) use tnet::{decode as decode_tnet, encode as encode_tnet};

/// `METHOD`: the HTTP method, or `JSON`, `XML`, `WEBSOCKET_HANDSHAKE`, `WEBSOCKET`.
pub const METHOD: &str = "METHOD";
/// `VERSION`: `HTTP/1.0` or `HTTP/1.1`.
pub const VERSION: &str = "VERSION";
/// `URI`: the request-target as received, query included.
pub const URI: &str = "URI";
/// `PATH`: the path part of the URI.
pub const PATH: &str = "PATH";
/// `QUERY`: the query without `?`, only when there is one.
pub const QUERY: &str = "QUERY";
/// `FRAGMENT`: the fragment, only when there is one.
pub const FRAGMENT: &str = "FRAGMENT";
/// `PATTERN`: the route pattern that matched.
pub const PATTERN: &str = "PATTERN";
/// `URL_SCHEME`: `http` or `https` (also for WebSockets).
pub const URL_SCHEME: &str = "URL_SCHEME";
/// `REMOTE_ADDR`: the client's IP address.
pub const REMOTE_ADDR: &str = "REMOTE_ADDR";
/// `DOWNLOAD_CREDITS`: bytes the handler may send (first request; `credits` events).
pub const DOWNLOAD_CREDITS: &str = "DOWNLOAD_CREDITS";
/// `UPLOAD_STREAM`: byte offset of a streamed body chunk.
pub const UPLOAD_STREAM: &str = "UPLOAD_STREAM";
/// `UPLOAD_STREAM_DONE`: `1` on the last streamed chunk.
pub const UPLOAD_STREAM_DONE: &str = "UPLOAD_STREAM_DONE";
/// `FLAGS`: `0x` + upper-case hex of a WebSocket frame's first byte (FIN set).
pub const FLAGS: &str = "FLAGS";
/// `x-mongrel2-upload-start`: temp file of a body being stored.
pub const UPLOAD_START: &str = "x-mongrel2-upload-start";
/// `x-mongrel2-upload-done`: temp file of a body fully stored.
pub const UPLOAD_DONE: &str = "x-mongrel2-upload-done";
/// `x-forwarded-for`: set to the client IP unless `no_clobber_xff=1`.
pub const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// The `METHOD` of mongrel2 events and JSON-socket messages.
pub const METHOD_JSON: &str = "JSON";
/// The `METHOD` of XML-socket messages.
pub const METHOD_XML: &str = "XML";
/// The `METHOD` of a WebSocket upgrade request.
pub const METHOD_WEBSOCKET_HANDSHAKE: &str = "WEBSOCKET_HANDSHAKE";
/// The `METHOD` of a WebSocket frame.
pub const METHOD_WEBSOCKET: &str = "WEBSOCKET";

/// How a handler's headers are encoded: mongrel2's `protocol` handler setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Protocol {
    /// `json` (mongrel2's default, Pushpin's choice): a netstring of JSON text.
    #[default]
    Json,
    /// `tnetstring`: a tnetstring dictionary.
    Tnetstring,
}

impl Protocol {
    /// The setting's spelling in a mongrel2 config.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Tnetstring => "tnetstring",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text is neither `json` nor `tnetstring`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown handler protocol {text:?}")]
pub struct ParseProtocolError {
    text: String,
}

impl FromStr for Protocol {
    type Err = ParseProtocolError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "json" => Ok(Self::Json),
            "tnetstring" => Ok(Self::Tnetstring),
            _ => Err(ParseProtocolError { text: s.to_owned() }),
        }
    }
}

/// One header's value: mongrel2 writes a header seen once as a string and a
/// repeated header as a list (JSON array / tnetstring list) of strings.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HeaderValue {
    /// A single occurrence.
    One(Bytes),
    /// Repeated occurrences, in order (never empty when decoded).
    Many(Vec<Bytes>),
}

impl HeaderValue {
    /// The first value: what Pushpin uses for metadata keys.
    pub fn first(&self) -> Option<&Bytes> {
        match self {
            Self::One(v) => Some(v),
            Self::Many(vs) => vs.first(),
        }
    }

    /// Every value, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Bytes> {
        match self {
            Self::One(v) => std::slice::from_ref(v).iter(),
            Self::Many(vs) => vs.iter(),
        }
    }

    /// How many values this counts as.
    pub fn len(&self) -> usize {
        match self {
            Self::One(_) => 1,
            Self::Many(vs) => vs.len(),
        }
    }

    /// True for an empty list.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<Bytes> for HeaderValue {
    fn from(v: Bytes) -> Self {
        Self::One(v)
    }
}

impl From<&'static str> for HeaderValue {
    fn from(v: &'static str) -> Self {
        Self::One(Bytes::from_static(v.as_bytes()))
    }
}

/// The headers of a request, in wire order, duplicates kept as read.
///
/// Lookups are exact (case-sensitive, as mongrel2 and Pushpin compare keys) and
/// take the **last** entry of a duplicated key, as Pushpin's map does.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Headers(pub Vec<(Bytes, HeaderValue)>);

impl Headers {
    /// No headers.
    pub const fn new() -> Self {
        Self(Vec::new())
    }

    /// Appends an entry (no de-duplication).
    pub fn push(&mut self, name: impl Into<Bytes>, value: impl Into<HeaderValue>) {
        self.0.push((name.into(), value.into()));
    }

    /// The value of the last entry named `name`.
    pub fn get(&self, name: &[u8]) -> Option<&HeaderValue> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k.as_ref() == name)
            .map(|(_, v)| v)
    }

    /// The first value of the last entry named `name` (Pushpin's view of metadata).
    pub fn first(&self, name: &[u8]) -> Option<&Bytes> {
        self.get(name).and_then(HeaderValue::first)
    }

    /// True if some entry is named `name`.
    pub fn contains(&self, name: &[u8]) -> bool {
        self.get(name).is_some()
    }

    /// The entries in wire order.
    pub fn iter(&self) -> std::slice::Iter<'_, (Bytes, HeaderValue)> {
        self.0.iter()
    }

    /// How many entries (keys) there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True if there are no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The client's HTTP headers as `m2adapter` forwards them (`spec/mongrel2.md`
    /// §7.4): every entry whose name has a lower-case letter, except the
    /// `x-mongrel2-upload-*` pair, with lists expanded into repeated headers.
    /// Names stay as mongrel2 wrote them (lower case); see [`mixed_case`].
    pub fn http_headers(&self) -> impl Iterator<Item = (&Bytes, &Bytes)> + '_ {
        self.0
            .iter()
            .filter(|(name, _)| !is_metadata(name) && !is_upload_header(name))
            .flat_map(|(name, value)| value.iter().map(move |v| (name, v)))
    }
}

impl FromIterator<(Bytes, HeaderValue)> for Headers {
    fn from_iter<I: IntoIterator<Item = (Bytes, HeaderValue)>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl IntoIterator for Headers {
    type Item = (Bytes, HeaderValue);
    type IntoIter = std::vec::IntoIter<(Bytes, HeaderValue)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Headers {
    type Item = &'a (Bytes, HeaderValue);
    type IntoIter = std::slice::Iter<'a, (Bytes, HeaderValue)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// True for a metadata key: one with no lower-case letter (`METHOD`,
/// `DOWNLOAD_CREDITS`, ...). `m2adapter` does not forward these as HTTP headers.
pub fn is_metadata(name: &[u8]) -> bool {
    !name.iter().any(u8::is_ascii_lowercase)
}

/// True for `x-mongrel2-upload-start` and `x-mongrel2-upload-done`.
pub fn is_upload_header(name: &[u8]) -> bool {
    name == UPLOAD_START.as_bytes() || name == UPLOAD_DONE.as_bytes()
}

/// A header name in `m2adapter`'s Mixed-Case: the first byte and every byte
/// after a `-` upper-cased, the rest left alone (`user-agent` → `User-Agent`).
pub fn mixed_case(name: &[u8]) -> Bytes {
    let mut prev = b'-';
    name.iter()
        .map(|&b| {
            let out = if prev == b'-' {
                b.to_ascii_uppercase()
            } else {
                b
            };
            prev = b;
            out
        })
        .collect::<Vec<u8>>()
        .into()
}

#[cfg(test)]
mod tests;
