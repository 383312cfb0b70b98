//! The client's request body inside a session: chunks waiting to be forwarded (bounded
//! by the credits granted to the connection manager), and a zero-copy record of the
//! whole body while it stays within [`MAX_ACCEPT_BODY`](super::MAX_ACCEPT_BODY), for
//! inspect and accept.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use super::MAX_ACCEPT_BODY;
use super::conn::{Conn, ConnEvent};

/// A request body in flight.
#[derive(Debug, Default)]
pub(crate) struct RequestBody {
    pending: VecDeque<Bytes>,
    pending_len: usize,
    retained: Option<Vec<Bytes>>,
    total: usize,
    complete: bool,
}

impl RequestBody {
    /// A body starting with `initial`; `complete` when nothing more follows.
    pub(crate) fn new(initial: Bytes, complete: bool) -> Self {
        let mut b = Self {
            retained: Some(Vec::new()),
            ..Self::default()
        };
        b.push(initial, !complete);
        b
    }

    /// Adds a chunk from the client.
    pub(crate) fn push(&mut self, data: Bytes, more: bool) {
        self.total = self.total.saturating_add(data.len());
        if self.total > MAX_ACCEPT_BODY {
            self.retained = None;
        }
        if !data.is_empty() {
            if let Some(r) = &mut self.retained {
                r.push(data.clone());
            }
            self.pending_len += data.len();
            self.pending.push_back(data);
        }
        self.complete = !more;
    }

    /// Puts `data` in front of everything received so far (the body a JSON-P request
    /// carries in its query).
    pub(crate) fn prepend(&mut self, data: Bytes) {
        if data.is_empty() {
            return;
        }
        self.total = self.total.saturating_add(data.len());
        if self.total > MAX_ACCEPT_BODY {
            self.retained = None;
        }
        if let Some(r) = &mut self.retained {
            r.insert(0, data.clone());
        }
        self.pending_len += data.len();
        self.pending.push_front(data);
    }

    /// Bytes received so far (the whole body once complete).
    pub(crate) fn total(&self) -> usize {
        self.total
    }

    /// Whether the client sent the whole body.
    pub(crate) fn is_complete(&self) -> bool {
        self.complete
    }

    /// Bytes waiting to be forwarded.
    pub(crate) fn pending_len(&self) -> usize {
        self.pending_len
    }

    /// [`Self::pending_len`] for credit arithmetic.
    pub(crate) fn buffered_len_u32(&self) -> u32 {
        u32::try_from(self.pending_len).unwrap_or(u32::MAX)
    }

    /// The total size once complete.
    pub(crate) fn complete_len(&self) -> Option<usize> {
        self.complete.then_some(self.total)
    }

    /// The whole body, when complete and small enough to keep.
    pub(crate) fn retained(&self) -> Option<Bytes> {
        let parts = self.retained.as_ref()?;
        if !self.complete {
            return None;
        }
        Some(concat(parts, usize::MAX))
    }

    /// Up to `n` leading bytes for inspect, and whether that is less than the body.
    pub(crate) fn prefix(&self, n: usize) -> (Bytes, bool) {
        let parts: Vec<Bytes> = match &self.retained {
            Some(r) => r.clone(),
            None => self.pending.iter().cloned().collect(),
        };
        let got = concat(&parts, n);
        let truncated = !self.complete || self.total > got.len();
        (got, truncated)
    }

    /// Removes up to `n` bytes from the front of the pending chunks (zero-copy when one
    /// chunk suffices).
    pub(crate) fn take(&mut self, n: usize) -> Bytes {
        let Some(front) = self.pending.front_mut() else {
            return Bytes::new();
        };
        if front.len() >= n {
            let out = front.split_to(n);
            if front.is_empty() {
                self.pending.pop_front();
            }
            self.pending_len -= out.len();
            return out;
        }
        let mut out = BytesMut::with_capacity(n.min(self.pending_len));
        while out.len() < n {
            let Some(front) = self.pending.front_mut() else {
                break;
            };
            let want = n - out.len();
            if front.len() <= want {
                out.extend_from_slice(front);
                self.pending.pop_front();
            } else {
                out.extend_from_slice(&front.split_to(want));
            }
        }
        self.pending_len -= out.len();
        out.freeze()
    }

