//! Borrowed, allocation-free reading: one element's header at a time, with lazy
//! iterators over containers.

use std::fmt;

use crate::{Error, Limits, MAX_SIZE_DIGITS, T_PREFIX};

/// The type of an element, named after its tag byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `,` raw bytes.
    Bytes,
    /// `#` decimal integer.
    Int,
    /// `^` decimal float.
    Float,
    /// `!` `true` or `false`.
    Bool,
    /// `~` null.
    Null,
    /// `}` dictionary.
    Map,
    /// `]` list.
    List,
}

impl Kind {
    /// The tag byte that ends an element of this kind.
    pub const fn tag(self) -> u8 {
        match self {
            Self::Bytes => b',',
            Self::Int => b'#',
            Self::Float => b'^',
            Self::Bool => b'!',
            Self::Null => b'~',
            Self::Map => b'}',
            Self::List => b']',
        }
    }

    /// The kind a tag byte stands for, if it is one.
    pub const fn from_tag(tag: u8) -> Option<Self> {
        Some(match tag {
            b',' => Self::Bytes,
            b'#' => Self::Int,
            b'^' => Self::Float,
            b'!' => Self::Bool,
            b'~' => Self::Null,
            b'}' => Self::Map,
            b']' => Self::List,
            _ => return None,
        })
    }

    /// A short lowercase name for messages.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Bytes => "string",
            Self::Int => "integer",
            Self::Float => "float",
            Self::Bool => "boolean",
            Self::Null => "null",
            Self::Map => "dictionary",
            Self::List => "list",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One element, borrowed from the input: its kind and its DATA bytes.
///
/// Scalars are checked when read ([`Frame::as_int`] and friends); containers
/// are walked lazily, so a malformed child surfaces as an `Err` from the iterator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    kind: Kind,
    data: &'a [u8],
    offset: usize,
    max_len: usize,
}

/// Reads the element at the start of `buf`.
///
/// Returns `Ok(None)` when `buf` holds only a prefix of an element (more bytes
/// are needed), and `Ok(Some((frame, consumed)))` otherwise; bytes after the
/// element are left alone (the reference peers ignore trailing bytes).
pub fn parse_frame<'a>(
    buf: &'a [u8],
    limits: &Limits,
) -> Result<Option<(Frame<'a>, usize)>, Error> {
    parse_at(buf, 0, limits.max_len)
}

/// Reads a complete `T`-prefixed message (`spec/tnetstring.md` §2) whose root is a
/// dictionary, as found in a ZeroMQ frame. A short frame is [`Error::Truncated`].
pub fn parse_t_message<'a>(msg: &'a [u8], limits: &Limits) -> Result<Frame<'a>, Error> {
    let Some((&T_PREFIX, rest)) = msg.split_first() else {
        return Err(Error::MissingPrefix);
    };
    let Some((frame, _)) = parse_at(rest, 1, limits.max_len)? else {
        return Err(Error::Truncated { offset: 1 });
    };
    frame.expect(Kind::Map)?;
    Ok(frame)
}

/// Parses an element starting at `buf[0]`, reporting offsets as `base + i`.
fn parse_at<'a>(
    buf: &'a [u8],
    base: usize,
    max_len: usize,
) -> Result<Option<(Frame<'a>, usize)>, Error> {
    let invalid = Error::InvalidLength { offset: base };
    let mut len: usize = 0;
    let mut digits: usize = 0;
    for &b in buf {
        match b {
            b':' => break,
            b'0'..=b'9' if digits < MAX_SIZE_DIGITS => {
                // Nine digits fit easily in usize: no overflow possible.
                len = len
                    .checked_mul(10)
                    .and_then(|l| l.checked_add(usize::from(b.wrapping_sub(b'0'))))
                    .ok_or(invalid.clone())?;
                digits = digits.checked_add(1).ok_or(invalid.clone())?;
            }
            _ => return Err(invalid),
        }
    }
    if digits == buf.len() {
        // No colon yet: either empty or only digits so far.
        return Ok(None);
    }
    if digits == 0 {
        return Err(invalid);
    }
    if len > max_len {
        return Err(Error::TooLong {
            offset: base,
            len,
            max: max_len,
        });
    }
    // digits < buf.len() here, so digits + 1 <= buf.len().
    let data_start = digits.checked_add(1).ok_or(invalid.clone())?;
    let data_end = data_start.checked_add(len).ok_or(invalid.clone())?;
    let (Some(data), Some(&tag)) = (buf.get(data_start..data_end), buf.get(data_end)) else {
        return Ok(None);
    };
    let kind = Kind::from_tag(tag).ok_or(Error::InvalidTag { offset: base, tag })?;
    let consumed = data_end.checked_add(1).ok_or(invalid)?;
    Ok(Some((
        Frame {
            kind,
            data,
            offset: base,
            max_len,
        },
        consumed,
    )))
}

impl<'a> Frame<'a> {
    /// The element's type.
    pub const fn kind(&self) -> Kind {
        self.kind
    }

