//! The proxy command socket (`spec/internal.md` §9): a bound ROUTER answering the
//! handler's ZRPC calls `conncheck` (the ids of the sessions the proxy still owns),
//! `refresh` (a WebSocket-over-HTTP session sends a request to its backend now;
//! `item-not-found` for any other cid) and `report` (`service-unavailable`, as 1.36 with
//! the update checker off).

use bytes::{Bytes, BytesMut};
use pushpin_internal::zrpc::{self, Condition, Outcome, Request, Response};
use pushpin_internal::{Call, Limits, encode_id_list};
use pushpin_zmq::{AsyncSocket, Multipart};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};

use crate::server::ServerCmd;
use crate::wscontrol::WsControlHandle;

/// Runs until the socket fails.
pub(crate) async fn run(
    mut sock: AsyncSocket,
    server: mpsc::Sender<ServerCmd>,
    wscontrol: Option<WsControlHandle>,
) -> anyhow::Result<()> {
    let limits = Limits::default();
    loop {
        let msg = sock.recv().await?;
        let Some((envelope, body)) = zrpc::server_request(&msg) else {
            warn!("command message without envelope; dropped");
            continue;
        };
        let request = match Request::decode(body, &limits) {
            Ok(r) => r,
            Err(e) => {
                warn!(error = %e, "malformed command request; dropped");
                continue;
            }
        };
        let outcome = match request.call(&limits) {
            Ok(Call::Conncheck(ids)) => {
                let (tx, rx) = oneshot::channel();
                if server.send(ServerCmd::Conncheck(ids, tx)).await.is_err() {
                    return Ok(());
                }
                match rx.await {
                    Ok(live) => Outcome::success_with(|buf| encode_id_list(&live, buf)),
                    Err(_) => Outcome::error(Condition::ServiceUnavailable),
                }
            }
            Ok(Call::Refresh(args)) => {
                let known = match (args.cid, &wscontrol) {
                    (Some(cid), Some(ws)) => ws.refresh(cid).await,
                    _ => false,
                };
                if known {
                    Outcome::null()
                } else {
                    Outcome::error(Condition::ItemNotFound)
                }
            }
            Ok(Call::Report(_)) => Outcome::error(Condition::ServiceUnavailable),
            Ok(_) => Outcome::error(Condition::MethodNotFound),
            Err(e) => {
                debug!(error = %e, "bad command args");
                Outcome::error(Condition::BadFormat)
            }
        };
        let mut buf = BytesMut::new();
        Response {
            id: request.id.clone(),
            outcome,
        }
        .encode(&mut buf);
        let reply: Bytes = buf.freeze();
        let frames = Multipart::from(zrpc::server_reply(envelope, reply));
        if let Err(e) = sock.try_send(frames) {
            debug!(error = ?e, "command reply dropped");
        }
    }
}
