//! `Grip-Sig`: the JWT the proxy mints for each backend request and checks on
//! incoming requests against `upstream_key` (`spec/grip.md` §2.2, §2.3).
//!
//! Keys are HMAC secrets (HS256) or PEM keys ([`PemKey`], from `file:` config values):
//! EC P-256 → ES256, RSA → RS256. File reading is the caller's (the config load path);
//! here we take bytes. Time is passed in as Unix seconds (`now`), never read, and the
//! randomness ECDSA/RSA signing needs arrives as `rng` ([`SystemRandom`] in production).
//!
//! Byte compatibility with 1.36: the header is exactly `{"typ":"JWT","alg":"<alg>"}`,
//! the claims `{"exp":<now+3600>,"iss":"<iss>"}` (compact, sorted keys), all base64url
//! without padding; ES256 signatures are the fixed 64-byte `r || s` form. Verification
//! follows 1.36 (jsonwebtoken 8 + `validate_token`): the key type fixes the algorithm,
//! the header's `alg` must match it, the signature must verify, a numeric `exp` more than
//! 60 s in the past is rejected by the library, and then `exp` (converted like
//! `QVariant::toInt`) must be > 0 and strictly greater than `now`.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hmac::{Hmac, Mac};
use serde_json::Value as Json;
use sha2::Sha256;

use crate::qt;

mod keys;

pub use keys::{Algorithm, KeyError, PemKey, PrivateKey, PublicKey};
pub use ring::rand::{SecureRandom, SystemRandom};

/// Lifetime of a minted token, in seconds.
pub const TOKEN_LIFETIME: i64 = 3600;

/// jsonwebtoken's default leeway for its own `exp` check, in seconds.
const LIBRARY_LEEWAY: i64 = 60;

/// base64url decoding that tolerates padding, as the reference library does.
const URL_SAFE_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The exact JOSE header 1.36 writes for `alg`.
fn header_json(alg: Algorithm) -> String {
    format!(r#"{{"typ":"JWT","alg":"{alg}"}}"#)
}

/// A key that mints tokens. `Debug` never shows a secret.
#[derive(Clone, Copy)]
pub enum SigningKey<'a> {
    /// An HMAC secret (HS256).
    Secret(&'a [u8]),
    /// A PEM private key (ES256 or RS256).
    Private(&'a PrivateKey),
}

impl SigningKey<'_> {
    /// The algorithm this key signs with.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            Self::Secret(_) => Algorithm::Hs256,
            Self::Private(k) => k.algorithm(),
        }
    }
}

/// A key that checks tokens. `Debug` never shows a secret.
#[derive(Clone, Copy)]
pub enum VerifyingKey<'a> {
    /// An HMAC secret (HS256).
    Secret(&'a [u8]),
    /// A PEM public key (ES256 or RS256).
    Public(&'a PublicKey),
}

impl fmt::Debug for SigningKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Secret(s) => write!(f, "Secret(<{} bytes redacted>)", s.len()),
            Self::Private(k) => k.fmt(f),
        }
    }
}

impl fmt::Debug for VerifyingKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Secret(s) => write!(f, "Secret(<{} bytes redacted>)", s.len()),
            Self::Public(k) => k.fmt(f),
        }
    }
}

impl VerifyingKey<'_> {
    /// The algorithm a token must use to verify with this key.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            Self::Secret(_) => Algorithm::Hs256,
            Self::Public(k) => k.algorithm(),
        }
    }
}

/// A key as written in the config (`sig_key`, `upstream_key`). The binaries use
/// `pushpin_config::ConfigKey`, which also resolves `file:` paths and loads the PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyConfig {
    /// `file:PATH`: a PEM key file (EC → ES256, RSA → RS256), path as written.
    PemFile(String),
    /// An HMAC secret: `base64:DATA` decoded leniently, or the UTF-8 bytes of
    /// anything else (an empty string is an empty secret, as in 1.36).
    Secret(Vec<u8>),
}

impl KeyConfig {
    /// Reads a config key string.
    pub fn parse(s: &str) -> Self {
        if let Some(path) = s.strip_prefix("file:") {
            Self::PemFile(path.to_owned())
        } else if let Some(b64) = s.strip_prefix("base64:") {
            Self::Secret(qt::from_base64_lenient(b64.as_bytes()))
        } else {
            Self::Secret(s.as_bytes().to_vec())
        }
    }
}

