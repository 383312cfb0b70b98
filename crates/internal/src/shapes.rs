//! Shapes shared by several messages (`spec/internal.md` §2): the session
//! `rid`, `request-data`, the origin `response`, and inspect info.

use bytes::{Bytes, BytesMut};
use pushpin_tnetstring::{self as tnet, Frame, Limits, Value};

use crate::Error;
use crate::field::{self, Header};

/// A ZHTTP session id: the peer's `from` and the request id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Rid {
    /// The connection manager's instance id, e.g. `condure`.
    pub sender: Bytes,
    /// The ZHTTP request id, e.g. `0-0-1`.
    pub id: Bytes,
}

impl Rid {
    /// The connection id `"<sender>:<id>"` used by stats and `conncheck`.
    pub fn connection_id(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.sender.len() + 1 + self.id.len());
        out.extend_from_slice(&self.sender);
        out.extend_from_slice(b":");
        out.extend_from_slice(&self.id);
        out.freeze()
    }

    pub(crate) fn decode(src: &Bytes, frame: &Frame<'_>) -> Result<Self, Error> {
        let (mut sender, mut id) = (None, None);
        for entry in field::map(frame, "rid")? {
            let (k, v) = entry?;
            match k {
                b"sender" => sender = Some(field::bytes(src, &v, "rid.sender")?),
                b"id" => id = Some(field::bytes(src, &v, "rid.id")?),
                _ => {}
            }
        }
        Ok(Self {
            sender: field::required(sender, "rid.sender")?,
            id: field::required(id, "rid.id")?,
        })
    }

    pub(crate) fn encode(&self, buf: &mut BytesMut) {
        tnet::write_map(buf, |buf| {
            field::put_bytes(buf, "sender", &self.sender);
            field::put_bytes(buf, "id", &self.id);
        });
    }
}

/// An HTTP request (`request-data`, `orig-request-data`, inspect args).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestData {
    /// Method, e.g. `GET` (Latin-1).
    pub method: Bytes,
    /// Absolute, encoded URI.
    pub uri: Bytes,
    /// Headers in order (decoding tolerates the field being absent).
    pub headers: Vec<Header>,
    /// Body (possibly empty or a prefix, see inspect `truncated`).
    pub body: Bytes,
}

impl RequestData {
    /// Field paths for the request fields of the dictionary `name`.
    pub(crate) const fn names(name: &str) -> [&'static str; 4] {
        match name.as_bytes() {
            b"request-data" => [
                "request-data.method",
                "request-data.uri",
                "request-data.headers",
                "request-data.body",
            ],
            b"orig-request-data" => [
                "orig-request-data.method",
                "orig-request-data.uri",
                "orig-request-data.headers",
                "orig-request-data.body",
            ],
            _ => ["method", "uri", "headers", "body"],
        }
    }

