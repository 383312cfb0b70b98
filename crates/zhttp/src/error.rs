//! Why a payload is not a valid ZHTTP packet: structural errors of the whole message,
//! and per-field errors that name the field (`spec/zhttp.md` §5).

use pushpin_tnetstring::{self as tnet, Kind};

/// A payload that cannot be decoded as a ZHTTP packet.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The payload has no bytes at all.
    #[error("empty packet")]
    Empty,
    /// The first byte is neither `T` (tnetstring) nor `J` (JSON) (§3.1).
    #[error("unrecognized data format 0x{byte:02x}")]
    UnknownFormat {
        /// The first byte of the payload.
        byte: u8,
    },
    /// The dictionary itself is malformed: truncated, bad length, a root that is not
    /// a dictionary, a non-string key, ...
    #[error(transparent)]
    Tnet(#[from] tnet::Error),
    /// A known field has the wrong type or an unusable value.
    #[error("invalid field {field:?}")]
    Field {
        /// The field's wire name (`"seq"`, `"headers"`, `"id.seq"` for an entry of a
        /// list-form id, ...).
        field: &'static str,
        /// What is wrong with it.
        #[source]
        source: FieldError,
    },
    /// A list-form `id` has more entries than [`Limits::max_ids`](crate::Limits).
    #[error("packet addresses more than {max} ids")]
    TooManyIds {
        /// The limit in force.
        max: usize,
    },
    /// `headers` has more items than [`Limits::max_headers`](crate::Limits).
    #[error("packet has more than {max} headers")]
    TooManyHeaders {
        /// The limit in force.
        max: usize,
    },
    /// `body` is longer than [`Limits::max_body`](crate::Limits).
    #[error("body of {len} bytes exceeds limit {max}")]
    BodyTooLarge {
        /// The body's length.
        len: usize,
        /// The limit in force.
        max: usize,
    },
    /// A `J` payload is not valid JSON.
    #[error("invalid JSON packet")]
    Json(#[source] serde_json::Error),
}

/// What is wrong with one field's value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// The value has the wrong tnetstring type or malformed contents.
    #[error(transparent)]
    Tnet(#[from] tnet::Error),
    /// An integer field holds something other than an integer or a decimal string
    /// (the C++ peers accept integers sent as strings, `spec/tnetstring.md` §1.3).
    #[error("expected integer or string, found {found}")]
    NotIntOrString {
        /// The type found.
        found: Kind,
    },
    /// `id` is neither a string nor a list of `{id, seq}` dictionaries (§4).
    #[error("expected string or list, found {found}")]
    NotStringOrList {
        /// The type found.
        found: Kind,
    },
    /// A string given for an integer field is not a decimal integer.
    #[error("string is not a decimal integer")]
    NotAnInteger,
    /// An integer is negative or too large for the field.
    #[error("integer {value} is outside 0..={max}")]
    OutOfRange {
        /// The value found.
        value: i64,
        /// The largest value the field holds.
        max: u64,
    },
    /// A `headers` item is not a `[name, value]` pair.
    #[error("header item has {len} elements, expected 2")]
    HeaderArity {
        /// How many elements the item has.
        len: usize,
    },
}
