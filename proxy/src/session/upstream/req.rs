//! Forwarding to a `zhttpreq/` target (req mode, `spec/zhttp.md` §6.7; 1.36
//! `ZhttpRequest` in req mode): the whole request body is read first (at most
//! [`REQ_BUF_MAX`] bytes, the client's credits returned as it arrives), sent in one
//! packet with `max-size`, and the one response packet is a complete origin response:
//! relayed, or handed to the handler when it carries GRIP instructions.

use std::time::Duration;

use bytes::Bytes;
use pushpin_config::routes::Target;
use pushpin_zhttp::{Condition, Header, Ids, Packet, PacketType};
use tokio::sync::mpsc;
use tracing::debug;

use super::{Conn, ConnEvent, INBOX, Outcome, PROXY_ERROR, Request, grip_response, respond};
use crate::client::{ClientCmd, ClientHandle};
use crate::outgoing::OriginRequest;

/// Largest request or response body in req mode (1.36 `REQ_BUF_MAX`).
const REQ_BUF_MAX: usize = 1_000_000;
/// [`REQ_BUF_MAX`] as the `max-size` field.
const MAX_SIZE: u32 = 1_000_000;
/// How long the peer has to answer (1.36 `SESSION_EXPIRE`).
const TIMEOUT: Duration = Duration::from_secs(60);

/// Forgets the request id when the exchange ends, however it ends.
struct Registered {
    io: ClientHandle,
    id: Bytes,
}

impl Drop for Registered {
    fn drop(&mut self) {
        let _ = self.io.tx.try_send(ClientCmd::Done {
            id: self.id.clone(),
        });
    }
}

/// Sends the request to `target` in req mode through `io` and answers the client.
pub(super) async fn forward(
    conn: &mut Conn,
    req: &mut Request,
    target: &Target,
    origin: &OriginRequest,
    io: ClientHandle,
) -> Outcome {
    let name = target.kind.to_string();
    // the whole body first
    while !req.body.is_complete() && req.body.pending_len() <= REQ_BUF_MAX {
        let before = req.body.pending_len();
        if !req.body.read_until(conn, before.saturating_add(1)).await {
            return Outcome::Gone;
        }
        let got = req.body.pending_len().saturating_sub(before);
        if !req.body.is_complete() && !conn.grant(u32::try_from(got).unwrap_or(u32::MAX)).await {
            return Outcome::Gone;
        }
    }
    if req.body.pending_len() > REQ_BUF_MAX {
        return error(conn, req, &name, None).await;
    }
    let body = req.body.take(REQ_BUF_MAX);
    let id = Bytes::from(uuid::Uuid::new_v4().to_string());
    let packet = Packet {
        from: conn.shared.id.clone(),
        ids: Ids::One(id.clone().into()),
        method: Some(req.client.method.clone()),
        uri: Some(Bytes::from(origin.uri.to_string())),
        headers: Some(
            origin
                .headers
                .iter()
                .map(|(n, v)| Header::new(n.clone(), v.clone()))
                .collect(),
        ),
        body: Some(body),
        max_size: Some(MAX_SIZE),
        ignore_policies: target.trusted,
        trust_connect_host: target.trust_connect_host,
        ignore_tls_errors: target.insecure,
        ..Packet::default()
    };
    let (tx, mut rx) = mpsc::channel(INBOX);
    let start = ClientCmd::Start {
        id: id.clone(),
        inbox: tx,
        frame: packet.to_bytes(),
    };
    if io.tx.send(start).await.is_err() {
        return Outcome::TryNext;
    }
    let _registered = Registered { io, id };
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    let p = loop {
        tokio::select! {
            ev = conn.recv() => {
                if matches!(ev, ConnEvent::Gone) {
                    return Outcome::Gone;
                }
            }
            p = rx.recv() => match p {
                Some(p) => break p,
                None => return error(conn, req, &name, None).await,
            },
            () = tokio::time::sleep_until(deadline) => {
                debug!(target = %name, "zhttpreq target did not answer");
                let text = "Error: zhttp service for route is unreachable.";
                return error(conn, req, &name, Some(text)).await;
            }
        }
    };
    match p.ptype {
        PacketType::Data if !p.more && p.code.is_some() => {}
        PacketType::Error => {
            let c = p.condition.unwrap_or(Condition::UndefinedCondition);
            if super::connect_failure(&c) {
                debug!(condition = %c, target = %name, "target failed");
                return Outcome::TryNext;
            }
            return error(conn, req, &name, None).await;
        }
        _ => {
            debug!("zhttp client req: received invalid req response");
            return error(conn, req, &name, None).await;
        }
    }
    let body = p.body.clone().unwrap_or_default();
    let response = grip_response(&p, body);
    respond::origin_complete(conn, req, target, origin, response).await
}

/// `502`, with `debug_text` (plus a newline) in debug mode when given.
async fn error(conn: &mut Conn, req: &Request, name: &str, debug_text: Option<&str>) -> Outcome {
    respond::log_request(conn, req, name, "error");
    let text = match debug_text {
        Some(t) if req.debug => format!("{t}\n"),
        _ => PROXY_ERROR.to_string(),
    };
    let _ = respond::error_response(conn, 502, text).await;
    Outcome::Done
}
