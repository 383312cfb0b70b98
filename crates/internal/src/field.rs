//! Typed reads of tnetstring fields from lazily parsed frames, each failure
//! naming its field, and the matching writers. Byte strings are zero-copy
//! slices of the message `Bytes`.

use bytes::{Bytes, BytesMut};
use pushpin_tnetstring::{self as tnet, Frame, Kind, Limits, MapIter, Value};

use crate::Error;

/// One header: name and value, case and order as received.
pub type Header = (Bytes, Bytes);

/// Parses a whole frame whose root must be a dictionary.
pub(crate) fn root<'a>(src: &'a Bytes, limits: &Limits) -> Result<Frame<'a>, Error> {
    match tnet::parse_frame(src, limits)? {
        Some((frame, _)) => {
            expect(&frame, Kind::Map, "message")?;
            Ok(frame)
        }
        None => Err(Error::Incomplete),
    }
}

/// Maps the "child runs past its container" error to [`Error::Incomplete`]
/// only at the top level; inside a complete frame it is invalid input.
pub(crate) fn expect(frame: &Frame<'_>, kind: Kind, field: &'static str) -> Result<(), Error> {
    if frame.kind() == kind {
        Ok(())
    } else {
        Err(Error::WrongType {
            field,
            expected: kind,
            found: frame.kind(),
        })
    }
}

/// The entries of a dictionary field.
pub(crate) fn map<'a>(frame: &Frame<'a>, field: &'static str) -> Result<MapIter<'a>, Error> {
    expect(frame, Kind::Map, field)?;
    Ok(frame.map()?)
}

/// The children of a list field.
pub(crate) fn list<'a>(
    frame: &Frame<'a>,
    field: &'static str,
) -> Result<tnet::ListIter<'a>, Error> {
    expect(frame, Kind::List, field)?;
    Ok(frame.list()?)
}

/// A zero-copy `Bytes` for `part` (which should borrow from `src`).
pub(crate) fn slice(src: &Bytes, part: &[u8]) -> Bytes {
    let base = src.as_ptr() as usize;
    let at = part.as_ptr() as usize;
    let inside = at >= base && at.saturating_add(part.len()) <= base.saturating_add(src.len());
    if inside && !part.is_empty() {
        src.slice_ref(part)
    } else {
        Bytes::copy_from_slice(part)
    }
}

/// The whole encoded element (`SIZE:DATA TAG`) of `frame`, zero-copy.
pub(crate) fn raw(src: &Bytes, frame: &Frame<'_>) -> Bytes {
    let base = src.as_ptr() as usize;
    let data_at = (frame.data().as_ptr() as usize).saturating_sub(base);
    let end = data_at
        .saturating_add(frame.data().len())
        .saturating_add(1)
        .min(src.len());
    let start = frame.offset().min(end);
    src.slice(start..end)
}

/// A byte-string field.
pub(crate) fn bytes(src: &Bytes, frame: &Frame<'_>, field: &'static str) -> Result<Bytes, Error> {
    expect(frame, Kind::Bytes, field)?;
    Ok(slice(src, frame.data()))
}

/// A byte-string field where empty means absent (1.36 treats them alike).
pub(crate) fn opt_bytes(
    src: &Bytes,
    frame: &Frame<'_>,
    field: &'static str,
) -> Result<Option<Bytes>, Error> {
    let b = bytes(src, frame, field)?;
    Ok((!b.is_empty()).then_some(b))
}

/// An integer field.
pub(crate) fn int(frame: &Frame<'_>, field: &'static str) -> Result<i64, Error> {
    expect(frame, Kind::Int, field)?;
    Ok(frame.as_int()?)
}

/// A non-negative integer field that fits in `u32`.
pub(crate) fn uint(frame: &Frame<'_>, field: &'static str) -> Result<u32, Error> {
    let v = int(frame, field)?;
    u32::try_from(v).map_err(|_| Error::OutOfRange { field, value: v })
}

