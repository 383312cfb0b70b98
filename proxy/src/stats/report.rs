//! The proxy's `report` packets (`spec/internal.md` §8.2), as 1.36's stats manager
//! builds them: one report per route id (`None` = routes without an explicit id), holding
//! the peak number of connections tracked for the route during the interval (lingering
//! hand-offs included), connection minutes (one counted when a connection starts, the rest
//! as whole minutes pass), and the twelve client/server byte and message counters. The
//! proxy never fills `received`, `sent` or `http-response-sent`, so they are always 0.
//!
//! A route's report is sent every interval while it exists; it is created by a connection
//! or a counter and dropped after a report that found no connection on the route.
//!
//! Sessions count into a [`Tally`] of their own (uncontended atomics, no lock); the stats
//! task drains the tallies of live connections at every report and a connection's last
//! counts when it ends or is handed off.
//!
//! Pure: time is a `now` argument.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use pushpin_internal::Report;

/// How long an accepted connection stays in the table after the hand-off (1.36:
/// `connectionLinger`, 60 s).
pub(crate) const LINGER: Duration = Duration::from_secs(60);
const MINUTE: Duration = Duration::from_secs(60);
const COUNTERS: usize = 12;

/// One of the twelve report counters (1.36 `Stats::Counter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counter {
    ClientHeaderBytesReceived = 0,
    ClientHeaderBytesSent = 1,
    ClientContentBytesReceived = 2,
    ClientContentBytesSent = 3,
    ClientMessagesReceived = 4,
    ClientMessagesSent = 5,
    ServerHeaderBytesReceived = 6,
    ServerHeaderBytesSent = 7,
    ServerContentBytesReceived = 8,
    ServerContentBytesSent = 9,
    ServerMessagesReceived = 10,
    ServerMessagesSent = 11,
}

/// Plain counter values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counters([u64; COUNTERS]);

impl Counters {
    /// The value of `c`.
    pub(crate) fn get(&self, c: Counter) -> u64 {
        self.0.get(c as usize).copied().unwrap_or(0)
    }

    /// Adds `n` to `c`.
    #[cfg(test)]
    pub(crate) fn inc(&mut self, c: Counter, n: u64) {
        if let Some(v) = self.0.get_mut(c as usize) {
            *v = v.saturating_add(n);
        }
    }

    /// Adds every counter of `other`.
    pub(crate) fn add(&mut self, other: &Self) {
        for (v, o) in self.0.iter_mut().zip(other.0) {
            *v = v.saturating_add(o);
        }
    }

    /// All zero.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.iter().all(|v| *v == 0)
    }
}

/// A session's running counts, shared with the stats task.
#[derive(Debug, Default)]
pub(crate) struct Tally([AtomicU64; COUNTERS]);

impl Tally {
    /// Adds `n` to `c`.
    pub(crate) fn add(&self, c: Counter, n: usize) {
        if n == 0 {
            return;
        }
        if let Some(v) = self.0.get(c as usize) {
            v.fetch_add(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed);
        }
    }

    /// Takes the counts so far, leaving zeros.
    pub(crate) fn drain(&self) -> Counters {
        let mut out = Counters::default();
        for (o, v) in out.0.iter_mut().zip(&self.0) {
            *o = v.swap(0, Ordering::Relaxed);
        }
        out
    }
}

/// 1.36 `ZhttpManager::estimateRequestHeaderBytes`: method, encoded path, `?query`, and
/// every header name and value (no separators).
pub(crate) fn request_head_bytes<'a>(
    method: &[u8],
    path_and_query: &[u8],
    headers: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
) -> usize {
    headers.into_iter().fold(
        method.len().saturating_add(path_and_query.len()),
        |t, (n, v)| t.saturating_add(n.len()).saturating_add(v.len()),
    )
}

/// 1.36 `ZhttpManager::estimateResponseHeaderBytes`: status digits, reason, and every
/// header name and value.
pub(crate) fn response_head_bytes<'a>(
    code: u16,
    reason: &[u8],
    headers: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
) -> usize {
    // decimal digits of the status code, without formatting it
    let digits = usize::try_from(code.checked_ilog10().map_or(1, |d| d + 1)).unwrap_or(5);
    headers
        .into_iter()
        .fold(digits.saturating_add(reason.len()), |t, (n, v)| {
            t.saturating_add(n.len()).saturating_add(v.len())
        })
}

