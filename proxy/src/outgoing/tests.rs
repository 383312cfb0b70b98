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

const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../crates/grip/tests/data");

/// `config(extra)` with its `file:` keys read.
fn loaded_config(extra: &str) -> ProxyConfig {
    let mut cfg = config(extra);
    cfg.load_pem_keys(&SystemRandom::new());
    cfg
}

/// `route(line)` with its `file:` key read.
fn loaded_route(line: &str) -> Route {
    let mut r = route(line);
    pushpin_config::key::load_pem_keys(r.sig_key.as_mut(), &SystemRandom::new());
    r
}

fn pem_public(name: &str) -> pushpin_grip::sig::PublicKey {
    let pem = std::fs::read(format!("{KEYS}/{name}")).unwrap();
    match PemKey::from_pem(&pem, &SystemRandom::new()).unwrap() {
        PemKey::Public(k) => k,
        PemKey::Private(k) => k.public_key(),
    }
}

fn grip_sig(out: &OriginRequest) -> Option<&Bytes> {
    get(&out.headers, b"Grip-Sig")
}

#[test]
fn pem_signing_keys_and_fallbacks() {
    let c = client("http://a.example/", vec![h("Host", "a.example")]);
    let ec = pem_public("ec-p256-pub.pem");
    let rsa = pem_public("rsa2048-pub.pem");
    let check = |out: &OriginRequest, key: &pushpin_grip::sig::PublicKey| {
        let sig = grip_sig(out).expect("signed");
        pushpin_grip::sig::verify_with(sig, VerifyingKey::Public(key), 1000).unwrap()
    };

    let cfg = loaded_config(&format!("sig_key=file:{KEYS}/ec-p256-pkcs8.pem"));
    let plain = route("* test");
    let out = origin_request(&cfg, &c, &plain, &plain.targets[0], rw());
    assert_eq!(check(&out, &ec)["iss"], "pushpin");

    // a route's own RSA key (PKCS#8)
    let r = loaded_route(&format!(
        "*,sig_iss=r,sig_key=file:{KEYS}/rsa2048-pkcs8.pem test"
    ));
    let out = origin_request(&cfg, &c, &r, &r.targets[0], rw());
    assert_eq!(check(&out, &rsa)["iss"], "r");

    // null route keys (unreadable, or never loaded) and an empty route issuer fall back
    for line in [
        "*,sig_iss=r,sig_key=file:/nonexistent/k.pem test",
        "*,sig_iss=,sig_key=base64:c2VjcmV0Mg== test",
    ] {
        let r = loaded_route(line);
        let out = origin_request(&cfg, &c, &r, &r.targets[0], rw());
        assert_eq!(check(&out, &ec)["iss"], "pushpin", "{line}");
    }
    let r = route(&format!(
        "*,sig_iss=r,sig_key=file:{KEYS}/rsa2048-pkcs8.pem test"
    ));
    let out = origin_request(&cfg, &c, &r, &r.targets[0], rw());
    assert_eq!(check(&out, &ec)["iss"], "pushpin", "not loaded");

    // keys that cannot sign: no Grip-Sig, but Grip-Feature as usual
    for file in ["ec-p256-sec1.pem", "ec-p256-pub.pem", "rsa1024-pkcs8.pem"] {
        let r = loaded_route(&format!("*,sig_iss=r,sig_key=file:{KEYS}/{file} test"));
        let out = origin_request(&cfg, &c, &r, &r.targets[0], rw());
        assert!(grip_sig(&out).is_none(), "{file}");
        assert!(get(&out.headers, b"Grip-Feature").is_some());
    }

    // an unreadable global key signs nothing
    let cfg = loaded_config("sig_key=file:/nonexistent/k.pem");
    let out = origin_request(&cfg, &c, &plain, &plain.targets[0], rw());
    assert!(grip_sig(&out).is_none());
    // an empty global issuer neither
    let cfg = loaded_config(&format!("sig_iss=\nsig_key=file:{KEYS}/ec-p256-pkcs8.pem"));
    let out = origin_request(&cfg, &c, &plain, &plain.targets[0], rw());
    assert!(grip_sig(&out).is_none());
}

#[test]
fn pem_upstream_key_trust() {
    let now = 1_000_000;
    let pem = std::fs::read(format!("{KEYS}/ec-p256-pkcs8.pem")).unwrap();
    let PemKey::Private(private) = PemKey::from_pem(&pem, &SystemRandom::new()).unwrap() else {
        panic!("not private")
    };
    let token = pushpin_grip::sig::sign_with(
        "x",
        SigningKey::Private(&private),
        now,
        &SystemRandom::new(),
    )
    .unwrap();
    let headers = vec![(Bytes::from_static(b"Grip-Sig"), Bytes::from(token))];

    let cfg = loaded_config(&format!("upstream_key=file:{KEYS}/ec-p256-pub.pem"));
    assert!(is_trusted_client(&cfg, &headers, now));
    assert!(!is_trusted_client(&cfg, &headers, now + 4000));
    // only a public key verifies (1.36: a private key as upstream_key never does)
    for file in [
        "ec-p256-pkcs8.pem",
        "ec-p256-other-pub.pem",
        "rsa2048-pub.pem",
        "missing.pem",
    ] {
        let cfg = loaded_config(&format!("upstream_key=file:{KEYS}/{file}"));
        assert!(!is_trusted_client(&cfg, &headers, now), "{file}");
    }
    // never loaded
    let cfg = config(&format!("upstream_key=file:{KEYS}/ec-p256-pub.pem"));
    assert!(!is_trusted_client(&cfg, &headers, now));
}
