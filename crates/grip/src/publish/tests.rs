use bytes::Bytes;
use serde_json::json;

use super::*;

fn http_err(body: &str) -> String {
    parse_http_body(body.as_bytes()).unwrap_err().http_body()
}

fn item_err(item: &serde_json::Value) -> String {
    let body = json!({ "items": [item] }).to_string();
    parse_http_body(body.as_bytes()).unwrap_err().to_string()
}

fn one(item: &serde_json::Value) -> PublishItem {
    let body = json!({ "items": [item] }).to_string();
    let mut items = parse_http_body(body.as_bytes()).unwrap();
    assert_eq!(items.len(), 1);
    items.remove(0)
}

#[test]
fn http_body_envelope_errors() {
    assert_eq!(http_err("{\"items\": ["), "Body is not valid JSON.\n");
    assert_eq!(http_err("\"x\""), "Body is not valid JSON.\n");
    assert_eq!(http_err(""), "Body is not valid JSON.\n");
    assert_eq!(http_err("[1, 2]"), "Invalid format.\n");
    assert_eq!(
        http_err("{\"item\": []}"),
        "Invalid format: object does not contain 'items'\n"
    );
    assert_eq!(
        http_err("{\"items\": {}}"),
        "Invalid format: object contains 'items' with wrong type\n"
    );
    assert!(parse_http_body(b"{\"items\": []}").unwrap().is_empty());
    let e = parse_http_body(b"{\"items\": [1]}").unwrap_err();
    assert_eq!(e.status(), (400, "Bad Request"));
    assert_eq!(e.condition(), "bad-request");
}