    /// Reads one of the four request fields from a dictionary entry; returns
    /// `false` for keys that are not request fields. `seen` tracks the
    /// required `method`, `uri` and `body`.
    pub(crate) fn take_field(
        &mut self,
        src: &Bytes,
        key: &[u8],
        v: &Frame<'_>,
        seen: &mut [bool; 3],
        names: &[&'static str; 4],
    ) -> Result<bool, Error> {
        let [method, uri, headers, body] = *names;
        match key {
            b"method" => {
                self.method = field::bytes(src, v, method)?;
                seen[0] = true;
            }
            b"uri" => {
                self.uri = field::bytes(src, v, uri)?;
                seen[1] = true;
            }
            b"headers" => self.headers = field::headers(src, v, headers)?,
            b"body" => {
                self.body = field::bytes(src, v, body)?;
                seen[2] = true;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Checks that `method`, `uri` and `body` were present.
    pub(crate) fn check_seen(seen: [bool; 3], names: &[&'static str; 4]) -> Result<(), Error> {
        let [method, uri, _, body] = *names;
        for (present, field) in seen.into_iter().zip([method, uri, body]) {
            if !present {
                return Err(Error::Missing { field });
            }
        }
        Ok(())
    }

    pub(crate) fn decode(
        src: &Bytes,
        frame: &Frame<'_>,
        name: &'static str,
    ) -> Result<Self, Error> {
        let names = Self::names(name);
        let mut out = Self::default();
        let mut seen = [false; 3];
        for entry in field::map(frame, name)? {
            let (k, v) = entry?;
            out.take_field(src, k, &v, &mut seen, &names)?;
        }
        Self::check_seen(seen, &names)?;
        Ok(out)
    }

    /// Writes the four fields into an open dictionary.
    pub(crate) fn encode_fields(&self, buf: &mut BytesMut) {
        field::put_bytes(buf, "method", &self.method);
        field::put_bytes(buf, "uri", &self.uri);
        field::put_headers(buf, "headers", &self.headers);
        field::put_bytes(buf, "body", &self.body);
    }

    pub(crate) fn encode(&self, buf: &mut BytesMut) {
        tnet::write_map(buf, |buf| self.encode_fields(buf));
    }
}

/// An HTTP response (`response` in accept args and accept results).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseData {
    /// Status code (0..=999).
    pub code: u16,
    /// Reason phrase.
    pub reason: Bytes,
    /// Headers in order.
    pub headers: Vec<Header>,
    /// Complete body.
    pub body: Bytes,
}

impl ResponseData {
    /// Decodes a `response` dictionary. With `strict`, `reason`, `headers`
    /// and `body` are required as the 1.36 handler requires them; the 1.36
    /// proxy reading an accept result only requires `code`.
    pub(crate) fn decode(src: &Bytes, frame: &Frame<'_>, strict: bool) -> Result<Self, Error> {
        let mut out = Self::default();
        let mut seen = [false; 4];
        for entry in field::map(frame, "response")? {
            let (k, v) = entry?;
            match k {
                b"code" => {
                    out.code = field::status_code(&v, "response.code")?;
                    seen[0] = true;
                }
                b"reason" => {
                    out.reason = field::bytes(src, &v, "response.reason")?;
                    seen[1] = true;
                }
                b"headers" => {
                    out.headers = field::headers(src, &v, "response.headers")?;
                    seen[2] = true;
                }
                b"body" => {
                    out.body = field::bytes(src, &v, "response.body")?;
                    seen[3] = true;
                }
                _ => {}
            }
        }
        let names = [
            "response.code",
            "response.reason",
            "response.headers",
            "response.body",
        ];
        for (i, (present, name)) in seen.into_iter().zip(names).enumerate() {
            if !present && (strict || i == 0) {
                return Err(Error::Missing { field: name });
            }
        }
        Ok(out)
    }

    pub(crate) fn encode(&self, buf: &mut BytesMut) {
        tnet::write_map(buf, |buf| {
            field::put_int(buf, "code", i64::from(self.code));
            field::put_bytes(buf, "reason", &self.reason);
            field::put_headers(buf, "headers", &self.headers);
            field::put_bytes(buf, "body", &self.body);
        });
    }
}

/// The handler's inspect answer, echoed in accept and retry (`inspect`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InspectInfo {
    /// `true`: do not contact the origin.
    pub no_proxy: bool,
    /// Requests with equal keys share one origin request.
    pub sharing_key: Option<Bytes>,
    /// GRIP session id.
    pub sid: Option<Bytes>,
    /// Channel → last id (sent to the origin as `Grip-Last`).
    pub last_ids: Vec<(Bytes, Bytes)>,
    /// Opaque, echoed back.
    pub user_data: Option<Value>,
}

impl InspectInfo {
    /// Decodes an inspect result value (the `value` of a successful inspect
    /// response).
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
        let mut no_proxy = None;
        for entry in field::map(frame, "inspect")? {
            let (k, v) = entry?;
            match k {
                b"no-proxy" => no_proxy = Some(field::boolean(&v, "inspect.no-proxy")?),
                b"sharing-key" => {
                    out.sharing_key = field::opt_bytes(src, &v, "inspect.sharing-key")?;
                }
                b"sid" => out.sid = field::opt_bytes(src, &v, "inspect.sid")?,
                b"last-ids" => {
                    out.last_ids.clear();
                    for e in field::map(&v, "inspect.last-ids")? {
                        let (ch, id) = e?;
                        let id = field::bytes(src, &id, "inspect.last-ids")?;
                        out.last_ids.push((field::slice(src, ch), id));
                    }
                }
                b"user-data" => out.user_data = Some(field::value(src, &v, limits)?),
                _ => {}
            }
        }
        out.no_proxy = field::required(no_proxy, "inspect.no-proxy")?;
        Ok(out)
    }

    /// Appends the dictionary encoding.
    pub fn encode(&self, buf: &mut BytesMut) {
        tnet::write_map(buf, |buf| {
            tnet::write_bytes(buf, b"no-proxy");
            tnet::write_bool(buf, self.no_proxy);
            if let Some(k) = self.sharing_key.as_ref().filter(|k| !k.is_empty()) {
                field::put_bytes(buf, "sharing-key", k);
            }
            if let Some(sid) = self.sid.as_ref().filter(|s| !s.is_empty()) {
                field::put_bytes(buf, "sid", sid);
            }
            if !self.last_ids.is_empty() {
                tnet::write_bytes(buf, b"last-ids");
                tnet::write_map(buf, |buf| {
                    for (ch, id) in &self.last_ids {
                        tnet::write_bytes(buf, ch);
                        tnet::write_bytes(buf, id);
                    }
                });
            }
            if let Some(ud) = &self.user_data {
                field::put_value(buf, "user-data", ud);
            }
        });
    }
}
