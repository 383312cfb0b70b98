//! Validation of a session's first packet into a typed [`Request`] (spec/zhttp.md §5.2,
//! §6.7, §10.4): method, absolute URI, headers, body and the zurl options. Anything zurl
//! rejects becomes `bad-request`.

use std::time::Duration;

use bytes::Bytes;
use pushpin_zhttp::{Header, Packet, PacketType};

use crate::http1::valid_header;

/// URI scheme of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `http`
    Http,
    /// `https`
    Https,
    /// `ws`
    Ws,
    /// `wss`
    Wss,
}

impl Scheme {
    /// The scheme as written in URIs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
            Self::Ws => "ws",
            Self::Wss => "wss",
        }
    }

    /// Whether the connection uses TLS.
    pub fn is_tls(self) -> bool {
        matches!(self, Self::Https | Self::Wss)
    }

    /// Whether this is a WebSocket request.
    pub fn is_ws(self) -> bool {
        matches!(self, Self::Ws | Self::Wss)
    }

    fn default_port(self) -> u16 {
        if self.is_tls() { 443 } else { 80 }
    }
}

/// A parsed absolute URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uri {
    /// Scheme.
    pub scheme: Scheme,
    /// Host without IPv6 brackets, lower case.
    pub host: String,
    /// Port (explicit or the scheme default).
    pub port: u16,
    /// `Host` header value: host (bracketed for IPv6) plus `:port` when not the default.
    pub authority: String,
    /// Request target: path and query (at least `/`).
    pub target: Bytes,
}

/// Why a URI is not usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    /// Not `scheme://...` with a known scheme.
    #[error("unsupported scheme")]
    Scheme,
    /// Empty or malformed host or port.
    #[error("bad authority")]
    Authority,
}

impl Uri {
    /// Parses an absolute `http`, `https`, `ws` or `wss` URI.
    pub fn parse(text: &[u8]) -> Result<Self, UriError> {
        let text = std::str::from_utf8(text).map_err(|_| UriError::Authority)?;
        if text
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err(UriError::Authority);
        }
        let (scheme, rest) = text.split_once("://").ok_or(UriError::Scheme)?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            "ws" => Scheme::Ws,
            "wss" => Scheme::Wss,
            _ => return Err(UriError::Scheme),
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let tail = tail.split('#').next().unwrap_or_default();
        let authority = authority.rsplit('@').next().unwrap_or_default();
        let (host, port) = split_authority(authority)?;
        let port = match port {
            None => scheme.default_port(),
            Some(p) => p.parse::<u16>().map_err(|_| UriError::Authority)?,
        };
        if host.is_empty() || port == 0 {
            return Err(UriError::Authority);
        }
        let host = host.to_ascii_lowercase();
        let bracketed = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        let authority = if port == scheme.default_port() {
            bracketed
        } else {
            format!("{bracketed}:{port}")
        };
        let target = if tail.is_empty() {
            Bytes::from_static(b"/")
        } else if tail.starts_with('?') {
            Bytes::from(format!("/{tail}"))
        } else {
            Bytes::copy_from_slice(tail.as_bytes())
        };
        Ok(Self {
            scheme,
            host,
            port,
            authority,
            target,
        })
    }

    /// Resolves a `Location` value against this URI (absolute, `//host`, `/path`, relative).
    pub fn join(&self, location: &[u8]) -> Result<Self, UriError> {
        let loc = std::str::from_utf8(location)
            .map_err(|_| UriError::Authority)?
            .trim();
        if loc.contains("://") {
            return Self::parse(loc.as_bytes());
        }
        let scheme = self.scheme.as_str();
        let text = if let Some(rest) = loc.strip_prefix("//") {
            format!("{scheme}://{rest}")
        } else if loc.starts_with('/') {
            format!("{scheme}://{}{loc}", self.authority)
        } else {
            let path = String::from_utf8_lossy(&self.target);
            let path = path.split('?').next().unwrap_or("/");
            let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
            format!("{scheme}://{}{dir}/{loc}", self.authority)
        };
        Self::parse(text.as_bytes())
    }
}

