//! PEM keys for `Grip-Sig` (`file:` `sig_key` / `upstream_key`): EC P-256 keys sign and
//! verify ES256, RSA keys RS256 (`spec/grip.md` §2.2).
//!
//! What 1.36 accepts (its `jsonwebtoken` 8 crate, checked against the real binaries, see
//! `tests/data/README.md`), and so what we accept:
//!
//! | PEM type | holds | use |
//! |----------|-------|-----|
//! | `PRIVATE KEY` (PKCS#8) | EC P-256 or RSA private key | `sig_key` |
//! | `RSA PRIVATE KEY` (PKCS#1) | RSA private key | `sig_key` |
//! | `PUBLIC KEY` (SPKI) | EC P-256 or RSA public key | `upstream_key` |
//! | `RSA PUBLIC KEY` (PKCS#1) | RSA public key | `upstream_key` |
//!
//! `EC PRIVATE KEY` (SEC1, `openssl ecparam -genkey` output), other curves, Ed25519,
//! encrypted keys and RSA moduli outside ring's limits (2048–4096 bits to sign, 2048–8192
//! to verify) are refused, as 1.36 refuses them; only the first PEM block is read. A private
//! key where a public one is expected (or the reverse) parses fine here; the caller decides
//! (1.36 then fails every signature or every check).
//!
//! Parsing is pure; `rng` is only passed through to ring.

use std::fmt;

use ring::rand::SecureRandom;
use ring::signature::{
    self, ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _,
    RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair, UnparsedPublicKey,
};

/// DER contents of the `id-ecPublicKey` OID (1.2.840.10045.2.1).
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// DER contents of the `prime256v1` / P-256 OID (1.2.840.10045.3.1.7).
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// DER contents of the `rsaEncryption` OID (1.2.840.113549.1.1.1).
const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

/// Smallest RSA modulus ring verifies RS256 with, in bits.
const RSA_VERIFY_MIN_BITS: usize = 2048;
/// Largest RSA modulus ring verifies RS256 with, in bits.
const RSA_VERIFY_MAX_BITS: usize = 8192;

/// A JWS algorithm `Grip-Sig` uses; the key type decides which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// HMAC SHA-256 (secret keys).
    Hs256,
    /// ECDSA P-256 SHA-256 (EC keys).
    Es256,
    /// RSASSA-PKCS1-v1_5 SHA-256 (RSA keys).
    Rs256,
}

impl Algorithm {
    /// The JOSE `alg` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hs256 => "HS256",
            Self::Es256 => "ES256",
            Self::Rs256 => "RS256",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why PEM text is not a key we can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// No well-formed PEM block (the reason is the `pem` crate's).
    #[error("not a PEM key ({reason})")]
    Pem {
        /// What the PEM parser reported.
        reason: String,
    },
    /// `EC PRIVATE KEY`: 1.36 only takes EC private keys in PKCS#8.
    #[error(
        "\"EC PRIVATE KEY\" (SEC1) keys are not supported, as in Pushpin 1.36; convert it with `openssl pkcs8 -topk8 -nocrypt -in KEY`"
    )]
    Sec1,
    /// A PEM type that is not a key we read.
    #[error(
        "unsupported PEM type \"{tag}\" (expected PRIVATE KEY, RSA PRIVATE KEY, PUBLIC KEY or RSA PUBLIC KEY)"
    )]
    UnsupportedType {
        /// The `BEGIN` label.
        tag: String,
    },
    /// The DER inside the PEM block is not the structure its type announces.
    #[error("malformed {tag} structure")]
    Der {
        /// The `BEGIN` label.
        tag: &'static str,
    },
    /// A PKCS#8 or SPKI key that is neither EC nor RSA (e.g. Ed25519).
    #[error("unsupported key algorithm (only EC P-256 and RSA keys are supported)")]
    UnsupportedAlgorithm,
    /// An EC key on another curve than P-256.
    #[error("EC key is not on curve P-256 (ES256 needs P-256)")]
    UnsupportedCurve,
    /// The key parsed but ring refused it.
    #[error("{what} rejected: {reason}")]
    Rejected {
        /// Which kind of key.
        what: &'static str,
        /// ring's reason (`TooSmall`, `InvalidEncoding`, ...).
        reason: String,
    },
    /// An RSA private key too small or too large for ring to sign with.
    #[error("RSA private key rejected: {reason} (RS256 signing needs 2048 to 4096 bits)")]
    RsaPrivateSize {
        /// ring's reason (`TooSmall` or `TooLarge`).
        reason: String,
    },
    /// An RSA public key too small or too large for RS256 verification.
    #[error("RSA public key of {bits} bits (RS256 verification needs 2048 to 8192 bits)")]
    RsaSize {
        /// Modulus size.
        bits: usize,
    },
}

