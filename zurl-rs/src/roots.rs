//! The certificate authorities origin certificates are checked against: the system's
//! store, read once per process with `rustls-native-certs` (which honours `SSL_CERT_FILE`
//! and `SSL_CERT_DIR`, else finds the distribution's bundle and directory the way
//! OpenSSL's default paths do), or the compiled-in webpki (Mozilla) roots when the system
//! store yields no usable certificate. Nothing is downloaded at run time.
//!
//! [`system`] loads and logs on first use and returns the same store afterwards; the
//! conversion of loaded certificates into a store is the pure [`from_certs`].

use std::sync::OnceLock;

use sha1::{Digest as _, Sha1};
use tokio_rustls::rustls::{self, RootCertStore, pki_types::CertificateDer};
use tracing::{info, warn};

/// Certificates or load errors warned about one by one; the rest are summed up in one line.
pub const MAX_WARNINGS: usize = 10;

/// Where the trust anchors came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The system's store (`SSL_CERT_FILE`, `SSL_CERT_DIR`, or the distribution's).
    System,
    /// The compiled-in webpki roots: the system store had no usable certificate.
    Bundled,
}

/// A certificate from the system store that could not be used as a trust anchor.
#[derive(Debug)]
pub struct Rejected {
    /// SHA-1 fingerprint of the DER bytes, as `openssl x509 -fingerprint -sha1` prints it.
    pub fingerprint: String,
    /// Why rustls refused it.
    pub error: rustls::Error,
}

/// The trust anchors, and what loading them found.
#[derive(Debug)]
pub struct Roots {
    /// The store every verifying TLS configuration starts from.
    pub store: RootCertStore,
    /// Where `store` came from.
    pub source: Source,
    /// Usable certificates the system store gave (0 when `source` is `Bundled`).
    pub system_added: usize,
    /// System certificates that failed to parse.
    pub rejected: Vec<Rejected>,
}

/// The system's roots, loaded and logged on the first call (blocking file I/O: call it
/// at startup, off the runtime threads), the same store on every later call.
pub fn system() -> &'static Roots {
    static ROOTS: OnceLock<Roots> = OnceLock::new();
    ROOTS.get_or_init(load)
}

fn load() -> Roots {
    let loaded = rustls_native_certs::load_native_certs();
    let env = |name| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned());
    let (file, dir) = (env("SSL_CERT_FILE"), env("SSL_CERT_DIR"));
    for e in loaded.errors.iter().take(MAX_WARNINGS) {
        warn!(error = %e, "reading the system's root certificates");
    }
    if loaded.errors.len() > MAX_WARNINGS {
        warn!(
            "{} more errors reading the system's root certificates",
            loaded.errors.len() - MAX_WARNINGS
        );
    }
    let roots = from_certs(loaded.certs);
    for r in roots.rejected.iter().take(MAX_WARNINGS) {
        warn!(
            fingerprint = %r.fingerprint,
            error = %r.error,
            "ignoring a system root certificate that failed to parse"
        );
    }
    if roots.rejected.len() > MAX_WARNINGS {
        warn!(
            "ignoring {} more system root certificates that failed to parse",
            roots.rejected.len() - MAX_WARNINGS
        );
    }
    let from = match (&file, &dir) {
        (None, None) => String::new(),
        (Some(f), None) => format!(" (SSL_CERT_FILE={f})"),
        (None, Some(d)) => format!(" (SSL_CERT_DIR={d})"),
        (Some(f), Some(d)) => format!(" (SSL_CERT_FILE={f}, SSL_CERT_DIR={d})"),
    };
    match roots.source {
        Source::System => info!(
            "loaded {} root certificates from the system store{from}",
            roots.system_added
        ),
        Source::Bundled => warn!(
            "no usable root certificates in the system store{from}; using the {} bundled webpki roots",
            roots.store.len()
        ),
    }
    roots
}

/// Builds the store from the certificates the system store gave: every one rustls can
/// use, or the webpki roots when there is none.
pub fn from_certs(certs: Vec<CertificateDer<'static>>) -> Roots {
    let mut store = RootCertStore::empty();
    let mut rejected = Vec::new();
    for cert in certs {
        let fingerprint = fingerprint(&cert);
        if let Err(error) = store.add(cert) {
            rejected.push(Rejected { fingerprint, error });
        }
    }
    let system_added = store.len();
    if system_added == 0 {
        return Roots {
            store: bundled(),
            source: Source::Bundled,
            system_added,
            rejected,
        };
    }
    Roots {
        store,
        source: Source::System,
        system_added,
        rejected,
    }
}

/// The compiled-in webpki (Mozilla) roots.
pub fn bundled() -> RootCertStore {
    RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

fn fingerprint(der: &[u8]) -> String {
    let digest = Sha1::digest(der);
    let hex: Vec<String> = digest.iter().map(|b| format!("{b:02X}")).collect();
    hex.join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca_der() -> CertificateDer<'static> {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().clone()
    }

    #[test]
    fn system_certificates_are_used_when_any_parses() {
        let garbage = CertificateDer::from(b"not a certificate".to_vec());
        let roots = from_certs(vec![garbage, ca_der()]);
        assert_eq!(roots.source, Source::System);
        assert_eq!((roots.system_added, roots.store.len()), (1, 1));
        assert_eq!(roots.rejected.len(), 1);
        assert_eq!(roots.rejected[0].fingerprint.len(), 59);
    }

    #[test]
    fn bundled_roots_when_the_system_store_has_nothing_usable() {
        let garbage = CertificateDer::from(vec![0x30, 0x00]);
        for certs in [vec![], vec![garbage]] {
            let n = certs.len();
            let roots = from_certs(certs);
            assert_eq!(roots.source, Source::Bundled);
            assert_eq!(roots.system_added, 0);
            assert_eq!(roots.rejected.len(), n);
            assert_eq!(roots.store.len(), webpki_roots::TLS_SERVER_ROOTS.len());
        }
    }

    #[test]
    fn fingerprint_is_openssl_style() {
        // SHA-1 of the empty input.
        assert_eq!(
            fingerprint(b""),
            "DA:39:A3:EE:5E:6B:4B:0D:32:55:BF:EF:95:60:18:90:AF:D8:07:09"
        );
    }
}
