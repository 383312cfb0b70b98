//! Typed configuration of the connection manager, and the parsing of condure 1.9's
//! command-line values into it (`spec/zhttp.md` §11.1, `spec/runner.md` §3.1):
//! `--listen=[addr:]port[,stream][,local]` and `--zclient-stream=BASE`, whose three
//! endpoints are derived as condure does (`-out`, `-out-stream`, `-in` for ipc bases;
//! PORT, PORT+1, PORT+2 for tcp bases).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use pushpin_zmq::SocketSpec;

/// condure's default instance id (`--id`).
pub const DEFAULT_ID: &str = "condure";
/// condure's default connection buffer size (`--buffer-size`), also the response
/// credits granted per request and the largest request header block.
pub const DEFAULT_BUFFER_SIZE: usize = 8192;
/// condure's default most concurrent stream-mode connections (`--stream-maxconn`).
pub const DEFAULT_STREAM_MAXCONN: usize = 10000;
/// condure's default client idle timeout in stream mode (`--stream-timeout`, 1800 s).
pub const DEFAULT_STREAM_TIMEOUT: Duration = Duration::from_secs(1800);
/// How long a client may take to send a complete request header block once it has
/// started one (slowloris guard; condure has no separate limit and uses its idle
/// timeout).
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// Where one listener accepts clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    /// A TCP address (IPv4 or IPv6).
    Tcp(SocketAddr),
    /// A Unix socket path (`PATH,local`).
    Local(PathBuf),
}

/// One `--listen` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listen {
    /// The address.
    pub addr: ListenAddr,
    /// TLS (`,tls`), with the `default-cert=NAME` identity if given.
    pub tls: Option<TlsListen>,
}

impl Listen {
    /// A plain listener on `addr`.
    pub fn plain(addr: ListenAddr) -> Self {
        Self { addr, tls: None }
    }
}

/// TLS options of a listener.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsListen {
    /// Identity used when the client sends no (or an unknown) SNI name.
    pub default_cert: Option<String>,
}

/// The three ZeroMQ endpoints of one `--zclient-stream` base.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZclientStream {
    /// PUSH, first packets (`<base>-out`).
    pub out: SocketSpec,
    /// ROUTER, later packets (`<base>-out-stream`).
    pub out_stream: SocketSpec,
    /// SUB, responses (`<base>-in`).
    pub inbound: SocketSpec,
}

/// Everything [`run`](crate::run) needs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Instance id: our `from`, and the SUB topic responders address.
    pub id: String,
    /// Listeners, in command-line order.
    pub listen: Vec<Listen>,
    /// ZHTTP endpoint triples.
    pub zclient_stream: Vec<ZclientStream>,
    /// Connect the ZeroMQ sockets instead of binding them.
    pub zclient_connect: bool,
    /// Where TLS identities (`NAME.crt`, `NAME.key`) are read from.
    pub tls_identities_dir: PathBuf,
    /// Permissions for ipc socket files we bind.
    pub ipc_file_mode: Option<u32>,
    /// Connection buffer size: response credits per request, largest header block.
    pub buffer_size: usize,
    /// Most concurrent client connections.
    pub stream_maxconn: usize,
    /// Client idle timeout between requests.
    pub stream_timeout: Duration,
    /// Longest time to receive a request header block once started.
    pub header_timeout: Duration,
    /// ZHTTP keep-alive interval per session (45 s).
    pub keep_alive_interval: Duration,
    /// ZHTTP session timeout without any responder packet (60 s).
    pub session_timeout: Duration,
    /// Longest wait for sessions to end on shutdown.
    pub shutdown_grace: Duration,
}

impl Config {
    /// A config with condure's defaults, the given listeners and one zclient base.
    pub fn new(listen: Vec<Listen>, zclient_stream: Vec<ZclientStream>) -> Self {
        Self {
            id: DEFAULT_ID.to_owned(),
            listen,
            zclient_stream,
            zclient_connect: false,
            ipc_file_mode: None,
            tls_identities_dir: PathBuf::from("."),
            buffer_size: DEFAULT_BUFFER_SIZE,
            stream_maxconn: DEFAULT_STREAM_MAXCONN,
            stream_timeout: DEFAULT_STREAM_TIMEOUT,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            keep_alive_interval: pushpin_zhttp::session::KEEP_ALIVE_INTERVAL,
            session_timeout: pushpin_zhttp::session::SESSION_TIMEOUT,
            shutdown_grace: Duration::from_secs(2),
        }
    }

    /// Every problem with the config, one message each (empty when valid).
    pub fn validate(&self) -> Vec<String> {
        let mut errors = Vec::new();
        if self.id.is_empty() || self.id.contains(' ') {
            errors.push(format!(
                "invalid id {:?}: must be non-empty without spaces",
                self.id
            ));
        }
        if self.listen.is_empty() {
            errors.push("no listeners".to_owned());
        }
        if self.zclient_stream.is_empty() {
            errors.push("no zclient stream spec".to_owned());
        }
        if self.buffer_size < 64 || u32::try_from(self.buffer_size).is_err() {
            errors.push(format!("invalid buffer size {}", self.buffer_size));
        }
        if self.stream_maxconn == 0 {
            errors.push("stream maxconn must be at least 1".to_owned());
        }
        errors
    }
}

