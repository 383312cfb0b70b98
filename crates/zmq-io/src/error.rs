//! Errors of this crate: one [`Error`] for socket setup and I/O, plus
//! [`ZmqError`], a thin wrapper that keeps the `zmq` crate out of the public API
//! while still letting callers ask the questions that drive decisions
//! (would it block? is the ROUTER peer gone?).

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::SocketKind;
use crate::spec::{SocketSpec, SpecError};

/// An error reported by libzmq (an errno value), as seen through `zmq`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ZmqError(zmq::Error);

impl ZmqError {
    /// The raw errno value (libzmq's own codes such as `EFSM` included).
    pub fn errno(self) -> i32 {
        self.0.to_raw()
    }

    /// `EAGAIN`: the operation would block (HWM reached, nothing to receive).
    pub fn is_would_block(self) -> bool {
        self.0 == zmq::Error::EAGAIN
    }

    /// `EHOSTUNREACH`: a ROUTER with `ROUTER_MANDATORY` was asked to route to an
    /// identity that is not connected.
    pub fn is_host_unreachable(self) -> bool {
        self.0 == zmq::Error::EHOSTUNREACH
    }

    /// `EADDRINUSE`: the address to bind is taken.
    pub fn is_addr_in_use(self) -> bool {
        self.0 == zmq::Error::EADDRINUSE
    }

    pub(crate) fn is_interrupted(self) -> bool {
        self.0 == zmq::Error::EINTR
    }
}

impl From<zmq::Error> for ZmqError {
    fn from(e: zmq::Error) -> Self {
        Self(e)
    }
}

impl fmt::Display for ZmqError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.message())
    }
}

impl fmt::Debug for ZmqError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ZmqError({:?})", self.0)
    }
}

impl std::error::Error for ZmqError {}

/// Everything that can go wrong while building a socket or moving messages.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A spec string did not parse.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// A socket was to be bound or connected but its spec list was empty.
    #[error("no socket spec given for the {kind} socket")]
    NoSpec {
        /// Kind of the socket being set up.
        kind: SocketKind,
    },
    /// libzmq refused to create the socket.
    #[error("creating a zmq {kind} socket failed")]
    Create {
        /// Kind of the socket.
        kind: SocketKind,
        /// The libzmq error.
        #[source]
        source: ZmqError,
    },
    /// A socket option value is out of range before it reaches libzmq.
    #[error("invalid value {value} for zmq socket option {option}")]
    InvalidOption {
        /// Option name, as in the libzmq docs (`ZMQ_SNDHWM`).
        option: &'static str,
        /// The rejected value.
        value: i64,
    },
    /// libzmq rejected a socket option.
    #[error("setting zmq socket option {option} failed")]
    SetOption {
        /// Option name, as in the libzmq docs (`ZMQ_SNDHWM`).
        option: &'static str,
        /// The libzmq error.
        #[source]
        source: ZmqError,
    },
    /// Reading a socket option failed.
    #[error("reading zmq socket option {option} failed")]
    GetOption {
        /// Option name, as in the libzmq docs (`ZMQ_EVENTS`).
        option: &'static str,
        /// The libzmq error.
        #[source]
        source: ZmqError,
    },
    /// Binding failed.
    #[error("binding to {spec} failed")]
    Bind {
        /// The endpoint.
        spec: SocketSpec,
        /// The libzmq error.
        #[source]
        source: ZmqError,
    },
    /// Connecting failed (libzmq connects in the background, so this only
    /// covers an endpoint it cannot even start on).
    #[error("connecting to {spec} failed")]
    Connect {
        /// The endpoint.
        spec: SocketSpec,
        /// The libzmq error.
        #[source]
        source: ZmqError,
    },
    /// Disconnecting failed (usually: the endpoint was never connected).
    #[error("disconnecting from {spec} failed")]
    Disconnect {
        /// The endpoint.
        spec: SocketSpec,
        /// The libzmq error.
        #[source]
        source: ZmqError,
    },
    /// Something accepted a connection on the ipc path we were asked to bind.
    #[error("ipc path {} is in use by a listening socket", path.display())]
    IpcInUse {
        /// The ipc path.
        path: PathBuf,
    },
    /// The ipc path exists and is not a unix socket; libzmq would delete it.
    #[error("ipc path {} exists and is not a socket", path.display())]
    IpcNotSocket {
        /// The ipc path.
        path: PathBuf,
    },
    /// Checking whether an existing ipc path is stale failed.
    #[error("checking existing ipc path {} failed", path.display())]
    IpcProbe {
        /// The ipc path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// `ipc_file_mode` could not be applied to a bound ipc path.
    #[error("setting mode {mode:o} on ipc path {} failed", path.display())]
    IpcFileMode {
        /// The ipc path.
        path: PathBuf,
        /// The requested mode (permission bits).
        mode: u32,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// Sockets need a tokio runtime with I/O enabled to watch `ZMQ_FD`.
    #[error("zmq sockets must be built inside a tokio runtime")]
    NoRuntime,
    /// The tokio reactor refused or dropped the `ZMQ_FD` registration.
    #[error("tokio reactor error on the zmq fd")]
    Reactor {
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// Sending failed for a reason other than a full queue.
    #[error("zmq send failed")]
    Send {
        /// The libzmq error.
        #[source]
        source: ZmqError,
    },
    /// Receiving failed for a reason other than an empty queue.
    #[error("zmq receive failed")]
    Recv {
        /// The libzmq error.
        #[source]
        source: ZmqError,
    },
    /// ZeroMQ cannot send a message of zero frames.
    #[error("cannot send a message with no frames")]
    EmptyMessage,
    /// A multipart message stopped short (libzmq delivers all parts or none,
    /// so this means a libzmq invariant broke).
    #[error("multipart message ended after {parts} parts")]
    Truncated {
        /// How many parts were moved before the failure.
        parts: usize,
    },
}

impl Error {
    /// The libzmq error behind this error, if there is one.
    pub fn zmq(&self) -> Option<ZmqError> {
        match self {
            Self::Create { source, .. }
            | Self::SetOption { source, .. }
            | Self::GetOption { source, .. }
            | Self::Bind { source, .. }
            | Self::Connect { source, .. }
            | Self::Disconnect { source, .. }
            | Self::Send { source }
            | Self::Recv { source } => Some(*source),
            _ => None,
        }
    }

    /// True for a ROUTER (with `ROUTER_MANDATORY`) send to an identity that is
    /// not connected. Pushpin and condure drop such a message and log it.
    pub fn is_host_unreachable(&self) -> bool {
        matches!(self, Self::Send { source } if source.is_host_unreachable())
    }
}

/// Why [`AsyncSocket::try_send`](crate::AsyncSocket::try_send) did not send.
#[derive(Debug, thiserror::Error)]
pub enum TrySendError {
    /// The message cannot be queued now (HWM reached, no peer, or the ROUTER
    /// peer's pipe is full); it is handed back untouched.
    #[error("zmq send queue is full")]
    Full(crate::Multipart),
    /// Sending failed; the message was dropped.
    #[error(transparent)]
    Failed(#[from] Error),
}
