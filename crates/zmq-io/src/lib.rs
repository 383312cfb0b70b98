//! ZeroMQ sockets for tokio (layer L1): the only crate of the workspace that
//! uses `zmq`.
//!
//! Owns: socket spec strings and bind/connect rules ([`SocketSpec`],
//! [`Mode`]; `spec/internal.md` §1, `spec/config.md` §3), socket options
//! ([`SocketBuilder`]: HWMs, linger, identity, `ROUTER_MANDATORY`,
//! `IMMEDIATE`, subscriptions, `ipc_file_mode`), the async bridge
//! ([`AsyncSocket`]) and generic ROUTER envelopes ([`Envelope`];
//! `spec/zhttp.md` §3). Does not own any protocol: ZHTTP framing, the
//! PUB/SUB `"<from> "` topic prefix and ZRPC live in their own crates, which
//! see only [`Multipart`] messages of `Bytes` frames.
//!
//! # Entry points
//!
//! ```no_run
//! # async fn demo() -> Result<(), pushpin_zmq::Error> {
//! use pushpin_zmq::{AsyncSocket, Hwm, Mode, SocketKind, SocketSpec};
//!
//! let specs = SocketSpec::parse_list("ipc://run/pushpin-condure-out")?;
//! let mut pull = AsyncSocket::builder(SocketKind::Pull, Hwm::both(100))
//!     .attach(Mode::Connect, &specs)
//!     .build()?;
//! let msg = pull.recv().await?;
//! # drop(msg);
//! # Ok(())
//! # }
//! ```
//!
//! # Design: readiness on `ZMQ_FD`, no I/O thread
//!
//! Each [`AsyncSocket`] registers its `ZMQ_FD` with the tokio reactor
//! (`AsyncFd`) and does every `zmq_send`/`zmq_recv` with `ZMQ_DONTWAIT`
//! directly on the task that owns it. We chose this over a dedicated I/O
//! thread with channels because:
//!
//! * **speed**: a message costs one non-blocking libzmq call per frame and
//!   nothing else: no channel hop, no thread wake-up, no lock. A wake-up
//!   drains up to a caller-chosen batch (`recv_batch`) and sends several
//!   queued messages (`send_batch`), so syscalls are paid per wake-up;
//! * **backpressure stays visible**: `send().await` waits exactly while
//!   libzmq's HWM is reached, instead of behind another queue;
//! * **no blocking on runtime threads**: no call ever blocks, and no thread
//!   needs joining on shutdown.
//!
//! The cost is the subtle `ZMQ_FD` contract (edge-triggered, drained by any
//! socket call); `socket.rs` documents the one rule every wait follows.
//! `zmq::Socket` is `Send` but not `Sync`, so an [`AsyncSocket`] has one
//! owner and all its methods take `&mut self`; a task that owns the socket
//! can still be spawned on the multi-threaded runtime.
//!
//! All sockets share a process-wide context that is never terminated, so
//! dropping a socket never blocks (see [`SocketBuilder`]). Building a socket
//! needs a tokio runtime with I/O enabled.
//!
//! Frames are copied once on send and (below 16 KiB) once on receive; see
//! `socket.rs` for why.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::print_stdout))]

mod builder;
mod envelope;
mod error;
mod ipc;
mod multipart;
mod options;
mod socket;
mod spec;

pub use builder::{DEFAULT_LINGER, SocketBuilder};
pub use envelope::{Envelope, EnvelopeError};
pub use error::{Error, TrySendError, ZmqError};
pub use multipart::{INLINE_PARTS, IntoFrames, Multipart};
pub use options::{Hwm, SocketKind, TcpKeepalive};
pub use socket::{AsyncSocket, DEFAULT_BATCH};
pub use spec::{Mode, SocketSpec, SpecError, SpecErrorKind};

/// Readiness directions for [`AsyncSocket::ready`] (re-exported from tokio).
pub use tokio::io::{Interest, Ready};
