//! Socket spec strings (`ipc://path`, `tcp://host:port`, `inproc://name`) as
//! written in `pushpin.conf` and on command lines, and whether a socket binds
//! or connects them.
//!
//! Parsing checks the shape only; the host of a `tcp://` spec is kept as
//! written (libzmq resolves it, and it may be `*`, an interface name or a
//! bracketed IPv6 address). Relative ipc paths stay relative: Pushpin opens
//! `ipc://run/…` against the current directory (`spec/config.md` §3.3).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// One ZeroMQ endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SocketSpec {
    /// `ipc://path`: a unix socket file (or a Linux abstract name `@name`).
    Ipc(PathBuf),
    /// `tcp://host:port`; port 0 (also written `*`) asks for an ephemeral port
    /// when binding (read the result with
    /// [`AsyncSocket::last_endpoint`](crate::AsyncSocket::last_endpoint)).
    Tcp {
        /// Host, address, `*` or interface, as written.
        host: String,
        /// Port number.
        port: u16,
    },
    /// `inproc://name`: in-process, between sockets of this crate's context.
    Inproc(String),
}

/// Whether a socket binds or connects its specs.
///
/// Pushpin decides per config key; with a list, [`Mode::Bind`] binds only the
/// first spec and [`Mode::Connect`] connects all of them (`ZUtil::setupSocket`,
/// `spec/internal.md` §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Bind (listen).
    Bind,
    /// Connect (libzmq reconnects in the background).
    Connect,
}

/// A spec string that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid socket spec {spec:?}: {kind}")]
pub struct SpecError {
    /// The input, as given.
    pub spec: String,
    /// What is wrong with it.
    pub kind: SpecErrorKind,
}

/// What is wrong with a spec string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecErrorKind {
    /// Nothing but whitespace.
    Empty,
    /// No `scheme://` prefix.
    MissingScheme,
    /// A scheme other than `ipc`, `tcp` or `inproc`.
    UnknownScheme,
    /// Nothing after `scheme://`.
    EmptyAddress,
    /// A `tcp://` spec without `:port` (or with an empty host).
    MissingPort,
    /// A `tcp://` port that is not `*` or a number in 0..=65535.
    InvalidPort,
}

impl SpecErrorKind {
    /// Short description, used in error messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::MissingScheme => "missing scheme (expected ipc://, tcp:// or inproc://)",
            Self::UnknownScheme => "unknown scheme (expected ipc://, tcp:// or inproc://)",
            Self::EmptyAddress => "empty address",
            Self::MissingPort => "missing host or port (expected tcp://host:port)",
            Self::InvalidPort => "invalid port",
        }
    }
}

impl fmt::Display for SpecErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl SocketSpec {
    /// Parses one spec; surrounding whitespace is ignored.
    pub fn parse(s: &str) -> Result<Self, SpecError> {
        let err = |kind| SpecError {
            spec: s.to_owned(),
            kind,
        };
        let t = s.trim();
        if t.is_empty() {
            return Err(err(SpecErrorKind::Empty));
        }
        let Some((scheme, addr)) = t.split_once("://") else {
            return Err(err(SpecErrorKind::MissingScheme));
        };
        if addr.is_empty() {
            return Err(err(SpecErrorKind::EmptyAddress));
        }
        match scheme {
            "ipc" => Ok(Self::Ipc(PathBuf::from(addr))),
            "inproc" => Ok(Self::Inproc(addr.to_owned())),
            "tcp" => {
                let Some((host, port)) = addr.rsplit_once(':') else {
                    return Err(err(SpecErrorKind::MissingPort));
                };
                if host.is_empty() || port.is_empty() {
                    return Err(err(SpecErrorKind::MissingPort));
                }
                let port = if port == "*" {
                    0
                } else if port.bytes().all(|b| b.is_ascii_digit()) {
                    port.parse::<u16>()
                        .map_err(|_| err(SpecErrorKind::InvalidPort))?
                } else {
                    return Err(err(SpecErrorKind::InvalidPort));
                };
                Ok(Self::Tcp {
                    host: host.to_owned(),
                    port,
                })
            }
            _ => Err(err(SpecErrorKind::UnknownScheme)),
        }
    }

    /// Parses a comma-separated list as Pushpin's settings store reads it:
    /// elements are trimmed and empty elements are skipped.
    pub fn parse_list(s: &str) -> Result<Vec<Self>, SpecError> {
        s.split(',')
            .filter(|e| !e.trim().is_empty())
            .map(Self::parse)
            .collect()
    }

