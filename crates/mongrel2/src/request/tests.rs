use bytes::Bytes;
use pushpin_tnetstring::Kind;

use super::*;

fn decode(s: &[u8]) -> Result<Request, Error> {
    Request::decode(&Bytes::copy_from_slice(s), &Limits::default())
}

/// `SENDER 1 /p ` + JSON netstring of `json` + body netstring.
fn msg(json: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!("s 1 /p {}:{json},{}:", json.len(), body.len()).into_bytes();
    out.extend_from_slice(body);
    out.push(b',');
    out
}

fn kind_of(json: &str, body: &[u8]) -> Result<RequestKind, Error> {
    decode(&msg(json, body)).map(|r| r.kind)
}

#[test]
fn decodes_a_json_get() {
    let frame = br#"pushpin-m2-17050 4 /hello 97:{"PATH":"/hello","host":"h","METHOD":"GET","VERSION":"HTTP/1.1","URI":"/hello?x=1","QUERY":"x=1"},0:,"#;
    let r = decode(frame).unwrap();
    assert_eq!(r.sender, "pushpin-m2-17050");
    assert_eq!(r.conn_id, ConnId(4));
    assert_eq!(r.path, "/hello");
    assert_eq!(r.protocol, Protocol::Json);
    assert_eq!(r.method().unwrap(), "GET");
    assert_eq!(r.version().unwrap(), "HTTP/1.1");
    assert_eq!(r.uri().unwrap(), "/hello?x=1");
    assert_eq!(r.query().unwrap(), "x=1");
    assert_eq!(r.pattern(), None);
    assert!(r.body.is_empty());
    assert_eq!(r.kind, RequestKind::Http { upload: None });
    assert_eq!(r.download_credits, None);
    assert!(!r.is_event());
    assert_eq!(&r.to_bytes()[..], &frame[..]);
}

#[test]
fn decodes_a_tnetstring_request() {
    let frame =
        b"t 3 /tn 67:6:METHOD,4:POST,4:host,1:h,7:x-multi,8:1:1,1:2,]11:REMOTE_ADDR,1:1,}5:hello,";
    let r = decode(frame).unwrap();
    assert_eq!(r.protocol, Protocol::Tnetstring);
    assert_eq!(r.method().unwrap(), "POST");
    assert_eq!(r.remote_addr().unwrap(), "1");
    assert_eq!(r.headers.first(b"x-multi").unwrap(), "1");
    assert_eq!(r.body, "hello");
    assert_eq!(&r.to_bytes()[..], &frame[..]);
}

