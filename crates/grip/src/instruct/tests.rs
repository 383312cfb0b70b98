use bytes::Bytes;

use super::*;

fn hs(list: &[(&str, &str)]) -> Vec<Header> {
    list.iter()
        .map(|(n, v)| {
            (
                Bytes::copy_from_slice(n.as_bytes()),
                Bytes::copy_from_slice(v.as_bytes()),
            )
        })
        .collect()
}

fn parse(list: &[(&str, &str)]) -> Result<Instruct, InstructError> {
    Instruct::parse(
        200,
        &Bytes::from_static(b"OK"),
        &hs(list),
        &Bytes::from_static(b"hi\n"),
    )
}

fn parse_json(body: &str) -> Result<Instruct, InstructError> {
    Instruct::parse(
        200,
        &Bytes::from_static(b"OK"),
        &hs(&[("Content-Type", "application/grip-instruct")]),
        &Bytes::copy_from_slice(body.as_bytes()),
    )
}

fn err(list: &[(&str, &str)]) -> String {
    parse(list).unwrap_err().to_string()
}

fn json_err(body: &str) -> String {
    parse_json(body).unwrap_err().to_string()
}

#[test]
fn header_instruct_defaults() {
    let i = parse(&[
        ("Content-Type", "text/plain"),
        ("Grip-Hold", "response"),
        ("Grip-Channel", "a, b; prev-id=1"),
        (
            "grip-channel",
            "c; filter=skip-self; filter=build-id; prev-id=\"x y\"",
        ),
        ("X-A", "1"),
    ])
    .unwrap();
    assert_eq!(i.hold, Some(HoldMode::Response));
    assert_eq!(i.timeout, DEFAULT_RESPONSE_TIMEOUT);
    assert_eq!(i.channels.len(), 3);
    assert_eq!(i.channels[0].name, "a");
    assert_eq!(i.channels[1].prev_id.as_deref(), Some("1"));
    assert_eq!(i.channels[2].filters, vec!["skip-self", "build-id"]);
    assert_eq!(i.channels[2].prev_id.as_deref(), Some("x y"));
    assert_eq!(i.response.code, 200);
    assert_eq!(&i.response.reason[..], b"OK");
    assert_eq!(
        i.response.headers,
        hs(&[("Content-Type", "text/plain"), ("X-A", "1")])
    );
    assert_eq!(i.response.body.as_deref(), Some(&b"hi\n"[..]));
    assert!(i.keep_alive.is_none());
    assert!(i.next_link.is_none());
}

#[test]
fn timeouts_and_minimums() {
    assert_eq!(parse(&[("Grip-Timeout", "0")]).unwrap().timeout, 5);
    assert_eq!(parse(&[("Grip-Timeout", "60")]).unwrap().timeout, 60);
    assert_eq!(
        err(&[("Grip-Timeout", "abc")]),
        "failed to parse Grip-Timeout"
    );
    assert_eq!(
        err(&[("Grip-Timeout", "-1")]),
        "Grip-Timeout has invalid value"
    );
}

