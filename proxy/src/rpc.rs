//! The ZRPC client for the handler's inspect and accept sockets (`spec/internal.md` §3):
//! a bound DEALER sending `["", request]`, replies matched by `id`.
//!
//! As in 1.36 a call fails at once with `service-unavailable` when the DEALER cannot take
//! the message without waiting (no handler connected, or at its HWM of 100); callers bound
//! the wait for the reply themselves ([`CALL_TIMEOUT`]). Calls queue in a bounded channel
//! ([`CALL_CAPACITY`]; callers wait when it is full). Late replies are dropped.

use std::collections::HashMap;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use pushpin_internal::zrpc::{self, Request, Response};
use pushpin_internal::{Call, Limits};
use pushpin_zmq::{AsyncSocket, Multipart, TrySendError};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};

/// How long a caller waits for an inspect or accept reply (8 s in 1.36).
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(8);
/// Calls queued towards one socket.
const CALL_CAPACITY: usize = 1024;
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

async fn run(
    mut sock: AsyncSocket,
    mut rx: mpsc::Receiver<PendingCall>,
    name: &'static str,
) -> anyhow::Result<()> {
    let limits = Limits::default();
    let mut pending: HashMap<Bytes, oneshot::Sender<Result<Response, RpcError>>> = HashMap::new();
    let mut prune = tokio::time::interval(PRUNE_INTERVAL);
    loop {
        tokio::select! {
            call = rx.recv() => {
                let Some(PendingCall { call, reply }) = call else {
                    return Ok(());
                };
                let id = Bytes::from(uuid::Uuid::new_v4().to_string());
                let mut body = BytesMut::new();
                Request::new(Some(id.clone()), &call).encode(&mut body);
                let msg = Multipart::from(zrpc::client_frames(body.freeze()));
                match sock.try_send(msg) {
                    Ok(()) => {
                        pending.insert(id, reply);
                    }
                    Err(TrySendError::Full(_)) => {
                        let _ = reply.send(Err(RpcError::Unavailable));
                    }
                    Err(TrySendError::Failed(e)) => {
                        warn!(socket = name, error = %e, "zrpc send failed");
                        let _ = reply.send(Err(RpcError::Unavailable));
                    }
                }
            }
            msg = sock.recv() => {
                let msg = msg?;
                let Some(body) = zrpc::client_reply(&msg) else {
                    warn!(socket = name, "zrpc reply with a bad envelope; dropped");
                    continue;
                };
                match Response::decode(body, &limits) {
                    Ok(resp) => {
                        let Some(id) = resp.id.clone() else {
                            debug!(socket = name, "zrpc reply without id; dropped");
                            continue;
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
            _ = prune.tick() => pending.retain(|_, r| !r.is_closed()),
        }
    }
}
