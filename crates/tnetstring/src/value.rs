//! The owned value tree: what a whole element decodes to when the caller wants
//! to keep it (e.g. ZHTTP `user-data`, test vectors). Byte strings share the
//! input's memory.

use bytes::{Bytes, BytesMut};

use crate::{Error, Frame, Kind, Limits, parse_frame, write};

/// An owned tnetstring value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `,` raw bytes (not necessarily UTF-8).
    Bytes(Bytes),
    /// `#` integer.
    Int(i64),
    /// `^` float.
    Float(f64),
    /// `!` boolean.
    Bool(bool),
    /// `~` null.
    Null,
    /// `}` dictionary, in wire order; duplicate keys are kept as read.
    Map(Vec<(Bytes, Self)>),
    /// `]` list.
    List(Vec<Self>),
}

impl Value {
    /// Decodes the element at the start of `buf`, bounded by `limits`.
    ///
    /// `Ok(None)` means `buf` holds only the beginning of an element.
    /// Byte strings in the result are slices of `buf` (no copy).
    pub fn decode(buf: &Bytes, limits: &Limits) -> Result<Option<(Self, usize)>, Error> {
        let Some((frame, used)) = parse_frame(buf, limits)? else {
            return Ok(None);
        };
        let value = Self::from_frame(buf, &frame, limits.max_depth)?;
        Ok(Some((value, used)))
    }

    /// Converts a borrowed frame (which should borrow from `src`, so byte strings
    /// share its memory) into an owned value with at most `max_depth` levels of
    /// containers.
    pub fn from_frame(src: &Bytes, frame: &Frame<'_>, max_depth: usize) -> Result<Self, Error> {
        Self::build(src, frame, max_depth, max_depth)
    }

    fn build(src: &Bytes, frame: &Frame<'_>, depth: usize, max: usize) -> Result<Self, Error> {
        Ok(match frame.kind() {
            Kind::Bytes => Self::Bytes(slice_of(src, frame.data())),
            Kind::Int => Self::Int(frame.as_int()?),
            Kind::Float => Self::Float(frame.as_float()?),
            Kind::Bool => Self::Bool(frame.as_bool()?),
            Kind::Null => {
                frame.as_null()?;
                Self::Null
            }
            Kind::List => {
                let inner = depth.checked_sub(1).ok_or(Error::TooDeep { max })?;
                let mut items = Vec::new();
                for child in frame.list()? {
                    items.push(Self::build(src, &child?, inner, max)?);
                }
                Self::List(items)
            }
            Kind::Map => {
                let inner = depth.checked_sub(1).ok_or(Error::TooDeep { max })?;
                let mut entries = Vec::new();
                for entry in frame.map()? {
                    let (k, v) = entry?;
                    entries.push((slice_of(src, k), Self::build(src, &v, inner, max)?));
                }
                Self::Map(entries)
            }
        })
    }

    /// Appends the encoding of this value to `buf`.
    pub fn encode(&self, buf: &mut BytesMut) {
        match self {
            Self::Bytes(b) => write::write_bytes(buf, b),
            Self::Int(n) => write::write_int(buf, *n),
            Self::Float(x) => write::write_float(buf, *x),
            Self::Bool(b) => write::write_bool(buf, *b),
            Self::Null => write::write_null(buf),
            Self::List(items) => write::write_list(buf, |buf| {
                for item in items {
                    item.encode(buf);
                }
            }),
            Self::Map(entries) => write::write_map(buf, |buf| {
                for (k, v) in entries {
                    write::write_bytes(buf, k);
                    v.encode(buf);
                }
            }),
        }
    }

    /// The encoding of this value as a fresh buffer.
    pub fn to_bytes(&self) -> Bytes {
        let mut buf = BytesMut::new();
        self.encode(&mut buf);
        buf.freeze()
    }

    /// The kind of this value.
    pub const fn kind(&self) -> Kind {
        match self {
            Self::Bytes(_) => Kind::Bytes,
            Self::Int(_) => Kind::Int,
            Self::Float(_) => Kind::Float,
            Self::Bool(_) => Kind::Bool,
            Self::Null => Kind::Null,
            Self::Map(_) => Kind::Map,
            Self::List(_) => Kind::List,
        }
    }

    /// For a dictionary, the value of the last entry named `key`.
    pub fn get(&self, key: &[u8]) -> Option<&Self> {
        match self {
            Self::Map(entries) => entries
                .iter()
                .rev()
                .find(|(k, _)| k.as_ref() == key)
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The bytes of a byte string.
    pub fn as_bytes(&self) -> Option<&Bytes> {
        match self {
            Self::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The value of an integer.
    pub const fn as_int(&self) -> Option<i64> {
        match self {
            Self::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// A byte string from a `&str`.
    pub fn str(s: &str) -> Self {
        Self::Bytes(Bytes::copy_from_slice(s.as_bytes()))
    }
}

/// A zero-copy `Bytes` for `part`, which borrows from `src`; a copy if it does not.
fn slice_of(src: &Bytes, part: &[u8]) -> Bytes {
    let base = src.as_ptr() as usize;
    let at = part.as_ptr() as usize;
    let inside = at >= base && at.saturating_add(part.len()) <= base.saturating_add(src.len());
    if inside && !part.is_empty() {
        src.slice_ref(part)
    } else {
        Bytes::copy_from_slice(part)
    }
}
