//! The proxy's stats socket (`spec/internal.md` §8): a bound PUB carrying `conn`
//! packets when a request starts (and a final refresh when it is accepted, after which the
//! handler reports it) or ends (`unavailable`), plus `activity` and `counts` flushed
//! 100 ms after the first event of a batch, per explicit route.
//!
//! Sessions report through a bounded queue with `try_send`: stats are best effort, so a
//! full queue drops the event (a log line at debug) rather than slowing a request.

use std::collections::HashMap;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use pushpin_internal::{ConnectionType, StatsBody, StatsPacket};
use pushpin_zmq::{AsyncSocket, Multipart};
use tokio::sync::mpsc;
use tracing::debug;

/// Events queued from all sessions.
const CAPACITY: usize = 8192;
/// Delay between the first counted event and the flush of activity and counts.
const FLUSH_DELAY: Duration = Duration::from_millis(100);

/// What a session reports.
#[derive(Debug)]
pub(crate) enum StatsEvent {
    /// A request started (`counted`: not a retry) or was refreshed before hand-off.
    Conn {
        /// `<sender>:<id>`.
        id: Bytes,
        /// Client address.
        peer_address: Option<Bytes>,
        /// TLS client.
        ssl: bool,
        /// Explicit route id.
        route: Option<Bytes>,
        /// Count it as a new request.
        counted: bool,
    },
    /// The request ended here (not handed off).
    Gone {
        /// `<sender>:<id>`.
        id: Bytes,
        /// Explicit route id.
        route: Option<Bytes>,
    },
}

/// A handle for reporting.
#[derive(Debug, Clone)]
pub(crate) struct StatsHandle {
    tx: mpsc::Sender<StatsEvent>,
}

impl StatsHandle {
    /// Reports `ev`, dropping it when the queue is full.
    pub(crate) fn report(&self, ev: StatsEvent) {
        if self.tx.try_send(ev).is_err() {
            debug!("stats queue full; event dropped");
        }
    }
}

/// Creates the handle and the task publishing on `sock`.
pub(crate) fn publisher(
    sock: AsyncSocket,
    from: Bytes,
    ttl: Duration,
) -> (StatsHandle, impl Future<Output = anyhow::Result<()>>) {
    let (tx, rx) = mpsc::channel(CAPACITY);
    (StatsHandle { tx }, run(sock, rx, from, ttl))
}

async fn send(
    sock: &mut AsyncSocket,
    from: &Bytes,
    route: Option<Bytes>,
    body: StatsBody,
) -> anyhow::Result<()> {
    let mut buf = BytesMut::new();
    StatsPacket {
        from: Some(from.clone()),
        route,
        body,
    }
    .encode(&mut buf);
    sock.send(Multipart::from(buf.freeze())).await?;
    Ok(())
}

async fn run(
    mut sock: AsyncSocket,
    mut rx: mpsc::Receiver<StatsEvent>,
    from: Bytes,
    ttl: Duration,
) -> anyhow::Result<()> {
    let ttl = u32::try_from(ttl.as_secs()).unwrap_or(u32::MAX);
    // per route (None = no explicit route): (activity, requests received)
    let mut pending: HashMap<Option<Bytes>, (u32, u32)> = HashMap::new();
    let mut flush_at: Option<tokio::time::Instant> = None;
    loop {
        let sleep = async {
            match flush_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            ev = rx.recv() => {
                let Some(ev) = ev else { return Ok(()) };
                match ev {
                    StatsEvent::Conn { id, peer_address, ssl, route, counted } => {
                        send(&mut sock, &from, route.clone(), StatsBody::Connected {
                            id,
                            conn_type: ConnectionType::Http,
                            peer_address,
                            ssl,
                            ttl,
                        }).await?;
                        if counted {
                            let e = pending.entry(route).or_default();
                            e.0 += 1;
                            e.1 += 1;
                            flush_at.get_or_insert_with(|| tokio::time::Instant::now() + FLUSH_DELAY);
                        }
                    }
                    StatsEvent::Gone { id, route } => {
                        send(&mut sock, &from, route, StatsBody::Disconnected { id }).await?;
                    }
                }
            }
            () = sleep => {
                flush_at = None;
                for (route, (activity, received)) in pending.drain() {
                    send(&mut sock, &from, route.clone(), StatsBody::Activity { count: activity }).await?;
                    send(&mut sock, &from, route, StatsBody::Counts { requests_received: Some(received) }).await?;
                }
            }
        }
    }
}
