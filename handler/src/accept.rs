//! The inspect and accept RPC servers (`spec/internal.md` §3–§5): two
//! ROUTER sockets connected to the proxy's DEALERs.
//!
//! Inspect answers `{"no-proxy": false}` (plus a sharing key for
//! `auto-share` GETs and with `share_all`), as 1.36 does without a state
//! store. Accept parses the GRIP instructions of the origin response
//! ([`pushpin_grip::Instruct`]) and either answers with the response to send
//! (no hold), an error (`bad-format` with 1.36's message), or hands the
//! sessions to the engine and answers `{"accepted": true}` once the engine
//! owns them. Malformed requests are logged and skipped without a reply, as
//! 1.36 does.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use pushpin_grip::filter::{self, FilterStack};
use pushpin_grip::{HoldMode, Instruct};
use pushpin_internal::zrpc::{self, Condition, Outcome, Request, Response};
use pushpin_internal::{AcceptArgs, AcceptResult, Call, InspectArgs, InspectInfo, ResponseData};
use pushpin_tnetstring::Limits;
use pushpin_zmq::{AsyncSocket, Multipart};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};

use crate::engine::Event;
use crate::session::{Client, Hold, Response as HoldResponse, RetryInfo, SubChannel};

/// Most messages read per socket wake-up.
const RECV_BATCH: usize = 64;

/// Settings the RPC servers need.
#[derive(Debug, Clone)]
pub(crate) struct AcceptSettings {
    /// `connection_subscription_max`.
    pub(crate) subscription_max: usize,
    /// `share_all`.
    pub(crate) share_all: bool,
}

/// Serves inspect and accept until the engine goes away.
pub(crate) async fn run(
    mut inspect: AsyncSocket,
    mut accept: AsyncSocket,
    settings: AcceptSettings,
    events: mpsc::Sender<Event>,
) -> anyhow::Result<()> {
    let limits = Limits::default();
    let mut ib = Vec::with_capacity(RECV_BATCH);
    let mut ab = Vec::with_capacity(RECV_BATCH);
    loop {
        tokio::select! {
            r = inspect.recv_batch(&mut ib, RECV_BATCH) => {
                r?;
                for msg in ib.drain(..) {
                    if let Some(reply) = serve(&msg, &limits, |call| inspect_call(call, &settings)) {
                        inspect.send(reply).await?;
                    }
                }
            }
            r = accept.recv_batch(&mut ab, RECV_BATCH) => {
                r?;
                for msg in ab.drain(..) {
                    let Some((envelope, req)) = parse_request(&msg, &limits) else { continue };
                    let outcome = match req.call(&limits) {
                        Ok(Call::Accept(args)) => accept_call(*args, &settings, &events).await,
                        Ok(Call::Unknown(_)) | Ok(_) => Outcome::error(Condition::MethodNotFound),
                        Err(e) => {
                            warn!(error = %e, "invalid accept request");
                            Outcome::error(Condition::BadRequest)
                        }
                    };
                    accept.send(reply(&envelope, req.id, outcome)).await?;
                }
            }
        }
    }
}

fn parse_request(msg: &Multipart, limits: &Limits) -> Option<(Vec<Bytes>, Request)> {
    let Some((envelope, body)) = zrpc::server_request(msg) else {
        warn!(frames = msg.len(), "rpc: malformed message, skipping");
        return None;
    };
    match Request::decode(body, limits) {
        Ok(req) => Some((envelope.to_vec(), req)),
        Err(e) => {
            warn!(error = %e, "rpc: failed to parse request, skipping");
            None
        }
    }
}

fn reply(envelope: &[Bytes], id: Option<Bytes>, outcome: Outcome) -> Multipart {
    let mut buf = BytesMut::new();
    Response { id, outcome }.encode(&mut buf);
    Multipart::from(zrpc::server_reply(envelope, buf.freeze()))
}

/// Decodes, dispatches with `f`, and builds the reply (or `None` to skip).
fn serve(
    msg: &Multipart,
    limits: &Limits,
    f: impl FnOnce(Result<Call, pushpin_internal::Error>) -> Outcome,
) -> Option<Multipart> {
    let (envelope, req) = parse_request(msg, limits)?;
    let outcome = f(req.call(limits));
    Some(reply(&envelope, req.id, outcome))
}

