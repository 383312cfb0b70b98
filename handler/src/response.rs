//! Responses the handler writes itself (`spec/grip.md` §5.2, §5.8): the
//! instruct response on a response-hold timeout, the response built from an
//! `http-response` publish, and the 502 error response.

use bytes::Bytes;
use pushpin_grip::publish::{HttpResponseContent, ResponseBody};
use tracing::warn;

use crate::session::Response;

/// `headers` with `Content-Length: len` (replacing any) written last.
pub(crate) fn content_length(mut headers: Vec<(Bytes, Bytes)>, len: usize) -> Vec<(Bytes, Bytes)> {
    headers.retain(|(n, _)| !n.eq_ignore_ascii_case(b"Content-Length"));
    headers.push((
        Bytes::from_static(b"Content-Length"),
        Bytes::from(len.to_string()),
    ));
    headers
}

/// The instruct response sent when a response hold times out.
pub(crate) fn timeout_response(r: &Response) -> Response {
    Response {
        code: r.code,
        reason: r.reason.clone(),
        headers: content_length(r.headers.clone(), r.body.len()),
        body: r.body.clone(),
    }
}

/// The response for an `http-response` publish (`spec/grip.md` §5.2).
pub(crate) fn build_response(base: &Response, content: &HttpResponseContent) -> Response {
    let body = match &content.body {
        ResponseBody::Body(b) => b.clone(),
        ResponseBody::Patch(ops) => match crate::patch::apply(&base.body, ops) {
            Ok(b) => b,
            Err(e) => {
                warn!(error = %e, "body-patch failed");
                return error_response();
            }
        },
    };
    let item_headers: Vec<&(Bytes, Bytes)> = content
        .headers
        .iter()
        .filter(|(n, _)| !pushpin_grip::instruct::is_grip_header(n))
        .collect();
    let mut headers: Vec<(Bytes, Bytes)> = base
        .headers
        .iter()
        .filter(|(n, _)| !item_headers.iter().any(|(m, _)| m.eq_ignore_ascii_case(n)))
        .cloned()
        .collect();
    headers.extend(item_headers.into_iter().cloned());
    // 1.36 quirk: names in the item's Grip-Expose-Headers are removed
    let exposed: Vec<&[u8]> =
        pushpin_grip::params::get_all(&content.headers, b"Grip-Expose-Headers");
    if !exposed.is_empty() {
        headers.retain(|(n, _)| !exposed.iter().any(|e| e.eq_ignore_ascii_case(n)));
    }
    let reason = if content.reason.is_empty() {
        Bytes::from_static(pushpin_grip::status::reason(content.code).as_bytes())
    } else {
        content.reason.clone()
    };
    Response {
        code: content.code,
        reason,
        headers: content_length(headers, body.len()),
        body,
    }
}

/// `502 Bad Gateway` / `Error while proxying to origin.` (`spec/grip.md` §5.8).
pub(crate) fn error_response() -> Response {
    failure_response(None)
}

/// The 502 of a response hold that failed (`spec/grip.md` §5.8): in debug
/// mode (`debug_text` given) the body is that text plus `\n`.
pub(crate) fn failure_response(debug_text: Option<&str>) -> Response {
    let body = match debug_text {
        Some(text) => Bytes::from(format!("{text}\n")),
        None => Bytes::from_static(b"Error while proxying to origin.\n"),
    };
    Response {
        code: 502,
        reason: Bytes::from_static(b"Bad Gateway"),
        headers: content_length(
            vec![(
                Bytes::from_static(b"Content-Type"),
                Bytes::from_static(b"text/plain"),
            )],
            body.len(),
        ),
        body,
    }
}
