//! `T` decoding: one pass over the root dictionary with the lazy tnetstring
//! iterators, assigning typed fields as their keys come (the last of duplicate keys
//! wins, as in both reference decoders). Unknown keys are skipped unread.
//!
//! Types are checked like the C++ codec, which every 1.36 peer but condure uses:
//! strings must be `,` strings, flags must be `!` booleans, and integer fields take
//! a `#` integer or a decimal string (`spec/tnetstring.md` §1.3). Ranges are checked
//! like condure: `seq`, `credits`, `max-size`, `timeout` are `u32`, `code` and ports
//! `u16`; negative values are errors.

use bytes::Bytes;
use pushpin_tnetstring::{self as tnet, Frame, Kind, Value, parse_t_message};

use crate::{
    Condition, ContentType, Error, Ext, FieldError, Header, Id, IdSeq, Ids, Limits, Packet,
    PacketType,
};

/// Decodes a whole `T`-prefixed payload.
pub(crate) fn decode_tnet(msg: &Bytes, limits: &Limits) -> Result<Packet, Error> {
    let root = parse_t_message(msg, &limits.tnet)?;
    let mut p = Packet::default();
    for entry in root.map()? {
        let (key, v) = entry?;
        match key {
            b"from" => p.from = string(msg, &v, "from")?,
            b"id" => p.ids = ids(msg, &v, limits)?,
            b"seq" => p.seq = Some(uint32(&v, "seq")?),
            b"ext" => p.ext = ext(&v)?,
            b"type" => p.ptype = PacketType::from_wire(string(msg, &v, "type")?),
            b"condition" => p.condition = Some(Condition::from_wire(string(msg, &v, "condition")?)),
            b"credits" => p.credits = Some(uint32(&v, "credits")?),
            b"more" => p.more = boolean(&v, "more")?,
            b"code" => p.code = Some(uint16(&v, "code")?),
            b"reason" => p.reason = Some(string(msg, &v, "reason")?),
            b"headers" => p.headers = Some(headers(msg, &v, limits)?),
            b"body" => p.body = Some(body(msg, &v, limits)?),
            b"content-type" => {
                p.content_type = Some(ContentType::from_wire(string(msg, &v, "content-type")?));
            }
            b"user-data" => p.user_data = Some(value(msg, &v, limits, "user-data")?),
            b"method" => p.method = Some(string(msg, &v, "method")?),
            b"uri" => p.uri = Some(string(msg, &v, "uri")?),
            b"stream" => p.stream = boolean(&v, "stream")?,
            b"router-resp" => p.router_resp = boolean(&v, "router-resp")?,
            b"max-size" => p.max_size = Some(uint32(&v, "max-size")?),
            b"timeout" => p.timeout = Some(uint32(&v, "timeout")?),
            b"peer-address" => p.peer_address = Some(string(msg, &v, "peer-address")?),
            b"peer-port" => p.peer_port = Some(uint16(&v, "peer-port")?),
            b"connect-host" => p.connect_host = Some(string(msg, &v, "connect-host")?),
            b"connect-port" => p.connect_port = Some(uint16(&v, "connect-port")?),
            b"ignore-policies" => p.ignore_policies = boolean(&v, "ignore-policies")?,
            b"trust-connect-host" => p.trust_connect_host = boolean(&v, "trust-connect-host")?,
            b"ignore-tls-errors" => p.ignore_tls_errors = boolean(&v, "ignore-tls-errors")?,
            b"follow-redirects" => p.follow_redirects = boolean(&v, "follow-redirects")?,
            b"client-cert" => p.client_cert = Some(string(msg, &v, "client-cert")?),
            b"client-key" => p.client_key = Some(string(msg, &v, "client-key")?),
            b"passthrough" => p.passthrough = Some(value(msg, &v, limits, "passthrough")?),
            b"old-from" => p.old_from = Some(string(msg, &v, "old-from")?),
            _ => {}
        }
    }
    Ok(p)
}

/// Wraps a field-level problem with the field's name.
fn field_err(field: &'static str) -> impl Fn(tnet::Error) -> Error {
    move |e| Error::Field {
        field,
        source: FieldError::Tnet(e),
    }
}

/// A zero-copy `Bytes` for `part`, which borrows from `src`; a copy if it does not
/// (it always does here, the fallback only keeps this panic-free).
fn slice(src: &Bytes, part: &[u8]) -> Bytes {
    let base = src.as_ptr() as usize;
    let at = part.as_ptr() as usize;
    match at.checked_sub(base) {
        Some(start) if start.saturating_add(part.len()) <= src.len() => {
            src.slice(start..start.saturating_add(part.len()))
        }
        _ => Bytes::copy_from_slice(part),
    }
}

fn string(msg: &Bytes, v: &Frame<'_>, field: &'static str) -> Result<Bytes, Error> {
    v.as_bytes()
        .map(|b| slice(msg, b))
        .map_err(field_err(field))
}

fn boolean(v: &Frame<'_>, field: &'static str) -> Result<bool, Error> {
    v.as_bool().map_err(field_err(field))
}

