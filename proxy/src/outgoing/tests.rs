use std::path::Path;

use bytes::Bytes;
use pushpin_config::routes::{Route, parse_rule};

use super::*;

fn route(line: &str) -> Route {
    parse_rule(line, Path::new(".")).unwrap().unwrap()
}

fn config(extra: &str) -> ProxyConfig {
    let text = format!("[global]\ninclude=\n[proxy]\nsig_key=secret\n{extra}\n");
    let raw = pushpin_config::parse(&text, Path::new("/x/pushpin.conf")).unwrap();
    pushpin_config::Config::from_raw(&raw, None, &Default::default())
        .unwrap()
        .proxy
}

fn h(n: &'static str, v: &'static str) -> Header {
    (
        Bytes::from_static(n.as_bytes()),
        Bytes::from_static(v.as_bytes()),
    )
}

fn client(uri: &str, headers: Vec<Header>) -> ClientRequest {
    ClientRequest {
        method: Bytes::from_static(b"GET"),
        uri: Uri::parse(uri.as_bytes()).unwrap(),
        uri_text: Bytes::from(uri.to_string()),
        headers,
        peer_address: Some(Bytes::from_static(b"10.0.0.1")),
    }
}

fn rw() -> Rewrite<'static> {
    Rewrite {
        trusted_client: false,
        internal: false,
        last_ids: &[],
        sid: None,
        now: 1000,
    }
}

fn names(r: &OriginRequest) -> Vec<String> {
    r.headers
        .iter()
        .map(|(n, _)| String::from_utf8_lossy(n).into_owned())
        .collect()
}

#[test]
fn strips_hop_by_hop_and_client_grip_and_signs() {
    let cfg = config("");
    let c = client(
        "http://a.example/p",
        vec![
            h("Host", "a.example"),
            h("Connection", "close"),
            h("Keep-Alive", "5"),
            h("Accept-Encoding", "gzip"),
            h("Expect", "100-continue"),
            h("Grip-Last", "x; last-id=1"),
            h("X-Keep", "1"),
        ],
    );
    let r = route("* test");
    let out = origin_request(&cfg, &c, &r, &r.targets[0], rw());
    assert_eq!(names(&out), ["Host", "X-Keep", "Grip-Sig", "Grip-Feature"]);
    let sig = &out.headers[2].1;
    let claims = pushpin_grip::sig::verify(sig, b"secret", 0).unwrap();
    assert_eq!(claims["exp"], 4600);
}

#[test]
fn route_signing_and_no_grip() {
    let cfg = config("");
    let c = client("http://a.example/", vec![h("Host", "a.example")]);
    let r = route("*,sig_iss=me,sig_key=base64:c2VjcmV0Mg== test");
    let out = origin_request(&cfg, &c, &r, &r.targets[0], rw());
    let sig = &out.headers[1].1;
    let claims = pushpin_grip::sig::verify(sig, b"secret2", 0).unwrap();
    assert_eq!(claims["iss"], "me");
    let r = route("*,no_grip test");
    let out = origin_request(&cfg, &c, &r, &r.targets[0], rw());
    assert_eq!(names(&out), ["Host"]);
}

#[test]
fn rewrites_uri_and_host() {
    let cfg = config("");
    let c = client(
        "http://a.example:8080/rep/z?q=1",
        vec![h("Host", "a.example:8080")],
    );
    let r = route("*,path_beg=/rep,replace_beg=/new,as_host=b.example 127.0.0.1:9,ssl");
    let t = &r.targets[0];
    let out = origin_request(&cfg, &c, &r, t, rw());
    assert_eq!(out.uri.to_string(), "https://b.example/new/z?q=1");
    assert_eq!(get(&out.headers, b"Host").unwrap(), "b.example");
    assert_eq!(names(&out).last().unwrap(), "Host");
    let r = route("*,path_rem=2 127.0.0.1:9,host=h.example:81");
    let out = origin_request(&cfg, &c, &r, &r.targets[0], rw());
    assert_eq!(out.uri.to_string(), "http://h.example:81/ep/z?q=1");
    // an unchanged Host stays where it is
    let c = client(
        "http://a.example:8080/x",
        vec![h("Host", "a.example:8080"), h("X", "1")],
    );
    let r = route("*,no_grip 127.0.0.1:9");
    let out = origin_request(&cfg, &c, &r, &r.targets[0], rw());
    assert_eq!(names(&out), ["Host", "X"]);
}

