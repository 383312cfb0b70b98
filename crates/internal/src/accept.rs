//! `accept` (`spec/internal.md` §5): the args with one request-state per
//! client session (§5.2, §5.3, §5.5 `response-sent`) and the result (§5.4).

use bytes::{Bytes, BytesMut};
use pushpin_tnetstring::{self as tnet, Frame, Limits, Value};

use crate::shapes::{InspectInfo, RequestData, ResponseData, Rid};
use crate::{Error, field};

/// The state of one client session handed to the handler (§5.3).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestState {
    /// The ZHTTP session.
    pub rid: Rid,
    /// Next `seq` expected from the connection manager.
    pub in_seq: u32,
    /// Next `seq` to send to the connection manager.
    pub out_seq: u32,
    /// Send credits still available.
    pub out_credits: u32,
    /// Client IP, when known.
    pub peer_address: Option<Bytes>,
    /// Client IP after `x_forwarded_for` rules, when known.
    pub logical_peer_address: Option<Bytes>,
    /// TLS client.
    pub https: bool,
    /// Debug mode for this request.
    pub debug: bool,
    /// The request came from a retry.
    pub is_retry: bool,
    /// CORS/JSON-P mode active.
    pub auto_cross_origin: bool,
    /// JSON-P callback.
    pub jsonp_callback: Option<Bytes>,
    /// JSON-P extended response (only written with a callback).
    pub jsonp_extended_response: bool,
    /// Status the proxy already sent (§5.5 only).
    pub response_code: Option<u16>,
    /// The ZHTTP request's `user-data`.
    pub user_data: Option<Value>,
}

impl RequestState {
    fn decode(src: &Bytes, frame: &Frame<'_>, limits: &Limits) -> Result<Self, Error> {
        let mut out = Self::default();
        let (mut rid, mut in_seq, mut out_seq, mut out_credits) = (None, None, None, None);
        for entry in field::map(frame, "requests")? {
            let (k, v) = entry?;
            match k {
                b"rid" => rid = Some(Rid::decode(src, &v)?),
                b"in-seq" => in_seq = Some(field::uint(&v, "requests.in-seq")?),
                b"out-seq" => out_seq = Some(field::uint(&v, "requests.out-seq")?),
                b"out-credits" => out_credits = Some(field::uint(&v, "requests.out-credits")?),
                b"peer-address" => {
                    out.peer_address = Some(field::bytes(src, &v, "requests.peer-address")?);
                }
                b"logical-peer-address" => {
                    out.logical_peer_address =
                        Some(field::bytes(src, &v, "requests.logical-peer-address")?);
                }
                b"https" => out.https = field::boolean(&v, "requests.https")?,
                b"debug" => out.debug = field::boolean(&v, "requests.debug")?,
                b"is-retry" => out.is_retry = field::boolean(&v, "requests.is-retry")?,
                b"auto-cross-origin" => {
                    out.auto_cross_origin = field::boolean(&v, "requests.auto-cross-origin")?;
                }
                b"jsonp-callback" => {
                    out.jsonp_callback = field::opt_bytes(src, &v, "requests.jsonp-callback")?;
                }
                b"jsonp-extended-response" => {
                    out.jsonp_extended_response =
                        field::boolean(&v, "requests.jsonp-extended-response")?;
                }
                b"response-code" => {
                    out.response_code = Some(field::status_code(&v, "requests.response-code")?);
                }
                b"user-data" => out.user_data = Some(field::value(src, &v, limits)?),
                _ => {}
            }
        }
        out.rid = field::required(rid, "requests.rid")?;
        out.in_seq = field::required(in_seq, "requests.in-seq")?;
        out.out_seq = field::required(out_seq, "requests.out-seq")?;
        out.out_credits = field::required(out_credits, "requests.out-credits")?;
        if out.jsonp_callback.is_none() {
            out.jsonp_extended_response = false;
        }
        Ok(out)
    }

    fn encode(&self, buf: &mut BytesMut) {
        tnet::write_map(buf, |buf| {
            tnet::write_bytes(buf, b"rid");
            self.rid.encode(buf);
            field::put_flag(buf, "https", self.https);
            if let Some(a) = &self.peer_address {
                field::put_bytes(buf, "peer-address", a);
            }
            if let Some(a) = &self.logical_peer_address {
                field::put_bytes(buf, "logical-peer-address", a);
            }
            field::put_flag(buf, "debug", self.debug);
            field::put_flag(buf, "is-retry", self.is_retry);
            field::put_flag(buf, "auto-cross-origin", self.auto_cross_origin);
            if let Some(cb) = self.jsonp_callback.as_ref().filter(|cb| !cb.is_empty()) {
                field::put_bytes(buf, "jsonp-callback", cb);
                field::put_flag(buf, "jsonp-extended-response", self.jsonp_extended_response);
            }
            if let Some(code) = self.response_code {
                field::put_int(buf, "response-code", i64::from(code));
            }
            field::put_int(buf, "in-seq", i64::from(self.in_seq));
            field::put_int(buf, "out-seq", i64::from(self.out_seq));
            field::put_int(buf, "out-credits", i64::from(self.out_credits));
            if let Some(ud) = &self.user_data {
                field::put_value(buf, "user-data", ud);
            }
        });
    }
}

