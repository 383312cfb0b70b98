//! ZRPC framing (`spec/internal.md` §3): the request/response envelope used
//! by inspect, accept and the command sockets, and the multipart rules
//! (`["", body]` from a DEALER client, `[routing…, "", body]` at a ROUTER).
//!
//! `args` and `value` stay encoded (zero-copy slices) until a typed decoder
//! reads them: see [`Call`] and the value types.

use std::fmt;

use bytes::{Bytes, BytesMut};
use pushpin_tnetstring::{self as tnet, Kind, Limits};

use crate::Error;
use crate::call::Call;
use crate::field;

/// An error condition of a failed call.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Condition {
    /// `bad-request`: the server could not use the args.
    BadRequest,
    /// `bad-format`: invalid args (proxy command) or invalid GRIP instructions
    /// (accept, with the message as value).
    BadFormat,
    /// `method-not-found`.
    MethodNotFound,
    /// `service-unavailable`: no peer connected, or the feature is off.
    ServiceUnavailable,
    /// `item-not-found`: unknown connection id (`refresh`).
    ItemNotFound,
    /// `proxy-request-failed`: the handler's call to the proxy failed.
    ProxyRequestFailed,
    /// `timeout`: client-side, no reply in time.
    Timeout,
    /// Any other condition, kept as received.
    Other(Bytes),
}

impl Condition {
    /// The wire spelling.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Self::BadRequest => b"bad-request",
            Self::BadFormat => b"bad-format",
            Self::MethodNotFound => b"method-not-found",
            Self::ServiceUnavailable => b"service-unavailable",
            Self::ItemNotFound => b"item-not-found",
            Self::ProxyRequestFailed => b"proxy-request-failed",
            Self::Timeout => b"timeout",
            Self::Other(b) => b,
        }
    }

    /// Parses the wire spelling (unknown ones become [`Condition::Other`]).
    pub fn from_bytes(b: &Bytes) -> Self {
        match b.as_ref() {
            b"bad-request" => Self::BadRequest,
            b"bad-format" => Self::BadFormat,
            b"method-not-found" => Self::MethodNotFound,
            b"service-unavailable" => Self::ServiceUnavailable,
            b"item-not-found" => Self::ItemNotFound,
            b"proxy-request-failed" => Self::ProxyRequestFailed,
            b"timeout" => Self::Timeout,
            _ => Self::Other(b.clone()),
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(self.as_bytes()))
    }
}

/// A ZRPC request: `{"id", "method", "args"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Request id (a UUID without braces in 1.36); omitted when empty.
    pub id: Option<Bytes>,
    /// Method name.
    pub method: Bytes,
    /// The encoded `args` dictionary, if present.
    pub args: Option<Bytes>,
}

impl Request {
    /// A request for a typed call (its args encoded now).
    pub fn new(id: Option<Bytes>, call: &Call) -> Self {
        let mut args = BytesMut::new();
        let args = call.encode_args(&mut args).then(|| args.freeze());
        Self {
            id,
            method: Bytes::copy_from_slice(call.method()),
            args,
        }
    }

    /// Decodes a request body. Failures mean "log and skip without reply"
    /// (`spec/internal.md` §3.2).
    pub fn decode(src: &Bytes, limits: &Limits) -> Result<Self, Error> {
        let frame = field::root(src, limits)?;
        let (mut id, mut method, mut args) = (None, None, None);
        for entry in frame.map()? {
            let (k, v) = entry?;
            match k {
                b"id" => id = Some(field::bytes(src, &v, "id")?),
                b"method" => method = Some(field::bytes(src, &v, "method")?),
                b"args" => {
                    field::expect(&v, Kind::Map, "args")?;
                    args = Some(field::raw(src, &v));
                }
                _ => {}
            }
        }
        Ok(Self {
            id,
            method: field::required(method, "method")?,
            args,
        })
    }

    /// The typed call (method + args). An unknown method gives
    /// [`Call::Unknown`]; bad args give an error to answer with
    /// `bad-request`/`bad-format`.
    pub fn call(&self, limits: &Limits) -> Result<Call, Error> {
        Call::decode(&self.method, self.args.as_ref(), limits)
    }

    /// Appends the encoding.
    pub fn encode(&self, buf: &mut BytesMut) {
        tnet::write_map(buf, |buf| {
            if let Some(id) = self.id.as_ref().filter(|id| !id.is_empty()) {
                field::put_bytes(buf, "id", id);
            }
            field::put_bytes(buf, "method", &self.method);
            if let Some(args) = &self.args {
                field::put_raw(buf, "args", args);
            }
        });
    }
}

