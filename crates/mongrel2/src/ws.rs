//! WebSocket bytes a handler writes through mongrel2, as Pushpin 1.36's
//! `m2adapter` writes them (`spec/mongrel2.md` §2.4, §7.4): the `101` head (mongrel2
//! does not answer handshakes) and unmasked server frames; and the reading of a
//! client close frame's payload.

use bytes::{BufMut, Bytes, BytesMut};

use crate::http::write_response_head;

/// Opcode of a continuation frame.
pub const OPCODE_CONTINUATION: u8 = 0;
/// Opcode of a text frame.
pub const OPCODE_TEXT: u8 = 1;
/// Opcode of a binary frame.
pub const OPCODE_BINARY: u8 = 2;
/// Opcode of a close frame.
pub const OPCODE_CLOSE: u8 = 8;
/// Opcode of a ping frame.
pub const OPCODE_PING: u8 = 9;
/// Opcode of a pong frame.
pub const OPCODE_PONG: u8 = 10;

/// The close code `m2adapter` sends when the responder gave none.
pub const DEFAULT_CLOSE_CODE: u16 = 1000;

/// The reason phrase of the `101` when the responder gave none.
pub const DEFAULT_ACCEPT_REASON: &[u8] = b"Switching Protocols";

/// Appends an unmasked frame header: FIN bit, opcode, and the 7-bit, 16-bit
/// (126) or 64-bit (127) payload length.
pub fn write_frame_header(buf: &mut BytesMut, fin: bool, opcode: u8, len: u64) {
    let first = if fin { 0x80 } else { 0 } | (opcode & 0x0f);
    buf.put_u8(first);
    match len {
        0..=125 => buf.put_u8(len as u8),
        126..=0xffff => {
            buf.put_u8(126);
            buf.put_u16(len as u16);
        }
        _ => {
            buf.put_u8(127);
            buf.put_u64(len);
        }
    }
}

/// Appends a whole unmasked frame.
pub fn write_frame(buf: &mut BytesMut, fin: bool, opcode: u8, payload: &[u8]) {
    buf.reserve(payload.len().saturating_add(10));
    write_frame_header(buf, fin, opcode, payload.len() as u64);
    buf.put_slice(payload);
}

/// Appends a close frame: the code ([`DEFAULT_CLOSE_CODE`] if `None`), big
/// endian, then the reason.
pub fn write_close_frame(buf: &mut BytesMut, code: Option<u16>, reason: &[u8]) {
    let len = reason.len().saturating_add(2);
    buf.reserve(len.saturating_add(10));
    write_frame_header(buf, true, OPCODE_CLOSE, len as u64);
    buf.put_u16(code.unwrap_or(DEFAULT_CLOSE_CODE));
    buf.put_slice(reason);
}

/// Splits a client close frame's payload (the body of a `FLAGS: 0x88` message)
/// into its code and reason; fewer than two bytes means no code and no reason,
/// as `m2adapter` reads it.
pub fn parse_close_payload(payload: &[u8]) -> (Option<u16>, &[u8]) {
    match payload {
        [hi, lo, reason @ ..] => (Some(u16::from_be_bytes([*hi, *lo])), reason),
        _ => (None, &[]),
    }
}

