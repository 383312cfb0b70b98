//! One test per `Error` variant, each naming the field at fault.

use bytes::Bytes;
use pushpin_internal::{
    AcceptArgs, Error, InspectArgs, Limits, Request, RetryPacket, StatsPacket, WsControlPacket,
};
use pushpin_tnetstring::Kind;

fn b(s: &[u8]) -> Bytes {
    Bytes::copy_from_slice(s)
}

/// Tnetstring builders for hand-made inputs.
fn s(v: &str) -> Vec<u8> {
    format!("{}:{v},", v.len()).into_bytes()
}
fn i(n: i64) -> Vec<u8> {
    let t = n.to_string();
    format!("{}:{t}#", t.len()).into_bytes()
}
fn container(items: &[Vec<u8>], tag: u8) -> Vec<u8> {
    let body: Vec<u8> = items.concat();
    let mut out = format!("{}:", body.len()).into_bytes();
    out.extend_from_slice(&body);
    out.push(tag);
    out
}
fn l(items: &[Vec<u8>]) -> Vec<u8> {
    container(items, b']')
}
fn d(kv: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let items: Vec<Vec<u8>> = kv.iter().flat_map(|(k, v)| [s(k), v.clone()]).collect();
    container(&items, b'}')
}

const L: Limits = Limits {
    max_len: pushpin_tnetstring::DEFAULT_MAX_LEN,
    max_depth: pushpin_tnetstring::DEFAULT_MAX_DEPTH,
};

#[test]
fn incomplete() {
    assert_eq!(Request::decode(&b(b"30:2:id"), &L), Err(Error::Incomplete));
    assert_eq!(WsControlPacket::decode(&b(b""), &L), Err(Error::Incomplete));
}

#[test]
fn tnetstring_errors() {
    // the 1.36 crash input: inner lengths overrun their container
    let e = WsControlPacket::decode(&b(b"22:5:items,12:9:1:a,]xxx]}"), &L);
    assert!(matches!(e, Err(Error::Tnetstring(_))), "{e:?}");
    assert!(matches!(
        Request::decode(&b(b"3:abc@"), &L),
        Err(Error::Tnetstring(_))
    ));
}

#[test]
fn missing_field() {
    let e = Request::decode(&b(b"9:2:id,1:x,}"), &L).unwrap_err();
    assert_eq!(e, Error::Missing { field: "method" });
    assert_eq!(e.field(), Some("method"));
    assert_eq!(e.to_string(), "missing field method");
    let e = InspectArgs::decode(&b(&d(&[("method", s("GET"))])), &L).unwrap_err();
    assert_eq!(e, Error::Missing { field: "uri" });
    let e = RetryPacket::decode(&b(&d(&[("requests", l(&[]))])), &L).unwrap_err();
    assert_eq!(
        e,
        Error::Missing {
            field: "request-data"
        }
    );
    let rd = d(&[("method", s("")), ("uri", s("")), ("body", s(""))]);
    let e =
        AcceptArgs::decode(&b(&d(&[("requests", l(&[])), ("request-data", rd)])), &L).unwrap_err();
    assert_eq!(
        e,
        Error::Missing {
            field: "orig-request-data"
        }
    );
}

#[test]
fn wrong_type() {
    let e = Request::decode(&b(b"13:6:method,1:1#}"), &L).unwrap_err();
    assert_eq!(
        e,
        Error::WrongType {
            field: "method",
            expected: Kind::Bytes,
            found: Kind::Int
        }
    );
    assert_eq!(e.to_string(), "field method is a integer, expected string");
    let e = WsControlPacket::decode(&b(b"0:~"), &L).unwrap_err();
    assert_eq!(
        e,
        Error::WrongType {
            field: "message",
            expected: Kind::Map,
            found: Kind::Null
        }
    );
}

#[test]
fn out_of_range() {
    let rid = d(&[("sender", s("a")), ("id", s("b"))]);
    let req = d(&[("rid", rid), ("in-seq", i(-1)), ("out-seq", i(0))]);
    let e = RetryPacket::decode(&b(&d(&[("requests", l(&[req]))])), &L).unwrap_err();
    assert_eq!(
        e,
        Error::OutOfRange {
            field: "requests.in-seq",
            value: -1
        }
    );
}

#[test]
fn invalid() {
    let msg = d(&[
        ("method", s("GET")),
        ("uri", s("/")),
        ("body", s("")),
        ("headers", l(&[l(&[s("a")])])),
    ]);
    let e = InspectArgs::decode(&b(&msg), &L).unwrap_err();
    assert_eq!(e, Error::Invalid { field: "headers" });
}

#[test]
fn unknown_type() {
    let item = d(&[("cid", s("c")), ("type", s("bad"))]);
    let e = WsControlPacket::decode(&b(&d(&[("items", l(&[item]))])), &L).unwrap_err();
    assert_eq!(
        e,
        Error::UnknownType {
            field: "items.type",
            value: b(b"bad")
        }
    );
    let e = StatsPacket::decode(&b(b"bogus T0:}"), &L).unwrap_err();
    assert_eq!(
        e,
        Error::UnknownType {
            field: "type",
            value: b(b"bogus")
        }
    );
}

#[test]
fn stats_framing() {
    assert_eq!(
        StatsPacket::decode(&b(b"activity"), &L),
        Err(Error::StatsFraming)
    );
    assert_eq!(
        StatsPacket::decode(&b(b"activity J{}"), &L),
        Err(Error::StatsFraming)
    );
    assert_eq!(
        StatsPacket::decode(&b(b"activity T0:}"), &L),
        Err(Error::Missing { field: "count" })
    );
}
