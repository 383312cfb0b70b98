//! ZeroMQ endpoint specs (`ipc://path`, `tcp://host:port`, `inproc://name`) as written in
//! pushpin.conf, internal.conf, zurl.conf and `zhttp/` route targets (spec/internal.md §1).
//!
//! [`ZmqSpec`] parses with `FromStr` and prints back the same text with `Display`. Lists are
//! comma-separated in the INI files (QSettings splits them before this module sees them).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// One ZeroMQ endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ZmqSpec {
    /// `ipc://path`; a relative path is relative to the process's working directory.
    Ipc(PathBuf),
    /// `tcp://host:port`; `host` may be `*` (bind all), a name, or an IP (IPv6 without the
    /// brackets of the written form).
    Tcp {
        /// Host as written, without IPv6 brackets.
        host: String,
        /// Port.
        port: u16,
    },
    /// `inproc://name`.
    Inproc(String),
}

/// Why a spec could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// No `scheme://`.
    #[error("missing \"://\"")]
    NoScheme,
    /// A scheme other than ipc, tcp, inproc.
    #[error("unsupported transport {0:?}")]
    UnknownScheme(String),
    /// Nothing after `://`.
    #[error("empty address")]
    Empty,
    /// A tcp spec without a port, or a port outside 0–65535.
    #[error("tcp needs host:port with a port number")]
    BadPort,
    /// An IPv6 bracket is not closed.
    #[error("unclosed [ in host")]
    BadHost,
}

impl FromStr for ZmqSpec {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (scheme, rest) = s.split_once("://").ok_or(SpecError::NoScheme)?;
        if rest.is_empty() {
            return Err(SpecError::Empty);
        }
        match scheme {
            "ipc" => Ok(Self::Ipc(PathBuf::from(rest))),
            "inproc" => Ok(Self::Inproc(rest.to_string())),
            "tcp" => {
                let (host, port) = split_host_port(rest)?;
                let port = port.parse::<u16>().map_err(|_| SpecError::BadPort)?;
                if port.to_string() != port_text(rest) {
                    return Err(SpecError::BadPort);
                }
                Ok(Self::Tcp {
                    host: host.to_string(),
                    port,
                })
            }
            other => Err(SpecError::UnknownScheme(other.to_string())),
        }
    }
}

fn port_text(rest: &str) -> &str {
    rest.rsplit_once(':').map_or("", |(_, p)| p)
}

/// Splits `host:port` or `[v6]:port` (host returned without brackets).
fn split_host_port(rest: &str) -> Result<(&str, &str), SpecError> {
    if let Some(v6) = rest.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or(SpecError::BadHost)?;
        let port = after.strip_prefix(':').ok_or(SpecError::BadPort)?;
        return Ok((host, port));
    }
    let (host, port) = rest.rsplit_once(':').ok_or(SpecError::BadPort)?;
    if host.is_empty() {
        return Err(SpecError::Empty);
    }
    Ok((host, port))
}

impl fmt::Display for ZmqSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ipc(path) => write!(f, "ipc://{}", path.display()),
            Self::Tcp { host, port } if host.contains(':') => write!(f, "tcp://[{host}]:{port}"),
            Self::Tcp { host, port } => write!(f, "tcp://{host}:{port}"),
            Self::Inproc(name) => write!(f, "inproc://{name}"),
        }
    }
}

impl ZmqSpec {
    /// The socket file of an `ipc://` spec.
    pub fn ipc_path(&self) -> Option<&std::path::Path> {
        match self {
            Self::Ipc(p) => Some(p),
            Self::Tcp { .. } | Self::Inproc(_) => None,
        }
    }

