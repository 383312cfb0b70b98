//! The `application/websocket-events` body codec of WebSocket-over-HTTP
//! (`spec/grip.md` §9.2): `TYPE CRLF` or `TYPE SP HEXLEN CRLF CONTENT CRLF`, events
//! concatenated. Decoding is zero-copy (contents are slices of the body) and never
//! panics; unknown event types are skipped as in 1.36.
//!
//! Stricter than 1.36 on purpose: content shorter than its declared length, a length
//! that is not plain hex (no sign, no `0x`) or longer than 8 digits is an error (1.36
//! silently truncates or accepts Qt's looser number syntax).

use bytes::{BufMut, Bytes, BytesMut};

/// Most hex digits accepted in a content length (8 digits: < 4 GiB).
const MAX_HEXLEN_DIGITS: usize = 8;

/// An event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventType {
    Open,
    Text,
    Binary,
    Ping,
    Pong,
    Close,
    Disconnect,
}

impl EventType {
    /// The wire spelling.
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Self::Open => "OPEN",
            Self::Text => "TEXT",
            Self::Binary => "BINARY",
            Self::Ping => "PING",
            Self::Pong => "PONG",
            Self::Close => "CLOSE",
            Self::Disconnect => "DISCONNECT",
        }
    }

    fn from_bytes(b: &[u8]) -> Option<Self> {
        Some(match b {
            b"OPEN" => Self::Open,
            b"TEXT" => Self::Text,
            b"BINARY" => Self::Binary,
            b"PING" => Self::Ping,
            b"PONG" => Self::Pong,
            b"CLOSE" => Self::Close,
            b"DISCONNECT" => Self::Disconnect,
            _ => return None,
        })
    }
}

/// One event: a type and optional content (`None` writes the short form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Event {
    pub(crate) kind: EventType,
    pub(crate) content: Option<Bytes>,
}

impl Event {
    /// An event without content.
    pub(crate) const fn bare(kind: EventType) -> Self {
        Self {
            kind,
            content: None,
        }
    }

    /// An event with `content`.
    pub(crate) const fn with(kind: EventType, content: Bytes) -> Self {
        Self {
            kind,
            content: Some(content),
        }
    }

    /// Content bytes (0 without content).
    pub(crate) fn content_len(&self) -> usize {
        self.content.as_ref().map_or(0, Bytes::len)
    }

    /// The bytes [`encode`] writes for this event.
    pub(crate) fn encoded_len(&self) -> usize {
        let t = self.kind.as_str().len() + 2;
        match &self.content {
            None => t,
            Some(c) => t + 1 + hex_digits(c.len()) + c.len() + 2,
        }
    }
}

fn hex_digits(mut n: usize) -> usize {
    let mut d = 1;
    while n >= 16 {
        n /= 16;
        d += 1;
    }
    d
}

/// Why a body is not a valid event list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Error {
    /// A type line without CRLF.
    #[error("event type line without CRLF at byte {0}")]
    NoLineEnd(usize),
    /// The length after the space is not hex.
    #[error("bad content length at byte {0}")]
    BadLength(usize),
    /// The body ends inside an event's content.
    #[error("content truncated at byte {0}")]
    Truncated(usize),
}

/// Appends `events` to `buf`.
pub(crate) fn encode(events: &[Event], buf: &mut BytesMut) {
    buf.reserve(events.iter().map(Event::encoded_len).sum());
    for e in events {
        buf.put_slice(e.kind.as_str().as_bytes());
        if let Some(c) = &e.content {
            // lowercase hex, no leading zeros (as Qt's QByteArray::number(n, 16))
            let mut digits = [0u8; 16];
            let mut n = c.len();
            let mut i = digits.len();
            loop {
                i -= 1;
                digits[i] = b"0123456789abcdef"[n % 16];
                n /= 16;
                if n == 0 {
                    break;
                }
            }
            buf.put_u8(b' ');
            buf.put_slice(&digits[i..]);
            buf.put_slice(b"\r\n");
            buf.put_slice(c);
        }
        buf.put_slice(b"\r\n");
    }
}

fn find_crlf(b: &[u8]) -> Option<usize> {
    b.windows(2).position(|w| w == b"\r\n")
}

fn parse_hex(b: &[u8]) -> Option<usize> {
    if b.is_empty() || b.len() > MAX_HEXLEN_DIGITS {
        return None;
    }
    let mut n: usize = 0;
    for &c in b {
        let d = char::from(c).to_digit(16)?;
        n = n.checked_mul(16)?.checked_add(usize::try_from(d).ok()?)?;
    }
    Some(n)
}

