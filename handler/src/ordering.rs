//! Publish ordering and de-duplication (`spec/publishing.md` §7): the id
//! cache (`id_cache_ttl`) and the per-channel sequencer that holds items
//! whose `prev-id` does not follow the last delivered id, for at most
//! `message_wait`.
//!
//! Both are bounded: the id cache keeps at most [`MAX_CACHED_IDS`] ids (the
//! oldest are forgotten first), the sequencer at most [`MAX_PENDING_PER_CHANNEL`]
//! held items per channel and one per `(channel, prev-id)`; extra items are
//! dropped with a warning, as 1.36 does.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use pushpin_grip::PublishItem;
use tracing::warn;

/// Most remembered `(channel, id)` pairs.
pub(crate) const MAX_CACHED_IDS: usize = 1_000_000;
/// Most items held per channel (1.36: 100).
pub(crate) const MAX_PENDING_PER_CHANNEL: usize = 100;

/// Remembers item ids per channel for `ttl`.
#[derive(Debug)]
pub(crate) struct IdCache {
    ttl: Duration,
    set: HashSet<(Bytes, String)>,
    order: VecDeque<(Instant, Bytes, String)>,
}

impl IdCache {
    /// A cache; a zero `ttl` disables it.
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            set: HashSet::new(),
            order: VecDeque::new(),
        }
    }

    /// Whether `(channel, id)` was seen within the ttl; records it if not.
    pub(crate) fn seen(&mut self, channel: &Bytes, id: &str, now: Instant) -> bool {
        if self.ttl.is_zero() {
            return false;
        }
        self.purge(now);
        let key = (channel.clone(), id.to_owned());
        if self.set.contains(&key) {
            return true;
        }
        if self.order.len() >= MAX_CACHED_IDS {
            if let Some((_, c, i)) = self.order.pop_front() {
                self.set.remove(&(c, i));
            }
        }
        self.order.push_back((now, channel.clone(), id.to_owned()));
        self.set.insert(key);
        false
    }

    /// Forgets expired ids.
    pub(crate) fn purge(&mut self, now: Instant) {
        while let Some((at, _, _)) = self.order.front() {
            if now.saturating_duration_since(*at) < self.ttl {
                break;
            }
            if let Some((_, c, i)) = self.order.pop_front() {
                self.set.remove(&(c, i));
            }
        }
    }
}

#[derive(Debug)]
struct Pending {
    at: Instant,
    item: PublishItem,
}

/// Per-channel ordering by `prev-id`.
#[derive(Debug)]
pub(crate) struct Sequencer {
    wait: Duration,
    last: HashMap<Bytes, Option<String>>,
    pending: HashMap<Bytes, Vec<Pending>>,
}

impl Sequencer {
    /// A sequencer holding out-of-order items for at most `wait`.
    pub(crate) fn new(wait: Duration) -> Self {
        Self {
            wait,
            last: HashMap::new(),
            pending: HashMap::new(),
        }
    }

    /// The channel got its first subscriber.
    pub(crate) fn subscribed(&mut self, channel: &Bytes) {
        self.last.entry(channel.clone()).or_insert(None);
    }

    /// The channel lost its last subscriber: forget its state.
    pub(crate) fn unsubscribed(&mut self, channel: &Bytes) {
        self.last.remove(channel);
        self.pending.remove(channel);
    }

    /// The last delivered id of a subscribed channel, when known.
    pub(crate) fn last_id(&self, channel: &Bytes) -> Option<&str> {
        self.last.get(channel)?.as_deref()
    }

    /// Forgets the last id of a channel (an inconsistency was detected).
    pub(crate) fn forget(&mut self, channel: &Bytes) {
        if let Some(last) = self.last.get_mut(channel) {
            *last = None;
        }
    }

    /// `recover`: forget every last id.
    pub(crate) fn clear_last_ids(&mut self) {
        for v in self.last.values_mut() {
            *v = None;
        }
    }

    /// Adds an item; returns the items to deliver now, in order.
    pub(crate) fn add(
        &mut self,
        channel: Bytes,
        item: PublishItem,
        now: Instant,
    ) -> Vec<PublishItem> {
        let Some(last) = self.last.get(&channel) else {
            return vec![item];
        };
        if item.no_seq {
            return vec![item];
        }
        if let (Some(last), Some(prev)) = (last, &item.prev_id) {
            if prev != last {
                let list = self.pending.entry(channel).or_default();
                if list.iter().any(|p| p.item.prev_id.as_ref() == Some(prev)) {
                    warn!(channel = %item.channel, prev_id = %prev, "already have a pending item with this prev-id; dropping");
                } else if list.len() >= MAX_PENDING_PER_CHANNEL {
                    warn!(channel = %item.channel, "too many pending items; dropping");
                } else {
                    list.push(Pending { at: now, item });
                }
                return Vec::new();
            }
        }
        let mut out = Vec::new();
        self.deliver(&channel, item, &mut out);
        out
    }

