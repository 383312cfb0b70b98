//! Delivery rate limiting (`message_rate`, `message_hwm`;
//! `spec/publishing.md` §8): deliveries beyond the rate wait in one bounded
//! queue and are released in batches, every 25 ms `ceil(rate·25/1000)` of
//! them when the rate is at least 40/s, else one every `1000/rate` ms, as
//! 1.36 does.
//!
//! The queue holds at most `message_hwm` deliveries (or [`MAX_QUEUED`]
//! without one); a delivery that does not fit is dropped, counted and logged
//! (`exceeded publish hwm`), never lost silently.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pushpin_grip::PublishItem;
use tracing::warn;

/// Queue bound when `message_hwm` is unset but `message_rate` is.
pub(crate) const MAX_QUEUED: usize = 1_000_000;

/// Which format a delivery uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    /// `http-stream` to a stream hold.
    Stream,
    /// `http-response` to a response hold.
    Response,
    /// `ws-message` to a WebSocket session.
    Ws,
}

/// One queued delivery.
#[derive(Debug)]
pub(crate) struct Delivery {
    /// The session.
    pub(crate) token: u64,
    /// The item (shared by every delivery of one publish).
    pub(crate) item: Arc<PublishItem>,
    /// The format.
    pub(crate) transport: Transport,
}

/// The limiter; with no rate every delivery is admitted at once.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    rate: Option<(Duration, u32)>,
    hwm: usize,
    queue: VecDeque<Delivery>,
    budget: u32,
    window_start: Option<Instant>,
    dropped: u64,
}

impl RateLimiter {
    /// A limiter for `rate` deliveries/s and at most `hwm` queued.
    pub(crate) fn new(rate: Option<u32>, hwm: Option<u32>) -> Self {
        let rate = rate.filter(|r| *r > 0).map(|r| {
            if r >= 40 {
                (Duration::from_millis(25), (r * 25).div_ceil(1000))
            } else {
                (Duration::from_millis(u64::from(1000 / r)), 1)
            }
        });
        Self {
            rate,
            hwm: hwm
                .filter(|h| *h > 0)
                .and_then(|h| usize::try_from(h).ok())
                .unwrap_or(MAX_QUEUED),
            queue: VecDeque::new(),
            budget: 0,
            window_start: None,
            dropped: 0,
        }
    }

    fn refill(&mut self, now: Instant) {
        let Some((interval, batch)) = self.rate else {
            return;
        };
        match self.window_start {
            Some(start) if now.saturating_duration_since(start) < interval => {}
            _ => {
                self.window_start = Some(now);
                self.budget = batch;
            }
        }
    }

    /// Whether a delivery may go now (nothing queued and budget left).
    pub(crate) fn admit(&mut self, now: Instant) -> bool {
        if self.rate.is_none() {
            return true;
        }
        if !self.queue.is_empty() {
            return false;
        }
        self.refill(now);
        if self.budget > 0 {
            self.budget -= 1;
            true
        } else {
            false
        }
    }

    /// Queues a delivery; `false` when the hwm is reached and it was dropped.
    pub(crate) fn queue(&mut self, d: Delivery) -> bool {
        if self.queue.len() >= self.hwm {
            self.dropped = self.dropped.saturating_add(1);
            warn!(
                hwm = self.hwm,
                dropped = self.dropped,
                "exceeded publish hwm ({}), dropping message",
                self.hwm
            );
            return false;
        }
        self.queue.push_back(d);
        true
    }

    /// The next queued delivery whose turn has come.
    pub(crate) fn next_ready(&mut self, now: Instant) -> Option<Delivery> {
        if self.queue.is_empty() {
            return None;
        }
        self.refill(now);
        if self.budget == 0 {
            return None;
        }
        self.budget -= 1;
        self.queue.pop_front()
    }

    /// When queued deliveries may continue.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        if self.queue.is_empty() {
            return None;
        }
        let (interval, _) = self.rate?;
        Some(
            self.window_start
                .map_or_else(Instant::now, |s| s + interval),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pushpin_grip::publish::Formats;

    fn d() -> Delivery {
        Delivery {
            token: 1,
            item: Arc::new(PublishItem {
                channel: "c".into(),
                id: None,
                prev_id: None,
                formats: Formats::default(),
                meta: Default::default(),
                size: None,
                no_seq: false,
            }),
            transport: Transport::Stream,
        }
    }

    #[test]
    fn hwm_three_of_eight_as_captured() {
        // rate 2/s, hwm 3: the first goes at once, three queue, four drop
        let now = Instant::now();
        let mut l = RateLimiter::new(Some(2), Some(3));
        let mut sent = 0;
        let mut dropped = 0;
        for _ in 0..8 {
            if l.admit(now) {
                sent += 1;
            } else if !l.queue(d()) {
                dropped += 1;
            }
        }
        assert_eq!((sent, dropped), (1, 4));
        assert!(l.next_ready(now).is_none());
        let later = l.next_deadline().unwrap();
        assert_eq!(later, now + Duration::from_millis(500));
        assert!(l.next_ready(later).is_some());
        assert!(l.next_ready(later).is_none());
    }

    #[test]
    fn no_rate_admits_everything() {
        let mut l = RateLimiter::new(None, Some(1));
        assert!((0..100).all(|_| l.admit(Instant::now())));
    }

    #[test]
    fn high_rate_releases_batches() {
        let now = Instant::now();
        let mut l = RateLimiter::new(Some(2500), None);
        let admitted = (0..100).filter(|_| l.admit(now)).count();
        assert_eq!(admitted, 63);
    }
}
