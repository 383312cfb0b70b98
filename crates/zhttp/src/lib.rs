//! ZHTTP packets: HTTP and WebSocket sessions over ZeroMQ, as spoken by Pushpin 1.36,
//! condure 1.9.1 and zurl 1.11.1 (layer L0: pure, no I/O, no clock).
//!
//! Owns the typed packet model of `spec/zhttp.md` §4–§5 and §7 ([`Packet`],
//! [`PacketType`], [`Condition`], [`Ids`], [`Header`], ...), its two wire formats
//! (`T` + tnetstring dictionary, and zurl's `J` + JSON, §3.1), and the message framing
//! of each socket pattern (§3, module [`framing`]). It does not own sockets (that is
//! `pushpin-zmq`), session policy (the binaries), or the tnetstring grammar
//! (`pushpin-tnetstring`).
//!
//! Entry points:
//! - [`Packet::decode`] reads a `T` or `J` payload (the content frame of a ZeroMQ
//!   message). Byte-string fields are zero-copy [`bytes::Bytes`] slices of the input;
//!   only `user-data` and `passthrough` become an owned
//!   [`Value`](pushpin_tnetstring::Value) tree.
//! - [`Packet::encode`] writes `T` + dictionary into a `BytesMut`, in condure's key
//!   order (§5.4), so packets a drop-in condure builds are byte-identical to condure's.
//! - [`framing`] splits and builds the multipart messages of PUSH/PULL,
//!   ROUTER/DEALER and PUB/SUB hops.
//! - [`session`] tracks sequence numbers and credits of one session (§6.3, §6.6).
//!
//! Decoding is bounded by [`Limits`]: the tnetstring element size and nesting depth,
//! plus Pushpin's per-packet caps on ids and headers and a body cap.

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::print_stdout,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

mod decode;
mod encode;
mod error;
pub mod framing;
mod ids;
mod json;
mod packet;
pub mod session;
mod types;

pub use error::{Error, FieldError};
pub use ids::{Id, IdSeq, Ids, Targets};
pub use packet::{Format, Packet};
pub use types::{Condition, ContentType, Ext, Header, PacketType};

/// Most ids one packet may address: condure's and Pushpin's `IDS_MAX`
/// (`spec/zhttp.md` §4, §11.2).
pub const DEFAULT_MAX_IDS: usize = 128;

/// Most headers one packet may carry: condure's and Pushpin's `HEADERS_MAX`
/// (`spec/zhttp.md` §5.2, §11.2).
pub const DEFAULT_MAX_HEADERS: usize = 64;

/// Largest `body` accepted in one packet: 16 MiB, the same as the tnetstring element
/// cap ([`pushpin_tnetstring::DEFAULT_MAX_LEN`]).
///
/// No 1.36 peer caps bodies in its codec: condure bounds them by its buffer sizes
/// (≤ 200000 bytes in practice), zurl's non-stream responses by the request's
/// `max-size` (Pushpin's req-mode client sets 1000000). Lower it where a process
/// knows its peers' buffer sizes.
pub const DEFAULT_MAX_BODY: usize = pushpin_tnetstring::DEFAULT_MAX_LEN;

/// Bounds applied while decoding a packet from an untrusted peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Element size and nesting caps of the tnetstring layer (nesting applies to
    /// `user-data` and `passthrough`).
    pub tnet: pushpin_tnetstring::Limits,
    /// Most entries in a list-form `id` (default [`DEFAULT_MAX_IDS`]).
    pub max_ids: usize,
    /// Most items in `headers` (default [`DEFAULT_MAX_HEADERS`]).
    pub max_headers: usize,
    /// Largest `body`, in bytes (default [`DEFAULT_MAX_BODY`]).
    pub max_body: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            tnet: pushpin_tnetstring::Limits::default(),
            max_ids: DEFAULT_MAX_IDS,
            max_headers: DEFAULT_MAX_HEADERS,
            max_body: DEFAULT_MAX_BODY,
        }
    }
}