fn rejected(what: &'static str) -> impl FnOnce(ring::error::KeyRejected) -> KeyError {
    move |e| {
        let reason = e.to_string();
        if what == RSA_PRIVATE && (reason == "TooSmall" || reason == "TooLarge") {
            KeyError::RsaPrivateSize { reason }
        } else {
            KeyError::Rejected { what, reason }
        }
    }
}

/// The `what` of RSA private key errors.
const RSA_PRIVATE: &str = "RSA private key";

/// A private key that signs `Grip-Sig` tokens (boxed: ring's key pairs are large).
pub struct PrivateKey(Box<Private>);

enum Private {
    Ec(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

impl PrivateKey {
    /// ES256 for EC keys, RS256 for RSA keys.
    pub fn algorithm(&self) -> Algorithm {
        match &*self.0 {
            Private::Ec(_) => Algorithm::Es256,
            Private::Rsa(_) => Algorithm::Rs256,
        }
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        match &*self.0 {
            Private::Ec(k) => PublicKey {
                alg: Algorithm::Es256,
                bytes: k.public_key().as_ref().to_vec(),
            },
            Private::Rsa(k) => PublicKey {
                alg: Algorithm::Rs256,
                bytes: k.public().as_ref().to_vec(),
            },
        }
    }

    /// The raw JWS signature of `message`.
    pub(crate) fn sign(
        &self,
        message: &[u8],
        rng: &dyn SecureRandom,
    ) -> Result<Vec<u8>, ring::error::Unspecified> {
        match &*self.0 {
            Private::Ec(k) => Ok(k.sign(rng, message)?.as_ref().to_vec()),
            Private::Rsa(k) => {
                let mut out = vec![0; k.public().modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, rng, message, &mut out)?;
                Ok(out)
            }
        }
    }
}

impl PartialEq for PrivateKey {
    /// Same algorithm and same public half (the private half follows from it).
    fn eq(&self, other: &Self) -> bool {
        self.public_key() == other.public_key()
    }
}

impl Eq for PrivateKey {}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey({})", self.algorithm())
    }
}

/// A public key that checks `Grip-Sig` tokens.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    alg: Algorithm,
    /// EC: the uncompressed point; RSA: the PKCS#1 `RSAPublicKey` DER (what ring takes).
    bytes: Vec<u8>,
}

impl PublicKey {
    /// ES256 for EC keys, RS256 for RSA keys.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// Whether `signature` is a valid raw JWS signature of `message`.
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let alg: &'static dyn signature::VerificationAlgorithm = match self.alg {
            Algorithm::Es256 => &ECDSA_P256_SHA256_FIXED,
            Algorithm::Rs256 => &RSA_PKCS1_2048_8192_SHA256,
            Algorithm::Hs256 => return false,
        };
        UnparsedPublicKey::new(alg, &self.bytes)
            .verify(message, signature)
            .is_ok()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({}, {} bytes)", self.alg, self.bytes.len())
    }
}