/// The path and query of an absolute URI as sent on the wire (`/p?q`).
pub(crate) fn path_and_query(uri: &[u8]) -> &[u8] {
    let rest = uri
        .windows(3)
        .position(|w| w == b"://")
        .and_then(|at| uri.get(at.saturating_add(3)..))
        .unwrap_or(uri);
    match rest.iter().position(|&c| c == b'/' || c == b'?') {
        Some(at) => rest.get(at..).unwrap_or_default(),
        None => b"",
    }
}

#[derive(Debug)]
struct RouteReport {
    connections_max: u64,
    stale: bool,
    minutes: u64,
    counters: Counters,
    start: Instant,
}

impl RouteReport {
    fn new(now: Instant) -> Self {
        Self {
            connections_max: 0,
            stale: true,
            minutes: 0,
            counters: Counters::default(),
            start: now,
        }
    }
}

#[derive(Debug)]
struct Entry {
    route: Option<Bytes>,
    last_report: Instant,
    linger_until: Option<Instant>,
    tally: Option<Arc<Tally>>,
}

/// The connection table and per-route reports.
#[derive(Debug)]
pub(crate) struct Reports {
    conns: HashMap<Bytes, Entry>,
    per_route: HashMap<Option<Bytes>, usize>,
    reports: HashMap<Option<Bytes>, RouteReport>,
    lingering: VecDeque<(Instant, Bytes)>,
}

fn count(n: u64) -> Option<i64> {
    Some(i64::try_from(n).unwrap_or(i64::MAX))
}

impl Reports {
    pub(crate) fn new() -> Self {
        Self {
            conns: HashMap::new(),
            per_route: HashMap::new(),
            reports: HashMap::new(),
            lingering: VecDeque::new(),
        }
    }

    fn report(&mut self, route: &Option<Bytes>, now: Instant) -> &mut RouteReport {
        self.reports
            .entry(route.clone())
            .or_insert_with(|| RouteReport::new(now))
    }

    fn update_max(&mut self, route: &Option<Bytes>, now: Instant) {
        let conns = self.per_route.get(route).copied().unwrap_or(0);
        let conns = u64::try_from(conns).unwrap_or(u64::MAX);
        let r = self.report(route, now);
        if r.stale {
            r.connections_max = conns;
            r.stale = false;
        } else {
            r.connections_max = r.connections_max.max(conns);
        }
    }

    /// Counts the whole minutes since the entry's last count (lingering entries: none).
    fn update_minutes(&mut self, id: &Bytes, now: Instant) {
        let Some(e) = self.conns.get_mut(id) else {
            return;
        };
        if e.linger_until.is_some() {
            return;
        }
        let mins = now.saturating_duration_since(e.last_report).as_secs() / MINUTE.as_secs();
        if mins == 0 {
            return;
        }
        e.last_report += MINUTE.saturating_mul(u32::try_from(mins).unwrap_or(u32::MAX));
        let route = e.route.clone();
        let r = self.report(&route, now);
        r.minutes = r.minutes.saturating_add(mins);
    }

    fn drain_tally(&mut self, id: &Bytes, now: Instant) {
        let Some(e) = self.conns.get(id) else {
            return;
        };
        let Some(t) = &e.tally else {
            return;
        };
        let c = t.drain();
        if !c.is_empty() {
            let route = e.route.clone();
            self.add_counters(&route, &c, now);
        }
    }

