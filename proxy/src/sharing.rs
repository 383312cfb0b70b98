//! Request sharing (`spec/internal.md` §4.3, §5.1; 1.36 `engine.cpp` `doProxy` and
//! `proxysession.cpp`): client requests whose inspect answer carries the same
//! `sharing-key` (and whose bodies are complete) ride on one origin request.
//!
//! The first session with a key *leads*: it forwards as usual, and every packet it
//! sends its own client that belongs to the response (`data`, `error`, `cancel`) is
//! copied to the *followers* as a template, which each follower re-frames under its own
//! sequence numbers and credits (`session::follow`). A GRIP response is handed over in
//! one accept: the leader asks every follower to pause and collects their states.
//!
//! Joining follows 1.36: a group takes new members until the response has ended, its
//! body passed [`MAX_INITIAL_BUFFER`] bytes (a late joiner is sent the head and the body
//! so far, so that much is kept), it failed, or the hand-off began. Then the key is free
//! and the next request with it starts a new group.
//!
//! Queues: each follower's feed holds [`FEED_CAPACITY`] templates; when one is full the
//! leader waits, so a shared response moves at the pace of its slowest client, as 1.36's
//! does once it stops buffering.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use bytes::Bytes;
use pushpin_internal::RequestState;
use pushpin_zhttp::{Packet, PacketType};
use tokio::sync::{mpsc, oneshot};

/// Response body kept for late joiners (1.36 `MAX_INITIAL_BUFFER`).
pub(crate) const MAX_INITIAL_BUFFER: usize = 100_000;
/// Templates queued towards one follower before the leader waits.
pub(crate) const FEED_CAPACITY: usize = 64;

/// What a leader tells a follower.
#[derive(Debug)]
pub(crate) enum Feed {
    /// A packet the leader sent its client (seq and ids to be replaced).
    Packet(Box<Packet>),
    /// Pause the session (`handoff-start` / `handoff-proceed`) and send back its state
    /// for the accept; dropping the sender means the session is gone.
    Pause(oneshot::Sender<RequestState>),
    /// The handler took the sessions; end without sending anything.
    Accepted,
}

/// The keys of the groups still taking members.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    groups: Mutex<HashMap<Bytes, Weak<Group>>>,
    next_id: AtomicU64,
}

/// The result of [`Registry::join_or_lead`].
#[derive(Debug)]
pub(crate) enum Join {
    /// No group takes members for this key: this session leads a new one.
    Lead(Lead),
    /// This session joined a group.
    Follow(Member),
}

/// The leader's hold on its group: dropping it ends the group (followers that got no
/// final packet see their feed close).
#[derive(Debug)]
pub(crate) struct Lead {
    group: Arc<Group>,
}

impl Lead {
    /// The group.
    pub(crate) fn group(&self) -> &Arc<Group> {
        &self.group
    }
}

impl Drop for Lead {
    fn drop(&mut self) {
        let closed = {
            let mut st = self.group.lock();
            st.followers.clear();
            st.close()
        };
        if closed {
            self.group.unregister();
        }
    }
}

/// A follower's place in a group.
#[derive(Debug)]
pub(crate) struct Member {
    /// The group.
    pub(crate) group: Arc<Group>,
    /// What the leader sent before this member joined (head and body so far).
    pub(crate) history: Vec<Packet>,
    /// Everything after.
    pub(crate) feed: mpsc::Receiver<Feed>,
}

/// One shared origin request.
#[derive(Debug)]
pub(crate) struct Group {
    key: Bytes,
    id: u64,
    registry: Weak<Registry>,
    state: Mutex<GroupState>,
}

#[derive(Debug, Default)]
struct GroupState {
    open: bool,
    history: Vec<Packet>,
    history_body: usize,
    followers: Vec<mpsc::Sender<Feed>>,
    joined: bool,
    target: String,
}

