//! Handing a client session to the handler (`spec/internal.md` §5, `spec/zhttp.md` §9):
//! pause it (`handoff-start` / `handoff-proceed`), send `accept` with the request state,
//! the request as sent and as received, and the origin response, then act on the answer:
//! `accepted` (drop the session silently), `response` (resume and send it), or an error
//! (`500 Accept service unavailable.` / `502` for bad instructions). A response the proxy
//! already started (`response-sent`, [`accept_sent`]) can only be added to or ended.

use std::time::Duration;

use bytes::Bytes;
use pushpin_config::routes::Target;
use pushpin_internal::zrpc::{Condition, Outcome as RpcOutcome};
use pushpin_internal::{
    AcceptArgs, AcceptResult, Call, Limits, RequestData, RequestState, ResponseData, Rid,
};
use tracing::debug;

use super::conn::{Conn, ConnEvent};
use super::respond::{self, PROXY_ERROR};
use super::{Outcome, Request};
use crate::outgoing::OriginRequest;
use crate::test_target::Response;

/// How long the connection manager has to answer `handoff-start`.
const HANDOFF_TIMEOUT: Duration = Duration::from_secs(10);

const ACCEPT_UNAVAILABLE: &str = "Accept service unavailable.\n";

/// Pauses the session and asks the handler to take it.
pub(crate) async fn accept(
    conn: &mut Conn,
    req: &Request,
    target: &Target,
    origin: &OriginRequest,
    response: Response,
) -> Outcome {
    hand_over(conn, req, target, origin, response, None).await
}

/// Like [`accept`] for a GRIP response the proxy sent itself with status `code`, its
/// body streamed but not ended (`response-sent`, `spec/internal.md` §5.5). A handler
/// `response` only adds its body; a failure can only end the response (debug mode
/// appends the error text first), as in 1.36.
pub(crate) async fn accept_sent(
    conn: &mut Conn,
    req: &Request,
    target: &Target,
    origin: &OriginRequest,
    response: Response,
    code: u16,
) -> Outcome {
    hand_over(conn, req, target, origin, response, Some(code)).await
}

async fn hand_over(
    conn: &mut Conn,
    req: &Request,
    target: &Target,
    origin: &OriginRequest,
    response: Response,
    sent: Option<u16>,
) -> Outcome {
    let target_name = target.kind.to_string();
    let Some(body) = req.body.retained() else {
        if let Some(code) = sent {
            // checked before the response started; kept for completeness
            let text = "Request too large to accept GRIP instruct.";
            return end_sent(conn, req, &target_name, code, text).await;
        }
        respond::log_request(conn, req, &target_name, "code=400");
        let _ = respond::error_response(
            conn,
            400,
            "Request too large to accept GRIP instruct.\n".to_string(),
        )
        .await;
        return Outcome::Done;
    };
    let Some(rpc) = conn.shared.accept.clone() else {
        return unavailable(conn, req, &target_name, sent).await;
    };
    // followers of a shared request pause alongside (they answer with their state)
    let group = match &conn.sharing {
        Some(crate::sharing::Role::Leader(g)) => Some(g.clone()),
        _ => None,
    };
    let followers = match &group {
        Some(g) => g.pause_followers().await,
        None => Vec::new(),
    };
    // pause: handoff-start, wait for handoff-proceed (a ghost leader of a shared request
    // has no client left to pause or hand over)
    let own = if conn.is_ghost() {
        false
    } else {
        match pause_own(conn).await {
            Some(paused) => paused,
            None => return Outcome::Gone,
        }
    };
    let mut requests = Vec::new();
    if own {
        let mut state = request_state(conn, req);
        state.response_code = sent;
        requests.push(state);
    }
    // followers answer within their own hand-off timeout; one that does not is left out
    let deadline = tokio::time::Instant::now() + HANDOFF_TIMEOUT + Duration::from_secs(1);
    for rx in followers {
        if let Ok(Ok(state)) = tokio::time::timeout_at(deadline, rx).await {
            requests.push(state);
        }
    }
    if requests.is_empty() {
        return Outcome::Gone;
    }
    let args = AcceptArgs {
        requests,
        request_data: RequestData {
            method: req.client.method.clone(),
            uri: Bytes::from(origin.uri.to_string()),
            headers: origin.headers.clone(),
            body: body.clone(),
        },
        orig_request_data: RequestData {
            method: req.client.method.clone(),
            uri: req.client.uri_text.clone(),
            headers: req.client.headers.clone(),
            body,
        },
        response: Some(ResponseData {
            code: response.code,
            reason: response.reason.clone(),
            headers: response.headers.clone(),
            body: response.body.clone(),
        }),
        inspect: req.inspect.clone(),
        route: req.route.id.clone().map(Bytes::from),
        channel_prefix: Some(Bytes::from(req.route.prefix.clone())).filter(|p| !p.is_empty()),
        channels: target
            .subscriptions
            .iter()
            .map(|s| Bytes::from(s.clone()))
            .collect(),
        trusted: target.trusted,
        use_session: req.route.session,
        response_sent: sent.is_some(),
        ..AcceptArgs::default()
    };
    let resp = match rpc.call(Call::Accept(Box::new(args))).await {
        Ok(r) => r,
        Err(e) => {
            debug!(error = %e, "accept failed");
            return unavailable(conn, req, &target_name, sent).await;
        }
    };
    match &resp.outcome {
        RpcOutcome::Success(value) => match AcceptResult::decode(value, &Limits::default()) {
            Ok(result) if result.accepted => {
                if let Some(g) = &group {
                    g.accepted().await;
                }
                respond::log_request(conn, req, &target_name, "accept");
                Outcome::Accepted
            }
            Ok(AcceptResult {
                response: Some(r), ..
            }) if sent.is_some() => {
                // the response is under way: the handler's body is appended
                let code = sent.unwrap_or(r.code);
                let len = r.body.len();
                respond::log_request(conn, req, &target_name, &format!("code={code} {len}"));
                if end_body(conn, r.body).await {
                    Outcome::Done
                } else {
                    Outcome::Gone
                }
            }
            Ok(AcceptResult {
                response: Some(r), ..
            }) => {
                let out = Response {
                    code: r.code,
                    reason: r.reason,
                    headers: r.headers,
                    body: r.body,
                };
                let len = out.body.len();
                respond::log_request(conn, req, &target_name, &format!("code={} {len}", out.code));
                // 1.36 answers with `respond`, which it does not count as client bytes
                conn.count_sent = false;
                if respond::send_response(conn, &out).await {
                    Outcome::Done
                } else {
                    Outcome::Gone
                }
            }
            Ok(_) => unavailable(conn, req, &target_name, sent).await,
            Err(e) => {
                debug!(error = %e, "malformed accept result");
                bad_instruct(conn, req, &target_name, e.to_string(), sent).await
            }
        },
        RpcOutcome::Failure {
            condition: Condition::BadFormat,
            ..
        } => {
            let text = resp
                .error_text()
                .map(|t| String::from_utf8_lossy(&t).into_owned())
                .unwrap_or_default();
            bad_instruct(conn, req, &target_name, text, sent).await
        }
        RpcOutcome::Failure { condition, .. } => {
            debug!(condition = %condition, "accept refused");
            unavailable(conn, req, &target_name, sent).await
        }
    }
}

