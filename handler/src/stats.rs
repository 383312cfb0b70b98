//! The handler's stats output on `stats_spec` (`spec/publishing.md` §10,
//! `spec/internal.md` §8): `conn`, `sub`, `message`, `activity` and
//! `report` packets, encoded per `stats_format`.
//!
//! The engine records events here; the frames leave in batches to the stats
//! PUB sender task. That queue is bounded ([`STATS_QUEUE`] batches): when it
//! is full the batch is dropped and counted (stats are lossy by design, as
//! the PUB socket itself drops at its HWM).
//!
//! The proxy's `report` packets are not forwarded: their twelve byte and
//! message counters are merged, per route, into our next report (1.36
//! `StatsManager::processExternalPacket`); a route only the proxy reported
//! gets a report of its own carrying them.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use pushpin_grip::publish::FormatKind;
use pushpin_internal::wscontrol::Known;
use pushpin_internal::{ConnectionType, Report, StatsBody, StatsPacket, SubscriptionMode};

/// Capacity, in batches, of the engine → stats PUB queue.
pub(crate) const STATS_QUEUE: usize = 64;

/// Stats settings.
#[derive(Debug, Clone)]
pub(crate) struct StatsSettings {
    /// Whether a stats socket exists at all.
    pub(crate) enabled: bool,
    /// `stats_format=json`.
    pub(crate) json: bool,
    /// `[global] stats_connection_ttl`.
    pub(crate) connection_ttl: Duration,
    /// `stats_subscription_ttl`.
    pub(crate) subscription_ttl: Duration,
    /// `stats_report_interval` (zero = off).
    pub(crate) report_interval: Duration,
}

/// Pending stats frames and report counters.
#[derive(Debug)]
pub(crate) struct StatsOut {
    settings: StatsSettings,
    from: Bytes,
    frames: Vec<Bytes>,
    activity: u32,
    received: i64,
    sent: i64,
    http_response_sent: i64,
    max_connections: i64,
    last_report: Instant,
    last_refresh: Instant,
    /// The proxy's counters per route id (`None`: the global report), with
    /// when the route's report period began.
    merged: HashMap<Option<Bytes>, (Counters, Instant)>,
}

/// The twelve byte/message counters of a report, in `Report` field order.
type Counters = [i64; 12];

fn counters_of(r: &Report) -> Counters {
    [
        r.client_header_bytes_received,
        r.client_header_bytes_sent,
        r.client_content_bytes_received,
        r.client_content_bytes_sent,
        r.client_messages_received,
        r.client_messages_sent,
        r.server_header_bytes_received,
        r.server_header_bytes_sent,
        r.server_content_bytes_received,
        r.server_content_bytes_sent,
        r.server_messages_received,
        r.server_messages_sent,
    ]
    .map(|v| v.unwrap_or(0).max(0))
}

fn set_counters(r: &mut Report, c: &Counters) {
    let [a, b, cc, d, e, f, g, h, i, j, k, l] = c.map(Some);
    r.client_header_bytes_received = a;
    r.client_header_bytes_sent = b;
    r.client_content_bytes_received = cc;
    r.client_content_bytes_sent = d;
    r.client_messages_received = e;
    r.client_messages_sent = f;
    r.server_header_bytes_received = g;
    r.server_header_bytes_sent = h;
    r.server_content_bytes_received = i;
    r.server_content_bytes_sent = j;
    r.server_messages_received = k;
    r.server_messages_sent = l;
}