#[test]
fn route_headers_and_orig_headers() {
    let cfg = config("");
    let c = client(
        "http://a.example/",
        vec![
            h("Host", "a.example"),
            h("X-A", "old"),
            h("eb9bf0f5-Old", "o"),
        ],
    );
    let r = route("*,no_grip,header=X-A:new,\"header=X-B: two\" test");
    let out = origin_request(&cfg, &c, &r, &r.targets[0], rw());
    assert_eq!(names(&out), ["Host", "X-B", "X-A"]);
    assert_eq!(get(&out.headers, b"X-B").unwrap(), "two");
    let r = route("*,no_grip,orig_headers test");
    let out = origin_request(&cfg, &c, &r, &r.targets[0], rw());
    assert_eq!(
        names(&out),
        [
            "Host",
            "X-A",
            "eb9bf0f5-Host",
            "eb9bf0f5-X-A",
            "eb9bf0f5-Old"
        ]
    );
}

#[test]
fn forwarded_headers() {
    let cfg = config("set_x_forwarded_protocol=true\nx_forwarded_for=truncate:1,append");
    let c = client(
        "https://a.example/",
        vec![
            h("Host", "a.example"),
            h("X-Forwarded-Proto", "http"),
            h("X-Forwarded-For", "1.1.1.1, 2.2.2.2"),
        ],
    );
    let r = route("*,no_grip test");
    let out = origin_request(&cfg, &c, &r, &r.targets[0], rw());
    assert_eq!(get(&out.headers, b"X-Forwarded-Proto").unwrap(), "https");
    assert_eq!(get(&out.headers, b"X-Forwarded-Protocol").unwrap(), "https");
    assert_eq!(
        get(&out.headers, b"X-Forwarded-For").unwrap(),
        "2.2.2.2, 10.0.0.1"
    );
    assert_eq!(logical_peer_address(&cfg, &c, false).unwrap(), "2.2.2.2");
    let plain = client("http://a.example/", vec![h("X-Forwarded-Proto", "https")]);
    let out = origin_request(&cfg, &plain, &r, &r.targets[0], rw());
    assert!(get(&out.headers, b"X-Forwarded-Proto").is_none());
    // accept_x_forwarded_protocol marks the request as TLS
    let cfg = config("accept_x_forwarded_protocol=true");
    let mut uri = Uri::parse(b"http://a.example/").unwrap();
    apply_accept_xfp(&cfg, &mut uri, &[h("X-Forwarded-Proto", "https")]);
    assert!(uri.is_tls());
}

#[test]
fn grip_last_and_trust() {
    let cfg = config("upstream_key=up");
    let last = [(Bytes::from_static(b"ch"), Bytes::from_static(b"7"))];
    let c = client("http://a.example/", vec![h("Host", "a.example")]);
    let r = route("* test");
    let mut w = rw();
    w.last_ids = &last;
    let out = origin_request(&cfg, &c, &r, &r.targets[0], w);
    assert_eq!(get(&out.headers, b"Grip-Last").unwrap(), "ch; last-id=7");

    let now = 1_000_000;
    let token = pushpin_grip::sig::sign("x", b"up", now);
    let headers = vec![(Bytes::from_static(b"Grip-Sig"), Bytes::from(token))];
    assert!(is_trusted_client(&cfg, &headers, now));
    assert!(!is_trusted_client(&cfg, &headers, now + 4000));
    assert!(!is_trusted_client(&config(""), &headers, now));
    // empty upstream_key means no key (deviation from 1.36)
    let empty = pushpin_grip::sig::sign("x", b"", now);
    let headers = vec![(Bytes::from_static(b"Grip-Sig"), Bytes::from(empty))];
    assert!(!is_trusted_client(&config("upstream_key="), &headers, now));
}