impl Registry {
    /// Joins the group for `key` if one takes members, else starts one.
    pub(crate) fn join_or_lead(self: &Arc<Self>, key: Bytes) -> Join {
        let mut groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(group) = groups.get(&key).and_then(Weak::upgrade) {
            let mut st = group.lock();
            if st.open {
                let (tx, rx) = mpsc::channel(FEED_CAPACITY);
                st.followers.push(tx);
                st.joined = true;
                let history = st.history.clone();
                drop(st);
                return Join::Follow(Member {
                    group,
                    history,
                    feed: rx,
                });
            }
        }
        let group = Arc::new(Group {
            key: key.clone(),
            // a pointer-like tag for the log, as 1.36's `shared=%p`
            id: 0x5000_0000_0000_u64.wrapping_add(
                self.next_id
                    .fetch_add(1, Ordering::Relaxed)
                    .wrapping_mul(0x40),
            ),
            registry: Arc::downgrade(self),
            state: Mutex::new(GroupState {
                open: true,
                ..GroupState::default()
            }),
        });
        groups.insert(key, Arc::downgrade(&group));
        Join::Lead(Lead { group })
    }

    /// Groups taking members (for tests).
    #[cfg(test)]
    fn open_groups(&self) -> usize {
        let groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        groups.values().filter(|g| g.strong_count() > 0).count()
    }
}

impl GroupState {
    /// Stops taking members; `true` when it was open (the caller then unregisters).
    fn close(&mut self) -> bool {
        let was = self.open;
        self.open = false;
        self.history = Vec::new();
        was
    }
}

impl Group {
    fn lock(&self) -> MutexGuard<'_, GroupState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Frees the key once the group stopped taking members. Called without the group
    /// lock: [`Registry::join_or_lead`] takes the registry lock, then a group's.
    fn unregister(&self) {
        if let Some(registry) = self.registry.upgrade() {
            let mut groups = registry.groups.lock().unwrap_or_else(|e| e.into_inner());
            if groups
                .get(&self.key)
                .is_some_and(|g| std::ptr::eq(g.as_ptr(), self))
            {
                groups.remove(&self.key);
            }
        }
    }

    /// `" shared=0x…"` for the log once the group has had more than one member.
    pub(crate) fn log_tag(&self) -> Option<String> {
        self.lock()
            .joined
            .then(|| format!(" shared={:#x}", self.id))
    }

    /// The target being tried, for the followers' log lines.
    pub(crate) fn target(&self) -> String {
        self.lock().target.clone()
    }

    /// Records the target being tried.
    pub(crate) fn set_target(&self, target: String) {
        self.lock().target = target;
    }

    /// Copies a packet the leader is sending its client to every follower (only
    /// response packets: `data` and `error`), keeping it for late joiners while
    /// the group takes members. Waits while a follower's feed is full.
    pub(crate) async fn broadcast(&self, p: &Packet) {
        let (senders, closed) = {
            let mut st = self.lock();
            let closed = match p.ptype {
                PacketType::Data if st.open => {
                    let len = p.body.as_ref().map_or(0, Bytes::len);
                    st.history_body = st.history_body.saturating_add(len);
                    if !p.more || st.history_body > MAX_INITIAL_BUFFER {
                        st.close()
                    } else {
                        st.history.push(p.clone());
                        false
                    }
                }
                PacketType::Data => false,
                PacketType::Error => st.close(),
                // a `cancel` is about the leader's own client (a failed response ends
                // the leader, which closes every feed)
                _ => return,
            };
            st.followers.retain(|f| !f.is_closed());
            (st.followers.clone(), closed)
        };
        if closed {
            self.unregister();
        }
        for f in senders {
            // a follower that went away has closed its feed; nothing to do
            let _ = f.send(Feed::Packet(Box::new(p.clone()))).await;
        }
    }

    /// Closes the group to new members and asks every follower to pause; the
    /// receivers yield the states of those that did.
    pub(crate) async fn pause_followers(&self) -> Vec<oneshot::Receiver<RequestState>> {
        let (senders, closed) = {
            let mut st = self.lock();
            let closed = st.close();
            st.followers.retain(|f| !f.is_closed());
            (st.followers.clone(), closed)
        };
        if closed {
            self.unregister();
        }
        let mut out = Vec::with_capacity(senders.len());
        for f in senders {
            let (tx, rx) = oneshot::channel();
            if f.send(Feed::Pause(tx)).await.is_ok() {
                out.push(rx);
            }
        }
        out
    }

    /// Whether any follower is still there.
    pub(crate) fn has_followers(&self) -> bool {
        let mut st = self.lock();
        st.followers.retain(|f| !f.is_closed());
        !st.followers.is_empty()
    }

    /// Tells every follower that the handler took it.
    pub(crate) async fn accepted(&self) {
        let senders = self.lock().followers.clone();
        for f in senders {
            let _ = f.send(Feed::Accepted).await;
        }
    }
}

