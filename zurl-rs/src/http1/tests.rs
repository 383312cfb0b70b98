use super::*;

fn buf(s: &[u8]) -> BytesMut {
    BytesMut::from(s)
}

#[test]
fn head_keeps_case_order_and_reason() {
    let mut b = buf(
        b"HTTP/1.1 200 Very OK\r\nX-Foo: 1\r\ncontent-TYPE: text/plain\r\nX-Foo: 2\r\n\r\nbody",
    );
    let head = parse_head(&mut b).unwrap().unwrap();
    assert_eq!(head.code, 200);
    assert_eq!(&head.reason[..], b"Very OK");
    let names: Vec<&[u8]> = head.headers.iter().map(|h| &h.name[..]).collect();
    assert_eq!(names, [&b"X-Foo"[..], b"content-TYPE", b"X-Foo"]);
    assert_eq!(&b[..], b"body");
    assert!(head.keep_alive());
}

#[test]
fn head_partial_and_errors() {
    let mut b = buf(b"HTTP/1.1 200 OK\r\nX-Foo: 1\r\n");
    assert_eq!(parse_head(&mut b).unwrap(), None);
    let mut b = buf(b"garbage\r\n\r\n");
    assert!(matches!(parse_head(&mut b), Err(Error::Head(_))));
    let mut big = BytesMut::from(&b"HTTP/1.1 200 OK\r\n"[..]);
    big.extend_from_slice(&vec![b'a'; MAX_HEAD + 10]);
    assert_eq!(parse_head(&mut big), Err(Error::HeadTooLarge));
}

#[test]
fn length_body_respects_max() {
    let mut d = BodyDecoder::new(BodyKind::Length(5));
    let mut b = buf(b"hello extra");
    assert_eq!(
        d.decode(&mut b, 3).unwrap(),
        Decoded::Data(Bytes::from_static(b"hel"))
    );
    assert_eq!(
        d.decode(&mut b, 10).unwrap(),
        Decoded::Data(Bytes::from_static(b"lo"))
    );
    assert!(d.is_done());
    assert_eq!(d.decode(&mut b, 10).unwrap(), Decoded::Done);
}

#[test]
fn chunked_body_in_pieces() {
    let mut d = BodyDecoder::new(BodyKind::Chunked);
    let mut b = buf(b"5;ext=1\r\nhel");
    assert_eq!(
        d.decode(&mut b, 100).unwrap(),
        Decoded::Data(Bytes::from_static(b"hel"))
    );
    assert_eq!(d.decode(&mut b, 100).unwrap(), Decoded::NeedMore);
    b.extend_from_slice(b"lo\r\n0\r\nTrailer: x\r\n\r\n");
    assert_eq!(
        d.decode(&mut b, 1).unwrap(),
        Decoded::Data(Bytes::from_static(b"l"))
    );
    assert_eq!(
        d.decode(&mut b, 100).unwrap(),
        Decoded::Data(Bytes::from_static(b"o"))
    );
    assert_eq!(d.decode(&mut b, 100).unwrap(), Decoded::Done);
    assert!(d.is_done());
}

#[test]
fn chunked_errors() {
    let mut d = BodyDecoder::new(BodyKind::Chunked);
    assert_eq!(d.decode(&mut buf(b"zz\r\n"), 10), Err(Error::Chunked));
    let mut d = BodyDecoder::new(BodyKind::Chunked);
    assert_eq!(
        d.decode(&mut buf(b"1\r\naXX"), 10).unwrap(),
        Decoded::Data(Bytes::from_static(b"a"))
    );
    let mut d2 = d.clone();
    assert_eq!(d2.decode(&mut buf(b"XX\r\n"), 10), Err(Error::Chunked));
    assert_eq!(d.eof(), Err(Error::Truncated));
}

#[test]
fn body_kinds() {
    let head = |s: &[u8]| parse_head(&mut buf(s)).unwrap().unwrap();
    let h = head(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n");
    assert_eq!(BodyKind::of(b"GET", &h), Ok(BodyKind::Length(3)));
    assert_eq!(BodyKind::of(b"HEAD", &h), Ok(BodyKind::Empty));
    let h = head(b"HTTP/1.1 204 No Content\r\n\r\n");
    assert_eq!(BodyKind::of(b"GET", &h), Ok(BodyKind::Empty));
    let h = head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert_eq!(BodyKind::of(b"GET", &h), Ok(BodyKind::Chunked));
    let h = head(b"HTTP/1.0 200 OK\r\n\r\n");
    assert_eq!(BodyKind::of(b"GET", &h), Ok(BodyKind::Close));
    assert!(!h.keep_alive());
    let h = head(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n");
    assert_eq!(BodyKind::of(b"GET", &h), Err(Error::ContentLength));
}

#[test]
fn request_head_like_libcurl() {
    let headers = [
        Header::new("Accept-Encoding", "gzip"),
        Header::new("X-Custom", "1"),
        Header::new("Host", "wrong.example"),
        Header::new("Content-Length", "3"),
    ];
    let mut b = BytesMut::new();
    write_head(
        &mut b,
        b"POST",
        b"/p?q=1",
        b"127.0.0.1:80",
        &headers,
        RequestFraming::Length(3),
        true,
    );
    assert_eq!(
        &b[..],
        &b"POST /p?q=1 HTTP/1.1\r\nHost: 127.0.0.1:80\r\nAccept: */*\r\nAccept-Encoding: deflate, gzip, br, zstd\r\nX-Custom: 1\r\nContent-Length: 3\r\n\r\n"[..]
    );
    let mut b = BytesMut::new();
    write_head(
        &mut b,
        b"POST",
        b"/",
        b"h",
        &headers[1..2],
        RequestFraming::Chunked,
        false,
    );
    assert_eq!(
        &b[..],
        &b"POST / HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nAccept-Encoding: deflate, gzip, br, zstd\r\nX-Custom: 1\r\nTransfer-Encoding: chunked\r\n\r\n"[..]
    );
    let mut b = BytesMut::new();
    let with_accept = [
        Header::new("Accept", "text/plain"),
        Header::new("Content-Encoding", "gzip"),
        Header::new("X-A", "1"),
    ];
    write_head(
        &mut b,
        b"GET",
        b"/",
        b"h",
        &with_accept,
        RequestFraming::None,
        false,
    );
    assert_eq!(
        &b[..],
        &b"GET / HTTP/1.1\r\nHost: h\r\nAccept-Encoding: deflate, gzip, br, zstd\r\nAccept: text/plain\r\nX-A: 1\r\n\r\n"[..]
    );
    assert_eq!(&chunk(b"abc")[..], b"3\r\nabc\r\n");
    assert!(!valid_header(&Header::new("X", "a\r\nb")));
}
