//! Request messages, mongrel2 → handler (`spec/mongrel2.md` §2):
//! `SENDER SP CONN_ID SP PATH SP HEADERS BODY`, one ZeroMQ frame.
//!
//! [`Request::decode`] reads a frame into a typed [`Request`] whose byte fields
//! share the frame's memory; [`Request::encode`] writes what mongrel2 would
//! (for test doubles of mongrel2, and for symmetry).

use bytes::{BufMut, Bytes, BytesMut};
use pushpin_tnetstring::Kind;

use crate::headers::{
    self, DOWNLOAD_CREDITS, METHOD, METHOD_JSON, PATTERN, QUERY, REMOTE_ADDR, URI, URL_SCHEME,
    VERSION,
};
use crate::wire::{element, put_decimal, put_netstring, share, token};
use crate::{ConnId, EVENT_PATH, Error, HeaderValue, Headers, Limits, Part, Protocol};

mod kind;

pub use kind::{RequestKind, Upload, WsFlags};

/// The exact body of a `disconnect` event.
const DISCONNECT_BODY: &[u8] = br#"{"type":"disconnect"}"#;
/// The exact body of a `credits` event.
const CREDITS_BODY: &[u8] = br#"{"type":"credits"}"#;

/// One message from mongrel2 to a handler.
///
/// `kind` and `download_credits` are derived from `path`, `headers` and `body` by
/// [`Request::decode`] and [`Request::new`]; [`Request::encode`] writes only the
/// wire fields (sender, id, path, headers, body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The handler's `send_ident` (first token).
    pub sender: Bytes,
    /// The client connection.
    pub conn_id: ConnId,
    /// The URL path (no query), or `@*` for events.
    pub path: Bytes,
    /// Which encoding the headers used.
    pub protocol: Protocol,
    /// Client headers and mongrel2's metadata, in wire order.
    pub headers: Headers,
    /// The body bytes (the accept token for a WebSocket handshake).
    pub body: Bytes,
    /// What this message is.
    pub kind: RequestKind,
    /// `DOWNLOAD_CREDITS`, if present: the initial send window on a connection's
    /// first request, or the bytes written for a `credits` event.
    pub download_credits: Option<u32>,
}

impl Request {
    /// Builds a request from its wire fields, deriving `kind` and
    /// `download_credits` (and failing as [`Request::decode`] would on bad metadata).
    ///
    /// `sender` and `path` must not contain spaces, or the encoding will not
    /// decode again.
    pub fn new(
        sender: Bytes,
        conn_id: ConnId,
        path: Bytes,
        protocol: Protocol,
        headers: Headers,
        body: Bytes,
    ) -> Result<Self, Error> {
        let (kind, download_credits) = kind::classify(&path, &headers, &body)?;
        Ok(Self {
            sender,
            conn_id,
            path,
            protocol,
            headers,
            body,
            kind,
            download_credits,
        })
    }

    /// The `disconnect` event mongrel2 sends when a client goes away (§2.3).
    pub fn disconnect(sender: Bytes, conn_id: ConnId, protocol: Protocol) -> Self {
        let mut headers = Headers::new();
        headers.push(METHOD, METHOD_JSON);
        Self {
            sender,
            conn_id,
            path: Bytes::from_static(EVENT_PATH),
            protocol,
            headers,
            body: Bytes::from_static(DISCONNECT_BODY),
            kind: RequestKind::Disconnect,
            download_credits: None,
        }
    }

    /// The `credits` event mongrel2 sends after writing `credits` bytes to a
    /// client (§4), with mongrel2's key order for each protocol.
    pub fn credits(sender: Bytes, conn_id: ConnId, credits: u32, protocol: Protocol) -> Self {
        let amount = HeaderValue::One(Bytes::from(credits.to_string()));
        let method = HeaderValue::from(METHOD_JSON);
        let mut headers = Headers::new();
        match protocol {
            Protocol::Json => {
                headers.push(METHOD, method);
                headers.push(DOWNLOAD_CREDITS, amount);
            }
            Protocol::Tnetstring => {
                headers.push(DOWNLOAD_CREDITS, amount);
                headers.push(METHOD, method);
            }
        }
        Self {
            sender,
            conn_id,
            path: Bytes::from_static(EVENT_PATH),
            protocol,
            headers,
            body: Bytes::from_static(CREDITS_BODY),
            kind: RequestKind::Credits { credits },
            download_credits: Some(credits),
        }
    }