    /// The spec with a suffix on the ipc path / inproc name, or `port + n` for tcp: how a
    /// `zhttp/<base>` route target derives its three sockets (spec/config.md §8.2). `None` when
    /// the port overflows.
    pub fn derive(&self, suffix: &str, port_add: u16) -> Option<Self> {
        Some(match self {
            Self::Ipc(p) => {
                let mut s = p.clone().into_os_string();
                s.push(suffix);
                Self::Ipc(PathBuf::from(s))
            }
            Self::Inproc(n) => Self::Inproc(format!("{n}{suffix}")),
            Self::Tcp { host, port } => Self::Tcp {
                host: host.clone(),
                port: port.checked_add(port_add)?,
            },
        })
    }
}

/// Parses a list of specs, returning the first error with the element at fault.
pub fn parse_list<S: AsRef<str>>(items: &[S]) -> Result<Vec<ZmqSpec>, (String, SpecError)> {
    items
        .iter()
        .map(|s| s.as_ref().parse().map_err(|e| (s.as_ref().to_string(), e)))
        .collect()
}

/// Formats a list as Pushpin writes it (comma-separated).
pub fn format_list(specs: &[ZmqSpec]) -> String {
    specs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for s in [
            "ipc://run/pushpin-inspect",
            "ipc:///var/run/zurl/zurl-in",
            "tcp://127.0.0.1:5560",
            "tcp://*:5560",
            "tcp://[::1]:5560",
            "tcp://localhost:0",
            "inproc://x",
        ] {
            let spec: ZmqSpec = s.parse().expect(s);
            assert_eq!(spec.to_string(), s);
        }
    }

    #[test]
    fn typed_fields() {
        assert_eq!(
            "tcp://[::1]:80".parse::<ZmqSpec>(),
            Ok(ZmqSpec::Tcp {
                host: "::1".into(),
                port: 80
            })
        );
        assert_eq!(
            "ipc://a/b".parse::<ZmqSpec>(),
            Ok(ZmqSpec::Ipc("a/b".into()))
        );
    }

    #[test]
    fn errors() {
        assert_eq!("run/x".parse::<ZmqSpec>(), Err(SpecError::NoScheme));
        assert_eq!(
            "udp://x".parse::<ZmqSpec>(),
            Err(SpecError::UnknownScheme("udp".into()))
        );
        assert_eq!("ipc://".parse::<ZmqSpec>(), Err(SpecError::Empty));
        assert_eq!("tcp://host".parse::<ZmqSpec>(), Err(SpecError::BadPort));
        assert_eq!(
            "tcp://host:70000".parse::<ZmqSpec>(),
            Err(SpecError::BadPort)
        );
        assert_eq!("tcp://host:+80".parse::<ZmqSpec>(), Err(SpecError::BadPort));
        assert_eq!("tcp://:80".parse::<ZmqSpec>(), Err(SpecError::Empty));
        assert_eq!("tcp://[::1:80".parse::<ZmqSpec>(), Err(SpecError::BadHost));
        assert_eq!("tcp://[::1]80".parse::<ZmqSpec>(), Err(SpecError::BadPort));
    }

    #[test]
    fn derive_zhttp_sockets() {
        let ipc: ZmqSpec = "ipc://run/custom".parse().expect("spec");
        assert_eq!(
            ipc.derive("-out", 0).map(|s| s.to_string()),
            Some("ipc://run/custom-out".into())
        );
        let tcp: ZmqSpec = "tcp://127.0.0.1:9000".parse().expect("spec");
        assert_eq!(
            tcp.derive("", 2).map(|s| s.to_string()),
            Some("tcp://127.0.0.1:9002".into())
        );
        let top: ZmqSpec = "tcp://h:65535".parse().expect("spec");
        assert_eq!(top.derive("", 1), None);
    }

    #[test]
    fn lists() {
        let l = parse_list(&["ipc://a", "tcp://b:1"]).expect("list");
        assert_eq!(format_list(&l), "ipc://a,tcp://b:1");
        assert_eq!(
            parse_list(&["ipc://a", "x"]),
            Err(("x".to_string(), SpecError::NoScheme))
        );
    }
}
