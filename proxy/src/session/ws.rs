//! Plain WebSocket proxying through zurl (`spec/zhttp.md` §8): the handshake is forwarded
//! as a ZHTTP request with a `ws`/`wss` URI, zurl's `101` (with its credits) is relayed
//! to the connection manager with ours (200000), and messages, pings, pongs and closes
//! then flow both ways, each side's credits returned as its messages are delivered.
//! A `rejected` answer is relayed as the HTTP response; connect failures try the next
//! target. The `test` target's origin ([`crate::test_target::ws`]) is spoken to the same
//! way; `zhttpreq/` targets refuse WebSockets (`502`), as in 1.36.
//!
//! GRIP (`spec/grip.md` §10, as 1.36's `wsproxysession`): the client's
//! `Sec-WebSocket-Extensions` never reach the origin, which is offered
//! `Sec-WebSocket-Extensions: grip` on GRIP routes; the origin's extensions never reach
//! the client, except the `grip` one for a trusted client (or a `no_grip` route), which
//! then does GRIP itself. When the origin accepts `grip` (or the target has `sub=`
//! channels) the session registers over ws-control; with `grip` accepted for an
//! untrusted client, origin messages are sorted ([`relay`]): `c:` text messages go to the
//! handler, prefixed ones reach the client without the prefix, the rest are dropped.

use std::collections::VecDeque;

use bytes::Bytes;
use pushpin_config::routes::{Target, TargetKind};
use pushpin_zhttp::{Condition, Ext, Header, Packet, PacketType};

use super::conn::{Conn, ConnEvent};
use super::upstream::{self, RESPONSE_CREDITS, Upstream};
use super::wsgrip::{self, EXTENSIONS};
use super::{Outcome, REQUEST_CREDITS, Request, rewrite};
use crate::outgoing;

mod relay;

/// Message payload bytes counted against credits.
fn payload_len(p: &Packet) -> usize {
    p.body_bytes().len()
}

/// How much of a queued packet fits in the credits available.
enum Fit {
    /// All of it (or it is not a message and needs no credits).
    Whole,
    /// This first part, as a fragment (`more`); the rest stays.
    Part(Box<Packet>),
    /// Nothing now.
    Nothing,
}

/// Splits `front` to fit `available` credits: a control packet or a whole message fits
/// as is, a larger message gives its first `available` bytes as a fragment.
fn fit(front: &mut Packet, available: usize) -> Fit {
    if front.ptype != PacketType::Data || payload_len(front) <= available {
        return Fit::Whole;
    }
    if available == 0 {
        return Fit::Nothing;
    }
    let Some(body) = front.body.as_mut() else {
        return Fit::Whole;
    };
    let part = body.split_to(available);
    Fit::Part(Box::new(Packet {
        body: Some(part),
        more: true,
        content_type: front.content_type.take(),
        ..Packet::default()
    }))
}

/// Takes the next packet that fits in `available` credits: a control packet or a whole
/// message as is, or the first `available` bytes of a larger message as a fragment
/// (`more`), leaving the rest queued. `None` when nothing can go now.
pub(super) fn next_within(queue: &mut VecDeque<Packet>, available: usize) -> Option<Packet> {
    match fit(queue.front_mut()?, available) {
        Fit::Whole => queue.pop_front(),
        Fit::Part(p) => Some(*p),
        Fit::Nothing => None,
    }
}

/// A packet to forward: the fields that carry over between the two sides.
fn relay(p: &Packet) -> Packet {
    Packet {
        ptype: p.ptype.clone(),
        body: p.body.clone(),
        more: p.more,
        content_type: p.content_type.clone(),
        code: p.code,
        ..Packet::default()
    }
}

/// Tries each WebSocket target in order; `Outcome::TryNext` when all failed to connect.
pub(crate) async fn forward(conn: &mut Conn, req: &mut Request, target: &Target) -> Outcome {
    if let TargetKind::Zhttp { req: true, .. } = &target.kind {
        // 1.36: "websockets don't work with zhttp req mode"
        let body = if req.debug {
            "WebSockets cannot be used with zhttpreq target\n".to_string()
        } else {
            super::respond::PROXY_ERROR.to_string()
        };
        super::respond::log_request(conn, req, &target.kind.to_string(), "code=502");
        super::respond::reject(conn, 502, body).await;
        return Outcome::Done;
    }
    if target.kind == TargetKind::Test {
        // the built-in origin runs alongside, in this task
        let resource = crate::test_target::ws_resource(&req.client.uri, &req.route);
        let (io, origin) = crate::test_target::ws::peer(resource);
        let (outcome, ()) = tokio::join!(run(conn, req, target, io, None), origin);
        return outcome;
    }
    let Some((io, connect)) = upstream::client_for(&conn.shared, target) else {
        return Outcome::TryNext;
    };
    run(conn, req, target, io, connect).await
}