/// Why a `Grip-Sig` token does not make the client trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigError {
    /// Not three base64url segments with a JSON header and JSON object claims.
    #[error("malformed token")]
    Malformed,
    /// The header's `alg` is not the key's algorithm.
    #[error("token algorithm is not {expected}")]
    Algorithm {
        /// The key's algorithm.
        expected: Algorithm,
    },
    /// The signature does not match the key.
    #[error("invalid token signature")]
    Signature,
    /// `exp` is missing, not positive, or not after `now`.
    #[error("token expired or without exp (exp {exp}, now {now})")]
    Expired {
        /// `exp` as 1.36 converts it (0 when missing).
        exp: i64,
        /// The time checked against.
        now: i64,
    },
}

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8], message: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length; the error case cannot happen.
    match HmacSha256::new_from_slice(secret) {
        Ok(mut m) => {
            m.update(message);
            m.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

/// Signing with a private key failed (ring reported an error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unable to sign the token with the {alg} key")]
pub struct SignError {
    /// The key's algorithm.
    pub alg: Algorithm,
}

/// Mints the token for a backend request: HS256 over
/// `{"exp":now+3600,"iss":iss}` with `secret`.
pub fn sign(iss: &str, secret: &[u8], now: i64) -> String {
    let mut token = signing_input(Algorithm::Hs256, iss, now);
    let signature = mac(secret, token.as_bytes());
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(signature));
    token
}

/// Mints the token for a backend request with any key: HS256, ES256 or RS256 over
/// `{"exp":now+3600,"iss":iss}`. `rng` feeds ECDSA nonces and RSA blinding.
pub fn sign_with(
    iss: &str,
    key: SigningKey<'_>,
    now: i64,
    rng: &dyn SecureRandom,
) -> Result<String, SignError> {
    let private = match key {
        SigningKey::Secret(secret) => return Ok(sign(iss, secret, now)),
        SigningKey::Private(k) => k,
    };
    let alg = private.algorithm();
    let mut token = signing_input(alg, iss, now);
    let signature = private
        .sign(token.as_bytes(), rng)
        .map_err(|_| SignError { alg })?;
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(signature));
    Ok(token)
}

/// The signed part of a token: `header.claims`, base64url.
fn signing_input(alg: Algorithm, iss: &str, now: i64) -> String {
    let exp = now.saturating_add(TOKEN_LIFETIME);
    let iss_json = Json::String(iss.to_owned()).to_string();
    let claims = format!(r#"{{"exp":{exp},"iss":{iss_json}}}"#);
    let mut token = URL_SAFE_NO_PAD.encode(header_json(alg));
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(claims));
    token
}

/// Constant-time byte comparison.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `exp` converted as `QVariant::toInt` would (missing or unconvertible → 0).
fn exp_as_int(exp: Option<&Json>) -> i64 {
    i64::from(exp.and_then(qt::json_to_int).unwrap_or(0))
}

/// Checks a `Grip-Sig` value against an HMAC `secret` at time `now`; `Ok` with
/// the claims object means the client is trusted.
pub fn verify(
    token: &[u8],
    secret: &[u8],
    now: i64,
) -> Result<serde_json::Map<String, Json>, SigError> {
    verify_with(token, VerifyingKey::Secret(secret), now)
}