    fn unlink(&mut self, id: &Bytes) -> Option<Entry> {
        let e = self.conns.remove(id)?;
        if let Some(n) = self.per_route.get_mut(&e.route) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_route.remove(&e.route);
            }
        }
        Some(e)
    }

    /// Drops lingering connections whose time is up (without touching the report's peak,
    /// as 1.36).
    pub(crate) fn expire(&mut self, now: Instant) {
        while let Some((at, id)) = self.lingering.front() {
            if *at > now {
                break;
            }
            let (at, id) = (*at, id.clone());
            self.lingering.pop_front();
            if self.conns.get(&id).and_then(|e| e.linger_until) == Some(at) {
                self.unlink(&id);
            }
        }
    }

    /// A connection started (or a retry took back a handed-off one: `true`, no new
    /// minute counted).
    pub(crate) fn add(
        &mut self,
        id: Bytes,
        route: Option<Bytes>,
        tally: Option<Arc<Tally>>,
        now: Instant,
    ) -> bool {
        self.expire(now);
        let mut last_report = now;
        let replacing = if self.conns.contains_key(&id) {
            self.drain_tally(&id, now);
            if let Some(old) = self.unlink(&id) {
                last_report = old.last_report;
            }
            true
        } else {
            false
        };
        *self.per_route.entry(route.clone()).or_default() += 1;
        self.conns.insert(
            id,
            Entry {
                route: route.clone(),
                last_report,
                linger_until: None,
                tally,
            },
        );
        self.update_max(&route, now);
        if !replacing {
            // minutes are rounded up: one counts at once
            let r = self.report(&route, now);
            r.minutes = r.minutes.saturating_add(1);
        }
        replacing
    }

    /// A connection ended here (`linger: false`) or was handed to the handler (`true`:
    /// it stays counted for [`LINGER`]).
    pub(crate) fn remove(&mut self, id: &Bytes, linger: bool, now: Instant) {
        self.expire(now);
        if !self.conns.contains_key(id) {
            return;
        }
        self.drain_tally(id, now);
        self.update_minutes(id, now);
        let route = if linger {
            let until = now + LINGER;
            let Some(e) = self.conns.get_mut(id) else {
                return;
            };
            if e.linger_until.is_none() {
                e.linger_until = Some(until);
                e.tally = None;
                self.lingering.push_back((until, id.clone()));
            }
            e.route.clone()
        } else {
            match self.unlink(id) {
                Some(e) => e.route,
                None => return,
            }
        };
        self.update_max(&route, now);
    }

    /// Whether `id` is tracked (lingering included).
    #[cfg(test)]
    pub(crate) fn contains(&self, id: &[u8]) -> bool {
        self.conns.contains_key(id)
    }

    /// Counts of a session that is not in the table (an intreq request).
    pub(crate) fn add_counters(&mut self, route: &Option<Bytes>, c: &Counters, now: Instant) {
        self.report(route, now).counters.add(c);
    }

    /// The reports due now, the global one (`None`) first then by route id; each report is
    /// reset, and dropped when it found no connection.
    pub(crate) fn take(&mut self, now: Instant) -> Vec<(Option<Bytes>, Report)> {
        self.expire(now);
        let live: Vec<Bytes> = self
            .conns
            .iter()
            .filter(|(_, e)| e.tally.is_some())
            .map(|(id, _)| id.clone())
            .collect();
        for id in &live {
            self.drain_tally(id, now);
        }
        let mut routes: Vec<Option<Bytes>> = self.reports.keys().cloned().collect();
        routes.sort();
        let mut out = Vec::with_capacity(routes.len());
        for route in routes {
            if self.reports.get(&route).is_some_and(|r| r.stale) {
                self.update_max(&route, now);
            }
            let Some(r) = self.reports.get_mut(&route) else {
                continue;
            };
            let c = &r.counters;
            let n = |k: Counter| count(c.get(k));
            let report = Report {
                connections: count(r.connections_max),
                minutes: count(r.minutes),
                received: Some(0),
                sent: Some(0),
                http_response_sent: Some(0),
                duration: count(
                    u64::try_from(now.saturating_duration_since(r.start).as_millis())
                        .unwrap_or(u64::MAX),
                ),
                client_header_bytes_received: n(Counter::ClientHeaderBytesReceived),
                client_header_bytes_sent: n(Counter::ClientHeaderBytesSent),
                client_content_bytes_received: n(Counter::ClientContentBytesReceived),
                client_content_bytes_sent: n(Counter::ClientContentBytesSent),
                client_messages_received: n(Counter::ClientMessagesReceived),
                client_messages_sent: n(Counter::ClientMessagesSent),
                server_header_bytes_received: n(Counter::ServerHeaderBytesReceived),
                server_header_bytes_sent: n(Counter::ServerHeaderBytesSent),
                server_content_bytes_received: n(Counter::ServerContentBytesReceived),
                server_content_bytes_sent: n(Counter::ServerContentBytesSent),
                server_messages_received: n(Counter::ServerMessagesReceived),
                server_messages_sent: n(Counter::ServerMessagesSent),
                ..Report::default()
            };
            let empty = r.connections_max == 0;
            r.start = now;
            r.stale = true;
            r.minutes = 0;
            r.counters = Counters::default();
            if empty {
                self.reports.remove(&route);
            }
            out.push((route, report));
        }
        out
    }
}

#[cfg(test)]
mod tests;
