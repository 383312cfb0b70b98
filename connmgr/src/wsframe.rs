//! WebSocket frames (RFC 6455 §5), sans-IO: the server side's decoder of client
//! frames and encoder of server frames, plus the handshake's accept key.
//!
//! Hand-written rather than taken from tungstenite: the connection manager must
//! forward frames one by one under ZHTTP credits (a frame is taken off the read
//! buffer only when the responder has granted credits for its payload, so
//! [`peek`] reports a frame's size before it is consumed), must pass pings and
//! pongs through instead of answering them, and must keep fragmentation visible
//! (`more` in ZHTTP). tungstenite's message-level API answers pings itself and
//! reassembles fragments, and its frame codec owns the read buffer.

use base64::Engine as _;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use sha1::{Digest, Sha1};

/// Frame opcodes.
pub(crate) mod opcode {
    /// Continuation of a fragmented message.
    pub(crate) const CONTINUATION: u8 = 0x0;
    /// Text message.
    pub(crate) const TEXT: u8 = 0x1;
    /// Binary message.
    pub(crate) const BINARY: u8 = 0x2;
    /// Close.
    pub(crate) const CLOSE: u8 = 0x8;
    /// Ping.
    pub(crate) const PING: u8 = 0x9;
    /// Pong.
    pub(crate) const PONG: u8 = 0xA;
}

/// A client frame the server must refuse (answered with a close frame).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FrameError {
    /// RSV bits set without a negotiated extension.
    #[error("reserved bits set")]
    Reserved,
    /// An opcode RFC 6455 does not define.
    #[error("unknown opcode {0:#x}")]
    Opcode(u8),
    /// Client frames must be masked.
    #[error("unmasked client frame")]
    Unmasked,
    /// Payload larger than the frame size limit.
    #[error("frame payload of {len} bytes exceeds {max}")]
    TooLarge {
        /// Declared payload length.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// A control frame that is fragmented or longer than 125 bytes.
    #[error("invalid control frame")]
    Control,
}

impl FrameError {
    /// The close code to answer with (1009 for size, 1002 otherwise).
    pub(crate) fn close_code(self) -> u16 {
        match self {
            Self::TooLarge { .. } => 1009,
            _ => 1002,
        }
    }
}

/// A frame header, before its payload is consumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    /// Final fragment.
    pub(crate) fin: bool,
    /// Opcode.
    pub(crate) opcode: u8,
    /// Masking key.
    pub(crate) mask: [u8; 4],
    /// Header length in bytes.
    pub(crate) header_len: usize,
    /// Payload length in bytes.
    pub(crate) len: usize,
}

impl Header {
    /// Header plus payload.
    pub(crate) fn total(&self) -> usize {
        self.header_len.saturating_add(self.len)
    }

    /// Whether this is a control frame (close, ping, pong).
    pub(crate) fn is_control(&self) -> bool {
        self.opcode >= 0x8
    }
}

/// Unmasks `payload`, which starts `offset` bytes into its frame's payload.
pub(crate) fn unmask(payload: &mut [u8], mask: [u8; 4], offset: usize) {
    for (i, b) in payload.iter_mut().enumerate() {
        *b ^= mask[(offset.wrapping_add(i)) % 4];
    }
}

