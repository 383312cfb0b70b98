//! The ZRPC client for the handler's inspect and accept sockets (`spec/internal.md` §3):
//! a bound DEALER sending `["", request]`, replies matched by `id`.
//!
//! When the DEALER cannot take a message (at its HWM of 100, or no handler connected) the
//! call waits for room up to [`ROOM_WAIT`] while replies keep being read; later calls queue
//! behind it in a bounded channel ([`CALL_CAPACITY`]; callers wait when it is full). 1.36
//! fails such a call at once, so a burst of more than 100 held requests got some
//! `500 Accept service unavailable.` although the handler was only busy. If the wait runs
//! out the call fails with `service-unavailable`, and so does every call after it, without
//! waiting, until a message goes through again: a missing handler costs one wait per
//! outage, not one per call. Callers bound the wait for the reply themselves
//! ([`CALL_TIMEOUT`]). Late replies are dropped.

use std::collections::HashMap;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use pushpin_internal::zrpc::{self, Request, Response};
use pushpin_internal::{Call, Limits};
use pushpin_zmq::{AsyncSocket, Interest, Multipart, TrySendError};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::{debug, warn};

/// How long a caller waits for an inspect or accept reply (8 s in 1.36).
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(8);
/// Calls queued towards one socket.
const CALL_CAPACITY: usize = 1024;
/// How long a call waits for room on a full DEALER before it fails.
pub(crate) const ROOM_WAIT: Duration = Duration::from_secs(2);
/// How often abandoned calls are forgotten.
const PRUNE_INTERVAL: Duration = Duration::from_secs(10);

/// Why a call produced no response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RpcError {
    /// The handler is not connected or not keeping up.
    #[error("service unavailable")]
    Unavailable,
    /// No reply within [`CALL_TIMEOUT`].
    #[error("timed out")]
    Timeout,
}

struct PendingCall {
    call: Call,
    reply: oneshot::Sender<Result<Response, RpcError>>,
}

/// A handle for making calls.
#[derive(Clone)]
pub(crate) struct RpcClient {
    tx: mpsc::Sender<PendingCall>,
}

impl RpcClient {
    /// Starts a call; the receiver yields the response.
    pub(crate) async fn start(&self, call: Call) -> oneshot::Receiver<Result<Response, RpcError>> {
        let (reply, rx) = oneshot::channel();
        if let Err(e) = self.tx.send(PendingCall { call, reply }).await {
            let _ = e.0.reply.send(Err(RpcError::Unavailable));
        }
        rx
    }

    /// Calls and waits up to [`CALL_TIMEOUT`].
    pub(crate) async fn call(&self, call: Call) -> Result<Response, RpcError> {
        let rx = self.start(call).await;
        match tokio::time::timeout(CALL_TIMEOUT, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(RpcError::Unavailable),
            Err(_) => Err(RpcError::Timeout),
        }
    }
}

/// Creates a client for `sock` and the task that serves it.
pub(crate) fn client(
    sock: AsyncSocket,
    name: &'static str,
) -> (RpcClient, impl Future<Output = anyhow::Result<()>>) {
    let (tx, rx) = mpsc::channel(CALL_CAPACITY);
    (RpcClient { tx }, run(sock, rx, name))
}

type ReplyTx = oneshot::Sender<Result<Response, RpcError>>;

/// A call the DEALER could not take yet.
struct Stalled {
    msg: Multipart,
    id: Bytes,
    reply: ReplyTx,
    until: Instant,
}

async fn run(
    mut sock: AsyncSocket,
    mut rx: mpsc::Receiver<PendingCall>,
    name: &'static str,
) -> anyhow::Result<()> {
    let limits = Limits::default();
    let mut pending: HashMap<Bytes, ReplyTx> = HashMap::new();
    let mut prune = tokio::time::interval(PRUNE_INTERVAL);
    let mut stalled: Option<Stalled> = None;
    // Set when a wait for room ran out; cleared when a message goes through.
    let mut unavailable = false;
    loop {
        if let Some(st) = stalled.take() {
            tokio::select! {
                ready = sock.ready(Interest::READABLE | Interest::WRITABLE) => {
                    let ready = ready?;
                    if ready.is_readable() {
                        while let Some(msg) = sock.try_recv()? {
                            deliver(&msg, &mut pending, &limits, name);
                        }
                    }
                    stalled = try_send(&mut sock, st, &mut pending, name);
                }
                () = tokio::time::sleep_until(st.until) => {
                    warn!(socket = name, "no room to send a call for {ROOM_WAIT:?}; service unavailable");
                    unavailable = true;
                    let _ = st.reply.send(Err(RpcError::Unavailable));
                }
            }
            continue;
        }
        tokio::select! {
            call = rx.recv() => {
                let Some(PendingCall { call, reply }) = call else {
                    return Ok(());
                };
                let id = Bytes::from(uuid::Uuid::new_v4().to_string());
                let mut body = BytesMut::new();
                Request::new(Some(id.clone()), &call).encode(&mut body);
                let msg = Multipart::from(zrpc::client_frames(body.freeze()));
                let st = Stalled { msg, id, reply, until: Instant::now() + ROOM_WAIT };
                match try_send(&mut sock, st, &mut pending, name) {
                    None => unavailable = false,
                    Some(st) if unavailable => {
                        let _ = st.reply.send(Err(RpcError::Unavailable));
                    }
                    Some(st) => stalled = Some(st),
                }
            }
            msg = sock.recv() => deliver(&msg?, &mut pending, &limits, name),
            _ = prune.tick() => pending.retain(|_, r| !r.is_closed()),
        }
    }
}

/// Sends `st` if the socket takes it now; returns it when the socket is full.
fn try_send(
    sock: &mut AsyncSocket,
    st: Stalled,
    pending: &mut HashMap<Bytes, ReplyTx>,
    name: &'static str,
) -> Option<Stalled> {
    if st.reply.is_closed() {
        // the caller gave up while the call waited
        return None;
    }
    match sock.try_send(st.msg) {
        Ok(()) => {
            pending.insert(st.id, st.reply);
            None
        }
        Err(TrySendError::Full(msg)) => Some(Stalled { msg, ..st }),
        Err(TrySendError::Failed(e)) => {
            warn!(socket = name, error = %e, "zrpc send failed");
            let _ = st.reply.send(Err(RpcError::Unavailable));
            None
        }
    }
}

/// Hands a reply to the call waiting for it.
fn deliver(
    msg: &Multipart,
    pending: &mut HashMap<Bytes, ReplyTx>,
    limits: &Limits,
    name: &'static str,
) {
    let Some(body) = zrpc::client_reply(msg) else {
        warn!(socket = name, "zrpc reply with a bad envelope; dropped");
        return;
    };
    match Response::decode(body, limits) {
        Ok(resp) => {
            let Some(id) = resp.id.clone() else {
                debug!(socket = name, "zrpc reply without id; dropped");
                return;
            };
            match pending.remove(&id) {
                Some(reply) => {
                    let _ = reply.send(Ok(resp));
                }
                None => debug!(socket = name, "zrpc reply for an unknown id; dropped"),
            }
        }
        Err(e) => warn!(socket = name, error = %e, "malformed zrpc reply; dropped"),
    }
}

#[cfg(test)]
mod tests;
