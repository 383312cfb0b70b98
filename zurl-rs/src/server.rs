//! The ZeroMQ side (spec/zhttp.md §2, §3): binds zurl's sockets and runs one task per
//! socket. PULL (`in_spec`) takes first packets and spawns sessions; DEALER
//! (`in_stream_spec`, identity = instance id) routes follow-ups to sessions through the
//! registry; PUB (`out_spec`) writes every stream-mode packet from one bounded queue, in
//! batches; ROUTER (`in_req_spec`) takes req-mode requests and sends their replies.
//!
//! Queues and limits: `max_open_requests` is a semaphore; the PULL and ROUTER readers wait
//! for a free slot *before* reading (without reserving it), so at the limit they stop
//! reading and ZeroMQ's HWM pushes back on the initiator, as zurl does. A reader that lost
//! the race for the last slot holds at most one read message until a slot frees. The PUB queue holds [`PUB_QUEUE`] messages;
//! sessions wait when it is full (the PUB socket itself drops at its HWM, like zurl's).

use std::sync::Arc;

use bytes::Bytes;
use pushpin_zhttp::{Format, Ids, Limits, Packet, PacketType, framing};
use pushpin_zmq::{AsyncSocket, Hwm, Multipart, SocketKind, SocketSpec};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinSet;
use tracing::{debug, warn};

use crate::ctx::{Ctx, Dest, Output, unknown_session_cancel};
use crate::request::Request;
use crate::session::Session;

/// Messages queued for the PUB socket before sessions wait.
pub const PUB_QUEUE: usize = 4096;
/// Replies queued for the req ROUTER before sessions wait.
pub const REPLY_QUEUE: usize = 1024;
/// Messages taken from a socket or written to it per wake-up.
pub const BATCH: usize = 64;

/// Limits for decoding packets from initiators.
fn limits() -> Limits {
    Limits::default()
}

/// Writes queued messages to the PUB socket.
pub async fn pub_writer(mut sock: AsyncSocket, mut rx: mpsc::Receiver<Multipart>) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut queue = std::collections::VecDeque::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        queue.extend(batch.drain(..));
        if let Err(e) = sock.send_all(&mut queue).await {
            warn!(error = %e, "pub send failed");
            queue.clear();
        }
    }
}

/// Reads first packets from PULL and spawns sessions.
pub async fn pull_reader(mut sock: AsyncSocket, ctx: Arc<Ctx>, sem: Arc<Semaphore>) {
    let mut sessions = JoinSet::new();
    loop {
        while sessions.try_join_next().is_some() {}
        // Wait for a free slot without reserving it, so the req reader can use it too.
        if sem.acquire().await.is_err() {
            return;
        }
        let msg = match sock.recv().await {
            Ok(m) => m,
            Err(e) => {
                warn!(error = %e, "in_spec receive failed");
                continue;
            }
        };
        // Normally immediate; waits only if the req reader took the last slot meanwhile.
        let Ok(permit) = Arc::clone(&sem).acquire_owned().await else {
            return;
        };
        let Ok(payload) = framing::single(&msg) else {
            warn!(frames = msg.len(), "in_spec: expected one frame");
            continue;
        };
        let (packet, format) = match Packet::decode_with_format(payload, &limits()) {
            Ok(p) => p,
            Err(e) => {
                warn!(error = %e, "in_spec: invalid packet");
                reject_undecodable(&ctx, payload).await;
                continue;
            }
        };
        start_stream(&ctx, packet, format, permit, &mut sessions).await;
    }
}