/// Reads the header of the client frame at the front of `buf`. `Ok(None)`: the
/// header is incomplete.
pub(crate) fn peek(buf: &[u8], max: usize) -> Result<Option<Header>, FrameError> {
    let (Some(&b0), Some(&b1)) = (buf.first(), buf.get(1)) else {
        return Ok(None);
    };
    if b0 & 0x70 != 0 {
        return Err(FrameError::Reserved);
    }
    let fin = b0 & 0x80 != 0;
    let op = b0 & 0x0F;
    let control = op >= 0x8;
    if !matches!(
        op,
        opcode::CONTINUATION
            | opcode::TEXT
            | opcode::BINARY
            | opcode::CLOSE
            | opcode::PING
            | opcode::PONG
    ) {
        return Err(FrameError::Opcode(op));
    }
    if b1 & 0x80 == 0 {
        return Err(FrameError::Unmasked);
    }
    let (len, at): (u64, usize) = match b1 & 0x7F {
        126 => match buf.get(2..4) {
            Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
            None => return Ok(None),
        },
        127 => match buf.get(2..10).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
            Some(b) => (u64::from_be_bytes(b), 10),
            None => return Ok(None),
        },
        n => (u64::from(n), 2),
    };
    if control && (!fin || len > 125) {
        return Err(FrameError::Control);
    }
    let len = usize::try_from(len)
        .ok()
        .filter(|&n| n <= max)
        .ok_or(FrameError::TooLarge { len, max })?;
    let Some(mask) = buf
        .get(at..at + 4)
        .and_then(|m| <[u8; 4]>::try_from(m).ok())
    else {
        return Ok(None);
    };
    Ok(Some(Header {
        fin,
        opcode: op,
        mask,
        header_len: at + 4,
        len,
    }))
}

/// Removes the frame described by `header` from `buf` (which must hold
/// [`Header::total`] bytes) and returns its unmasked payload.
pub(crate) fn take(buf: &mut BytesMut, header: &Header) -> Bytes {
    buf.advance(header.header_len);
    let mut payload = buf.split_to(header.len.min(buf.len()));
    unmask(&mut payload, header.mask, 0);
    payload.freeze()
}

/// Appends an unmasked server frame.
pub(crate) fn encode(out: &mut BytesMut, fin: bool, op: u8, payload: &[u8]) {
    out.reserve(payload.len().saturating_add(10));
    out.put_u8(if fin { 0x80 } else { 0 } | (op & 0x0F));
    match payload.len() {
        n @ 0..=125 => out.put_u8(n as u8),
        n @ 126..=0xFFFF => {
            out.put_u8(126);
            out.put_u16(n as u16);
        }
        n => {
            out.put_u8(127);
            out.put_u64(n as u64);
        }
    }
    out.put_slice(payload);
}

/// Appends a close frame with an optional status code and reason.
pub(crate) fn encode_close(out: &mut BytesMut, code: Option<u16>, reason: &[u8]) {
    let mut payload = BytesMut::with_capacity(2 + reason.len());
    if let Some(code) = code {
        payload.put_u16(code);
        payload.put_slice(reason.get(..123).unwrap_or(reason));
    }
    encode(out, true, opcode::CLOSE, &payload);
}

/// Splits a close payload into its status code and reason.
pub(crate) fn parse_close(payload: &Bytes) -> (Option<u16>, Bytes) {
    match payload.get(..2) {
        Some(code) => (
            Some(u16::from_be_bytes([code[0], code[1]])),
            payload.slice(2..),
        ),
        None => (None, Bytes::new()),
    }
}

/// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`.
pub(crate) fn accept_key(key: &[u8]) -> String {
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(fin: bool, op: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [1u8, 2, 3, 4];
        let mut out = BytesMut::new();
        encode(&mut out, fin, op, payload);
        // Turn the server frame into a masked client frame.
        let hlen = out.len() - payload.len();
        let mut v = out[..hlen].to_vec();
        v[1] |= 0x80;
        v.extend_from_slice(&mask);
        v.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        v
    }

    #[test]
    fn accept_key_matches_rfc_and_capture() {
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert_eq!(
            accept_key(b"LJXjOjN0lMc3offeZvzyAA=="),
            "l6lF7r0fhUcJCjZuLv9yTy4OOQ4="
        );
    }

    #[test]
    fn decodes_captured_client_frame() {
        // "hello text" from vectors/condure/ws.jsonl.
        let raw = base64::engine::general_purpose::STANDARD
            .decode("gYpK1cAvIrCsQyX1tEoyoQ==")
            .unwrap();
        let mut buf = BytesMut::from(&raw[..]);
        let h = peek(&buf, 8192).unwrap().unwrap();
        assert_eq!(
            (h.fin, h.opcode, h.len, h.total()),
            (true, opcode::TEXT, 10, raw.len())
        );
        assert_eq!(take(&mut buf, &h).as_ref(), b"hello text");
        assert!(buf.is_empty());
    }

    #[test]
    fn lengths_and_prefixes() {
        for n in [0usize, 125, 126, 65535, 65536] {
            let payload = vec![7u8; n];
            let frame = masked(false, opcode::BINARY, &payload);
            for cut in 0..frame.len() - n {
                assert_eq!(peek(&frame[..cut], 1 << 20), Ok(None), "cut {cut}");
            }
            let mut buf = BytesMut::from(&frame[..]);
            let h = peek(&buf, 1 << 20).unwrap().unwrap();
            assert_eq!(h.total(), frame.len());
            assert!(!h.fin);
            assert_eq!(take(&mut buf, &h).as_ref(), &payload[..]);
        }
    }

    #[test]
    fn unmask_with_offset_matches_whole() {
        let mask = [1, 2, 3, 4];
        let mut whole = *b"abcdefghij";
        unmask(&mut whole, mask, 0);
        let mut a = *b"abc";
        let mut b = *b"defghij";
        unmask(&mut a, mask, 0);
        unmask(&mut b, mask, 3);
        assert_eq!([&a[..], &b[..]].concat(), whole);
    }

    #[test]
    fn refusals() {
        let mut unmasked = BytesMut::new();
        encode(&mut unmasked, true, opcode::TEXT, b"x");
        assert_eq!(peek(&unmasked, 100), Err(FrameError::Unmasked));
        assert_eq!(peek(&[0xC1, 0x80], 100), Err(FrameError::Reserved));
        assert_eq!(peek(&[0x83, 0x80], 100), Err(FrameError::Opcode(3)));
        assert_eq!(
            peek(&masked(false, opcode::PING, b"x"), 100),
            Err(FrameError::Control)
        );
        assert!(matches!(
            peek(&masked(true, opcode::TEXT, &[0; 200]), 100),
            Err(FrameError::TooLarge { .. })
        ));
        assert_eq!(FrameError::TooLarge { len: 1, max: 0 }.close_code(), 1009);
        assert_eq!(FrameError::Unmasked.close_code(), 1002);
    }

    proptest::proptest! {
        #[test]
        fn peek_and_take_never_panic(input in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300), max in 0usize..200) {
            let mut buf = BytesMut::from(&input[..]);
            while let Ok(Some(h)) = peek(&buf, max) {
                if buf.len() < h.total() {
                    break;
                }
                let _ = take(&mut buf, &h);
            }
        }

        #[test]
        fn masked_frames_roundtrip(payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..20000), fin in proptest::prelude::any::<bool>()) {
            let frame = masked(fin, opcode::BINARY, &payload);
            let mut buf = BytesMut::from(&frame[..]);
            let h = peek(&buf, 1 << 20).unwrap().unwrap();
            proptest::prop_assert_eq!(h.total(), frame.len());
            proptest::prop_assert_eq!(h.fin, fin);
            let got = take(&mut buf, &h);
            proptest::prop_assert_eq!(got.as_ref(), &payload[..]);
        }
    }

    #[test]
    fn close_payloads() {
        let mut out = BytesMut::new();
        encode_close(&mut out, Some(1000), b"bye");
        // From vectors/condure/ws.jsonl: "iAUD6GJ5ZQ==".
        assert_eq!(
            base64::engine::general_purpose::STANDARD.encode(&out),
            "iAUD6GJ5ZQ=="
        );
        let (code, reason) = parse_close(&Bytes::from_static(b"\x03\xe8done"));
        assert_eq!((code, reason.as_ref()), (Some(1000), b"done".as_slice()));
        assert_eq!(parse_close(&Bytes::new()).0, None);
    }
}
