//! WebSocket frames (RFC 6455 §5), sans-IO (layer L0: pure, no I/O, no clock).
//!
//! Owns the frame layer both WebSocket ends of the workspace share: header
//! decoding under a payload [`Limits`], frame encoding with or without a mask,
//! masking itself, close payloads, and the handshake's `Sec-WebSocket-Accept`
//! key. `pushpin-connmgr` (the condure role, server side: it reads masked client
//! frames) and `zurl-rs` (the zurl role, client side: it writes masked frames)
//! both use it.
//!
//! Frames stay frames: fragments are not joined into messages, pings are not
//! answered and control frames keep their place between fragments, because
//! each frame maps to one ZHTTP packet (`spec/zhttp.md` §8). Not here: the
//! HTTP handshake itself, credits, and what a session does with a frame.
//!
//! Entry points:
//! - [`Header::decode`] reads a header off the front of a buffer so a caller can
//!   consume the payload in pieces (connmgr forwards data under ZHTTP credits),
//!   then [`Header::take`] or [`apply_mask`] with an offset;
//! - [`Frame::decode`] takes a whole frame off a `BytesMut`;
//! - [`encode`], [`encode_close`], [`close_payload`] and [`parse_close`] write
//!   and read frames; [`accept_key`] answers a handshake.
//!
//! [`Validation`] picks what a decoder checks: only the size limit (zurl's own
//! codec leaves reserved bits, unknown opcodes and control-frame rules to its
//! caller), or the RFC 6455 rules for frames a server reads from a client
//! (condure refuses them with a close frame, see [`Error::close_code`]).
//!
//! Decoding keeps "need more bytes" (`Ok(None)`) apart from "these bytes are
//! wrong" ([`Error`]): an error depends only on bytes already seen, so every
//! strict prefix of a valid frame is `Ok(None)`.

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::print_stdout,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

mod error;
mod frame;
mod handshake;

pub use error::Error;
pub use frame::{
    Frame, Header, MAX_CLOSE_REASON, MAX_HEADER_LEN, apply_mask, close_payload, encode,
    encode_close, parse_close,
};
pub use handshake::{GUID, accept_key};

/// Frame opcodes (RFC 6455 §5.2), as the `u8` the wire carries.
pub mod opcode {
    /// Continuation of a fragmented message.
    pub const CONTINUATION: u8 = 0x0;
    /// Text message.
    pub const TEXT: u8 = 0x1;
    /// Binary message.
    pub const BINARY: u8 = 0x2;
    /// Close.
    pub const CLOSE: u8 = 0x8;
    /// Ping.
    pub const PING: u8 = 0x9;
    /// Pong.
    pub const PONG: u8 = 0xA;

    /// Whether `op` is a control opcode (close, ping, pong and the reserved 0xB–0xF).
    pub fn is_control(op: u8) -> bool {
        op >= 0x8
    }

    /// Whether RFC 6455 defines `op`.
    pub fn is_known(op: u8) -> bool {
        matches!(op, CONTINUATION | TEXT | BINARY | CLOSE | PING | PONG)
    }
}

/// Limits a decoder enforces.
///
/// There is no default: each role picks its own (connmgr a fixed 64 MiB, since
/// it streams payloads; zurl its `buffer_size`, since it holds whole frames).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest payload accepted; a longer frame is [`Error::TooLarge`] as soon
    /// as its length is read.
    pub max_payload: usize,
}

impl Limits {
    /// Limits with `max_payload`.
    pub const fn new(max_payload: usize) -> Self {
        Self { max_payload }
    }
}

/// What a decoder checks besides [`Limits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validation {
    /// Only the size limit, as zurl 1.11's codec: reserved bits, unknown opcodes,
    /// masks and control-frame rules are left to the caller.
    SizeOnly,
    /// The rules for a frame a server reads from a client, as condure applies
    /// them: no reserved bits ([`Error::Reserved`]), a defined opcode
    /// ([`Error::Opcode`]), masked ([`Error::Unmasked`]), control frames
    /// unfragmented and at most 125 bytes ([`Error::Control`]).
    ClientFrame,
}

#[cfg(test)]
mod tests;
