//! Unit tests of CORS and JSON-P, with the expectations of
//! `spec/vectors/grip/auto-cross-origin-jsonp.txt` (captured from Pushpin 1.36).

use bytes::Bytes;
use proptest::prelude::*;
use pushpin_config::routes::{JsonpConfig, JsonpMode};

use super::*;

fn has(headers: &[Header], name: &[u8]) -> bool {
    headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
}

fn h(n: &str, v: &str) -> Header {
    (Bytes::from(n.to_string()), Bytes::from(v.to_string()))
}

fn names_values(headers: &[Header]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(n, v)| {
            (
                String::from_utf8_lossy(n).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| ((*n).to_string(), (*v).to_string()))
        .collect()
}

fn config(mode: JsonpMode) -> JsonpConfig {
    JsonpConfig {
        mode,
        callback_param: String::new(),
        body_param: String::new(),
        default_callback: String::new(),
        default_method: if mode == JsonpMode::Basic {
            "POST"
        } else {
            "GET"
        }
        .to_string(),
    }
}

fn uri(s: &str) -> Uri {
    Uri::parse(s.as_bytes()).unwrap()
}

fn plain() -> Response {
    Response {
        code: 200,
        reason: Bytes::from_static(b"OK"),
        headers: vec![
            h("Content-Type", "text/plain"),
            h("X-Foo", "bar"),
            h("Content-Length", "6"),
        ],
        body: Bytes::from_static(b"hello\n"),
    }
}

#[test]
fn cors_on_a_preflight_response() {
    let req = vec![
        h("Host", "e"),
        h("Origin", "http://a.com"),
        h("Access-Control-Request-Method", "PUT"),
        h("Access-Control-Request-Headers", "X-One, X-Two"),
    ];
    let mut resp = vec![h("Content-Type", "text/plain"), h("X-Foo", "bar")];
    apply_cors(&req, &mut resp);
    assert_eq!(
        names_values(&resp),
        pairs(&[
            ("Content-Type", "text/plain"),
            ("X-Foo", "bar"),
            ("Access-Control-Allow-Methods", "PUT"),
            ("Access-Control-Allow-Headers", "X-One, X-Two"),
            ("Access-Control-Expose-Headers", "X-Foo"),
            ("Access-Control-Allow-Credentials", "true"),
            ("Access-Control-Allow-Origin", "http://a.com"),
            ("Access-Control-Max-Age", "3600"),
        ])
    );
}

#[test]
fn cors_defaults_without_origin() {
    let mut resp = vec![h("Content-Type", "text/plain")];
    apply_cors(&[h("Host", "e")], &mut resp);
    assert_eq!(
        names_values(&resp),
        pairs(&[
            ("Content-Type", "text/plain"),
            (
                "Access-Control-Allow-Methods",
                "OPTIONS, HEAD, GET, POST, PUT, DELETE"
            ),
            ("Access-Control-Allow-Credentials", "true"),
            ("Access-Control-Allow-Origin", "*"),
            ("Access-Control-Max-Age", "3600"),
        ])
    );
}

#[test]
fn cors_never_overrides_and_dedups_expose() {
    let req = vec![
        h("Access-Control-Request-Headers", "a"),
        h("access-control-request-headers", "b, \"c,d\""),
    ];
    let mut resp = vec![
        h("access-control-allow-origin", "https://x"),
        h("Access-Control-Max-Age", "1"),
        h("X-A", "1"),
        h("x-a", "2"),
        h("Grip-Hold", "stream"),
        h("ETag", "e"),
        h("Pragma", "p"),
    ];
    apply_cors(&req, &mut resp);
    let got = names_values(&resp);
    assert!(got.contains(&(
        "Access-Control-Allow-Headers".into(),
        "a, b, \"c,d\"".into()
    )));
    assert!(got.contains(&("Access-Control-Expose-Headers".into(), "X-A, ETag".into())));
    let origins = got
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("Access-Control-Allow-Origin"))
        .count();
    assert_eq!(origins, 1);
    let ages: Vec<_> = got
        .iter()
        .filter(|(n, _)| n == "Access-Control-Max-Age")
        .collect();
    assert_eq!(
        ages,
        vec![&("Access-Control-Max-Age".to_string(), "1".to_string())]
    );
}

