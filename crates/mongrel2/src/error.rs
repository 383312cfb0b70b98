//! The decoding error of this crate: every way a frame can fail to be a mongrel2
//! request, response or control message, with the offset (from the start of the
//! frame) and the values involved.

use std::fmt;

use bytes::Bytes;
use pushpin_tnetstring::Kind;

/// The part of a message an [`Error`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Part {
    /// The first token: the sender UUID (`send_ident`).
    Sender,
    /// The decimal connection id of a request.
    ConnId,
    /// The path token of a request.
    Path,
    /// The headers netstring or dictionary of a request.
    Headers,
    /// The body netstring of a request, or the body of a response.
    Body,
    /// The `SIZE:IDS,` target list of a response.
    Targets,
    /// The tnetstring body of an `X` (extended) response.
    Extended,
    /// The argument dictionary of a `ctl` message.
    CtlArgs,
    /// The `credits` argument of a `ctl` message.
    Credits,
    /// A control-port request (`[command, {args}]`).
    ControlRequest,
    /// A control-port reply dictionary.
    ControlReply,
}

impl Part {
    /// A short lowercase name for messages.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Sender => "sender",
            Self::ConnId => "connection id",
            Self::Path => "path",
            Self::Headers => "headers",
            Self::Body => "body",
            Self::Targets => "target list",
            Self::Extended => "extended message",
            Self::CtlArgs => "ctl arguments",
            Self::Credits => "ctl credits",
            Self::ControlRequest => "control request",
            Self::ControlReply => "control reply",
        }
    }
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a frame is not a valid mongrel2 message.
///
/// Offsets count bytes from the start of the frame handed to the decoder.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The frame ends inside `part`: it is a strict prefix of a message.
    #[error("message ends inside the {part} starting at offset {offset}")]
    Truncated {
        /// What was being read.
        part: Part,
        /// Where that part starts.
        offset: usize,
    },
    /// A space-delimited token is empty.
    #[error("empty {part} at offset {offset}")]
    EmptyField {
        /// Which token.
        part: Part,
        /// Where it should start.
        offset: usize,
    },
    /// A connection id is not a decimal number within 64 bits.
    #[error("invalid connection id at offset {offset}")]
    InvalidConnId {
        /// Where the id starts.
        offset: usize,
    },
    /// A response UUID has a byte outside `[A-Za-z0-9-]` (mongrel2 drops such messages).
    #[error("invalid byte 0x{byte:02x} in sender at offset {offset}")]
    InvalidSender {
        /// The offending byte's offset.
        offset: usize,
        /// The offending byte.
        byte: u8,
    },
    /// A netstring or tnetstring element is malformed.
    #[error("malformed {part} element at offset {offset}")]
    Tnetstring {
        /// Which part holds the element.
        part: Part,
        /// Where the part starts.
        offset: usize,
        /// What the tnetstring reader found.
        #[source]
        source: pushpin_tnetstring::Error,
    },
    /// An element has a type the protocol does not allow there.
    #[error("unexpected {found} in {part} at offset {offset}")]
    UnexpectedType {
        /// Which part.
        part: Part,
        /// The type found.
        found: Kind,
        /// Where the element starts.
        offset: usize,
    },
    /// The JSON text of a headers netstring does not follow the grammar.
    #[error("invalid JSON headers at offset {offset}: expected {expected}")]
    Json {
        /// Where the unexpected byte (or the end) is.
        offset: usize,
        /// What the reader wanted there.
        expected: &'static str,
    },
    /// A header value is neither a string nor a list of strings.
    #[error("header {name:?} has a {found} value; expected a string or a list of strings")]
    HeaderType {
        /// The header's name.
        name: Bytes,
        /// What was found (`number`, `object`, `integer`, ...).
        found: &'static str,
    },
    /// A header value is an empty list (Pushpin rejects those).
    #[error("header {name:?} is an empty list")]
    EmptyHeaderList {
        /// The header's name.
        name: Bytes,
    },
    /// A request has more header values than [`Limits::max_headers`](crate::Limits).
    #[error("more than {max} header values")]
    TooManyHeaders {
        /// The limit in force.
        max: usize,
    },
    /// A header this kind of message needs is absent.
    #[error("missing {name} header")]
    MissingHeader {
        /// The header's name.
        name: &'static str,
    },
    /// A header mongrel2 fills in has a value it never writes.
    #[error("invalid {name} header value {value:?}")]
    InvalidHeaderValue {
        /// The header's name.
        name: &'static str,
        /// The value found.
        value: Bytes,
    },
    /// `x-mongrel2-upload-done` names another file than `x-mongrel2-upload-start`.
    #[error("upload done path {done:?} differs from upload start path {start:?}")]
    UploadPathMismatch {
        /// `x-mongrel2-upload-start`.
        start: Bytes,
        /// `x-mongrel2-upload-done`.
        done: Bytes,
    },
    /// The target list is not followed by exactly one space.
    #[error("expected a space after the target list at offset {offset}")]
    ExpectedSpace {
        /// Where the space should be.
        offset: usize,
    },
    /// The target list is not `[X ]ID( ID)*[ ]`.
    #[error("invalid target list at offset {offset}")]
    InvalidTargets {
        /// The offending byte's offset.
        offset: usize,
    },
    /// The target list names no connection (mongrel2: "Message sent had 0 targets").
    #[error("target list at offset {offset} names no connection")]
    NoTargets {
        /// Where the target list starts.
        offset: usize,
    },
    /// The target list names more connections than [`Limits::max_targets`](crate::Limits).
    #[error("more than {max} targets")]
    TooManyTargets {
        /// The limit in force.
        max: usize,
    },
    /// Bytes follow the single tnetstring of an `X` body (mongrel2 rejects these).
    #[error("trailing bytes after the {part} at offset {offset}")]
    TrailingBytes {
        /// Which part.
        part: Part,
        /// Where the extra bytes start.
        offset: usize,
    },
    /// An `X` body or a control request is a list of other than two elements.
    #[error("{part} list has {len} elements; expected 2")]
    Arity {
        /// Which list.
        part: Part,
        /// How many elements it has.
        len: usize,
    },
    /// A `ctl` `credits` value is negative or above `u32::MAX`.
    #[error("invalid ctl credits value {value}")]
    InvalidCredits {
        /// The value found.
        value: i64,
    },
    /// A control-port `status net` row has fewer than the eight columns.
    #[error("control status row has {len} columns; expected 8")]
    ShortStatusRow {
        /// How many it has.
        len: usize,
    },
}

impl Error {
    /// True if the frame was a strict prefix of a message ([`Error::Truncated`]).
    pub const fn is_truncated(&self) -> bool {
        matches!(self, Self::Truncated { .. })
    }
}