/// Checks a `Grip-Sig` value against any key at time `now`; `Ok` with the claims
/// object means the client is trusted.
pub fn verify_with(
    token: &[u8],
    key: VerifyingKey<'_>,
    now: i64,
) -> Result<serde_json::Map<String, Json>, SigError> {
    let token = std::str::from_utf8(token).map_err(|_| SigError::Malformed)?;
    let mut parts = token.rsplitn(3, '.');
    let (Some(signature), Some(claims_b64), Some(header_b64)) =
        (parts.next(), parts.next(), parts.next())
    else {
        return Err(SigError::Malformed);
    };

    let header: Json = URL_SAFE_LENIENT
        .decode(header_b64)
        .ok()
        .and_then(|h| serde_json::from_slice(&h).ok())
        .ok_or(SigError::Malformed)?;
    let alg = header
        .as_object()
        .and_then(|h| h.get("alg"))
        .ok_or(SigError::Malformed)?;
    let expected_alg = key.algorithm();
    if alg.as_str() != Some(expected_alg.as_str()) {
        return Err(SigError::Algorithm {
            expected: expected_alg,
        });
    }

    let signed_len = header_b64
        .len()
        .saturating_add(1)
        .saturating_add(claims_b64.len());
    let message = token.get(..signed_len).ok_or(SigError::Malformed)?;
    let valid = match key {
        VerifyingKey::Secret(secret) => {
            // jsonwebtoken compares the base64url text of the MAC
            let expected = URL_SAFE_NO_PAD.encode(mac(secret, message.as_bytes()));
            same(expected.as_bytes(), signature.as_bytes())
        }
        VerifyingKey::Public(public) => URL_SAFE_LENIENT
            .decode(signature)
            .is_ok_and(|sig| public.verify(message.as_bytes(), &sig)),
    };
    if !valid {
        return Err(SigError::Signature);
    }

    let claims: Json = URL_SAFE_LENIENT
        .decode(claims_b64)
        .ok()
        .and_then(|c| serde_json::from_slice(&c).ok())
        .ok_or(SigError::Malformed)?;
    let Json::Object(claims) = claims else {
        return Err(SigError::Malformed);
    };

    // the library's own check: an unsigned-integer exp older than the leeway
    if let Some(lib_exp) = claims.get("exp").and_then(Json::as_u64) {
        let limit = now.saturating_sub(LIBRARY_LEEWAY);
        if i64::try_from(lib_exp).is_ok_and(|e| e < limit) {
            return Err(SigError::Expired {
                exp: exp_as_int(claims.get("exp")),
                now,
            });
        }
    }

    let exp = exp_as_int(claims.get("exp"));
    if exp <= 0 || i64::from(qt::truncate_i64(now)) >= exp {
        return Err(SigError::Expired { exp, now });
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    #[test]
    fn mints_the_1_36_shape() {
        let token = sign("pushpin", b"secret", NOW);
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(
            URL_SAFE_NO_PAD.decode(parts[0]).unwrap(),
            br#"{"typ":"JWT","alg":"HS256"}"#
        );
        assert_eq!(
            URL_SAFE_NO_PAD.decode(parts[1]).unwrap(),
            br#"{"exp":1700003600,"iss":"pushpin"}"#
        );
        assert!(!token.contains('='));
        let claims = verify(token.as_bytes(), b"secret", NOW).unwrap();
        assert_eq!(claims.get("iss").and_then(Json::as_str), Some("pushpin"));
    }

    #[test]
    fn known_hs256_vector() {
        // RFC 7515-style check against an independently computed token:
        // header {"typ":"JWT","alg":"HS256"}, claims {"exp":1700003600,"iss":"myiss"}, key "secret"
        let token = sign("myiss", b"secret", NOW);
        let mut m = HmacSha256::new_from_slice(b"secret").unwrap();
        let signed = token.rsplit_once('.').unwrap().0;
        m.update(signed.as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(m.finalize().into_bytes());
        assert!(token.ends_with(&sig));
    }

    #[test]
    fn rejects_bad_tokens() {
        let token = sign("x", b"secret", NOW);
        assert_eq!(
            verify(token.as_bytes(), b"other", NOW),
            Err(SigError::Signature)
        );
        assert!(matches!(
            verify(token.as_bytes(), b"secret", NOW + 3600),
            Err(SigError::Expired { .. })
        ));
        assert!(verify(token.as_bytes(), b"secret", NOW + 3599).is_ok());
        assert_eq!(verify(b"a.b", b"secret", NOW), Err(SigError::Malformed));
        assert_eq!(verify(b"\xff", b"secret", NOW), Err(SigError::Malformed));
        let tampered = format!("{token}x");
        assert_eq!(
            verify(tampered.as_bytes(), b"secret", NOW),
            Err(SigError::Signature)
        );
    }

    fn custom(header: &str, claims: &str, secret: &[u8]) -> String {
        let mut t = URL_SAFE_NO_PAD.encode(header);
        t.push('.');
        t.push_str(&URL_SAFE_NO_PAD.encode(claims));
        let s = URL_SAFE_NO_PAD.encode(mac(secret, t.as_bytes()));
        format!("{t}.{s}")
    }

    #[test]
    fn claim_rules() {
        let h = r#"{"alg":"HS256"}"#;
        // no exp: untrusted
        let t = custom(h, r#"{"iss":"a"}"#, b"");
        assert!(matches!(
            verify(t.as_bytes(), b"", NOW),
            Err(SigError::Expired { exp: 0, .. })
        ));
        // empty secret with a future exp: trusted (the 1.36 quirk)
        let t = custom(h, &format!(r#"{{"exp":{}}}"#, NOW + 10), b"");
        assert!(verify(t.as_bytes(), b"", NOW).is_ok());
        // numeric string exp converts like QVariant::toInt
        let t = custom(h, &format!(r#"{{"exp":"{}"}}"#, NOW + 10), b"k");
        assert!(verify(t.as_bytes(), b"k", NOW).is_ok());
        // 30 s in the past
        let t = custom(h, &format!(r#"{{"exp":{}}}"#, NOW - 30), b"k");
        assert!(verify(t.as_bytes(), b"k", NOW).is_err());
        // wrong algorithm
        let t = custom(
            r#"{"alg":"HS384"}"#,
            &format!(r#"{{"exp":{}}}"#, NOW + 10),
            b"k",
        );
        assert_eq!(
            verify(t.as_bytes(), b"k", NOW),
            Err(SigError::Algorithm {
                expected: Algorithm::Hs256
            })
        );
        // claims not an object
        let t = custom(h, "[1]", b"k");
        assert_eq!(verify(t.as_bytes(), b"k", NOW), Err(SigError::Malformed));
    }

    #[test]
    fn key_config() {
        assert_eq!(
            KeyConfig::parse("base64:c2VjcmV0"),
            KeyConfig::Secret(b"secret".to_vec())
        );
        assert_eq!(
            KeyConfig::parse("plain"),
            KeyConfig::Secret(b"plain".to_vec())
        );
        assert_eq!(KeyConfig::parse(""), KeyConfig::Secret(Vec::new()));
        assert_eq!(
            KeyConfig::parse("file:k.pem"),
            KeyConfig::PemFile("k.pem".to_owned())
        );
    }
}
