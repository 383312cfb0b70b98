//! The internal protocol between `pushpin-proxy` and `pushpin-handler` as
//! Pushpin 1.36 speaks it (`spec/internal.md`), typed, with decoders and
//! encoders (layer L0: pure, no sockets, no clock).
//!
//! Owns the message shapes of every internal socket except ZHTTP:
//!
//! - [`zrpc`]: the request/response envelope of the inspect, accept and
//!   command sockets (§3), its multipart rules, and [`Condition`];
//!   [`Call`] gives typed args for every method (§4, §5, §9, and the
//!   handler's publisher-facing command socket);
//! - [`InspectArgs`] / [`InspectInfo`] (§4), [`AcceptArgs`] with one
//!   [`RequestState`] per session, and [`AcceptResult`] (§5);
//! - [`RetryPacket`] (§6);
//! - [`WsControlPacket`] (§7.1–§7.3) and [`GripControl`], the JSON inside
//!   `grip` items (§7.5);
//! - [`StatsPacket`] (§8).
//!
//! Not here: ZHTTP (`pushpin-zhttp`), GRIP instructions and publish items
//! (`pushpin-grip`, whose types this crate reuses), sockets (`pushpin-zmq`).
//!
//! Every message is one ZeroMQ frame: `decode(&Bytes, &Limits)` reads it
//! lazily from the tnetstring (byte strings are zero-copy slices), and
//! `encode(&mut BytesMut)` writes a stable key order (1.36's own order is
//! hash-random). A frame cut short is [`Error::Incomplete`]; bad input is an
//! [`Error`] naming the field. Unknown fields are ignored; an unknown ZRPC
//! method decodes to [`Call::Unknown`]; an unknown ws-control item or stats
//! type is rejected, as 1.36 rejects it.

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::print_stdout,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

mod accept;
mod call;
mod error;
mod field;
mod grip_control;
mod inspect;
mod retry;
mod shapes;
mod stats;
pub mod wscontrol;
pub mod zrpc;

pub use accept::{AcceptArgs, AcceptResult, RequestState};
pub use call::{Call, RefreshArgs, ZmqUris, decode_id_list, encode_id_list};
pub use error::Error;
pub use field::Header;
pub use grip_control::{GripControl, GripControlError};
pub use inspect::{InspectArgs, MAX_INSPECT_BODY};
pub use pushpin_tnetstring::{Limits, Value};
pub use retry::{RetryPacket, RetryRequest};
pub use shapes::{InspectInfo, RequestData, ResponseData, Rid};
pub use stats::{ConnectionType, Report, StatsBody, StatsPacket, SubscriptionMode};
pub use wscontrol::{Item as WsControlItem, ItemKind as WsControlItemKind, Known, WsControlPacket};
pub use zrpc::{Condition, Outcome, Request, Response};
