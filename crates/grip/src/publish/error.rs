//! Publish errors. `Display` is the exact 1.36 text, so the HTTP endpoint can
//! answer `400` with `<text>\n` and the command socket `bad-request` with the
//! text as value (`spec/publishing.md` §2, §3, §6).

use std::fmt;

use crate::header_list::HeadersError;

/// One of the three publish formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FormatKind {
    /// `http-response` (response holds).
    HttpResponse,
    /// `http-stream` (stream holds).
    HttpStream,
    /// `ws-message` (WebSocket sessions).
    WsMessage,
}

impl FormatKind {
    /// The key naming this format in an item.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::HttpResponse => "http-response",
            Self::HttpStream => "http-stream",
            Self::WsMessage => "ws-message",
        }
    }

    /// Also the order in which 1.36 checks the formats of an item.
    pub const ALL: [Self; 3] = [Self::HttpResponse, Self::HttpStream, Self::WsMessage];
}

/// The object an error is about, as 1.36 names it in messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parent {
    /// The item itself: `publish item object`.
    Item,
    /// A format object: `'http-response'` and so on.
    Format(FormatKind),
}

impl fmt::Display for Parent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Item => f.write_str("publish item object"),
            Self::Format(k) => write!(f, "'{}'", k.as_str()),
        }
    }
}

/// Why one publish item was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// The item or a format is not an object.
    #[error("{0} is not an object")]
    NotObject(Parent),
    /// A required field is missing (`channel`).
    #[error("{parent} does not contain '{field}'")]
    Missing {
        /// Where it is missing.
        parent: Parent,
        /// The field.
        field: &'static str,
    },
    /// A field has the wrong type (JSON `null` included).
    #[error("{parent} contains '{field}' with wrong type")]
    WrongType {
        /// Where.
        parent: Parent,
        /// The field.
        field: &'static str,
    },
    /// A field is out of range (`size` < 0, `code` outside 0..=999 or < 0).
    #[error("{parent} contains '{field}' with invalid value")]
    InvalidValue {
        /// Where.
        parent: Parent,
        /// The field.
        field: &'static str,
    },
    /// No format at all (or an empty `formats` object).
    #[error("no formats specified")]
    NoFormats,
    /// A `meta` value is not a string.
    #[error("'meta' contains '{key}' with wrong type")]
    MetaWrongType {
        /// The meta key.
        key: String,
    },
    /// An `action` other than `send`, `hint`, `close`: 1.36 reports it with an
    /// **empty** message.
    #[error("")]
    UnknownAction {
        /// The format carrying it.
        format: FormatKind,
        /// The action as written.
        action: String,
    },
    /// A `content-filters` element is not a string.
    #[error("content-filters contains element with wrong type")]
    ContentFilterWrongType,
    /// `http-response` `send` without a body source.
    #[error(
        "'http-response' does not contain {}",
        if *json { "'body', 'body-bin', or 'body-patch'" } else { "'body' or 'body-patch'" }
    )]
    MissingBody {
        /// Whether the input was JSON (where `body-bin` exists).
        json: bool,
    },
    /// `http-stream` `send` without content.
    #[error(
        "'http-stream' does not contain {}",
        if *json { "'content' or 'content-bin'" } else { "'content'" }
    )]
    MissingStreamContent {
        /// Whether the input was JSON (where `content-bin` exists).
        json: bool,
    },
    /// `ws-message` `send` of type text/binary without content.
    #[error("'ws-message' does not contain 'content' or 'content-bin'")]
    MissingWsContent,
    /// `ws-message` `type` is not text/binary/ping/pong.
    #[error("'ws-message' contains 'type' with unknown value")]
    UnknownWsType,
    /// `http-response` `headers` is malformed.
    #[error(transparent)]
    Headers(#[from] HeadersError),
}

/// Why a publish request (HTTP `POST /publish` body or command `publish`
/// args) was rejected; nothing is published then.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishRequestError {
    /// The HTTP body is not JSON (an object or array).
    #[error("Body is not valid JSON.")]
    InvalidJson,
    /// The HTTP body is JSON but not an object.
    #[error("Invalid format.")]
    NotObject,
    /// No `items`.
    #[error("Invalid format: object does not contain 'items'")]
    NoItems,
    /// `items` is not a list.
    #[error("Invalid format: object contains 'items' with wrong type")]
    ItemsWrongType,
    /// An item is invalid.
    #[error("Invalid format: {error}")]
    Item {
        /// Index of the first invalid item.
        index: usize,
        /// What is wrong with it.
        error: PublishError,
    },
}

impl PublishRequestError {
    /// HTTP status and reason of the answer (always `400 Bad Request`).
    pub const fn status(&self) -> (u16, &'static str) {
        (400, "Bad Request")
    }

    /// The `text/plain` HTTP answer body: the message plus `\n`.
    pub fn http_body(&self) -> String {
        format!("{self}\n")
    }

    /// The ZRPC condition of the command socket answer (the message is the
    /// value).
    pub const fn condition(&self) -> &'static str {
        "bad-request"
    }
}

/// Why a ZeroMQ publish message (PULL or SUB socket) was dropped. `Display`
/// matches the 1.36 handler's log text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// Not the frame count the socket expects (1 for PULL, 2 for SUB).
    #[error("received message with parts != {expected}")]
    FrameCount {
        /// Frames expected.
        expected: usize,
        /// Frames received.
        got: usize,
    },
    /// `J` prefix but the rest is not JSON.
    #[error("received message with invalid format (json parse failed)")]
    Json,
    /// `J` prefix and JSON, but not an object.
    #[error("received message with invalid format (not a valid json object)")]
    NotJsonObject,
    /// Not a tnetstring.
    #[error("received message with invalid format (tnetstring parse failed)")]
    Tnetstring(#[source] pushpin_tnetstring::Error),
    /// The item is invalid.
    #[error("received message with invalid format: {0}")]
    Item(#[from] PublishError),
}
