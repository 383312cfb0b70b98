//! Unit tests of request head parsing, chunked decoding and response heads.

use bytes::{Bytes, BytesMut};
use pushpin_zhttp::Header;

use super::*;

fn parse(input: &[u8], limit: usize) -> Result<Option<RequestHead>, HeadError> {
    let mut buf = BytesMut::from(input);
    parse_head(&mut buf, limit)
}

#[test]
fn parses_a_head_and_leaves_the_rest() {
    let mut buf =
        BytesMut::from(&b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcGET"[..]);
    let head = parse_head(&mut buf, 8192).unwrap().unwrap();
    assert_eq!(head.method.as_ref(), b"POST");
    assert_eq!(head.target.as_ref(), b"/x");
    assert_eq!(head.minor, 1);
    assert_eq!(head.body, BodyKind::Length(3));
    assert!(head.keep_alive);
    assert_eq!(head.header(b"HOST").unwrap().as_ref(), b"h");
    assert_eq!(buf.as_ref(), b"abcGET");
}

#[test]
fn incomplete_then_too_large() {
    assert!(
        parse(b"GET / HTTP/1.1\r\nHost: h\r\n", 8192)
            .unwrap()
            .is_none()
    );
    assert_eq!(
        parse(
            b"GET / HTTP/1.1\r\nHost: hhhhhhhhhhhhhhhhhhhhhhhhhhhhh\r\n",
            20
        )
        .unwrap_err(),
        HeadError::TooLarge { limit: 20 }
    );
    assert_eq!(
        parse(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", 10).unwrap_err(),
        HeadError::TooLarge { limit: 10 }
    );
}

#[test]
fn errors_map_to_statuses() {
    assert!(matches!(
        parse(b"BAD\r\n\r\n", 100),
        Err(HeadError::Malformed(_))
    ));
    assert_eq!(
        parse(
            b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            100
        )
        .unwrap_err(),
        HeadError::ContentLength
    );
    assert_eq!(
        parse(
            b"GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            100
        )
        .unwrap_err(),
        HeadError::TransferEncoding
    );
    assert_eq!(HeadError::TooManyHeaders.status().0, 431);
    assert_eq!(HeadError::ContentLength.status().0, 400);
    assert_eq!(HeadError::TransferEncoding.status().0, 501);
    let answer = error_response(&HeadError::ContentLength);
    assert!(answer.starts_with(b"HTTP/1.1 400 Bad Request\r\n"));
}

#[test]
fn connection_semantics() {
    let h = parse(b"GET / HTTP/1.0\r\n\r\n", 100).unwrap().unwrap();
    assert!(!h.keep_alive);
    let h = parse(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 100)
        .unwrap()
        .unwrap();
    assert!(h.keep_alive);
    let h = parse(b"GET / HTTP/1.1\r\nConnection: close\r\nUpgrade: websocket\r\nExpect: 100-continue\r\n\r\n", 200)
        .unwrap()
        .unwrap();
    assert!(!h.keep_alive && h.websocket && h.expect_continue);
}

#[test]
fn chunked_decoder_handles_split_input() {
    let input = b"5\r\nhello\r\n6;x=y\r\n world\r\n0\r\nT: v\r\n\r\nNEXT";
    for split in 1..input.len() {
        let mut dec = ChunkedDecoder::default();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for part in [&input[..split], &input[split..]] {
            buf.extend_from_slice(part);
            loop {
                let data = dec.decode(&mut buf, 3).unwrap();
                if data.is_empty() {
                    break;
                }
                out.extend_from_slice(&data);
            }
        }
        assert!(dec.is_done(), "split {split}");
        assert_eq!(out, b"hello world");
        assert_eq!(buf.as_ref(), b"NEXT");
    }
}

#[test]
fn chunked_decoder_rejects_garbage() {
    let mut dec = ChunkedDecoder::default();
    assert_eq!(
        dec.decode(&mut BytesMut::from(&b"zz\r\n"[..]), 10),
        Err(ChunkError::Size)
    );
    let mut dec = ChunkedDecoder::default();
    let mut buf = BytesMut::from(&b"1\r\naXX"[..]);
    assert_eq!(dec.decode(&mut buf, 10).unwrap(), Bytes::from_static(b"a"));
    assert_eq!(dec.decode(&mut buf, 10), Err(ChunkError::Crlf));
    let mut dec = ChunkedDecoder::default();
    let long = vec![b'1'; 2000];
    assert_eq!(
        dec.decode(&mut BytesMut::from(&long[..]), 10),
        Err(ChunkError::Size)
    );
}

#[test]
fn response_heads() {
    let hs = [
        Header::new("A", "b"),
        Header::new("Connection", "x"),
        Header::new("Transfer-Encoding", "y"),
    ];
    let mut out = BytesMut::new();
    let (f, keep) = write_response_head(&mut out, 1, false, true, 200, b"OK", &hs, Some(3));
    assert_eq!((f, keep), (RespFraming::Length(3), true));
    assert_eq!(
        out.as_ref(),
        b"HTTP/1.1 200 OK\r\nA: b\r\nContent-Length: 3\r\n\r\n"
    );

    let mut out = BytesMut::new();
    let (f, keep) = write_response_head(&mut out, 1, false, false, 200, b"OK", &[], None);
    assert_eq!((f, keep), (RespFraming::Chunked, false));
    assert_eq!(
        out.as_ref(),
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nConnection: Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n\r\n"
    );

    let mut out = BytesMut::new();
    let (f, keep) = write_response_head(&mut out, 0, false, true, 200, b"OK", &[], None);
    assert_eq!((f, keep), (RespFraming::Close, false));
    assert_eq!(out.as_ref(), b"HTTP/1.0 200 OK\r\n\r\n");

    let mut out = BytesMut::new();
    let (f, _) = write_response_head(
        &mut out,
        1,
        false,
        true,
        304,
        b"Not Modified",
        &[Header::new("Content-Length", "9")],
        None,
    );
    assert_eq!(f, RespFraming::NoBody);
    assert_eq!(out.as_ref(), b"HTTP/1.1 304 Not Modified\r\n\r\n");
}

mod props {
    use bytes::BytesMut;
    use proptest::prelude::*;

    use super::super::*;

    proptest! {
        #[test]
        fn parse_head_never_panics(input in proptest::collection::vec(any::<u8>(), 0..2048), limit in 1usize..4096) {
            let mut buf = BytesMut::from(&input[..]);
            let _ = parse_head(&mut buf, limit);
        }

        #[test]
        fn chunked_decoder_never_panics(input in proptest::collection::vec(any::<u8>(), 0..2048), max in 0usize..64) {
            let mut dec = ChunkedDecoder::default();
            let mut buf = BytesMut::from(&input[..]);
            for _ in 0..input.len() + 2 {
                match dec.decode(&mut buf, max) {
                    Ok(d) if d.is_empty() => break,
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        }

        #[test]
        fn chunked_roundtrip(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..100), 0..10)) {
            let mut wire = Vec::new();
            for c in &chunks {
                wire.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
                wire.extend_from_slice(c);
                wire.extend_from_slice(b"\r\n");
            }
            wire.extend_from_slice(b"0\r\n\r\n");
            let mut dec = ChunkedDecoder::default();
            let mut buf = BytesMut::from(&wire[..]);
            let mut out = Vec::new();
            loop {
                let d = dec.decode(&mut buf, 7).unwrap();
                if d.is_empty() {
                    break;
                }
                out.extend_from_slice(&d);
            }
            prop_assert!(dec.is_done());
            prop_assert_eq!(out, chunks.concat());
        }
    }
}
