//! Publish items (`spec/publishing.md` §2) and the three ways they arrive:
//! the HTTP `POST /publish` JSON body (§3), single-frame PULL messages and
//! two-frame SUB messages in `J`/`T`/bare-tnetstring encodings (§4, §5), and
//! the command socket's `publish` args (§6).
//!
//! Validation follows 1.36's `PublishItem`/`PublishFormat` exactly, including
//! JSON-only fields (`body-bin`, `content-bin` as base64), lenient numbers and
//! error texts; see [`PublishError`].
//!
//! Entry points: [`parse_http_body`], [`decode_push_message`],
//! [`decode_sub_message`], [`parse_command_args`].

mod error;
mod format;
mod input;
mod item;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use bytes::Bytes;

pub use error::{FormatKind, MessageError, Parent, PublishError, PublishRequestError};
pub use input::{
    decode_push_message, decode_sub_message, parse_command_args, parse_http_body, parse_message,
};

use crate::params::Header;

/// One published item, targeting one channel.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishItem {
    /// The channel (from the SUB topic frame when non-empty).
    pub channel: String,
    /// This item's id.
    pub id: Option<String>,
    /// The id of the item published just before on this channel.
    pub prev_id: Option<String>,
    /// The formats, one per transport.
    pub formats: Formats,
    /// Publish meta used by filters.
    pub meta: BTreeMap<String, String>,
    /// Size used for block accounting instead of the body size.
    pub size: Option<u32>,
    /// Bypass the sequencer.
    pub no_seq: bool,
}

/// The formats of an item; `formats: {"bogus": {}}` gives all `None`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Formats {
    /// For response holds.
    pub http_response: Option<HttpResponseFormat>,
    /// For stream holds.
    pub http_stream: Option<HttpStreamFormat>,
    /// For WebSocket sessions.
    pub ws_message: Option<WsMessageFormat>,
}

/// The `http-response` format.
#[derive(Debug, Clone, PartialEq)]
pub enum HttpResponseFormat {
    /// `action: send` (default): the response to deliver.
    Send(HttpResponseContent),
    /// `action: hint`: re-request the held request from the backend.
    Hint,
    /// `action: close`: accepted, no effect on response holds.
    Close,
}

/// An `http-response` to send.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpResponseContent {
    /// Status code, 0..=999 (default 200).
    pub code: u16,
    /// Reason phrase (standard phrase when absent or empty).
    pub reason: Bytes,
    /// Headers in order (object input: sorted by name for JSON).
    pub headers: Vec<Header>,
    /// The body or a JSON Patch against the instruct body.
    pub body: ResponseBody,
    /// `content-filters`, when given.
    pub content_filters: Option<Vec<String>>,
}

/// Where an `http-response` body comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ResponseBody {
    /// `body` or `body-bin` (decoded).
    Body(Bytes),
    /// `body-patch`: RFC 6902 operations to apply to the instruct body.
    Patch(Vec<serde_json::Value>),
}

/// The `http-stream` format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpStreamFormat {
    /// `action: send`: content to write.
    Send {
        /// `content` or `content-bin` (decoded).
        content: Bytes,
        /// `content-filters`, when given.
        content_filters: Option<Vec<String>>,
    },
    /// `action: hint`: fetch the next link, if any.
    Hint,
    /// `action: close`: end the stream.
    Close,
}

/// The `ws-message` format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsMessageFormat {
    /// `action: send`: a message to send.
    Send {
        /// Frame type.
        message_type: WsMessageType,
        /// Payload (may be empty for ping/pong).
        content: Bytes,
        /// `content-filters`, when given.
        content_filters: Option<Vec<String>>,
    },
    /// `action: hint`: accepted and ignored.
    Hint,
    /// `action: close`: close the client connection.
    Close {
        /// Close code, if given.
        code: Option<u16>,
        /// Close reason, if given and non-empty.
        reason: Option<Bytes>,
    },
}

/// A WebSocket message type (`ws-message` `type`, GRIP control
/// `message-type`, ws-control `content-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WsMessageType {
    /// Text frame.
    Text,
    /// Binary frame.
    Binary,
    /// Ping frame.
    Ping,
    /// Pong frame.
    Pong,
}

impl WsMessageType {
    /// The wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Binary => "binary",
            Self::Ping => "ping",
            Self::Pong => "pong",
        }
    }

    /// Parses the wire spelling.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        Some(match b {
            b"text" => Self::Text,
            b"binary" => Self::Binary,
            b"ping" => Self::Ping,
            b"pong" => Self::Pong,
            _ => return None,
        })
    }
}

impl fmt::Display for WsMessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message type spelling that is not one of the four.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown websocket message type {0:?}")]
pub struct UnknownMessageType(pub String);

impl FromStr for WsMessageType {
    type Err = UnknownMessageType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_bytes(s.as_bytes()).ok_or_else(|| UnknownMessageType(s.to_owned()))
    }
}

#[cfg(test)]
mod tests;