#[test]
fn every_item_error_text() {
    let stream = json!({"http-stream": {"content": "x"}});
    let cases: Vec<(serde_json::Value, &str)> = vec![
        (json!("x"), "publish item object is not an object"),
        (
            json!({"formats": stream}),
            "publish item object does not contain 'channel'",
        ),
        (
            json!({"channel": 5, "formats": stream}),
            "publish item object contains 'channel' with wrong type",
        ),
        (
            json!({"channel": null, "formats": stream}),
            "publish item object contains 'channel' with wrong type",
        ),
        (
            json!({"channel": "a", "id": 5, "formats": stream}),
            "publish item object contains 'id' with wrong type",
        ),
        (
            json!({"channel": "a", "prev-id": null, "formats": stream}),
            "publish item object contains 'prev-id' with wrong type",
        ),
        (
            json!({"channel": "a", "formats": 1}),
            "publish item object contains 'formats' with wrong type",
        ),
        (json!({"channel": "a"}), "no formats specified"),
        (
            json!({"channel": "a", "formats": {}}),
            "no formats specified",
        ),
        (
            json!({"channel": "a", "formats": {"http-stream": 1}}),
            "'http-stream' is not an object",
        ),
        (
            json!({"channel": "a", "http-response": null}),
            "'http-response' is not an object",
        ),
        (
            json!({"channel": "a", "formats": {"ws-message": []}}),
            "'ws-message' is not an object",
        ),
        (
            json!({"channel": "a", "meta": 1, "formats": stream}),
            "publish item object contains 'meta' with wrong type",
        ),
        (
            json!({"channel": "a", "meta": {"k": 1}, "formats": stream}),
            "'meta' contains 'k' with wrong type",
        ),
        (
            json!({"channel": "a", "size": [], "formats": stream}),
            "publish item object contains 'size' with wrong type",
        ),
        (
            json!({"channel": "a", "size": -1, "formats": stream}),
            "publish item object contains 'size' with invalid value",
        ),
        (
            json!({"channel": "a", "no-seq": 1, "formats": stream}),
            "publish item object contains 'no-seq' with wrong type",
        ),
        (
            json!({"channel": "a", "formats": {"http-stream": {"action": "explode"}}}),
            "",
        ),
        (
            json!({"channel": "a", "formats": {"http-stream": {"action": 1}}}),
            "'http-stream' contains 'action' with wrong type",
        ),
        (
            json!({"channel": "a", "formats": {"http-stream": {}}}),
            "'http-stream' does not contain 'content' or 'content-bin'",
        ),
        (
            json!({"channel": "a", "formats": {"http-stream": {"content": null}}}),
            "'http-stream' contains 'content' with wrong type",
        ),
        (
            json!({"channel": "a", "formats": {"http-stream": {"content-bin": 1}}}),
            "'http-stream' contains 'content-bin' with wrong type",
        ),
        (
            json!({"channel": "a", "formats": {"http-stream": {"content": "x", "content-filters": "a"}}}),
            "'http-stream' contains 'content-filters' with wrong type",
        ),
        (
            json!({"channel": "a", "formats": {"http-stream": {"content": "x", "content-filters": [1]}}}),
            "content-filters contains element with wrong type",
        ),
        (
            json!({"channel": "a", "formats": {"http-response": {"code": 200}}}),
            "'http-response' does not contain 'body', 'body-bin', or 'body-patch'",
        ),
        (
            json!({"channel": "a", "formats": {"http-response": {"code": 1000, "body": ""}}}),
            "'http-response' contains 'code' with invalid value",
        ),
        (
            json!({"channel": "a", "formats": {"http-response": {"code": -1, "body": ""}}}),
            "'http-response' contains 'code' with invalid value",
        ),
        (
            json!({"channel": "a", "formats": {"http-response": {"code": null, "body": ""}}}),
            "'http-response' contains 'code' with wrong type",
        ),
        (
            json!({"channel": "a", "formats": {"http-response": {"reason": 1, "body": ""}}}),
            "'http-response' contains 'reason' with wrong type",
        ),
        (
            json!({"channel": "a", "formats": {"http-response": {"headers": 1, "body": ""}}}),
            "'http-response' contains 'headers' with wrong type",
        ),
        (
            json!({"channel": "a", "formats": {"http-response": {"headers": [1], "body": ""}}}),
            "headers contains element with wrong type",
        ),
        (
            json!({"channel": "a", "formats": {"http-response": {"headers": [["a", "b", "c"]], "body": ""}}}),
            "headers contains list with wrong number of elements",
        ),
        (
            json!({"channel": "a", "formats": {"http-response": {"headers": [[1, "b"]], "body": ""}}}),
            "header contains name element with wrong type",
        ),
        (
            json!({"channel": "a", "formats": {"http-response": {"headers": [["a", 1]], "body": ""}}}),
            "header contains value element with wrong type",
        ),
        (
            json!({"channel": "a", "formats": {"http-response": {"headers": {"X-A": 1}, "body": ""}}}),
            "headers contains 'X-A' with wrong type",
        ),
        (
            json!({"channel": "a", "formats": {"http-response": {"body": 1}}}),
            "'http-response' contains 'body' with wrong type",
        ),
        (
            json!({"channel": "a", "formats": {"http-response": {"body-bin": 1}}}),
            "'http-response' contains 'body-bin' with wrong type",
        ),
        (
            json!({"channel": "a", "formats": {"http-response": {"body-patch": {}}}}),
            "'http-response' contains 'body-patch' with wrong type",
        ),
        (
            json!({"channel": "a", "formats": {"ws-message": {"type": "foo", "content": "x"}}}),
            "'ws-message' contains 'type' with unknown value",
        ),
        (
            json!({"channel": "a", "formats": {"ws-message": {"type": 1}}}),
            "'ws-message' contains 'type' with wrong type",
        ),
        (
            json!({"channel": "a", "formats": {"ws-message": {}}}),
            "'ws-message' does not contain 'content' or 'content-bin'",
        ),
        (
            json!({"channel": "a", "formats": {"ws-message": {"type": "binary"}}}),
            "'ws-message' does not contain 'content' or 'content-bin'",
        ),
        (
            json!({"channel": "a", "formats": {"ws-message": {"content-bin": 1}}}),
            "'ws-message' contains 'content-bin' with wrong type",
        ),
        (
            json!({"channel": "a", "formats": {"ws-message": {"content": 1}}}),
            "'ws-message' contains 'content' with wrong type",
        ),
        (
            json!({"channel": "a", "formats": {"ws-message": {"action": "close", "code": -1}}}),
            "'ws-message' contains 'code' with invalid value",
        ),
        (
            json!({"channel": "a", "formats": {"ws-message": {"action": "close", "code": {}}}}),
            "'ws-message' contains 'code' with wrong type",
        ),
        (
            json!({"channel": "a", "formats": {"ws-message": {"action": "close", "reason": 1}}}),
            "'ws-message' contains 'reason' with wrong type",
        ),
    ];
    for (item, message) in cases {
        let got = item_err(&item);
        assert_eq!(got, format!("Invalid format: {message}"), "{item}");
    }
}