#[test]
fn keep_alive_header() {
    let ka = parse(&[("Grip-Keep-Alive", "\\n; format=cstring; timeout=2")])
        .unwrap()
        .keep_alive
        .unwrap();
    assert_eq!(&ka.data[..], b"\n");
    assert_eq!(ka.timeout, 2);
    assert_eq!(ka.mode, KeepAliveMode::Idle);

    let ka = parse(&[("Grip-Keep-Alive", "ping; mode=interval; timeout=0")])
        .unwrap()
        .keep_alive
        .unwrap();
    assert_eq!(
        (&ka.data[..], ka.timeout, ka.mode),
        (&b"ping"[..], 1, KeepAliveMode::Interval)
    );

    let ka = parse(&[("Grip-Keep-Alive", "a2E=; format=base64")])
        .unwrap()
        .keep_alive
        .unwrap();
    assert_eq!((&ka.data[..], ka.timeout), (&b"ka"[..], 55));

    assert_eq!(
        err(&[("Grip-Keep-Alive", "; timeout=5")]),
        "Grip-Keep-Alive cannot be empty"
    );
    assert_eq!(
        err(&[("Grip-Keep-Alive", "x; mode=sometimes")]),
        "no such Grip-Keep-Alive mode 'sometimes'"
    );
    assert_eq!(
        err(&[("Grip-Keep-Alive", "x; format=hex")]),
        "no such Grip-Keep-Alive format 'hex'"
    );
    assert_eq!(
        err(&[("Grip-Keep-Alive", "x; timeout=z")]),
        "failed to parse Grip-Keep-Alive timeout value"
    );
    assert_eq!(
        err(&[("Grip-Keep-Alive", "x; timeout=-3")]),
        "Grip-Keep-Alive timeout has invalid value"
    );
    assert_eq!(
        err(&[("Grip-Keep-Alive", "x\\; format=cstring")]),
        "failed to parse Grip-Keep-Alive cstring format"
    );
    // an unterminated quote makes the header unparsable: no keep-alive at all
    assert!(
        parse(&[("Grip-Keep-Alive", "x; a=\"b")])
            .unwrap()
            .keep_alive
            .is_none()
    );
}

#[test]
fn set_meta_status_expose() {
    let i = parse(&[("Grip-Set-Meta", "user=alice, greeting=\"hi there\"; b=2")]).unwrap();
    assert_eq!(i.meta.get("user").map(String::as_str), Some("alice"));
    assert_eq!(i.meta.get("greeting").map(String::as_str), Some("hi there"));
    assert!(!i.meta.contains_key("b"));
    assert_eq!(
        err(&[("Grip-Set-Meta", "a=1, , b=2")]),
        "Grip-Set-Meta cannot be empty"
    );

    let i = parse(&[("Grip-Status", "404 Gone Away")]).unwrap();
    assert_eq!(
        (i.response.code, &i.response.reason[..]),
        (404, &b"Gone Away"[..])
    );
    let i = parse(&[("Grip-Status", "418")]).unwrap();
    assert_eq!(
        (i.response.code, &i.response.reason[..]),
        (418, &b"Undefined Reason"[..])
    );
    let i = parse(&[("Grip-Status", "201 ")]).unwrap();
    assert_eq!(&i.response.reason[..], b"Created");
    for bad in ["abc", "1000", "-1", " "] {
        assert_eq!(
            err(&[("Grip-Status", bad)]),
            "Grip-Status contains invalid status code",
            "{bad}"
        );
    }

    let i = parse(&[
        ("Grip-Expose-Headers", "X-A, content-type"),
        ("Content-Type", "text/plain"),
        ("X-A", "1"),
        ("X-B", "2"),
        ("Grip-Whatever", "1"),
    ])
    .unwrap();
    assert_eq!(
        i.response.headers,
        hs(&[("Content-Type", "text/plain"), ("X-A", "1")])
    );
    assert_eq!(i.expose_headers.len(), 2);
}

#[test]
fn hold_errors_and_channel_forms() {
    assert_eq!(
        err(&[("Grip-Hold", "forever")]),
        "Grip-Hold must be set to either 'response' or 'stream'"
    );
    assert_eq!(
        err(&[("Grip-Hold", "Stream")]),
        "Grip-Hold must be set to either 'response' or 'stream'"
    );
    let i = parse(&[("Grip-Hold", "stream"), ("Grip-Channel", "")]).unwrap();
    assert_eq!(i.hold, Some(HoldMode::Stream));
    assert!(i.channels.is_empty());
    // an element without a name yields an empty channel name, not an error
    let i = parse(&[("Grip-Channel", "; prev-id=1")]).unwrap();
    assert_eq!(i.channels[0].name, "");
    assert_eq!(
        InstructError::GripChannel.to_string(),
        "failed to parse Grip-Channel"
    );
}

