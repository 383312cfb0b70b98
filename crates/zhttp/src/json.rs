//! zurl's `J` format (`spec/zhttp.md` §3.1): `J` + a JSON object with the same keys
//! as the tnetstring dictionary. Strings become byte strings and integral numbers
//! become integers, as zurl converts them; replies are compact JSON with sorted keys
//! (Qt's `QJsonObject` order), so `Packet::encode_json` reproduces zurl's bytes.
//!
//! This path is cold (zurl's req interface only), so it converts through the `T`
//! form and reuses its decoder and encoder rather than duplicating their checks.

use std::collections::BTreeMap;

use bytes::{BufMut, BytesMut};
use pushpin_tnetstring::{
    self as tnet, Frame, Kind, parse_frame, write_bool, write_bytes, write_float, write_int,
    write_list, write_map, write_null,
};
use serde_json::Value as Json;

use crate::{Error, Limits, Packet, decode::decode_tnet};

/// Decodes a whole `J`-prefixed payload.
pub(crate) fn decode_json(msg: &[u8], limits: &Limits) -> Result<Packet, Error> {
    let text = msg.get(1..).unwrap_or_default();
    let root: Json = serde_json::from_slice(text).map_err(Error::Json)?;
    let Json::Object(entries) = &root else {
        return Err(Error::Tnet(tnet::Error::WrongType {
            expected: Kind::Map,
            found: kind_of(&root),
        }));
    };
    check_depth(entries, limits.tnet.max_depth)?;
    let mut buf = BytesMut::with_capacity(text.len().saturating_add(64));
    buf.put_u8(b'T');
    write_map(&mut buf, |buf| write_entries(buf, entries));
    decode_tnet(&buf.freeze(), limits)
}

/// Appends `J` + the packet as compact JSON with sorted keys.
pub(crate) fn encode_json(p: &Packet, buf: &mut BytesMut) {
    let tnet_form = p.to_bytes();
    let json = tnet_form
        .get(1..)
        .and_then(|t| parse_frame(t, &unbounded()).ok().flatten())
        .map_or(Json::Null, |(frame, _)| to_json(&frame));
    buf.put_u8(b'J');
    // `Display` for a JSON value is its compact serialization and cannot fail.
    buf.put_slice(json.to_string().as_bytes());
}

/// Limits for re-reading our own encoding, which is well-formed by construction.
fn unbounded() -> tnet::Limits {
    tnet::Limits {
        max_len: usize::MAX,
        max_depth: usize::MAX,
    }
}

const fn kind_of(v: &Json) -> Kind {
    match v {
        Json::Null => Kind::Null,
        Json::Bool(_) => Kind::Bool,
        Json::Number(_) => Kind::Int,
        Json::String(_) => Kind::Bytes,
        Json::Array(_) => Kind::List,
        Json::Object(_) => Kind::Map,
    }
}

/// Rejects containers nested deeper than `max` inside any top-level field, as the
/// tnetstring path does for `user-data` and `passthrough`.
fn check_depth(entries: &serde_json::Map<String, Json>, max: usize) -> Result<(), Error> {
    fn walk(v: &Json, left: usize, max: usize) -> Result<(), Error> {
        let inner = || {
            left.checked_sub(1)
                .ok_or(Error::Tnet(tnet::Error::TooDeep { max }))
        };
        match v {
            Json::Array(items) => {
                let left = inner()?;
                items.iter().try_for_each(|c| walk(c, left, max))
            }
            Json::Object(entries) => {
                let left = inner()?;
                entries.values().try_for_each(|c| walk(c, left, max))
            }
            _ => Ok(()),
        }
    }
    entries.values().try_for_each(|v| walk(v, max, max))
}

/// Writes a JSON value as tnetstring: strings as byte strings, integral numbers as
/// integers, other numbers as floats.
fn write_value(buf: &mut BytesMut, v: &Json) {
    match v {
        Json::Null => write_null(buf),
        Json::Bool(b) => write_bool(buf, *b),
        Json::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => write_int(buf, i),
            // `is_integral` checked that the cast is exact.
            (None, Some(f)) if is_integral(f) => write_int(buf, f as i64),
            (None, Some(f)) => write_float(buf, f),
            (None, None) => write_null(buf),
        },
        Json::String(s) => write_bytes(buf, s.as_bytes()),
        Json::Array(items) => write_list(buf, |buf| {
            for item in items {
                write_value(buf, item);
            }
        }),
        Json::Object(entries) => write_map(buf, |buf| write_entries(buf, entries)),
    }
}

/// Writes an object's entries in sorted key order, whatever order `serde_json` keeps
/// (its `preserve_order` feature may be on elsewhere in the build), so a decoded
/// `user-data` does not depend on build features and matches what we encode.
fn write_entries(buf: &mut BytesMut, entries: &serde_json::Map<String, Json>) {
    let mut sorted: Vec<_> = entries.iter().collect();
    sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
    for (key, value) in sorted {
        write_bytes(buf, key.as_bytes());
        write_value(buf, value);
    }
}

/// Whether `f` is a whole number that fits an `i64`.
fn is_integral(f: f64) -> bool {
    // 2^63 as f64; every f64 below it with no fraction converts exactly.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    f.is_finite() && f.fract() == 0.0 && (-LIMIT..LIMIT).contains(&f)
}

/// Converts a tnetstring element of our own encoding to JSON. Byte strings are
/// converted lossily; dictionaries get sorted keys (the last duplicate wins).
fn to_json(frame: &Frame<'_>) -> Json {
    match frame.kind() {
        Kind::Bytes => Json::String(String::from_utf8_lossy(frame.data()).into_owned()),
        Kind::Int => frame.as_int().map_or(Json::Null, Json::from),
        Kind::Float => frame
            .as_float()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or(Json::Null, Json::Number),
        Kind::Bool => frame.as_bool().map_or(Json::Null, Json::Bool),
        Kind::Null => Json::Null,
        Kind::List => Json::Array(
            frame
                .list()
                .into_iter()
                .flatten()
                .flatten()
                .map(|child| to_json(&child))
                .collect(),
        ),
        Kind::Map => {
            let sorted: BTreeMap<String, Json> = frame
                .map()
                .into_iter()
                .flatten()
                .flatten()
                .map(|(k, v)| (String::from_utf8_lossy(k).into_owned(), to_json(&v)))
                .collect();
            Json::Object(sorted.into_iter().collect())
        }
    }
}