/// The result part of a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `success: true` with the encoded `value` (always present; `0:~` for none).
    Success(Bytes),
    /// `success: false`.
    Failure {
        /// The condition.
        condition: Condition,
        /// The encoded `value`, if any (a message string for `bad-format`
        /// and `bad-request` publish errors).
        value: Option<Bytes>,
    },
}

/// The encoding of a null value.
pub const NULL_VALUE: &[u8] = b"0:~";

impl Outcome {
    /// Success with a null value.
    pub fn null() -> Self {
        Self::Success(Bytes::from_static(NULL_VALUE))
    }

    /// Success with a value written by `write`.
    pub fn success_with(write: impl FnOnce(&mut BytesMut)) -> Self {
        let mut buf = BytesMut::new();
        write(&mut buf);
        Self::Success(buf.freeze())
    }

    /// Failure without a value.
    pub const fn error(condition: Condition) -> Self {
        Self::Failure {
            condition,
            value: None,
        }
    }

    /// Failure with a message string as value.
    pub fn error_text(condition: Condition, text: &[u8]) -> Self {
        let mut buf = BytesMut::new();
        tnet::write_bytes(&mut buf, text);
        Self::Failure {
            condition,
            value: Some(buf.freeze()),
        }
    }
}

/// A ZRPC response: `{"id", "success", "value" | "condition"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The request's id (omitted when empty).
    pub id: Option<Bytes>,
    /// Success or failure.
    pub outcome: Outcome,
}

impl Response {
    /// Decodes a response body.
    pub fn decode(src: &Bytes, limits: &Limits) -> Result<Self, Error> {
        let frame = field::root(src, limits)?;
        let (mut id, mut success, mut value, mut condition) = (None, None, None, None);
        for entry in frame.map()? {
            let (k, v) = entry?;
            match k {
                b"id" => id = Some(field::bytes(src, &v, "id")?),
                b"success" => success = Some(field::boolean(&v, "success")?),
                b"value" => value = Some(field::raw(src, &v)),
                b"condition" => condition = Some(field::bytes(src, &v, "condition")?),
                _ => {}
            }
        }
        let outcome = if field::required(success, "success")? {
            Outcome::Success(field::required(value, "value")?)
        } else {
            Outcome::Failure {
                condition: Condition::from_bytes(&field::required(condition, "condition")?),
                value,
            }
        };
        Ok(Self { id, outcome })
    }

    /// Appends the encoding.
    pub fn encode(&self, buf: &mut BytesMut) {
        tnet::write_map(buf, |buf| {
            if let Some(id) = self.id.as_ref().filter(|id| !id.is_empty()) {
                field::put_bytes(buf, "id", id);
            }
            match &self.outcome {
                Outcome::Success(value) => {
                    tnet::write_bytes(buf, b"success");
                    tnet::write_bool(buf, true);
                    field::put_raw(buf, "value", value);
                }
                Outcome::Failure { condition, value } => {
                    tnet::write_bytes(buf, b"success");
                    tnet::write_bool(buf, false);
                    field::put_bytes(buf, "condition", condition.as_bytes());
                    if let Some(value) = value {
                        field::put_raw(buf, "value", value);
                    }
                }
            }
        });
    }

    /// The failure value as a string, when it is one (e.g. the instruct error
    /// text of an accept `bad-format`).
    pub fn error_text(&self) -> Option<Bytes> {
        let Outcome::Failure {
            value: Some(value), ..
        } = &self.outcome
        else {
            return None;
        };
        let (frame, _) = tnet::parse_frame(value, &Limits::default()).ok()??;
        field::bytes(value, &frame, "value").ok()
    }
}

/// The two frames a DEALER client sends: an empty delimiter and the body.
pub fn client_frames(body: Bytes) -> [Bytes; 2] {
    [Bytes::new(), body]
}

/// The body of a reply received by a DEALER client: exactly two frames, the
/// first empty; `None` otherwise (the reply is dropped).
pub fn client_reply(frames: &[Bytes]) -> Option<&Bytes> {
    match frames {
        [delimiter, body] if delimiter.is_empty() => Some(body),
        _ => None,
    }
}

/// Splits a message received by a ROUTER server into its envelope (the
/// routing frames before the empty delimiter) and the body (the last frame).
pub fn server_request(frames: &[Bytes]) -> Option<(&[Bytes], &Bytes)> {
    let at = frames.iter().position(Bytes::is_empty)?;
    let (envelope, rest) = frames.split_at(at);
    match rest {
        [_, body] => Some((envelope, body)),
        _ => None,
    }
}

/// The frames a ROUTER server sends back: the same envelope, an empty
/// delimiter, the body.
pub fn server_reply(envelope: &[Bytes], body: Bytes) -> Vec<Bytes> {
    let mut out = Vec::with_capacity(envelope.len() + 2);
    out.extend_from_slice(envelope);
    out.push(Bytes::new());
    out.push(body);
    out
}
