//! The `headers` field shared by the JSON instruct `response` and the publish
//! `http-response` format: either a list of `[name, value]` pairs (order kept)
//! or an object `{name: value}` (sorted key order for JSON input).

use crate::node::Node;
use crate::params::Header;

/// Why a `headers` field was rejected; `Display` is the exact 1.36 message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadersError {
    /// A list element is not a list.
    #[error("headers contains element with wrong type")]
    ElementWrongType,
    /// A list element does not have exactly two items.
    #[error("headers contains list with wrong number of elements")]
    WrongNumberOfElements,
    /// A pair's name is not a string.
    #[error("header contains name element with wrong type")]
    NameWrongType,
    /// A pair's value is not a string.
    #[error("header contains value element with wrong type")]
    ValueWrongType,
    /// An object entry's value is not a string.
    #[error("headers contains '{name}' with wrong type")]
    EntryWrongType {
        /// The header name whose value was wrong.
        name: String,
    },
}

/// Parses a `headers` value. `Ok(None)` means it is neither a list nor an
/// object (the caller reports "`<parent>` contains 'headers' with wrong type").
pub(crate) fn parse(node: &Node<'_>) -> Result<Option<Vec<Header>>, HeadersError> {
    if let Some(list) = node.list() {
        let mut out = Vec::with_capacity(list.len());
        for item in list {
            let pair = item.list().ok_or(HeadersError::ElementWrongType)?;
            let [name, value] = pair.as_slice() else {
                return Err(HeadersError::WrongNumberOfElements);
            };
            let name = name.string().ok_or(HeadersError::NameWrongType)?;
            let value = value.string().ok_or(HeadersError::ValueWrongType)?;
            out.push((name, value));
        }
        return Ok(Some(out));
    }
    if node.is_object() {
        let mut out = Vec::new();
        for (name, value) in node.entries() {
            let Some(value) = value.string() else {
                return Err(HeadersError::EntryWrongType {
                    name: String::from_utf8_lossy(&name).into_owned(),
                });
            };
            out.push((name, value));
        }
        return Ok(Some(out));
    }
    Ok(None)
}
