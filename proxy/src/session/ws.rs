//! Plain WebSocket proxying through zurl (`spec/zhttp.md` §8): the handshake is forwarded
//! as a ZHTTP request with a `ws`/`wss` URI, zurl's `101` (with its credits) is relayed
//! to the connection manager with ours (200000), and messages, pings, pongs and closes
//! then flow both ways, each side's credits returned as its messages are delivered.
//! A `rejected` answer is relayed as the HTTP response; connect failures try the next
//! target. GRIP over WebSocket (ws-control) is not implemented yet: messages pass
//! through untouched.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use pushpin_config::routes::{Target, TargetKind};
use pushpin_zhttp::{Condition, Ext, Header, Packet, PacketType};
use tracing::debug;

use super::conn::{Conn, ConnEvent};
use super::upstream::{self, KEEP_ALIVE, PEER_TIMEOUT, RESPONSE_CREDITS, Upstream};
use super::{Outcome, REQUEST_CREDITS, Request, rewrite};
use crate::outgoing;

/// Message payload bytes counted against credits.
fn payload_len(p: &Packet) -> usize {
    p.body_bytes().len()
}

/// Takes the next packet that fits in `available` credits: a control packet or a whole
/// message as is, or the first `available` bytes of a larger message as a fragment
/// (`more`), leaving the rest queued. `None` when nothing can go now.
pub(super) fn next_within(queue: &mut VecDeque<Packet>, available: usize) -> Option<Packet> {
    let front = queue.front_mut()?;
    if front.ptype != PacketType::Data || payload_len(front) <= available {
        return queue.pop_front();
    }
    if available == 0 {
        return None;
    }
    let body = front.body.as_mut()?;
    let part = body.split_to(available);
    let fragment = Packet {
        body: Some(part),
        more: true,
        content_type: front.content_type.take(),
        ..Packet::default()
    };
    Some(fragment)
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
    let TargetKind::Origin { host, port } = &target.kind else {
        return Outcome::TryNext;
    };
    let Some(io) = conn.shared.zurl.clone() else {
        return Outcome::TryNext;
    };
    let origin = outgoing::origin_request(
        &conn.shared.config,
        &req.client,
        &req.route,
        target,
        rewrite(req),
    );
    let first = Packet {
        ext: Ext {
            multi: true,
            quiet: false,
        },
        uri: Some(Bytes::from(origin.uri.to_string())),
        headers: Some(
            origin
                .headers
                .iter()
                .map(|(n, v)| Header::new(n.clone(), v.clone()))
                .collect(),
        ),
        credits: Some(RESPONSE_CREDITS),
        connect_host: Some(Bytes::from(host.clone())),
        connect_port: Some(*port),
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
                        super::respond::log_request(conn, req, &name, "code=502");
                        let _ = conn.send(e).await;
                        return Outcome::Done;
                    }
                    _ => {}
                }
            }
        }
    };
    let mut p = conn.packet(PacketType::Data);
    p.ext.multi = true;
    p.code = accept.code;
    p.reason = accept.reason.clone();
    p.headers = accept.headers.clone();
    p.credits = Some(REQUEST_CREDITS);
    conn.in_window.grant(REQUEST_CREDITS);
    if !conn.send(p).await {
        up.cancel().await;
        return Outcome::Gone;
    }
    super::respond::log_request(conn, req, &name, "code=101");

    // messages
    let mut to_origin: VecDeque<Packet> = VecDeque::new();
    let mut to_client: VecDeque<Packet> = VecDeque::new();
    let (mut client_closed, mut origin_closed) = (false, false);
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            ev = conn.recv() => match ev {
                ConnEvent::Ws(p) => to_origin.push_back(relay(&p)),
                ConnEvent::Body { data, more } => to_origin.push_back(Packet {
                    body: Some(data),
                    more,
                    ..Packet::default()
                }),
                ConnEvent::Credit | ConnEvent::HandoffProceed => {}
                ConnEvent::Gone => {
                    up.cancel().await;
                    return Outcome::Done;
                }
            },
            p = up.recv_packet(), if !up.done => {
                let Some(p) = p else {
                    conn.cancel().await;
                    return Outcome::Done;
                };
                match p.ptype {
                    PacketType::Data | PacketType::Close | PacketType::Ping | PacketType::Pong => {
                        to_client.push_back(relay(&p));
                    }
                    PacketType::Error | PacketType::Cancel => {
                        up.done = true;
                        conn.cancel().await;
                        return Outcome::Done;
                    }
                    _ => {}
                }
            }
            _ = tick.tick() => {
                let now = Instant::now();
                if now.duration_since(conn.last_recv) > PEER_TIMEOUT {
                    debug!("client side silent too long; ending websocket");
                    up.cancel().await;
                    return Outcome::Done;
                }
                if now.duration_since(conn.last_sent) >= KEEP_ALIVE && !conn.keep_alive(false).await {
                    up.cancel().await;
                    return Outcome::Done;
                }
                if now.duration_since(up.last_sent) >= KEEP_ALIVE {
                    let _ = up.send_next(Packet::new(PacketType::KeepAlive)).await;
                }
            }
        }
        // client → origin, within zurl's credits
        while let Some(p) = next_within(&mut to_origin, up.credits.available() as usize) {
            let n = payload_len(&p);
            let data = p.ptype == PacketType::Data;
            if data {
                let _ = up.credits.take(n);
            }
            client_closed |= p.ptype == PacketType::Close;
            if !up.send_next(p).await {
                return Outcome::Gone;
            }
            if data && !conn.grant(u32::try_from(n).unwrap_or(u32::MAX)).await {
                up.cancel().await;
                return Outcome::Gone;
            }
        }
        // origin → client, within the client's credits
        while let Some(p) = next_within(&mut to_client, conn.out_credits.available() as usize) {
            let n = payload_len(&p);
            let data = p.ptype == PacketType::Data;
            if data {
                let _ = conn.out_credits.take(n);
            }
            origin_closed |= p.ptype == PacketType::Close;
            let mut out = conn.packet(p.ptype.clone());
            out.body = p.body;
            out.more = p.more;
            out.content_type = p.content_type;
            out.code = p.code;
            if !conn.send(out).await {
                up.cancel().await;
                return Outcome::Gone;
            }
            if data && !up.grant(n).await {
                return Outcome::Gone;
            }
        }
        if client_closed && origin_closed {
            up.done = true;
            return Outcome::Done;
        }
    }
}
