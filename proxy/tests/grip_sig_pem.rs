//! `file:` PEM keys end to end (`spec/grip.md` §2.2–§2.3): the origin receives a `Grip-Sig`
//! that verifies with the public key (ES256 for `[proxy] sig_key`, RS256 for a route key), a
//! route whose key file is missing falls back to `[proxy] sig_key`, a key 1.36 cannot sign with
//! sends no `Grip-Sig`, and `upstream_key=file:` trusts clients signing with the private key.

#[path = "support/harness.rs"]
mod harness;

use bytes::Bytes;
use harness::{Env, Setup, get_owned, header, start};
use pushpin_grip::sig::{self, Algorithm, PemKey, SigningKey, SystemRandom, VerifyingKey};
use pushpin_zhttp::{Header, Packet};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../crates/grip/tests/data");

fn key(name: &str) -> PemKey {
    let pem = std::fs::read(format!("{DATA}/{name}")).unwrap();
    PemKey::from_pem(&pem, &SystemRandom::new()).unwrap()
}

fn public(name: &str) -> sig::PublicKey {
    match key(name) {
        PemKey::Public(k) => k,
        PemKey::Private(k) => k.public_key(),
    }
}

fn now() -> i64 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    i64::try_from(secs).unwrap()
}

/// Sends a GET to `uri` with `extra` headers, answers it with a plain 200 and returns the
/// request the origin (fake zurl) received.
async fn forward(env: &mut Env, id: &str, uri: &str, extra: &[(&str, &str)]) -> Packet {
    let mut req = get_owned(id.to_string(), uri);
    if let Some(h) = req.headers.as_mut() {
        for (n, v) in extra {
            h.push(Header::new(n.to_string(), v.to_string()));
        }
    }
    env.cm.first(&req).await;
    let z = env.zurl.first().await;
    let zid = z.id().unwrap().clone();
    env.zurl
        .send(
            &zid,
            Packet {
                code: Some(200),
                reason: Some(Bytes::from_static(b"OK")),
                headers: Some(vec![Header::new("Content-Type", "text/plain")]),
                body: Some(Bytes::from_static(b"ok")),
                ..Packet::default()
            },
        )
        .await;
    let (resp, _) = env.cm.response().await;
    assert_eq!(resp.code, Some(200));
    z
}

/// The origin's `Grip-Sig`, checked with `public`: its claims.
fn verified(z: &Packet, public: &sig::PublicKey) -> serde_json::Map<String, serde_json::Value> {
    let token = header(z, "Grip-Sig").expect("no Grip-Sig");
    sig::verify_with(token, VerifyingKey::Public(public), now())
        .unwrap_or_else(|e| panic!("Grip-Sig does not verify: {e}"))
}

#[tokio::test]
async fn origin_receives_pem_signed_grip_sig() {
    let routes = format!(
        "*,path_beg=/rsa/,sig_iss=r1,sig_key=file:{DATA}/rsa2048-pkcs1.pem 127.0.0.1:17020\n\
         *,path_beg=/missing/,sig_iss=m,sig_key=file:missing.pem 127.0.0.1:17020\n\
         *,path_beg=/sec1/,sig_iss=s1,sig_key=file:{DATA}/ec-p256-sec1.pem 127.0.0.1:17020\n\
         * 127.0.0.1:17020\n"
    );
    let extra =
        format!("sig_key=file:{DATA}/ec-p256-pkcs8.pem\nupstream_key=file:{DATA}/ec-p256-pub.pem");
    let mut env = start(Setup {
        routes: &routes,
        proxy_extra: &extra,
        with_handler: false,
    })
    .await;
    let ec = public("ec-p256-pub.pem");
    let rsa = public("rsa2048-pub.pem");
    assert_eq!(ec.algorithm(), Algorithm::Es256);

    // [proxy] sig_key: ES256, iss from sig_iss, exp an hour ahead
    let z = forward(&mut env, "p1", "http://example.com/", &[]).await;
    let claims = verified(&z, &ec);
    assert_eq!(claims["iss"], "pushpin");
    let exp = claims["exp"].as_i64().unwrap();
    assert!((now() + 3590..=now() + 3600).contains(&exp), "exp {exp}");
    let token = header(&z, "Grip-Sig").unwrap();
    assert!(token.starts_with(b"eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzI1NiJ9."));

    // a route's own key: RS256 (PKCS#1 private key)
    let z = forward(&mut env, "p2", "http://example.com/rsa/x", &[]).await;
    assert_eq!(verified(&z, &rsa)["iss"], "r1");

    // a route key file that cannot be read is 1.36's null key: [proxy] sig_key is used
    let z = forward(&mut env, "p3", "http://example.com/missing/x", &[]).await;
    assert_eq!(verified(&z, &ec)["iss"], "pushpin");

    // a key 1.36 cannot sign with (SEC1 EC): no Grip-Sig at all, Grip-Feature still sent
    let z = forward(&mut env, "p4", "http://example.com/sec1/x", &[]).await;
    assert!(header(&z, "Grip-Sig").is_none());
    assert!(header(&z, "Grip-Feature").is_some());

    // upstream_key=file: a client signing with the private key is trusted: its Grip-Sig
    // passes through and no Grip-Feature is added
    let PemKey::Private(private) = key("ec-p256-pkcs8.pem") else {
        panic!("not a private key")
    };
    let up = sig::sign_with(
        "upstream",
        SigningKey::Private(&private),
        now(),
        &SystemRandom::new(),
    )
    .unwrap();
    let z = forward(&mut env, "p5", "http://example.com/", &[("Grip-Sig", &up)]).await;
    assert_eq!(header(&z, "Grip-Sig").unwrap(), up.as_str());
    assert!(header(&z, "Grip-Feature").is_none());

    // a client signing with another key (or HS256) is not: its Grip-Sig is replaced
    let PemKey::Private(rsa_private) = key("rsa2048-pkcs8.pem") else {
        panic!("not a private key")
    };
    let other = sig::sign_with(
        "upstream",
        SigningKey::Private(&rsa_private),
        now(),
        &SystemRandom::new(),
    )
    .unwrap();
    let hs = sig::sign("upstream", b"changeme", now());
    for (id, token) in [("p6", other.as_str()), ("p7", hs.as_str())] {
        let z = forward(&mut env, id, "http://example.com/", &[("Grip-Sig", token)]).await;
        assert_eq!(verified(&z, &ec)["iss"], "pushpin");
        assert!(header(&z, "Grip-Feature").is_some());
    }
    env.stop().await;
}

/// A `[proxy] sig_key` file that is missing signs nothing and does not stop the proxy (1.36).
#[tokio::test]
async fn missing_global_key_file_sends_no_grip_sig() {
    let mut env = start(Setup {
        routes: "* 127.0.0.1:17020\n",
        proxy_extra: "sig_key=file:no-such-key.pem\nupstream_key=file:no-such-pub.pem",
        with_handler: false,
    })
    .await;
    let z = forward(&mut env, "m1", "http://example.com/", &[]).await;
    assert!(header(&z, "Grip-Sig").is_none());
    assert!(header(&z, "Grip-Feature").is_some());
    env.stop().await;
}
