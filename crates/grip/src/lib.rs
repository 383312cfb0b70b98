//! GRIP as Pushpin 1.36 implements it (layer L0: pure, no I/O, no clock).
//!
//! Owns what a backend or publisher can say to Pushpin, parsed into typed
//! values with 1.36's defaults, quirks and exact error texts:
//!
//! - [`instruct`]: `Grip-*` instruction headers and the
//!   `application/grip-instruct` JSON body → [`Instruct`]
//!   (`spec/grip.md` §3, §4), plus GRIP detection and `Grip-Last` helpers.
//! - [`publish`]: publish items and formats from the HTTP `POST /publish`
//!   body, the ZeroMQ PULL/SUB messages and the command socket's `publish`
//!   args (`spec/publishing.md` §2–§6).
//! - [`sig`]: `Grip-Sig` tokens (HS256 secrets, ES256/RS256 PEM keys) — minting for
//!   backend requests and checking `upstream_key` (`spec/grip.md` §2.2, §2.3), with
//!   `now` and `rng` passed in.
//! - [`params`]: the header-value list and `value; a=b; c="d"` parameter
//!   grammar every Grip header uses; [`keepalive`]: keep-alive settings and
//!   the `cstring`/`base64` data formats; [`status`]: standard reason
//!   phrases; [`qt`]: the Qt conversions the above reproduce.
//!
//! - [`filter`]: the five channel filters and their `%` directive syntax,
//!   as pure functions over meta maps and content (`spec/grip.md` §8).
//!
//! Not here: what the handler *does* with an instruct or item (holds,
//! sequencing, delivery) — that is `pushpin-handler`; the
//! proxy↔handler messages carrying these values — `pushpin-internal`.
//!
//! Error texts are data: [`InstructError`], [`PublishError`] and
//! [`PublishRequestError`] display exactly what 1.36 sends (`Failed to parse
//! accept instructions: ...`, `Invalid format: ...`), so callers answer byte
//! for byte.

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::print_stdout,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

pub mod cors;
pub mod filter;
mod header_list;
pub mod instruct;
pub mod keepalive;
mod node;
pub mod params;
pub mod publish;
pub mod qt;
pub mod sig;
pub mod status;

pub use header_list::HeadersError;
pub use instruct::{Channel, HoldMode, Instruct, InstructError, InstructResponse, NextLink};
pub use keepalive::{KeepAlive, KeepAliveMode};
pub use params::Header;
pub use publish::{
    Formats, HttpResponseFormat, HttpStreamFormat, PublishError, PublishItem, PublishRequestError,
    WsMessageFormat, WsMessageType,
};
