use bytes::{Bytes, BytesMut};

use super::*;

fn hdrs(pairs: &[(&'static str, &'static str)]) -> Vec<(Bytes, Bytes)> {
    pairs
        .iter()
        .map(|(n, v)| {
            (
                Bytes::from_static(n.as_bytes()),
                Bytes::from_static(v.as_bytes()),
            )
        })
        .collect()
}

fn head(code: u16, reason: &str, headers: &[(Bytes, Bytes)]) -> String {
    let mut buf = BytesMut::new();
    write_response_head(
        &mut buf,
        code,
        reason.as_bytes(),
        headers.iter().map(|(n, v)| (n.as_ref(), v.as_ref())),
    );
    String::from_utf8(buf.to_vec()).unwrap()
}

fn chunk(data: &[u8]) -> Vec<u8> {
    let mut buf = BytesMut::new();
    write_chunk(&mut buf, data);
    buf.to_vec()
}

fn http11() -> Persistence {
    Persistence::for_request(b"HTTP/1.1", [])
}

#[test]
fn complete_response_keeps_content_length_in_place() {
    // pushpin/m2-get.m2-side.jsonl seq 3: the origin's headers pass through in order.
    let origin = hdrs(&[
        ("Server", "BaseHTTP/0.6 Python/3.11.7"),
        ("Date", "Sun, 29 Nov 2026 02:30:28 GMT"),
        ("Content-Type", "text/plain"),
        ("Content-Length", "18"),
        ("X-Origin", "yes"),
    ]);
    let body = BodyInfo {
        more: false,
        len: 18,
        headers_only: false,
    };
    let p = prepare_response_headers(&origin, body, http11());
    assert!(!p.chunked);
    assert!(p.persistence.persistent);
    assert_eq!(
        head(200, "OK", &p.headers),
        "HTTP/1.1 200 OK\r\nServer: BaseHTTP/0.6 Python/3.11.7\r\n\
         Date: Sun, 29 Nov 2026 02:30:28 GMT\r\nContent-Type: text/plain\r\n\
         Content-Length: 18\r\nX-Origin: yes\r\n\r\n"
    );
}

#[test]
fn streamed_response_to_http11_is_chunked() {
    // pushpin/m2-grip-stream.m2-side.jsonl seq 3, 4, 7, 10.
    let origin = hdrs(&[
        ("Server", "BaseHTTP/0.6 Python/3.11.7"),
        ("Date", "Sun, 29 Nov 2026 02:30:09 GMT"),
        ("Content-Type", "text/plain"),
        ("Transfer-Encoding", "chunked"),
    ]);
    let body = BodyInfo {
        more: true,
        len: 0,
        headers_only: false,
    };
    let p = prepare_response_headers(&origin, body, http11());
    assert!(p.chunked);
    assert_eq!(
        head(200, "OK", &p.headers),
        "HTTP/1.1 200 OK\r\nServer: BaseHTTP/0.6 Python/3.11.7\r\n\
         Date: Sun, 29 Nov 2026 02:30:09 GMT\r\nContent-Type: text/plain\r\n\
         Transfer-Encoding: chunked\r\nConnection: Transfer-Encoding\r\n\r\n"
    );
    assert_eq!(chunk(b"[opened]\n"), b"9\r\n[opened]\n\r\n");
    assert_eq!(chunk(b"published 1\n"), b"C\r\npublished 1\n\r\n");
    assert_eq!(chunk(b""), LAST_CHUNK);
}

#[test]
fn complete_response_without_length_gets_one() {
    let p = prepare_response_headers(
        &hdrs(&[("Content-Type", "text/plain")]),
        BodyInfo {
            more: false,
            len: 6,
            headers_only: false,
        },
        http11(),
    );
    assert_eq!(
        p.headers,
        hdrs(&[("Content-Type", "text/plain"), ("Content-Length", "6")])
    );
}

#[test]
fn hop_by_hop_headers_are_removed() {
    let origin = hdrs(&[
        ("connection", "X-Foo, keep-alive"),
        ("x-foo", "1"),
        ("Keep-Alive", "timeout=5"),
        ("transfer-encoding", "chunked"),
        ("Content-Length", "0"),
    ]);
    let p = prepare_response_headers(&origin, BodyInfo::default(), http11());
    assert_eq!(p.headers, hdrs(&[("Content-Length", "0")]));
}

#[test]
fn http10_keep_alive_and_streaming() {
    let ka = Persistence::for_request(b"HTTP/1.0", [&b"Keep-Alive"[..]]);
    assert_eq!(
        ka,
        Persistence {
            persistent: true,
            allow_chunked: false,
            respond_keep_alive: true,
            respond_close: false
        }
    );
    // Complete body: Connection: Keep-Alive.
    let p = prepare_response_headers(
        &[],
        BodyInfo {
            more: false,
            len: 2,
            headers_only: false,
        },
        ka,
    );
    assert_eq!(
        p.headers,
        hdrs(&[("Content-Length", "2"), ("Connection", "Keep-Alive")])
    );
    // Streamed body of unknown length: no chunking for 1.0, persistence off.
    let p = prepare_response_headers(
        &[],
        BodyInfo {
            more: true,
            len: 0,
            headers_only: false,
        },
        ka,
    );
    assert!(!p.chunked);
    assert!(!p.persistence.persistent);
    assert!(p.headers.is_empty());
    // Pushpin compares case-sensitively: a lower-case keep-alive is not persistent.
    assert!(!Persistence::for_request(b"HTTP/1.0", [&b"keep-alive"[..]]).persistent);
    assert_eq!(
        Persistence::for_request(b"HTTP/2", []),
        Persistence::default()
    );
}

#[test]
fn http11_close_and_headers_only() {
    let close = Persistence::for_request(b"HTTP/1.1", [&b"foo, close"[..]]);
    assert!(close.respond_close && !close.persistent && close.allow_chunked);
    let p = prepare_response_headers(
        &[],
        BodyInfo {
            more: true,
            len: 0,
            headers_only: true,
        },
        close,
    );
    // Chunked is still chosen (as m2adapter records it) but not announced.
    assert!(p.chunked);
    assert_eq!(p.headers, hdrs(&[("Connection", "close")]));
}

#[test]
fn rejection_head() {
    let h = prepare_rejection_headers(
        &hdrs(&[("Content-Type", "text/plain"), ("Connection", "keep-alive")]),
        9,
        true,
    );
    assert_eq!(
        h,
        hdrs(&[
            ("Content-Type", "text/plain"),
            ("Content-Length", "9"),
            ("Connection", "close")
        ])
    );
    let h = prepare_rejection_headers(&hdrs(&[("Content-Length", "3")]), 3, false);
    assert_eq!(h, hdrs(&[("Content-Length", "3")]));
}

#[test]
fn status_line_uses_the_given_reason() {
    assert_eq!(
        head(404, "Not Found", &[]),
        "HTTP/1.1 404 Not Found\r\n\r\n"
    );
    assert_eq!(head(200, "", &[]), "HTTP/1.1 200 \r\n\r\n");
}
