//! The ZeroMQ publish inputs (`spec/publishing.md` §4, §5): the PULL socket
//! on `push_in_spec` (one frame per item) and the SUB socket on
//! `push_in_sub_specs` (two frames: channel, item).
//!
//! Bad messages are logged with 1.36's text and dropped; nothing else is
//! disturbed. Items go to the engine queue, waiting while it is full, so a
//! fast publisher is slowed down by the socket HWM instead of losing data
//! inside the handler.
//!
//! The SUB socket subscribes to a channel's name while the channel has
//! subscribers, as 1.36 does (`spec/publishing.md` §5), so publishers' PUB
//! sockets (and XPUB-aware publishers) see only wanted channels. The engine
//! passes subscription changes over a bounded channel that it never waits
//! on; the socket task applies them between reads.

use std::collections::HashSet;

use bytes::Bytes;
use pushpin_grip::publish::{decode_push_message, decode_sub_message};
use pushpin_zmq::AsyncSocket;
use tokio::sync::mpsc;
use tracing::warn;

use crate::engine::Event;

/// Most messages read per wake-up.
const RECV_BATCH: usize = 256;

/// Which input a loop serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Input {
    /// PULL, one frame.
    Pull,
    /// SUB, two frames.
    Sub,
}

/// Capacity, in change batches, of the engine → SUB task queue.
pub(crate) const SUB_CHANGES_QUEUE: usize = 64;

/// Reads items until the engine goes away; `changes` (SUB only) brings
/// `(channel, subscribed)` updates.
pub(crate) async fn run(
    mut socket: AsyncSocket,
    input: Input,
    events: mpsc::Sender<Event>,
    mut changes: Option<mpsc::Receiver<Vec<(Bytes, bool)>>>,
) -> anyhow::Result<()> {
    let mut batch = Vec::with_capacity(RECV_BATCH);
    let mut subscribed: HashSet<Bytes> = HashSet::new();
    loop {
        batch.clear();
        let mut closed = false;
        let update = match changes.as_mut() {
            Some(rx) => tokio::select! {
                c = rx.recv() => {
                    closed = c.is_none();
                    c
                }
                r = socket.recv_batch(&mut batch, RECV_BATCH) => {
                    r?;
                    None
                }
            },
            None => {
                socket.recv_batch(&mut batch, RECV_BATCH).await?;
                None
            }
        };
        if closed {
            // the engine is gone; the events send below ends the task
            changes = None;
        }
        for (channel, on) in update.into_iter().flatten() {
            if on && subscribed.insert(channel.clone()) {
                socket.subscribe(&channel)?;
            } else if !on && subscribed.remove(&channel) {
                socket.unsubscribe(&channel)?;
            }
        }
        for msg in &batch {
            let item = match input {
                Input::Pull => decode_push_message(msg),
                Input::Sub => decode_sub_message(msg),
            };
            match item {
                Ok(item) => {
                    if events.send(Event::Publish(Box::new(item))).await.is_err() {
                        return Ok(());
                    }
                }
                Err(e) => warn!(error = %e, "publish message dropped"),
            }
        }
    }
}