#[test]
fn jsonp_not_applied() {
    let c = config(JsonpMode::Extended);
    // not a GET, no query, no callback
    assert_eq!(
        jsonp_request(&c, b"POST", &uri("http://e/a?callback=cb"), &[]),
        Ok(None)
    );
    assert_eq!(jsonp_request(&c, b"GET", &uri("http://e/a"), &[]), Ok(None));
    assert_eq!(
        jsonp_request(&c, b"GET", &uri("http://e/a?x=1"), &[]),
        Ok(None)
    );
}

#[test]
fn jsonp_extended_request() {
    let c = config(JsonpMode::Extended);
    let r = jsonp_request(
        &c,
        b"GET",
        &uri("http://e/aco/plain?callback=cb&x=1"),
        &[
            h("Host", "e"),
            h("Accept", "text/html"),
            h("User-Agent", "t"),
        ],
    )
    .unwrap()
    .unwrap();
    assert_eq!(r.method, "GET");
    assert_eq!(r.query.as_deref(), Some("x=1"));
    assert_eq!(
        names_values(&r.headers),
        pairs(&[("Host", "e"), ("Accept", "*/*"), ("User-Agent", "t")])
    );
    assert!(r.body.is_empty());
    assert_eq!(
        r.jsonp,
        Jsonp {
            callback: Bytes::from_static(b"cb"),
            extended: true
        }
    );
}

#[test]
fn jsonp_method_headers_and_body() {
    let c = config(JsonpMode::Extended);
    let r = jsonp_request(
        &c,
        b"GET",
        &uri("http://e:8080/p?callback=cb&_method=PUT&_headers=%7B%22X-H%22%3A%22v%22%2C%22Host%22%3A%22no%22%7D&_body=hello"),
        &[h("Host", "e:8080")],
    )
    .unwrap()
    .unwrap();
    assert_eq!(r.method, "PUT");
    assert_eq!(r.query, None, "the '?' goes when nothing is left");
    assert_eq!(
        names_values(&r.headers),
        pairs(&[("X-H", "v"), ("Host", "e:8080"), ("Accept", "*/*")])
    );
    assert_eq!(r.body, "hello");
    // 1.36 barely validates _method
    let r = jsonp_request(&c, b"GET", &uri("http://e/?callback=cb&_method=P%20T"), &[])
        .unwrap()
        .unwrap();
    assert_eq!(r.method, "P T");
}

#[test]
fn jsonp_basic_defaults_to_post() {
    let c = config(JsonpMode::Basic);
    let r = jsonp_request(&c, b"GET", &uri("http://e/acob/plain?callback=cb"), &[])
        .unwrap()
        .unwrap();
    assert_eq!(r.method, "POST");
    assert!(!r.jsonp.extended);
}

#[test]
fn jsonp_body_param_and_default_callback() {
    let mut c = config(JsonpMode::Extended);
    c.body_param = "b".into();
    c.default_callback = "f".into();
    let r = jsonp_request(
        &c,
        b"GET",
        &uri("http://e/?b=%7B%7D&_body=ignored&_headers=%7B%22content-type%22%3A%22x%22%7D"),
        &[],
    )
    .unwrap()
    .unwrap();
    assert_eq!(r.jsonp.callback, "f");
    assert_eq!(r.body, "{}");
    assert_eq!(r.query.as_deref(), Some("_body=ignored"));
    assert_eq!(
        names_values(&r.headers),
        pairs(&[
            ("Content-Type", "application/json"),
            ("Host", "e"),
            ("Accept", "*/*")
        ])
    );
    // without the body parameter the default callback does not activate JSON-P
    assert_eq!(
        jsonp_request(&c, b"GET", &uri("http://e/?x=1"), &[]),
        Ok(None)
    );
    // a custom callback parameter
    c.callback_param = "jsonp".into();
    let r = jsonp_request(&c, b"GET", &uri("http://e/?jsonp=g&callback=x"), &[])
        .unwrap()
        .unwrap();
    assert_eq!(r.jsonp.callback, "g");
    assert_eq!(r.query.as_deref(), Some("callback=x"));
}