    /// Decodes one whole ZeroMQ frame.
    ///
    /// A frame that stops early gives [`Error::Truncated`]. Bytes after the body
    /// netstring are ignored, as `m2adapter` ignores them (mongrel2 sends none).
    pub fn decode(msg: &Bytes, limits: &Limits) -> Result<Self, Error> {
        let (sender, at) = token(msg, 0, Part::Sender)?;
        let (id, id_end) = token(msg, at, Part::ConnId)?;
        let conn_id = ConnId::parse(id).ok_or(Error::InvalidConnId { offset: at })?;
        let (path, headers_at) = token(msg, id_end, Part::Path)?;

        let tn = limits.tnetstring();
        let (frame, body_at) = element(msg, headers_at, Part::Headers, &tn)?;
        let (protocol, headers) = match frame.kind() {
            Kind::Bytes => {
                // The DATA ends just before the tag byte that ends the element.
                let data_end = body_at.saturating_sub(1);
                let data_start = data_end.saturating_sub(frame.data().len());
                let h = headers::decode_json(msg, data_start, data_end, limits)?;
                (Protocol::Json, h)
            }
            Kind::Map => (
                Protocol::Tnetstring,
                headers::decode_tnet(msg, &frame, headers_at, limits)?,
            ),
            found => {
                return Err(Error::UnexpectedType {
                    part: Part::Headers,
                    found,
                    offset: headers_at,
                });
            }
        };

        let (body, _) = element(msg, body_at, Part::Body, &tn)?;
        if body.kind() != Kind::Bytes {
            return Err(Error::UnexpectedType {
                part: Part::Body,
                found: body.kind(),
                offset: body_at,
            });
        }
        let body = share(msg, body.data());
        let path = share(msg, path);
        let (kind, download_credits) = kind::classify(&path, &headers, &body)?;
        Ok(Self {
            sender: share(msg, sender),
            conn_id,
            path,
            protocol,
            headers,
            body,
            kind,
            download_credits,
        })
    }

    /// Appends the frame mongrel2 would send for this request.
    pub fn encode(&self, buf: &mut BytesMut) {
        buf.reserve(
            self.body
                .len()
                .saturating_add(self.sender.len())
                .saturating_add(self.path.len())
                .saturating_add(256),
        );
        buf.put_slice(&self.sender);
        buf.put_u8(b' ');
        put_decimal(buf, self.conn_id.get());
        buf.put_u8(b' ');
        buf.put_slice(&self.path);
        buf.put_u8(b' ');
        match self.protocol {
            Protocol::Json => headers::encode_json(buf, &self.headers),
            Protocol::Tnetstring => headers::encode_tnet(buf, &self.headers),
        }
        put_netstring(buf, &self.body);
    }

    /// The encoding as a fresh buffer.
    pub fn to_bytes(&self) -> Bytes {
        let mut buf = BytesMut::new();
        self.encode(&mut buf);
        buf.freeze()
    }

    /// True for the `@*` events (`disconnect`, `credits`).
    pub const fn is_event(&self) -> bool {
        matches!(
            self.kind,
            RequestKind::Disconnect | RequestKind::Credits { .. }
        )
    }

    /// `METHOD` (first value).
    pub fn method(&self) -> Option<&Bytes> {
        self.headers.first(METHOD.as_bytes())
    }

    /// `VERSION`: `HTTP/1.0` or `HTTP/1.1`.
    pub fn version(&self) -> Option<&Bytes> {
        self.headers.first(VERSION.as_bytes())
    }

    /// `URI`: the request-target as received, query included.
    pub fn uri(&self) -> Option<&Bytes> {
        self.headers.first(URI.as_bytes())
    }

    /// `QUERY`: the query string without `?`.
    pub fn query(&self) -> Option<&Bytes> {
        self.headers.first(QUERY.as_bytes())
    }

    /// `PATTERN`: the route pattern that matched.
    pub fn pattern(&self) -> Option<&Bytes> {
        self.headers.first(PATTERN.as_bytes())
    }

    /// `URL_SCHEME`: `http` or `https`.
    pub fn url_scheme(&self) -> Option<&Bytes> {
        self.headers.first(URL_SCHEME.as_bytes())
    }

    /// `REMOTE_ADDR`: the client's IP address.
    pub fn remote_addr(&self) -> Option<&Bytes> {
        self.headers.first(REMOTE_ADDR.as_bytes())
    }
}

#[cfg(test)]
mod tests;
