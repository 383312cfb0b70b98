//! Stream keep-alive settings (`Grip-Keep-Alive`, JSON `keep-alive`;
//! `spec/grip.md` §3.2, §5.5) and the decoders for its `cstring` and
//! `base64` data formats.

use std::fmt;
use std::str::FromStr;

use bytes::Bytes;

use crate::qt;

/// Default keep-alive timeout in seconds when none is given.
pub const DEFAULT_KEEP_ALIVE_TIMEOUT: u32 = 55;

/// Smallest keep-alive timeout in seconds; smaller values are raised to it.
pub const MIN_KEEP_ALIVE_TIMEOUT: u32 = 1;

/// When the keep-alive timer restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeepAliveMode {
    /// The timer restarts whenever data is written (header default).
    Idle,
    /// The timer is not reset by data (and every JSON keep-alive without a
    /// header mode behaves like this).
    Interval,
}

impl KeepAliveMode {
    /// The wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Interval => "interval",
        }
    }
}

impl fmt::Display for KeepAliveMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A keep-alive mode string that is neither `idle` nor `interval`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown keep-alive mode {0:?}")]
pub struct UnknownMode(pub String);

impl FromStr for KeepAliveMode {
    type Err = UnknownMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "idle" => Ok(Self::Idle),
            "interval" => Ok(Self::Interval),
            other => Err(UnknownMode(other.to_owned())),
        }
    }
}

/// How the `Grip-Keep-Alive` data is written (`format=` parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataFormat {
    /// The bytes as written (default).
    Raw,
    /// Backslash escapes, decoded by [`unescape_cstring`].
    Cstring,
    /// Standard base64, decoded leniently.
    Base64,
}

impl DataFormat {
    /// Parses the `format=` value (empty means raw); `None` if unknown.
    pub fn parse(s: &[u8]) -> Option<Self> {
        match s {
            b"" | b"raw" => Some(Self::Raw),
            b"cstring" => Some(Self::Cstring),
            b"base64" => Some(Self::Base64),
            _ => None,
        }
    }

    /// Decodes keep-alive data written in this format; `None` for invalid
    /// `cstring` data.
    pub fn decode(self, data: &[u8]) -> Option<Vec<u8>> {
        match self {
            Self::Raw => Some(data.to_vec()),
            Self::Cstring => unescape_cstring(data),
            Self::Base64 => Some(qt::from_base64_lenient(data)),
        }
    }
}

/// A keep-alive to send on a stream hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeepAlive {
    /// The bytes written on each keep-alive (may be empty for a JSON
    /// keep-alive without content).
    pub data: Bytes,
    /// Period in seconds (at least [`MIN_KEEP_ALIVE_TIMEOUT`]).
    pub timeout: u32,
    /// When the timer restarts.
    pub mode: KeepAliveMode,
}

const fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Decodes the `cstring` keep-alive format: `\\`, `\r`, `\n` and `\xHH`; any
/// other escaped character is dropped together with its backslash.
///
/// `None` for a trailing lone backslash, a short `\x`, bad hex digits, or — as
/// in 1.36, where the result is a null `QByteArray` — a result that is empty.
pub fn unescape_cstring(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len());
    let mut it = input.iter().copied();
    while let Some(b) = it.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match it.next()? {
            b'\\' => out.push(b'\\'),
            b'r' => out.push(b'\r'),
            b'n' => out.push(b'\n'),
            b'x' => {
                let hi = hex_value(it.next()?)?;
                let lo = hex_value(it.next()?)?;
                out.push((hi << 4) | lo);
            }
            _ => {}
        }
    }
    if out.is_empty() { None } else { Some(out) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cstring_escapes() {
        assert_eq!(unescape_cstring(b"\\n").unwrap(), b"\n");
        assert_eq!(unescape_cstring(b"a\\r\\n\\\\b").unwrap(), b"a\r\n\\b");
        assert_eq!(unescape_cstring(b"\\x41\\x0a").unwrap(), b"A\n");
        assert_eq!(unescape_cstring(b"a\\qb").unwrap(), b"ab");
        assert_eq!(unescape_cstring(b"a\\"), None);
        assert_eq!(unescape_cstring(b"\\x4"), None);
        assert_eq!(unescape_cstring(b"\\x4g"), None);
        assert_eq!(unescape_cstring(b"\\q"), None);
        assert_eq!(unescape_cstring(b"plain").unwrap(), b"plain");
    }

    #[test]
    fn formats_and_modes() {
        assert_eq!(DataFormat::parse(b""), Some(DataFormat::Raw));
        assert_eq!(DataFormat::parse(b"hex"), None);
        assert_eq!(DataFormat::Base64.decode(b"a2E=").unwrap(), b"ka");
        assert_eq!(
            "interval".parse::<KeepAliveMode>(),
            Ok(KeepAliveMode::Interval)
        );
        assert!("sometimes".parse::<KeepAliveMode>().is_err());
        assert_eq!(KeepAliveMode::Idle.to_string(), "idle");
    }
}
