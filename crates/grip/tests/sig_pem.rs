//! `Grip-Sig` with PEM keys (ES256, RS256): sign/verify round trips over every PEM form
//! 1.36 accepts, tokens minted by the real 1.36 proxy, and the forms it refuses. Keys and
//! tokens are in `tests/data/` (see its README.md).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;
use pushpin_grip::sig::{
    self, Algorithm, KeyError, PemKey, PrivateKey, PublicKey, SigError, SigningKey, SystemRandom,
    VerifyingKey,
};

const EC_PKCS8: &[u8] = include_bytes!("data/ec-p256-pkcs8.pem");
const EC_SEC1: &[u8] = include_bytes!("data/ec-p256-sec1.pem");
const EC_PUB: &[u8] = include_bytes!("data/ec-p256-pub.pem");
const EC_OTHER_PUB: &[u8] = include_bytes!("data/ec-p256-other-pub.pem");
const EC_P384: &[u8] = include_bytes!("data/ec-p384-pkcs8.pem");
const RSA_PKCS8: &[u8] = include_bytes!("data/rsa2048-pkcs8.pem");
const RSA_PKCS1: &[u8] = include_bytes!("data/rsa2048-pkcs1.pem");
const RSA_PUB: &[u8] = include_bytes!("data/rsa2048-pub.pem");
const RSA_PUB_PKCS1: &[u8] = include_bytes!("data/rsa2048-pub-pkcs1.pem");
const RSA_1024: &[u8] = include_bytes!("data/rsa1024-pkcs8.pem");
const ED25519: &[u8] = include_bytes!("data/ed25519-pkcs8.pem");
const TOKENS_136: &str = include_str!("data/pushpin-1.36-tokens.txt");

const NOW: i64 = 1_700_000_000;

fn private(pem: &[u8]) -> PrivateKey {
    match PemKey::from_pem(pem, &SystemRandom::new()).unwrap() {
        PemKey::Private(k) => k,
        PemKey::Public(k) => panic!("expected a private key, got {k:?}"),
    }
}

fn public(pem: &[u8]) -> PublicKey {
    match PemKey::from_pem(pem, &SystemRandom::new()).unwrap() {
        PemKey::Public(k) => k,
        PemKey::Private(k) => panic!("expected a public key, got {k:?}"),
    }
}

fn sign(iss: &str, key: &PrivateKey, now: i64) -> String {
    sig::sign_with(iss, SigningKey::Private(key), now, &SystemRandom::new()).unwrap()
}

fn parts(token: &str) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let p: Vec<&str> = token.split('.').collect();
    assert_eq!(p.len(), 3, "{token}");
    let d = |s: &str| URL_SAFE_NO_PAD.decode(s).unwrap();
    (d(p[0]), d(p[1]), d(p[2]))
}

