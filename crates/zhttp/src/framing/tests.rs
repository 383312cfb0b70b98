//! Unit tests of the per-hop framing helpers, one per error variant.

use bytes::Bytes;

use super::*;
use crate::{Id, Ids, Limits, Packet, PacketType};

fn b(x: &'static str) -> Bytes {
    Bytes::from_static(x.as_bytes())
}

#[test]
fn single_frame() {
    let frames = [b("T0:}")];
    assert_eq!(single(&frames), Ok(&frames[0]));
    assert_eq!(
        single(&[b("a"), b("b")]),
        Err(Error::FrameCount {
            expected: 1,
            found: 2
        })
    );
    assert_eq!(
        single(&[]),
        Err(Error::FrameCount {
            expected: 1,
            found: 0
        })
    );
}

#[test]
fn pub_split_at_first_space() {
    let m = parse_pub(&b("condure T12:3:a b,1:x,}")).unwrap();
    assert_eq!(m.address, "condure");
    assert_eq!(m.payload, "T12:3:a b,1:x,}");
    let m = parse_pub(&b(" T0:}")).unwrap();
    assert_eq!(m.address, "");
    assert_eq!(parse_pub(&b("T0:}")), Err(Error::MissingAddress { len: 4 }));
}

#[test]
fn pub_frame_round_trip() {
    let p = Packet {
        from: b("pushpin-proxy_1"),
        ids: Ids::One(Id::from("0-1-2")),
        seq: Some(0),
        ptype: PacketType::KeepAlive,
        ..Packet::default()
    };
    let frame = pub_frame(b"condure", &p);
    assert!(frame.starts_with(b"condure T"));
    let m = parse_pub(&frame).unwrap();
    assert_eq!(m.address, "condure");
    assert_eq!(Packet::decode(&m.payload, &Limits::default()).unwrap(), p);
}

#[test]
fn router_envelopes() {
    let frames = [Bytes::from_static(b"\0k\x8bEg"), b(""), b("T0:}")];
    let routed = parse_router(&frames).unwrap();
    assert_eq!(routed.envelope, &frames[..1]);
    assert_eq!(routed.payload, &frames[2]);
    // Behind a proxy hop there are several routing ids.
    let frames = [b("a"), b("b"), b(""), b("T0:}")];
    assert_eq!(parse_router(&frames).unwrap().envelope.len(), 2);

    assert_eq!(
        parse_router(&[b("a"), b("T0:}")]),
        Err(Error::MissingDelimiter { frames: 2 })
    );
    assert_eq!(
        parse_router(&[b(""), b("T0:}")]),
        Err(Error::MissingRoutingId)
    );
    assert_eq!(
        parse_router(&[b("a"), b(""), b("T0:}"), b("extra")]),
        Err(Error::ContentFrames { found: 2 })
    );
    assert_eq!(
        parse_router(&[b("a"), b("")]),
        Err(Error::ContentFrames { found: 0 })
    );
}

#[test]
fn dealer_envelopes() {
    let frames = [b(""), b("T0:}")];
    assert_eq!(parse_dealer(&frames), Ok(&frames[1]));
    assert_eq!(
        parse_dealer(&[b("x"), b("T0:}")]),
        Err(Error::NonEmptyDelimiter { len: 1 })
    );
    assert_eq!(
        parse_dealer(&[b(""), b("T0:}"), b("")]),
        Err(Error::FrameCount {
            expected: 2,
            found: 3
        })
    );
}

#[test]
fn building_frames() {
    let payload = b("T0:}");
    assert_eq!(
        router_frames(b("zurl"), payload.clone()),
        [b("zurl"), b(""), payload.clone()]
    );
    assert_eq!(dealer_frames(payload.clone()), [b(""), payload.clone()]);
    let envelope = [b("a"), b("b")];
    let reply = reply_frames(&envelope, payload.clone());
    assert_eq!(reply, [b("a"), b("b"), b(""), payload.clone()]);
    // What a ROUTER receives from a DEALER is what it replies on.
    let received = [b("id"), b(""), payload.clone()];
    let routed = parse_router(&received).unwrap();
    assert_eq!(reply_frames(routed.envelope, payload.clone()), received);
}

#[test]
fn error_messages() {
    assert_eq!(
        Error::FrameCount {
            expected: 2,
            found: 3
        }
        .to_string(),
        "expected 2 frames, found 3"
    );
}
