//! WebSocket frames (RFC 6455 §5.2), one at a time, as zurl 1.11's own codec handles them:
//! fragments are not joined into messages and control frames between them are kept in
//! place, so each frame can become one ZHTTP packet (and each packet one frame). No
//! validation beyond the frame size: like zurl, unknown opcodes, reserved bits and
//! out-of-order continuations are left to the caller.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// `opcode` of a continuation frame.
pub(super) const CONTINUATION: u8 = 0x0;
/// `opcode` of a text frame.
pub(super) const TEXT: u8 = 0x1;
/// `opcode` of a binary frame.
pub(super) const BINARY: u8 = 0x2;
/// `opcode` of a close frame.
pub(super) const CLOSE: u8 = 0x8;
/// `opcode` of a ping frame.
pub(super) const PING: u8 = 0x9;
/// `opcode` of a pong frame.
pub(super) const PONG: u8 = 0xA;

/// One frame, unmasked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Frame {
    pub(super) opcode: u8,
    /// The FIN bit: the last frame of its message.
    pub(super) fin: bool,
    pub(super) payload: Bytes,
}

/// A frame whose payload is larger than the limit (zurl's `frame-too-large`), known as soon
/// as its header is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("websocket frame of {len} bytes is larger than {max}")]
pub(super) struct TooLarge {
    pub(super) len: u64,
    pub(super) max: usize,
}

/// Takes the next whole frame off `buf` (`Ok(None)`: more bytes needed). A payload longer
/// than `max` is an error as soon as its length is read.
pub(super) fn decode(buf: &mut BytesMut, max: usize) -> Result<Option<Frame>, TooLarge> {
    let (Some(&b0), Some(&b1)) = (buf.first(), buf.get(1)) else {
        return Ok(None);
    };
    let (len, mut header) = match b1 & 0x7f {
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
    let too_large = TooLarge { len, max };
    let payload_len = usize::try_from(len)
        .ok()
        .filter(|&l| l <= max)
        .ok_or(too_large)?;
    let mask = if b1 & 0x80 != 0 {
        let Some(m) = buf.get(header..header + 4) else {
            return Ok(None);
        };
        let m = [m[0], m[1], m[2], m[3]];
        header += 4;
        Some(m)
    } else {
        None
    };
    let total = header.checked_add(payload_len).ok_or(too_large)?;
    if buf.len() < total {
        buf.reserve(total - buf.len());
        return Ok(None);
    }
    buf.advance(header);
    let mut payload = buf.split_to(payload_len);
    if let Some(m) = mask {
        apply_mask(&mut payload, m);
    }
    Ok(Some(Frame {
        opcode: b0 & 0x0f,
        fin: b0 & 0x80 != 0,
        payload: payload.freeze(),
    }))
}

/// Appends `payload` as one masked frame (a client masks every frame, RFC 6455 §5.3).
pub(super) fn encode(opcode: u8, fin: bool, payload: &[u8], mask: [u8; 4], out: &mut BytesMut) {
    out.reserve(14 + payload.len());
    out.put_u8(if fin { 0x80 } else { 0 } | (opcode & 0x0f));
    match payload.len() {
        n @ 0..=125 => out.put_u8(0x80 | n as u8),
        n => match u16::try_from(n) {
            Ok(n) => {
                out.put_u8(0x80 | 126);
                out.put_u16(n);
            }
            Err(_) => {
                out.put_u8(0x80 | 127);
                out.put_u64(n as u64);
            }
        },
    }
    out.put_slice(&mask);
    let start = out.len();
    out.put_slice(payload);
    if let Some(p) = out.get_mut(start..) {
        apply_mask(p, mask);
    }
}

fn apply_mask(data: &mut [u8], mask: [u8; 4]) {
    for (b, m) in data.iter_mut().zip(mask.iter().cycle()) {
        *b ^= m;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_masked_sizes() {
        for n in [0usize, 1, 125, 126, 65_535, 65_536] {
            let payload = vec![b'x'; n];
            let mut buf = BytesMut::new();
            encode(TEXT, n % 2 == 0, &payload, [1, 2, 3, 4], &mut buf);
            let f = decode(&mut buf, 1 << 20).unwrap().unwrap();
            assert_eq!((f.opcode, f.fin, f.payload.len()), (TEXT, n % 2 == 0, n));
            assert!(f.payload.iter().all(|&b| b == b'x'));
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn unmasked_fragments_one_at_a_time() {
        let mut buf = BytesMut::from(&b"\x01\x03hel\x89\x02pp\x80\x02lo"[..]);
        let f = decode(&mut buf, 100).unwrap().unwrap();
        assert_eq!(
            (f.opcode, f.fin, &f.payload[..]),
            (TEXT, false, &b"hel"[..])
        );
        let f = decode(&mut buf, 100).unwrap().unwrap();
        assert_eq!((f.opcode, f.fin, &f.payload[..]), (PING, true, &b"pp"[..]));
        let f = decode(&mut buf, 100).unwrap().unwrap();
        assert_eq!(
            (f.opcode, f.fin, &f.payload[..]),
            (CONTINUATION, true, &b"lo"[..])
        );
        assert_eq!(decode(&mut buf, 100), Ok(None));
    }

    #[test]
    fn every_strict_prefix_is_incomplete() {
        let mut whole = BytesMut::new();
        encode(BINARY, true, &[7; 300], [9, 8, 7, 6], &mut whole);
        for n in 0..whole.len() {
            let mut prefix = BytesMut::from(&whole[..n]);
            assert_eq!(decode(&mut prefix, 1000), Ok(None), "prefix {n}");
        }
    }

    #[test]
    fn too_large_as_soon_as_the_length_is_known() {
        let mut buf = BytesMut::from(&b"\x82\x7e\x01\x00"[..]);
        assert_eq!(decode(&mut buf, 255), Err(TooLarge { len: 256, max: 255 }));
        let mut buf = BytesMut::from(&b"\x82\x7f\xff\xff\xff\xff\xff\xff\xff\xff"[..]);
        assert!(decode(&mut buf, 200_000).is_err());
        let mut buf = BytesMut::from(&b"\x82\x7e\x00\xff"[..]);
        assert_eq!(decode(&mut buf, 255), Ok(None));
    }
}
