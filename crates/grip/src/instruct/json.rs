//! The `application/grip-instruct` JSON body (`spec/grip.md` §4), applied on
//! top of the header instructions: `hold` overrides the mode, adds channels,
//! timeout, keep-alive fields and meta; `response` replaces the client-visible
//! status, headers and body (which are discarded even when it is absent).

use bytes::Bytes;
use serde_json::Value as Json;

use super::{Builder, Channel, HoldMode, InstructError};
use crate::keepalive::DEFAULT_KEEP_ALIVE_TIMEOUT;
use crate::node::Node;
use crate::{header_list, qt};

/// Parses a body the way `QJsonDocument::fromJson` (Qt 5) accepts it: an
/// object or array at the top level, nothing else.
pub(crate) fn parse_document(body: &[u8]) -> Option<Json> {
    let doc: Json = serde_json::from_slice(body).ok()?;
    (doc.is_object() || doc.is_array()).then_some(doc)
}

/// `getString(parent, field, required)`: `Ok(None)` when absent and optional.
fn get_string(
    obj: &Json,
    parent: &'static str,
    field: &'static str,
    required: bool,
) -> Result<Option<String>, InstructError> {
    let Some(map) = obj.as_object() else {
        return Err(InstructError::NotObject { parent });
    };
    match map.get(field) {
        None if required => Err(InstructError::Missing { parent, field }),
        None => Ok(None),
        Some(Json::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(InstructError::WrongType { parent, field }),
    }
}

/// A non-negative integer field (`canConvert(Int)` + `toInt()` + `< 0` check).
fn get_count(
    obj: &Json,
    parent: &'static str,
    field: &'static str,
) -> Result<Option<i32>, InstructError> {
    let Some(v) = obj.get(field) else {
        return Ok(None);
    };
    let n = qt::json_to_int(v).ok_or(InstructError::WrongType { parent, field })?;
    if n < 0 {
        return Err(InstructError::InvalidValue { parent, field });
    }
    Ok(Some(n))
}

pub(crate) fn apply(body: &[u8], b: &mut Builder) -> Result<(), InstructError> {
    let doc = parse_document(body).ok_or(InstructError::JsonParse)?;
    if !doc.is_object() {
        return Err(InstructError::JsonNotObject);
    }

    if let Some(hold) = doc.get("hold") {
        if !hold.is_object() {
            return Err(InstructError::HoldWrongType);
        }
        apply_hold(hold, b)?;
    }

    b.headers.clear();
    b.body = None;

    if let Some(response) = doc.get("response") {
        if !response.is_object() {
            return Err(InstructError::ResponseWrongType);
        }
        apply_response(response, b)?;
    }
    Ok(())
}

fn apply_hold(hold: &Json, b: &mut Builder) -> Result<(), InstructError> {
    b.hold = Some(match get_string(hold, "hold", "mode", false)?.as_deref() {
        None | Some("response") => HoldMode::Response,
        Some("stream") => HoldMode::Stream,
        Some(_) => return Err(InstructError::HoldMode),
    });

    let channels = match hold.get("channels") {
        None => {
            return Err(InstructError::Missing {
                parent: "hold",
                field: "channels",
            });
        }
        Some(Json::Array(list)) => list,
        Some(_) => {
            return Err(InstructError::WrongType {
                parent: "hold",
                field: "channels",
            });
        }
    };
    for vchannel in channels {
        let name = get_string(vchannel, "channel", "name", true)?.unwrap_or_default();
        let prev_id = get_string(vchannel, "channel", "prev-id", false)?;
        let mut filters = Vec::new();
        match vchannel.get("filters") {
            None => {}
            Some(Json::Array(list)) => {
                for f in list {
                    let Json::String(f) = f else {
                        return Err(InstructError::FilterWrongType);
                    };
                    filters.push(f.clone());
                }
            }
            Some(_) => {
                return Err(InstructError::WrongType {
                    parent: "channel",
                    field: "filters",
                });
            }
        }
        b.channels.push(Channel {
            name,
            prev_id,
            filters,
        });
    }

    if let Some(t) = get_count(hold, "hold", "timeout")? {
        b.timeout = Some(t);
    }

    match hold.get("keep-alive") {
        None => {}
        Some(ka) if ka.is_object() => apply_keep_alive(ka, b)?,
        Some(_) => {
            return Err(InstructError::WrongType {
                parent: "hold",
                field: "keep-alive",
            });
        }
    }

    match hold.get("meta") {
        None => {}
        Some(Json::Object(meta)) => {
            let mut entries: Vec<(&String, &Json)> = meta.iter().collect();
            entries.sort_by(|x, y| x.0.cmp(y.0));
            for (k, v) in entries {
                let Json::String(v) = v else {
                    return Err(InstructError::MetaWrongType { key: k.clone() });
                };
                b.meta.insert(k.clone(), v.clone());
            }
        }
        Some(_) => {
            return Err(InstructError::WrongType {
                parent: "hold",
                field: "meta",
            });
        }
    }
    Ok(())
}

fn apply_keep_alive(ka: &Json, b: &mut Builder) -> Result<(), InstructError> {
    if ka.get("content-bin").is_some() {
        let bin = get_string(ka, "keep-alive", "content-bin", false)?.unwrap_or_default();
        b.keep_alive_data = Bytes::from(qt::from_base64_lenient(bin.as_bytes()));
    } else if let Some(content) = ka.get("content") {
        let Json::String(s) = content else {
            return Err(InstructError::WrongType {
                parent: "keep-alive",
                field: "content",
            });
        };
        b.keep_alive_data = Bytes::copy_from_slice(s.as_bytes());
    }
    b.keep_alive_timeout = Some(match get_count(ka, "keep-alive", "timeout")? {
        Some(t) => t,
        None => i32::try_from(DEFAULT_KEEP_ALIVE_TIMEOUT).unwrap_or(i32::MAX),
    });
    Ok(())
}

fn apply_response(response: &Json, b: &mut Builder) -> Result<(), InstructError> {
    if let Some(v) = response.get("code") {
        let code = qt::json_to_int(v).ok_or(InstructError::WrongType {
            parent: "response",
            field: "code",
        })?;
        b.code =
            u16::try_from(code)
                .ok()
                .filter(|c| *c <= 999)
                .ok_or(InstructError::InvalidValue {
                    parent: "response",
                    field: "code",
                })?;
        b.reason = Bytes::new();
    }

    if let Some(reason) = get_string(response, "response", "reason", false)? {
        if !reason.is_empty() {
            b.reason = Bytes::from(reason);
        }
    }

    if let Some(headers) = response.get("headers") {
        b.headers = header_list::parse(&Node::Json(headers))?.ok_or(InstructError::WrongType {
            parent: "response",
            field: "headers",
        })?;
    }

    if response.get("body-bin").is_some() {
        let bin = get_string(response, "response", "body-bin", false)?.unwrap_or_default();
        b.body = Some(Bytes::from(qt::from_base64_lenient(bin.as_bytes())));
    } else if let Some(body) = response.get("body") {
        let Json::String(s) = body else {
            return Err(InstructError::WrongType {
                parent: "response",
                field: "body",
            });
        };
        b.body = Some(Bytes::copy_from_slice(s.as_bytes()));
    }
    Ok(())
}