fn millis(d: Duration) -> Option<i64> {
    Some(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn secs(d: Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}

impl StatsOut {
    pub(crate) fn new(settings: StatsSettings, from: Bytes, now: Instant) -> Self {
        Self {
            settings,
            from,
            frames: Vec::new(),
            activity: 0,
            received: 0,
            sent: 0,
            http_response_sent: 0,
            max_connections: 0,
            last_report: now,
            last_refresh: now,
            merged: HashMap::new(),
        }
    }

    fn emit(&mut self, body: StatsBody) {
        self.emit_route(None, body);
    }

    fn emit_route(&mut self, route: Option<Bytes>, body: StatsBody) {
        if !self.settings.enabled {
            return;
        }
        let packet = StatsPacket {
            from: Some(self.from.clone()),
            route,
            body,
        };
        let mut buf = BytesMut::new();
        if self.settings.json {
            packet.encode_json(&mut buf);
        } else {
            packet.encode(&mut buf);
        }
        self.frames.push(buf.freeze());
    }

    /// Frames to send, if any.
    pub(crate) fn take(&mut self) -> Vec<Bytes> {
        std::mem::take(&mut self.frames)
    }

    /// A connection was taken over.
    pub(crate) fn connected(
        &mut self,
        id: Bytes,
        peer: Option<Bytes>,
        ssl: bool,
        connections: usize,
    ) {
        self.max_connections = self
            .max_connections
            .max(i64::try_from(connections).unwrap_or(i64::MAX));
        let ttl = secs(self.settings.connection_ttl);
        self.emit(StatsBody::Connected {
            id,
            conn_type: ConnectionType::Http,
            peer_address: peer,
            ssl,
            ttl,
        });
    }

    /// A connection ended.
    pub(crate) fn disconnected(&mut self, id: Bytes) {
        self.emit(StatsBody::Disconnected { id });
    }

    /// A channel's subscriber count in one mode changed.
    pub(crate) fn subscribers(&mut self, mode: SubscriptionMode, channel: &Bytes, count: usize) {
        if count == 0 {
            self.emit(StatsBody::Unsubscribed {
                mode: Known::Known(mode),
                channel: channel.clone(),
            });
        } else {
            let ttl = secs(self.settings.subscription_ttl);
            self.emit(StatsBody::Subscribed {
                mode: Known::Known(mode),
                channel: channel.clone(),
                ttl,
                subscribers: Some(u32::try_from(count).unwrap_or(u32::MAX)),
            });
        }
    }

    /// An item was fanned out on one transport.
    pub(crate) fn message(
        &mut self,
        channel: &Bytes,
        item_id: Option<&str>,
        count: usize,
        transport: FormatKind,
    ) {
        self.emit(StatsBody::Message {
            channel: channel.clone(),
            item_id: item_id.map(|i| Bytes::copy_from_slice(i.as_bytes())),
            count: u32::try_from(count).unwrap_or(u32::MAX),
            blocks: None,
            transport: Known::Known(transport),
        });
    }

    /// An item was received from a publisher.
    pub(crate) fn received(&mut self) {
        self.received = self.received.saturating_add(1);
    }

    /// A delivery was made (`response`: to a response hold).
    pub(crate) fn sent(&mut self, response: bool) {
        self.sent = self.sent.saturating_add(1);
        if response {
            self.http_response_sent = self.http_response_sent.saturating_add(1);
            self.activity = self.activity.saturating_add(1);
        }
    }

    /// Re-publishes a packet body with our `from` (the proxy's `conn`).
    pub(crate) fn forward(&mut self, body: StatsBody) {
        self.emit(body);
    }

    /// Merges a proxy `report` into our next one for the same route.
    pub(crate) fn merge_report(&mut self, route: Option<Bytes>, report: &Report, now: Instant) {
        if self.settings.report_interval.is_zero() {
            return;
        }
        let add = counters_of(report);
        let (c, _) = self.merged.entry(route).or_insert(([0; 12], now));
        for (v, a) in c.iter_mut().zip(add) {
            *v = v.saturating_add(a);
        }
    }

    /// Adds the proxy's activity units to ours.
    pub(crate) fn add_activity(&mut self, count: u32) {
        self.activity = self.activity.saturating_add(count);
    }

    /// One activity unit (stream keep-alive, held-response delivery).
    pub(crate) fn activity(&mut self) {
        self.activity = self.activity.saturating_add(1);
    }

    /// Whether `conn`/`sub` entries are due for their refresh (every 3/4 of
    /// the shorter ttl, as 1.36 refreshes before consumers expire them);
    /// restarts the period when it returns `true`.
    pub(crate) fn refresh_due(&mut self, now: Instant) -> bool {
        if !self.settings.enabled {
            return false;
        }
        let ttl = self
            .settings
            .connection_ttl
            .min(self.settings.subscription_ttl);
        let period = ttl.mul_f64(0.75);
        if period.is_zero() || now.saturating_duration_since(self.last_refresh) < period {
            return false;
        }
        self.last_refresh = now;
        true
    }

    /// Periodic work: flush activity, send the report when due.
    pub(crate) fn tick(&mut self, now: Instant, connections: usize) {
        if self.activity > 0 {
            let count = std::mem::take(&mut self.activity);
            self.emit(StatsBody::Activity { count });
        }
        let interval = self.settings.report_interval;
        if interval.is_zero() || now.saturating_duration_since(self.last_report) < interval {
            return;
        }
        let duration = now.saturating_duration_since(self.last_report);
        self.last_report = now;
        let current = i64::try_from(connections).unwrap_or(i64::MAX);
        let mut report = Report {
            connections: Some(self.max_connections.max(current)),
            received: Some(std::mem::take(&mut self.received)),
            sent: Some(std::mem::take(&mut self.sent)),
            http_response_sent: Some(std::mem::take(&mut self.http_response_sent)),
            duration: millis(duration),
            ..Report::default()
        };
        let global = self.merged.remove(&None).map_or([0; 12], |(c, _)| c);
        set_counters(&mut report, &global);
        self.max_connections = current;
        self.emit(StatsBody::Report(Box::new(report)));
        // routes only the proxy reported on: their counters in a report of their own
        let mut routes: Vec<_> = self.merged.drain().collect();
        routes.sort_by(|a, b| a.0.cmp(&b.0));
        for (route, (c, since)) in routes {
            let mut report = Report {
                connections: Some(0),
                minutes: Some(0),
                received: Some(0),
                sent: Some(0),
                http_response_sent: Some(0),
                duration: millis(now.saturating_duration_since(since)),
                ..Report::default()
            };
            set_counters(&mut report, &c);
            self.emit_route(route, StatsBody::Report(Box::new(report)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> StatsSettings {
        StatsSettings {
            enabled: true,
            json: false,
            connection_ttl: Duration::from_secs(120),
            subscription_ttl: Duration::from_secs(60),
            report_interval: Duration::from_secs(10),
        }
    }

    fn reports(out: &mut StatsOut) -> Vec<(Option<Bytes>, Report)> {
        out.take()
            .iter()
            .map(|f| StatsPacket::decode(f, &Default::default()).unwrap())
            .filter_map(|p| match p.body {
                StatsBody::Report(r) => Some((p.route, *r)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn proxy_report_counters_are_merged_per_route() {
        let t0 = Instant::now();
        let mut out = StatsOut::new(settings(), Bytes::from_static(b"h"), t0);
        let proxy = Report {
            connections: Some(9),
            minutes: Some(4),
            client_header_bytes_sent: Some(100),
            server_messages_received: Some(2),
            ..Report::default()
        };
        out.merge_report(None, &proxy, t0);
        out.merge_report(None, &proxy, t0);
        out.merge_report(Some(Bytes::from_static(b"main")), &proxy, t0);
        out.tick(t0 + Duration::from_secs(10), 1);
        let r = reports(&mut out);
        assert_eq!(r.len(), 2);
        let (route, g) = &r[0];
        assert_eq!(*route, None);
        assert_eq!(g.connections, Some(1), "connections are our own");
        assert_eq!(g.client_header_bytes_sent, Some(200));
        assert_eq!(g.server_messages_received, Some(4));
        assert_eq!(g.client_content_bytes_sent, Some(0));
        let (route, m) = &r[1];
        assert_eq!(route.as_deref(), Some(&b"main"[..]));
        assert_eq!(m.client_header_bytes_sent, Some(100));
        assert_eq!(m.duration, Some(10_000));
        // merged once: the next report is back to zero, with no route report
        out.tick(t0 + Duration::from_secs(20), 1);
        let r = reports(&mut out);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].1.client_header_bytes_sent, Some(0));
    }
}
