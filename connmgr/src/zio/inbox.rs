//! A session's inbound packet queue: bounded, one producer at a time (the SUB
//! task) and one consumer (the session), with nothing allocated while it is empty.
//!
//! It replaces a tokio `mpsc` channel, whose shared state (cache-padded counters
//! plus a first block of 32 slots) costs about 700 bytes per held session; this
//! one is a mutex around an empty `VecDeque`, a waker and two flags.
//!
//! When the queue is full the producer waits on `space` (see
//! [`Registry::deliver`](super::Registry)); the consumer signals it whenever it
//! takes a packet from a full queue, or goes away.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Poll, Waker};

use tokio::sync::Notify;

use super::Inbound;

/// The shared half, held by the registry.
#[derive(Debug, Default)]
pub(crate) struct Inbox {
    state: Mutex<State>,
    /// Signalled when a full queue gets room, or the receiver is gone.
    space: Notify,
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Inbound>,
    waker: Option<Waker>,
    /// No more packets will come (registry closed or gave up on the session).
    sender_closed: bool,
    /// The session is gone.
    receiver_closed: bool,
}

/// What [`Inbox::try_push`] did.
pub(crate) enum Push {
    /// Queued.
    Queued,
    /// The session is gone; the packet is dropped.
    Closed,
    /// The queue is full; here is the packet back.
    Full(Inbound),
}

impl Inbox {
    /// A new, empty inbox and its receiving end.
    pub(crate) fn new() -> (Arc<Self>, Receiver) {
        let inbox = Arc::new(Self::default());
        let rx = Receiver {
            inbox: Arc::clone(&inbox),
        };
        (inbox, rx)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves the state consistent, so poisoning is ignored.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `packet` unless the queue holds `max` packets already.
    pub(crate) fn try_push(&self, packet: Inbound, max: usize) -> Push {
        let waker = {
            let mut st = self.lock();
            if st.receiver_closed {
                return Push::Closed;
            }
            if st.queue.len() >= max {
                return Push::Full(packet);
            }
            st.queue.push_back(packet);
            st.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        Push::Queued
    }

    /// Queues `packet`, waiting while the queue is full. `false`: the session is
    /// gone. Cancel-safe in the sense that a dropped call drops only its packet.
    pub(crate) async fn push(&self, mut packet: Inbound, max: usize) -> bool {
        loop {
            let room = self.space.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            match self.try_push(packet, max) {
                Push::Queued => return true,
                Push::Closed => return false,
                Push::Full(p) => packet = p,
            }
            room.await;
        }
    }

    /// Tells the receiver that nothing more will come (it then sees the end of
    /// its queue once drained).
    pub(crate) fn close_sender(&self) {
        let waker = {
            let mut st = self.lock();
            st.sender_closed = true;
            st.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// The session's end of its [`Inbox`].
#[derive(Debug)]
pub(crate) struct Receiver {
    inbox: Arc<Inbox>,
}

impl Receiver {
    /// The next packet; `None` once the sender closed and the queue is empty.
    /// Cancel-safe.
    pub(crate) async fn recv(&mut self) -> Option<Inbound> {
        poll_fn(|cx| {
            let mut st = self.inbox.lock();
            let was_full = st.queue.len() >= super::SESSION_QUEUE;
            if let Some(p) = st.queue.pop_front() {
                if st.queue.is_empty() {
                    // Give the queue's buffer back while the session idles.
                    st.queue = VecDeque::new();
                }
                drop(st);
                if was_full {
                    self.inbox.space.notify_one();
                }
                return Poll::Ready(Some(p));
            }
            if st.sender_closed {
                return Poll::Ready(None);
            }
            if !st.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                st.waker = Some(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        {
            let mut st = self.inbox.lock();
            st.receiver_closed = true;
            st.queue.clear();
            st.waker = None;
        }
        self.inbox.space.notify_waiters();
        // A producer that enabled its wait before this point but has not yet
        // awaited gets the stored permit.
        self.inbox.space.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pushpin_zhttp::{Packet, PacketType};

    fn packet(seq: u32) -> Inbound {
        let mut p = Packet::new(PacketType::Data);
        p.seq = Some(seq);
        Box::new(p)
    }

    #[tokio::test]
    async fn delivers_in_order_then_ends_when_sender_closes() {
        let (inbox, mut rx) = Inbox::new();
        for i in 0..3 {
            assert!(matches!(inbox.try_push(packet(i), 8), Push::Queued));
        }
        inbox.close_sender();
        for i in 0..3 {
            assert_eq!(rx.recv().await.map(|p| p.seq), Some(Some(i)));
        }
        assert!(rx.recv().await.is_none());
    }

    #[tokio::test]
    async fn full_queue_hands_the_packet_back_and_push_waits_for_room() {
        let (inbox, mut rx) = Inbox::new();
        let max = super::super::SESSION_QUEUE;
        for i in 0..max {
            assert!(matches!(
                inbox.try_push(packet(i as u32), max),
                Push::Queued
            ));
        }
        assert!(matches!(inbox.try_push(packet(0), max), Push::Full(_)));
        let pusher = {
            let inbox = Arc::clone(&inbox);
            tokio::spawn(async move { inbox.push(packet(9999), max).await })
        };
        tokio::task::yield_now().await;
        assert_eq!(rx.recv().await.map(|p| p.seq), Some(Some(0)));
        assert!(pusher.await.unwrap());
    }

    #[tokio::test]
    async fn push_ends_when_the_receiver_goes_away() {
        let (inbox, rx) = Inbox::new();
        assert!(matches!(inbox.try_push(packet(0), 1), Push::Queued));
        let pusher = {
            let inbox = Arc::clone(&inbox);
            tokio::spawn(async move { inbox.push(packet(1), 1).await })
        };
        tokio::task::yield_now().await;
        drop(rx);
        assert!(!pusher.await.unwrap());
        assert!(matches!(inbox.try_push(packet(2), 1), Push::Closed));
    }

    #[tokio::test]
    async fn recv_wakes_on_push() {
        let (inbox, mut rx) = Inbox::new();
        let reader = tokio::spawn(async move { rx.recv().await.map(|p| p.seq) });
        tokio::task::yield_now().await;
        assert!(matches!(inbox.try_push(packet(7), 4), Push::Queued));
        assert_eq!(reader.await.unwrap(), Some(Some(7)));
    }
}