#[test]
fn next_links() {
    let i = parse(&[("Grip-Link", "</nl?step=1>; rel=next; timeout=3")]).unwrap();
    let link = i.next_link.unwrap();
    assert_eq!((&link.uri[..], link.timeout), (&b"/nl?step=1"[..], 3));
    let i = parse(&[("Grip-Link", "</a>; rel=next, </b>; rel=next")]).unwrap();
    let link = i.next_link.unwrap();
    assert_eq!((&link.uri[..], link.timeout), (&b"/b"[..], 120));
    assert!(
        parse(&[("Grip-Link", "</a>; rel=prev"), ("Grip-Link", "<bad")])
            .unwrap()
            .next_link
            .is_none()
    );
    assert!(parse(&[("Grip-Link", "</a>")]).unwrap().next_link.is_none());
    assert_eq!(
        err(&[("Grip-Link", "/next; rel=next")]),
        "failed to parse Grip-Link value"
    );
    assert_eq!(
        err(&[("Grip-Link", "<>; rel=next")]),
        "failed to parse Grip-Link value"
    );
    assert_eq!(
        err(&[("Grip-Link", "<http://h:x/>; rel=next")]),
        "Grip-Link contains invalid link"
    );
    assert_eq!(
        err(&[("Grip-Link", "<http://[::1/>; rel=next")]),
        "Grip-Link contains invalid link"
    );
    assert!(
        parse(&[("Grip-Link", "<http://[::1]:80/a>; rel=next")])
            .unwrap()
            .next_link
            .is_some()
    );
    assert_eq!(
        err(&[("Grip-Link", "</a>; rel=next; timeout=x")]),
        "failed to parse Grip-Link timeout value"
    );
    assert_eq!(
        err(&[("Grip-Link", "</a>; rel=next; timeout=-1")]),
        "Grip-Link timeout has invalid value"
    );
}

#[test]
fn json_instruct_full() {
    let i = parse_json(
        r#"{"hold": {"mode": "response", "channels": [{"name": "ji", "prev-id": "p", "filters": ["skip-self"]}], "timeout": 30, "meta": {"user": "alice"}}, "response": {"code": 202, "reason": "Held", "headers": {"X-A": "1", "Content-Type": "text/plain"}, "body": "timeout body\n"}}"#,
    )
    .unwrap();
    assert_eq!(i.hold, Some(HoldMode::Response));
    assert_eq!(i.timeout, 30);
    assert_eq!(i.channels[0].prev_id.as_deref(), Some("p"));
    assert_eq!(i.meta.get("user").map(String::as_str), Some("alice"));
    assert_eq!(i.response.code, 202);
    assert_eq!(&i.response.reason[..], b"Held");
    // object headers come out sorted (uppercase before lowercase)
    assert_eq!(
        i.response.headers,
        hs(&[("Content-Type", "text/plain"), ("X-A", "1")])
    );
    assert_eq!(i.response.body.as_deref(), Some(&b"timeout body\n"[..]));
}

#[test]
fn json_instruct_merges_with_headers() {
    let headers = hs(&[
        ("Content-Type", "application/grip-instruct; charset=utf-8"),
        ("Grip-Channel", "extra"),
        ("Grip-Keep-Alive", "x; mode=idle; timeout=9"),
        ("X-Dropped", "1"),
    ]);
    let body = r#"{"hold": {"mode": "stream", "channels": [{"name": "js"}], "keep-alive": {"content": "ka\n", "timeout": 1}}, "response": {"headers": [["X-B", "2"], ["X-B", "3"]], "body-bin": "aGVsbG8K"}}"#;
    let i = Instruct::parse(
        200,
        &Bytes::from_static(b"OK"),
        &headers,
        &Bytes::from(body),
    )
    .unwrap();
    let names: Vec<_> = i.channels.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, vec!["extra", "js"]);
    assert_eq!(i.hold, Some(HoldMode::Stream));
    let ka = i.keep_alive.unwrap();
    assert_eq!(
        (&ka.data[..], ka.timeout, ka.mode),
        (&b"ka\n"[..], 1, KeepAliveMode::Idle)
    );
    assert_eq!(i.response.headers, hs(&[("X-B", "2"), ("X-B", "3")]));
    assert_eq!(i.response.body.as_deref(), Some(&b"hello\n"[..]));

    // JSON keep-alive alone behaves like interval mode
    let i =
        parse_json(r#"{"hold": {"channels": [], "keep-alive": {"content-bin": "a2E="}}}"#).unwrap();
    let ka = i.keep_alive.unwrap();
    assert_eq!(
        (&ka.data[..], ka.timeout, ka.mode),
        (&b"ka"[..], 55, KeepAliveMode::Interval)
    );
}

