//! JWT keys as configured for `Grip-Sig` (`[proxy] sig_key`, `upstream_key`, route `sig_key`):
//! a plain secret, `base64:` + a base64 secret, or `file:` + a PEM file (Pushpin's
//! `Jwt::EncodingKey::fromConfigString`, spec/config.md §6 and §8.2).
//!
//! Parsing never reads files: a `file:` value is a [`ConfigKey::PemFile`] path (relative paths
//! joined to the config or routes file's directory). [`load_pem_keys`] is the load-path step
//! that reads and parses them into [`ConfigKey::Pem`], the way 1.36 reads them when it loads
//! the config or the routes. What 1.36 then does with a key that is not usable:
//!
//! * file missing or unreadable → a *null* key: nothing is signed with it (a route's key
//!   then falls back to `[proxy] sig_key`), and no client is trusted with it;
//! * file read but not a key it can use (garbage, `EC PRIVATE KEY`, P-384, a public key as
//!   `sig_key`, ...) → every signature fails (`failed to sign request`, no `Grip-Sig`) and
//!   every check fails. 1.36 logs nothing at load; the proxy logs both cases once.
//!
//! `Debug` never shows secret bytes: keys must not reach a log.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use pushpin_grip::sig::{KeyError, PemKey, SecureRandom};

use crate::qt;

/// Where a key comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum ConfigKey {
    /// An HMAC (HS256) secret: the UTF-8 bytes of the value, or the decoded `base64:` value.
    Secret(Vec<u8>),
    /// `file:PATH`: a PEM key file, relative paths already joined to the base directory; not
    /// read yet (see [`load_pem_keys`]).
    PemFile(PathBuf),
    /// A `file:` key after [`load_pem_keys`]: the path and what was found there.
    Pem(Arc<LoadedPem>),
}

/// A `file:` key as loaded.
#[derive(Debug)]
pub struct LoadedPem {
    /// The file (absolute, or relative to the working directory as 1.36 would open it).
    pub path: PathBuf,
    /// The key, or why there is none.
    pub key: Result<PemKey, PemLoadError>,
}

/// Why a `file:` key is not usable.
#[derive(Debug, thiserror::Error)]
pub enum PemLoadError {
    /// The file could not be read (1.36: a null key).
    #[error("unable to read the file: {0}")]
    Read(std::io::Error),
    /// The file is not a key we can use (1.36: a key that fails every use).
    #[error(transparent)]
    Key(#[from] KeyError),
}

impl PartialEq for LoadedPem {
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path
            && match (&self.key, &other.key) {
                (Ok(a), Ok(b)) => a == b,
                (Err(PemLoadError::Read(a)), Err(PemLoadError::Read(b))) => a.kind() == b.kind(),
                (Err(PemLoadError::Key(a)), Err(PemLoadError::Key(b))) => a == b,
                _ => false,
            }
    }
}

impl Eq for LoadedPem {}

impl LoadedPem {
    /// Reads and parses `path`.
    pub fn load(path: &Path, rng: &dyn SecureRandom) -> Self {
        let key = std::fs::read(path)
            .map_err(PemLoadError::Read)
            .and_then(|bytes| PemKey::from_pem(&bytes, rng).map_err(PemLoadError::from));
        Self {
            path: path.to_path_buf(),
            key,
        }
    }
}

/// Reads and parses every [`ConfigKey::PemFile`] among `keys` (each file once), turning it into
/// [`ConfigKey::Pem`]; other keys are left alone, so calling it again does nothing. This is
/// file I/O: call it from the load path (startup, route reloads), off async threads.
pub fn load_pem_keys<'a>(
    keys: impl IntoIterator<Item = &'a mut ConfigKey>,
    rng: &dyn SecureRandom,
) {
    let mut seen: HashMap<PathBuf, Arc<LoadedPem>> = HashMap::new();
    for key in keys {
        if let ConfigKey::PemFile(path) = key {
            let loaded = seen
                .entry(path.clone())
                .or_insert_with(|| Arc::new(LoadedPem::load(path, rng)))
                .clone();
            *key = ConfigKey::Pem(loaded);
        }
    }
}

