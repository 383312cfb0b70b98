use bytes::{Bytes, BytesMut};

use super::*;
use crate::{Error, Limits};

fn json_with(s: &[u8], limits: &Limits) -> Result<Headers, Error> {
    let b = Bytes::copy_from_slice(s);
    decode_json(&b, 0, b.len(), limits)
}

fn json(s: &[u8]) -> Result<Headers, Error> {
    json_with(s, &Limits::default())
}

fn one(s: &'static str) -> HeaderValue {
    HeaderValue::One(Bytes::from_static(s.as_bytes()))
}

fn many(items: &[&'static str]) -> HeaderValue {
    HeaderValue::Many(
        items
            .iter()
            .map(|s| Bytes::from_static(s.as_bytes()))
            .collect(),
    )
}

fn encoded_json(h: &Headers) -> Vec<u8> {
    let mut buf = BytesMut::new();
    encode_json(&mut buf, h);
    buf.to_vec()
}

#[test]
fn reads_mongrel2_json_in_order() {
    let h = json(br#"{"PATH":"/x","x-multi":["1","2"],"cookie":"q=\"quoted\""}"#).unwrap();
    let names: Vec<&[u8]> = h.iter().map(|(k, _)| k.as_ref()).collect();
    assert_eq!(names, [&b"PATH"[..], b"x-multi", b"cookie"]);
    assert_eq!(h.get(b"x-multi"), Some(&many(&["1", "2"])));
    assert_eq!(h.first(b"x-multi").unwrap(), "1");
    assert_eq!(h.first(b"cookie").unwrap(), "q=\"quoted\"");
    assert_eq!(h.first(b"PATH").unwrap(), "/x");
    assert_eq!(h.get(b"path"), None, "lookups are case-sensitive");
}

#[test]
fn plain_strings_are_zero_copy() {
    let src = Bytes::from_static(br#"{"host":"example.test"}"#);
    let h = decode_json(&src, 0, src.len(), &Limits::default()).unwrap();
    let (name, value) = h.iter().next().unwrap();
    let range = src.as_ptr() as usize..src.as_ptr() as usize + src.len();
    assert!(range.contains(&(name.as_ptr() as usize)));
    assert!(range.contains(&(value.first().unwrap().as_ptr() as usize)));
}

#[test]
fn lenient_about_raw_bytes_whitespace_and_escapes() {
    // mongrel2 leaves control bytes and non-UTF-8 bytes raw.
    let h = json(b"{\"a\":\"x\ty\x01\xff\"}").unwrap();
    assert_eq!(h.first(b"a").unwrap().as_ref(), b"x\ty\x01\xff");
    let h = json(b" {\n \"a\" : [ \"1\" , \"2\" ] ,\t\"b\":\"c\" }\r\n").unwrap();
    assert_eq!(h.get(b"a"), Some(&many(&["1", "2"])));
    assert_eq!(h.first(b"b").unwrap(), "c");
    let h = json(br#"{"e":"\/\b\f\n\r\t\\\"\u00e9\ud83d\ude00"}"#).unwrap();
    assert_eq!(
        h.first(b"e").unwrap().as_ref(),
        "/\u{8}\u{c}\n\r\t\\\"é😀".as_bytes()
    );
    assert_eq!(json(b"{}").unwrap(), Headers::new());
}

#[test]
fn duplicate_keys_are_kept_and_the_last_wins() {
    let h = json(br#"{"a":"1","a":"2"}"#).unwrap();
    assert_eq!(h.len(), 2);
    assert_eq!(h.first(b"a").unwrap(), "2");
}

#[test]
fn json_errors() {
    let cases: &[(&[u8], usize, &str)] = &[
        (b"", 0, "'{'"),
        (b"[]", 0, "'{'"),
        (b"{", 1, "a header name string"),
        (b"{a:1}", 1, "a header name string"),
        (br#"{"a""#, 4, "':'"),
        (br#"{"a":"#, 5, "a header value"),
        (br#"{"a":x}"#, 5, "a header value"),
        (br#"{"a":"b""#, 8, "',' or '}'"),
        (br#"{"a":"b"} x"#, 10, "the end of the headers object"),
        (br#"{"a":"b"#, 7, "'\"'"),
        (br#"{"a":"b\"#, 8, "an escape character"),
        (br#"{"a":"\q"}"#, 7, "a JSON escape"),
        (br#"{"a":"\u12"}"#, 10, "four hex digits"),
        (br#"{"a":"\ud800"}"#, 12, "a low surrogate escape"),
        (br#"{"a":"\ud800\u0041"}"#, 18, "a low surrogate escape"),
        (
            br#"{"a":"\udc00"}"#,
            12,
            "a high surrogate before a low one",
        ),
        (br#"{"a":["1" "2"]}"#, 10, "',' or ']'"),
        (br#"{"a":["1",x]}"#, 10, "a string"),
        (br#"{"a":["1","#, 10, "a string"),
    ];
    for (input, offset, expected) in cases {
        assert_eq!(
            json(input),
            Err(Error::Json {
                offset: *offset,
                expected
            }),
            "input {:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn header_type_errors() {
    for (input, found) in [
        (&br#"{"a":1}"#[..], "number"),
        (br#"{"a":-1}"#, "number"),
        (br#"{"a":null}"#, "null"),
        (br#"{"a":true}"#, "boolean"),
        (br#"{"a":{}}"#, "object"),
        (br#"{"a":["1",2]}"#, "number"),
        (br#"{"a":[["1"]]}"#, "nested list"),
    ] {
        assert_eq!(
            json(input),
            Err(Error::HeaderType {
                name: Bytes::from_static(b"a"),
                found
            })
        );
    }
    assert_eq!(
        json(br#"{"a":[ ]}"#),
        Err(Error::EmptyHeaderList {
            name: Bytes::from_static(b"a")
        })
    );
}

#[test]
fn header_count_limit_counts_list_items() {
    let limits = Limits {
        max_headers: 3,
        ..Limits::default()
    };
    assert!(json_with(br#"{"a":"1","b":["2","3"]}"#, &limits).is_ok());
    assert_eq!(
        json_with(br#"{"a":"1","b":["2","3","4"]}"#, &limits),
        Err(Error::TooManyHeaders { max: 3 })
    );
}

#[test]
fn writes_mongrel2_json() {
    let mut h = Headers::new();
    h.push("PATH", "/path/x");
    h.push("x-multi", many(&["1", "2"]));
    h.push("cookie", "q=\"quoted\"");
    h.push("back", "a\\b");
    let expected =
        br#"{"PATH":"/path/x","x-multi":["1","2"],"cookie":"q=\"quoted\"","back":"a\\b"}"#;
    let mut want = format!("{}:", expected.len()).into_bytes();
    want.extend_from_slice(expected);
    want.push(b',');
    assert_eq!(encoded_json(&h), want);
    assert_eq!(encoded_json(&Headers::new()), b"2:{},");
}

#[test]
fn writes_tnetstring_dicts() {
    let mut h = Headers::new();
    h.push("METHOD", "GET");
    h.push("x-multi", many(&["1", "2"]));
    let mut buf = BytesMut::new();
    encode_tnet(&mut buf, &h);
    assert_eq!(&buf[..], b"36:6:METHOD,3:GET,7:x-multi,8:1:1,1:2,]}");
}

#[test]
fn metadata_and_forwarded_headers() {
    assert!(is_metadata(b"METHOD"));
    assert!(is_metadata(b"DOWNLOAD_CREDITS"));
    assert!(is_metadata(b"X-1"));
    assert!(!is_metadata(b"host"));
    assert!(!is_metadata(b"X-Multi"));
    let mut h = Headers::new();
    h.push("METHOD", "GET");
    h.push("host", "example.test");
    h.push("x-multi", many(&["1", "2"]));
    h.push(UPLOAD_START, "/tmp/x");
    h.push(UPLOAD_DONE, "/tmp/x");
    let fwd: Vec<(&[u8], &[u8])> = h
        .http_headers()
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .collect();
    assert_eq!(
        fwd,
        [
            (&b"host"[..], &b"example.test"[..]),
            (b"x-multi", b"1"),
            (b"x-multi", b"2")
        ]
    );
}

#[test]
fn mixed_case_names() {
    assert_eq!(mixed_case(b"user-agent"), "User-Agent");
    assert_eq!(mixed_case(b"sec-websocket-key"), "Sec-Websocket-Key");
    assert_eq!(mixed_case(b"x--y"), "X--Y");
    assert_eq!(mixed_case(b"-a"), "-A");
    assert_eq!(mixed_case(b""), "");
}

#[test]
fn protocol_spellings() {
    assert_eq!("json".parse::<Protocol>(), Ok(Protocol::Json));
    assert_eq!("tnetstring".parse::<Protocol>(), Ok(Protocol::Tnetstring));
    assert_eq!(Protocol::Tnetstring.to_string(), "tnetstring");
    assert_eq!(
        "xml".parse::<Protocol>().unwrap_err().to_string(),
        "unknown handler protocol \"xml\""
    );
}

#[test]
fn header_value_helpers() {
    let v = many(&["a", "b"]);
    assert_eq!(v.len(), 2);
    assert!(!v.is_empty());
    assert_eq!(v.iter().count(), 2);
    assert!(HeaderValue::Many(Vec::new()).is_empty());
    assert_eq!(HeaderValue::Many(Vec::new()).first(), None);
    assert_eq!(one("x").first().unwrap(), "x");
}