#[test]
fn item_shapes() {
    let item = one(&json!({
        "channel": "a", "id": "2", "prev-id": "1", "no-seq": true, "size": "12",
        "meta": {"sender": "bob"},
        "formats": {
            "http-response": {"code": 201, "headers": [["X-B", "1"], ["X-A", "2"]], "body-bin": "aGk="},
            "http-stream": {"content-bin": "aGk=", "content": "ignored"},
            "ws-message": {"content-bin": "AAE="},
            "bogus": {}
        }
    }));
    assert_eq!(item.channel, "a");
    assert_eq!(
        (item.id.as_deref(), item.prev_id.as_deref()),
        (Some("2"), Some("1"))
    );
    assert!(item.no_seq);
    assert_eq!(item.size, Some(12));
    assert_eq!(item.meta.get("sender").map(String::as_str), Some("bob"));
    let Some(HttpResponseFormat::Send(r)) = &item.formats.http_response else {
        panic!()
    };
    assert_eq!((r.code, &r.reason[..]), (201, &b"Created"[..]));
    assert_eq!(r.headers[0].0, Bytes::from_static(b"X-B"));
    assert_eq!(r.body, ResponseBody::Body(Bytes::from_static(b"hi")));
    assert_eq!(
        item.formats.http_stream,
        Some(HttpStreamFormat::Send {
            content: Bytes::from_static(b"hi"),
            content_filters: None
        })
    );
    // content-bin without a type: the type defaults to binary
    assert_eq!(
        item.formats.ws_message,
        Some(WsMessageFormat::Send {
            message_type: WsMessageType::Binary,
            content: Bytes::from_static(b"\x00\x01"),
            content_filters: None
        })
    );

    let item = one(
        &json!({"channel": "", "http-stream": {"action": "close"}, "ws-message": {"action": "hint"}}),
    );
    assert_eq!(item.channel, "");
    assert_eq!(item.formats.http_stream, Some(HttpStreamFormat::Close));
    assert_eq!(item.formats.ws_message, Some(WsMessageFormat::Hint));
    assert!(item.formats.http_response.is_none());

    // a non-numeric string converts to 0, like QVariant::toInt
    assert_eq!(
        one(&json!({"channel": "a", "size": "x", "http-stream": {"action": "hint"}})).size,
        Some(0)
    );
    let item = one(&json!({"channel": "a", "formats": {"bogus": {}}}));
    assert_eq!(item.formats, Formats::default());

    let item = one(&json!({"channel": "a", "formats": {
        "http-response": {"body-patch": [{"op": "replace", "path": "/a", "value": 5}], "headers": {"b": "1", "A": "2"}},
        "ws-message": {"type": "ping"}
    }}));
    let Some(HttpResponseFormat::Send(r)) = &item.formats.http_response else {
        panic!()
    };
    assert_eq!(r.code, 200);
    assert_eq!(&r.reason[..], b"OK");
    assert_eq!(r.headers[0].0, Bytes::from_static(b"A"));
    assert_eq!(
        r.body,
        ResponseBody::Patch(vec![json!({"op": "replace", "path": "/a", "value": 5})])
    );
    assert_eq!(
        item.formats.ws_message,
        Some(WsMessageFormat::Send {
            message_type: WsMessageType::Ping,
            content: Bytes::new(),
            content_filters: None
        })
    );

    let item = one(
        &json!({"channel": "a", "ws-message": {"action": "close", "code": 4001, "reason": "bye"}}),
    );
    assert_eq!(
        item.formats.ws_message,
        Some(WsMessageFormat::Close {
            code: Some(4001),
            reason: Some(Bytes::from_static(b"bye"))
        })
    );
    let item = one(
        &json!({"channel": "a", "ws-message": {"type": "binary", "content": "x", "content-filters": ["var-subst"]}}),
    );
    assert_eq!(
        item.formats.ws_message,
        Some(WsMessageFormat::Send {
            message_type: WsMessageType::Binary,
            content: Bytes::from_static(b"x"),
            content_filters: Some(vec!["var-subst".to_owned()])
        })
    );
}