/// Decodes a whole body. Unknown types are skipped; contents are slices of `body`.
pub(crate) fn decode(body: &Bytes) -> Result<Vec<Event>, Error> {
    let mut out = Vec::new();
    let mut start = 0usize;
    while start < body.len() {
        let rest = body.get(start..).unwrap_or_default();
        let at = find_crlf(rest).ok_or(Error::NoLineEnd(start))?;
        let line = rest.get(..at).unwrap_or_default();
        let line_start = start;
        start += at + 2;
        let (kind, content) = match line.iter().position(|&b| b == b' ') {
            Some(sp) => {
                let name = line.get(..sp).unwrap_or_default();
                let len = line
                    .get(sp + 1..)
                    .and_then(parse_hex)
                    .ok_or(Error::BadLength(line_start))?;
                let end = start.checked_add(len).ok_or(Error::Truncated(start))?;
                if end > body.len() {
                    return Err(Error::Truncated(start));
                }
                let content = body.slice(start..end);
                // the CRLF after the content is skipped unchecked, as in 1.36
                start = end.saturating_add(2);
                (name, Some(content))
            }
            None => (line, None),
        };
        if let Some(kind) = EventType::from_bytes(kind) {
            out.push(Event { kind, content });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn enc(events: &[Event]) -> Bytes {
        let mut b = BytesMut::new();
        encode(events, &mut b);
        b.freeze()
    }

    #[test]
    fn encodes_as_pushpin() {
        let body = enc(&[
            Event::bare(EventType::Open),
            Event::with(EventType::Text, Bytes::from_static(b"hello")),
            Event::with(EventType::Binary, Bytes::from(vec![0u8; 26])),
            Event::with(EventType::Close, Bytes::from_static(b"\x0f\xa5done")),
            Event::bare(EventType::Disconnect),
        ]);
        let mut want = b"OPEN\r\nTEXT 5\r\nhello\r\nBINARY 1a\r\n".to_vec();
        want.extend_from_slice(&[0u8; 26]);
        want.extend_from_slice(b"\r\nCLOSE 6\r\n\x0f\xa5done\r\nDISCONNECT\r\n");
        assert_eq!(body.as_ref(), want.as_slice());
    }

    #[test]
    fn encoded_len_matches() {
        for n in [0usize, 1, 15, 16, 255, 256, 4096, 70000] {
            let e = Event::with(EventType::Text, Bytes::from(vec![b'x'; n]));
            assert_eq!(enc(std::slice::from_ref(&e)).len(), e.encoded_len());
        }
        let e = Event::bare(EventType::Ping);
        assert_eq!(enc(std::slice::from_ref(&e)).len(), e.encoded_len());
    }

    #[test]
    fn decodes_every_type_and_skips_unknown() {
        let body = Bytes::from_static(
            b"OPEN\r\ntext 2\r\nhi\r\nTEXT 2\r\nhi\r\nBINARY 0\r\n\r\nPING\r\nPONG 1\r\nx\r\nCLOSE 2\r\n\x0f\xa2\r\nDISCONNECT\r\n",
        );
        let events = decode(&body).unwrap();
        let kinds: Vec<EventType> = events.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [
                EventType::Open,
                EventType::Text,
                EventType::Binary,
                EventType::Ping,
                EventType::Pong,
                EventType::Close,
                EventType::Disconnect
            ]
        );
        assert_eq!(events[1].content.as_deref(), Some(&b"hi"[..]));
        assert_eq!(events[2].content.as_deref(), Some(&b""[..]));
        assert_eq!(events[3].content, None);
        assert_eq!(events[5].content.as_deref(), Some(&b"\x0f\xa2"[..]));
    }

    #[test]
    fn empty_body_is_no_events() {
        assert_eq!(decode(&Bytes::new()).unwrap(), vec![]);
    }

    #[test]
    fn trailing_crlf_is_not_checked() {
        // 1.36 skips two bytes after the content without looking at them
        let events = decode(&Bytes::from_static(b"TEXT 2\r\nhiXXOPEN\r\n")).unwrap();
        assert_eq!(events.len(), 2);
        // and a body may end right after the content
        let events = decode(&Bytes::from_static(b"TEXT 2\r\nhi")).unwrap();
        assert_eq!(events.len(), 1);
    }

    #[test]
    fn malformed_bodies() {
        let cases: &[(&[u8], Error)] = &[
            (b"OPEN", Error::NoLineEnd(0)),
            (b"OPEN\r\nTEXT 2", Error::NoLineEnd(6)),
            (b"TEXT zz\r\nhi\r\n", Error::BadLength(0)),
            (b"TEXT \r\n", Error::BadLength(0)),
            (b"TEXT -1\r\n", Error::BadLength(0)),
            (b"TEXT 0x2\r\nhi\r\n", Error::BadLength(0)),
            (b"TEXT 123456789\r\n", Error::BadLength(0)),
            (b"TEXT 5\r\nhi\r\n", Error::Truncated(8)),
            (b"TEXT ffffffff\r\n", Error::Truncated(15)),
        ];
        for (body, want) in cases {
            assert_eq!(
                decode(&Bytes::from_static(body)).unwrap_err(),
                *want,
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    fn kind() -> impl Strategy<Value = EventType> {
        prop_oneof![
            Just(EventType::Open),
            Just(EventType::Text),
            Just(EventType::Binary),
            Just(EventType::Ping),
            Just(EventType::Pong),
            Just(EventType::Close),
            Just(EventType::Disconnect),
        ]
    }

    fn event() -> impl Strategy<Value = Event> {
        (
            kind(),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300)),
        )
            .prop_map(|(kind, c)| Event {
                kind,
                content: c.map(Bytes::from),
            })
    }

    proptest! {
        #[test]
        fn decode_never_panics(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode(&Bytes::from(body));
        }

        #[test]
        fn decode_never_panics_on_near_valid(
            events in proptest::collection::vec(event(), 0..8),
            cut in any::<usize>(),
            flip in any::<(usize, u8)>(),
        ) {
            let body = enc(&events);
            let cut = if body.is_empty() { 0 } else { cut % body.len() };
            let _ = decode(&body.slice(..cut));
            let mut v = body.to_vec();
            if !v.is_empty() {
                let i = flip.0 % v.len();
                v[i] = flip.1;
            }
            let _ = decode(&Bytes::from(v));
        }

        #[test]
        fn round_trip(events in proptest::collection::vec(event(), 0..16)) {
            let body = enc(&events);
            prop_assert_eq!(decode(&body).unwrap(), events);
        }
    }
}
