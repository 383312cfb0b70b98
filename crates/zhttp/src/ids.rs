//! Session ids (§4): the `id` field is either one string, or a list of `{id, seq}`
//! dictionaries addressing several sessions at once (batched `keep-alive` and
//! `cancel`, up to 128 entries).

use std::borrow::Borrow;
use std::fmt;

use bytes::Bytes;

/// A session id chosen by the initiator, unique among its open sessions. Opaque
/// bytes (condure `0-1-2`, m2adapter `<ident>_<conn>_<n>`, Pushpin UUIDs).
///
/// Sessions are keyed by the pair (initiator `from`, id). `Id` borrows as `[u8]`, so
/// maps keyed by `Id` can be queried with a byte slice.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Id(pub Bytes);

impl Id {
    /// An id from anything that converts to `Bytes`.
    pub fn new(id: impl Into<Bytes>) -> Self {
        Self(id.into())
    }

    /// The id's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl Borrow<[u8]> for Id {
    fn borrow(&self) -> &[u8] {
        &self.0
    }
}

impl From<&'static str> for Id {
    fn from(id: &'static str) -> Self {
        Self(Bytes::from_static(id.as_bytes()))
    }
}

impl From<Bytes> for Id {
    fn from(id: Bytes) -> Self {
        Self(id)
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

/// One entry of a list-form `id`: `{ "id": <string>, "seq": <int> }`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct IdSeq {
    /// The session id (empty if the entry has no `id` key).
    pub id: Id,
    /// The session's sequence number for this packet, if given.
    pub seq: Option<u32>,
}

impl IdSeq {
    /// An entry with both keys.
    pub fn new(id: impl Into<Id>, seq: u32) -> Self {
        Self {
            id: id.into(),
            seq: Some(seq),
        }
    }
}

/// The `id` field of a packet, as it was on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum Ids {
    /// No `id` field (a zurl req-mode request may omit it; a fire-and-forget stream
    /// request has none).
    #[default]
    None,
    /// `id` is a string; the packet's top-level `seq` belongs to it.
    One(Id),
    /// `id` is a list of `{id, seq}` entries (batched `keep-alive` / `cancel`); the
    /// top-level `seq` is normally absent.
    Many(Vec<IdSeq>),
}

impl Ids {
    /// How many sessions the field addresses.
    pub fn len(&self) -> usize {
        match self {
            Self::None => 0,
            Self::One(_) => 1,
            Self::Many(list) => list.len(),
        }
    }

    /// Whether the field addresses no session.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Iterator over the `(id, seq)` pairs a packet addresses; see
/// [`Packet::targets`](crate::Packet::targets).
#[derive(Debug, Clone)]
pub struct Targets<'a> {
    single: Option<&'a Id>,
    list: std::slice::Iter<'a, IdSeq>,
    /// The packet's top-level `seq`, applied to the first pair only.
    top_seq: Option<Option<u32>>,
}

impl<'a> Targets<'a> {
    pub(crate) fn new(ids: &'a Ids, seq: Option<u32>) -> Self {
        let (single, list): (_, &[IdSeq]) = match ids {
            Ids::None => (None, &[]),
            Ids::One(id) => (Some(id), &[]),
            Ids::Many(list) => (None, list),
        };
        Self {
            single,
            list: list.iter(),
            top_seq: Some(seq),
        }
    }
}

impl<'a> Iterator for Targets<'a> {
    type Item = (&'a Id, Option<u32>);

    fn next(&mut self) -> Option<Self::Item> {
        let top = self.top_seq.take().flatten();
        if let Some(id) = self.single.take() {
            return Some((id, top));
        }
        let entry = self.list.next()?;
        Some((&entry.id, top.or(entry.seq)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.list.len() + usize::from(self.single.is_some());
        (n, Some(n))
    }
}

impl ExactSizeIterator for Targets<'_> {}