/// The args of an `accept` call (§5.2).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AcceptArgs {
    /// One entry per client session being handed over.
    pub requests: Vec<RequestState>,
    /// The request as sent to the origin.
    pub request_data: RequestData,
    /// The request as received from the client.
    pub orig_request_data: RequestData,
    /// The origin's response (absent on the inspect `no-proxy` path).
    pub response: Option<ResponseData>,
    /// The inspect result, when one was received.
    pub inspect: Option<InspectInfo>,
    /// The route id.
    pub route: Option<Bytes>,
    /// Report stats per route (never sent by the 1.36 proxy).
    pub separate_stats: bool,
    /// Route `prefix=`, prepended to every channel.
    pub channel_prefix: Option<Bytes>,
    /// Implicit channels from target `sub=`.
    pub channels: Vec<Bytes>,
    /// The target is trusted.
    pub trusted: bool,
    /// Route `session` option.
    pub use_session: bool,
    /// The proxy already sent the response (§5.5).
    pub response_sent: bool,
}

impl AcceptArgs {
    /// Decodes an encoded args dictionary.
    pub fn decode(src: &Bytes, limits: &Limits) -> Result<Self, Error> {
        let frame = field::root(src, limits)?;
        Self::decode_frame(src, &frame, limits)
    }

    pub(crate) fn decode_frame(
        src: &Bytes,
        frame: &Frame<'_>,
        limits: &Limits,
    ) -> Result<Self, Error> {
        let mut out = Self::default();
        let (mut requests, mut request_data, mut orig) = (None, None, None);
        for entry in field::map(frame, "args")? {
            let (k, v) = entry?;
            match k {
                b"requests" => {
                    let list = field::list(&v, "requests")?
                        .map(|r| RequestState::decode(src, &r?, limits))
                        .collect::<Result<Vec<_>, _>>()?;
                    requests = Some(list);
                }
                b"request-data" => {
                    request_data = Some(RequestData::decode(src, &v, "request-data")?);
                }
                b"orig-request-data" => {
                    orig = Some(RequestData::decode(src, &v, "orig-request-data")?);
                }
                b"response" => out.response = Some(ResponseData::decode(src, &v, true)?),
                b"inspect" => out.inspect = Some(InspectInfo::decode_frame(src, &v, limits)?),
                b"route" => out.route = field::opt_bytes(src, &v, "route")?,
                b"separate-stats" => out.separate_stats = field::boolean(&v, "separate-stats")?,
                b"channel-prefix" => {
                    out.channel_prefix = field::opt_bytes(src, &v, "channel-prefix")?;
                }
                b"channels" => out.channels = field::bytes_list(src, &v, "channels")?,
                b"trusted" => out.trusted = field::boolean(&v, "trusted")?,
                b"use-session" => out.use_session = field::boolean(&v, "use-session")?,
                b"response-sent" => out.response_sent = field::boolean(&v, "response-sent")?,
                _ => {}
            }
        }
        out.requests = field::required(requests, "requests")?;
        out.request_data = field::required(request_data, "request-data")?;
        out.orig_request_data = field::required(orig, "orig-request-data")?;
        Ok(out)
    }

    /// Appends the args dictionary.
    pub fn encode(&self, buf: &mut BytesMut) {
        tnet::write_map(buf, |buf| {
            tnet::write_bytes(buf, b"requests");
            tnet::write_list(buf, |buf| {
                for r in &self.requests {
                    r.encode(buf);
                }
            });
            tnet::write_bytes(buf, b"request-data");
            self.request_data.encode(buf);
            tnet::write_bytes(buf, b"orig-request-data");
            self.orig_request_data.encode(buf);
            if let Some(inspect) = &self.inspect {
                tnet::write_bytes(buf, b"inspect");
                inspect.encode(buf);
            }
            if let Some(response) = &self.response {
                tnet::write_bytes(buf, b"response");
                response.encode(buf);
            }
            if let Some(route) = self.route.as_ref().filter(|r| !r.is_empty()) {
                field::put_bytes(buf, "route", route);
            }
            field::put_flag(buf, "separate-stats", self.separate_stats);
            if let Some(p) = self.channel_prefix.as_ref().filter(|p| !p.is_empty()) {
                field::put_bytes(buf, "channel-prefix", p);
            }
            if !self.channels.is_empty() {
                field::put_bytes_list(buf, "channels", &self.channels);
            }
            field::put_flag(buf, "trusted", self.trusted);
            field::put_flag(buf, "use-session", self.use_session);
            field::put_flag(buf, "response-sent", self.response_sent);
        });
    }
}

/// The value of a successful `accept` (§5.4).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AcceptResult {
    /// The handler owns the sessions now.
    pub accepted: bool,
    /// No hold: the proxy resumes the sessions and sends this response.
    pub response: Option<ResponseData>,
}

impl AcceptResult {
    /// Whether the proxy must treat this as "cannot accept" (neither field):
    /// every waiting client gets `500 Accept service unavailable.`.
    pub const fn is_empty(&self) -> bool {
        !self.accepted && self.response.is_none()
    }

    /// Decodes the result value.
    pub fn decode(src: &Bytes, limits: &Limits) -> Result<Self, Error> {
        let frame = field::root(src, limits)?;
        let mut out = Self::default();
        for entry in frame.map()? {
            let (k, v) = entry?;
            match k {
                b"accepted" => out.accepted = field::boolean(&v, "accepted")?,
                b"response" => out.response = Some(ResponseData::decode(src, &v, false)?),
                _ => {}
            }
        }
        Ok(out)
    }

    /// Encodes the result value as the 1.36 handler writes it.
    pub fn encode(&self, buf: &mut BytesMut) {
        tnet::write_map(buf, |buf| {
            field::put_flag(buf, "accepted", self.accepted);
            if let Some(response) = &self.response {
                tnet::write_bytes(buf, b"response");
                response.encode(buf);
            }
        });
    }
}
