//! JWT keys as configured for `Grip-Sig` (`[proxy] sig_key`, `upstream_key`, route `sig_key`):
//! a plain secret, `base64:` + a base64 secret, or `file:` + a PEM file (Pushpin's
//! `Jwt::EncodingKey::fromConfigString`, spec/config.md §6 and §8.2).
//!
//! `Debug` never shows secret bytes: keys must not reach a log.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::qt;

/// Where a key comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum ConfigKey {
    /// An HMAC (HS256) secret: the UTF-8 bytes of the value, or the decoded `base64:` value.
    Secret(Vec<u8>),
    /// `file:PATH`: a PEM key file, relative paths already joined to the base directory.
    PemFile(PathBuf),
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

    #[test]
    fn debug_redacts() {
        let k = ConfigKey::Secret(b"topsecret".to_vec());
        let d = format!("{k:?}");
        assert!(!d.contains("topsecret"));
        assert!(d.contains("9 bytes"));
    }
}
