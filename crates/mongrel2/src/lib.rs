//! The mongrel2 1.12 handler protocol (layer L0: pure, no I/O), as spoken between a
//! real mongrel2 and Pushpin's `m2adapter` (`spec/mongrel2.md`).
//!
//! This crate owns the bytes of one ZeroMQ frame in each direction and the pure
//! helpers a handler needs to write what mongrel2 forwards verbatim to clients:
//!
//! - [`Request`]: mongrel2 → handler, `SENDER SP CONN_ID SP PATH SP HEADERS BODY`
//!   (§2), with the headers in either [`Protocol`] (a netstring of JSON, or a
//!   tnetstring dictionary), classified into a [`RequestKind`]: HTTP requests,
//!   upload streaming and temp-file uploads (§3), WebSocket handshakes and frames
//!   (§2.4), and the `@*` `disconnect` / `credits` events (§2.3, §4).
//! - [`Response`]: handler → mongrel2, `UUID SP SIZE:IDS, SP BODY` (§5): raw data
//!   for one or more connections, the empty-body close, and the `X` extended
//!   messages, chiefly `["ctl", {keep-alive | credits | cancel}]` ([`Ctl`]).
//!   [`write_data`], [`write_close`] and [`write_ctl`] encode without building a
//!   [`Response`] first.
//! - [`http`]: the raw HTTP/1.1 response head, chunk framing and header rules
//!   `m2adapter` applies (§7.4); [`ws`]: the WebSocket frames it writes.
//! - [`control`]: the control-port `status net` request and reply (§6).
//!
//! It does not own sockets, sessions, timers or credit accounting: those belong to
//! the process that replaces `m2adapter`. Limits are arguments ([`Limits`]) whose
//! defaults are mongrel2's own. Every decoder takes one whole ZeroMQ frame as
//! `&Bytes`; fields of the result are zero-copy slices of it where the wire form
//! allows (everything except JSON strings with escapes). A frame that stops early
//! is [`Error::Truncated`], kept apart from frames with wrong bytes.

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

mod conn_id;
pub mod control;
mod error;
pub mod headers;
pub mod http;
mod request;
mod response;
mod wire;
pub mod ws;

pub use conn_id::{ConnId, ParseConnIdError};
pub use error::{Error, Part};
pub use headers::{HeaderValue, Headers, Protocol};
pub use request::{Request, RequestKind, Upload, WsFlags};
pub use response::{
    Ctl, CtlArg, Extended, Response, ResponseBody, check_sender, write_close, write_ctl,
    write_data, write_extended,
};

/// mongrel2's `limits.handler_targets` default: the most connection ids one
/// response may address (`spec/mongrel2.md` §5.1).
pub const DEFAULT_MAX_TARGETS: usize = 128;

/// mongrel2's `limits.header_count` default: the most request headers it accepts
/// (`spec/tnetstring.md` §4).
pub const DEFAULT_MAX_HEADERS: usize = 1280;

/// Default cap on one netstring or tnetstring element (headers, body, `X` body):
/// the tnetstring crate's 16 MiB (`spec/tnetstring.md` §4).
pub const DEFAULT_MAX_LEN: usize = pushpin_tnetstring::DEFAULT_MAX_LEN;

/// Default nesting cap for tnetstring values kept whole (`X` arguments, control replies).
pub const DEFAULT_MAX_DEPTH: usize = pushpin_tnetstring::DEFAULT_MAX_DEPTH;

/// mongrel2's `limits.content_length` default: bodies up to this size arrive inline
/// in one request; larger ones are streamed or stored (`spec/mongrel2.md` §3.1).
pub const DEFAULT_CONTENT_LENGTH: usize = 20480;

/// The `DOWNLOAD_CREDITS` mongrel2 announces on a connection's first request with
/// `download.flow_control=1` (a fixed 100 KiB, `spec/mongrel2.md` §4).
pub const DEFAULT_DOWNLOAD_CREDITS: u32 = 102_400;

/// Messages mongrel2 queues per connection without download flow control
/// (`DELIVER_OUTSTANDING_MSGS`, `spec/mongrel2.md` §4).
pub const MAX_OUTSTANDING_MESSAGES: usize = 16;

/// The path token of mongrel2's events (`disconnect`, `credits`; `spec/mongrel2.md` §2.3).
pub const EVENT_PATH: &[u8] = b"@*";

/// Bounds applied while decoding untrusted frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most connection ids in one response ([`DEFAULT_MAX_TARGETS`]).
    pub max_targets: usize,
    /// Most header values in one request, list items counted one by one
    /// ([`DEFAULT_MAX_HEADERS`]).
    pub max_headers: usize,
    /// Largest DATA length of any netstring or tnetstring element ([`DEFAULT_MAX_LEN`]).
    pub max_len: usize,
    /// Deepest nesting of a tnetstring value kept whole ([`DEFAULT_MAX_DEPTH`]).
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_targets: DEFAULT_MAX_TARGETS,
            max_headers: DEFAULT_MAX_HEADERS,
            max_len: DEFAULT_MAX_LEN,
            max_depth: DEFAULT_MAX_DEPTH,
        }
    }
}

impl Limits {
    /// The tnetstring reader's limits derived from these.
    pub(crate) const fn tnetstring(&self) -> pushpin_tnetstring::Limits {
        pushpin_tnetstring::Limits {
            max_len: self.max_len,
            max_depth: self.max_depth,
        }
    }
}