#[test]
fn jsonp_errors() {
    let mut c = config(JsonpMode::Extended);
    let e = |c: &JsonpConfig, u: &str| jsonp_request(c, b"GET", &uri(u), &[]).unwrap_err();
    assert_eq!(e(&c, "http://e/?callback="), JsonpError::Callback);
    assert_eq!(e(&c, "http://e/?callback"), JsonpError::Callback);
    assert_eq!(e(&c, "http://e/?callback=cb&_method="), JsonpError::Method);
    assert_eq!(
        e(&c, "http://e/?callback=cb&_method=%0A"),
        JsonpError::Method
    );
    assert_eq!(
        e(&c, "http://e/?callback=cb&_headers=x"),
        JsonpError::Headers
    );
    assert_eq!(
        e(&c, "http://e/?callback=cb&_headers=%5B%5D"),
        JsonpError::Headers
    );
    assert_eq!(
        e(&c, "http://e/?callback=cb&_headers=%7B%22a%22%3A1%7D"),
        JsonpError::Headers
    );
    assert_eq!(
        e(&c, "http://e/?callback=cb&_body="),
        JsonpError::UnderscoreBody
    );
    c.body_param = "b".into();
    assert_eq!(e(&c, "http://e/?callback=cb&b="), JsonpError::Body);
    assert_eq!(JsonpError::Callback.body(), "Invalid callback parameter.\n");
    assert_eq!(JsonpError::Method.body(), "Invalid _method parameter.\n");
    assert_eq!(JsonpError::Headers.body(), "Invalid _headers parameter.\n");
    assert_eq!(JsonpError::Body.body(), "Invalid body parameter.\n");
    assert_eq!(
        JsonpError::UnderscoreBody.body(),
        "Invalid _body parameter.\n"
    );
}

#[test]
fn wrap_extended_as_captured() {
    let j = Jsonp {
        callback: Bytes::from_static(b"cb"),
        extended: true,
    };
    let w = j.wrap(&plain());
    let expected = "/**/cb({\"code\": 200, \"reason\": \"OK\", \"headers\": {\"Content-Length\":\"6\",\"Content-Type\":\"text/plain\",\"X-Foo\":\"bar\"}, \"body\": \"hello\\n\"});\n";
    assert_eq!(w.body, expected);
    assert_eq!(w.body.len(), 135);
    assert_eq!((w.code, &w.reason[..]), (200, &b"OK"[..]));
    assert_eq!(
        names_values(&w.headers),
        pairs(&[
            ("Content-Type", "application/javascript"),
            ("Content-Length", "135")
        ])
    );
}

#[test]
fn wrap_basic_as_captured_and_cache_control_kept() {
    let j = Jsonp {
        callback: Bytes::from_static(b"cb"),
        extended: false,
    };
    let mut r = plain();
    r.headers.push(h("cache-control", "no-cache"));
    let w = j.wrap(&r);
    assert_eq!(w.body, "/**/cb(hello);\n");
    assert_eq!(
        names_values(&w.headers),
        pairs(&[
            ("Content-Type", "application/javascript"),
            ("Content-Length", "15"),
            ("cache-control", "no-cache")
        ])
    );
    r.body = Bytes::from_static(b"x\r\n\r\n");
    assert_eq!(j.wrap(&r).body, "/**/cb(x\r\n);\n");
}

#[test]
fn extended_escaping_and_first_header_value() {
    let j = Jsonp {
        callback: Bytes::from_static(b"f"),
        extended: true,
    };
    let r = Response {
        code: 404,
        reason: Bytes::from_static(b"Not \"Found\""),
        headers: vec![h("X-B", "1"), h("X-A", "2"), h("X-B", "3"), h("x-a", "4")],
        body: Bytes::from_static(b"\x01\t\\\xff/\x7f"),
    };
    let w = j.wrap(&r);
    assert_eq!(
        String::from_utf8(w.body.to_vec()).unwrap(),
        "/**/f({\"code\": 404, \"reason\": \"Not \\\"Found\\\"\", \"headers\": {\"X-A\":\"2\",\"X-B\":\"1\",\"x-a\":\"4\"}, \"body\": \"\\u0001\\t\\\\\u{fffd}/\u{7f}\"});\n"
    );
}

