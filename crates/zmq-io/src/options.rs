//! Socket kinds and the option values that every socket must state
//! explicitly (high-water marks), independent of the `zmq` crate's types.

use std::fmt;
use std::time::Duration;

/// ZeroMQ socket types used by Pushpin (plus the X variants).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SocketKind {
    /// `ZMQ_PAIR`.
    Pair,
    /// `ZMQ_PUB`: fans out; drops for a subscriber at HWM, never blocks.
    Pub,
    /// `ZMQ_SUB`: receives what matches its subscriptions.
    Sub,
    /// `ZMQ_XPUB`: a PUB that also receives subscription frames
    /// (`\x01topic` / `\x00topic`).
    XPub,
    /// `ZMQ_XSUB`: a SUB that sends subscription frames as messages.
    XSub,
    /// `ZMQ_REQ`: strict send/receive alternation.
    Req,
    /// `ZMQ_REP`: strict receive/send alternation.
    Rep,
    /// `ZMQ_DEALER`: load-balances sends, fair-queues receives.
    Dealer,
    /// `ZMQ_ROUTER`: addresses peers by routing id (first frame).
    Router,
    /// `ZMQ_PUSH`: load-balances sends; blocks at HWM.
    Push,
    /// `ZMQ_PULL`: fair-queues receives.
    Pull,
}

impl SocketKind {
    /// The libzmq name (`ROUTER`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pair => "PAIR",
            Self::Pub => "PUB",
            Self::Sub => "SUB",
            Self::XPub => "XPUB",
            Self::XSub => "XSUB",
            Self::Req => "REQ",
            Self::Rep => "REP",
            Self::Dealer => "DEALER",
            Self::Router => "ROUTER",
            Self::Push => "PUSH",
            Self::Pull => "PULL",
        }
    }

    pub(crate) fn to_zmq(self) -> zmq::SocketType {
        match self {
            Self::Pair => zmq::PAIR,
            Self::Pub => zmq::PUB,
            Self::Sub => zmq::SUB,
            Self::XPub => zmq::XPUB,
            Self::XSub => zmq::XSUB,
            Self::Req => zmq::REQ,
            Self::Rep => zmq::REP,
            Self::Dealer => zmq::DEALER,
            Self::Router => zmq::ROUTER,
            Self::Push => zmq::PUSH,
            Self::Pull => zmq::PULL,
        }
    }
}

impl fmt::Display for SocketKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Send and receive high-water marks, in messages. Both are set on every
/// socket; zero ("no limit" in libzmq) is rejected because every queue in
/// this workspace is bounded.
///
/// When a send queue is full, PUSH, DEALER and ROUTER-with-`ROUTER_MANDATORY`
/// make [`send`](crate::AsyncSocket::send) wait; PUB and a plain ROUTER drop
/// the message (libzmq behaviour, as in Pushpin).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hwm {
    /// `ZMQ_SNDHWM`.
    pub send: u32,
    /// `ZMQ_RCVHWM`.
    pub recv: u32,
}

impl Hwm {
    /// Distinct send and receive marks.
    pub const fn new(send: u32, recv: u32) -> Self {
        Self { send, recv }
    }

    /// The same mark both ways (what Qt's `QZmq::Socket::setHwm` does).
    pub const fn both(n: u32) -> Self {
        Self { send: n, recv: n }
    }
}

/// TCP keep-alive settings (`ZMQ_TCP_KEEPALIVE*`), in seconds and probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpKeepalive {
    /// Idle time before the first probe (`ZMQ_TCP_KEEPALIVE_IDLE`).
    pub idle: Duration,
    /// Time between probes (`ZMQ_TCP_KEEPALIVE_INTVL`).
    pub interval: Duration,
    /// Failed probes before the connection drops (`ZMQ_TCP_KEEPALIVE_CNT`).
    pub count: u32,
}
