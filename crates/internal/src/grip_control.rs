//! GRIP control messages: the JSON inside ws-control `grip` items (the
//! origin's `c:` WebSocket messages; `spec/internal.md` §7.5,
//! `spec/grip.md` §10.3), parsed as 1.36's `WsControlMessage::fromVariant`
//! does, with its error texts.

use bytes::Bytes;
use pushpin_grip::{KeepAliveMode, WsMessageType, qt};
use serde_json::{Map, Value as Json};

use crate::wscontrol::Known;

/// A parsed control message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GripControl {
    /// Subscribe to `channel-prefix` + `channel`.
    Subscribe {
        /// Non-empty channel name.
        channel: String,
        /// Filter names.
        filters: Vec<String>,
    },
    /// Unsubscribe.
    Unsubscribe {
        /// Non-empty channel name.
        channel: String,
    },
    /// Close the origin side, keep the client.
    Detach,
    /// Set (or clear, `None`) the session id.
    Session {
        /// The id.
        id: Option<String>,
    },
    /// Set (or delete, `None`) a subscription meta value.
    SetMeta {
        /// Non-empty name.
        name: String,
        /// Value; absent deletes.
        value: Option<String>,
    },
    /// Configure keep-alives; `content: None` disables them.
    KeepAlive {
        /// Frame type (default text — also with `content-bin`, as in 1.36).
        message_type: WsMessageType,
        /// The message to send.
        content: Option<Bytes>,
        /// Seconds (read only with content; default 55 applied by the handler).
        timeout: Option<u32>,
        /// `mode` as written (`idle` default, `interval`).
        mode: Option<Known<KeepAliveMode>>,
    },
    /// Send a message after `timeout` (default 1 s) unless replaced.
    SendDelayed {
        /// Frame type.
        message_type: WsMessageType,
        /// The message.
        content: Option<Bytes>,
        /// Seconds.
        timeout: Option<u32>,
    },
    /// Send the pending delayed message now.
    FlushDelayed,
}

/// Why a control message was rejected (the handler then ignores the rest of
/// the packet without acking). `Display` is the 1.36 log text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GripControlError {
    /// Not JSON, or a JSON scalar.
    #[error("grip control message is not valid json")]
    NotJson,
    /// JSON but not an object (an array).
    #[error("grip control packet is not an object")]
    NotObject,
    /// A required field is missing.
    #[error("grip control object does not contain '{field}'")]
    Missing {
        /// The field.
        field: &'static str,
    },
    /// A field has the wrong type (`null` included).
    #[error("grip control object contains '{field}' with wrong type")]
    WrongType {
        /// The field.
        field: &'static str,
    },
    /// An empty `channel`/`name` or a negative `timeout`.
    #[error("grip control object contains '{field}' with invalid value")]
    InvalidValue {
        /// The field.
        field: &'static str,
    },
    /// `type` is unknown.
    #[error("'type' contains unknown value: {value}")]
    UnknownType {
        /// The type as written.
        value: String,
    },
    /// `message-type` is unknown.
    #[error("grip control object contains 'message-type' with unknown value")]
    UnknownMessageType,
    /// A `filters` element is not a string.
    #[error("filters contains value with wrong type")]
    FilterWrongType,
}

type E = GripControlError;

