//! One format object of an item (`PublishFormat::fromVariant` in 1.36).

use bytes::Bytes;

use super::error::{FormatKind, Parent, PublishError};
use super::{HttpResponseContent, HttpResponseFormat, HttpStreamFormat, ResponseBody};
use super::{WsMessageFormat, WsMessageType};
use crate::node::Node;
use crate::{header_list, qt, status};

/// `getString(in, pn, field, false)`: `Ok(None)` when absent.
pub(super) fn get_string(
    node: &Node<'_>,
    parent: Parent,
    field: &'static str,
) -> Result<Option<Bytes>, PublishError> {
    match node.get(field) {
        None => Ok(None),
        Some(v) => v
            .string()
            .map(Some)
            .ok_or(PublishError::WrongType { parent, field }),
    }
}

enum Action {
    Send,
    Hint,
    Close,
}

fn action(node: &Node<'_>, kind: FormatKind) -> Result<Action, PublishError> {
    let parent = Parent::Format(kind);
    match get_string(node, parent, "action")?.as_deref() {
        None | Some(b"send") => Ok(Action::Send),
        Some(b"hint") => Ok(Action::Hint),
        Some(b"close") => Ok(Action::Close),
        Some(other) => Err(PublishError::UnknownAction {
            format: kind,
            action: qt::lossy_string(other),
        }),
    }
}

fn content_filters(node: &Node<'_>, parent: Parent) -> Result<Option<Vec<String>>, PublishError> {
    let Some(v) = node.get("content-filters") else {
        return Ok(None);
    };
    let list = v.list().ok_or(PublishError::WrongType {
        parent,
        field: "content-filters",
    })?;
    list.iter()
        .map(|f| {
            f.string()
                .map(|s| qt::lossy_string(&s))
                .ok_or(PublishError::ContentFilterWrongType)
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// A base64 JSON string (`body-bin`, `content-bin`), decoded leniently.
fn base64_field(
    node: &Node<'_>,
    parent: Parent,
    field: &'static str,
) -> Result<Bytes, PublishError> {
    let s = get_string(node, parent, field)?.unwrap_or_default();
    Ok(Bytes::from(qt::from_base64_lenient(&s)))
}

/// A `content`/`body` field: a string (JSON) or byte string (tnetstring).
fn content_field(
    node: &Node<'_>,
    parent: Parent,
    field: &'static str,
) -> Result<Option<Bytes>, PublishError> {
    get_string(node, parent, field)
}

pub(super) fn http_response(node: &Node<'_>) -> Result<HttpResponseFormat, PublishError> {
    let kind = FormatKind::HttpResponse;
    let parent = Parent::Format(kind);
    if !node.is_object() {
        return Err(PublishError::NotObject(parent));
    }
    match action(node, kind)? {
        Action::Hint => return Ok(HttpResponseFormat::Hint),
        Action::Close => return Ok(HttpResponseFormat::Close),
        Action::Send => {}
    }

    let code = match node.get("code") {
        None => 200,
        Some(v) => {
            let c = v.to_int().ok_or(PublishError::WrongType {
                parent,
                field: "code",
            })?;
            u16::try_from(c)
                .ok()
                .filter(|c| *c <= 999)
                .ok_or(PublishError::InvalidValue {
                    parent,
                    field: "code",
                })?
        }
    };

    let reason = match get_string(node, parent, "reason")? {
        Some(r) if !r.is_empty() => r,
        _ => Bytes::from_static(status::reason(code).as_bytes()),
    };

    let headers = match node.get("headers") {
        None => Vec::new(),
        Some(h) => header_list::parse(&h)?.ok_or(PublishError::WrongType {
            parent,
            field: "headers",
        })?,
    };

    let content_filters = content_filters(node, parent)?;

    let body = if node.is_json() && node.get("body-bin").is_some() {
        ResponseBody::Body(base64_field(node, parent, "body-bin")?)
    } else if let Some(body) = content_field(node, parent, "body")? {
        ResponseBody::Body(body)
    } else if let Some(patch) = node.get("body-patch") {
        let ops = patch.list().ok_or(PublishError::WrongType {
            parent,
            field: "body-patch",
        })?;
        ResponseBody::Patch(ops.into_iter().map(Node::to_json).collect())
    } else {
        return Err(PublishError::MissingBody {
            json: node.is_json(),
        });
    };

    Ok(HttpResponseFormat::Send(HttpResponseContent {
        code,
        reason,
        headers,
        body,
        content_filters,
    }))
}

pub(super) fn http_stream(node: &Node<'_>) -> Result<HttpStreamFormat, PublishError> {
    let kind = FormatKind::HttpStream;
    let parent = Parent::Format(kind);
    if !node.is_object() {
        return Err(PublishError::NotObject(parent));
    }
    match action(node, kind)? {
        Action::Hint => return Ok(HttpStreamFormat::Hint),
        Action::Close => return Ok(HttpStreamFormat::Close),
        Action::Send => {}
    }
    let content_filters = content_filters(node, parent)?;
    let content = if node.is_json() && node.get("content-bin").is_some() {
        base64_field(node, parent, "content-bin")?
    } else if let Some(content) = content_field(node, parent, "content")? {
        content
    } else {
        return Err(PublishError::MissingStreamContent {
            json: node.is_json(),
        });
    };
    Ok(HttpStreamFormat::Send {
        content,
        content_filters,
    })
}

pub(super) fn ws_message(node: &Node<'_>) -> Result<WsMessageFormat, PublishError> {
    let kind = FormatKind::WsMessage;
    let parent = Parent::Format(kind);
    if !node.is_object() {
        return Err(PublishError::NotObject(parent));
    }
    match action(node, kind)? {
        Action::Hint => Ok(WsMessageFormat::Hint),
        Action::Close => ws_close(node, parent),
        Action::Send => ws_send(node, parent),
    }
}

fn ws_send(node: &Node<'_>, parent: Parent) -> Result<WsMessageFormat, PublishError> {
    let mut message_type = match get_string(node, parent, "type")? {
        None => None,
        Some(t) => Some(WsMessageType::from_bytes(&t).ok_or(PublishError::UnknownWsType)?),
    };
    let content_filters = content_filters(node, parent)?;
    let content = if let Some(bin) = node.get("content-bin") {
        let field = "content-bin";
        let raw = bin
            .string()
            .ok_or(PublishError::WrongType { parent, field })?;
        message_type.get_or_insert(WsMessageType::Binary);
        if node.is_json() {
            Bytes::from(qt::from_base64_lenient(&raw))
        } else {
            raw
        }
    } else if let Some(content) = content_field(node, parent, "content")? {
        message_type.get_or_insert(WsMessageType::Text);
        content
    } else {
        match message_type {
            None | Some(WsMessageType::Text | WsMessageType::Binary) => {
                return Err(PublishError::MissingWsContent);
            }
            Some(WsMessageType::Ping | WsMessageType::Pong) => Bytes::new(),
        }
    };
    Ok(WsMessageFormat::Send {
        message_type: message_type.unwrap_or(WsMessageType::Text),
        content,
        content_filters,
    })
}

fn ws_close(node: &Node<'_>, parent: Parent) -> Result<WsMessageFormat, PublishError> {
    let code = match node.get("code") {
        None => None,
        Some(v) => {
            let field = "code";
            let c = v
                .to_int()
                .ok_or(PublishError::WrongType { parent, field })?;
            Some(u16::try_from(c).map_err(|_| PublishError::InvalidValue { parent, field })?)
        }
    };
    let reason = get_string(node, parent, "reason")?.filter(|r| !r.is_empty());
    Ok(WsMessageFormat::Close { code, reason })
}