fn inspect_call(call: Result<Call, pushpin_internal::Error>, settings: &AcceptSettings) -> Outcome {
    match call {
        Ok(Call::Inspect(args)) => {
            let info = inspect_info(&args, settings.share_all);
            Outcome::success_with(|buf| info.encode(buf))
        }
        Ok(_) => Outcome::error(Condition::MethodNotFound),
        Err(e) => {
            debug!(error = %e, "invalid inspect request");
            Outcome::error(Condition::BadRequest)
        }
    }
}

/// The inspect answer (`spec/internal.md` §4.2).
pub(crate) fn inspect_info(args: &InspectArgs, share_all: bool) -> InspectInfo {
    let req = &args.request;
    let sharing_key = if args.auto_share && req.method.as_ref() == b"GET" {
        let uri = &req.uri;
        let path_end = uri.iter().position(|&c| c == b'?').unwrap_or(uri.len());
        let mut key = b"auto|".to_vec();
        key.extend_from_slice(uri.get(..path_end).unwrap_or_default());
        let mut lasts: Vec<&Bytes> = req
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(b"Grip-Last"))
            .map(|(_, v)| v)
            .collect();
        lasts.sort();
        for v in lasts {
            key.push(b'|');
            key.extend_from_slice(v);
        }
        Some(Bytes::from(key))
    } else if share_all {
        let mut key = req.method.to_vec();
        key.push(b'|');
        key.extend_from_slice(&req.uri);
        Some(Bytes::from(key))
    } else {
        None
    };
    InspectInfo {
        no_proxy: false,
        sharing_key,
        ..InspectInfo::default()
    }
}

/// Response headers 1.36 never passes on from an instruct.
const HOP_BY_HOP: [&[u8]; 5] = [
    b"Connection",
    b"Keep-Alive",
    b"Content-Encoding",
    b"Transfer-Encoding",
    b"Content-Length",
];

fn filter_headers(headers: &[(Bytes, Bytes)]) -> Vec<(Bytes, Bytes)> {
    headers
        .iter()
        .filter(|(n, _)| !HOP_BY_HOP.iter().any(|h| n.eq_ignore_ascii_case(h)))
        .cloned()
        .collect()
}

/// What an accept turns into.
#[derive(Debug)]
pub(crate) enum AcceptDecision {
    /// Hold the sessions.
    Hold(Hold, Vec<Client>),
    /// No hold: the proxy sends this response.
    Respond(ResponseData),
    /// Invalid instructions: `bad-format` with this message.
    Invalid(String),
}

