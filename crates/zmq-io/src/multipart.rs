//! [`Multipart`]: one ZeroMQ message as an ordered list of `Bytes` frames.
//!
//! Up to [`INLINE_PARTS`] frames are stored inline, which covers every
//! message shape Pushpin uses (1 frame on PUSH/PULL and PUB/SUB, 2 on
//! DEALER, 3 on ROUTER), so receiving one costs no allocation beyond the
//! frames themselves. Longer messages spill to a `Vec`. Three frames keep the
//! type at about 100 bytes, cheap to move and to hand back in errors.

use std::fmt;
use std::ops::{Deref, DerefMut};

use bytes::Bytes;

/// Frames kept inline before a [`Multipart`] spills to the heap.
pub const INLINE_PARTS: usize = 3;

/// A multipart message: frames in wire order. Derefs to `[Bytes]`.
#[derive(Clone, Default)]
pub struct Multipart {
    repr: Repr,
}

#[derive(Clone)]
enum Repr {
    /// Invariant: `len <= INLINE_PARTS`; slots at `len..` hold empty `Bytes`.
    Inline {
        len: usize,
        parts: [Bytes; INLINE_PARTS],
    },
    Heap(Vec<Bytes>),
}

impl Default for Repr {
    fn default() -> Self {
        Self::Inline {
            len: 0,
            parts: Default::default(),
        }
    }
}

impl Multipart {
    /// An empty message (ZeroMQ cannot send it; add frames first).
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty message with room for `n` frames.
    pub fn with_capacity(n: usize) -> Self {
        if n <= INLINE_PARTS {
            Self::new()
        } else {
            Self {
                repr: Repr::Heap(Vec::with_capacity(n)),
            }
        }
    }

    /// Appends a frame.
    pub fn push(&mut self, frame: impl Into<Bytes>) {
        let frame = frame.into();
        match &mut self.repr {
            Repr::Inline { len, parts } => {
                if let Some(slot) = parts.get_mut(*len) {
                    *slot = frame;
                    *len += 1;
                } else {
                    let mut v = Vec::with_capacity(INLINE_PARTS * 2);
                    v.extend(std::mem::take(parts));
                    v.push(frame);
                    self.repr = Repr::Heap(v);
                }
            }
            Repr::Heap(v) => v.push(frame),
        }
    }

    /// Removes and returns the last frame.
    pub fn pop(&mut self) -> Option<Bytes> {
        match &mut self.repr {
            Repr::Inline { len, parts } => {
                let last = len.checked_sub(1)?;
                *len = last;
                parts.get_mut(last).map(std::mem::take)
            }
            Repr::Heap(v) => v.pop(),
        }
    }

    /// The frames as a slice.
    pub fn as_slice(&self) -> &[Bytes] {
        match &self.repr {
            Repr::Inline { len, parts } => parts.get(..*len).unwrap_or_default(),
            Repr::Heap(v) => v,
        }
    }

    /// The frames as a mutable slice.
    pub fn as_mut_slice(&mut self) -> &mut [Bytes] {
        match &mut self.repr {
            Repr::Inline { len, parts } => parts.get_mut(..*len).unwrap_or_default(),
            Repr::Heap(v) => v,
        }
    }

    /// The frames as a `Vec` (allocates when stored inline).
    pub fn into_vec(self) -> Vec<Bytes> {
        match self.repr {
            Repr::Heap(v) => v,
            Repr::Inline { .. } => self.into_iter().collect(),
        }
    }
}

impl Deref for Multipart {
    type Target = [Bytes];

    fn deref(&self) -> &[Bytes] {
        self.as_slice()
    }
}

impl DerefMut for Multipart {
    fn deref_mut(&mut self) -> &mut [Bytes] {
        self.as_mut_slice()
    }
}

