//! The decoding error of this crate. Every variant names the field it is
//! about (a dotted path such as `requests.rid.sender`), so a server can log
//! it and map it to its ZRPC condition (`bad-request`, `bad-format`) in one
//! place.

use bytes::Bytes;
use pushpin_tnetstring::Kind;

/// Why a message could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The frame ends inside an element: a truncated (or still incomplete)
    /// message, kept apart from invalid bytes.
    #[error("message is incomplete")]
    Incomplete,
    /// The bytes are not a valid tnetstring.
    #[error(transparent)]
    Tnetstring(#[from] pushpin_tnetstring::Error),
    /// A required field is absent.
    #[error("missing field {field}")]
    Missing {
        /// The field path.
        field: &'static str,
    },
    /// A field has the wrong tnetstring type.
    #[error("field {field} is a {found}, expected {expected}")]
    WrongType {
        /// The field path.
        field: &'static str,
        /// The type required.
        expected: Kind,
        /// The type found.
        found: Kind,
    },
    /// An integer field is outside its range (negative seq, code > 999, ...).
    #[error("field {field} has out-of-range value {value}")]
    OutOfRange {
        /// The field path.
        field: &'static str,
        /// The value found.
        value: i64,
    },
    /// A field's value is malformed in another way (a header that is not a
    /// two-element list, an empty required string).
    #[error("field {field} is invalid")]
    Invalid {
        /// The field path.
        field: &'static str,
    },
    /// A type field names something 1.36 rejects (ws-control item type,
    /// stats type).
    #[error("unknown {field} {value:?}")]
    UnknownType {
        /// The field (`type`).
        field: &'static str,
        /// The value found.
        value: Bytes,
    },
    /// A stats message is not `<type> T<tnetstring>` (or `J<json>`).
    #[error("stats message is not framed as '<type> T<tnetstring>'")]
    StatsFraming,
}

impl Error {
    /// The field this error is about, when it is about one.
    pub const fn field(&self) -> Option<&'static str> {
        match self {
            Self::Missing { field }
            | Self::WrongType { field, .. }
            | Self::OutOfRange { field, .. }
            | Self::Invalid { field }
            | Self::UnknownType { field, .. } => Some(field),
            Self::Incomplete | Self::Tnetstring(_) | Self::StatsFraming => None,
        }
    }
}
