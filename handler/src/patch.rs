//! JSON Patch (RFC 6902) for `http-response` `body-patch` publishes
//! (`spec/publishing.md` §2.2): applied to the held request's instruct body,
//! which must be a JSON object or array; the result is written compactly and
//! the body's trailing `\r\n` or `\n` is kept.

use bytes::Bytes;
use serde_json::Value;

/// Why a patch could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PatchError {
    /// The instruct body is not a JSON object or array.
    #[error("instruct body is not a JSON object or array")]
    NotJson,
    /// An operation is malformed or does not apply.
    #[error("patch operation {0} failed")]
    Op(usize),
}

/// Applies `ops` to `body`.
pub(crate) fn apply(body: &Bytes, ops: &[Value]) -> Result<Bytes, PatchError> {
    let mut doc: Value = serde_json::from_slice(body).map_err(|_| PatchError::NotJson)?;
    if !(doc.is_object() || doc.is_array()) {
        return Err(PatchError::NotJson);
    }
    for (i, op) in ops.iter().enumerate() {
        apply_op(&mut doc, op).ok_or(PatchError::Op(i))?;
    }
    let mut out = serde_json::to_vec(&doc).map_err(|_| PatchError::NotJson)?;
    if body.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    } else if body.ends_with(b"\n") {
        out.push(b'\n');
    }
    Ok(Bytes::from(out))
}

fn apply_op(doc: &mut Value, op: &Value) -> Option<()> {
    let name = op.get("op")?.as_str()?;
    let path = op.get("path")?.as_str()?;
    match name {
        "add" => add(doc, path, op.get("value")?.clone()),
        "remove" => remove(doc, path).map(drop),
        "replace" => {
            let target = doc.pointer_mut(path)?;
            *target = op.get("value")?.clone();
            Some(())
        }
        "move" => {
            let from = op.get("from")?.as_str()?;
            let v = remove(doc, from)?;
            add(doc, path, v)
        }
        "copy" => {
            let from = op.get("from")?.as_str()?;
            let v = doc.pointer(from)?.clone();
            add(doc, path, v)
        }
        "test" => (doc.pointer(path)? == op.get("value")?).then_some(()),
        _ => None,
    }
}

fn split(path: &str) -> Option<(&str, String)> {
    let at = path.rfind('/')?;
    let (parent, last) = path.split_at(at);
    let last = last.get(1..)?.replace("~1", "/").replace("~0", "~");
    Some((parent, last))
}

fn add(doc: &mut Value, path: &str, value: Value) -> Option<()> {
    if path.is_empty() {
        *doc = value;
        return Some(());
    }
    let (parent, key) = split(path)?;
    match doc.pointer_mut(parent)? {
        Value::Object(map) => {
            map.insert(key, value);
            Some(())
        }
        Value::Array(list) => {
            if key == "-" {
                list.push(value);
            } else {
                let i: usize = key.parse().ok()?;
                if i > list.len() {
                    return None;
                }
                list.insert(i, value);
            }
            Some(())
        }
        _ => None,
    }
}

fn remove(doc: &mut Value, path: &str) -> Option<Value> {
    let (parent, key) = split(path)?;
    match doc.pointer_mut(parent)? {
        Value::Object(map) => map.remove(&key),
        Value::Array(list) => {
            let i: usize = key.parse().ok()?;
            (i < list.len()).then(|| list.remove(i))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_add_remove_as_captured() {
        let body = Bytes::from_static(b"{\"a\": 1, \"b\": [1,2], \"c\": {\"d\": \"e\"}}\n");
        let ops: Vec<Value> = serde_json::from_str(
            r#"[{"op":"replace","path":"/a","value":5},{"op":"add","path":"/b/-","value":3},{"op":"remove","path":"/c"}]"#,
        )
        .unwrap();
        assert_eq!(
            apply(&body, &ops).unwrap(),
            Bytes::from_static(b"{\"a\":5,\"b\":[1,2,3]}\n")
        );
    }

    #[test]
    fn failures_are_errors() {
        let body = Bytes::from_static(b"not json");
        assert_eq!(apply(&body, &[]), Err(PatchError::NotJson));
        let body = Bytes::from_static(b"{}");
        let ops: Vec<Value> = serde_json::from_str(r#"[{"op":"remove","path":"/x"}]"#).unwrap();
        assert_eq!(apply(&body, &ops), Err(PatchError::Op(0)));
    }
}
