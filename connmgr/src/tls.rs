//! TLS for `--listen=ADDR:PORT,tls[,default-cert=NAME]` listeners, with certificates
//! from `--tls-identities-dir` as condure finds them: `NAME.crt` (PEM chain) and
//! `NAME.key` (PEM private key), picked by the client's SNI name (a file named
//! `_.example.com` serves `*.example.com`), else the listener's `default-cert`.
//!
//! Identities are loaded once at startup, so a missing or unreadable certificate is
//! a startup error rather than a failed handshake later.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::{ServerConfig, crypto};

/// Certificates by name, and the one used without (or with an unknown) SNI name.
struct Resolver {
    by_name: HashMap<String, Arc<CertifiedKey>>,
    default: Option<Arc<CertifiedKey>>,
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolver")
            .field("names", &self.by_name.keys().collect::<Vec<_>>())
            .field("default", &self.default.is_some())
            .finish()
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let by_sni = hello.server_name().and_then(|name| {
            let name = name.to_ascii_lowercase();
            self.by_name.get(&name).or_else(|| {
                let (_, parent) = name.split_once('.')?;
                self.by_name.get(&format!("*.{parent}"))
            })
        });
        by_sni.or(self.default.as_ref()).cloned()
    }
}

/// Loads every `NAME.crt` + `NAME.key` pair of `dir`.
fn load_dir(dir: &Path) -> anyhow::Result<HashMap<String, Arc<CertifiedKey>>> {
    let provider = crypto::ring::default_provider();
    let mut out = HashMap::new();
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("reading tls identities dir {}", dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("crt") {
            continue;
        }
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        let key_path = path.with_extension("key");
        let certs = CertificateDer::pem_file_iter(&path)
            .and_then(Iterator::collect::<Result<Vec<_>, _>>)
            .map_err(|e| anyhow::anyhow!("reading certificate {}: {e}", path.display()))?;
        if certs.is_empty() {
            bail!("no certificate in {}", path.display());
        }
        let key = PrivateKeyDer::from_pem_file(&key_path)
            .map_err(|e| anyhow::anyhow!("reading private key {}: {e}", key_path.display()))?;
        let signing = provider
            .key_provider
            .load_private_key(key)
            .with_context(|| format!("unsupported private key {}", key_path.display()))?;
        let name = match stem.strip_prefix("_.") {
            Some(rest) => format!("*.{rest}"),
            None => stem.to_owned(),
        };
        out.insert(
            name.to_ascii_lowercase(),
            Arc::new(CertifiedKey::new(certs, signing)),
        );
    }
    Ok(out)
}

/// A TLS acceptor for one listener.
pub(crate) fn acceptor(dir: &Path, default_cert: Option<&str>) -> anyhow::Result<TlsAcceptor> {
    let by_name = load_dir(dir)?;
    let default = match default_cert {
        Some(name) => Some(
            by_name
                .get(&name.to_ascii_lowercase())
                .cloned()
                .with_context(|| {
                    format!(
                        "default certificate {name:?} not found in {}",
                        dir.display()
                    )
                })?,
        ),
        None => None,
    };
    if by_name.is_empty() {
        bail!("no TLS identity (NAME.crt + NAME.key) in {}", dir.display());
    }
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .context("tls protocol versions")?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(Resolver { by_name, default }));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
