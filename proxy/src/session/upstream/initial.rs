//! GRIP responses larger than the 100000 bytes buffered for the handler
//! (`spec/internal.md` §5.5, `spec/grip.md` §5.7; 1.36 `proxyInitialResponse`).
//!
//! A `Grip-Hold: stream` response (or one with a `Grip-Link` `rel=next` and no
//! `Grip-Hold`) whose channels use no `build-id` filter is sent by the proxy itself:
//! `Grip-Status` applied, `Content-Length` and every `Grip-*` header removed, the body
//! streamed unended; once the origin finished, the handler gets the session with
//! `response-sent` ([`handoff::accept_sent`](super::handoff::accept_sent)). Any other
//! GRIP response that large is refused with `502` (debug: `GRIP instruct response too
//! large from <target>`).

use bytes::Bytes;
use pushpin_config::routes::Target;
use pushpin_grip::params::{self, ParseMode};
use pushpin_zhttp::{Header, PacketType};

use super::{Conn, MAX_ACCEPT_BODY, Outcome, PROXY_ERROR, Phase, Request, Upstream};
use super::{grip_response, respond};
use crate::outgoing::{self, OriginRequest};
use crate::session::body::Chunks;

type Headers = [outgoing::Header];

/// Whether 1.36 sends this GRIP response itself when it is too large to buffer.
fn sent_by_proxy(headers: &Headers) -> bool {
    let hold = params::get(headers, b"Grip-Hold");
    let next_link =
        params::get_all_as_params(headers, b"Grip-Link", ParseMode::NoParseFirstParameter)
            .iter()
            .any(|p| p.items.len() >= 2 && p.get(b"rel") == Some(&b"next"[..]));
    let build_id =
        params::get_all_as_params(headers, b"Grip-Channel", ParseMode::NoParseFirstParameter)
            .iter()
            .any(|p| {
                p.rest()
                    .iter()
                    .any(|(k, v)| k.as_slice() == b"filter" && v.as_slice() == b"build-id")
            });
    let stream = match hold {
        Some(h) => &h[..] == b"stream",
        None => next_link,
    };
    stream && !build_id
}

/// The head the client gets: `Grip-Status` applied, `Content-Length` and `Grip-*`
/// removed. `None` when `Grip-Status` has no valid code (0–999).
fn client_head(
    code: u16,
    reason: Bytes,
    headers: &Headers,
) -> Option<(u16, Bytes, Vec<outgoing::Header>)> {
    let (mut code, mut reason) = (code, reason);
    if let Some(status) = params::get(headers, b"Grip-Status").filter(|s| !s.is_empty()) {
        let (code_text, text) = match status.iter().position(|&c| c == b' ') {
            Some(at) => (status.slice(..at), status.slice(at.saturating_add(1)..)),
            None => (status.clone(), Bytes::new()),
        };
        code = pushpin_grip::qt::to_i32(&code_text)
            .and_then(|c| u16::try_from(c).ok())
            .filter(|c| *c <= 999)?;
        reason = if text.is_empty() {
            Bytes::from_static(pushpin_grip::status::reason(code).as_bytes())
        } else {
            text
        };
    }
    let headers = headers
        .iter()
        .filter(|(n, _)| {
            !n.eq_ignore_ascii_case(b"Content-Length") && !pushpin_grip::instruct::is_grip_header(n)
        })
        .cloned()
        .collect();
    Some((code, reason, headers))
}

