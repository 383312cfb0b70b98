//! The typed values of ZHTTP fields: packet `type` (§5.1), error `condition` (§7),
//! WebSocket `content-type` (§8.2), `ext` (§4) and header pairs (§5.2). Each enum
//! keeps unknown wire spellings in a catch-all variant so they survive a round trip.

use std::convert::Infallible;
use std::fmt;
use std::str::FromStr;

use bytes::Bytes;

/// Declares an enum of known wire spellings plus a catch-all variant holding the raw
/// bytes, with `from_known`, `from_wire`, `as_bytes`, `as_str`, `FromStr` and `Display`.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $other:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* #[doc = concat!("`", $text, "`")] $variant, )+
            /// Any other spelling, kept as received.
            $other(Bytes),
        }

        impl $name {
            /// The variant for a known spelling; `None` for anything else.
            pub fn from_known(text: &[u8]) -> Option<Self> {
                match std::str::from_utf8(text).ok()? {
                    $( $text => Some(Self::$variant), )+
                    _ => None,
                }
            }

            /// The variant for a wire value: a known one, or the catch-all holding `text`.
            pub fn from_wire(text: Bytes) -> Self {
                Self::from_known(&text).unwrap_or(Self::$other(text))
            }

            /// The wire spelling.
            pub fn as_bytes(&self) -> &[u8] {
                match self {
                    $( Self::$variant => $text.as_bytes(), )+
                    Self::$other(b) => b,
                }
            }

            /// The wire spelling as text, if it is UTF-8 (known spellings always are).
            pub fn as_str(&self) -> Option<&str> {
                std::str::from_utf8(self.as_bytes()).ok()
            }
        }

        impl FromStr for $name {
            type Err = Infallible;

            fn from_str(s: &str) -> Result<Self, Infallible> {
                Ok(Self::from_known(s.as_bytes())
                    .unwrap_or_else(|| Self::$other(Bytes::copy_from_slice(s.as_bytes()))))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&String::from_utf8_lossy(self.as_bytes()))
            }
        }
    };
}

/// A packet's kind: the `type` field, or [`PacketType::Data`] when it is absent (§5.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum PacketType {
    /// No `type` field: request or response data, or a WebSocket message.
    #[default]
    Data,
    /// `error`: fatal, session over; see [`Condition`].
    Error,
    /// `credit`: grants `credits` more body bytes to the peer.
    Credit,
    /// `keep-alive`: refreshes the peer's session timer; also the responder's ack.
    KeepAlive,
    /// `cancel`: abort the session, no reply expected.
    Cancel,
    /// `handoff-start` (§9).
    HandoffStart,
    /// `handoff-proceed` (§9).
    HandoffProceed,
    /// `close`: WebSocket close, optional `code` and `body` (reason).
    Close,
    /// `ping`: WebSocket ping, optional `body`.
    Ping,
    /// `pong`: WebSocket pong, optional `body`.
    Pong,
    /// Any other `type` string. condure decodes it and then ends the session; the C++
    /// peers reject the packet. It is kept here so the caller decides.
    Unknown(Bytes),
}

impl PacketType {
    /// The type for a known `type` spelling; `None` for anything else (including
    /// `"data"`, which is not a wire spelling).
    pub fn from_known(text: &[u8]) -> Option<Self> {
        Some(match text {
            b"error" => Self::Error,
            b"credit" => Self::Credit,
            b"keep-alive" => Self::KeepAlive,
            b"cancel" => Self::Cancel,
            b"handoff-start" => Self::HandoffStart,
            b"handoff-proceed" => Self::HandoffProceed,
            b"close" => Self::Close,
            b"ping" => Self::Ping,
            b"pong" => Self::Pong,
            _ => return None,
        })
    }

    /// The type for a `type` field value (never [`PacketType::Data`]).
    pub fn from_wire(text: Bytes) -> Self {
        Self::from_known(&text).unwrap_or(Self::Unknown(text))
    }