#[test]
fn private_forms_sign_and_public_forms_verify() {
    // private key, matching public keys, algorithm, signature length
    type Case = (&'static [u8], &'static [&'static [u8]], Algorithm, usize);
    let cases: [Case; 3] = [
        (EC_PKCS8, &[EC_PUB], Algorithm::Es256, 64),
        (RSA_PKCS8, &[RSA_PUB, RSA_PUB_PKCS1], Algorithm::Rs256, 256),
        (RSA_PKCS1, &[RSA_PUB, RSA_PUB_PKCS1], Algorithm::Rs256, 256),
    ];
    for (priv_pem, pub_pems, alg, sig_len) in cases {
        let key = private(priv_pem);
        assert_eq!(key.algorithm(), alg);
        let token = sign("pushpin", &key, NOW);
        let (header, claims, signature) = parts(&token);
        assert_eq!(
            header,
            format!(r#"{{"typ":"JWT","alg":"{alg}"}}"#).as_bytes()
        );
        assert_eq!(claims, br#"{"exp":1700003600,"iss":"pushpin"}"#);
        assert_eq!(signature.len(), sig_len);
        assert!(!token.contains('='));

        for pub_pem in pub_pems {
            let pk = public(pub_pem);
            assert_eq!(pk, key.public_key());
            let claims = sig::verify_with(token.as_bytes(), VerifyingKey::Public(&pk), NOW)
                .unwrap_or_else(|e| panic!("{alg}: {e}"));
            assert_eq!(claims["iss"], "pushpin");
            // expiry rules are the HMAC ones
            assert!(matches!(
                sig::verify_with(token.as_bytes(), VerifyingKey::Public(&pk), NOW + 3600),
                Err(SigError::Expired { .. })
            ));
        }
    }
}

#[test]
fn pkcs1_and_pkcs8_rsa_are_the_same_key() {
    assert_eq!(private(RSA_PKCS8), private(RSA_PKCS1));
    assert_eq!(public(RSA_PUB), public(RSA_PUB_PKCS1));
    assert_ne!(public(EC_PUB), public(EC_OTHER_PUB));
}

/// `name exp iss token` lines of the 1.36 vectors.
fn tokens_136() -> Vec<(&'static str, i64, &'static str, &'static str)> {
    TOKENS_136
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[0], f[1].parse().unwrap(), f[2], f[3])
        })
        .collect()
}

#[test]
fn tokens_minted_by_pushpin_1_36_verify() {
    let v = tokens_136();
    assert_eq!(v.len(), 3);
    for (name, exp, iss, token) in v {
        let minted = exp - 3600;
        let keys: &[&[u8]] = if name == "ES256" {
            &[EC_PUB]
        } else {
            &[RSA_PUB, RSA_PUB_PKCS1]
        };
        for pem in keys {
            let pk = public(pem);
            let claims = sig::verify_with(token.as_bytes(), VerifyingKey::Public(&pk), minted)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(claims["iss"], iss);
            assert_eq!(claims["exp"], exp);
            assert!(
                sig::verify_with(token.as_bytes(), VerifyingKey::Public(&pk), exp).is_err(),
                "{name} expired"
            );
        }
        // the wrong key type is an algorithm mismatch, as in jsonwebtoken
        let other = if name == "ES256" { RSA_PUB } else { EC_PUB };
        assert!(matches!(
            sig::verify_with(
                token.as_bytes(),
                VerifyingKey::Public(&public(other)),
                minted
            ),
            Err(SigError::Algorithm { .. })
        ));
        // and an HMAC key never verifies them
        assert_eq!(
            sig::verify(token.as_bytes(), b"changeme", minted),
            Err(SigError::Algorithm {
                expected: Algorithm::Hs256
            })
        );
    }
}

#[test]
fn rs256_matches_pushpin_1_36_byte_for_byte() {
    // RSASSA-PKCS1-v1_5 is deterministic: the same key, iss and time give 1.36's token
    for (name, exp, iss, token) in tokens_136() {
        let pem = match name {
            "RS256-pkcs8" => RSA_PKCS8,
            "RS256-pkcs1" => RSA_PKCS1,
            _ => continue,
        };
        assert_eq!(sign(iss, &private(pem), exp - 3600), token, "{name}");
    }
    // ECDSA is randomised, so only the signed part can match
    let (_, exp, iss, token) = tokens_136()[0];
    let ours = sign(iss, &private(EC_PKCS8), exp - 3600);
    let signed = |t: &str| t.rsplit_once('.').unwrap().0.to_owned();
    assert_eq!(signed(&ours), signed(token));
}

#[test]
fn wrong_key_or_tampering_fails() {
    let token = sign("x", &private(EC_PKCS8), NOW);
    let other = public(EC_OTHER_PUB);
    assert_eq!(
        sig::verify_with(token.as_bytes(), VerifyingKey::Public(&other), NOW),
        Err(SigError::Signature)
    );
    let pk = public(EC_PUB);
    let (signed, s) = token.rsplit_once('.').unwrap();
    let mut raw = URL_SAFE_NO_PAD.decode(s).unwrap();
    raw[10] ^= 1;
    let tampered = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(&raw));
    assert_eq!(
        sig::verify_with(tampered.as_bytes(), VerifyingKey::Public(&pk), NOW),
        Err(SigError::Signature)
    );
    let bad_b64 = format!("{signed}.!!!");
    assert_eq!(
        sig::verify_with(bad_b64.as_bytes(), VerifyingKey::Public(&pk), NOW),
        Err(SigError::Signature)
    );
    // an HS256 token (signed with the public key bytes, the classic confusion) is refused
    let hs = sig::sign("x", b"anything", NOW);
    assert_eq!(
        sig::verify_with(hs.as_bytes(), VerifyingKey::Public(&pk), NOW),
        Err(SigError::Algorithm {
            expected: Algorithm::Es256
        })
    );
}

#[test]
fn hmac_through_the_generic_api() {
    let rng = SystemRandom::new();
    let t = sig::sign_with("i", SigningKey::Secret(b"s"), NOW, &rng).unwrap();
    assert_eq!(t, sig::sign("i", b"s", NOW));
    assert!(sig::verify_with(t.as_bytes(), VerifyingKey::Secret(b"s"), NOW).is_ok());
    assert!(!format!("{:?}", SigningKey::Secret(b"topsecret")).contains("topsecret"));
    assert!(!format!("{:?}", VerifyingKey::Secret(b"topsecret")).contains("topsecret"));
}

fn key_error(pem: &[u8]) -> KeyError {
    match PemKey::from_pem(pem, &SystemRandom::new()) {
        Ok(k) => panic!("expected an error, got {k:?}"),
        Err(e) => e,
    }
}