/// More body for a buffered GRIP response: keep buffering, hand it over once complete,
/// or past [`MAX_ACCEPT_BODY`] start sending it (or refuse it) as 1.36 does.
#[expect(
    clippy::too_many_arguments,
    reason = "one step of the forwarding loop's state"
)]
pub(super) async fn grip_more(
    conn: &mut Conn,
    req: &Request,
    target: &Target,
    origin: &OriginRequest,
    up: &mut Upstream,
    phase: Phase,
    data: Bytes,
    more: bool,
    sent_bytes: &mut usize,
) -> Result<Phase, Outcome> {
    let Phase::Grip { head, mut body } = phase else {
        return Ok(phase);
    };
    body.extend_from_slice(&data);
    if body.len() <= MAX_ACCEPT_BODY {
        if more {
            return Ok(Phase::Grip { head, body });
        }
        up.done = true;
        let response = grip_response(&head, body.freeze());
        return Err(respond::origin_complete(conn, req, target, origin, response).await);
    }
    let headers: Vec<outgoing::Header> = head
        .header_list()
        .iter()
        .map(|h| (h.name.clone(), h.value.clone()))
        .collect();
    let jsonp = conn.aco.as_ref().is_some_and(|a| a.jsonp.is_some());
    if !sent_by_proxy(&headers) || jsonp {
        return Err(too_large(conn, req, target, up).await);
    }
    let name = target.kind.to_string();
    if req.body.retained().is_none() {
        up.cancel().await;
        respond::log_request(conn, req, &name, "code=400");
        let text = "Request too large to accept GRIP instruct.\n".to_string();
        let _ = respond::error_response(conn, 400, text).await;
        return Err(Outcome::Done);
    }
    let reason = head.reason.clone().unwrap_or_default();
    let Some((code, reason, mut client_headers)) =
        client_head(head.code.unwrap_or(200), reason, &headers)
    else {
        // 1.36 gives up as when the handler cannot be reached
        up.cancel().await;
        respond::log_request(conn, req, &name, "code=500");
        let text = "Accept service unavailable.\n".to_string();
        let _ = respond::error_response(conn, 500, text).await;
        return Err(Outcome::Done);
    };
    respond::strip_hop_headers(&mut client_headers);
    if let Some(shaping) = &conn.aco {
        shaping.head_headers(&mut client_headers);
    }
    let mut pending = Chunks::default();
    pending.push(body.freeze());
    let n = conn.out_credits.take(pending.len());
    let mut p = conn.packet(PacketType::Data);
    p.code = Some(code);
    p.reason = Some(reason);
    p.headers = Some(
        client_headers
            .into_iter()
            .map(|(n, v)| Header::new(n, v))
            .collect(),
    );
    p.body = Some(pending.take(n));
    p.more = true;
    *sent_bytes += n;
    if !conn.send(p).await {
        up.cancel().await;
        return Err(Outcome::Gone);
    }
    if more && !up.grant(n).await {
        return Err(Outcome::Gone);
    }
    up.done = !more;
    Ok(Phase::Streaming {
        pending,
        ended: !more,
        end_sent: false,
        code,
        jsonp: None,
        accept_after: Some(head),
    })
}

/// `502` for a GRIP response too large to buffer.
async fn too_large(conn: &mut Conn, req: &Request, target: &Target, up: &mut Upstream) -> Outcome {
    up.cancel().await;
    respond::log_request(conn, req, &target.kind.to_string(), "error");
    let text = if req.debug {
        format!("GRIP instruct response too large from {}\n", target.kind)
    } else {
        PROXY_ERROR.to_string()
    };
    let _ = respond::error_response(conn, 502, text).await;
    Outcome::Done
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(list: &[(&'static str, &'static str)]) -> Vec<outgoing::Header> {
        list.iter()
            .map(|(n, v)| {
                (
                    Bytes::from_static(n.as_bytes()),
                    Bytes::from_static(v.as_bytes()),
                )
            })
            .collect()
    }

    #[test]
    fn which_large_responses_the_proxy_sends() {
        assert!(sent_by_proxy(&h(&[
            ("Grip-Hold", "stream"),
            ("Grip-Channel", "a")
        ])));
        assert!(!sent_by_proxy(&h(&[
            ("Grip-Hold", "response"),
            ("Grip-Channel", "a")
        ])));
        assert!(sent_by_proxy(&h(&[("Grip-Link", "</x>; rel=next")])));
        assert!(!sent_by_proxy(&h(&[("Grip-Link", "</x>; rel=prev")])));
        assert!(!sent_by_proxy(&h(&[
            ("Grip-Hold", "response"),
            ("Grip-Link", "</x>; rel=next")
        ])));
        assert!(!sent_by_proxy(&h(&[
            ("Grip-Hold", "stream"),
            ("Grip-Channel", "a, b; filter=build-id")
        ])));
        assert!(!sent_by_proxy(&h(&[(
            "Content-Type",
            "application/grip-instruct"
        )])));
    }

    #[test]
    fn client_head_applies_status_and_strips() {
        let headers = h(&[
            ("Content-Type", "text/plain"),
            ("Content-Length", "200000"),
            ("Grip-Hold", "stream"),
            ("grip-status", "201"),
        ]);
        let (code, reason, out) = client_head(200, Bytes::from_static(b"OK"), &headers).unwrap();
        assert_eq!((code, &reason[..]), (201, &b"Created"[..]));
        assert_eq!(out, h(&[("Content-Type", "text/plain")]));
        let bad = h(&[("Grip-Status", "abc")]);
        assert!(client_head(200, Bytes::new(), &bad).is_none());
        let custom = h(&[("Grip-Status", "299 Fine Thanks")]);
        let (code, reason, _) = client_head(200, Bytes::new(), &custom).unwrap();
        assert_eq!((code, &reason[..]), (299, &b"Fine Thanks"[..]));
    }
}
