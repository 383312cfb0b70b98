//! Connection ids: the decimal numbers mongrel2 gives each client connection
//! (per mongrel2 process, increasing) and handlers address responses to.

use std::fmt;
use std::str::FromStr;

use crate::wire::parse_decimal;

/// A mongrel2 connection id (`spec/mongrel2.md` §2.1, §5.1).
///
/// mongrel2 keeps them as 32-bit numbers and parses response ids with `strtoul`;
/// 64 bits hold every id either side can write. Leading zeros are accepted on
/// input (as `strtoul` does) and never written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

impl ConnId {
    /// Parses `[0-9]+` (within 64 bits).
    pub fn parse(digits: &[u8]) -> Option<Self> {
        parse_decimal(digits).map(Self)
    }

    /// The id as a number.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl From<u64> for ConnId {
    fn from(id: u64) -> Self {
        Self(id)
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// The text is not a decimal connection id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid connection id {text:?}")]
pub struct ParseConnIdError {
    text: String,
}

impl FromStr for ConnId {
    type Err = ParseConnIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s.as_bytes()).ok_or_else(|| ParseConnIdError { text: s.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_displays() {
        assert_eq!("42".parse::<ConnId>(), Ok(ConnId(42)));
        assert_eq!(ConnId(42).to_string(), "42");
        assert_eq!(ConnId::parse(b"007"), Some(ConnId(7)));
        assert!("4 2".parse::<ConnId>().is_err());
        assert!("".parse::<ConnId>().is_err());
        assert_eq!(
            "x".parse::<ConnId>().unwrap_err().to_string(),
            "invalid connection id \"x\""
        );
    }
}
