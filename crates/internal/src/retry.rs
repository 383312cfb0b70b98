//! `retry` (handler → proxy, PUSH/PULL, one frame; `spec/internal.md` §6):
//! hand client sessions back to the proxy to repeat the origin request.

use bytes::{Bytes, BytesMut};
use pushpin_tnetstring::{self as tnet, Frame, Limits, Value};

use crate::shapes::{InspectInfo, RequestData, Rid};
use crate::{Error, field};

/// One session in a retry.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RetryRequest {
    /// The ZHTTP session.
    pub rid: Rid,
    /// Next `seq` expected from the connection manager.
    pub in_seq: u32,
    /// Next `seq` to send.
    pub out_seq: u32,
    /// Send credits available.
    pub out_credits: u32,
    /// TLS client.
    pub https: bool,
    /// Client IP.
    pub peer_address: Option<Bytes>,
    /// Debug mode.
    pub debug: bool,
    /// CORS/JSON-P mode.
    pub auto_cross_origin: bool,
    /// JSON-P callback.
    pub jsonp_callback: Option<Bytes>,
    /// JSON-P extended response (only read with a callback).
    pub jsonp_extended_response: bool,
    /// The ZHTTP request's `user-data`.
    pub user_data: Option<Value>,
}

impl RetryRequest {
    fn decode(src: &Bytes, frame: &Frame<'_>, limits: &Limits) -> Result<Self, Error> {
        let mut out = Self::default();
        let (mut rid, mut in_seq, mut out_seq, mut out_credits) = (None, None, None, None);
        let mut ext = false;
        for entry in field::map(frame, "requests")? {
            let (k, v) = entry?;
            match k {
                b"rid" => rid = Some(Rid::decode(src, &v)?),
                b"in-seq" => in_seq = Some(field::uint(&v, "requests.in-seq")?),
                b"out-seq" => out_seq = Some(field::uint(&v, "requests.out-seq")?),
                b"out-credits" => out_credits = Some(field::uint(&v, "requests.out-credits")?),
                b"https" => out.https = field::boolean(&v, "requests.https")?,
                b"peer-address" => {
                    out.peer_address = Some(field::bytes(src, &v, "requests.peer-address")?);
                }
                b"debug" => out.debug = field::boolean(&v, "requests.debug")?,
                b"auto-cross-origin" => {
                    out.auto_cross_origin = field::boolean(&v, "requests.auto-cross-origin")?;
                }
                b"jsonp-callback" => {
                    out.jsonp_callback = field::opt_bytes(src, &v, "requests.jsonp-callback")?;
                }
                b"jsonp-extended-response" => {
                    ext = field::boolean(&v, "requests.jsonp-extended-response")?;
                }
                b"user-data" => out.user_data = Some(field::value(src, &v, limits)?),
                _ => {}
            }
        }
        out.rid = field::required(rid, "requests.rid")?;
        out.in_seq = field::required(in_seq, "requests.in-seq")?;
        out.out_seq = field::required(out_seq, "requests.out-seq")?;
        out.out_credits = field::required(out_credits, "requests.out-credits")?;
        out.jsonp_extended_response = ext && out.jsonp_callback.is_some();
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
            field::put_flag(buf, "debug", self.debug);
            field::put_flag(buf, "auto-cross-origin", self.auto_cross_origin);
            if let Some(cb) = self.jsonp_callback.as_ref().filter(|cb| !cb.is_empty()) {
                field::put_bytes(buf, "jsonp-callback", cb);
                field::put_flag(buf, "jsonp-extended-response", self.jsonp_extended_response);
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

/// A retry message.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RetryPacket {
    /// The sessions to recreate.
    pub requests: Vec<RetryRequest>,
    /// The original client request (`headers` optional on the wire).
    pub request_data: RequestData,
    /// Inspect info to reuse (sharing key, sid, `last-ids` → `Grip-Last`).
    pub inspect: Option<InspectInfo>,
    /// Route id to use instead of a fresh lookup.
    pub route: Option<Bytes>,
}

impl RetryPacket {
    /// Decodes one retry frame.
    pub fn decode(src: &Bytes, limits: &Limits) -> Result<Self, Error> {
        let frame = field::root(src, limits)?;
        let mut out = Self::default();
        let (mut requests, mut request_data) = (None, None);
        for entry in frame.map()? {
            let (k, v) = entry?;
            match k {
                b"requests" => {
                    let list = field::list(&v, "requests")?
                        .map(|r| RetryRequest::decode(src, &r?, limits))
                        .collect::<Result<Vec<_>, _>>()?;
                    requests = Some(list);
                }
                b"request-data" => {
                    request_data = Some(RequestData::decode(src, &v, "request-data")?);
                }
                b"inspect" => out.inspect = Some(InspectInfo::decode_frame(src, &v, limits)?),
                b"route" => out.route = field::opt_bytes(src, &v, "route")?,
                _ => {}
            }
        }
        out.requests = field::required(requests, "requests")?;
        out.request_data = field::required(request_data, "request-data")?;
        Ok(out)
    }

    /// Appends the encoding (the whole frame).
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
            if let Some(inspect) = &self.inspect {
                tnet::write_bytes(buf, b"inspect");
                inspect.encode(buf);
            }
            if let Some(route) = self.route.as_ref().filter(|r| !r.is_empty()) {
                field::put_bytes(buf, "route", route);
            }
        });
    }
}
