//! The decoding error of this crate: every way bytes can fail to be a tnetstring.

use crate::Kind;

/// Why some bytes are not a valid tnetstring (or not the expected one).
///
/// Offsets count from the start of the buffer handed to the parser that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The SIZE prefix is empty, has a non-digit, or has more than nine digits.
    #[error("invalid length prefix at offset {offset}")]
    InvalidLength {
        /// Where the element starts.
        offset: usize,
    },
    /// The SIZE is larger than the configured limit.
    #[error("element length {len} exceeds limit {max} at offset {offset}")]
    TooLong {
        /// Where the element starts.
        offset: usize,
        /// The declared length.
        len: usize,
        /// The limit in force.
        max: usize,
    },
    /// The byte after DATA is not one of the seven type tags.
    #[error("invalid type tag 0x{tag:02x} at offset {offset}")]
    InvalidTag {
        /// Where the element starts.
        offset: usize,
        /// The byte found.
        tag: u8,
    },
    /// A child element runs past the end of the container holding it, or a
    /// complete message was expected and the input ended early.
    #[error("element at offset {offset} is truncated")]
    Truncated {
        /// Where the element starts.
        offset: usize,
    },
    /// An integer's DATA is not `-?[0-9]+` within 64 bits.
    #[error("invalid integer at offset {offset}")]
    InvalidInt {
        /// Where the element starts.
        offset: usize,
    },
    /// A float's DATA is not a decimal number.
    #[error("invalid float at offset {offset}")]
    InvalidFloat {
        /// Where the element starts.
        offset: usize,
    },
    /// A boolean's DATA is neither `true` nor `false`.
    #[error("invalid boolean at offset {offset}")]
    InvalidBool {
        /// Where the element starts.
        offset: usize,
    },
    /// A null has non-empty DATA.
    #[error("invalid null at offset {offset}")]
    InvalidNull {
        /// Where the element starts.
        offset: usize,
    },
    /// A dictionary key is not a byte string.
    #[error("dictionary key at offset {offset} is not a byte string")]
    NonStringKey {
        /// Where the key starts.
        offset: usize,
    },
    /// A dictionary ends after a key, with no value.
    #[error("dictionary key at offset {offset} has no value")]
    MissingValue {
        /// Where the key starts.
        offset: usize,
    },
    /// Containers nest deeper than [`Limits::max_depth`](crate::Limits).
    #[error("nesting deeper than {max}")]
    TooDeep {
        /// The limit in force.
        max: usize,
    },
    /// A message does not start with the `T` format marker.
    #[error("missing 'T' format marker")]
    MissingPrefix,
    /// An element has a different type than the caller needs.
    #[error("expected {expected}, found {found}")]
    WrongType {
        /// What the caller asked for.
        expected: Kind,
        /// What the element is.
        found: Kind,
    },
}
