//! Writing responses to the client: complete responses within the peer's credits, the
//! proxy's own error answers with Pushpin 1.36's bodies (`spec/grip.md` §5.7–§5.8,
//! `spec/config.md` §8.5), the request log line (`spec/runner.md` §6.4), and the decision
//! between relaying a complete origin response and handing it to the handler.
//! This is the one place where proxy errors become HTTP statuses.

use bytes::Bytes;
use pushpin_config::routes::Target;
use pushpin_grip::instruct::is_grip_response;
use pushpin_zhttp::{Header, PacketType};
use tracing::info;

use super::conn::{Conn, ConnEvent};
use super::{Outcome, Request, handoff};
use crate::outgoing::{ClientRequest, OriginRequest};
use crate::test_target::Response;

/// `502` body for every proxying failure outside debug mode.
pub(crate) const PROXY_ERROR: &str = "Error while proxying to origin.\n";

/// Removes the origin response headers 1.36 never relays to the client whatever the
/// route (`Connection`, `Keep-Alive`, `Content-Encoding`, `Transfer-Encoding`: zurl has
/// dealt with them and they only apply to the hop to the origin).
pub(crate) fn strip_hop_headers(headers: &mut Vec<crate::outgoing::Header>) {
    headers.retain(|(n, _)| {
        !crate::aco::NOT_RELAYED
            .iter()
            .any(|r| n.eq_ignore_ascii_case(r))
    });
}

/// Logs the finished request as 1.36 does.
pub(crate) fn log_request(conn: &Conn, req: &Request, target: &str, outcome: &str) {
    let config = &conn.shared.config;
    let route = req
        .route
        .stats_route()
        .map(|r| format!(" route={r}"))
        .unwrap_or_default();
    let from = match (config.log_from, req.logical_peer.as_ref()) {
        (true, Some(p)) => format!(" from={}", String::from_utf8_lossy(p)),
        _ => String::new(),
    };
    let ua = match (
        config.log_user_agent,
        crate::outgoing::get(&req.client.headers, b"User-Agent"),
    ) {
        (true, Some(ua)) => format!(" ua={}", String::from_utf8_lossy(ua)),
        _ => String::new(),
    };
    let retry = if req.is_retry { " retry" } else { "" };
    let shared = conn
        .sharing
        .as_ref()
        .and_then(|r| r.group().log_tag())
        .unwrap_or_default();
    info!(
        "{} {} -> {target}{from}{route} {outcome}{retry}{shared}{ua}",
        String::from_utf8_lossy(&req.client.method),
        req.client.uri
    );
}

/// Sends a complete response: the head with as much body as the credits allow, then the
/// rest as credits arrive. `false` when the client went away. The session's CORS /
/// JSON-P shaping applies here, so every complete answer gets it.
pub(crate) async fn send_response(conn: &mut Conn, response: &Response) -> bool {
    let shaped;
    let response = match &conn.aco {
        Some(shaping) => {
            shaped = shaping.complete(response);
            &shaped
        }
        None => response,
    };
    let mut body = response.body.clone();
    let n = conn.out_credits.take(body.len());
    let chunk = body.split_to(n);
    let mut p = conn.packet(PacketType::Data);
    p.code = Some(response.code);
    p.reason = Some(response.reason.clone());
    p.headers = Some(
        response
            .headers
            .iter()
            .map(|(n, v)| Header::new(n.clone(), v.clone()))
            .collect(),
    );
    p.body = Some(chunk);
    p.more = !body.is_empty();
    if !conn.send(p).await {
        return false;
    }
    send_rest(conn, body).await
}

/// Sends `body` as further data packets within credits; the last has no `more`.
pub(crate) async fn send_rest(conn: &mut Conn, mut body: Bytes) -> bool {
    while !body.is_empty() {
        if conn.out_credits.available() == 0 {
            match conn.recv().await {
                ConnEvent::Gone => return false,
                _ => continue,
            }
        }
        let n = conn.out_credits.take(body.len());
        let chunk = body.split_to(n);
        let mut p = conn.packet(PacketType::Data);
        p.body = Some(chunk);
        p.more = !body.is_empty();
        if !conn.send(p).await {
            return false;
        }
    }
    true
}

/// A proxy-generated `text/plain` error (not counted as client bytes sent, as 1.36).
pub(crate) async fn error_response(conn: &mut Conn, code: u16, body: String) -> bool {
    let counting = std::mem::replace(&mut conn.count_sent, false);
    let ok = send_error(conn, code, body).await;
    conn.count_sent = counting;
    ok
}

async fn send_error(conn: &mut Conn, code: u16, body: String) -> bool {
    let mut response = Response::text(code, body);
    if conn.aco.as_ref().is_some_and(|a| a.jsonp.is_some()) {
        // 1.36 writes its errors with a Content-Length, which the JSON-P object shows
        let len = response.body.len().to_string();
        response
            .headers
            .push((Bytes::from_static(b"Content-Length"), Bytes::from(len)));
    }
    send_response(conn, &response).await
}

/// Refuses a WebSocket handshake with an HTTP response (`rejected`).
pub(crate) async fn reject(conn: &mut Conn, code: u16, body: String) {
    let mut p = conn.packet(PacketType::Error);
    p.condition = Some(pushpin_zhttp::Condition::Rejected);
    p.code = Some(code);
    p.reason = Some(Bytes::from_static(
        pushpin_grip::status::reason(code).as_bytes(),
    ));
    // a SockJS session's answer carries only its own headers (1.36 passes none)
    p.headers = Some(if conn.is_local() {
        Vec::new()
    } else {
        vec![Header::new("Content-Type", "text/plain")]
    });
    p.body = Some(Bytes::from(body));
    let _ = conn.send(p).await;
}

/// `502 No route for host`.
pub(crate) async fn no_route(conn: &mut Conn, client: &ClientRequest, host: &str) {
    info!(
        "{} {} -> (no route) code=502",
        String::from_utf8_lossy(&client.method),
        client.uri
    );
    let _ = error_response(conn, 502, format!("No route for host: {host}\n")).await;
}

/// `502` after every target failed to connect.
pub(crate) async fn all_targets_failed(conn: &mut Conn, req: &Request, tried: &[String]) {
    let body = if req.debug {
        format!(
            "Unable to connect to any targets. Tried: {}\n",
            tried.join(", ")
        )
    } else {
        PROXY_ERROR.to_string()
    };
    log_request(conn, req, &tried.join(","), "error");
    let _ = error_response(conn, 502, body).await;
}

/// A complete origin response (test target, or a buffered GRIP response): relay it, or
/// hand the session to the handler when it carries GRIP instructions.
pub(crate) async fn origin_complete(
    conn: &mut Conn,
    req: &Request,
    target: &Target,
    origin: &OriginRequest,
    response: Response,
) -> Outcome {
    let grip = !req.trusted_client
        && !req.internal
        && req.route.grip
        && is_grip_response(&response.headers);
    if grip {
        return handoff::accept(conn, req, target, origin, response).await;
    }
    let mut response = response;
    strip_hop_headers(&mut response.headers);
    let len = response.body.len();
    let code = response.code;
    if !send_response(conn, &response).await {
        return Outcome::Gone;
    }
    log_request(
        conn,
        req,
        &target.kind.to_string(),
        &format!("code={code} {len}"),
    );
    Outcome::Done
}
