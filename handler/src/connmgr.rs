//! The link to the connection manager (condure, our connmgr, or m2adapter):
//! a PUB socket connected to its input (`condure_out_specs`) that carries
//! every packet of the sessions we hold, and a ROUTER connected to its
//! stream output (`condure_in_stream_specs`) with our instance id as
//! identity, which brings credits, keep-alives, cancels and handoff answers
//! (`spec/zhttp.md` §2.1, §9).
//!
//! The sender runs on its own thread (`pushpin-handler-out`, a one-thread
//! runtime): it takes batches of frames from a bounded channel and queues
//! them with as few wake-ups as possible, on the other core while the engine
//! is still encoding a fan-out. As a task of the main runtime it would sit in
//! the engine's worker's LIFO slot, which other workers cannot steal, and
//! start only once the whole fan-out had been encoded. PUB drops at its HWM
//! (101000, as 1.36). The receiver, a task, decodes packets (bad ones are
//! logged and skipped) and forwards them to the engine in batches, waiting
//! when the engine queue is full.

use std::collections::VecDeque;

use pushpin_zhttp::{Limits, Packet, framing};
use pushpin_zmq::{AsyncSocket, DEFAULT_BATCH, Multipart};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::engine::Event;

/// Runs [`send_loop`] on a dedicated thread; resolves when it ends.
pub(crate) async fn send_thread(
    socket: AsyncSocket,
    frames: mpsc::Receiver<Vec<Multipart>>,
) -> anyhow::Result<()> {
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let span = tracing::Span::current();
    let thread = std::thread::Builder::new()
        .name("pushpin-handler-out".into())
        .spawn(move || {
            let _entered = span.enter();
            let result = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(anyhow::Error::from)
                .and_then(|rt| rt.block_on(send_loop(socket, frames)));
            let _gone = done_tx.send(result);
        })?;
    let result = done_rx
        .await
        .unwrap_or_else(|_| Err(anyhow::anyhow!("connection manager sender thread panicked")));
    // the thread has finished (or panicked) once the sender is gone
    let _joined = thread.join();
    result
}

/// Sends engine frames to the connection manager.
async fn send_loop(
    mut socket: AsyncSocket,
    mut frames: mpsc::Receiver<Vec<Multipart>>,
) -> anyhow::Result<()> {
    let mut queue: VecDeque<Multipart> = VecDeque::new();
    while let Some(batch) = frames.recv().await {
        queue.extend(batch);
        while let Ok(more) = frames.try_recv() {
            queue.extend(more);
        }
        while !queue.is_empty() {
            socket
                .send_batch(&mut queue, DEFAULT_BATCH.max(256))
                .await?;
        }
    }
    Ok(())
}

/// Receives packets from the connection manager.
pub(crate) async fn recv_loop(
    mut socket: AsyncSocket,
    events: mpsc::Sender<Event>,
) -> anyhow::Result<()> {
    let limits = Limits::default();
    let mut batch = Vec::with_capacity(256);
    loop {
        batch.clear();
        socket.recv_batch(&mut batch, 256).await?;
        let mut packets = Vec::with_capacity(batch.len());
        for msg in &batch {
            let payload = match framing::parse_router(msg) {
                Ok(routed) => routed.payload,
                Err(e) => {
                    warn!(error = %e, "connmgr: malformed message");
                    continue;
                }
            };
            match Packet::decode(payload, &limits) {
                Ok(p) => packets.push(p),
                Err(e) => warn!(error = %e, "connmgr: invalid packet"),
            }
        }
        if packets.is_empty() {
            continue;
        }
        debug!(count = packets.len(), "connmgr packets");
        if events.send(Event::Connmgr(packets)).await.is_err() {
            return Ok(());
        }
    }
}