#[test]
fn refused_forms_have_clear_errors() {
    // what 1.36 refuses too (tests/data/README.md)
    assert_eq!(key_error(EC_SEC1), KeyError::Sec1);
    assert!(
        key_error(EC_SEC1)
            .to_string()
            .contains("openssl pkcs8 -topk8")
    );
    assert_eq!(key_error(EC_P384), KeyError::UnsupportedCurve);
    assert_eq!(key_error(ED25519), KeyError::UnsupportedAlgorithm);
    assert_eq!(
        key_error(RSA_1024),
        KeyError::RsaPrivateSize {
            reason: "TooSmall".into()
        }
    );
    assert!(
        key_error(RSA_1024)
            .to_string()
            .contains("2048 to 4096 bits")
    );
    // not PEM at all
    for garbage in [
        &b""[..],
        b"hello",
        b"-----BEGIN PRIVATE KEY-----\n",
        b"\xff\x00",
    ] {
        assert!(
            matches!(key_error(garbage), KeyError::Pem { .. }),
            "{garbage:?}"
        );
    }
    let cert = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    assert_eq!(
        key_error(cert),
        KeyError::UnsupportedType {
            tag: "CERTIFICATE".into()
        }
    );
    assert!(key_error(cert).to_string().contains("\"CERTIFICATE\""));
    // PEM framing around bytes that are not the announced structure
    for tag in ["PRIVATE KEY", "PUBLIC KEY", "RSA PUBLIC KEY"] {
        let pem = format!("-----BEGIN {tag}-----\nAAECAwQF\n-----END {tag}-----\n");
        assert!(
            matches!(key_error(pem.as_bytes()), KeyError::Der { .. }),
            "{tag}"
        );
    }
    let pem = "-----BEGIN RSA PRIVATE KEY-----\nAAECAwQF\n-----END RSA PRIVATE KEY-----\n";
    assert!(matches!(
        key_error(pem.as_bytes()),
        KeyError::Rejected { .. }
    ));
}

#[test]
fn first_block_only() {
    // as 1.36 (pem::parse): a file starting with another block is refused
    let mut both =
        b"-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n".to_vec();
    both.extend_from_slice(EC_PKCS8);
    assert!(matches!(key_error(&both), KeyError::UnsupportedType { .. }));
    // leading text before the block is skipped
    let mut text = b"my key\n".to_vec();
    text.extend_from_slice(EC_PKCS8);
    assert_eq!(private(&text), private(EC_PKCS8));
}

/// A PEM block with `tag` around `der`.
fn pem_block(tag: &str, der: &[u8]) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    format!("-----BEGIN {tag}-----\n{b64}\n-----END {tag}-----\n").into_bytes()
}

fn der_of(pem: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(pem).unwrap();
    let b64: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn verifying_arbitrary_tokens_never_panics(
        raw in proptest::collection::vec(any::<u8>(), 0..600),
        header in prop::sample::select(vec!["{\"alg\":\"ES256\"}", "{\"alg\":\"RS256\"}"]),
        claims in "\\PC{0,40}",
        sig in "[A-Za-z0-9_=-]{0,400}",
    ) {
        for pem in [EC_PUB, RSA_PUB] {
            let pk = public(pem);
            let _ = sig::verify_with(&raw, VerifyingKey::Public(&pk), NOW);
            let token = format!(
                "{}.{}.{sig}",
                URL_SAFE_NO_PAD.encode(header),
                URL_SAFE_NO_PAD.encode(&claims)
            );
            let _ = sig::verify_with(token.as_bytes(), VerifyingKey::Public(&pk), NOW);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = PemKey::from_pem(&raw, &SystemRandom::new());
    }

    #[test]
    fn arbitrary_der_in_every_type_never_panics(
        raw in proptest::collection::vec(any::<u8>(), 0..300),
        tag in prop::sample::select(vec![
            "PRIVATE KEY", "RSA PRIVATE KEY", "PUBLIC KEY", "RSA PUBLIC KEY", "EC PRIVATE KEY",
        ]),
    ) {
        let _ = PemKey::from_pem(&pem_block(tag, &raw), &SystemRandom::new());
    }

    #[test]
    fn truncated_or_flipped_keys_never_panic(
        which in 0usize..6,
        cut in 0usize..2000,
        flip in 0usize..2000,
    ) {
        let (tag, pem) = [
            ("PRIVATE KEY", EC_PKCS8),
            ("PRIVATE KEY", RSA_PKCS8),
            ("RSA PRIVATE KEY", RSA_PKCS1),
            ("PUBLIC KEY", EC_PUB),
            ("PUBLIC KEY", RSA_PUB),
            ("RSA PUBLIC KEY", RSA_PUB_PKCS1),
        ][which];
        let mut der = der_of(pem);
        let len = der.len();
        if let Some(b) = der.get_mut(flip % len) {
            *b ^= 0x5a;
        }
        der.truncate(cut % (len + 1));
        let _ = PemKey::from_pem(&pem_block(tag, &der), &SystemRandom::new());
    }
}