fn split_authority(authority: &str) -> Result<(&str, Option<&str>), UriError> {
    if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or(UriError::Authority)?;
        return match after {
            "" => Ok((host, None)),
            _ => after
                .strip_prefix(':')
                .map(|p| (host, Some(p)))
                .ok_or(UriError::Authority),
        };
    }
    Ok(match authority.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    })
}

/// A validated first packet.
#[derive(Debug, Clone)]
pub struct Request {
    /// HTTP method (`GET` for WebSocket).
    pub method: Bytes,
    /// Target URI.
    pub uri: Uri,
    /// Request headers as given.
    pub headers: Vec<Header>,
    /// Body bytes carried by the first packet.
    pub body: Bytes,
    /// More body follows in later packets.
    pub more: bool,
    /// Streamed (multi-packet, credit-controlled) response wanted.
    pub stream: bool,
    /// Response body credits granted by the initiator.
    pub credits: u32,
    /// `max-size`.
    pub max_size: Option<u64>,
    /// `timeout` (total time limit).
    pub timeout: Option<Duration>,
    /// `connect-host`.
    pub connect_host: Option<String>,
    /// `connect-port`.
    pub connect_port: Option<u16>,
    /// `ignore-policies`.
    pub ignore_policies: bool,
    /// `trust-connect-host`.
    pub trust_connect_host: bool,
    /// `ignore-tls-errors`.
    pub ignore_tls_errors: bool,
    /// `follow-redirects`.
    pub follow_redirects: bool,
    /// The request asked for `ext.multi`.
    pub multi: bool,
}

/// Why a first packet is rejected (all map to `bad-request`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// Not a data packet.
    #[error("first packet is not a data packet")]
    NotData,
    /// A stream first packet whose `seq` is not 0.
    #[error("first packet seq is not 0")]
    Seq,
    /// No `uri`, or one we cannot use.
    #[error("missing or invalid uri: {0}")]
    Uri(UriError),
    /// No `method` on an HTTP request.
    #[error("missing method")]
    Method,
    /// A header that would break the request head.
    #[error("invalid header")]
    Header,
    /// `more` where it is not allowed (req interface).
    #[error("more is not allowed here")]
    More,
    /// WebSocket where it is not supported (req interface).
    #[error("websocket is not supported here")]
    WebSocket,
    /// An unusable `connect-host`.
    #[error("invalid connect-host")]
    ConnectHost,
}

impl Request {
    /// Validates a first packet. `req_mode`: received on the req interface.
    pub fn from_packet(p: &Packet, req_mode: bool) -> Result<Self, Invalid> {
        if p.ptype != PacketType::Data {
            return Err(Invalid::NotData);
        }
        if !req_mode && p.seq.is_some_and(|s| s != 0) {
            return Err(Invalid::Seq);
        }
        let uri = Uri::parse(p.uri.as_deref().ok_or(Invalid::Uri(UriError::Scheme))?)
            .map_err(Invalid::Uri)?;
        let method = match (&p.method, uri.scheme.is_ws()) {
            (Some(m), _) if valid_method(m) => m.clone(),
            (None, true) => Bytes::from_static(b"GET"),
            _ => return Err(Invalid::Method),
        };
        if req_mode && uri.scheme.is_ws() {
            return Err(Invalid::WebSocket);
        }
        if req_mode && p.more {
            return Err(Invalid::More);
        }
        let headers = p.header_list().to_vec();
        if !headers.iter().all(valid_header) {
            return Err(Invalid::Header);
        }
        let connect_host = match &p.connect_host {
            None => None,
            Some(h) => {
                let h = std::str::from_utf8(h).map_err(|_| Invalid::ConnectHost)?;
                if h.is_empty() || h.bytes().any(|b| b.is_ascii_whitespace() || b == b'/') {
                    return Err(Invalid::ConnectHost);
                }
                Some(
                    h.trim_start_matches('[')
                        .trim_end_matches(']')
                        .to_ascii_lowercase(),
                )
            }
        };
        Ok(Self {
            method,
            uri,
            headers,
            body: p.body.clone().unwrap_or_default(),
            more: p.more,
            stream: p.stream && !req_mode,
            credits: p.credits.unwrap_or(0),
            max_size: p.max_size.map(u64::from),
            timeout: p.timeout.map(|ms| Duration::from_millis(ms.into())),
            connect_host,
            connect_port: p.connect_port.filter(|&port| port != 0),
            ignore_policies: p.ignore_policies,
            trust_connect_host: p.trust_connect_host,
            ignore_tls_errors: p.ignore_tls_errors,
            follow_redirects: p.follow_redirects,
            multi: p.ext.multi,
        })
    }