/// The key in a PEM file.
#[derive(Debug, PartialEq, Eq)]
pub enum PemKey {
    /// A private key (signs).
    Private(PrivateKey),
    /// A public key (verifies).
    Public(PublicKey),
}

impl PemKey {
    /// Parses the first PEM block of `text`.
    pub fn from_pem(text: &[u8], rng: &dyn SecureRandom) -> Result<Self, KeyError> {
        let block = pem::parse(text).map_err(|e| KeyError::Pem {
            reason: e.to_string(),
        })?;
        let der = block.contents();
        match block.tag() {
            "PRIVATE KEY" => pkcs8(der, rng).map(|k| Self::Private(PrivateKey(Box::new(k)))),
            "RSA PRIVATE KEY" => RsaKeyPair::from_der(der)
                .map(|k| Self::Private(PrivateKey(Box::new(Private::Rsa(k)))))
                .map_err(rejected(RSA_PRIVATE)),
            "PUBLIC KEY" => spki(der).map(Self::Public),
            "RSA PUBLIC KEY" => rsa_public(der, "RSA PUBLIC KEY").map(Self::Public),
            "EC PRIVATE KEY" => Err(KeyError::Sec1),
            tag => Err(KeyError::UnsupportedType {
                tag: tag.to_owned(),
            }),
        }
    }
}

/// `PrivateKeyInfo`: SEQUENCE { INTEGER version, AlgorithmIdentifier, OCTET STRING, ... }.
fn pkcs8(der: &[u8], rng: &dyn SecureRandom) -> Result<Private, KeyError> {
    const TAG: &str = "PRIVATE KEY";
    let bad = || KeyError::Der { tag: TAG };
    let mut outer = Der::new(der);
    let mut info = outer.expect(SEQUENCE).ok_or_else(bad)?;
    info.expect(INTEGER).ok_or_else(bad)?;
    let (oid, curve) = algorithm_identifier(&mut info).ok_or_else(bad)?;
    if oid == OID_EC_PUBLIC_KEY {
        if curve != Some(OID_P256) {
            return Err(KeyError::UnsupportedCurve);
        }
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, rng)
            .map(Private::Ec)
            .map_err(rejected("EC P-256 private key"))
    } else if oid == OID_RSA {
        RsaKeyPair::from_pkcs8(der)
            .map(Private::Rsa)
            .map_err(rejected(RSA_PRIVATE))
    } else {
        Err(KeyError::UnsupportedAlgorithm)
    }
}

/// `SubjectPublicKeyInfo`: SEQUENCE { AlgorithmIdentifier, BIT STRING }.
fn spki(der: &[u8]) -> Result<PublicKey, KeyError> {
    const TAG: &str = "PUBLIC KEY";
    let bad = || KeyError::Der { tag: TAG };
    let mut outer = Der::new(der);
    let mut info = outer.expect(SEQUENCE).ok_or_else(bad)?;
    let (oid, curve) = algorithm_identifier(&mut info).ok_or_else(bad)?;
    let bits = info.expect(BIT_STRING).ok_or_else(bad)?.rest;
    // the first byte counts unused bits, 0 for keys
    let Some((&0, key)) = bits.split_first() else {
        return Err(bad());
    };
    if oid == OID_EC_PUBLIC_KEY {
        if curve != Some(OID_P256) {
            return Err(KeyError::UnsupportedCurve);
        }
        // uncompressed point: 0x04 || x || y, the only form ring (and 1.36) verify with
        if key.len() != 65 || key.first() != Some(&4) {
            return Err(KeyError::Rejected {
                what: "EC P-256 public key",
                reason: "not an uncompressed point".to_owned(),
            });
        }
        Ok(PublicKey {
            alg: Algorithm::Es256,
            bytes: key.to_vec(),
        })
    } else if oid == OID_RSA {
        rsa_public(key, TAG)
    } else {
        Err(KeyError::UnsupportedAlgorithm)
    }
}

