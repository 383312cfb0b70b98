//! [`AsyncSocket`]: a ZeroMQ socket driven by tokio through `ZMQ_FD`.
//!
//! # The `ZMQ_FD` protocol
//!
//! `ZMQ_FD` is not a data descriptor: it is the socket's command mailbox
//! (an eventfd), and it only says "libzmq has commands for this socket".
//! Those commands are processed, and the descriptor drained, by *any* call on
//! the socket: `ZMQ_EVENTS`, and also `zmq_send`/`zmq_recv` (the latter two
//! throttled). Readiness therefore comes only from `ZMQ_EVENTS`, and
//! notifications are edge-triggered. Every wait here follows one rule:
//!
//! > never park on the fd without reading `ZMQ_EVENTS` after tokio's
//! > readiness flag was last cleared and after the last send/recv.
//!
//! [`poll_ready`](AsyncSocket::poll_ready) reads `ZMQ_EVENTS`; if the wanted
//! direction is not ready it polls the fd, and when tokio reports an edge it
//! clears the flag and reads `ZMQ_EVENTS` again. Operations try first and
//! only wait after `EAGAIN`, so a burst costs one `zmq_recv`/`zmq_send` per
//! frame and a `ZMQ_EVENTS` per wait, not per message. If `ZMQ_EVENTS` says
//! "writable" but the send still fails with `EAGAIN` (a ROUTER with
//! `ROUTER_MANDATORY` whose target peer is at HWM while others are not), the
//! operation waits for the next fd edge instead of spinning.
//!
//! # Ownership
//!
//! `zmq::Socket` is `Send` but not `Sync`, so every operation takes
//! `&mut self`: one owner, no lock, and futures that borrow the socket stay
//! `Send`. A task that both sends and receives waits with
//! [`ready`](AsyncSocket::ready) on both directions and then uses
//! [`try_recv`](AsyncSocket::try_recv) / [`try_send`](AsyncSocket::try_send),
//! or `select!`s between [`recv`](AsyncSocket::recv) and its own queue.
//!
//! # Copies
//!
//! Sending copies each frame once into a libzmq message (frames of up to 33
//! bytes are stored inside the message without allocating); this keeps a
//! message that hits a full queue intact so it can be handed back or
//! retried. Receiving copies frames shorter than 16 KiB into `Bytes`; longer
//! frames are wrapped without copying (`Bytes::from_owner`), so large bodies
//! move zero-copy while small frames do not pin libzmq's shared receive
//! buffers.
//!
//! # Fairness
//!
//! Each message sent or received consumes a unit of tokio's cooperative task
//! budget, so a socket that is always readable still lets other tasks run.

use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::os::fd::{AsRawFd, RawFd};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use tokio::io::unix::AsyncFd;
use tokio::io::{Interest, Ready};
use tokio::task::coop;

use crate::builder::{SocketBuilder, connect_one};
use crate::error::TrySendError;
use crate::options::{Hwm, SocketKind};
use crate::spec::SocketSpec;
use crate::{Error, Multipart, ZmqError};

/// A reasonable `max` for the batch calls: enough to amortise a wake-up,
/// small enough to keep latency of other work on the task low.
pub const DEFAULT_BATCH: usize = 64;

/// Received frames at least this long are wrapped instead of copied.
const ZERO_COPY_RECV_MIN: usize = 16 * 1024;

/// The raw `ZMQ_FD`, owned by the zmq socket; registered with tokio only.
#[derive(Debug)]
struct ZmqFd(RawFd);

impl AsRawFd for ZmqFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

/// A received frame kept in its libzmq message (no copy).
struct Frame(zmq::Message);

impl AsRef<[u8]> for Frame {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

fn frame_to_bytes(frame: zmq::Message) -> Bytes {
    if frame.len() >= ZERO_COPY_RECV_MIN {
        Bytes::from_owner(Frame(frame))
    } else {
        Bytes::copy_from_slice(&frame)
    }
}

/// A ZeroMQ socket usable from async code. Build one with
/// [`AsyncSocket::builder`].
pub struct AsyncSocket {
    // Field order matters: `fd` is dropped first, deregistering ZMQ_FD from
    // the reactor while `sock` (which owns that descriptor) is still open.
    fd: AsyncFd<ZmqFd>,
    sock: zmq::Socket,
    kind: SocketKind,
}

impl fmt::Debug for AsyncSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncSocket")
            .field("kind", &self.kind)
            .field("fd", &self.fd.get_ref().0)
            .finish()
    }
}