/// `handoff-start`, then waits for `handoff-proceed`: `Some(true)` once paused,
/// `Some(false)` when the client left but the session goes on for others sharing its
/// request (a ghost, see [`Conn::recv`]), `None` when the session is over. A follower
/// of a shared request never becomes a ghost: for it the answer is `Some(true)` or `None`.
pub(super) async fn pause_own(conn: &mut Conn) -> Option<bool> {
    let p = conn.packet(pushpin_zhttp::PacketType::HandoffStart);
    if !conn.send(p).await {
        return None;
    }
    let proceed = tokio::time::timeout(HANDOFF_TIMEOUT, async {
        loop {
            match conn.recv().await {
                ConnEvent::HandoffProceed => return Some(true),
                ConnEvent::Gone => return None,
                _ if conn.is_ghost() => return Some(false),
                ConnEvent::Credit | ConnEvent::Body { .. } | ConnEvent::Ws(_) => {}
            }
        }
    })
    .await;
    match proceed {
        Ok(paused) => paused,
        Err(_) => {
            debug!("no handoff-proceed from the connection manager; cancelling");
            conn.cancel().await;
            None
        }
    }
}

/// The state of this session for an accept (`spec/internal.md` §5.3); call once paused.
pub(super) fn request_state(conn: &Conn, req: &Request) -> RequestState {
    // the handler shapes what it sends (timeout, published responses) the same way
    let jsonp = conn.aco.as_ref().and_then(|a| a.jsonp.as_ref());
    RequestState {
        rid: Rid {
            sender: conn.peer.clone(),
            id: conn.id.clone(),
        },
        in_seq: conn.seq.expected_in(),
        out_seq: conn.seq.peek_out(),
        out_credits: conn.out_credits.available(),
        peer_address: req.client.peer_address.clone(),
        logical_peer_address: req.logical_peer.clone(),
        https: req.https,
        debug: req.debug,
        is_retry: req.is_retry,
        auto_cross_origin: conn.aco.as_ref().is_some_and(|a| a.cors),
        jsonp_callback: jsonp.map(|j| j.callback.clone()),
        jsonp_extended_response: jsonp.is_some_and(|j| j.extended),
        user_data: req.user_data.clone(),
        ..RequestState::default()
    }
}

async fn unavailable(conn: &mut Conn, req: &Request, target: &str, sent: Option<u16>) -> Outcome {
    if let Some(code) = sent {
        return end_sent(conn, req, target, code, "Accept service unavailable").await;
    }
    respond::log_request(conn, req, target, "code=500");
    let _ = respond::error_response(conn, 500, ACCEPT_UNAVAILABLE.to_string()).await;
    Outcome::Done
}

async fn bad_instruct(
    conn: &mut Conn,
    req: &Request,
    target: &str,
    text: String,
    sent: Option<u16>,
) -> Outcome {
    let message = format!("Failed to parse accept instructions: {text}");
    if let Some(code) = sent {
        return end_sent(conn, req, target, code, &message).await;
    }
    respond::log_request(conn, req, target, "code=502");
    let body = if req.debug {
        format!("{message}\n")
    } else {
        PROXY_ERROR.to_string()
    };
    let _ = respond::error_response(conn, 502, body).await;
    Outcome::Done
}

/// Ends a response already under way after a failed hand-over: 1.36 appends
/// `\n\n<message>\n` in debug mode, and otherwise just ends the body.
async fn end_sent(
    conn: &mut Conn,
    req: &Request,
    target: &str,
    code: u16,
    message: &str,
) -> Outcome {
    respond::log_request(conn, req, target, &format!("code={code} error"));
    let tail = if req.debug {
        Bytes::from(format!("\n\n{message}\n"))
    } else {
        Bytes::new()
    };
    if end_body(conn, tail).await {
        Outcome::Done
    } else {
        Outcome::Gone
    }
}

/// Sends the rest of a response under way and ends it.
async fn end_body(conn: &mut Conn, body: Bytes) -> bool {
    if body.is_empty() {
        let p = conn.packet(pushpin_zhttp::PacketType::Data);
        return conn.send(p).await;
    }
    respond::send_rest(conn, body).await
}