/// Appends the `101` head `m2adapter` writes when the responder accepts a
/// WebSocket: the responder's headers minus `Connection` (and what it names),
/// `Transfer-Encoding`, `Upgrade` and `Sec-WebSocket-Accept`, then
/// `Upgrade: websocket`, `Connection: Upgrade` and
/// `Sec-WebSocket-Accept: <accept_token>` (the handshake message's body).
/// An empty `reason` becomes [`DEFAULT_ACCEPT_REASON`].
pub fn write_accept_head(
    buf: &mut BytesMut,
    reason: &[u8],
    headers: &[(Bytes, Bytes)],
    accept_token: &[u8],
) {
    let named: Vec<&[u8]> = headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case(b"Connection"))
        .flat_map(|(_, value)| value.split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|token| !token.is_empty())
        .collect();
    let removed = |name: &[u8]| {
        [
            &b"Connection"[..],
            b"Transfer-Encoding",
            b"Upgrade",
            b"Sec-WebSocket-Accept",
        ]
        .iter()
        .chain(named.iter())
        .any(|n| name.eq_ignore_ascii_case(n))
    };
    let kept = headers
        .iter()
        .filter(|(name, _)| !removed(name))
        .map(|(n, v)| (n.as_ref(), v.as_ref()));
    let added = [
        (&b"Upgrade"[..], &b"websocket"[..]),
        (b"Connection", b"Upgrade"),
        (b"Sec-WebSocket-Accept", accept_token),
    ];
    let reason = if reason.is_empty() {
        DEFAULT_ACCEPT_REASON
    } else {
        reason
    };
    write_response_head(buf, 101, reason, kept.chain(added));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut buf = BytesMut::new();
        write_frame(&mut buf, fin, opcode, payload);
        buf.to_vec()
    }

    #[test]
    fn frames_match_the_vectors() {
        // mongrel2/ws.jsonl seq 9 and pushpin/m2-ws.m2-side.jsonl seq 8.
        assert_eq!(frame(true, OPCODE_TEXT, b"echo"), b"\x81\x04echo");
        assert_eq!(
            frame(true, OPCODE_TEXT, b"hello m2 ws"),
            b"\x81\x0bhello m2 ws"
        );
        let mut close = BytesMut::new();
        write_close_frame(&mut close, Some(1000), b"");
        assert_eq!(&close[..], b"\x88\x02\x03\xe8");
        let mut close = BytesMut::new();
        write_close_frame(&mut close, None, b"bye");
        assert_eq!(&close[..], b"\x88\x05\x03\xe8bye");
    }

    #[test]
    fn extended_lengths_and_continuations() {
        let f = frame(false, OPCODE_BINARY, &[0; 126]);
        assert_eq!(&f[..4], &[0x02, 126, 0, 126]);
        let f = frame(true, OPCODE_CONTINUATION, &[0; 65_536]);
        assert_eq!(&f[..10], &[0x80, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
        assert_eq!(f.len(), 65_546);
        let f = frame(true, OPCODE_PONG, &[0; 65_535]);
        assert_eq!(&f[..4], &[0x8a, 126, 0xff, 0xff]);
    }

    #[test]
    fn close_payloads() {
        assert_eq!(parse_close_payload(b"\x03\xe8"), (Some(1000), &b""[..]));
        assert_eq!(
            parse_close_payload(b"\x03\xe9bye"),
            (Some(1001), &b"bye"[..])
        );
        assert_eq!(parse_close_payload(b"\x03"), (None, &b""[..]));
        assert_eq!(parse_close_payload(b""), (None, &b""[..]));
    }

    #[test]
    fn accept_head_matches_the_vector() {
        // pushpin/m2-ws.m2-side.jsonl seq 4.
        let mut buf = BytesMut::new();
        let responder = [
            (
                Bytes::from_static(b"Connection"),
                Bytes::from_static(b"Upgrade, X-Hop"),
            ),
            (Bytes::from_static(b"X-Hop"), Bytes::from_static(b"1")),
            (
                Bytes::from_static(b"upgrade"),
                Bytes::from_static(b"websocket"),
            ),
            (
                Bytes::from_static(b"Sec-WebSocket-Accept"),
                Bytes::from_static(b"wrong"),
            ),
        ];
        write_accept_head(&mut buf, b"", &responder, b"8W7wYwzlHLTXXv7tZcHwVvYIIZo=");
        assert_eq!(
            &buf[..],
            &b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
               Sec-WebSocket-Accept: 8W7wYwzlHLTXXv7tZcHwVvYIIZo=\r\n\r\n"[..]
        );
        let mut buf = BytesMut::new();
        let responder = [(
            Bytes::from_static(b"Sec-WebSocket-Extensions"),
            Bytes::from_static(b"grip"),
        )];
        write_accept_head(&mut buf, b"OK", &responder, b"t");
        assert_eq!(
            &buf[..],
            &b"HTTP/1.1 101 OK\r\nSec-WebSocket-Extensions: grip\r\nUpgrade: websocket\r\n\
               Connection: Upgrade\r\nSec-WebSocket-Accept: t\r\n\r\n"[..]
        );
    }
}