    /// Reads from the client until the body is complete or `n` bytes are pending.
    /// `false` when the client went away.
    pub(crate) async fn read_until(&mut self, conn: &mut Conn, n: usize) -> bool {
        while !self.complete && self.pending_len < n {
            match conn.recv().await {
                ConnEvent::Body { data, more } => self.push(data, more),
                ConnEvent::Credit | ConnEvent::HandoffProceed | ConnEvent::Ws(_) => {}
                ConnEvent::Gone => return false,
            }
        }
        true
    }
}

fn concat(parts: &[Bytes], max: usize) -> Bytes {
    match parts {
        [] => Bytes::new(),
        [one] => one.slice(..one.len().min(max)),
        _ => {
            let mut out = BytesMut::new();
            for p in parts {
                let room = max.saturating_sub(out.len());
                if room == 0 {
                    break;
                }
                out.extend_from_slice(&p[..p.len().min(room)]);
            }
            out.freeze()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_across_chunks_and_keeps_a_copy() {
        let mut b = RequestBody::new(Bytes::from_static(b"abc"), false);
        b.push(Bytes::from_static(b"defg"), false);
        assert!(b.is_complete());
        assert_eq!(b.prefix(5), (Bytes::from_static(b"abcde"), true));
        assert_eq!(b.take(2), "ab");
        assert_eq!(b.take(4), "cdef");
        assert_eq!(b.pending_len(), 1);
        assert_eq!(b.retained().unwrap(), "abcdefg");
        assert_eq!(b.take(10), "g");
        assert_eq!(b.take(10), "");
    }

    #[test]
    fn large_bodies_are_not_kept() {
        let mut b = RequestBody::new(Bytes::new(), false);
        assert!(!b.is_complete() || b.complete_len() == Some(0));
        let mut b2 = RequestBody::new(Bytes::from(vec![0u8; MAX_ACCEPT_BODY]), true);
        b2.push(Bytes::from_static(b"x"), false);
        assert_eq!(b2.retained(), None);
        assert_eq!(b2.complete_len(), Some(MAX_ACCEPT_BODY + 1));
        b.push(Bytes::new(), false);
        assert_eq!(b.retained().unwrap(), "");
    }

    #[test]
    fn prepend_goes_first() {
        let mut b = RequestBody::new(Bytes::from_static(b"cd"), true);
        b.prepend(Bytes::from_static(b"ab"));
        b.prepend(Bytes::new());
        assert_eq!(b.pending_len(), 4);
        assert_eq!(b.complete_len(), Some(4));
        assert_eq!(b.retained().unwrap(), "abcd");
        assert_eq!(b.take(10), "abcd");
    }
}

/// A FIFO of byte chunks (zero-copy), for response bodies waiting for client credits.
#[derive(Debug, Default)]
pub(crate) struct Chunks {
    parts: VecDeque<Bytes>,
    len: usize,
}

impl Chunks {
    /// Appends a chunk.
    pub(crate) fn push(&mut self, data: Bytes) {
        if !data.is_empty() {
            self.len += data.len();
            self.parts.push_back(data);
        }
    }

    /// Bytes queued.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Removes up to `n` bytes from the front.
    pub(crate) fn take(&mut self, n: usize) -> Bytes {
        let Some(front) = self.parts.front_mut() else {
            return Bytes::new();
        };
        let out = if front.len() > n {
            front.split_to(n)
        } else {
            let mut out = BytesMut::with_capacity(n.min(self.len));
            while out.len() < n {
                let Some(front) = self.parts.front_mut() else {
                    break;
                };
                let want = n - out.len();
                if front.len() <= want {
                    out.extend_from_slice(front);
                    self.parts.pop_front();
                } else {
                    out.extend_from_slice(&front.split_to(want));
                }
            }
            out.freeze()
        };
        self.len -= out.len();
        out
    }
}