/// Proxies the WebSocket through `io` (asking it to connect to `connect`, if given).
async fn run(
    conn: &mut Conn,
    req: &mut Request,
    target: &Target,
    io: crate::client::ClientHandle,
    connect: Option<(Bytes, u16)>,
) -> Outcome {
    let origin = outgoing::origin_request(
        &conn.shared.config,
        &req.client,
        &req.route,
        target,
        rewrite(req),
    );
    let mut headers = origin.headers;
    // extensions are not proxied (we may not know them); GRIP routes offer `grip`
    headers.retain(|(n, _)| !n.eq_ignore_ascii_case(EXTENSIONS));
    if req.route.grip {
        headers.push((Bytes::from_static(EXTENSIONS), Bytes::from_static(b"grip")));
    }
    // a trusted client (or a route without GRIP) does GRIP itself
    let pass_grip = req.trusted_client || !req.route.grip;
    let first = Packet {
        ext: Ext {
            multi: true,
            quiet: false,
        },
        uri: Some(Bytes::from(origin.uri.to_string())),
        headers: Some(
            headers
                .iter()
                .map(|(n, v)| Header::new(n.clone(), v.clone()))
                .collect(),
        ),
        credits: Some(RESPONSE_CREDITS),
        connect_host: connect.as_ref().map(|c| c.0.clone()),
        connect_port: connect.as_ref().map(|c| c.1),
        ignore_policies: target.trusted,
        trust_connect_host: target.trust_connect_host,
        ignore_tls_errors: target.insecure,
        ..Packet::default()
    };
    let Some(mut up) = Upstream::start(io, conn.shared.id.clone(), first).await else {
        return Outcome::TryNext;
    };
    let name = target.kind.to_string();

    // handshake
    let accept = loop {
        tokio::select! {
            ev = conn.recv() => {
                if matches!(ev, ConnEvent::Gone) {
                    up.cancel().await;
                    return Outcome::Gone;
                }
            }
            p = up.recv_packet() => {
                let Some(p) = p else {
                    conn.cancel().await;
                    return Outcome::Gone;
                };
                match p.ptype {
                    PacketType::Data if p.code.is_some() => break p,
                    PacketType::Error | PacketType::Cancel => {
                        up.done = true;
                        let c = p.condition.clone().unwrap_or(Condition::UndefinedCondition);
                        if upstream::connect_failure(&c) {
                            return Outcome::TryNext;
                        }
                        let mut e = conn.packet(PacketType::Error);
                        e.condition = Some(Condition::Rejected);
                        e.code = Some(p.code.unwrap_or(502));
                        e.reason = p.reason.clone().or(Some(Bytes::from_static(b"Bad Gateway")));
                        e.headers = p.headers.clone().or(Some(Vec::new()));
                        e.body = p.body.clone().or(Some(Bytes::from_static(
                            b"Error while proxying to origin.\n",
                        )));
                        let outcome = format!("code={}", p.code.unwrap_or(502));
                        super::respond::log_request(conn, req, &name, &outcome);
                        let _ = conn.send(e).await;
                        return Outcome::Done;
                    }
                    _ => {}
                }
            }
        }
    };

    // the origin's extensions: only `grip` matters, and only a trusted client sees it
    let mut headers = accept.headers.clone().unwrap_or_default();
    let extensions: Vec<outgoing::Header> = headers
        .iter()
        .filter(|h| h.is(EXTENSIONS))
        .map(|h| (h.name.clone(), h.value.clone()))
        .collect();
    headers.retain(|h| !h.is(EXTENSIONS));
    let grip = wsgrip::grip_extension(&extensions);
    let prefix = match &grip {
        Some(ext) if pass_grip => {
            headers.push(Header::new(Bytes::from_static(EXTENSIONS), ext.raw.clone()));
            None
        }
        Some(ext) => {
            tracing::debug!(prefix = %String::from_utf8_lossy(&ext.prefix), "grip enabled");
            Some(ext.prefix.clone())
        }
        None => None,
    };
    let control = match &conn.shared.wscontrol {
        Some(handle) if grip.is_some() || !target.subscriptions.is_empty() => {
            let cid = Bytes::from(uuid::Uuid::new_v4().to_string());
            wsgrip::register(handle, cid, req, target, true).await
        }
        _ => None,
    };

    let mut p = conn.packet(PacketType::Data);
    p.ext.multi = true;
    p.code = accept.code;
    p.reason = accept.reason.clone();
    p.headers = Some(headers);
    p.credits = Some(REQUEST_CREDITS);
    conn.in_window.grant(REQUEST_CREDITS);
    if !conn.send(p).await {
        up.cancel().await;
        if let Some(c) = control {
            c.finish();
        }
        return Outcome::Gone;
    }
    super::respond::log_request(conn, req, &name, "code=101");

    relay::run(conn, up, control, prefix).await;
    Outcome::Done
}
