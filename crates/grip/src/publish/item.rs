//! One publish item (`PublishItem::fromVariant` in 1.36).

use std::collections::BTreeMap;

use super::error::{FormatKind, Parent, PublishError};
use super::format::{self, get_string};
use super::{Formats, PublishItem};
use crate::node::Node;
use crate::qt;

/// Parses an item. A non-empty `channel` (the SUB topic frame) overrides the
/// item's own `channel` field, which is then not read at all.
pub(crate) fn parse(node: &Node<'_>, channel: Option<&[u8]>) -> Result<PublishItem, PublishError> {
    let parent = Parent::Item;
    if !node.is_object() {
        return Err(PublishError::NotObject(parent));
    }

    let channel = match channel.filter(|c| !c.is_empty()) {
        Some(c) => qt::lossy_string(c),
        None => {
            let c = get_string(node, parent, "channel")?.ok_or(PublishError::Missing {
                parent,
                field: "channel",
            })?;
            qt::lossy_string(&c)
        }
    };
    let id = get_string(node, parent, "id")?.map(|s| qt::lossy_string(&s));
    let prev_id = get_string(node, parent, "prev-id")?.map(|s| qt::lossy_string(&s));

    // the formats container: the "formats" object, or the item itself when
    // it has no "formats" (then only the three format keys count)
    let (container, wrapped) = match node.get("formats") {
        Some(f) if f.is_object() => (f, true),
        Some(_) => {
            return Err(PublishError::WrongType {
                parent,
                field: "formats",
            });
        }
        None => (*node, false),
    };
    let present: Vec<(FormatKind, Node<'_>)> = FormatKind::ALL
        .iter()
        .filter_map(|k| container.get(k.as_str()).map(|v| (*k, v)))
        .collect();
    let empty = if wrapped {
        container.entries().is_empty()
    } else {
        present.is_empty()
    };
    if empty {
        return Err(PublishError::NoFormats);
    }

    let mut formats = Formats::default();
    for (kind, v) in present {
        match kind {
            FormatKind::HttpResponse => formats.http_response = Some(format::http_response(&v)?),
            FormatKind::HttpStream => formats.http_stream = Some(format::http_stream(&v)?),
            FormatKind::WsMessage => formats.ws_message = Some(format::ws_message(&v)?),
        }
    }

    let mut meta = BTreeMap::new();
    match node.get("meta") {
        None => {}
        Some(m) if m.is_object() => {
            for (k, v) in m.entries() {
                let Some(v) = v.string() else {
                    return Err(PublishError::MetaWrongType {
                        key: qt::lossy_string(&k),
                    });
                };
                meta.insert(qt::lossy_string(&k), qt::lossy_string(&v));
            }
        }
        Some(_) => {
            return Err(PublishError::WrongType {
                parent,
                field: "meta",
            });
        }
    }

    let size = match node.get("size") {
        None => None,
        Some(v) => {
            let field = "size";
            let n = v
                .to_int()
                .ok_or(PublishError::WrongType { parent, field })?;
            Some(u32::try_from(n).map_err(|_| PublishError::InvalidValue { parent, field })?)
        }
    };

    let no_seq = match node.get("no-seq") {
        None => false,
        Some(v) => v.as_bool().ok_or(PublishError::WrongType {
            parent,
            field: "no-seq",
        })?,
    };

    Ok(PublishItem {
        channel,
        id,
        prev_id,
        formats,
        meta,
        size,
        no_seq,
    })
}
