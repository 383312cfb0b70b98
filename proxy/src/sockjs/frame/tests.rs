use super::*;

fn s(b: &Bytes) -> &str {
    std::str::from_utf8(b).unwrap()
}

#[test]
fn quotes_as_qt() {
    assert_eq!(s(&json_string(b"plain")), "\"plain\"");
    assert_eq!(
        s(&json_string(b"q\"b\\s/\x08\x0c\n\r\t")),
        "\"q\\\"b\\\\s/\\b\\f\\n\\r\\t\""
    );
    // other controls as \u00XX, lowercase hex
    assert_eq!(
        s(&json_string(b"\x00\x01\x1f\x7f")),
        "\"\\u0000\\u0001\\u001f\x7f\""
    );
    // non-ASCII stays UTF-8, including the ranges SockJS would like escaped
    for c in [
        '\u{e9}',
        '\u{200c}',
        '\u{2028}',
        '\u{2060}',
        '\u{fff0}',
        '\u{ffff}',
        '\u{1f600}',
    ] {
        let text = c.to_string();
        assert_eq!(s(&json_string(text.as_bytes())), format!("\"{c}\""));
    }
    // invalid UTF-8 becomes U+FFFD
    assert_eq!(s(&json_string(b"a\xffb")), "\"a\u{fffd}b\"");
}

#[test]
fn frames() {
    assert_eq!(
        s(&messages([&b"a"[..], &b"b\"c"[..]])),
        "a[\"a\",\"b\\\"c\"]"
    );
    assert_eq!(s(&messages(std::iter::empty::<&[u8]>())), "a[]");
    assert_eq!(s(&close_value(3000, "Go away!")), "[3000,\"Go away!\"]");
    assert_eq!(
        s(&close_value(2010, "Another connection still open")),
        "[2010,\"Another connection still open\"]"
    );
    assert_eq!(s(&linger_value(None, "")), "[0,\"Connection closed\"]");
    assert_eq!(
        s(&linger_value(Some(1000), "")),
        "[1000,\"Connection closed\"]"
    );
    assert_eq!(s(&linger_value(Some(3001), "bye")), "[3001,\"bye\"]");
}

#[test]
fn info_document_matches_1_36() {
    assert_eq!(
        s(&info(2_204_222_009)),
        "{\"cookie_needed\":false,\"entropy\":2204222009,\"origins\":[\"*:*\"],\"websocket\":true}"
    );
}

#[test]
fn http_bodies() {
    assert_eq!(s(&http_body(b"o", None)), "o\n");
    assert_eq!(s(&http_body(b"", None)), "");
    assert_eq!(s(&http_body(b"o", Some(b"cb"))), "/**/cb(\"o\");\n");
    assert_eq!(
        s(&http_body(b"a[\"x\"]", Some(b"cb"))),
        "/**/cb(\"a[\\\"x\\\"]\");\n"
    );
    assert_eq!(s(&http_string(b"ok", None)), "ok");
    assert_eq!(s(&http_string(b"ok", Some(b"f"))), "/**/f(\"ok\");\n");
}

#[test]
fn client_payloads() {
    assert_eq!(
        parse_messages(b"[\"a\",\"\\u00e9\"]").unwrap(),
        vec![Bytes::from_static(b"a"), Bytes::from("\u{e9}")]
    );
    assert_eq!(parse_messages(b"[]").unwrap(), Vec::<Bytes>::new());
    for bad in [
        &b""[..],
        b"x",
        b"\"a\"",
        b"{}",
        b"[1]",
        b"[\"a\",null]",
        b"[\"a\"",
    ] {
        assert_eq!(
            parse_messages(bad),
            Err(PayloadError::NotMessages),
            "{bad:?}"
        );
    }
    let big = format!("[\"{}\"]", "x".repeat(MAX_MESSAGE + 1));
    assert_eq!(parse_messages(big.as_bytes()), Err(PayloadError::TooLarge));
}

#[test]
fn form_parameter() {
    assert_eq!(form_d(b"d=%5B%22a%22%5D"), Bytes::from_static(b"[\"a\"]"));
    assert_eq!(form_d(b"x=1&d=a+b&d=2"), Bytes::from_static(b"a+b"));
    assert_eq!(form_d(b"%64=z"), Bytes::from_static(b"z"));
    assert_eq!(form_d(b"d"), Bytes::new());
    assert_eq!(form_d(b"d=%"), Bytes::from_static(b"%"));
    assert_eq!(form_d(b""), Bytes::new());
}

/// What 1.36 answered a poll and a JSON-P poll for this backend message (recorded with
/// curl through pushpin 1.36.0 and a WebSocket-over-HTTP backend).
#[test]
fn matches_recorded_1_36_polls() {
    let msg = "hi \u{2028} \u{200c} \u{fff0} \"q\" / \u{1} \u{e9}";
    let frame = messages([msg.as_bytes()]);
    assert_eq!(
        s(&http_body(&frame, None)),
        "a[\"hi \u{2028} \u{200c} \u{fff0} \\\"q\\\" / \\u0001 \u{e9}\"]\n"
    );
    assert_eq!(
        s(&http_body(&frame, Some(b"f"))),
        "/**/f(\"a[\\\"hi \u{2028} \u{200c} \u{fff0} \\\\\\\"q\\\\\\\" / \\\\u0001 \u{e9}\\\"]\");\n"
    );
    assert_eq!(
        s(&http_body(b"c[3001,\"bye!\"]", None)),
        "c[3001,\"bye!\"]\n"
    );
}
