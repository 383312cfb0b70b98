//! A read-only view over either a JSON value or a tnetstring element, with the
//! `QVariant` conversions Pushpin 1.36 applies to both (`VariantUtil`). The
//! publish-item and instruct parsers are written once against this view.
//!
//! Tnetstring input is validated in full by [`validate_tnet`] before a view is
//! made, so the lazy accessors below can treat any (impossible) inner error as
//! "absent" without hiding malformed input.

use bytes::Bytes;
use pushpin_tnetstring::{Error as TnetError, Frame, Kind};
use serde_json::Value as Json;

use crate::qt;

/// A JSON value or a tnetstring element.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Node<'a> {
    /// Parsed JSON (`QVariantMap` input in 1.36).
    Json(&'a Json),
    /// A tnetstring element borrowed from `src` (`QVariantHash` input).
    Tnet { src: &'a Bytes, frame: Frame<'a> },
}

/// Checks every element under `frame` (depth-limited), so later lazy reads
/// cannot fail.
pub(crate) fn validate_tnet(frame: &Frame<'_>, depth: usize) -> Result<(), TnetError> {
    match frame.kind() {
        Kind::Bytes => Ok(()),
        Kind::Int => frame.as_int().map(|_| ()),
        Kind::Float => frame.as_float().map(|_| ()),
        Kind::Bool => frame.as_bool().map(|_| ()),
        Kind::Null => frame.as_null(),
        Kind::List => {
            let inner = depth
                .checked_sub(1)
                .ok_or(TnetError::TooDeep { max: depth })?;
            for child in frame.list()? {
                validate_tnet(&child?, inner)?;
            }
            Ok(())
        }
        Kind::Map => {
            let inner = depth
                .checked_sub(1)
                .ok_or(TnetError::TooDeep { max: depth })?;
            for entry in frame.map()? {
                let (_, v) = entry?;
                validate_tnet(&v, inner)?;
            }
            Ok(())
        }
    }
}

/// A zero-copy `Bytes` for `part` when it lies inside `src`, else a copy.
pub(crate) fn slice_of(src: &Bytes, part: &[u8]) -> Bytes {
    let base = src.as_ptr() as usize;
    let at = part.as_ptr() as usize;
    let inside = at >= base && at.saturating_add(part.len()) <= base.saturating_add(src.len());
    if inside && !part.is_empty() {
        src.slice_ref(part)
    } else {
        Bytes::copy_from_slice(part)
    }
}

impl<'a> Node<'a> {
    /// Whether this came from JSON (some fields are read differently).
    pub(crate) const fn is_json(&self) -> bool {
        matches!(self, Self::Json(_))
    }

    /// `isKeyedObject`.
    pub(crate) fn is_object(&self) -> bool {
        match self {
            Self::Json(v) => v.is_object(),
            Self::Tnet { frame, .. } => frame.kind() == Kind::Map,
        }
    }

    /// The child named `key` of an object (last of duplicates for tnetstring).
    pub(crate) fn get(&self, key: &str) -> Option<Self> {
        match self {
            Self::Json(v) => v.as_object()?.get(key).map(Self::Json),
            Self::Tnet { src, frame } => frame
                .get(key.as_bytes())
                .ok()
                .flatten()
                .map(|frame| Self::Tnet { src, frame }),
        }
    }

    /// The entries of an object: sorted by key for JSON (`QVariantMap`), wire
    /// order for tnetstring (a `QVariantHash` has no order at all).
    pub(crate) fn entries(&self) -> Vec<(Bytes, Self)> {
        match self {
            Self::Json(v) => {
                let mut out: Vec<(Bytes, Self)> = v
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (Bytes::copy_from_slice(k.as_bytes()), Self::Json(v)))
                            .collect()
                    })
                    .unwrap_or_default();
                out.sort_by(|a, b| a.0.cmp(&b.0));
                out
            }
            Self::Tnet { src, frame } => {
                let mut out: Vec<(Bytes, Self)> = Vec::new();
                let Ok(entries) = frame.map() else {
                    return out;
                };
                for (k, frame) in entries.flatten() {
                    // a later duplicate replaces the earlier one, in place
                    if let Some(slot) = out.iter_mut().find(|(key, _)| key.as_ref() == k) {
                        slot.1 = Self::Tnet { src, frame };
                    } else {
                        out.push((slice_of(src, k), Self::Tnet { src, frame }));
                    }
                }
                out
            }
        }
    }

    /// The children of a list, or `None` if this is not a list.
    pub(crate) fn list(&self) -> Option<Vec<Self>> {
        match self {
            Self::Json(v) => Some(v.as_array()?.iter().map(Self::Json).collect()),
            Self::Tnet { src, frame } => Some(
                frame
                    .list()
                    .ok()?
                    .flatten()
                    .map(|frame| Self::Tnet { src, frame })
                    .collect(),
            ),
        }
    }

    /// `getString`: a JSON string (as UTF-8) or a tnetstring byte string.
    pub(crate) fn string(&self) -> Option<Bytes> {
        match self {
            Self::Json(Json::String(s)) => Some(Bytes::copy_from_slice(s.as_bytes())),
            Self::Json(_) => None,
            Self::Tnet { src, frame } => frame.as_bytes().ok().map(|b| slice_of(src, b)),
        }
    }

    /// `canConvert(Int)` then `toInt()`: `None` when the value cannot convert.
    pub(crate) fn to_int(self) -> Option<i32> {
        match self {
            Self::Json(v) => qt::json_to_int(v),
            Self::Tnet { frame, .. } => match frame.kind() {
                Kind::Int => frame.as_int().ok().map(qt::truncate_i64),
                Kind::Float => frame.as_float().ok().map(qt::round_to_i32),
                Kind::Bool => frame.as_bool().ok().map(i32::from),
                Kind::Bytes => Some(qt::string_to_int(frame.data())),
                Kind::Null | Kind::Map | Kind::List => None,
            },
        }
    }

    /// A boolean, or `None` for any other type.
    pub(crate) fn as_bool(&self) -> Option<bool> {
        match self {
            Self::Json(v) => v.as_bool(),
            Self::Tnet { frame, .. } => frame.as_bool().ok(),
        }
    }

    /// The value converted to JSON style (`convertToJsonStyle`: byte strings
    /// become UTF-8 strings), for data kept as JSON such as `body-patch`.
    pub(crate) fn to_json(self) -> Json {
        match self {
            Self::Json(v) => v.clone(),
            Self::Tnet { frame, .. } => tnet_to_json(&frame),
        }
    }
}

fn tnet_to_json(frame: &Frame<'_>) -> Json {
    match frame.kind() {
        Kind::Bytes => Json::String(qt::lossy_string(frame.data())),
        Kind::Int => frame.as_int().map_or(Json::Null, Json::from),
        Kind::Float => frame.as_float().map_or(Json::Null, Json::from),
        Kind::Bool => frame.as_bool().map_or(Json::Null, Json::Bool),
        Kind::Null => Json::Null,
        Kind::List => Json::Array(
            frame
                .list()
                .map(|l| l.flatten().map(|f| tnet_to_json(&f)).collect())
                .unwrap_or_default(),
        ),
        Kind::Map => {
            let mut m = serde_json::Map::new();
            if let Ok(entries) = frame.map() {
                for (k, v) in entries.flatten() {
                    m.insert(qt::lossy_string(k), tnet_to_json(&v));
                }
            }
            Json::Object(m)
        }
    }
}
