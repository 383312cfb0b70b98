//! The retry socket (`spec/internal.md` §6): a bound PULL taking the handler's retry
//! messages; each request in one becomes an adopted session in the server task.
//! Malformed messages are logged and skipped.

use pushpin_internal::{Limits, RetryPacket};
use pushpin_zmq::AsyncSocket;
use tokio::sync::mpsc;
use tracing::warn;

use crate::server::ServerCmd;
use crate::session::Adopt;

/// Runs until the socket fails or the server task is gone.
pub(crate) async fn run(
    mut sock: AsyncSocket,
    server: mpsc::Sender<ServerCmd>,
) -> anyhow::Result<()> {
    let limits = Limits::default();
    loop {
        let msg = sock.recv().await?;
        let [frame] = msg.as_slice() else {
            warn!(
                frames = msg.len(),
                "retry message with the wrong frame count; dropped"
            );
            continue;
        };
        let packet = match RetryPacket::decode(frame, &limits) {
            Ok(p) => p,
            Err(e) => {
                warn!(error = %e, "malformed retry message; dropped");
                continue;
            }
        };
        for request in packet.requests {
            let adopt = Adopt {
                request,
                request_data: packet.request_data.clone(),
                inspect: packet.inspect.clone(),
                route: packet.route.clone(),
            };
            if server
                .send(ServerCmd::Adopt(Box::new(adopt)))
                .await
                .is_err()
            {
                return Ok(());
            }
        }
    }
}