/// A session's part in a shared origin request.
#[derive(Debug, Clone)]
pub(crate) enum Role {
    /// Forwards for the group; its response packets are copied to the followers.
    Leader(Arc<Group>),
    /// Relays what the leader gets.
    Follower(Arc<Group>),
}

impl Role {
    /// The group.
    pub(crate) fn group(&self) -> &Arc<Group> {
        match self {
            Self::Leader(g) | Self::Follower(g) => g,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(body: &'static [u8], more: bool, head: bool) -> Packet {
        Packet {
            ptype: PacketType::Data,
            code: head.then_some(200),
            body: Some(Bytes::from_static(body)),
            more,
            ..Packet::default()
        }
    }

    fn lead(r: &Arc<Registry>, key: &'static str) -> Lead {
        match r.join_or_lead(Bytes::from_static(key.as_bytes())) {
            Join::Lead(l) => l,
            Join::Follow(_) => panic!("expected to lead"),
        }
    }

    fn follow(r: &Arc<Registry>, key: &'static str) -> Member {
        match r.join_or_lead(Bytes::from_static(key.as_bytes())) {
            Join::Follow(m) => m,
            Join::Lead(_) => panic!("expected to follow"),
        }
    }

    #[tokio::test]
    async fn late_joiner_gets_the_history_then_the_rest() {
        let r = Arc::new(Registry::default());
        let l = lead(&r, "GET|u");
        assert!(l.group().log_tag().is_none());
        let mut early = follow(&r, "GET|u");
        assert!(early.history.is_empty());
        l.group().broadcast(&data(b"head", true, true)).await;
        let mut late = follow(&r, "GET|u");
        assert_eq!(late.history.len(), 1);
        assert!(l.group().log_tag().is_some());
        l.group().broadcast(&data(b"end", false, false)).await;
        // the response ended: the key is free again
        assert_eq!(r.open_groups(), 0);
        let _other = lead(&r, "GET|u");
        for m in [&mut early, &mut late] {
            let mut got = Vec::new();
            while let Ok(Feed::Packet(p)) = m.feed.try_recv() {
                got.push(p.body.clone().unwrap_or_default());
            }
            let want: Vec<Bytes> = if m.history.is_empty() {
                vec![Bytes::from_static(b"head"), Bytes::from_static(b"end")]
            } else {
                vec![Bytes::from_static(b"end")]
            };
            assert_eq!(got, want);
        }
    }

    #[tokio::test]
    async fn a_large_body_closes_the_group() {
        let r = Arc::new(Registry::default());
        let l = lead(&r, "k");
        l.group().broadcast(&data(b"h", true, true)).await;
        let big = Packet {
            body: Some(Bytes::from(vec![0u8; MAX_INITIAL_BUFFER])),
            ..data(b"", true, false)
        };
        l.group().broadcast(&big).await;
        assert_eq!(r.open_groups(), 0);
        let _next = lead(&r, "k");
    }

    #[tokio::test]
    async fn errors_pauses_and_the_leader_ending_close_the_group() {
        let r = Arc::new(Registry::default());
        let l = lead(&r, "a");
        let err = Packet {
            ptype: PacketType::Error,
            ..Packet::default()
        };
        l.group().broadcast(&err).await;
        let _a2 = lead(&r, "a");

        let l = lead(&r, "b");
        let mut m = follow(&r, "b");
        let rxs = l.group().pause_followers().await;
        assert_eq!(rxs.len(), 1);
        assert!(matches!(m.feed.try_recv(), Ok(Feed::Pause(_))));
        let _b2 = lead(&r, "b");

        let l = lead(&r, "c");
        let mut m = follow(&r, "c");
        drop(l);
        assert!(m.feed.recv().await.is_none(), "feed closes with the leader");
        let _c2 = lead(&r, "c");
    }

    #[tokio::test]
    async fn keepalives_and_cancels_are_not_copied() {
        let r = Arc::new(Registry::default());
        let l = lead(&r, "k");
        let mut m = follow(&r, "k");
        assert!(l.group().has_followers());
        for ptype in [PacketType::KeepAlive, PacketType::Cancel] {
            let p = Packet {
                ptype,
                ..Packet::default()
            };
            l.group().broadcast(&p).await;
        }
        assert!(m.feed.try_recv().is_err());
        drop(m);
        assert!(!l.group().has_followers());
    }
}