#[test]
fn stream_wrapping() {
    let mut s = JsonpStream::new(Jsonp {
        callback: Bytes::from_static(b"cb"),
        extended: false,
    });
    let (headers, start) = s.head(200, b"OK", &[]);
    assert_eq!(
        names_values(&headers),
        pairs(&[("Content-Type", "application/javascript")])
    );
    assert_eq!(start, "/**/cb(");
    assert_eq!(s.body(b"a\n", false), "a");
    assert_eq!(s.body(b"b\r\n", false), "\nb");
    assert_eq!(s.body(b"", true), ");\n");
    let mut s = JsonpStream::new(Jsonp {
        callback: Bytes::from_static(b"cb"),
        extended: true,
    });
    let (_, start) = s.head(201, b"Created", &[h("A", "b")]);
    assert_eq!(
        start,
        "/**/cb({\"code\": 201, \"reason\": \"Created\", \"headers\": {\"A\":\"b\"}, \"body\": \""
    );
    assert_eq!(s.body(b"x\n", false), "x\\n");
    assert_eq!(s.body(b"\"", true), "\\\"\"});\n");
}

#[test]
fn shaping() {
    let cors = Shaping {
        cors: true,
        request_headers: vec![h("Origin", "http://o.com")],
        jsonp: None,
    };
    let out = cors.complete(&plain());
    assert!(
        names_values(&out.headers)
            .contains(&("Access-Control-Allow-Origin".into(), "http://o.com".into()))
    );
    let mut head = vec![
        h("Transfer-Encoding", "chunked"),
        h("connection", "close"),
        h("X-Foo", "bar"),
    ];
    cors.head_headers(&mut head);
    assert!(
        names_values(&head).contains(&("Access-Control-Expose-Headers".into(), "X-Foo".into()))
    );
    assert!(!has(&head, b"Transfer-Encoding") && !has(&head, b"Connection"));
    let off = Shaping::default();
    assert_eq!(off.complete(&plain()), plain());
    let jsonp = Shaping {
        cors: true,
        request_headers: Vec::new(),
        jsonp: Some(Jsonp {
            callback: Bytes::from_static(b"cb"),
            extended: false,
        }),
    };
    let out = jsonp.complete(&plain());
    assert_eq!(out.body, "/**/cb(hello);\n");
    assert!(!has(&out.headers, b"Access-Control-Allow-Origin"));
}

proptest! {
    #[test]
    fn random_queries_and_headers_never_panic(
        query in "[a-z_%=&0-9A-F{}\":,+ .-]{0,80}",
        names in proptest::collection::vec("[A-Za-z-]{0,20}", 0..6),
        values in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..20), 0..6),
        body in proptest::collection::vec(any::<u8>(), 0..64),
        extended in any::<bool>(),
        split in 0usize..64,
    ) {
        let headers: Vec<Header> = names
            .iter()
            .zip(values.iter())
            .map(|(n, v)| (Bytes::from(n.clone()), Bytes::from(v.clone())))
            .collect();
        let mut c = config(if extended { JsonpMode::Extended } else { JsonpMode::Basic });
        c.body_param = "b".into();
        c.default_callback = "d".into();
        let u = Uri::parse(format!("http://h/p?{query}").as_bytes());
        if let Ok(u) = u {
            let _ = jsonp_request(&c, b"GET", &u, &headers);
            c.body_param.clear();
            let _ = jsonp_request(&c, b"GET", &u, &headers);
        }
        let mut resp = headers.clone();
        apply_cors(&headers, &mut resp);
        prop_assert!(resp.len() >= headers.len());
        let j = Jsonp { callback: Bytes::from_static(b"cb"), extended };
        let r = Response { code: 200, reason: Bytes::new(), headers, body: Bytes::from(body.clone()) };
        let w = j.wrap(&r);
        prop_assert!(w.body.starts_with(b"/**/cb("));
        let mut s = JsonpStream::new(j);
        let (a, b) = body.split_at(split.min(body.len()));
        let _ = s.body(a, false);
        let end = s.body(b, true);
        prop_assert!(end.ends_with(b");\n"));
    }
}