/// A `--listen` or `--zclient-stream` value that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The address part is not `[addr:]port` or a path.
    #[error("invalid listen address {0:?}")]
    Address(String),
    /// A parameter is unknown or not supported by this build.
    #[error("unsupported listen parameter {param:?} in {value:?}")]
    Param {
        /// The parameter.
        param: String,
        /// The whole value.
        value: String,
    },
    /// The zclient base is not an `ipc://` or `tcp://` spec.
    #[error("invalid zclient spec base {0:?}")]
    Zclient(String),
}

/// Parses `[addr:]port[,stream][,tls][,default-cert=NAME][,local]` (condure's
/// `--listen`). `req` listeners are reported as unsupported rather than silently
/// served as stream.
pub fn parse_listen(value: &str) -> Result<Listen, ParseError> {
    let mut parts = value.split(',');
    let addr = parts.next().unwrap_or_default().trim();
    let mut local = false;
    let mut tls: Option<TlsListen> = None;
    for param in parts {
        match param.trim() {
            "stream" | "" => {}
            "local" => local = true,
            "tls" => {
                tls.get_or_insert_with(TlsListen::default);
            }
            p if p.starts_with("default-cert=") => {
                tls.get_or_insert_with(TlsListen::default).default_cert =
                    Some(p.trim_start_matches("default-cert=").to_owned());
            }
            other => {
                return Err(ParseError::Param {
                    param: other.to_owned(),
                    value: value.to_owned(),
                });
            }
        }
    }
    if addr.is_empty() {
        return Err(ParseError::Address(value.to_owned()));
    }
    if local {
        if tls.is_some() {
            return Err(ParseError::Param {
                param: "tls".to_owned(),
                value: value.to_owned(),
            });
        }
        return Ok(Listen::plain(ListenAddr::Local(PathBuf::from(addr))));
    }
    let sock = if let Ok(port) = addr.parse::<u16>() {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)
    } else {
        addr.parse::<SocketAddr>()
            .map_err(|_| ParseError::Address(value.to_owned()))?
    };
    Ok(Listen {
        addr: ListenAddr::Tcp(sock),
        tls,
    })
}

/// Derives the three endpoints of a `--zclient-stream` base as condure does.
pub fn parse_zclient_stream(base: &str) -> Result<ZclientStream, ParseError> {
    let bad = || ParseError::Zclient(base.to_owned());
    if base.starts_with("ipc://") {
        let spec = |suffix: &str| SocketSpec::parse(&format!("{base}{suffix}")).map_err(|_| bad());
        return Ok(ZclientStream {
            out: spec("-out")?,
            out_stream: spec("-out-stream")?,
            inbound: spec("-in")?,
        });
    }
    match SocketSpec::parse(base).map_err(|_| bad())? {
        SocketSpec::Tcp { host, port } => {
            let at = |n: u16| {
                port.checked_add(n).map(|port| SocketSpec::Tcp {
                    host: host.clone(),
                    port,
                })
            };
            Ok(ZclientStream {
                out: at(0).ok_or_else(bad)?,
                out_stream: at(1).ok_or_else(bad)?,
                inbound: at(2).ok_or_else(bad)?,
            })
        }
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_forms() {
        assert_eq!(
            parse_listen("0.0.0.0:7999,stream").unwrap().addr,
            ListenAddr::Tcp("0.0.0.0:7999".parse().unwrap())
        );
        assert_eq!(
            parse_listen("8000").unwrap().addr,
            ListenAddr::Tcp("0.0.0.0:8000".parse().unwrap())
        );
        assert_eq!(
            parse_listen("[::1]:80,stream").unwrap().addr,
            ListenAddr::Tcp("[::1]:80".parse().unwrap())
        );
        assert_eq!(
            parse_listen("/run/pushpin-server,local,stream")
                .unwrap()
                .addr,
            ListenAddr::Local("/run/pushpin-server".into())
        );
        let tls = parse_listen("1.2.3.4:443,stream,tls,default-cert=default_443").unwrap();
        assert_eq!(
            tls.tls.unwrap().default_cert.as_deref(),
            Some("default_443")
        );
        assert!(matches!(
            parse_listen("1.2.3.4:80,req"),
            Err(ParseError::Param { .. })
        ));
        assert!(matches!(
            parse_listen("/x,local,tls"),
            Err(ParseError::Param { .. })
        ));
        assert!(matches!(
            parse_listen("nope:x"),
            Err(ParseError::Address(_))
        ));
        assert!(matches!(parse_listen(""), Err(ParseError::Address(_))));
    }

    #[test]
    fn zclient_forms() {
        let z = parse_zclient_stream("ipc:///run/pushpin-condure").unwrap();
        assert_eq!(z.out.endpoint(), "ipc:///run/pushpin-condure-out");
        assert_eq!(
            z.out_stream.endpoint(),
            "ipc:///run/pushpin-condure-out-stream"
        );
        assert_eq!(z.inbound.endpoint(), "ipc:///run/pushpin-condure-in");
        let z = parse_zclient_stream("tcp://127.0.0.1:5000").unwrap();
        assert_eq!(z.out_stream.endpoint(), "tcp://127.0.0.1:5001");
        assert_eq!(z.inbound.endpoint(), "tcp://127.0.0.1:5002");
        assert!(parse_zclient_stream("tcp://127.0.0.1:65535").is_err());
        assert!(parse_zclient_stream("bogus").is_err());
    }
}