/// PKCS#1 `RSAPublicKey`: SEQUENCE { INTEGER n, INTEGER e }; checks the modulus size.
fn rsa_public(der: &[u8], tag: &'static str) -> Result<PublicKey, KeyError> {
    let bad = || KeyError::Der { tag };
    let mut outer = Der::new(der);
    let mut seq = outer.expect(SEQUENCE).ok_or_else(bad)?;
    let n = seq.expect(INTEGER).ok_or_else(bad)?.rest;
    seq.expect(INTEGER).ok_or_else(bad)?;
    let bits = unsigned_bits(n);
    if !(RSA_VERIFY_MIN_BITS..=RSA_VERIFY_MAX_BITS).contains(&bits) {
        return Err(KeyError::RsaSize { bits });
    }
    Ok(PublicKey {
        alg: Algorithm::Rs256,
        bytes: der.to_vec(),
    })
}

/// Significant bits of a DER INTEGER's big-endian bytes.
fn unsigned_bits(n: &[u8]) -> usize {
    let Some(start) = n.iter().position(|&b| b != 0) else {
        return 0;
    };
    let rest = n.len().saturating_sub(start);
    let top = n
        .get(start)
        .map_or(0, |b| (u8::BITS - b.leading_zeros()) as usize);
    rest.saturating_sub(1).saturating_mul(8).saturating_add(top)
}

/// AlgorithmIdentifier: SEQUENCE { OID, parameters }; returns the OID and, when the
/// parameters are an OID (a named curve), that OID.
fn algorithm_identifier<'a>(der: &mut Der<'a>) -> Option<(&'a [u8], Option<&'a [u8]>)> {
    let mut alg = der.expect(SEQUENCE)?;
    let oid = alg.expect(OID)?.rest;
    let param = alg.next().filter(|(t, _)| *t == OID).map(|(_, v)| v);
    Some((oid, param))
}

const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OID: u8 = 0x06;
const SEQUENCE: u8 = 0x30;

/// Just enough DER to find the algorithm of a key: tag-length-value reads with checked
/// lengths (single-byte tags, definite lengths up to four bytes).
struct Der<'a> {
    rest: &'a [u8],
}

impl<'a> Der<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    /// The next element's tag and contents.
    fn next(&mut self) -> Option<(u8, &'a [u8])> {
        let (&tag, rest) = self.rest.split_first()?;
        let (&first, mut rest) = rest.split_first()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 {
                return None;
            }
            let (len_bytes, after) = rest.split_at_checked(n)?;
            rest = after;
            len_bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
        };
        let (value, after) = rest.split_at_checked(len)?;
        self.rest = after;
        Some((tag, value))
    }

    /// The next element, which must have `tag`, as a reader over its contents.
    fn expect(&mut self, tag: u8) -> Option<Self> {
        match self.next()? {
            (t, value) if t == tag => Some(Self::new(value)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_reader_bounds() {
        // truncated, oversized and indefinite lengths are errors, never panics
        for bad in [
            &[][..],
            &[0x30],
            &[0x30, 0x05, 0x00],
            &[0x30, 0x80],
            &[0x30, 0x85, 1, 2, 3, 4, 5],
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
        ] {
            assert!(Der::new(bad).next().is_none(), "{bad:?}");
        }
        let mut d = Der::new(&[0x02, 0x81, 0x01, 0x07, 0x05, 0x00]);
        assert_eq!(d.next(), Some((INTEGER, &[7u8][..])));
        assert_eq!(d.next(), Some((0x05, &[][..])));
        assert_eq!(d.next(), None);
    }

    #[test]
    fn modulus_bits() {
        assert_eq!(unsigned_bits(&[]), 0);
        assert_eq!(unsigned_bits(&[0, 0]), 0);
        assert_eq!(unsigned_bits(&[0, 0x80, 0]), 16);
        assert_eq!(unsigned_bits(&[0x01]), 1);
        assert_eq!(unsigned_bits(&[0x7f, 0xff]), 15);
    }
}