fn string(obj: &Map<String, Json>, field: &'static str) -> Result<Option<String>, E> {
    match obj.get(field) {
        None => Ok(None),
        Some(Json::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(E::WrongType { field }),
    }
}

fn required(obj: &Map<String, Json>, field: &'static str) -> Result<String, E> {
    string(obj, field)?.ok_or(E::Missing { field })
}

fn non_empty(obj: &Map<String, Json>, field: &'static str) -> Result<String, E> {
    let s = required(obj, field)?;
    if s.is_empty() {
        return Err(E::InvalidValue { field });
    }
    Ok(s)
}

impl GripControl {
    /// Parses the message text of a `grip` item.
    pub fn parse(message: &[u8]) -> Result<Self, GripControlError> {
        let doc: Json = serde_json::from_slice(message).map_err(|_| E::NotJson)?;
        match doc {
            Json::Object(obj) => Self::from_object(&obj),
            Json::Array(_) => Err(E::NotObject),
            _ => Err(E::NotJson),
        }
    }

    fn from_object(obj: &Map<String, Json>) -> Result<Self, E> {
        let kind = required(obj, "type")?;
        Ok(match kind.as_str() {
            "subscribe" => {
                let channel = non_empty(obj, "channel")?;
                let filters = match obj.get("filters") {
                    None => Vec::new(),
                    Some(Json::Array(list)) => list
                        .iter()
                        .map(|f| f.as_str().map(str::to_owned).ok_or(E::FilterWrongType))
                        .collect::<Result<_, _>>()?,
                    Some(_) => return Err(E::WrongType { field: "filters" }),
                };
                Self::Subscribe { channel, filters }
            }
            "unsubscribe" => Self::Unsubscribe {
                channel: non_empty(obj, "channel")?,
            },
            "detach" => Self::Detach,
            "session" => Self::Session {
                id: string(obj, "id")?,
            },
            "set-meta" => Self::SetMeta {
                name: non_empty(obj, "name")?,
                value: string(obj, "value")?,
            },
            "keep-alive" => {
                let (message_type, content, timeout) = content_fields(obj)?;
                let mode = string(obj, "mode")?.map(|m| match m.parse::<KeepAliveMode>() {
                    Ok(mode) => Known::Known(mode),
                    Err(_) => Known::Other(Bytes::from(m)),
                });
                Self::KeepAlive {
                    message_type,
                    content,
                    timeout,
                    mode,
                }
            }
            "send-delayed" => {
                let (message_type, content, timeout) = content_fields(obj)?;
                Self::SendDelayed {
                    message_type,
                    content,
                    timeout,
                }
            }
            "flush-delayed" => Self::FlushDelayed,
            _ => return Err(E::UnknownType { value: kind }),
        })
    }
}

type ContentFields = (WsMessageType, Option<Bytes>, Option<u32>);

fn content_fields(obj: &Map<String, Json>) -> Result<ContentFields, E> {
    let message_type = match string(obj, "message-type")? {
        None => WsMessageType::Text,
        Some(t) => WsMessageType::from_bytes(t.as_bytes()).ok_or(E::UnknownMessageType)?,
    };
    let content = if obj.contains_key("content-bin") {
        let field = "content-bin";
        let bin = string(obj, field)?.ok_or(E::WrongType { field })?;
        Some(Bytes::from(qt::from_base64_lenient(bin.as_bytes())))
    } else if obj.contains_key("content") {
        Some(Bytes::from(required(obj, "content")?))
    } else {
        None
    };
    let mut timeout = None;
    if content.is_some() {
        if let Some(v) = obj.get("timeout") {
            let field = "timeout";
            let t = qt::json_to_int(v).ok_or(E::WrongType { field })?;
            timeout = Some(u32::try_from(t).map_err(|_| E::InvalidValue { field })?);
        }
    }
    Ok((message_type, content, timeout))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(s: &str) -> String {
        GripControl::parse(s.as_bytes()).unwrap_err().to_string()
    }

    #[test]
    fn parses_each_type() {
        assert_eq!(
            GripControl::parse(
                br#"{"type": "subscribe", "channel": "ws-ch", "filters": ["skip-self"]}"#
            ),
            Ok(GripControl::Subscribe {
                channel: "ws-ch".into(),
                filters: vec!["skip-self".into()]
            })
        );
        assert_eq!(
            GripControl::parse(br#"{"type": "keep-alive", "content": "ka", "timeout": 2}"#),
            Ok(GripControl::KeepAlive {
                message_type: WsMessageType::Text,
                content: Some(Bytes::from_static(b"ka")),
                timeout: Some(2),
                mode: None
            })
        );
        // content-bin keeps the text default (1.36 quirk); timeout ignored without content
        assert_eq!(
            GripControl::parse(
                br#"{"type": "keep-alive", "content-bin": "AAE=", "mode": "interval"}"#
            ),
            Ok(GripControl::KeepAlive {
                message_type: WsMessageType::Text,
                content: Some(Bytes::from_static(b"\x00\x01")),
                timeout: None,
                mode: Some(Known::Known(KeepAliveMode::Interval))
            })
        );
        assert_eq!(
            GripControl::parse(br#"{"type": "keep-alive", "timeout": "x"}"#),
            Ok(GripControl::KeepAlive {
                message_type: WsMessageType::Text,
                content: None,
                timeout: None,
                mode: None
            })
        );
        assert_eq!(
            GripControl::parse(br#"{"type": "detach"}"#),
            Ok(GripControl::Detach)
        );
        assert_eq!(
            GripControl::parse(br#"{"type": "flush-delayed"}"#),
            Ok(GripControl::FlushDelayed)
        );
        assert_eq!(
            GripControl::parse(br#"{"type": "session"}"#),
            Ok(GripControl::Session { id: None })
        );
        assert_eq!(
            GripControl::parse(br#"{"type": "set-meta", "name": "user", "value": "alice"}"#),
            Ok(GripControl::SetMeta {
                name: "user".into(),
                value: Some("alice".into())
            })
        );
        assert_eq!(
            GripControl::parse(br#"{"type": "send-delayed", "message-type": "binary", "content": "x", "timeout": 3}"#),
            Ok(GripControl::SendDelayed {
                message_type: WsMessageType::Binary,
                content: Some(Bytes::from_static(b"x")),
                timeout: Some(3)
            })
        );
        assert_eq!(
            GripControl::parse(br#"{"type": "unsubscribe", "channel": "a"}"#),
            Ok(GripControl::Unsubscribe {
                channel: "a".into()
            })
        );
    }

    #[test]
    fn every_error_text() {
        assert_eq!(err("not json"), "grip control message is not valid json");
        assert_eq!(err("5"), "grip control message is not valid json");
        assert_eq!(err("[]"), "grip control packet is not an object");
        assert_eq!(err("{}"), "grip control object does not contain 'type'");
        assert_eq!(
            err(r#"{"type": 1}"#),
            "grip control object contains 'type' with wrong type"
        );
        assert_eq!(
            err(r#"{"type": "bogus"}"#),
            "'type' contains unknown value: bogus"
        );
        assert_eq!(
            err(r#"{"type": "subscribe"}"#),
            "grip control object does not contain 'channel'"
        );
        assert_eq!(
            err(r#"{"type": "subscribe", "channel": ""}"#),
            "grip control object contains 'channel' with invalid value"
        );
        assert_eq!(
            err(r#"{"type": "subscribe", "channel": "a", "filters": "x"}"#),
            "grip control object contains 'filters' with wrong type"
        );
        assert_eq!(
            err(r#"{"type": "subscribe", "channel": "a", "filters": [1]}"#),
            "filters contains value with wrong type"
        );
        assert_eq!(
            err(r#"{"type": "set-meta", "name": ""}"#),
            "grip control object contains 'name' with invalid value"
        );
        assert_eq!(
            err(r#"{"type": "set-meta", "name": "a", "value": null}"#),
            "grip control object contains 'value' with wrong type"
        );
        assert_eq!(
            err(r#"{"type": "session", "id": 1}"#),
            "grip control object contains 'id' with wrong type"
        );
        assert_eq!(
            err(r#"{"type": "keep-alive", "message-type": "x"}"#),
            "grip control object contains 'message-type' with unknown value"
        );
        assert_eq!(
            err(r#"{"type": "keep-alive", "content-bin": 1}"#),
            "grip control object contains 'content-bin' with wrong type"
        );
        assert_eq!(
            err(r#"{"type": "keep-alive", "content": 1}"#),
            "grip control object contains 'content' with wrong type"
        );
        assert_eq!(
            err(r#"{"type": "keep-alive", "content": "a", "timeout": []}"#),
            "grip control object contains 'timeout' with wrong type"
        );
        assert_eq!(
            err(r#"{"type": "keep-alive", "content": "a", "timeout": -1}"#),
            "grip control object contains 'timeout' with invalid value"
        );
        assert_eq!(
            err(r#"{"type": "keep-alive", "mode": 1}"#),
            "grip control object contains 'mode' with wrong type"
        );
    }
}