impl ConfigKey {
    /// Pushpin's `fromConfigString`: `file:` (relative to `base_dir`), `base64:` (decoded
    /// leniently like Qt), else the text itself. The flag is true when `base64:` text had
    /// characters Qt skips.
    pub fn from_config_string(s: &str, base_dir: &Path) -> (Self, bool) {
        if let Some(file) = s.strip_prefix("file:") {
            let path = Path::new(file);
            let path = if path.is_relative() {
                base_dir.join(path)
            } else {
                path.to_path_buf()
            };
            (Self::PemFile(path), false)
        } else if let Some(b64) = s.strip_prefix("base64:") {
            let (bytes, lossy) = qt::from_base64(b64);
            (Self::Secret(bytes), lossy)
        } else {
            (Self::Secret(s.as_bytes().to_vec()), false)
        }
    }

    /// True for an empty secret (which 1.36 still uses to sign).
    pub fn is_empty_secret(&self) -> bool {
        matches!(self, Self::Secret(s) if s.is_empty())
    }
}

impl fmt::Debug for ConfigKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Secret(s) => write!(f, "Secret(<{} bytes redacted>)", s.len()),
            Self::PemFile(p) => f.debug_tuple("PemFile").field(p).finish(),
            Self::Pem(p) => f.debug_tuple("Pem").field(&p.path).field(&p.key).finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let base = Path::new("/etc/pushpin");
        assert_eq!(
            ConfigKey::from_config_string("changeme", base),
            (ConfigKey::Secret(b"changeme".to_vec()), false)
        );
        assert_eq!(
            ConfigKey::from_config_string("base64:aGVsbG8=", base),
            (ConfigKey::Secret(b"hello".to_vec()), false)
        );
        assert_eq!(
            ConfigKey::from_config_string("base64:aGV!sbG8", base),
            (ConfigKey::Secret(b"hello".to_vec()), true)
        );
        assert_eq!(
            ConfigKey::from_config_string("file:keys/k.pem", base),
            (ConfigKey::PemFile("/etc/pushpin/keys/k.pem".into()), false)
        );
        assert_eq!(
            ConfigKey::from_config_string("file:/k.pem", base),
            (ConfigKey::PemFile("/k.pem".into()), false)
        );
        assert!(ConfigKey::from_config_string("", base).0.is_empty_secret());
    }

    fn data(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../grip/tests/data")
            .join(name)
    }

    fn loaded(key: &ConfigKey) -> &LoadedPem {
        match key {
            ConfigKey::Pem(p) => p,
            other => panic!("not loaded: {other:?}"),
        }
    }

    #[test]
    fn load_pem_keys_reads_each_file_once() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, b"not a key").unwrap();
        let ec = data("ec-p256-pkcs8.pem");
        let mut keys = [
            ConfigKey::PemFile(ec.clone()),
            ConfigKey::Secret(b"s".to_vec()),
            ConfigKey::PemFile(dir.path().join("missing.pem")),
            ConfigKey::PemFile(garbage),
            ConfigKey::PemFile(ec.clone()),
            ConfigKey::PemFile(data("rsa2048-pub.pem")),
        ];
        let rng = pushpin_grip::sig::SystemRandom::new();
        load_pem_keys(keys.iter_mut(), &rng);
        let [a, s, missing, garbage, b, public] = &keys;
        assert!(matches!(&loaded(a).key, Ok(PemKey::Private(_))));
        assert_eq!(loaded(a).path, ec);
        assert_eq!(s, &ConfigKey::Secret(b"s".to_vec()));
        match &loaded(missing).key {
            Err(PemLoadError::Read(e)) => assert_eq!(e.kind(), std::io::ErrorKind::NotFound),
            other => panic!("{other:?}"),
        }
        let e = loaded(garbage).key.as_ref().unwrap_err();
        assert!(matches!(e, PemLoadError::Key(KeyError::Pem { .. })));
        assert!(e.to_string().starts_with("not a PEM key"), "{e}");
        if let (ConfigKey::Pem(x), ConfigKey::Pem(y)) = (a, b) {
            assert!(Arc::ptr_eq(x, y), "one read per file");
        }
        assert!(matches!(&loaded(public).key, Ok(PemKey::Public(_))));
        // Debug shows the path and kind, never key material
        let d = format!("{a:?}");
        assert!(
            d.contains("ec-p256-pkcs8.pem") && d.contains("PrivateKey(ES256)"),
            "{d}"
        );
        // loading again changes nothing
        let before = keys.clone();
        load_pem_keys(keys.iter_mut(), &rng);
        assert_eq!(keys, before);
    }

    #[test]
    fn debug_redacts() {
        let k = ConfigKey::Secret(b"topsecret".to_vec());
        let d = format!("{k:?}");
        assert!(!d.contains("topsecret"));
        assert!(d.contains("9 bytes"));
    }
}