#[test]
fn json_instruct_quirks() {
    // no hold, no body: the "null" body
    let i = parse_json(r#"{"response": {"code": 204}}"#).unwrap();
    assert_eq!(i.response.body, None);
    assert_eq!(&i.response.reason[..], b"No Content");
    let i = parse_json("{}").unwrap();
    assert_eq!(i.response.body, None);
    assert!(i.response.headers.is_empty());
    let i = parse_json(r#"{"response": {"body": ""}}"#).unwrap();
    assert_eq!(i.response.body.as_deref(), Some(&b""[..]));
    // lenient numbers
    let i = parse_json(r#"{"response": {"code": "abc", "body": "x\n"}}"#).unwrap();
    assert_eq!(
        (i.response.code, &i.response.reason[..]),
        (0, &b"Undefined Reason"[..])
    );
    let i = parse_json(r#"{"hold": {"channels": [], "timeout": "7"}}"#).unwrap();
    assert_eq!(i.timeout, 7);
    let i = parse_json(r#"{"hold": {"channels": [], "timeout": "abc"}}"#).unwrap();
    assert_eq!(i.timeout, 5);
    assert_eq!(i.hold, Some(HoldMode::Response));
}

#[test]
fn json_instruct_errors() {
    let bad_status = Instruct::parse(
        201,
        &Bytes::from_static(b"Whatever"),
        &hs(&[("Content-Type", "application/grip-instruct")]),
        &Bytes::from_static(br#"{"response": {"body": "x"}}"#),
    );
    assert_eq!(
        bad_status.unwrap_err().to_string(),
        "response code for application/grip-instruct content must be 200"
    );
    let cases: &[(&str, &str)] = &[
        (
            "{not json",
            "failed to parse application/grip-instruct content as JSON",
        ),
        (
            "\"str\"",
            "failed to parse application/grip-instruct content as JSON",
        ),
        ("[]", "instruct must be an object"),
        (
            r#"{"hold": "stream"}"#,
            "instruct contains 'hold' with wrong type",
        ),
        (
            r#"{"hold": {"mode": "x", "channels": []}}"#,
            "hold 'mode' must be set to either 'response' or 'stream'",
        ),
        (
            r#"{"hold": {"mode": 1, "channels": []}}"#,
            "hold contains 'mode' with wrong type",
        ),
        (
            r#"{"hold": {"mode": "stream"}}"#,
            "hold does not contain 'channels'",
        ),
        (
            r#"{"hold": {"channels": {}}}"#,
            "hold contains 'channels' with wrong type",
        ),
        (
            r#"{"hold": {"mode": "stream", "channels": [{}]}}"#,
            "channel does not contain 'name'",
        ),
        (r#"{"hold": {"channels": [1]}}"#, "channel is not an object"),
        (
            r#"{"hold": {"channels": [{"name": null}]}}"#,
            "channel contains 'name' with wrong type",
        ),
        (
            r#"{"hold": {"channels": [{"name": "a", "prev-id": 1}]}}"#,
            "channel contains 'prev-id' with wrong type",
        ),
        (
            r#"{"hold": {"mode": "stream", "channels": [{"name": "a", "filters": "x"}]}}"#,
            "channel contains 'filters' with wrong type",
        ),
        (
            r#"{"hold": {"channels": [{"name": "a", "filters": [1]}]}}"#,
            "filters contains value with wrong type",
        ),
        (
            r#"{"hold": {"channels": [], "timeout": null}}"#,
            "hold contains 'timeout' with wrong type",
        ),
        (
            r#"{"hold": {"channels": [], "timeout": -1}}"#,
            "hold contains 'timeout' with invalid value",
        ),
        (
            r#"{"hold": {"channels": [], "keep-alive": 1}}"#,
            "hold contains 'keep-alive' with wrong type",
        ),
        (
            r#"{"hold": {"channels": [], "keep-alive": {"content-bin": 1}}}"#,
            "keep-alive contains 'content-bin' with wrong type",
        ),
        (
            r#"{"hold": {"channels": [], "keep-alive": {"content": 1}}}"#,
            "keep-alive contains 'content' with wrong type",
        ),
        (
            r#"{"hold": {"channels": [], "keep-alive": {"timeout": []}}}"#,
            "keep-alive contains 'timeout' with wrong type",
        ),
        (
            r#"{"hold": {"channels": [], "keep-alive": {"timeout": -2}}}"#,
            "keep-alive contains 'timeout' with invalid value",
        ),
        (
            r#"{"hold": {"mode": "stream", "channels": [{"name": "a"}], "meta": {"k": 1}}}"#,
            "'meta' contains 'k' with wrong type",
        ),
        (
            r#"{"hold": {"channels": [], "meta": []}}"#,
            "hold contains 'meta' with wrong type",
        ),
        (r#"{"response": "x"}"#, ""),
        (
            r#"{"response": {"code": []}}"#,
            "response contains 'code' with wrong type",
        ),
        (
            r#"{"response": {"code": 1000}}"#,
            "response contains 'code' with invalid value",
        ),
        (
            r#"{"response": {"reason": 5}}"#,
            "response contains 'reason' with wrong type",
        ),
        (
            r#"{"response": {"headers": 5}}"#,
            "response contains 'headers' with wrong type",
        ),
        (
            r#"{"response": {"headers": [1]}}"#,
            "headers contains element with wrong type",
        ),
        (
            r#"{"response": {"headers": [["a"]]}}"#,
            "headers contains list with wrong number of elements",
        ),
        (
            r#"{"response": {"headers": [[1, "b"]]}}"#,
            "header contains name element with wrong type",
        ),
        (
            r#"{"response": {"headers": [["a", 2]]}}"#,
            "header contains value element with wrong type",
        ),
        (
            r#"{"response": {"headers": {"X": 2}}}"#,
            "headers contains 'X' with wrong type",
        ),
        (
            r#"{"response": {"body-bin": 2}}"#,
            "response contains 'body-bin' with wrong type",
        ),
        (
            r#"{"response": {"body": 2}}"#,
            "response contains 'body' with wrong type",
        ),
    ];
    for (body, message) in cases {
        assert_eq!(json_err(body), *message, "{body}");
    }
}

#[test]
fn debug_body_and_detection() {
    assert_eq!(
        InstructError::InvalidHold.debug_body(),
        "Failed to parse accept instructions: Grip-Hold must be set to either 'response' or 'stream'\n"
    );
    assert_eq!(
        InstructError::ResponseWrongType.debug_body(),
        "Failed to parse accept instructions: \n"
    );
    assert!(is_grip_response(&hs(&[("Grip-Whatever", "1")])));
    assert!(is_grip_response(&hs(&[(
        "Content-Type",
        "application/grip-instruct;charset=utf-8"
    )])));
    assert!(!is_grip_response(&hs(&[(
        "Content-Type",
        "application/grip-instruct ; x"
    )])));
    assert!(!is_grip_response(&hs(&[
        ("Content-Type", "text/plain"),
        ("X-Grip", "1")
    ])));
    assert_eq!(&grip_last_header("ch", "3")[..], b"ch; last-id=3");
    assert_eq!(
        parse_grip_last(&hs(&[("Grip-Last", "a; last-id=1, b; last-id=\"2\"")])),
        vec![
            ("a".to_owned(), "1".to_owned()),
            ("b".to_owned(), "2".to_owned())
        ]
    );
}
