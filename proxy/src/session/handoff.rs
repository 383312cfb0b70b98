//! Handing a client session to the handler (`spec/internal.md` §5, `spec/zhttp.md` §9):
//! pause it (`handoff-start` / `handoff-proceed`), send `accept` with the request state,
//! the request as sent and as received, and the origin response, then act on the answer:
//! `accepted` (drop the session silently), `response` (resume and send it), or an error
//! (`500 Accept service unavailable.` / `502` for bad instructions).

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
    let target_name = target.kind.to_string();
    let Some(body) = req.body.retained() else {
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
        return unavailable(conn, req, &target_name).await;
    };
    // pause: handoff-start, wait for handoff-proceed
    let p = conn.packet(pushpin_zhttp::PacketType::HandoffStart);
    if !conn.send(p).await {
        return Outcome::Gone;
    }
    let proceed = tokio::time::timeout(HANDOFF_TIMEOUT, async {
        loop {
            match conn.recv().await {
                ConnEvent::HandoffProceed => return true,
                ConnEvent::Gone => return false,
                ConnEvent::Credit | ConnEvent::Body { .. } | ConnEvent::Ws(_) => {}
            }
        }
    })
    .await;
    match proceed {
        Ok(true) => {}
        Ok(false) => return Outcome::Gone,
        Err(_) => {
            debug!("no handoff-proceed from the connection manager; cancelling");
            conn.cancel().await;
            return Outcome::Gone;
        }
    }
    // the handler shapes what it sends (timeout, published responses) the same way
    let jsonp = conn.aco.as_ref().and_then(|a| a.jsonp.as_ref());
    let args = AcceptArgs {
        requests: vec![RequestState {
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
        }],
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
        ..AcceptArgs::default()
    };
    let resp = match rpc.call(Call::Accept(Box::new(args))).await {
        Ok(r) => r,
        Err(e) => {
            debug!(error = %e, "accept failed");
            return unavailable(conn, req, &target_name).await;
        }
    };
    match &resp.outcome {
        RpcOutcome::Success(value) => match AcceptResult::decode(value, &Limits::default()) {
            Ok(result) if result.accepted => {
                respond::log_request(conn, req, &target_name, "accept");
                Outcome::Accepted
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
                if respond::send_response(conn, &out).await {
                    Outcome::Done
                } else {
                    Outcome::Gone
                }
            }
            Ok(_) => unavailable(conn, req, &target_name).await,
            Err(e) => {
                debug!(error = %e, "malformed accept result");
                bad_instruct(conn, req, &target_name, e.to_string()).await
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
            bad_instruct(conn, req, &target_name, text).await
        }
        RpcOutcome::Failure { condition, .. } => {
            debug!(condition = %condition, "accept refused");
            unavailable(conn, req, &target_name).await
        }
    }
}

async fn unavailable(conn: &mut Conn, req: &Request, target: &str) -> Outcome {
    respond::log_request(conn, req, target, "code=500");
    let _ = respond::error_response(conn, 500, ACCEPT_UNAVAILABLE.to_string()).await;
    Outcome::Done
}

async fn bad_instruct(conn: &mut Conn, req: &Request, target: &str, text: String) -> Outcome {
    respond::log_request(conn, req, target, "code=502");
    let body = if req.debug {
        format!("Failed to parse accept instructions: {text}\n")
    } else {
        PROXY_ERROR.to_string()
    };
    let _ = respond::error_response(conn, 502, body).await;
    Outcome::Done
}