async fn start_stream(
    ctx: &Arc<Ctx>,
    p: Packet,
    format: Format,
    permit: OwnedSemaphorePermit,
    sessions: &mut JoinSet<()>,
) {
    let id = p.id().cloned();
    let dest = match (&id, p.from.is_empty()) {
        (Some(_), false) => Dest::Pub { to: p.from.clone() },
        _ => Dest::None,
    };
    if matches!(p.ptype, PacketType::Cancel | PacketType::Error) {
        return;
    }
    let mut out = Output::new(
        dest,
        ctx.pub_tx.clone(),
        ctx.instance_id.clone(),
        id.clone(),
        format,
        p.user_data.clone(),
    );
    let req = match Request::from_packet(&p, false) {
        Ok(r) => r,
        Err(e) => {
            debug!(error = %e, "bad request");
            out.error(pushpin_zhttp::Condition::BadRequest).await;
            return;
        }
    };
    let (entry, rx) = match (&id, p.from.is_empty()) {
        (Some(id), false) => {
            let (entry, rx) = ctx.registry.register(p.from.clone(), id.0.clone());
            (Some(entry), Some(rx))
        }
        _ => (None, None),
    };
    let session = Session::new(Arc::clone(ctx), out, req, rx);
    let span =
        tracing::debug_span!("session", rid = %id.map(|i| i.to_string()).unwrap_or_default());
    sessions.spawn(tracing::Instrument::instrument(
        async move {
            session.run().await;
            drop(entry);
            drop(permit);
        },
        span,
    ));
}

/// zurl answers a packet it cannot parse with `error`/`bad-request` when `from` and `id`
/// can still be read from the dictionary (spec/zhttp.md §5.1).
async fn reject_undecodable(ctx: &Ctx, payload: &Bytes) {
    let Some((from, id)) = salvage_address(payload) else {
        return;
    };
    let p = Packet {
        from: ctx.instance_id.clone(),
        ids: Ids::One(pushpin_zhttp::Id(id)),
        ptype: PacketType::Error,
        condition: Some(pushpin_zhttp::Condition::BadRequest),
        ..Packet::default()
    };
    let _ = ctx
        .pub_tx
        .send(Multipart::from(framing::pub_frame(&from, &p)))
        .await;
}

/// `from` and a string `id` of a `T` dictionary that does not decode as a packet.
fn salvage_address(payload: &Bytes) -> Option<(Bytes, Bytes)> {
    let body = payload.strip_prefix(b"T")?;
    let (frame, _) = pushpin_tnetstring::parse_frame(body, &limits().tnet).ok()??;
    let (mut from, mut id) = (None, None);
    for entry in frame.map().ok()? {
        let (key, value) = entry.ok()?;
        match key {
            b"from" => from = value.as_bytes().ok().map(Bytes::copy_from_slice),
            b"id" => id = value.as_bytes().ok().map(Bytes::copy_from_slice),
            _ => {}
        }
    }
    Some((from.filter(|f| !f.is_empty())?, id?))
}

/// Reads follow-up packets from the DEALER and routes them to their sessions.
pub async fn dealer_reader(mut sock: AsyncSocket, ctx: Arc<Ctx>) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        batch.clear();
        if let Err(e) = sock.recv_batch(&mut batch, BATCH).await {
            warn!(error = %e, "in_stream_spec receive failed");
            continue;
        }
        for msg in batch.drain(..) {
            let Ok(payload) = framing::parse_dealer(&msg) else {
                warn!(frames = msg.len(), "in_stream_spec: bad envelope");
                continue;
            };
            match Packet::decode(payload, &limits()) {
                Ok(p) => route(&ctx, p).await,
                Err(e) => {
                    warn!(error = %e, "in_stream_spec: invalid packet");
                    reject_undecodable(&ctx, payload).await;
                }
            }
        }
    }
}

async fn route(ctx: &Ctx, p: Packet) {
    if p.from.is_empty() {
        debug!("follow-up without from, dropped");
        return;
    }
    let quiet = matches!(p.ptype, PacketType::Cancel | PacketType::Error);
    let targets: Vec<(Bytes, Option<u32>)> =
        p.targets().map(|(id, seq)| (id.0.clone(), seq)).collect();
    for (id, seq) in targets {
        match ctx.registry.get(&p.from, &id) {
            Some(tx) => {
                let mut one = p.clone();
                one.ids = Ids::One(pushpin_zhttp::Id(id));
                one.seq = seq;
                // Waits when the session's queue is full (backpressure, see ctx.rs).
                let _ = tx.send(Box::new(one)).await;
            }
            None if !quiet => {
                let msg = unknown_session_cancel(&p.from, &id);
                let _ = ctx.pub_tx.send(msg).await;
            }
            None => {}
        }
    }
}