    /// The ipc path, for `ipc://` specs.
    pub fn ipc_path(&self) -> Option<&Path> {
        match self {
            Self::Ipc(p) => Some(p),
            _ => None,
        }
    }

    /// The endpoint string handed to libzmq (same as `Display`).
    pub fn endpoint(&self) -> String {
        self.to_string()
    }
}

impl FromStr for SocketSpec {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for SocketSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ipc(p) => write!(f, "ipc://{}", p.display()),
            Self::Tcp { host, port } => write!(f, "tcp://{host}:{port}"),
            Self::Inproc(name) => write!(f, "inproc://{name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(s: &str) -> SpecErrorKind {
        SocketSpec::parse(s).unwrap_err().kind
    }

    #[test]
    fn parses_each_scheme() {
        assert_eq!(
            SocketSpec::parse("ipc://run/pushpin-condure-out").unwrap(),
            SocketSpec::Ipc(PathBuf::from("run/pushpin-condure-out"))
        );
        assert_eq!(
            SocketSpec::parse("ipc:///var/run/zurl/zurl-in").unwrap(),
            SocketSpec::Ipc(PathBuf::from("/var/run/zurl/zurl-in"))
        );
        assert_eq!(
            SocketSpec::parse(" tcp://127.0.0.1:5560 ").unwrap(),
            SocketSpec::Tcp {
                host: "127.0.0.1".into(),
                port: 5560
            }
        );
        assert_eq!(
            SocketSpec::parse("tcp://[::1]:5561").unwrap(),
            SocketSpec::Tcp {
                host: "[::1]".into(),
                port: 5561
            }
        );
        assert_eq!(
            SocketSpec::parse("tcp://*:*").unwrap(),
            SocketSpec::Tcp {
                host: "*".into(),
                port: 0
            }
        );
        assert_eq!(
            SocketSpec::parse("inproc://x").unwrap(),
            SocketSpec::Inproc("x".into())
        );
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "ipc://run/a-b",
            "ipc:///tmp/x",
            "tcp://localhost:1",
            "tcp://[::1]:65535",
            "inproc://name",
        ] {
            let spec = SocketSpec::parse(s).unwrap();
            assert_eq!(spec.to_string(), s);
            assert_eq!(spec.endpoint().parse::<SocketSpec>().unwrap(), spec);
        }
    }

    #[test]
    fn rejects_each_error_kind() {
        assert_eq!(kind("  "), SpecErrorKind::Empty);
        assert_eq!(kind("/tmp/sock"), SpecErrorKind::MissingScheme);
        assert_eq!(kind("udp://1.2.3.4:5"), SpecErrorKind::UnknownScheme);
        assert_eq!(kind("ipc://"), SpecErrorKind::EmptyAddress);
        assert_eq!(kind("tcp://host"), SpecErrorKind::MissingPort);
        assert_eq!(kind("tcp://:5"), SpecErrorKind::MissingPort);
        assert_eq!(kind("tcp://host:"), SpecErrorKind::MissingPort);
        assert_eq!(kind("tcp://host:65536"), SpecErrorKind::InvalidPort);
        assert_eq!(kind("tcp://host:+5"), SpecErrorKind::InvalidPort);
        assert_eq!(kind("tcp://host:5x"), SpecErrorKind::InvalidPort);
    }

    #[test]
    fn error_names_the_input() {
        let e = SocketSpec::parse("foo").unwrap_err();
        assert_eq!(e.spec, "foo");
        assert!(e.to_string().contains("\"foo\""), "{e}");
    }

    #[test]
    fn parses_lists_like_pushpin() {
        let list =
            SocketSpec::parse_list("ipc://run/pushpin-m2zhttp-out, ipc://run/pushpin-m2zws-out,,")
                .unwrap();
        assert_eq!(
            list,
            vec![
                SocketSpec::Ipc("run/pushpin-m2zhttp-out".into()),
                SocketSpec::Ipc("run/pushpin-m2zws-out".into()),
            ]
        );
        assert!(SocketSpec::parse_list("").unwrap().is_empty());
        assert_eq!(
            SocketSpec::parse_list("ipc://a,bogus").unwrap_err().kind,
            SpecErrorKind::MissingScheme
        );
    }

    #[test]
    fn ipc_path_only_for_ipc() {
        assert_eq!(
            SocketSpec::parse("ipc://a").unwrap().ipc_path(),
            Some(Path::new("a"))
        );
        assert_eq!(SocketSpec::parse("inproc://a").unwrap().ipc_path(), None);
    }
}
