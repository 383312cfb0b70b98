//! Binary-safe tnetstring codec (layer L0: pure, no I/O).
//!
//! Owns the byte-level grammar of `spec/tnetstring.md`: `SIZE ":" DATA TAG` with the
//! seven tags `,` (bytes) `#` (integer) `^` (float) `!` (boolean) `~` (null)
//! `}` (dictionary) and `]` (list), plus the `T` prefix that marks a tnetstring
//! payload on the ZHTTP wire (§2). It does not know ZHTTP or mongrel2 fields;
//! those live in `pushpin-zhttp` and `pushpin-mongrel2`.
//!
//! Two ways in:
//! - [`parse_frame`] reads one element as a borrowed [`Frame`] without allocating;
//!   containers are walked lazily with [`Frame::list`] and [`Frame::map`]. Protocol
//!   decoders use this on the hot path and take sub-slices of the input as
//!   zero-copy `Bytes` with `Bytes::slice_ref`.
//! - [`Value::decode`] builds an owned tree (byte strings are zero-copy slices of
//!   the input `Bytes`), bounded by [`Limits::max_depth`].
//!
//! Writing goes into a `BytesMut` with the `write_*` functions or
//! [`Value::encode`]. Byte strings are never escaped; integers are written in
//! shortest decimal form, as the reference peers do (§5).
//!
//! Decoding keeps "need more bytes" ([`Ok(None)`](parse_frame)) apart from
//! "these bytes are wrong" ([`Error`]); a length that runs past the end of its
//! enclosing container is an error, not an incomplete input.

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::print_stdout,
        clippy::indexing_slicing,
        clippy::panic,
        clippy::arithmetic_side_effects
    )
)]

mod error;
mod frame;
mod value;
mod write;

pub use error::Error;
pub use frame::{Frame, Kind, ListIter, MapIter, parse_frame, parse_t_message};
pub use value::Value;
pub use write::{
    write_bool, write_bytes, write_float, write_int, write_list, write_map, write_null,
    write_t_message,
};

/// The byte that marks "a tnetstring follows" on the ZHTTP wire (`spec/tnetstring.md` §2).
pub const T_PREFIX: u8 = b'T';

/// Most decimal digits a SIZE prefix may have (the public tnetstring spec's cap, < 1 GB).
pub const MAX_SIZE_DIGITS: usize = 9;

/// Default cap on one element's DATA length: 16 MiB (`spec/tnetstring.md` §4).
pub const DEFAULT_MAX_LEN: usize = 16 * 1024 * 1024;

/// Default cap on container nesting for [`Value::decode`] (`spec/tnetstring.md` §4).
pub const DEFAULT_MAX_DEPTH: usize = 64;

/// Bounds applied while decoding untrusted input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest DATA length accepted for any one element, in bytes.
    pub max_len: usize,
    /// Deepest container nesting accepted by [`Value::decode`] (1 = a flat container).
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_len: DEFAULT_MAX_LEN,
            max_depth: DEFAULT_MAX_DEPTH,
        }
    }
}

#[cfg(test)]
mod tests;