    /// The raw DATA bytes, whatever the kind.
    pub const fn data(&self) -> &'a [u8] {
        self.data
    }

    /// Where this element starts in the buffer the top-level parse was given.
    pub const fn offset(&self) -> usize {
        self.offset
    }

    /// Fails with [`Error::WrongType`] unless the element is of `kind`.
    pub fn expect(&self, kind: Kind) -> Result<(), Error> {
        if self.kind == kind {
            Ok(())
        } else {
            Err(Error::WrongType {
                expected: kind,
                found: self.kind,
            })
        }
    }

    /// The bytes of a `,` element.
    pub fn as_bytes(&self) -> Result<&'a [u8], Error> {
        self.expect(Kind::Bytes)?;
        Ok(self.data)
    }

    /// The value of a `#` element.
    pub fn as_int(&self) -> Result<i64, Error> {
        self.expect(Kind::Int)?;
        parse_int(self.data).ok_or(Error::InvalidInt {
            offset: self.offset,
        })
    }

    /// The value of a `^` element.
    pub fn as_float(&self) -> Result<f64, Error> {
        self.expect(Kind::Float)?;
        std::str::from_utf8(self.data)
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .ok_or(Error::InvalidFloat {
                offset: self.offset,
            })
    }

    /// The value of a `!` element (exactly `true` or `false`).
    pub fn as_bool(&self) -> Result<bool, Error> {
        self.expect(Kind::Bool)?;
        match self.data {
            b"true" => Ok(true),
            b"false" => Ok(false),
            _ => Err(Error::InvalidBool {
                offset: self.offset,
            }),
        }
    }

    /// Checks a `~` element (its DATA must be empty).
    pub fn as_null(&self) -> Result<(), Error> {
        self.expect(Kind::Null)?;
        if self.data.is_empty() {
            Ok(())
        } else {
            Err(Error::InvalidNull {
                offset: self.offset,
            })
        }
    }

    /// The children of a `]` element.
    pub fn list(&self) -> Result<ListIter<'a>, Error> {
        self.expect(Kind::List)?;
        Ok(ListIter {
            rest: self.data,
            pos: self.data_offset(),
            max_len: self.max_len,
        })
    }

    /// The key/value pairs of a `}` element, in wire order (duplicates included).
    pub fn map(&self) -> Result<MapIter<'a>, Error> {
        self.expect(Kind::Map)?;
        Ok(MapIter {
            inner: ListIter {
                rest: self.data,
                pos: self.data_offset(),
                max_len: self.max_len,
            },
        })
    }

    /// The value of the last entry named `key` in a `}` element, as both
    /// reference peers use the last of duplicate keys.
    pub fn get(&self, key: &[u8]) -> Result<Option<Self>, Error> {
        let mut found = None;
        for entry in self.map()? {
            let (k, v) = entry?;
            if k == key {
                found = Some(v);
            }
        }
        Ok(found)
    }

    /// Offset of the first DATA byte: element offset + digits + colon.
    fn data_offset(&self) -> usize {
        let digits = digit_count(self.data.len());
        self.offset.saturating_add(digits).saturating_add(1)
    }
}

/// Decimal digits in `n` as written without leading zeros (at least one).
pub(crate) const fn digit_count(n: usize) -> usize {
    match n.checked_ilog10() {
        Some(log) => (log as usize).saturating_add(1),
        None => 1,
    }
}

/// Parses `[-+]?[0-9]+` into an i64, rejecting anything else.
fn parse_int(data: &[u8]) -> Option<i64> {
    std::str::from_utf8(data).ok()?.parse::<i64>().ok()
}

/// Lazy iterator over the children of a list (or the keys and values of a map).
///
/// Yields `Err` once for a malformed child and then stops.
#[derive(Debug, Clone)]
pub struct ListIter<'a> {
    rest: &'a [u8],
    pos: usize,
    max_len: usize,
}

impl<'a> Iterator for ListIter<'a> {
    type Item = Result<Frame<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match parse_at(self.rest, self.pos, self.max_len) {
            Ok(Some((frame, used))) => {
                self.rest = self.rest.get(used..).unwrap_or_default();
                self.pos = self.pos.saturating_add(used);
                Some(Ok(frame))
            }
            Ok(None) => {
                let offset = self.pos;
                self.rest = &[];
                Some(Err(Error::Truncated { offset }))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

/// Lazy iterator over the `(key, value)` pairs of a dictionary.
#[derive(Debug, Clone)]
pub struct MapIter<'a> {
    inner: ListIter<'a>,
}

impl<'a> Iterator for MapIter<'a> {
    type Item = Result<(&'a [u8], Frame<'a>), Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let key = match self.inner.next()? {
            Ok(k) => k,
            Err(e) => return Some(Err(e)),
        };
        let Ok(key_bytes) = key.as_bytes() else {
            self.inner.rest = &[];
            return Some(Err(Error::NonStringKey { offset: key.offset }));
        };
        match self.inner.next() {
            Some(Ok(value)) => Some(Ok((key_bytes, value))),
            Some(Err(e)) => Some(Err(e)),
            None => Some(Err(Error::MissingValue { offset: key.offset })),
        }
    }
}