    /// The host to connect to.
    pub fn connect_host(&self) -> &str {
        self.connect_host.as_deref().unwrap_or(&self.uri.host)
    }

    /// The port to connect to.
    pub fn connect_port(&self) -> u16 {
        self.connect_port.unwrap_or(self.uri.port)
    }
}

fn valid_method(m: &[u8]) -> bool {
    !m.is_empty()
        && m.len() <= 64
        && m.iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris() {
        let u = Uri::parse(b"http://127.0.0.1:17020/hello?x=1").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("127.0.0.1", 17020));
        assert_eq!(u.authority, "127.0.0.1:17020");
        assert_eq!(&u.target[..], b"/hello?x=1");
        let u = Uri::parse(b"https://Example.com?q").unwrap();
        assert_eq!((u.port, u.authority.as_str()), (443, "example.com"));
        assert_eq!(&u.target[..], b"/?q");
        let u = Uri::parse(b"ws://[::1]:99/x#frag").unwrap();
        assert_eq!((u.host.as_str(), u.authority.as_str()), ("::1", "[::1]:99"));
        assert_eq!(&u.target[..], b"/x");
        assert_eq!(Uri::parse(b"ftp://x/"), Err(UriError::Scheme));
        assert_eq!(Uri::parse(b"http:///x"), Err(UriError::Authority));
        assert_eq!(Uri::parse(b"http://h:99999/"), Err(UriError::Authority));
        assert_eq!(Uri::parse(b"http://h/a b"), Err(UriError::Authority));
    }

    #[test]
    fn joins() {
        let u = Uri::parse(b"http://h:8/a/b?c").unwrap();
        assert_eq!(&u.join(b"/x").unwrap().target[..], b"/x");
        assert_eq!(&u.join(b"y").unwrap().target[..], b"/a/y");
        assert_eq!(u.join(b"https://o/z").unwrap().authority, "o");
        assert_eq!(u.join(b"//p:9/").unwrap().authority, "p:9");
    }

    #[test]
    fn packets() {
        let mut p = Packet {
            uri: Some(Bytes::from_static(b"http://h/")),
            ..Packet::default()
        };
        assert_eq!(
            Request::from_packet(&p, false).unwrap_err(),
            Invalid::Method
        );
        p.method = Some(Bytes::from_static(b"GET"));
        assert!(Request::from_packet(&p, false).is_ok());
        p.seq = Some(3);
        assert_eq!(Request::from_packet(&p, false).unwrap_err(), Invalid::Seq);
        p.seq = None;
        p.more = true;
        assert_eq!(Request::from_packet(&p, true).unwrap_err(), Invalid::More);
        p.more = false;
        p.headers = Some(vec![Header::new("X", "a\nb")]);
        assert_eq!(
            Request::from_packet(&p, false).unwrap_err(),
            Invalid::Header
        );
        p.headers = None;
        p.uri = Some(Bytes::from_static(b"ws://h/"));
        assert_eq!(
            Request::from_packet(&p, true).unwrap_err(),
            Invalid::WebSocket
        );
    }
}