fn value(msg: &Bytes, v: &Frame<'_>, limits: &Limits, field: &'static str) -> Result<Value, Error> {
    Value::from_frame(msg, v, limits.tnet.max_depth).map_err(field_err(field))
}

fn body(msg: &Bytes, v: &Frame<'_>, limits: &Limits) -> Result<Bytes, Error> {
    let data = v.as_bytes().map_err(field_err("body"))?;
    if data.len() > limits.max_body {
        return Err(Error::BodyTooLarge {
            len: data.len(),
            max: limits.max_body,
        });
    }
    Ok(slice(msg, data))
}

/// An integer field: a `#` integer, or a decimal string as the C++ peers send
/// (`peer-port`) and accept for every integer field.
fn integer(v: &Frame<'_>, field: &'static str) -> Result<i64, Error> {
    let err = |source| Error::Field { field, source };
    match v.kind() {
        Kind::Int => v.as_int().map_err(|e| err(FieldError::Tnet(e))),
        Kind::Bytes => std::str::from_utf8(v.data())
            .ok()
            .and_then(|s| s.trim_ascii().parse::<i64>().ok())
            .ok_or(err(FieldError::NotAnInteger)),
        found => Err(err(FieldError::NotIntOrString { found })),
    }
}

fn uint32(v: &Frame<'_>, field: &'static str) -> Result<u32, Error> {
    let n = integer(v, field)?;
    u32::try_from(n).map_err(|_| Error::Field {
        field,
        source: FieldError::OutOfRange {
            value: n,
            max: u32::MAX.into(),
        },
    })
}

fn uint16(v: &Frame<'_>, field: &'static str) -> Result<u16, Error> {
    let n = integer(v, field)?;
    u16::try_from(n).map_err(|_| Error::Field {
        field,
        source: FieldError::OutOfRange {
            value: n,
            max: u16::MAX.into(),
        },
    })
}

/// `ext` must be a dictionary; its flags count only when they are booleans (the C++
/// peers ignore other types there), and other keys are ignored.
fn ext(v: &Frame<'_>) -> Result<Ext, Error> {
    let mut ext = Ext::default();
    for entry in v.map().map_err(field_err("ext"))? {
        let (key, flag) = entry.map_err(field_err("ext"))?;
        if flag.kind() != Kind::Bool {
            continue;
        }
        match key {
            b"multi" => ext.multi = boolean(&flag, "ext.multi")?,
            b"quiet" => ext.quiet = boolean(&flag, "ext.quiet")?,
            _ => {}
        }
    }
    Ok(ext)
}

/// `id`: a string, or a list of `{id, seq}` dictionaries (unknown keys ignored).
fn ids(msg: &Bytes, v: &Frame<'_>, limits: &Limits) -> Result<Ids, Error> {
    match v.kind() {
        Kind::Bytes => Ok(Ids::One(Id(slice(msg, v.data())))),
        Kind::List => {
            let mut out = Vec::new();
            for item in v.list().map_err(field_err("id"))? {
                let item = item.map_err(field_err("id"))?;
                if out.len() >= limits.max_ids {
                    return Err(Error::TooManyIds {
                        max: limits.max_ids,
                    });
                }
                let mut entry = IdSeq::default();
                for kv in item.map().map_err(field_err("id"))? {
                    let (key, ev) = kv.map_err(field_err("id"))?;
                    match key {
                        b"id" => entry.id = Id(string(msg, &ev, "id.id")?),
                        b"seq" => entry.seq = Some(uint32(&ev, "id.seq")?),
                        _ => {}
                    }
                }
                out.push(entry);
            }
            Ok(Ids::Many(out))
        }
        found => Err(Error::Field {
            field: "id",
            source: FieldError::NotStringOrList { found },
        }),
    }
}

/// `headers`: a list of `[name, value]` string pairs, at most `max_headers`.
fn headers(msg: &Bytes, v: &Frame<'_>, limits: &Limits) -> Result<Vec<Header>, Error> {
    let mut out = Vec::new();
    for item in v.list().map_err(field_err("headers"))? {
        let item = item.map_err(field_err("headers"))?;
        if out.len() >= limits.max_headers {
            return Err(Error::TooManyHeaders {
                max: limits.max_headers,
            });
        }
        let mut parts = item.list().map_err(field_err("headers"))?;
        let mut pair: [Option<Bytes>; 2] = [None, None];
        let mut len: usize = 0;
        for part in &mut parts {
            let part = part.map_err(field_err("headers"))?;
            if let Some(slot) = pair.get_mut(len) {
                *slot = Some(string(msg, &part, "headers")?);
            }
            len = len.saturating_add(1);
        }
        let [Some(name), Some(value)] = pair else {
            return Err(arity(len));
        };
        if len != 2 {
            return Err(arity(len));
        }
        out.push(Header { name, value });
    }
    Ok(out)
}

fn arity(len: usize) -> Error {
    Error::Field {
        field: "headers",
        source: FieldError::HeaderArity { len },
    }
}

#[cfg(test)]
mod tests;
