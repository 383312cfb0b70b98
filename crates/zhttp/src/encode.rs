//! `T` encoding straight into a `BytesMut`, keys in condure's fixed order
//! (`spec/zhttp.md` §5.4): `from`, `id`/`seq`, `ext`, `type`, then the type's data.
//! Fields condure never writes follow in the C++ codec's order. Only fields that are
//! present (or flags that are `true`) are written.

use bytes::BytesMut;
use pushpin_tnetstring::{
    write_bool, write_bytes, write_int, write_list, write_map, write_t_message,
};

use crate::{Ids, Packet};

/// Appends `T` + the packet's dictionary.
pub(crate) fn encode_tnet(p: &Packet, buf: &mut BytesMut) {
    buf.reserve(size_hint(p));
    write_t_message(buf, |buf| {
        if !p.from.is_empty() {
            bytes_field(buf, b"from", &p.from);
        }
        match &p.ids {
            Ids::None => {}
            Ids::One(id) => bytes_field(buf, b"id", &id.0),
            Ids::Many(list) => {
                write_bytes(buf, b"id");
                write_list(buf, |buf| {
                    for entry in list {
                        write_map(buf, |buf| {
                            bytes_field(buf, b"id", &entry.id.0);
                            if let Some(seq) = entry.seq {
                                int_field(buf, b"seq", seq.into());
                            }
                        });
                    }
                });
            }
        }
        if let Some(seq) = p.seq {
            int_field(buf, b"seq", seq.into());
        }
        if !p.ext.is_empty() {
            write_bytes(buf, b"ext");
            write_map(buf, |buf| {
                if p.ext.multi {
                    flag(buf, b"multi", true);
                }
                if p.ext.quiet {
                    flag(buf, b"quiet", true);
                }
            });
        }
        if let Some(t) = p.ptype.as_bytes() {
            bytes_field(buf, b"type", t);
        }
        if let Some(c) = &p.condition {
            bytes_field(buf, b"condition", c.as_bytes());
        }
        if let Some(code) = p.code {
            int_field(buf, b"code", code.into());
        }
        opt_bytes(buf, b"reason", p.reason.as_deref());
        opt_bytes(buf, b"method", p.method.as_deref());
        opt_bytes(buf, b"uri", p.uri.as_deref());
        if let Some(headers) = &p.headers {
            write_bytes(buf, b"headers");
            write_list(buf, |buf| {
                for h in headers {
                    write_list(buf, |buf| {
                        write_bytes(buf, &h.name);
                        write_bytes(buf, &h.value);
                    });
                }
            });
        }
        if let Some(ct) = &p.content_type {
            bytes_field(buf, b"content-type", ct.as_bytes());
        }
        opt_bytes(buf, b"body", p.body.as_deref());
        if let Some(credits) = p.credits {
            int_field(buf, b"credits", credits.into());
        }
        flag(buf, b"more", p.more);
        flag(buf, b"stream", p.stream);
        flag(buf, b"router-resp", p.router_resp);
        if let Some(n) = p.max_size {
            int_field(buf, b"max-size", n.into());
        }
        if let Some(n) = p.timeout {
            int_field(buf, b"timeout", n.into());
        }
        opt_bytes(buf, b"peer-address", p.peer_address.as_deref());
        if let Some(port) = p.peer_port {
            int_field(buf, b"peer-port", port.into());
        }
        opt_bytes(buf, b"connect-host", p.connect_host.as_deref());
        if let Some(port) = p.connect_port {
            int_field(buf, b"connect-port", port.into());
        }
        flag(buf, b"ignore-policies", p.ignore_policies);
        flag(buf, b"trust-connect-host", p.trust_connect_host);
        flag(buf, b"ignore-tls-errors", p.ignore_tls_errors);
        opt_bytes(buf, b"client-cert", p.client_cert.as_deref());
        opt_bytes(buf, b"client-key", p.client_key.as_deref());
        flag(buf, b"follow-redirects", p.follow_redirects);
        if let Some(v) = &p.user_data {
            write_bytes(buf, b"user-data");
            v.encode(buf);
        }
        if let Some(v) = &p.passthrough {
            write_bytes(buf, b"passthrough");
            v.encode(buf);
        }
        opt_bytes(buf, b"old-from", p.old_from.as_deref());
    });
}

fn bytes_field(buf: &mut BytesMut, key: &[u8], value: &[u8]) {
    write_bytes(buf, key);
    write_bytes(buf, value);
}

fn opt_bytes(buf: &mut BytesMut, key: &[u8], value: Option<&[u8]>) {
    if let Some(value) = value {
        bytes_field(buf, key, value);
    }
}

fn int_field(buf: &mut BytesMut, key: &[u8], value: i64) {
    write_bytes(buf, key);
    write_int(buf, value);
}

/// Writes `key: true` when `set`; `false` flags are omitted, as every peer does.
fn flag(buf: &mut BytesMut, key: &[u8], set: bool) {
    if set {
        write_bytes(buf, key);
        write_bool(buf, true);
    }
}

/// A slight overestimate of the encoded size for the common fields, so that one
/// reservation usually suffices (each container's header costs ≤ 11 bytes).
fn size_hint(p: &Packet) -> usize {
    const OVERHEAD: usize = 160;
    let strings = [
        p.reason.as_ref(),
        p.method.as_ref(),
        p.uri.as_ref(),
        p.body.as_ref(),
        p.peer_address.as_ref(),
        p.connect_host.as_ref(),
    ]
    .into_iter()
    .flatten()
    .map(|b| b.len() + 24)
    .sum::<usize>();
    let headers = p
        .header_list()
        .iter()
        .map(|h| h.name.len() + h.value.len() + 32)
        .sum::<usize>();
    let ids = match &p.ids {
        Ids::None => 0,
        Ids::One(id) => id.0.len() + 16,
        Ids::Many(list) => list.iter().map(|e| e.id.0.len() + 40).sum(),
    };
    OVERHEAD + p.from.len() + strings + headers + ids
}
