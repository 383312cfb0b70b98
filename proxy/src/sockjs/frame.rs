//! SockJS framing and quoting as Pushpin 1.36 writes and reads it (its `SockJsManager`
//! and `SockJsSession`, which use Qt's compact JSON writer and reader): the open (`o`),
//! heartbeat (`h`), message (`a[...]`) and close (`c[code,"reason"]`) frames, the
//! `/info` document, the JSON-P wrapping and the client's message arrays.
//!
//! Quoting follows Qt's writer, not the SockJS protocol's recommendation: `"`, `\` and
//! the control characters below U+0020 are escaped (`\b \f \n \r \t`, else `\u00XX`),
//! everything else is written as UTF-8 as it is. In particular 1.36 does **not** escape
//! the ranges SockJS clients prefer escaped (U+200C–U+200F, U+2028–U+202F, U+2060–U+206F,
//! U+FFF0–U+FFFF), nor `/`. Payload bytes that are not UTF-8 become U+FFFD, as Qt's
//! `QString::fromUtf8` makes them. Pure: bytes in, bytes out.

use bytes::{BufMut, Bytes, BytesMut};

/// The open frame.
pub(crate) const OPEN: &[u8] = b"o";
/// The heartbeat frame.
pub(crate) const HEARTBEAT: &[u8] = b"h";
/// Largest single client message (1.36 `BUFFER_SIZE`).
pub(crate) const MAX_MESSAGE: usize = 200_000;

/// Appends `s` as a JSON string literal, quoted as Qt's JSON writer does
/// ([`pushpin_grip::cors::json_string`], shared with JSON-P).
pub(crate) fn put_json_string(out: &mut BytesMut, s: &str) {
    out.put_slice(pushpin_grip::cors::json_string(s.as_bytes()).as_bytes());
}

/// `bytes` (lossily UTF-8) as a JSON string literal.
pub(crate) fn json_string(bytes: &[u8]) -> Bytes {
    Bytes::from(pushpin_grip::cors::json_string(bytes))
}

/// A close frame: `c` and the encoded `[code, "reason"]`.
pub(crate) fn close(value: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(value.len() + 1);
    b.extend_from_slice(b"c");
    b.extend_from_slice(value);
    b.freeze()
}

/// A message frame: `a` and a JSON array of the messages (each lossily UTF-8).
pub(crate) fn messages<'a>(msgs: impl IntoIterator<Item = &'a [u8]>) -> Bytes {
    let mut out = BytesMut::new();
    out.put_slice(b"a[");
    for (i, m) in msgs.into_iter().enumerate() {
        if i > 0 {
            out.put_u8(b',');
        }
        put_json_string(&mut out, &String::from_utf8_lossy(m));
    }
    out.put_u8(b']');
    out.freeze()
}

/// The value of a close frame (what follows `c`): `[code,"reason"]`.
pub(crate) fn close_value(code: i64, reason: &str) -> Bytes {
    let mut out = BytesMut::new();
    out.put_u8(b'[');
    out.put_slice(code.to_string().as_bytes());
    out.put_u8(b',');
    put_json_string(&mut out, reason);
    out.put_u8(b']');
    out.freeze()
}

/// The close value a session leaves behind when it ends (1.36 `applyLinger`): the close
/// code (0 when none) and its reason, or `"Connection closed"`.
pub(crate) fn linger_value(code: Option<u16>, reason: &str) -> Bytes {
    match code {
        Some(code) if !reason.is_empty() => close_value(i64::from(code), reason),
        Some(code) => close_value(i64::from(code), "Connection closed"),
        None => close_value(0, "Connection closed"),
    }
}

/// `/info`: 1.36's keys in Qt's (sorted) order.
pub(crate) fn info(entropy: u32) -> Bytes {
    Bytes::from(format!(
        "{{\"cookie_needed\":false,\"entropy\":{entropy},\"origins\":[\"*:*\"],\"websocket\":true}}"
    ))
}

/// The body of an HTTP transport answer carrying `frame`: `frame` and a newline, or with
/// a JSON-P callback `/**/callback("frame");` and a newline. An empty frame (none) stays
/// empty without a callback.
pub(crate) fn http_body(frame: &[u8], callback: Option<&[u8]>) -> Bytes {
    match callback {
        Some(cb) => {
            let mut out = BytesMut::new();
            out.put_slice(b"/**/");
            out.put_slice(cb);
            out.put_u8(b'(');
            out.put_slice(&json_string(frame));
            out.put_slice(b");\n");
            out.freeze()
        }
        None if frame.is_empty() => Bytes::new(),
        None => {
            let mut out = BytesMut::with_capacity(frame.len() + 1);
            out.put_slice(frame);
            out.put_u8(b'\n');
            out.freeze()
        }
    }
}

/// A plain string answer (`ok` to a send): as it is, or JSON-P wrapped (no newline
/// without a callback, as 1.36).
pub(crate) fn http_string(s: &[u8], callback: Option<&[u8]>) -> Bytes {
    match callback {
        Some(_) => http_body(s, callback),
        None => Bytes::copy_from_slice(s),
    }
}

/// Why a client payload was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PayloadError {
    /// Not a JSON array of strings.
    #[error("payload expected")]
    NotMessages,
    /// One message is larger than [`MAX_MESSAGE`].
    #[error("message too large")]
    TooLarge,
}

/// The messages of a client payload: a JSON array of strings.
pub(crate) fn parse_messages(data: &[u8]) -> Result<Vec<Bytes>, PayloadError> {
    let value: serde_json::Value =
        serde_json::from_slice(data).map_err(|_| PayloadError::NotMessages)?;
    let serde_json::Value::Array(items) = value else {
        return Err(PayloadError::NotMessages);
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let serde_json::Value::String(s) = item else {
            return Err(PayloadError::NotMessages);
        };
        if s.len() > MAX_MESSAGE {
            return Err(PayloadError::TooLarge);
        }
        out.push(Bytes::from(s));
    }
    Ok(out)
}

/// The `d` parameter of a form-encoded `jsonp_send` body (percent-decoded, `+` kept, as
/// 1.36's `QUrl::fromPercentEncoding`); empty when absent.
pub(crate) fn form_d(body: &[u8]) -> Bytes {
    for kv in body.split(|&b| b == b'&') {
        let Some(at) = kv.iter().position(|&b| b == b'=') else {
            continue;
        };
        let (k, v) = kv.split_at(at);
        if crate::uri::percent_decode_bytes(k) == b"d" {
            return Bytes::from(crate::uri::percent_decode_bytes(
                v.get(1..).unwrap_or_default(),
            ));
        }
    }
    Bytes::new()
}

#[cfg(test)]
mod tests;