/// An integer field where negative values read as 0 (ws-control `ttl`,
/// `timeout`).
pub(crate) fn clamped_uint(frame: &Frame<'_>, field: &'static str) -> Result<u32, Error> {
    let v = int(frame, field)?;
    if v < 0 {
        return Ok(0);
    }
    u32::try_from(v).map_err(|_| Error::OutOfRange { field, value: v })
}

/// An HTTP status code field (0..=999).
pub(crate) fn status_code(frame: &Frame<'_>, field: &'static str) -> Result<u16, Error> {
    let v = int(frame, field)?;
    u16::try_from(v)
        .ok()
        .filter(|c| *c <= 999)
        .ok_or(Error::OutOfRange { field, value: v })
}

/// A boolean field.
pub(crate) fn boolean(frame: &Frame<'_>, field: &'static str) -> Result<bool, Error> {
    expect(frame, Kind::Bool, field)?;
    Ok(frame.as_bool()?)
}

/// An opaque field kept as an owned value (`user-data`).
pub(crate) fn value(src: &Bytes, frame: &Frame<'_>, limits: &Limits) -> Result<Value, Error> {
    Ok(Value::from_frame(src, frame, limits.max_depth)?)
}

/// A header list: `[[name, value], ...]`.
pub(crate) fn headers(
    src: &Bytes,
    frame: &Frame<'_>,
    field: &'static str,
) -> Result<Vec<Header>, Error> {
    let mut out = Vec::new();
    for item in list(frame, field)? {
        let item = item?;
        let mut pair = list(&item, field)?;
        let (Some(name), Some(value), None) = (pair.next(), pair.next(), pair.next()) else {
            return Err(Error::Invalid { field });
        };
        out.push((bytes(src, &name?, field)?, bytes(src, &value?, field)?));
    }
    Ok(out)
}

/// A list of byte strings.
pub(crate) fn bytes_list(
    src: &Bytes,
    frame: &Frame<'_>,
    field: &'static str,
) -> Result<Vec<Bytes>, Error> {
    list(frame, field)?
        .map(|item| bytes(src, &item?, field))
        .collect()
}

/// A required field that was not seen.
pub(crate) fn required<T>(v: Option<T>, field: &'static str) -> Result<T, Error> {
    v.ok_or(Error::Missing { field })
}

/// Writes `key` and a byte-string value.
pub(crate) fn put_bytes(buf: &mut BytesMut, key: &str, value: &[u8]) {
    tnet::write_bytes(buf, key.as_bytes());
    tnet::write_bytes(buf, value);
}

/// Writes `key` and an integer value.
pub(crate) fn put_int(buf: &mut BytesMut, key: &str, value: i64) {
    tnet::write_bytes(buf, key.as_bytes());
    tnet::write_int(buf, value);
}

/// Writes `key: true` when `value` is set (1.36 omits false flags).
pub(crate) fn put_flag(buf: &mut BytesMut, key: &str, value: bool) {
    if value {
        tnet::write_bytes(buf, key.as_bytes());
        tnet::write_bool(buf, true);
    }
}

/// Writes `key` and an already-encoded element.
pub(crate) fn put_raw(buf: &mut BytesMut, key: &str, raw: &[u8]) {
    tnet::write_bytes(buf, key.as_bytes());
    buf.extend_from_slice(raw);
}

/// Writes `key` and a header list.
pub(crate) fn put_headers(buf: &mut BytesMut, key: &str, headers: &[Header]) {
    tnet::write_bytes(buf, key.as_bytes());
    tnet::write_list(buf, |buf| {
        for (name, value) in headers {
            tnet::write_list(buf, |buf| {
                tnet::write_bytes(buf, name);
                tnet::write_bytes(buf, value);
            });
        }
    });
}

/// Writes `key` and a list of byte strings.
pub(crate) fn put_bytes_list(buf: &mut BytesMut, key: &str, items: &[Bytes]) {
    tnet::write_bytes(buf, key.as_bytes());
    tnet::write_list(buf, |buf| {
        for item in items {
            tnet::write_bytes(buf, item);
        }
    });
}

/// Writes `key` and an owned value.
pub(crate) fn put_value(buf: &mut BytesMut, key: &str, value: &Value) {
    tnet::write_bytes(buf, key.as_bytes());
    value.encode(buf);
}