    /// The `type` field value; `None` for [`PacketType::Data`], which has none.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        Some(match self {
            Self::Data => return None,
            Self::Error => b"error",
            Self::Credit => b"credit",
            Self::KeepAlive => b"keep-alive",
            Self::Cancel => b"cancel",
            Self::HandoffStart => b"handoff-start",
            Self::HandoffProceed => b"handoff-proceed",
            Self::Close => b"close",
            Self::Ping => b"ping",
            Self::Pong => b"pong",
            Self::Unknown(b) => b,
        })
    }

    /// The `type` field value as text (`"data"` for [`PacketType::Data`], for logs);
    /// `None` for an unknown type that is not UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        match self.as_bytes() {
            None => Some("data"),
            Some(b) => std::str::from_utf8(b).ok(),
        }
    }
}

impl FromStr for PacketType {
    type Err = Infallible;

    /// Parses a `type` value; `"data"` is not a wire spelling and becomes `Unknown`.
    fn from_str(s: &str) -> Result<Self, Infallible> {
        Ok(Self::from_wire(Bytes::copy_from_slice(s.as_bytes())))
    }
}

impl fmt::Display for PacketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.as_bytes() {
            None => f.write_str("data"),
            Some(b) => f.write_str(&String::from_utf8_lossy(b)),
        }
    }
}

wire_enum! {
    /// The `condition` of an `error` packet (§7).
    Condition, Other {
        /// Malformed or unsupported request packet (zurl, pushpin).
        BadRequest = "bad-request",
        /// Target host or address denied by zurl's allow/deny rules.
        PolicyViolation = "policy-violation",
        /// zurl could not connect (refused, DNS failure).
        RemoteConnectionFailed = "remote-connection-failed",
        /// zurl's connect timed out.
        ConnectionTimeout = "connection-timeout",
        /// TLS handshake or certificate verification failed.
        TlsError = "tls-error",
        /// A body was supplied where the method allows none (zurl, unconfirmed).
        ContentNotAllowed = "content-not-allowed",
        /// More than 8 redirects with `follow-redirects`.
        TooManyRedirects = "too-many-redirects",
        /// Response larger than the request's `max-size`.
        MaxSizeExceeded = "max-size-exceeded",
        /// The request's `timeout` elapsed, or no HTTP activity for zurl's `timeout`.
        SessionTimeout = "session-timeout",
        /// Anything else zurl cannot classify.
        UndefinedCondition = "undefined-condition",
        /// WebSocket handshake refused; the packet carries the HTTP response.
        Rejected = "rejected",
        /// Incoming WebSocket frame larger than zurl's `buffer_size`.
        FrameTooLarge = "frame-too-large",
        /// The mongrel2 connection vanished (m2adapter).
        Disconnected = "disconnected",
        /// Recognised by Pushpin (producer not seen).
        LengthRequired = "length-required",
    }
}

wire_enum! {
    /// The `content-type` of a WebSocket data packet (§8.2). Anything but `binary`
    /// means text.
    ContentType, Other {
        /// Text message (condure always writes it; the C++ peers write nothing).
        Text = "text",
        /// Binary message.
        Binary = "binary",
    }
}

impl ContentType {
    /// Whether the message is binary: only the exact spelling `binary` is (§5.2).
    pub fn is_binary(&self) -> bool {
        matches!(self, Self::Binary)
    }
}

/// The `ext` dictionary (§4). Other keys are ignored on decode, as the peers do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Ext {
    /// `ext.multi`: the sender understands list-form ids and invites batching.
    pub multi: bool,
    /// `ext.quiet`: lowers zurl's logging of the request (C++ initiators only).
    pub quiet: bool,
}

impl Ext {
    /// Whether `ext` would be written at all (some flag is set).
    pub const fn is_empty(&self) -> bool {
        !self.multi && !self.quiet
    }
}

/// One `[name, value]` item of `headers`, with the name's case and the item's
/// position kept as on the wire (§5.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Header {
    /// Header name as sent (client casing).
    pub name: Bytes,
    /// Header value: arbitrary bytes.
    pub value: Bytes,
}

impl Header {
    /// A header from anything that converts to `Bytes` (`&'static str`, `Vec<u8>`, ...).
    pub fn new(name: impl Into<Bytes>, value: impl Into<Bytes>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
        }
    }

    /// Whether the name equals `name`, ignoring ASCII case.
    pub fn is(&self, name: &[u8]) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }
}
