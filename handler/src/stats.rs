//! The handler's stats output on `stats_spec` (`spec/publishing.md` §10,
//! `spec/internal.md` §8): `conn`, `sub`, `message`, `activity` and
//! `report` packets, encoded per `stats_format`.
//!
//! The engine records events here; the frames leave in batches to the stats
//! PUB sender task. That queue is bounded ([`STATS_QUEUE`] batches): when it
//! is full the batch is dropped and counted (stats are lossy by design, as
//! the PUB socket itself drops at its HWM).

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
        }
    }

    fn emit(&mut self, body: StatsBody) {
        if !self.settings.enabled {
            return;
        }
        let packet = StatsPacket {
            from: Some(self.from.clone()),
            route: None,
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
        let report = Report {
            connections: Some(self.max_connections.max(current)),
            received: Some(std::mem::take(&mut self.received)),
            sent: Some(std::mem::take(&mut self.sent)),
            http_response_sent: Some(std::mem::take(&mut self.http_response_sent)),
            duration: Some(i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)),
            ..Report::default()
        };
        self.max_connections = current;
        self.emit(StatsBody::Report(Box::new(report)));
    }
}
