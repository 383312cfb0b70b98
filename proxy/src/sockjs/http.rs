//! The polling transports (`xhr`, `jsonp`, with `xhr_send`, `jsonp_send`), as 1.36's
//! `SockJsSession` in `Http` mode. A session lives in its own task, found by id through
//! the [`Manager`](super::Manager); each HTTP request stays in its own session task
//! (which owns the request's ZHTTP session) and asks the session task for its answer.
//!
//! The session task, for one SockJS session:
//! - the opening request (`POST xhr`, `GET|POST jsonp`) is answered `o` once the backend
//!   accepts, or with the backend's rejection (a `502` when no target answers);
//! - a poll is answered with every complete backend message pending (`a[...]`), with
//!   `h` after 25 s without any, with `c[code,"reason"]` once the backend closed and
//!   everything before was given out; a second poll while one is open gets
//!   `c[2010,"Another connection still open"]`, a poll after the client walked away
//!   `c[3000,"Client already closed connection"]`;
//! - a send carries a JSON array of strings (`xhr_send`: the body; `jsonp_send`: the
//!   form field `d`; with `GET`, the query's `d`) and is answered `ok` once its messages
//!   went to the backend; one send at a time (`400 Already sending`), bad payloads get
//!   `400 Payload expected` / `400 Message too large`;
//! - a poll that disconnects before its answer is the client's close (the backend hears
//!   a close); 5 s without a poll after an answer ends the session;
//! - when the session ended with a close, its close frame is given to requests for that
//!   id for 5 s more; an open poll of a session that ends otherwise gets
//!   `410 Session terminated`.
//!
//! A request for a live session with a path other than these four answers `404` (1.36
//! leaves it unanswered).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use pushpin_config::routes::Route;
use pushpin_zhttp::{Condition, Packet, PacketType};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::{Instrument, debug, debug_span};

use super::answer::{self, Headers};
use super::frame;
use super::virt::{self, Peer};
use super::ws::{HEARTBEAT, In, MAX_BACKEND_MESSAGE, TICK, WINDOW, move_to_backend};
use crate::outgoing::ClientRequest;
use crate::session::conn::{Conn, ConnEvent};
use crate::uri::Uri;

/// Without a poll for this long after an answer, the session ends (1.36
/// `UNCONNECTED_TIMEOUT`).
const UNCONNECTED_TIMEOUT: Duration = Duration::from_secs(5);
/// Requests queued for one session task.
const CMD_CAPACITY: usize = 16;

static NEXT_HANDLE: AtomicU64 = AtomicU64::new(1);

/// A way to a live session task.
#[derive(Clone)]
pub(super) struct Handle {
    tx: mpsc::Sender<Cmd>,
    id: u64,
}