/// Serves the req interface: requests in, replies out, on one ROUTER.
pub async fn router_task(mut sock: AsyncSocket, ctx: Arc<Ctx>, sem: Arc<Semaphore>) {
    let (reply_tx, mut reply_rx) = mpsc::channel::<Multipart>(REPLY_QUEUE);
    let mut sessions = JoinSet::new();
    // A request read while a slot looked free waits here for its permit (at most one).
    let mut pending: Option<Multipart> = None;
    let mut ready = false;
    loop {
        while sessions.try_join_next().is_some() {}
        tokio::select! {
            r = sem.acquire(), if !ready && pending.is_none() => match r {
                Ok(_) => ready = true,
                Err(_) => return,
            },
            m = sock.recv(), if ready && pending.is_none() => match m {
                Ok(msg) => {
                    ready = false;
                    pending = Some(msg);
                }
                Err(e) => warn!(error = %e, "in_req_spec receive failed"),
            },
            p = Arc::clone(&sem).acquire_owned(), if pending.is_some() => match p {
                Ok(permit) => {
                    if let Some(msg) = pending.take() {
                        start_req(&ctx, msg, &reply_tx, permit, &mut sessions).await;
                    }
                }
                Err(_) => return,
            },
            Some(reply) = reply_rx.recv() => {
                if let Err(e) = sock.send(reply).await {
                    warn!(error = %e, "in_req_spec send failed");
                }
            }
        }
    }
}

async fn start_req(
    ctx: &Arc<Ctx>,
    msg: Multipart,
    reply_tx: &mpsc::Sender<Multipart>,
    permit: OwnedSemaphorePermit,
    sessions: &mut JoinSet<()>,
) {
    let Ok(routed) = framing::parse_router(&msg) else {
        warn!(frames = msg.len(), "in_req_spec: bad envelope");
        return;
    };
    let (p, format) = match Packet::decode_with_format(routed.payload, &limits()) {
        Ok(p) => p,
        Err(e) => {
            // zurl drops undecodable packets on this interface silently.
            debug!(error = %e, "in_req_spec: invalid packet");
            return;
        }
    };
    let dest = Dest::Router {
        envelope: routed.envelope.to_vec(),
        tx: reply_tx.clone(),
    };
    let id = p.id().cloned();
    let mut out = Output::new(
        dest,
        ctx.pub_tx.clone(),
        Bytes::new(),
        id.clone(),
        format,
        p.user_data.clone(),
    );
    let req = match Request::from_packet(&p, true) {
        Ok(r) => r,
        Err(e) => {
            debug!(error = %e, "bad request");
            out.error(pushpin_zhttp::Condition::BadRequest).await;
            return;
        }
    };
    let session = Session::new(Arc::clone(ctx), out, req, None);
    let span =
        tracing::debug_span!("session", rid = %id.map(|i| i.to_string()).unwrap_or_default());
    sessions.spawn(tracing::Instrument::instrument(
        async move {
            session.run().await;
            drop(permit);
        },
        span,
    ));
}

/// Builds a bound socket.
pub fn bind(
    kind: SocketKind,
    hwm: Hwm,
    spec: &pushpin_config::ZmqSpec,
    identity: Option<&Bytes>,
    ipc_file_mode: Option<u32>,
) -> anyhow::Result<AsyncSocket> {
    let spec = SocketSpec::parse(&spec.to_string())?;
    let mut b = AsyncSocket::builder(kind, hwm).bind(spec);
    if let Some(id) = identity {
        b = b.identity(id.clone());
    }
    if let Some(mode) = ipc_file_mode {
        b = b.ipc_file_mode(mode);
    }
    Ok(b.build()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salvages_from_and_id_of_a_bad_packet() {
        let ok = Bytes::from_static(b"T36:4:from,1:c,2:id,1:x,7:headers,3:bad,}");
        assert!(Packet::decode(&ok, &limits()).is_err());
        assert_eq!(
            salvage_address(&ok),
            Some((Bytes::from_static(b"c"), Bytes::from_static(b"x")))
        );
        assert_eq!(salvage_address(&Bytes::from_static(b"T9:2:id,1:x,}")), None);
        assert_eq!(salvage_address(&Bytes::from_static(b"garbage")), None);
    }
}