/// Interprets accept args (`spec/grip.md` §5.1).
pub(crate) fn decide(args: AcceptArgs, settings: &AcceptSettings) -> AcceptDecision {
    let Some(resp) = &args.response else {
        return AcceptDecision::Invalid("accept without a response".to_owned());
    };
    let instruct = match Instruct::parse(resp.code, &resp.reason, &resp.headers, &resp.body) {
        Ok(i) => i,
        Err(e) => return AcceptDecision::Invalid(e.to_string()),
    };
    let headers = filter_headers(&instruct.response.headers);
    let body = instruct.response.body_or_empty();
    let next_link = instruct
        .next_link
        .as_ref()
        .map(|l| crate::engine::resolve_link(&args.orig_request_data.uri, &l.uri));
    let (mode, chained) = match (instruct.hold, &next_link) {
        (Some(mode), _) => (mode, false),
        // grip.md §6: no hold but a next link: a chained stream
        (None, Some(_)) => (HoldMode::Stream, true),
        (None, None) => {
            return match proxy_content(&instruct) {
                Ok(body) => AcceptDecision::Respond(ResponseData {
                    code: instruct.response.code,
                    reason: instruct.response.reason.clone(),
                    headers,
                    body,
                }),
                Err(e) => AcceptDecision::Invalid(e),
            };
        }
    };
    // grip.md §5.4: a stream's initial body goes through the proxy-content
    // filters; an error ends the stream after the head (§5.8)
    let (body, start_error) = if mode == HoldMode::Stream && !body.is_empty() {
        match proxy_content(&instruct) {
            Ok(b) => (b, None),
            Err(e) => (Bytes::new(), Some(e)),
        }
    } else {
        (body, None)
    };
    let prefix = args.channel_prefix.clone().unwrap_or_default();
    if instruct.channels.len() > settings.subscription_max {
        warn!(
            count = instruct.channels.len(),
            max = settings.subscription_max,
            "too many subscriptions"
        );
    }
    let mut channels: Vec<SubChannel> = instruct
        .channels
        .iter()
        .take(settings.subscription_max)
        .map(|c| {
            let mut name = prefix.to_vec();
            name.extend_from_slice(c.name.as_bytes());
            SubChannel {
                name: Bytes::from(name),
                filter_name: c.name.clone(),
                prev_id: c.prev_id.clone(),
                filters: c.filters.clone(),
            }
        })
        .collect();
    for implicit in &args.channels {
        if !channels.iter().any(|c| c.name == *implicit) {
            channels.push(SubChannel {
                name: implicit.clone(),
                filter_name: String::from_utf8_lossy(implicit).into_owned(),
                prev_id: None,
                filters: Vec::new(),
            });
        }
    }
    let clients = args
        .requests
        .iter()
        .map(|r| Client {
            sender: r.rid.sender.clone(),
            id: r.rid.id.clone(),
            in_seq: r.in_seq,
            out_seq: r.out_seq,
            out_credits: r.out_credits,
            peer_address: r.peer_address.clone(),
            https: r.https,
            aco: crate::aco::Aco::from_state(r),
            debug: r.debug,
        })
        .collect();
    let hold = Hold {
        mode,
        channels,
        response: Arc::new(HoldResponse {
            code: instruct.response.code,
            reason: instruct.response.reason.clone(),
            headers,
            body,
        }),
        timeout: Duration::from_secs(u64::from(instruct.timeout)),
        keep_alive: if mode == HoldMode::Stream {
            instruct.keep_alive.clone()
        } else {
            None
        },
        retry: Arc::new(RetryInfo {
            request: args.orig_request_data.clone(),
            route: args.route.clone(),
            inspect: args.inspect.clone(),
            trusted: args.trusted,
            channel_prefix: prefix,
        }),
        next_link: if mode == HoldMode::Stream {
            next_link
        } else {
            None
        },
        chained,
        meta: Arc::new(instruct.meta.clone()),
        start_error,
    };
    AcceptDecision::Hold(hold, clients)
}

/// The instruct body through the proxy-content filters of its channels
/// (`spec/grip.md` §5.4); the error is 1.36's `filter error: <text>`.
///
/// 1.36 quirk (§4): a JSON instruct without `response.body` has a "null"
/// body, which an empty filter stack refuses with an empty message.
fn proxy_content(instruct: &Instruct) -> Result<Bytes, String> {
    let names =
        filter::proxy_content_filters(instruct.channels.iter().map(|c| c.filters.as_slice()));
    let body = match &instruct.response.body {
        None if names.is_empty() => return Err("filter error: ".to_owned()),
        None => Bytes::new(),
        Some(b) if names.is_empty() => return Ok(b.clone()),
        Some(b) => b.clone(),
    };
    FilterStack::new(&names, filter::Context::proxy(&instruct.meta))
        .process(&body)
        .map(Bytes::from)
        .map_err(|e| format!("filter error: {e}"))
}

async fn accept_call(
    args: AcceptArgs,
    settings: &AcceptSettings,
    events: &mpsc::Sender<Event>,
) -> Outcome {
    match decide(args, settings) {
        AcceptDecision::Invalid(msg) => {
            debug!(error = %msg, "accept: invalid instructions");
            Outcome::error_text(Condition::BadFormat, msg.as_bytes())
        }
        AcceptDecision::Respond(response) => {
            let result = AcceptResult {
                accepted: false,
                response: Some(response),
            };
            Outcome::success_with(|buf| result.encode(buf))
        }
        AcceptDecision::Hold(hold, clients) => {
            let (tx, rx) = oneshot::channel();
            let sent = events
                .send(Event::Accept {
                    hold: Box::new(hold),
                    clients,
                    done: tx,
                })
                .await;
            if sent.is_err() || rx.await.is_err() {
                return Outcome::error(Condition::ServiceUnavailable);
            }
            let result = AcceptResult {
                accepted: true,
                response: None,
            };
            Outcome::success_with(|buf| result.encode(buf))
        }
    }
}