impl Handle {
    /// Whether both are the same session.
    pub(super) fn same(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

/// A request for a live session.
pub(crate) struct Incoming {
    /// Method.
    pub(crate) method: Bytes,
    /// The last path part (`xhr`, `xhr_send`, ...).
    pub(crate) last: String,
    /// The complete body.
    pub(crate) body: Bytes,
    /// The JSON-P callback.
    pub(crate) callback: Option<Bytes>,
    /// The request URI (for `GET …_send?d=`).
    pub(crate) uri: Uri,
}

/// What a request asks of the session task.
enum Cmd {
    /// A poll; `connect` for the opening request.
    Poll {
        connect: bool,
        reply: oneshot::Sender<Answer>,
    },
    /// A send with its raw payload.
    Send {
        payload: Bytes,
        reply: oneshot::Sender<Answer>,
    },
}

/// How a request is answered.
#[derive(Debug)]
enum Answer {
    /// `200` with a frame (JSON-P wrapped with a callback).
    Frame(Bytes),
    /// `200` `ok`.
    Ok,
    /// A `text/plain` error.
    Error(u16, &'static [u8], &'static str),
    /// The backend's rejection of the handshake.
    Reject {
        code: u16,
        reason: Bytes,
        headers: Headers,
        body: Bytes,
    },
}

/// Opens a session for its first request (`conn`), registered as `sid`.
pub(super) async fn open(
    conn: Conn,
    mut client: ClientRequest,
    route: Route,
    sid: Bytes,
    callback: Option<Bytes>,
) {
    // the request body is not forwarded
    client
        .headers
        .retain(|(n, _)| !n.eq_ignore_ascii_case(b"Content-Length"));
    let headers = client.headers.clone();
    let (tx, rx) = mpsc::channel(CMD_CAPACITY);
    let handle = Handle {
        tx,
        id: NEXT_HANDLE.fetch_add(1, Ordering::Relaxed),
    };
    let shared = conn.shared.clone();
    if !shared.sockjs.insert(sid.clone(), handle.clone()) {
        // another request opened it just now: 1.36's answer to a session not yet up
        let mut conn = conn;
        let v = frame::close_value(2010, "Another connection still open");
        answer::ok_frame(&mut conn, &headers, &frame::close(&v), callback.as_deref()).await;
        return;
    }
    let (vconn, peer, vrx) = virt::pair(shared.clone(), conn.id.clone(), WINDOW);
    let (reply, answer) = oneshot::channel();
    let span = debug_span!("sockjs", sid = %String::from_utf8_lossy(&sid));
    let task = Session {
        shared,
        sid,
        handle,
        rx,
        peer,
        vrx,
        state: State::Connecting,
        req: Some(Poll {
            connect: true,
            reply,
        }),
        send: None,
        out: VecDeque::new(),
        partial: None,
        timer: None,
        closing: None,
        close_sent: false,
        peer_closed: false,
        linger: None,
    };
    let fwd = crate::session::forward_websocket(vconn, client, route);
    // the session outlives this request; it ends by itself (timeouts, the backend
    // closing) and is dropped with the runtime
    drop(tokio::spawn(task.run(fwd).instrument(span)));
    await_answer(conn, headers, callback, answer).await;
}

/// Hands a request to the live session `handle`.
pub(super) async fn give(handle: Handle, mut conn: Conn, headers: Headers, r: Incoming) {
    let callback = r.callback.clone();
    match r.last.as_str() {
        "xhr" | "jsonp" => {
            ask(handle, conn, headers, callback, |reply| Cmd::Poll {
                connect: false,
                reply,
            })
            .await;
        }
        "xhr_send" | "jsonp_send" => {
            let payload = if r.method == "POST" {
                if r.last == "xhr_send" {
                    r.body
                } else {
                    frame::form_d(&r.body)
                }
            } else {
                r.uri
                    .query_values("d")
                    .into_iter()
                    .next()
                    .map(Bytes::from)
                    .unwrap_or_default()
            };
            ask(handle, conn, headers, callback, |reply| Cmd::Send {
                payload,
                reply,
            })
            .await;
        }
        _ => {
            answer::error(&mut conn, &headers, 404, b"Not Found", "Not Found").await;
        }
    }
}

/// Sends a request to the session task and answers with what it says.
async fn ask(
    handle: Handle,
    mut conn: Conn,
    headers: Headers,
    callback: Option<Bytes>,
    cmd: impl FnOnce(oneshot::Sender<Answer>) -> Cmd,
) {
    let (reply, answer) = oneshot::channel();
    if handle.tx.send(cmd(reply)).await.is_err() {
        // the session ended just now
        answer::error(&mut conn, &headers, 404, b"Not Found", "Not Found").await;
        return;
    }
    await_answer(conn, headers, callback, answer).await;
}

/// Waits for the session task's answer and writes it; gives up (the session sees the
/// reply dropped) when the client goes away first.
async fn await_answer(
    mut conn: Conn,
    headers: Headers,
    callback: Option<Bytes>,
    answer: oneshot::Receiver<Answer>,
) {
    let gone = async {
        loop {
            if matches!(conn.recv().await, ConnEvent::Gone) {
                return;
            }
        }
    };
    let answer = tokio::select! {
        a = answer => a,
        () = gone => return,
    };
    let cb = callback.as_deref();
    let _ = match answer {
        Ok(Answer::Frame(f)) => answer::ok_frame(&mut conn, &headers, &f, cb).await,
        Ok(Answer::Ok) => answer::ok_string(&mut conn, &headers, b"ok", cb).await,
        Ok(Answer::Error(code, reason, message)) => {
            answer::error(&mut conn, &headers, code, reason, message).await
        }
        Ok(Answer::Reject {
            code,
            reason,
            headers: h,
            body,
        }) => answer::respond(&mut conn, &headers, code, &reason, h, body).await,
        // the session task is gone without answering
        Err(_) => answer::error(&mut conn, &headers, 410, b"Gone", "Session terminated").await,
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Connecting,
    Connected,
}

/// The open poll.
struct Poll {
    connect: bool,
    reply: oneshot::Sender<Answer>,
}

/// The send in progress.
struct Send {
    queue: VecDeque<In>,
    reply: oneshot::Sender<Answer>,
}

/// What the session's timer does when it fires.
#[derive(Debug, Clone, Copy)]
enum Timer {
    /// Answer the open poll with `h`.
    Heartbeat,
    /// No poll came: end the session.
    Unconnected,
}

struct Session {
    shared: Arc<crate::session::Shared>,
    sid: Bytes,
    handle: Handle,
    rx: mpsc::Receiver<Cmd>,
    peer: Peer,
    /// What the backend session sends its "client".
    vrx: mpsc::Receiver<Packet>,
    state: State,
    req: Option<Poll>,
    send: Option<Send>,
    /// Complete backend messages not yet given out, with the bytes to credit back.
    out: VecDeque<(Bytes, usize)>,
    /// A backend message in fragments.
    partial: Option<BytesMut>,
    timer: Option<(Instant, Timer)>,
    /// The backend's close (code, reason), once it closed.
    closing: Option<(Option<u16>, Bytes)>,
    close_sent: bool,
    /// The client walked away from a poll.
    peer_closed: bool,
    /// The close value left behind.
    linger: Option<Bytes>,
}

/// How the session ended.
enum End {
    /// Closed (the close value lingers).
    Closed,
    /// Failed or timed out: an open poll gets `410`, the backend hears the client gone.
    Error,
}

impl Session {
    async fn run(mut self, fwd: impl Future<Output = ()>) {
        tokio::pin!(fwd);
        let mut fwd_done = false;
        let mut tick = tokio::time::interval(TICK);
        let end = loop {
            self.peer.flush();
            if self.close_sent {
                // the close went out: the session is over (1.36 cleans up once written)
                break End::Closed;
            }
            let timer = self.timer.map(|(at, _)| at);
            tokio::select! {
                () = &mut fwd, if !fwd_done => fwd_done = true,
                p = self.vrx.recv() => match p {
                    Some(p) => {
                        if let Some(end) = self.backend_packet(p) {
                            break end;
                        }
                    }
                    None if self.linger.is_some() => break End::Closed,
                    None => break End::Error,
                },
                Some(cmd) = self.rx.recv() => self.command(cmd),
                () = poll_closed(self.req.as_mut()) => {
                    if let Some(end) = self.poll_gone() {
                        break end;
                    }
                }
                () = sleep_until(timer) => {
                    if let Some(end) = self.timer_fired() {
                        break end;
                    }
                }
                () = virt::writable(self.peer.inbox()), if self.peer.backlogged() => {}
                _ = tick.tick() => self.peer.keep_alive(),
            }
        };
        if let Some(r) = self.req.take() {
            if matches!(end, End::Error) {
                let _ = r
                    .reply
                    .send(Answer::Error(410, b"Gone", "Session terminated"));
            }
        }
        self.shared
            .sockjs
            .ended(&self.sid, &self.handle, self.linger.take());
        // let the backend session finish: it hears the client gone (or has closed)
        self.peer.cancel();
        if !fwd_done {
            let vrx = &mut self.vrx;
            let _ = tokio::time::timeout(Duration::from_secs(5), async {
                tokio::join!(&mut fwd, async { while vrx.recv().await.is_some() {} })
            })
            .await;
        }
        debug!("sockjs session ended");
    }

    fn command(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Poll { connect, reply } => {
                if let (true, Some(v)) = (self.close_sent, self.linger.as_ref()) {
                    let _ = reply.send(Answer::Frame(frame::close(v)));
                    return;
                }
                if self.req.is_some() {
                    let v = frame::close_value(2010, "Another connection still open");
                    let _ = reply.send(Answer::Frame(frame::close(&v)));
                    return;
                }
                if self.peer_closed {
                    let v = frame::close_value(3000, "Client already closed connection");
                    let _ = reply.send(Answer::Frame(frame::close(&v)));
                    return;
                }
                self.req = Some(Poll { connect, reply });
                if !connect {
                    self.timer = Some((Instant::now() + HEARTBEAT, Timer::Heartbeat));
                    self.try_write();
                }
            }
            Cmd::Send { payload, reply } => {
                if self.send.is_some() {
                    let _ = reply.send(Answer::Error(400, b"Bad Request", "Already sending"));
                    return;
                }
                let messages = match frame::parse_messages(&payload) {
                    Ok(m) => m,
                    Err(frame::PayloadError::NotMessages) => {
                        let _ = reply.send(Answer::Error(400, b"Bad Request", "Payload expected"));
                        return;
                    }
                    Err(frame::PayloadError::TooLarge) => {
                        let _ = reply.send(Answer::Error(400, b"Bad Request", "Message too large"));
                        return;
                    }
                };
                if messages.is_empty() {
                    let _ = reply.send(Answer::Ok);
                    return;
                }
                let queue = messages.into_iter().map(In::Message).collect();
                self.send = Some(Send { queue, reply });
                self.try_read();
            }
        }
    }

    /// Moves the send in progress to the backend as its credits allow; `ok` once all
    /// went.
    fn try_read(&mut self) {
        let Some(send) = self.send.as_mut() else {
            return;
        };
        let mut grant = 0;
        move_to_backend(&mut send.queue, &mut self.peer, &mut grant);
        if send.queue.is_empty() {
            if let Some(s) = self.send.take() {
                let _ = s.reply.send(Answer::Ok);
            }
        }
    }

    /// Answers the open poll when there is something to say (1.36 `tryWrite`).
    fn try_write(&mut self) {
        if self.close_sent || self.req.as_ref().is_none_or(|r| r.connect) {
            return;
        }
        if !self.out.is_empty() {
            let (msgs, sizes): (Vec<Bytes>, Vec<usize>) = self.out.drain(..).unzip();
            let n: usize = sizes.iter().sum();
            let f = frame::messages(msgs.iter().map(|m| m.as_ref()));
            self.answer_poll(Answer::Frame(f));
            self.peer.credit(n);
        } else if let Some((code, reason)) = self.closing.clone() {
            self.close_sent = true;
            let v = frame::linger_value(code, &String::from_utf8_lossy(&reason));
            self.linger = Some(v.clone());
            self.answer_poll(Answer::Frame(frame::close(&v)));
            // the close is answered: the backend session's close handshake ends
            self.peer.close(code, None);
        }
    }

    /// Answers the open poll; the next must come within the unconnected timeout.
    fn answer_poll(&mut self, a: Answer) {
        if let Some(r) = self.req.take() {
            let _ = r.reply.send(a);
        }
        self.timer = Some((Instant::now() + UNCONNECTED_TIMEOUT, Timer::Unconnected));
    }

    fn backend_packet(&mut self, p: Packet) -> Option<End> {
        self.peer.absorb(&p);
        match p.ptype {
            PacketType::Data if p.code.is_some() && self.state == State::Connecting => {
                self.state = State::Connected;
                self.answer_poll(Answer::Frame(Bytes::from_static(frame::OPEN)));
                self.try_read();
            }
            PacketType::Data => {
                let n = p.body_bytes().len();
                let buf = self.partial.get_or_insert_with(BytesMut::new);
                buf.extend_from_slice(p.body_bytes());
                if p.more {
                    // fragments are credited as they come, so any size can complete
                    self.peer.credit(n);
                } else {
                    let msg = self.partial.take().unwrap_or_default().freeze();
                    if msg.len() > MAX_BACKEND_MESSAGE {
                        debug!(
                            bytes = msg.len(),
                            "backend message too large for sockjs; dropped"
                        );
                        self.peer.credit(n);
                    } else {
                        // the last fragment's bytes are credited once given out
                        self.out.push_back((msg, n));
                        self.try_write();
                    }
                }
            }
            PacketType::Credit | PacketType::KeepAlive => self.try_read(),
            PacketType::Close => {
                let reason = p.body.clone().unwrap_or_default();
                self.closing = Some((p.code, reason.clone()));
                if self.peer_closed {
                    self.linger = Some(frame::linger_value(
                        p.code,
                        &String::from_utf8_lossy(&reason),
                    ));
                    return Some(End::Closed);
                }
                self.try_write();
            }
            PacketType::Error if p.condition == Some(Condition::Rejected) => {
                if let Some(r) = self.req.take() {
                    let headers = p
                        .header_list()
                        .iter()
                        .map(|h| (h.name.clone(), h.value.clone()))
                        .collect();
                    let _ = r.reply.send(Answer::Reject {
                        code: p.code.unwrap_or(502),
                        reason: p.reason.clone().unwrap_or_default(),
                        headers,
                        body: p.body.clone().unwrap_or_default(),
                    });
                }
                return Some(End::Closed);
            }
            PacketType::Error | PacketType::Cancel => return Some(End::Error),
            // pings and pongs are not given out (1.36)
            _ => {}
        }
        None
    }

    /// The open poll's client went away: for a long poll that is the client's close.
    fn poll_gone(&mut self) -> Option<End> {
        let r = self.req.take()?;
        if r.connect || self.peer_closed {
            return Some(End::Error);
        }
        self.peer_closed = true;
        self.timer = Some((Instant::now() + UNCONNECTED_TIMEOUT, Timer::Unconnected));
        self.peer.close(None, None);
        None
    }

    fn timer_fired(&mut self) -> Option<End> {
        let (_, what) = self.timer.take()?;
        match what {
            Timer::Heartbeat if self.req.is_some() => {
                self.answer_poll(Answer::Frame(Bytes::from_static(frame::HEARTBEAT)));
                None
            }
            Timer::Heartbeat => None,
            Timer::Unconnected if self.req.is_none() => {
                debug!("no poll in time; ending sockjs session");
                Some(End::Error)
            }
            Timer::Unconnected => None,
        }
    }
}

/// Resolves when the open poll's client is gone (never without one).
async fn poll_closed(req: Option<&mut Poll>) {
    match req {
        Some(r) => r.reply.closed().await,
        None => std::future::pending().await,
    }
}

/// Sleeps until `at` (forever without one).
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
