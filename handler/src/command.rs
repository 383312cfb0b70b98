//! The command socket on `command_spec` (`spec/publishing.md` §6): a bound
//! ROUTER speaking ZRPC with `get-zmq-uris`, `recover`, `publish`,
//! `conncheck` and `refresh`.
//!
//! Requests that are not a tnetstring map with a `method` get no reply, as
//! in 1.36. `conncheck` answers with the ids of the sessions this handler
//! holds, plus those the proxy still knows: unknown ids are checked with the
//! proxy's command socket (`proxy_command_spec`, a DEALER, 10 s timeout;
//! `proxy-request-failed` when that fails), as 1.36 does. `refresh` answers
//! `item-not-found` for a cid and success for a channel without asking the
//! proxy (no WebSocket-over-HTTP sessions here).

use bytes::{Bytes, BytesMut};
use pushpin_grip::publish::parse_command_args;
use pushpin_internal::zrpc::{self, Condition, Outcome, Request, Response};
use pushpin_internal::{Call, ZmqUris, encode_id_list};
use pushpin_tnetstring::Limits;
use pushpin_zmq::{AsyncSocket, Multipart};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};

use crate::engine::Event;

/// How long a call to the proxy's command socket may take (1.36: 10 s).
pub(crate) const PROXY_CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Serves commands until the engine goes away.
pub(crate) async fn run(
    mut socket: AsyncSocket,
    uris: ZmqUris,
    events: mpsc::Sender<Event>,
    mut proxy: Option<AsyncSocket>,
) -> anyhow::Result<()> {
    let limits = Limits::default();
    loop {
        let msg = socket.recv().await?;
        let Some((envelope, body)) = zrpc::server_request(&msg) else {
            warn!(frames = msg.len(), "command: malformed message, skipping");
            continue;
        };
        let req = match Request::decode(body, &limits) {
            Ok(r) => r,
            Err(e) => {
                warn!(error = %e, "command: failed to parse request, skipping");
                continue;
            }
        };
        let outcome = match req.call(&limits) {
            Ok(call) => execute(call, &uris, &events, proxy.as_mut()).await,
            Err(e) => {
                debug!(error = %e, "command: bad args");
                Outcome::error(Condition::BadRequest)
            }
        };
        let mut buf = BytesMut::new();
        Response {
            id: req.id,
            outcome,
        }
        .encode(&mut buf);
        socket
            .send(Multipart::from(zrpc::server_reply(envelope, buf.freeze())))
            .await?;
    }
}

async fn execute(
    call: Call,
    uris: &ZmqUris,
    events: &mpsc::Sender<Event>,
    proxy: Option<&mut AsyncSocket>,
) -> Outcome {
    match call {
        Call::GetZmqUris => Outcome::success_with(|buf| uris.encode(buf)),
        Call::Recover => {
            let _closed = events.send(Event::Recover).await;
            Outcome::null()
        }
        Call::Publish(args) => match parse_command_args(&args) {
            Ok(items) => {
                for item in items {
                    if events.send(Event::Publish(Box::new(item))).await.is_err() {
                        break;
                    }
                }
                Outcome::null()
            }
            Err(e) => Outcome::error_text(Condition::BadRequest, e.to_string().as_bytes()),
        },
        Call::Conncheck(ids) => {
            let (tx, rx) = oneshot::channel();
            if events
                .send(Event::Conncheck {
                    ids: ids.clone(),
                    reply: tx,
                })
                .await
                .is_err()
            {
                return Outcome::error(Condition::ServiceUnavailable);
            }
            let Ok(mut found) = rx.await else {
                return Outcome::error(Condition::ServiceUnavailable);
            };
            let unknown: Vec<Bytes> = ids.into_iter().filter(|i| !found.contains(i)).collect();
            if let (Some(proxy), false) = (proxy, unknown.is_empty()) {
                match proxy_conncheck(proxy, unknown).await {
                    Some(more) => found.extend(more),
                    None => return Outcome::error(Condition::ProxyRequestFailed),
                }
            }
            Outcome::success_with(|buf| encode_id_list(&found, buf))
        }
        Call::Refresh(args) => {
            if args.cid.is_none() && args.channel.is_none() {
                Outcome::error(Condition::BadRequest)
            } else if args.cid.is_some() {
                Outcome::error(Condition::ItemNotFound)
            } else {
                Outcome::null()
            }
        }
        _ => Outcome::error(Condition::MethodNotFound),
    }
}

/// Asks the proxy which of `ids` it still knows; `None` when the call fails.
async fn proxy_conncheck(proxy: &mut AsyncSocket, ids: Vec<Bytes>) -> Option<Vec<Bytes>> {
    let limits = Limits::default();
    let id = Bytes::from(format!("conncheck-{}", std::process::id()));
    let req = Request::new(Some(id.clone()), &Call::Conncheck(ids));
    let mut buf = BytesMut::new();
    req.encode(&mut buf);
    let frames = Multipart::from(zrpc::client_frames(buf.freeze()).to_vec());
    let call = async {
        proxy.send(frames).await.ok()?;
        loop {
            let msg = proxy.recv().await.ok()?;
            let Some(body) = zrpc::client_reply(&msg) else {
                continue;
            };
            let Ok(resp) = Response::decode(body, &limits) else {
                continue;
            };
            if resp.id.as_ref() != Some(&id) {
                continue; // a late reply to an earlier call
            }
            return match resp.outcome {
                Outcome::Success(v) => pushpin_internal::decode_id_list(&v, &limits).ok(),
                Outcome::Failure { .. } => None,
            };
        }
    };
    match tokio::time::timeout(PROXY_CALL_TIMEOUT, call).await {
        Ok(r) => r,
        Err(_) => {
            warn!("proxy conncheck timed out");
            None
        }
    }
}

/// The `get-zmq-uris` answer from the configured specs.
pub(crate) fn zmq_uris(
    command: Option<String>,
    pull: Option<String>,
    sub: Option<String>,
) -> ZmqUris {
    ZmqUris {
        command: command.map(Bytes::from),
        publish_pull: pull.map(Bytes::from),
        publish_sub: sub.map(Bytes::from),
    }
}
