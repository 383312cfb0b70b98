//! The publish inputs: HTTP body, ZeroMQ PULL/SUB messages, command args.

use bytes::Bytes;
use pushpin_tnetstring::{Frame, Kind, Limits, T_PREFIX, parse_frame};
use serde_json::Value as Json;

use super::PublishItem;
use super::error::{MessageError, PublishRequestError};
use super::item;
use crate::node::{Node, validate_tnet};

/// Parses an HTTP `POST /publish` body: `{"items": [item, ...]}`. All items
/// must be valid (all-or-nothing); an empty list is fine.
pub fn parse_http_body(body: &[u8]) -> Result<Vec<PublishItem>, PublishRequestError> {
    let doc: Json = serde_json::from_slice(body).map_err(|_| PublishRequestError::InvalidJson)?;
    match doc {
        Json::Object(_) => items(&Node::Json(&doc)),
        Json::Array(_) => Err(PublishRequestError::NotObject),
        // Qt 5 only accepts an object or array at the top level
        _ => Err(PublishRequestError::InvalidJson),
    }
}

/// Parses the command socket's `publish` args: a tnetstring dictionary
/// `{"items": [item, ...]}` (as encoded in the ZRPC request).
pub fn parse_command_args(args: &Bytes) -> Result<Vec<PublishItem>, PublishRequestError> {
    if args.is_empty() {
        // absent args: an empty dictionary
        return Err(PublishRequestError::NoItems);
    }
    let Ok(Some((frame, _))) = parse_frame(args, &Limits::default()) else {
        return Err(PublishRequestError::NoItems);
    };
    if frame.kind() != Kind::Map || validate_tnet(&frame, Limits::default().max_depth).is_err() {
        return Err(PublishRequestError::NoItems);
    }
    items(&Node::Tnet { src: args, frame })
}

fn items(obj: &Node<'_>) -> Result<Vec<PublishItem>, PublishRequestError> {
    let list = obj
        .get("items")
        .ok_or(PublishRequestError::NoItems)?
        .list()
        .ok_or(PublishRequestError::ItemsWrongType)?;
    list.iter()
        .enumerate()
        .map(|(index, v)| {
            item::parse(v, None).map_err(|error| PublishRequestError::Item { index, error })
        })
        .collect()
}

/// Parses one publish message body: `J` + JSON object, `T` + tnetstring, or a
/// bare tnetstring (anything else). `channel` is the SUB topic frame, if any.
pub fn parse_message(message: &Bytes, channel: Option<&[u8]>) -> Result<PublishItem, MessageError> {
    if let Some(json) = message.strip_prefix(b"J") {
        let doc: Json = serde_json::from_slice(json).map_err(|_| MessageError::Json)?;
        if !doc.is_object() {
            return Err(if doc.is_array() {
                MessageError::NotJsonObject
            } else {
                MessageError::Json
            });
        }
        return Ok(item::parse(&Node::Json(&doc), channel)?);
    }
    let offset = usize::from(message.first() == Some(&T_PREFIX));
    let src = message.slice(offset..);
    let frame = parse_whole(&src)?;
    Ok(item::parse(&Node::Tnet { src: &src, frame }, channel)?)
}

fn parse_whole(src: &Bytes) -> Result<Frame<'_>, MessageError> {
    let limits = Limits::default();
    match parse_frame(src, &limits) {
        Ok(Some((frame, _))) => {
            validate_tnet(&frame, limits.max_depth).map_err(MessageError::Tnetstring)?;
            Ok(frame)
        }
        Ok(None) => Err(MessageError::Tnetstring(
            pushpin_tnetstring::Error::Truncated { offset: 0 },
        )),
        Err(e) => Err(MessageError::Tnetstring(e)),
    }
}

/// Decodes a message from the PULL socket (`push_in_spec`): exactly one frame.
pub fn decode_push_message(frames: &[Bytes]) -> Result<PublishItem, MessageError> {
    match frames {
        [message] => parse_message(message, None),
        _ => Err(MessageError::FrameCount {
            expected: 1,
            got: frames.len(),
        }),
    }
}

/// Decodes a message from the SUB socket (`push_in_sub_specs`): exactly two
/// frames, the channel (topic) and the item; a non-empty topic replaces the
/// item's `channel` field.
pub fn decode_sub_message(frames: &[Bytes]) -> Result<PublishItem, MessageError> {
    match frames {
        [channel, message] => parse_message(message, Some(channel)),
        _ => Err(MessageError::FrameCount {
            expected: 2,
            got: frames.len(),
        }),
    }
}
