use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::*;

const CLIENT: Validation = Validation::ClientFrame;
const LENIENT: Validation = Validation::SizeOnly;

fn limits(max: usize) -> Limits {
    Limits::new(max)
}

fn masked(fin: bool, op: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode(&mut out, fin, op, payload, Some([1, 2, 3, 4]));
    out.to_vec()
}

fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

#[test]
fn accept_key_matches_rfc_and_capture() {
    assert_eq!(
        accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
    assert_eq!(
        accept_key(b"LJXjOjN0lMc3offeZvzyAA=="),
        "l6lF7r0fhUcJCjZuLv9yTy4OOQ4="
    );
}

#[test]
fn decodes_captured_client_frame() {
    // "hello text" from vectors/condure/ws.jsonl.
    let raw = b64("gYpK1cAvIrCsQyX1tEoyoQ==");
    let mut buf = BytesMut::from(&raw[..]);
    let h = Header::decode(&buf, &limits(8192), CLIENT)
        .unwrap()
        .unwrap();
    assert_eq!(
        (h.fin, h.opcode, h.len, h.total()),
        (true, opcode::TEXT, 10, raw.len())
    );
    assert_eq!(h.take(&mut buf).as_ref(), b"hello text");
    assert!(buf.is_empty());
}

#[test]
fn masked_encoding_matches_the_mask_the_capture_used() {
    let raw = b64("gYpK1cAvIrCsQyX1tEoyoQ==");
    let mask: [u8; 4] = raw[2..6].try_into().unwrap();
    let mut out = BytesMut::new();
    encode(&mut out, true, opcode::TEXT, b"hello text", Some(mask));
    assert_eq!(&out[..], &raw[..]);
}

#[test]
fn lengths_and_prefixes() {
    for n in [0usize, 125, 126, 65535, 65536] {
        let payload = vec![7u8; n];
        let frame = masked(false, opcode::BINARY, &payload);
        for cut in 0..frame.len() - n {
            assert_eq!(
                Header::decode(&frame[..cut], &limits(1 << 20), CLIENT),
                Ok(None),
                "cut {cut}"
            );
        }
        let mut buf = BytesMut::from(&frame[..]);
        let h = Header::decode(&buf, &limits(1 << 20), CLIENT)
            .unwrap()
            .unwrap();
        assert_eq!(h.total(), frame.len());
        assert!(!h.fin);
        assert_eq!(h.take(&mut buf).as_ref(), &payload[..]);
    }
}

#[test]
fn round_trip_masked_sizes() {
    for n in [0usize, 1, 125, 126, 65_535, 65_536] {
        let payload = vec![b'x'; n];
        let mut buf = BytesMut::new();
        encode(
            &mut buf,
            n % 2 == 0,
            opcode::TEXT,
            &payload,
            Some([1, 2, 3, 4]),
        );
        let f = Frame::decode(&mut buf, &limits(1 << 20), LENIENT)
            .unwrap()
            .unwrap();
        assert_eq!(
            (f.opcode, f.fin, f.payload.len()),
            (opcode::TEXT, n % 2 == 0, n)
        );
        assert!(f.payload.iter().all(|&b| b == b'x'));
        assert!(buf.is_empty());
    }
}

#[test]
fn unmasked_header_sizes() {
    for (n, header) in [
        (0usize, 2usize),
        (125, 2),
        (126, 4),
        (65_535, 4),
        (65_536, 10),
    ] {
        let mut out = BytesMut::new();
        encode(&mut out, true, opcode::BINARY, &vec![0; n], None);
        assert_eq!(out.len(), header + n, "payload {n}");
    }
}

#[test]
fn unmasked_fragments_one_at_a_time() {
    let mut buf = BytesMut::from(&b"\x01\x03hel\x89\x02pp\x80\x02lo"[..]);
    let l = limits(100);
    let f = Frame::decode(&mut buf, &l, LENIENT).unwrap().unwrap();
    assert_eq!(
        (f.opcode, f.fin, &f.payload[..]),
        (opcode::TEXT, false, &b"hel"[..])
    );
    let f = Frame::decode(&mut buf, &l, LENIENT).unwrap().unwrap();
    assert_eq!(
        (f.opcode, f.fin, &f.payload[..]),
        (opcode::PING, true, &b"pp"[..])
    );
    let f = Frame::decode(&mut buf, &l, LENIENT).unwrap().unwrap();
    assert_eq!(
        (f.opcode, f.fin, &f.payload[..]),
        (opcode::CONTINUATION, true, &b"lo"[..])
    );
    assert_eq!(Frame::decode(&mut buf, &l, LENIENT), Ok(None));
}

#[test]
fn size_only_leaves_protocol_rules_to_the_caller() {
    // reserved bits, an unknown opcode, and a fragmented ping of 126 bytes
    let mut buf = BytesMut::from(&b"\xf3\x00"[..]);
    let f = Frame::decode(&mut buf, &limits(10), LENIENT)
        .unwrap()
        .unwrap();
    assert_eq!((f.opcode, f.fin), (3, true));
    let mut buf = BytesMut::from(&masked(false, opcode::PING, &[0; 126])[..]);
    let f = Frame::decode(&mut buf, &limits(200), LENIENT)
        .unwrap()
        .unwrap();
    assert_eq!(
        (f.opcode, f.fin, f.payload.len()),
        (opcode::PING, false, 126)
    );
}

#[test]
fn every_strict_prefix_is_incomplete_and_room_is_reserved() {
    let mut whole = BytesMut::new();
    encode(
        &mut whole,
        true,
        opcode::BINARY,
        &[7; 300],
        Some([9, 8, 7, 6]),
    );
    for n in 0..whole.len() {
        let mut prefix = BytesMut::from(&whole[..n]);
        assert_eq!(
            Frame::decode(&mut prefix, &limits(1000), LENIENT),
            Ok(None),
            "prefix {n}"
        );
        if n >= 8 {
            assert!(prefix.capacity() >= whole.len(), "prefix {n}");
        }
    }
}

#[test]
fn unmask_with_offset_matches_whole() {
    let mask = [1, 2, 3, 4];
    let mut whole = *b"abcdefghij";
    apply_mask(&mut whole, mask, 0);
    let mut a = *b"abc";
    let mut b = *b"defghij";
    apply_mask(&mut a, mask, 0);
    apply_mask(&mut b, mask, 3);
    assert_eq!([&a[..], &b[..]].concat(), whole);
    apply_mask(&mut whole, mask, 0);
    assert_eq!(&whole, b"abcdefghij");
}

#[test]
fn client_frame_refusals() {
    let mut unmasked = BytesMut::new();
    encode(&mut unmasked, true, opcode::TEXT, b"x", None);
    let l = limits(100);
    assert_eq!(Header::decode(&unmasked, &l, CLIENT), Err(Error::Unmasked));
    assert_eq!(
        Header::decode(&[0xC1, 0x80], &l, CLIENT),
        Err(Error::Reserved)
    );
    assert_eq!(
        Header::decode(&[0x83, 0x80], &l, CLIENT),
        Err(Error::Opcode(3))
    );
    assert_eq!(
        Header::decode(&masked(false, opcode::PING, b"x"), &l, CLIENT),
        Err(Error::Control)
    );
    assert_eq!(
        Header::decode(
            &masked(true, opcode::CLOSE, &[0; 126]),
            &limits(1000),
            CLIENT
        ),
        Err(Error::Control)
    );
    assert!(matches!(
        Header::decode(&masked(true, opcode::TEXT, &[0; 200]), &l, CLIENT),
        Err(Error::TooLarge { len: 200, max: 100 })
    ));
    assert_eq!(Error::TooLarge { len: 1, max: 0 }.close_code(), 1009);
    assert_eq!(Error::Unmasked.close_code(), 1002);
    assert_eq!(Error::Reserved.close_code(), 1002);
    assert_eq!(Error::Opcode(3).close_code(), 1002);
    assert_eq!(Error::Control.close_code(), 1002);
}

#[test]
fn too_large_as_soon_as_the_length_is_known() {
    let mut buf = BytesMut::from(&b"\x82\x7e\x01\x00"[..]);
    assert_eq!(
        Frame::decode(&mut buf, &limits(255), LENIENT),
        Err(Error::TooLarge { len: 256, max: 255 })
    );
    let mut buf = BytesMut::from(&b"\x82\x7f\xff\xff\xff\xff\xff\xff\xff\xff"[..]);
    assert!(Frame::decode(&mut buf, &limits(200_000), LENIENT).is_err());
    let mut buf = BytesMut::from(&b"\x82\x7e\x00\xff"[..]);
    assert_eq!(Frame::decode(&mut buf, &limits(255), LENIENT), Ok(None));
    // a masked frame: before its mask is read
    assert_eq!(
        Header::decode(b"\x82\xfe\x01\x00", &limits(255), CLIENT),
        Err(Error::TooLarge { len: 256, max: 255 })
    );
}

#[test]
fn a_limit_near_usize_max_cannot_overflow_the_total() {
    let buf = b"\x82\x7f\xff\xff\xff\xff\xff\xff\xff\xff";
    assert!(matches!(
        Header::decode(buf, &limits(usize::MAX), LENIENT),
        Err(Error::TooLarge { .. })
    ));
}

#[test]
fn take_on_a_short_buffer_does_not_panic() {
    let frame = masked(true, opcode::TEXT, b"hello");
    let h = Header::decode(&frame, &limits(100), CLIENT)
        .unwrap()
        .unwrap();
    let mut short = BytesMut::from(&frame[..4]);
    assert!(h.take(&mut short).is_empty());
    assert!(short.is_empty());
}

#[test]
fn close_payloads() {
    let mut out = BytesMut::new();
    encode_close(&mut out, Some(1000), b"bye", None);
    // From vectors/condure/ws.jsonl: "iAUD6GJ5ZQ==".
    assert_eq!(
        base64::engine::general_purpose::STANDARD.encode(&out),
        "iAUD6GJ5ZQ=="
    );
    let (code, reason) = parse_close(&Bytes::from_static(b"\x03\xe8done"));
    assert_eq!((code, reason.as_ref()), (Some(1000), b"done".as_slice()));
    assert_eq!(parse_close(&Bytes::new()).0, None);
    assert_eq!(parse_close(&Bytes::from_static(b"\x03")).0, None);
    // no code: no reason either
    let mut out = BytesMut::new();
    encode_close(&mut out, None, b"ignored", None);
    assert_eq!(&out[..], b"\x88\x00");
}

#[test]
fn close_reasons_capped_by_encode_close_only() {
    let reason = [b'r'; 200];
    let mut out = BytesMut::new();
    encode_close(&mut out, Some(1001), &reason, None);
    let h = Header::decode(&out, &limits(1000), LENIENT)
        .unwrap()
        .unwrap();
    assert_eq!(h.len, 2 + MAX_CLOSE_REASON);
    assert_eq!(close_payload(Some(1001), &reason).len(), 202);
    assert!(close_payload(None, &reason).is_empty());
}

fn any_opcode() -> impl Strategy<Value = u8> {
    prop::sample::select(vec![
        opcode::CONTINUATION,
        opcode::TEXT,
        opcode::BINARY,
        opcode::CLOSE,
        opcode::PING,
        opcode::PONG,
    ])
}

proptest! {
    #[test]
    fn decoding_garbage_never_panics(
        input in prop::collection::vec(any::<u8>(), 0..300),
        max in 0usize..200,
        strict in any::<bool>(),
    ) {
        let v = if strict { CLIENT } else { LENIENT };
        let l = limits(max);
        let mut buf = BytesMut::from(&input[..]);
        while let Ok(Some(h)) = Header::decode(&buf, &l, v) {
            if buf.len() < h.total() {
                break;
            }
            let _ = h.take(&mut buf);
        }
        let mut buf = BytesMut::from(&input[..]);
        while let Ok(Some(_)) = Frame::decode(&mut buf, &l, v) {}
    }

    /// An error depends only on the bytes seen: a prefix that is already
    /// invalid stays invalid with the same error, and a prefix of a decodable
    /// header is incomplete, never invalid.
    #[test]
    fn incomplete_versus_invalid_on_garbage(
        input in prop::collection::vec(any::<u8>(), 0..40),
        max in 0usize..300,
        strict in any::<bool>(),
    ) {
        let v = if strict { CLIENT } else { LENIENT };
        let l = limits(max);
        let full = Header::decode(&input, &l, v);
        for cut in 0..input.len() {
            match Header::decode(&input[..cut], &l, v) {
                Err(e) => prop_assert_eq!(full, Err(e), "cut {}", cut),
                Ok(Some(h)) => prop_assert_eq!(full, Ok(Some(h)), "cut {}", cut),
                Ok(None) => {
                    if let Ok(Some(h)) = full {
                        prop_assert!(cut < h.header_len, "cut {}", cut);
                    }
                }
            }
        }
    }

    #[test]
    fn encode_then_decode_round_trips(
        small in prop::collection::vec(any::<u8>(), 0..300),
        big in prop::option::weighted(0.2, 65_530usize..65_540),
        fin in any::<bool>(),
        op in any_opcode(),
        mask in any::<Option<[u8; 4]>>(),
    ) {
        // lengths around every length-encoding boundary (125/126, 65535/65536)
        let payload: Vec<u8> = match big {
            Some(n) => small.iter().copied().chain(std::iter::repeat(0x5a)).take(n).collect(),
            None => small,
        };
        let frame = Frame { fin, opcode: op, payload: Bytes::from(payload) };
        let mut out = BytesMut::new();
        frame.encode(&mut out, mask);
        let whole = out.clone();
        let got = Frame::decode(&mut out, &limits(1 << 20), LENIENT);
        prop_assert_eq!(got, Ok(Some(frame.clone())));
        prop_assert!(out.is_empty());
        // every strict prefix is incomplete
        for cut in [0, 1, whole.len() / 2, whole.len() - 1] {
            let mut prefix = BytesMut::from(&whole[..cut]);
            prop_assert_eq!(Frame::decode(&mut prefix, &limits(1 << 20), LENIENT), Ok(None));
        }
        // a server accepts what a client encodes, within the control-frame rules
        let valid_control = !opcode::is_control(op) || (fin && frame.payload.len() <= 125);
        if mask.is_some() && valid_control {
            let h = Header::decode(&whole, &limits(1 << 20), CLIENT).unwrap().unwrap();
            prop_assert_eq!(h.total(), whole.len());
            prop_assert_eq!((h.fin, h.opcode, h.mask), (fin, op, mask));
            let mut buf = BytesMut::from(&whole[..]);
            prop_assert_eq!(h.take(&mut buf), frame.payload);
        }
    }

    #[test]
    fn every_strict_prefix_of_a_small_frame_is_incomplete(
        payload in prop::collection::vec(any::<u8>(), 0..300),
        fin in any::<bool>(),
        op in any_opcode(),
        mask in any::<Option<[u8; 4]>>(),
    ) {
        let mut whole = BytesMut::new();
        encode(&mut whole, fin, op, &payload, mask);
        for cut in 0..whole.len() {
            let mut prefix = BytesMut::from(&whole[..cut]);
            prop_assert_eq!(Frame::decode(&mut prefix, &limits(1000), LENIENT), Ok(None), "cut {}", cut);
        }
    }

    #[test]
    fn split_unmasking_matches_whole(
        data in prop::collection::vec(any::<u8>(), 0..64),
        mask in any::<[u8; 4]>(),
        at in 0usize..64,
    ) {
        let mut whole = data.clone();
        apply_mask(&mut whole, mask, 0);
        let at = at.min(data.len());
        let (mut a, mut b) = (data[..at].to_vec(), data[at..].to_vec());
        apply_mask(&mut a, mask, 0);
        apply_mask(&mut b, mask, at);
        prop_assert_eq!([a, b].concat(), whole);
    }
}