    fn deliver(&mut self, channel: &Bytes, item: PublishItem, out: &mut Vec<PublishItem>) {
        let mut next = Some(item);
        while let Some(item) = next.take() {
            if let Some(last) = self.last.get_mut(channel) {
                last.clone_from(&item.id);
            }
            out.push(item);
            let Some(Some(last)) = self.last.get(channel) else {
                break;
            };
            if let Some(list) = self.pending.get_mut(channel) {
                if let Some(at) = list
                    .iter()
                    .position(|p| p.item.prev_id.as_ref() == Some(last))
                {
                    next = Some(list.remove(at).item);
                }
                if list.is_empty() {
                    self.pending.remove(channel);
                }
            }
        }
    }

    /// The earliest time a held item is due.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.pending
            .values()
            .flat_map(|l| l.iter().map(|p| p.at + self.wait))
            .min()
    }

    /// Releases items held longer than the wait, in arrival order.
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<PublishItem> {
        let mut out = Vec::new();
        let due: Vec<Bytes> = self
            .pending
            .iter()
            .filter(|(_, l)| l.iter().any(|p| p.at + self.wait <= now))
            .map(|(c, _)| c.clone())
            .collect();
        for channel in due {
            while let Some(list) = self.pending.get_mut(&channel) {
                let Some(at) = list.iter().position(|p| p.at + self.wait <= now) else {
                    break;
                };
                let item = list.remove(at).item;
                if list.is_empty() {
                    self.pending.remove(&channel);
                }
                self.deliver(&channel, item, &mut out);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pushpin_grip::publish::Formats;

    fn item(id: &str, prev: Option<&str>) -> PublishItem {
        PublishItem {
            channel: "c".into(),
            id: Some(id.into()),
            prev_id: prev.map(Into::into),
            formats: Formats::default(),
            meta: Default::default(),
            size: None,
            no_seq: false,
        }
    }

    fn ids(items: &[PublishItem]) -> Vec<&str> {
        items.iter().filter_map(|i| i.id.as_deref()).collect()
    }

    #[test]
    fn out_of_order_item_waits_for_its_predecessor() {
        let now = Instant::now();
        let c = Bytes::from_static(b"c");
        let mut s = Sequencer::new(Duration::from_secs(5));
        s.subscribed(&c);
        assert_eq!(ids(&s.add(c.clone(), item("1", None), now)), ["1"]);
        assert!(s.add(c.clone(), item("3", Some("2")), now).is_empty());
        assert_eq!(
            ids(&s.add(c.clone(), item("2", Some("1")), now)),
            ["2", "3"]
        );
    }

    #[test]
    fn held_item_is_released_after_the_wait() {
        let now = Instant::now();
        let c = Bytes::from_static(b"c");
        let mut s = Sequencer::new(Duration::from_secs(5));
        s.subscribed(&c);
        s.add(c.clone(), item("1", None), now);
        assert!(s.add(c.clone(), item("3", Some("2")), now).is_empty());
        assert_eq!(s.next_deadline(), Some(now + Duration::from_secs(5)));
        assert!(s.expire(now + Duration::from_secs(4)).is_empty());
        assert_eq!(ids(&s.expire(now + Duration::from_secs(5))), ["3"]);
    }

    #[test]
    fn unsubscribed_channel_delivers_at_once() {
        let now = Instant::now();
        let mut s = Sequencer::new(Duration::from_secs(5));
        let out = s.add(Bytes::from_static(b"x"), item("3", Some("2")), now);
        assert_eq!(ids(&out), ["3"]);
    }

    #[test]
    fn id_cache_drops_repeats_within_ttl() {
        let now = Instant::now();
        let c = Bytes::from_static(b"c");
        let mut cache = IdCache::new(Duration::from_secs(60));
        assert!(!cache.seen(&c, "1", now));
        assert!(cache.seen(&c, "1", now + Duration::from_secs(59)));
        assert!(!cache.seen(&c, "1", now + Duration::from_secs(61)));
        let mut off = IdCache::new(Duration::ZERO);
        assert!(!off.seen(&c, "1", now));
        assert!(!off.seen(&c, "1", now));
    }
}