impl AsyncSocket {
    /// Starts building a `kind` socket with high-water marks `hwm`.
    pub fn builder(kind: SocketKind, hwm: Hwm) -> SocketBuilder {
        SocketBuilder::new(kind, hwm)
    }

    pub(crate) fn from_zmq(sock: zmq::Socket, kind: SocketKind) -> Result<Self, Error> {
        let raw = sock.get_fd().map_err(|e| Error::GetOption {
            option: "ZMQ_FD",
            source: e.into(),
        })?;
        // The safe constructor is deprecated in favour of an `unsafe` one
        // whose contract is "the fd stays open while registered"; this crate
        // forbids unsafe code and upholds that contract by field order (see
        // `AsyncSocket`). ZMQ_FD only ever signals readability.
        #[expect(
            deprecated,
            reason = "unsafe code is forbidden; the fd outlives the registration by field order"
        )]
        let fd = AsyncFd::with_interest(ZmqFd(raw), Interest::READABLE)
            .map_err(|source| Error::Reactor { source })?;
        Ok(Self { fd, sock, kind })
    }

    /// The socket type.
    pub fn kind(&self) -> SocketKind {
        self.kind
    }

    /// The endpoint last bound or connected (`ZMQ_LAST_ENDPOINT`), with the
    /// real port after binding `tcp://host:0`. `None` before any.
    pub fn last_endpoint(&self) -> Result<Option<SocketSpec>, Error> {
        let ep = self
            .sock
            .get_last_endpoint()
            .map_err(|e| Error::GetOption {
                option: "ZMQ_LAST_ENDPOINT",
                source: e.into(),
            })?;
        let ep = match ep {
            Ok(s) => s,
            Err(raw) => String::from_utf8_lossy(&raw).into_owned(),
        };
        let ep = ep.trim_end_matches('\0');
        if ep.is_empty() {
            return Ok(None);
        }
        Ok(Some(SocketSpec::parse(ep)?))
    }

    /// Connects one more endpoint.
    pub fn connect(&mut self, spec: &SocketSpec) -> Result<(), Error> {
        connect_one(self.kind, &self.sock, spec)
    }

    /// Disconnects an endpoint given to `connect` earlier.
    pub fn disconnect(&mut self, spec: &SocketSpec) -> Result<(), Error> {
        self.sock
            .disconnect(&spec.endpoint())
            .map_err(|e| Error::Disconnect {
                spec: spec.clone(),
                source: e.into(),
            })
    }

    /// Adds a SUB subscription (`ZMQ_SUBSCRIBE`).
    pub fn subscribe(&mut self, prefix: &[u8]) -> Result<(), Error> {
        self.sock
            .set_subscribe(prefix)
            .map_err(|e| Error::SetOption {
                option: "ZMQ_SUBSCRIBE",
                source: e.into(),
            })
    }

    /// Removes a SUB subscription (`ZMQ_UNSUBSCRIBE`).
    pub fn unsubscribe(&mut self, prefix: &[u8]) -> Result<(), Error> {
        self.sock
            .set_unsubscribe(prefix)
            .map_err(|e| Error::SetOption {
                option: "ZMQ_UNSUBSCRIBE",
                source: e.into(),
            })
    }

    fn events(&self) -> Result<zmq::PollEvents, Error> {
        loop {
            match self.sock.get_events() {
                Ok(ev) => return Ok(ev),
                Err(e) if ZmqError::from(e).is_interrupted() => continue,
                Err(e) => {
                    return Err(Error::GetOption {
                        option: "ZMQ_EVENTS",
                        source: e.into(),
                    });
                }
            }
        }
    }

    /// Waits for the next `ZMQ_FD` notification and consumes it.
    fn poll_edge(&self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        match ready!(self.fd.poll_read_ready(cx)) {
            Ok(mut guard) => {
                guard.clear_ready();
                Poll::Ready(Ok(()))
            }
            Err(source) => Poll::Ready(Err(Error::Reactor { source })),
        }
    }

    /// Polls until the socket can receive and/or send, as asked by
    /// `interest` (`READABLE`, `WRITABLE` or both); returns what is ready.
    ///
    /// On `Pending` the task is woken by the next `ZMQ_FD` notification. Any
    /// other operation on the socket may consume that notification, so a
    /// hand-written poll loop must call this after its other operations and
    /// with the union of the directions it waits for.
    pub fn poll_ready(
        &mut self,
        cx: &mut Context<'_>,
        interest: Interest,
    ) -> Poll<Result<Ready, Error>> {
        loop {
            let ev = self.events()?;
            let mut ready = Ready::EMPTY;
            if interest.is_readable() && ev.contains(zmq::POLLIN) {
                ready |= Ready::READABLE;
            }
            if interest.is_writable() && ev.contains(zmq::POLLOUT) {
                ready |= Ready::WRITABLE;
            }
            if !ready.is_empty() {
                return Poll::Ready(Ok(ready));
            }
            ready!(self.poll_edge(cx))?;
        }
    }

    /// Waits until the socket can receive and/or send (see
    /// [`poll_ready`](Self::poll_ready)). Cancel-safe.
    pub async fn ready(&mut self, interest: Interest) -> Result<Ready, Error> {
        poll_fn(|cx| self.poll_ready(cx, interest)).await
    }

    /// Receives one whole message if one is queued, without waiting.
    pub fn try_recv(&mut self) -> Result<Option<Multipart>, Error> {
        let mut frame = zmq::Message::new();
        match recv_frame(&self.sock, &mut frame) {
            Ok(()) => {}
            Err(e) if e.is_would_block() => return Ok(None),
            Err(source) => return Err(Error::Recv { source }),
        }
        let mut msg = Multipart::new();
        loop {
            let more = frame.get_more();
            msg.push(frame_to_bytes(frame));
            if !more {
                return Ok(Some(msg));
            }
            frame = zmq::Message::new();
            match recv_frame(&self.sock, &mut frame) {
                Ok(()) => {}
                Err(e) if e.is_would_block() => {
                    return Err(Error::Truncated { parts: msg.len() });
                }
                Err(source) => return Err(Error::Recv { source }),
            }
        }
    }

    /// Polls for one message. A message is taken off the socket only when
    /// this returns `Ready(Ok(_))`.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<Multipart, Error>> {
        let coop = ready!(coop::poll_proceed(cx));
        let mut checked = false;
        loop {
            if let Some(msg) = self.try_recv()? {
                coop.made_progress();
                return Poll::Ready(Ok(msg));
            }
            if checked {
                // ZMQ_EVENTS said readable yet nothing came: wait for the next
                // notification rather than spin.
                ready!(self.poll_edge(cx))?;
                checked = false;
            } else {
                ready!(self.poll_ready(cx, Interest::READABLE))?;
                checked = true;
            }
        }
    }

    /// Receives one message, waiting as needed. Cancel-safe: a message is
    /// never lost if the future is dropped.
    pub async fn recv(&mut self) -> Result<Multipart, Error> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Waits for at least one message, then appends every queued message to
    /// `out`, up to `max` in total; returns how many were appended.
    /// Cancel-safe. On an error, messages appended before it stay in `out`.
    pub async fn recv_batch(
        &mut self,
        out: &mut Vec<Multipart>,
        max: usize,
    ) -> Result<usize, Error> {
        if max == 0 {
            return Ok(0);
        }
        poll_fn(|cx| {
            let first = ready!(self.poll_recv(cx))?;
            out.push(first);
            let mut n = 1;
            while n < max {
                let Poll::Ready(coop) = coop::poll_proceed(cx) else {
                    break;
                };
                match self.try_recv()? {
                    Some(msg) => {
                        coop.made_progress();
                        out.push(msg);
                        n += 1;
                    }
                    None => break,
                }
            }
            Poll::Ready(Ok(n))
        })
        .await
    }

    /// Queues `msg` without waiting. [`TrySendError::Full`] hands the
    /// message back when it cannot be queued now.
    pub fn try_send(&mut self, msg: impl Into<Multipart>) -> Result<(), TrySendError> {
        let msg = msg.into();
        match self.send_frames(&msg) {
            Ok(true) => Ok(()),
            Ok(false) => Err(TrySendError::Full(msg)),
            Err(e) => Err(TrySendError::Failed(e)),
        }
    }

    /// Polls to queue `msg`, which stays with the caller: it is queued when
    /// this returns `Ready(Ok(()))`, and untouched otherwise.
    pub fn poll_send(&mut self, cx: &mut Context<'_>, msg: &Multipart) -> Poll<Result<(), Error>> {
        let coop = ready!(coop::poll_proceed(cx));
        let mut checked = false;
        loop {
            if self.send_frames(msg)? {
                coop.made_progress();
                return Poll::Ready(Ok(()));
            }
            if checked {
                // Writable by ZMQ_EVENTS but this message's pipe is full (a
                // ROUTER_MANDATORY peer at HWM): only a new notification can
                // change that.
                ready!(self.poll_edge(cx))?;
                checked = false;
            } else {
                ready!(self.poll_ready(cx, Interest::WRITABLE))?;
                checked = true;
            }
        }
    }

    /// Queues one message, waiting while the send queue is full. If the
    /// future is dropped before completion the message is dropped unsent;
    /// use [`send_batch`](Self::send_batch) to keep it.
    pub async fn send(&mut self, msg: impl Into<Multipart>) -> Result<(), Error> {
        let msg = msg.into();
        poll_fn(|cx| self.poll_send(cx, &msg)).await
    }

    /// Queues messages from the front of `queue` without waiting, up to
    /// `max`; returns how many were queued. On an error the failing message
    /// is left at the front of `queue` (for a ROUTER
    /// [`Error::is_host_unreachable`], pop and drop it as Pushpin does).
    pub fn try_send_batch(
        &mut self,
        queue: &mut VecDeque<Multipart>,
        max: usize,
    ) -> Result<usize, Error> {
        let mut n = 0;
        while n < max {
            let Some(msg) = queue.front() else { break };
            if !self.send_frames(msg)? {
                break;
            }
            queue.pop_front();
            n += 1;
        }
        Ok(n)
    }

    /// Waits until the front of `queue` can be queued, then queues as many
    /// as possible without waiting again, up to `max`; returns how many.
    /// Returns 0 at once for an empty queue. Cancel-safe: messages leave
    /// `queue` only once queued. Errors as in
    /// [`try_send_batch`](Self::try_send_batch).
    pub async fn send_batch(
        &mut self,
        queue: &mut VecDeque<Multipart>,
        max: usize,
    ) -> Result<usize, Error> {
        poll_fn(|cx| {
            let Some(front) = queue.front() else {
                return Poll::Ready(Ok(0));
            };
            if max == 0 {
                return Poll::Ready(Ok(0));
            }
            ready!(self.poll_send(cx, front))?;
            queue.pop_front();
            let mut n = 1;
            while n < max {
                let Some(msg) = queue.front() else { break };
                let Poll::Ready(coop) = coop::poll_proceed(cx) else {
                    break;
                };
                if !self.send_frames(msg)? {
                    break;
                }
                coop.made_progress();
                queue.pop_front();
                n += 1;
            }
            Poll::Ready(Ok(n))
        })
        .await
    }

    /// Queues every message of `queue`, [`DEFAULT_BATCH`] per wake-up.
    /// Cancel-safe like [`send_batch`](Self::send_batch).
    pub async fn send_all(&mut self, queue: &mut VecDeque<Multipart>) -> Result<(), Error> {
        while !queue.is_empty() {
            self.send_batch(queue, DEFAULT_BATCH).await?;
        }
        Ok(())
    }

    /// Sends all frames of `msg` without waiting. `Ok(false)`: the first
    /// frame hit `EAGAIN` and nothing was queued. libzmq queues multipart
    /// messages atomically, so `EAGAIN` after the first frame cannot happen;
    /// it is reported as [`Error::Truncated`].
    fn send_frames(&mut self, msg: &[Bytes]) -> Result<bool, Error> {
        let Some((last, init)) = msg.split_last() else {
            return Err(Error::EmptyMessage);
        };
        let frames = init
            .iter()
            .map(|f| (f, zmq::DONTWAIT | zmq::SNDMORE))
            .chain(std::iter::once((last, zmq::DONTWAIT)));
        for (i, (frame, flags)) in frames.enumerate() {
            match send_frame(&self.sock, frame, flags) {
                Ok(()) => {}
                Err(e) if e.is_would_block() && i == 0 => return Ok(false),
                Err(e) if e.is_would_block() => return Err(Error::Truncated { parts: i }),
                Err(source) => return Err(Error::Send { source }),
            }
        }
        Ok(true)
    }
}

fn recv_frame(sock: &zmq::Socket, frame: &mut zmq::Message) -> Result<(), ZmqError> {
    loop {
        match sock.recv(frame, zmq::DONTWAIT) {
            Ok(()) => return Ok(()),
            Err(e) => {
                let e = ZmqError::from(e);
                if !e.is_interrupted() {
                    return Err(e);
                }
            }
        }
    }
}

fn send_frame(sock: &zmq::Socket, frame: &[u8], flags: i32) -> Result<(), ZmqError> {
    loop {
        match sock.send(frame, flags) {
            Ok(()) => return Ok(()),
            Err(e) => {
                let e = ZmqError::from(e);
                if !e.is_interrupted() {
                    return Err(e);
                }
            }
        }
    }
}
