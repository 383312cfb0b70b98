//! The proxy's stats socket (`spec/internal.md` §8): a bound PUB carrying `conn`
//! packets when a request starts (and a final refresh when it is accepted, after which the
//! handler reports it) or ends (`unavailable`), plus `activity` and `counts` flushed
//! 100 ms after the first event of a batch, per explicit route, and a `report` per route
//! every `stats_report_interval` ([`report`]).
//!
//! Sessions report through a bounded queue with `try_send`: stats are best effort, so a
//! full queue drops the event (a log line at debug) rather than slowing a request.
//! Byte and message counts do not travel through the queue per message: each session
//! counts into its own [`Tally`], which the task reads.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use pushpin_internal::{ConnectionType, StatsBody, StatsPacket};
use pushpin_zmq::{AsyncSocket, Multipart};
use tokio::sync::mpsc;
use tracing::debug;

pub(crate) mod report;

pub(crate) use report::{Counter, Counters, Tally};

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
        /// The hand-off to the handler: a final refresh, then the entry lingers.
        linger: bool,
        /// The session's byte and message counts.
        tally: Arc<Tally>,
    },
    /// The request ended here (not handed off).
    Gone {
        /// `<sender>:<id>`.
        id: Bytes,
        /// Explicit route id.
        route: Option<Bytes>,
    },
    /// Counts of a session that has no connection entry (intreq requests).
    Counters {
        /// Explicit route id.
        route: Option<Bytes>,
        /// The counts.
        counts: Counters,
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
    report_interval: Duration,
) -> (StatsHandle, impl Future<Output = anyhow::Result<()>>) {
    let (tx, rx) = mpsc::channel(CAPACITY);
    (
        StatsHandle { tx },
        run(sock, rx, from, ttl, report_interval),
    )
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
    report_interval: Duration,
) -> anyhow::Result<()> {
    let ttl = u32::try_from(ttl.as_secs()).unwrap_or(u32::MAX);
    // 1.36 keeps no report state at all when the interval is 0
    let reporting = !report_interval.is_zero();
    let mut reports = report::Reports::new();
    let mut report_tick = reporting.then(|| {
        let mut i = tokio::time::interval_at(
            tokio::time::Instant::now() + report_interval,
            report_interval,
        );
        i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        i
    });
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
        let report_due = async {
            match report_tick.as_mut() {
                Some(i) => i.tick().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            ev = rx.recv() => {
                let Some(ev) = ev else { return Ok(()) };
                let now = tokio::time::Instant::now().into_std();
                match ev {
                    StatsEvent::Conn { id, peer_address, ssl, route, counted, linger, tally } => {
                        if reporting {
                            if linger {
                                reports.remove(&id, true, now);
                            } else {
                                reports.add(id.clone(), route.clone(), Some(tally), now);
                            }
                        }
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
                        if reporting {
                            reports.remove(&id, false, now);
                        }
                        send(&mut sock, &from, route, StatsBody::Disconnected { id }).await?;
                    }
                    StatsEvent::Counters { route, counts } => {
                        if reporting {
                            reports.add_counters(&route, &counts, now);
                        }
                    }
                }
            }
            _ = report_due => {
                let now = tokio::time::Instant::now().into_std();
                for (route, r) in reports.take(now) {
                    send(&mut sock, &from, route, StatsBody::Report(Box::new(r))).await?;
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
