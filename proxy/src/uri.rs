//! The absolute request URI of a ZHTTP packet (`scheme://authority/path?query`), split
//! just enough for routing and rewriting: scheme, host (lowercased), port, path, query.
//! Bytes in, typed value out; anything malformed is an error, never a panic.

use std::fmt;

/// A URI that could not be split.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum UriError {
    /// Not UTF-8 text.
    #[error("uri is not utf-8")]
    NotText,
    /// No `scheme://`.
    #[error("uri has no scheme")]
    NoScheme,
    /// A scheme other than http, https, ws, wss.
    #[error("unsupported uri scheme {0:?}")]
    Scheme(String),
    /// Empty host or a bad port.
    #[error("invalid uri authority {0:?}")]
    Authority(String),
}

/// A parsed absolute URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Uri {
    /// `http`, `https`, `ws` or `wss`.
    pub(crate) scheme: String,
    /// Host, lowercased (IPv6 literals keep their brackets).
    pub(crate) host: String,
    /// Explicit port, if written.
    pub(crate) port: Option<u16>,
    /// Path, percent-encoded as received; `/` when empty.
    pub(crate) path: String,
    /// Query without `?`, if any.
    pub(crate) query: Option<String>,
}

impl Uri {
    /// Splits `text`.
    pub(crate) fn parse(text: &[u8]) -> Result<Self, UriError> {
        let text = std::str::from_utf8(text).map_err(|_| UriError::NotText)?;
        let (scheme, rest) = text.split_once("://").ok_or(UriError::NoScheme)?;
        let scheme = scheme.to_ascii_lowercase();
        if !matches!(scheme.as_str(), "http" | "https" | "ws" | "wss") {
            return Err(UriError::Scheme(scheme));
        }
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
        let (host, port) = split_authority(authority)?;
        let tail = tail.split_once('#').map_or(tail, |(t, _)| t);
        let (path, query) = match tail.split_once('?') {
            Some((p, q)) => (p, Some(q.to_string())),
            None => (tail, None),
        };
        let path = if path.is_empty() { "/" } else { path };
        Ok(Self {
            scheme,
            host: host.to_ascii_lowercase(),
            port,
            path: path.to_string(),
            query,
        })
    }

    /// TLS towards the client (`https`/`wss`).
    pub(crate) fn is_tls(&self) -> bool {
        matches!(self.scheme.as_str(), "https" | "wss")
    }

    /// A WebSocket URI (`ws`/`wss`).
    pub(crate) fn is_websocket(&self) -> bool {
        matches!(self.scheme.as_str(), "ws" | "wss")
    }

    /// The scheme's default port.
    pub(crate) fn default_port(&self) -> u16 {
        if self.is_tls() { 443 } else { 80 }
    }

    /// `host[:port]`, the port only when it is not the scheme default.
    pub(crate) fn authority(&self) -> String {
        match self.port {
            Some(p) if p != self.default_port() => format!("{}:{p}", self.host),
            _ => self.host.clone(),
        }
    }

    /// Path and query as sent on a request line.
    pub(crate) fn path_and_query(&self) -> String {
        match &self.query {
            Some(q) => format!("{}?{q}", self.path),
            None => self.path.clone(),
        }
    }

    /// Replaces host and port from a `host[:port]` text (`as_host`, target `host=`).
    pub(crate) fn set_authority(&mut self, authority: &str) -> Result<(), UriError> {
        let (host, port) = split_authority(authority)?;
        self.host = host.to_ascii_lowercase();
        self.port = port;
        Ok(())
    }

    /// The values of query parameter `name`, percent-decoded (lossily).
    pub(crate) fn query_values(&self, name: &str) -> Vec<String> {
        let Some(q) = &self.query else {
            return Vec::new();
        };
        q.split('&')
            .filter_map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (percent_decode(k) == name).then(|| percent_decode(v))
            })
            .collect()
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}{}",
            self.scheme,
            self.authority(),
            self.path_and_query()
        )
    }
}

fn split_authority(authority: &str) -> Result<(&str, Option<u16>), UriError> {
    let bad = || UriError::Authority(authority.to_string());
    let (host, port) = if authority.starts_with('[') {
        let close = authority.find(']').ok_or_else(bad)?;
        let (h, rest) = authority.split_at(close.checked_add(1).ok_or_else(bad)?);
        match rest.strip_prefix(':') {
            Some(p) => (h, Some(p)),
            None if rest.is_empty() => (h, None),
            None => return Err(bad()),
        }
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(bad());
    }
    let port = match port {
        Some("") | None => None,
        Some(p) => Some(p.parse::<u16>().map_err(|_| bad())?),
    };
    Ok((host, port))
}

/// Percent-decodes `s` (`+` is kept), lossily as UTF-8.
pub(crate) fn percent_decode(s: &str) -> String {
    String::from_utf8_lossy(&percent_decode_bytes(s.as_bytes())).into_owned()
}

/// Percent-decodes bytes (`+` is kept; a `%` not followed by two hex digits stays).
pub(crate) fn percent_decode_bytes(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        if b == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(v) = hex {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_uris() {
        let u = Uri::parse(b"http://Example.COM:8080/a/b?x=1&channel=a%20b").unwrap();
        assert_eq!(u.host, "example.com");
        assert_eq!(u.port, Some(8080));
        assert_eq!(u.path, "/a/b");
        assert_eq!(u.query_values("channel"), vec!["a b".to_string()]);
        assert_eq!(
            u.to_string(),
            "http://example.com:8080/a/b?x=1&channel=a%20b"
        );
        let u = Uri::parse(b"https://h").unwrap();
        assert_eq!(u.path, "/");
        assert!(u.is_tls());
        assert_eq!(u.authority(), "h");
        assert!(Uri::parse(b"ftp://h/").is_err());
        assert!(Uri::parse(b"http://:80/").is_err());
        assert!(Uri::parse(b"http://h:99999/").is_err());
        assert!(Uri::parse(b"nonsense").is_err());
        assert!(Uri::parse(&[0xff, 0xfe]).is_err());
    }

    #[test]
    fn percent_decoding_never_panics() {
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("%41b"), "Ab");
    }
}