#[test]
fn zmq_messages() {
    let m = |s: &[u8]| Bytes::copy_from_slice(s);
    let item = decode_push_message(&[m(
        br#"J{"channel": "zq", "formats": {"http-stream": {"content": "via PUSH J-json\n"}}}"#,
    )])
    .unwrap();
    assert_eq!(item.channel, "zq");
    let item = decode_push_message(&[m(b"T84:7:channel,2:zq,7:formats,55:11:http-stream,36:7:content,22:via PUSH T-tnetstring\n,}}}")]).unwrap();
    assert_eq!(
        item.formats.http_stream,
        Some(HttpStreamFormat::Send {
            content: m(b"via PUSH T-tnetstring\n"),
            content_filters: None
        })
    );
    let item = decode_push_message(&[m(b"87:7:channel,2:zq,7:formats,58:11:http-stream,39:7:content,25:via PUSH bare tnetstring\n,}}}")]).unwrap();
    assert_eq!(item.channel, "zq");
    assert!(matches!(
        decode_push_message(&[m(
            br#"{"channel": "zq", "formats": {"http-stream": {"content": "bare json\n"}}}"#
        )]),
        Err(MessageError::Tnetstring(_))
    ));
    assert_eq!(
        decode_push_message(&[m(b"J{}"), m(b"x")]).unwrap_err(),
        MessageError::FrameCount {
            expected: 1,
            got: 2
        }
    );
    let item = decode_sub_message(&[
        m(b"zq"),
        m(br#"J{"formats": {"http-stream": {"content": "via PUB J-json\n"}}}"#),
    ])
    .unwrap();
    assert_eq!(item.channel, "zq");
    let item = decode_sub_message(&[m(b"zq"), m(b"91:7:channel,7:ignored,7:formats,57:11:http-stream,38:7:content,24:via PUB bare tnetstring\n,}}}")]).unwrap();
    assert_eq!(item.channel, "zq");
    let item = decode_sub_message(&[
        m(b"zq"),
        m(b"T68:11:http-stream,49:7:content,35:via PUB, formats at item top level\n,}}"),
    ])
    .unwrap();
    assert_eq!(item.channel, "zq");
    assert_eq!(
        decode_sub_message(&[m(b"zq J{}")]).unwrap_err(),
        MessageError::FrameCount {
            expected: 2,
            got: 1
        }
    );
    let err = decode_push_message(&[m(
        b"T69:7:channel,2:zq,7:formats,40:11:http-stream,21:11:content-bin,3:raw,}}}",
    )])
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "received message with invalid format: 'http-stream' does not contain 'content'"
    );
    let item = decode_push_message(&[m(b"T96:7:channel,2:zq,7:formats,67:11:http-stream,48:7:content,34:\x00\x01 binary-safe tnetstring content\n,}}}")]).unwrap();
    assert_eq!(
        item.formats.http_stream,
        Some(HttpStreamFormat::Send {
            content: m(b"\x00\x01 binary-safe tnetstring content\n"),
            content_filters: None
        })
    );
    assert_eq!(
        parse_message(&m(b"J[1]"), None).unwrap_err(),
        MessageError::NotJsonObject
    );
    assert_eq!(
        parse_message(&m(b"J{"), None).unwrap_err(),
        MessageError::Json
    );
    // an empty topic falls back to the item's channel
    let item = decode_sub_message(&[
        m(b""),
        m(br#"J{"channel": "c", "http-stream": {"action": "close"}}"#),
    ])
    .unwrap();
    assert_eq!(item.channel, "c");
    // tnetstring-only rules
    let e = parse_message(
        &m(b"T53:7:channel,1:a,13:http-response,18:8:body-bin,4:aGk=,}}"),
        None,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "received message with invalid format: 'http-response' does not contain 'body' or 'body-patch'"
    );
    let item = parse_message(
        &m(b"T53:7:channel,1:a,10:ws-message,21:11:content-bin,3:\x00\x01\x02,}}"),
        None,
    )
    .unwrap();
    assert_eq!(
        item.formats.ws_message,
        Some(WsMessageFormat::Send {
            message_type: WsMessageType::Binary,
            content: m(b"\x00\x01\x02"),
            content_filters: None
        })
    );
}

#[test]
fn command_args() {
    let args = Bytes::from_static(
        b"78:5:items,66:62:7:channel,2:zz,7:formats,33:11:http-stream,14:7:content,1:x,}}}]}",
    );
    let items = parse_command_args(&args).unwrap();
    assert_eq!(items[0].channel, "zz");
    let e = parse_command_args(&Bytes::from_static(b"31:5:items,19:15:7:channel,2:zz,}]}"))
        .unwrap_err();
    assert_eq!(e.to_string(), "Invalid format: no formats specified");
    let e = parse_command_args(&Bytes::from_static(b"0:}")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Invalid format: object does not contain 'items'"
    );
    let e = parse_command_args(&Bytes::new()).unwrap_err();
    assert_eq!(e, PublishRequestError::NoItems);
    let e = parse_command_args(&Bytes::from_static(b"11:5:items,0:}}")).unwrap_err();
    assert_eq!(e, PublishRequestError::ItemsWrongType);
    // tnetstring numbers and strings convert leniently, like QVariant
    let args = Bytes::from_static(
        b"77:5:items,65:61:7:channel,1:a,4:size,1:9,11:http-stream,17:6:action,5:close,}}]}",
    );
    assert_eq!(parse_command_args(&args).unwrap()[0].size, Some(9));
}
