//! One WebSocket-over-HTTP request through zurl: a `POST` with a complete
//! `application/websocket-events` body, its response collected whole (at most
//! [`MAX_RESPONSE_BODY`] bytes, `spec/grip.md` §9.3). The body goes in the first packet
//! up to 200000 bytes, the rest as zurl grants credits; response credits are returned as
//! body arrives, so nothing is buffered beyond the limit.

use bytes::{Bytes, BytesMut};
use pushpin_zhttp::{Condition, Ext, Packet, PacketType};
use tracing::debug;

use super::super::upstream::{RESPONSE_CREDITS, Upstream};
use crate::client::ClientHandle;
use crate::outgoing::Header;

/// Largest response body accepted from the backend (1.36).
pub(crate) const MAX_RESPONSE_BODY: usize = 1_000_000;
/// Most request body put in the first packet without credits.
const FIRST_PACKET_BODY: usize = 200_000;
/// How long one exchange may take before it counts as failed.
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Where to send: what stays the same for every request of one connection.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) uri: Bytes,
    /// Connect host and port (none for a custom `zhttp/` target).
    pub(crate) connect: Option<(Bytes, u16)>,
    pub(crate) ignore_policies: bool,
    pub(crate) trust_connect_host: bool,
    pub(crate) ignore_tls_errors: bool,
}

/// A complete backend response.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) code: u16,
    pub(crate) reason: Bytes,
    pub(crate) headers: Vec<Header>,
    pub(crate) body: Bytes,
}

/// Why an exchange failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// zurl answered with an error (connect failures included).
    #[error("request failed: {0}")]
    Failed(Condition),
    /// The response body was larger than [`MAX_RESPONSE_BODY`].
    #[error("response body too large")]
    TooLarge,
    /// zurl or the proxy went away, or the exchange timed out.
    #[error("request lost")]
    Lost,
}

impl Error {
    /// A failure before the backend could have seen the request.
    pub(crate) fn is_connect_failure(&self) -> bool {
        matches!(self, Self::Failed(c) if super::super::upstream::connect_failure(c))
    }
}

/// Sends one POST and waits for the whole response.
pub(crate) async fn post(
    io: ClientHandle,
    instance: Bytes,
    target: Target,
    headers: Vec<Header>,
    body: Bytes,
) -> Result<Response, Error> {
    match tokio::time::timeout(TIMEOUT, exchange(io, instance, target, headers, body)).await {
        Ok(r) => r,
        Err(_) => Err(Error::Lost),
    }
}

async fn exchange(
    io: ClientHandle,
    instance: Bytes,
    target: Target,
    headers: Vec<Header>,
    mut body: Bytes,
) -> Result<Response, Error> {
    let first_body = body.split_to(body.len().min(FIRST_PACKET_BODY));
    let first = Packet {
        ext: Ext {
            multi: true,
            quiet: false,
        },
        method: Some(Bytes::from_static(b"POST")),
        uri: Some(target.uri),
        headers: Some(
            headers
                .into_iter()
                .map(|(n, v)| pushpin_zhttp::Header::new(n, v))
                .collect(),
        ),
        body: Some(first_body).filter(|b| !b.is_empty()),
        more: !body.is_empty(),
        stream: true,
        credits: Some(RESPONSE_CREDITS),
        connect_port: target.connect.as_ref().map(|c| c.1),
        connect_host: target.connect.map(|c| c.0),
        ignore_policies: target.ignore_policies,
        trust_connect_host: target.trust_connect_host,
        ignore_tls_errors: target.ignore_tls_errors,
        ..Packet::default()
    };
    let mut up = Upstream::start(io, instance, first)
        .await
        .ok_or(Error::Lost)?;
    let mut head: Option<Packet> = None;
    let mut buf = BytesMut::new();
    loop {
        let Some(p) = up.recv_packet().await else {
            return Err(Error::Lost);
        };
        match p.ptype {
            PacketType::Error | PacketType::Cancel => {
                up.done = true;
                return Err(Error::Failed(
                    p.condition.unwrap_or(Condition::UndefinedCondition),
                ));
            }
            PacketType::Data => {
                let data = p.body.clone().unwrap_or_default();
                let more = p.more;
                if head.is_none() {
                    head = Some(p);
                }
                if buf.len() + data.len() > MAX_RESPONSE_BODY {
                    up.cancel().await;
                    return Err(Error::TooLarge);
                }
                buf.extend_from_slice(&data);
                if !more {
                    up.done = true;
                    break;
                }
                if !up.grant(data.len()).await {
                    return Err(Error::Lost);
                }
            }
            _ => {}
        }
        // the rest of the request body, within zurl's credits
        while !body.is_empty() && up.credits.available() > 0 {
            let n = up.credits.take(body.len());
            let chunk = body.split_to(n);
            let p = Packet {
                body: Some(chunk),
                more: !body.is_empty(),
                ..Packet::default()
            };
            if !up.send_next(p).await {
                return Err(Error::Lost);
            }
        }
    }
    let Some(head) = head else {
        return Err(Error::Lost);
    };
    debug!(code = ?head.code, len = buf.len(), "websocket-over-http response");
    Ok(Response {
        code: head.code.unwrap_or(0),
        reason: head.reason.clone().unwrap_or_default(),
        headers: head
            .header_list()
            .iter()
            .map(|h| (h.name.clone(), h.value.clone()))
            .collect(),
        body: buf.freeze(),
    })
}