impl fmt::Debug for Multipart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl PartialEq for Multipart {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Multipart {}

impl From<Vec<Bytes>> for Multipart {
    fn from(v: Vec<Bytes>) -> Self {
        if v.len() <= INLINE_PARTS {
            v.into_iter().collect()
        } else {
            Self {
                repr: Repr::Heap(v),
            }
        }
    }
}

impl From<Bytes> for Multipart {
    fn from(frame: Bytes) -> Self {
        let mut m = Self::new();
        m.push(frame);
        m
    }
}

impl<T: Into<Bytes>, const N: usize> From<[T; N]> for Multipart {
    fn from(frames: [T; N]) -> Self {
        frames.into_iter().collect()
    }
}

impl<T: Into<Bytes>> FromIterator<T> for Multipart {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        let iter = iter.into_iter();
        let mut m = Self::with_capacity(iter.size_hint().0);
        m.extend(iter);
        m
    }
}

impl<T: Into<Bytes>> Extend<T> for Multipart {
    fn extend<I: IntoIterator<Item = T>>(&mut self, iter: I) {
        for frame in iter {
            self.push(frame);
        }
    }
}

impl<'a> IntoIterator for &'a Multipart {
    type Item = &'a Bytes;
    type IntoIter = std::slice::Iter<'a, Bytes>;

    fn into_iter(self) -> Self::IntoIter {
        self.as_slice().iter()
    }
}

impl IntoIterator for Multipart {
    type Item = Bytes;
    type IntoIter = IntoFrames;

    fn into_iter(self) -> IntoFrames {
        IntoFrames {
            inner: match self.repr {
                Repr::Inline { len, parts } => Inner::Inline(parts.into_iter().take(len)),
                Repr::Heap(v) => Inner::Heap(v.into_iter()),
            },
        }
    }
}

/// Owning iterator over the frames of a [`Multipart`].
#[derive(Debug)]
pub struct IntoFrames {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Inline(std::iter::Take<std::array::IntoIter<Bytes, INLINE_PARTS>>),
    Heap(std::vec::IntoIter<Bytes>),
}

impl Iterator for IntoFrames {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        match &mut self.inner {
            Inner::Inline(it) => it.next(),
            Inner::Heap(it) => it.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.inner {
            Inner::Inline(it) => it.size_hint(),
            Inner::Heap(it) => it.size_hint(),
        }
    }
}

impl ExactSizeIterator for IntoFrames {}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(n: usize) -> Vec<Bytes> {
        (0..n).map(|i| Bytes::from(i.to_string())).collect()
    }

    #[test]
    fn push_spills_to_heap_and_keeps_order() {
        for n in 0..=INLINE_PARTS * 3 {
            let mut m = Multipart::new();
            for f in frames(n) {
                m.push(f);
            }
            assert_eq!(m.len(), n);
            assert_eq!(m.as_slice(), frames(n).as_slice());
            assert_eq!(m.clone().into_vec(), frames(n));
            assert_eq!(m.clone().into_iter().len(), n);
            assert_eq!(m.into_iter().collect::<Vec<_>>(), frames(n));
        }
    }

    #[test]
    fn pop_inline_and_heap() {
        for n in [2, INLINE_PARTS + 2] {
            let mut m = Multipart::from(frames(n));
            assert_eq!(m.pop(), Some(Bytes::from((n - 1).to_string())));
            assert_eq!(m.len(), n - 1);
        }
        assert_eq!(Multipart::new().pop(), None);
    }

    #[test]
    fn conversions_and_equality() {
        let a = Multipart::from([&b"id"[..], b"", b"body"]);
        let b = Multipart::from(vec![
            Bytes::from_static(b"id"),
            Bytes::new(),
            Bytes::from_static(b"body"),
        ]);
        assert_eq!(a, b);
        assert_eq!(Multipart::from(Bytes::from_static(b"x")).len(), 1);
        assert_eq!(format!("{a:?}"), format!("{:?}", a.as_slice()));
        let big = Multipart::from(frames(9));
        assert_eq!(big, frames(9).into_iter().collect::<Multipart>());
        assert_ne!(big, a);
    }

    #[test]
    fn mutable_slice_edits_frames() {
        let mut m = Multipart::from([&b"a"[..], b"b"]);
        if let Some(first) = m.first_mut() {
            *first = Bytes::from_static(b"z");
        }
        assert_eq!(m, Multipart::from([&b"z"[..], b"b"]));
    }
}