#[test]
fn classifies_kinds() {
    assert_eq!(
        kind_of(r#"{"METHOD":"WEBSOCKET_HANDSHAKE"}"#, b"tok"),
        Ok(RequestKind::WebSocketHandshake)
    );
    assert_eq!(
        kind_of(r#"{"METHOD":"WEBSOCKET","FLAGS":"0x8A"}"#, b""),
        Ok(RequestKind::WebSocketFrame {
            flags: WsFlags(0x8a)
        })
    );
    assert_eq!(
        kind_of(r#"{"METHOD":"XML"}"#, b"<a/>"),
        Ok(RequestKind::Xml)
    );
    assert_eq!(
        kind_of(r#"{"METHOD":"JSON"}"#, br#"{"type":"disconnect"}"#),
        Ok(RequestKind::Json),
        "events only come on the @* path"
    );
    assert_eq!(
        kind_of(r#"{"METHOD":"POST","UPLOAD_STREAM":"0"}"#, b"x"),
        Ok(RequestKind::Http {
            upload: Some(Upload::Stream {
                offset: 0,
                done: false
            })
        })
    );
    assert_eq!(
        kind_of(
            r#"{"UPLOAD_STREAM":"18302","UPLOAD_STREAM_DONE":"1"}"#,
            b"x"
        ),
        Ok(RequestKind::UploadChunk {
            offset: 18302,
            done: true
        })
    );
    assert_eq!(
        kind_of(r#"{"UPLOAD_STREAM":"5","UPLOAD_STREAM_DONE":"0"}"#, b"x"),
        Ok(RequestKind::UploadChunk {
            offset: 5,
            done: false
        })
    );
    assert_eq!(
        kind_of(
            r#"{"METHOD":"POST","x-mongrel2-upload-start":"/tmp/u"}"#,
            b""
        ),
        Ok(RequestKind::Http {
            upload: Some(Upload::TempFile {
                path: Bytes::from_static(b"/tmp/u"),
                done: false
            })
        })
    );
    assert_eq!(
        kind_of(
            r#"{"METHOD":"POST","x-mongrel2-upload-start":"/tmp/u","x-mongrel2-upload-done":"/tmp/u"}"#,
            b""
        ),
        Ok(RequestKind::Http {
            upload: Some(Upload::TempFile {
                path: Bytes::from_static(b"/tmp/u"),
                done: true
            })
        })
    );
}

#[test]
fn events_on_the_event_path() {
    let limits = Limits::default();
    let d = Request::disconnect(Bytes::from_static(b"s"), ConnId(2), Protocol::Json);
    assert_eq!(
        &d.to_bytes()[..],
        br#"s 2 @* 17:{"METHOD":"JSON"},21:{"type":"disconnect"},"#
    );
    assert_eq!(Request::decode(&d.to_bytes(), &limits), Ok(d.clone()));
    assert!(d.is_event());
    let d = Request::disconnect(Bytes::from_static(b"s"), ConnId(4), Protocol::Tnetstring);
    assert_eq!(
        &d.to_bytes()[..],
        br#"s 4 @* 16:6:METHOD,4:JSON,}21:{"type":"disconnect"},"#
    );
    assert_eq!(Request::decode(&d.to_bytes(), &limits), Ok(d));
    let c = Request::credits(Bytes::from_static(b"s"), ConnId(1), 70, Protocol::Json);
    assert_eq!(
        &c.to_bytes()[..],
        br#"s 1 @* 41:{"METHOD":"JSON","DOWNLOAD_CREDITS":"70"},18:{"type":"credits"},"#
    );
    assert_eq!(Request::decode(&c.to_bytes(), &limits), Ok(c));
    let c = Request::credits(
        Bytes::from_static(b"s"),
        ConnId(3),
        41,
        Protocol::Tnetstring,
    );
    assert_eq!(
        &c.to_bytes()[..],
        br#"s 3 @* 41:16:DOWNLOAD_CREDITS,2:41,6:METHOD,4:JSON,}18:{"type":"credits"},"#
    );
    assert_eq!(Request::decode(&c.to_bytes(), &limits), Ok(c));
    // Other spellings of the same JSON, and unknown event types.
    let r = decode(br#"s 1 @* 17:{"METHOD":"JSON"},25:{ "type" : "disconnect" },"#).unwrap();
    assert_eq!(r.kind, RequestKind::Disconnect);
    let r = decode(br#"s 1 @* 17:{"METHOD":"JSON"},16:{"type":"other"},"#).unwrap();
    assert_eq!(r.kind, RequestKind::Json);
    let r = decode(br#"s 1 @* 17:{"METHOD":"JSON"},3:{x},"#).unwrap();
    assert_eq!(r.kind, RequestKind::Json);
}

#[test]
fn new_derives_the_kind() {
    let mut h = Headers::new();
    h.push(METHOD, "GET");
    h.push(DOWNLOAD_CREDITS, "102400");
    let r = Request::new(
        Bytes::from_static(b"s"),
        ConnId(9),
        Bytes::from_static(b"/"),
        Protocol::Json,
        h,
        Bytes::new(),
    )
    .unwrap();
    assert_eq!(r.kind, RequestKind::Http { upload: None });
    assert_eq!(r.download_credits, Some(102_400));
    assert_eq!(Request::decode(&r.to_bytes(), &Limits::default()), Ok(r));
}

#[test]
fn ws_flags() {
    assert_eq!(WsFlags::parse(b"0x81"), Some(WsFlags(0x81)));
    assert_eq!(WsFlags::parse(b"0X8a"), Some(WsFlags(0x8a)));
    assert_eq!(WsFlags::parse(b"82"), Some(WsFlags(0x82)));
    assert_eq!(WsFlags::parse(b"0x"), None);
    assert_eq!(WsFlags::parse(b"0x181"), None);
    assert_eq!(WsFlags::parse(b"0xg1"), None);
    let f = WsFlags(0x8a);
    assert_eq!(f.to_string(), "0x8A");
    assert_eq!(f.opcode(), 10);
    assert!(f.fin());
    assert!(!WsFlags(0x01).fin());
}

#[test]
fn framing_errors() {
    let cases: &[(&[u8], Error)] = &[
        (
            b"",
            Error::Truncated {
                part: Part::Sender,
                offset: 0,
            },
        ),
        (
            b" 1 /p 2:{},0:,",
            Error::EmptyField {
                part: Part::Sender,
                offset: 0,
            },
        ),
        (b"s x /p 2:{},0:,", Error::InvalidConnId { offset: 2 }),
        (
            b"s 99999999999999999999 /p 2:{},0:,",
            Error::InvalidConnId { offset: 2 },
        ),
        (
            b"s 1  2:{},0:,",
            Error::EmptyField {
                part: Part::Path,
                offset: 4,
            },
        ),
        (
            b"s 1 /p 2:{}",
            Error::Truncated {
                part: Part::Headers,
                offset: 7,
            },
        ),
        (
            b"s 1 /p 2:{},0:",
            Error::Truncated {
                part: Part::Body,
                offset: 12,
            },
        ),
        (
            b"s 1 /p 1:1#0:,",
            Error::UnexpectedType {
                part: Part::Headers,
                found: Kind::Int,
                offset: 7,
            },
        ),
        (
            b"s 1 /p 2:{},0:}",
            Error::UnexpectedType {
                part: Part::Body,
                found: Kind::Map,
                offset: 12,
            },
        ),
    ];
    for (input, want) in cases {
        assert_eq!(
            decode(input).as_ref(),
            Err(want),
            "input {:?}",
            String::from_utf8_lossy(input)
        );
    }
    assert!(matches!(
        decode(b"s 1 /p x:{},0:,"),
        Err(Error::Tnetstring {
            part: Part::Headers,
            offset: 7,
            ..
        })
    ));
    assert!(matches!(
        decode(b"s 1 /p 4:1:a,}0:,"),
        Err(Error::Tnetstring {
            part: Part::Headers,
            offset: 7,
            ..
        })
    ));
    assert!(matches!(
        decode(b"s 1 /p 8:1:a,1:1#}0:,"),
        Err(Error::HeaderType {
            found: "integer",
            ..
        })
    ));
    assert!(matches!(
        decode(b"s 1 /p 11:1:a,4:1:1#]}0:,"),
        Err(Error::HeaderType {
            found: "integer",
            ..
        })
    ));
    assert!(matches!(
        decode(b"s 1 /p 10:1:a,3:1:b]}0:,"),
        Err(Error::Tnetstring { .. })
    ));
    assert!(matches!(
        decode(b"s 1 /p 7:1:a,0:]}0:,"),
        Err(Error::EmptyHeaderList { .. })
    ));
    let limits = Limits {
        max_headers: 1,
        ..Limits::default()
    };
    assert_eq!(
        Request::decode(
            &Bytes::from_static(b"s 1 /p 15:1:a,8:1:1,1:2,]}0:,"),
            &limits
        ),
        Err(Error::TooManyHeaders { max: 1 })
    );
}

#[test]
fn trailing_bytes_after_the_body_are_ignored() {
    let r = decode(&[msg(r#"{"METHOD":"GET"}"#, b"b"), b"junk".to_vec()].concat()).unwrap();
    assert_eq!(r.body, "b");
}

#[test]
fn metadata_errors() {
    assert_eq!(
        kind_of(r#"{"host":"h"}"#, b""),
        Err(Error::MissingHeader { name: METHOD })
    );
    assert_eq!(
        kind_of(r#"{"METHOD":"WEBSOCKET"}"#, b""),
        Err(Error::MissingHeader { name: "FLAGS" })
    );
    assert_eq!(
        decode(br#"s 1 @* 17:{"METHOD":"JSON"},18:{"type":"credits"},"#).map(|r| r.kind),
        Err(Error::MissingHeader {
            name: DOWNLOAD_CREDITS
        })
    );
    for (json, name, value) in [
        (
            r#"{"METHOD":"GET","DOWNLOAD_CREDITS":"-1"}"#,
            DOWNLOAD_CREDITS,
            "-1",
        ),
        (
            r#"{"METHOD":"GET","DOWNLOAD_CREDITS":"4294967296"}"#,
            DOWNLOAD_CREDITS,
            "4294967296",
        ),
        (r#"{"METHOD":"WEBSOCKET","FLAGS":"text"}"#, "FLAGS", "text"),
        (
            r#"{"METHOD":"POST","UPLOAD_STREAM":"x"}"#,
            "UPLOAD_STREAM",
            "x",
        ),
        (r#"{"UPLOAD_STREAM":""}"#, "UPLOAD_STREAM", ""),
    ] {
        assert_eq!(
            kind_of(json, b""),
            Err(Error::InvalidHeaderValue {
                name,
                value: Bytes::from(value)
            }),
            "{json}"
        );
    }
    assert_eq!(
        kind_of(
            r#"{"METHOD":"POST","x-mongrel2-upload-start":"/a","x-mongrel2-upload-done":"/b"}"#,
            b""
        ),
        Err(Error::UploadPathMismatch {
            start: Bytes::from_static(b"/a"),
            done: Bytes::from_static(b"/b")
        })
    );
    assert_eq!(
        kind_of(r#"{"METHOD":"POST","x-mongrel2-upload-done":"/b"}"#, b""),
        Err(Error::UploadPathMismatch {
            start: Bytes::new(),
            done: Bytes::from_static(b"/b")
        })
    );
}

#[test]
fn fields_share_the_frame() {
    let frame = Bytes::from(msg(r#"{"METHOD":"GET","host":"h"}"#, b"the body"));
    let r = Request::decode(&frame, &Limits::default()).unwrap();
    let inside = |b: &Bytes| {
        let start = frame.as_ptr() as usize;
        (start..start + frame.len()).contains(&(b.as_ptr() as usize))
    };
    assert!(inside(&r.sender));
    assert!(inside(&r.path));
    assert!(inside(&r.body));
    assert!(inside(r.headers.first(b"host").unwrap()));
}

#[test]
fn error_messages() {
    assert_eq!(
        Error::InvalidHeaderValue {
            name: "FLAGS",
            value: Bytes::from_static(b"text")
        }
        .to_string(),
        "invalid FLAGS header value b\"text\""
    );
    assert_eq!(
        Error::Truncated {
            part: Part::Body,
            offset: 12
        }
        .to_string(),
        "message ends inside the body starting at offset 12"
    );
    assert_eq!(
        Error::HeaderType {
            name: Bytes::from_static(b"a"),
            found: "number"
        }
        .to_string(),
        "header b\"a\" has a number value; expected a string or a list of strings"
    );
}
