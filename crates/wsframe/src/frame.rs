//! Frame headers and whole frames (RFC 6455 §5.2): decoding under [`Limits`]
//! and a [`Validation`], encoding with or without a mask, masking (§5.3) and
//! close payloads (§5.5.1).

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::{Error, Limits, Validation, opcode};

/// Longest header: 2 bytes, 8 of extended length, 4 of mask.
pub const MAX_HEADER_LEN: usize = 14;

/// Longest close reason that keeps a close frame a valid control frame
/// (125 bytes of payload less the 2-byte code).
pub const MAX_CLOSE_REASON: usize = 123;

/// A frame header, before its payload is consumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The FIN bit: the last frame of its message.
    pub fin: bool,
    /// Opcode (see [`opcode`]).
    pub opcode: u8,
    /// Masking key, when the frame is masked.
    pub mask: Option<[u8; 4]>,
    /// Header length in bytes.
    pub header_len: usize,
    /// Payload length in bytes (at most [`Limits::max_payload`]).
    pub len: usize,
}

impl Header {
    /// Reads the header of the frame at the front of `buf`. `Ok(None)`: the
    /// header is incomplete. A payload longer than the limit is an error as
    /// soon as its length is read; under [`Validation::ClientFrame`] the first
    /// two bytes are checked before anything else.
    pub fn decode(
        buf: &[u8],
        limits: &Limits,
        validation: Validation,
    ) -> Result<Option<Self>, Error> {
        let (Some(&b0), Some(&b1)) = (buf.first(), buf.get(1)) else {
            return Ok(None);
        };
        let fin = b0 & 0x80 != 0;
        let op = b0 & 0x0F;
        let masked = b1 & 0x80 != 0;
        let strict = validation == Validation::ClientFrame;
        if strict {
            if b0 & 0x70 != 0 {
                return Err(Error::Reserved);
            }
            if !opcode::is_known(op) {
                return Err(Error::Opcode(op));
            }
            if !masked {
                return Err(Error::Unmasked);
            }
        }
        let (len, at): (u64, usize) = match b1 & 0x7F {
            126 => match buf.get(2..4).and_then(|b| <[u8; 2]>::try_from(b).ok()) {
                Some(b) => (u64::from(u16::from_be_bytes(b)), 4),
                None => return Ok(None),
            },
            127 => match buf.get(2..10).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
                Some(b) => (u64::from_be_bytes(b), 10),
                None => return Ok(None),
            },
            n => (u64::from(n), 2),
        };
        if strict && opcode::is_control(op) && (!fin || len > 125) {
            return Err(Error::Control);
        }
        let max = limits.max_payload;
        let too_large = Error::TooLarge { len, max };
        let len = usize::try_from(len)
            .ok()
            .filter(|&n| n <= max)
            .ok_or(too_large)?;
        let (mask, header_len) = if masked {
            let end = at.saturating_add(4);
            let Some(m) = buf.get(at..end).and_then(|m| <[u8; 4]>::try_from(m).ok()) else {
                return Ok(None);
            };
            (Some(m), end)
        } else {
            (None, at)
        };
        // The whole frame must be addressable (only a limit near usize::MAX allows otherwise).
        header_len.checked_add(len).ok_or(too_large)?;
        Ok(Some(Self {
            fin,
            opcode: op,
            mask,
            header_len,
            len,
        }))
    }

    /// Header plus payload.
    pub fn total(&self) -> usize {
        // `decode` checked that this does not overflow.
        self.header_len.saturating_add(self.len)
    }

    /// Whether this is a control frame (close, ping, pong).
    pub fn is_control(&self) -> bool {
        opcode::is_control(self.opcode)
    }

    /// Removes this frame from the front of `buf` (which should hold
    /// [`Self::total`] bytes; a shorter `buf` gives a shorter payload) and
    /// returns its unmasked payload.
    pub fn take(&self, buf: &mut BytesMut) -> Bytes {
        buf.advance(self.header_len.min(buf.len()));
        let mut payload = buf.split_to(self.len.min(buf.len()));
        if let Some(mask) = self.mask {
            apply_mask(&mut payload, mask, 0);
        }
        payload.freeze()
    }
}

/// One whole frame, unmasked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The FIN bit: the last frame of its message.
    pub fin: bool,
    /// Opcode (see [`opcode`]).
    pub opcode: u8,
    /// The payload, unmasked.
    pub payload: Bytes,
}

impl Frame {
    /// Takes the next whole frame off `buf`. `Ok(None)`: more bytes needed;
    /// once the header is known, `buf` has been given room for the whole frame.
    pub fn decode(
        buf: &mut BytesMut,
        limits: &Limits,
        validation: Validation,
    ) -> Result<Option<Self>, Error> {
        let Some(h) = Header::decode(buf, limits, validation)? else {
            return Ok(None);
        };
        let total = h.total();
        if let Some(missing) = total.checked_sub(buf.len()).filter(|&n| n > 0) {
            buf.reserve(missing);
            return Ok(None);
        }
        let payload = h.take(buf);
        Ok(Some(Self {
            fin: h.fin,
            opcode: h.opcode,
            payload,
        }))
    }

    /// Appends this frame to `out`, masked with `mask` if given.
    pub fn encode(&self, out: &mut BytesMut, mask: Option<[u8; 4]>) {
        encode(out, self.fin, self.opcode, &self.payload, mask);
    }
}

/// XORs `data` with `mask`, `data` starting `offset` bytes into its frame's
/// payload (masking and unmasking are the same operation, RFC 6455 §5.3).
pub fn apply_mask(data: &mut [u8], mask: [u8; 4], offset: usize) {
    for (b, m) in data.iter_mut().zip(mask.iter().cycle().skip(offset % 4)) {
        *b ^= m;
    }
}

/// Appends one frame: masked with `mask` when given (a client masks every
/// frame), else unmasked (a server never masks).
pub fn encode(out: &mut BytesMut, fin: bool, op: u8, payload: &[u8], mask: Option<[u8; 4]>) {
    out.reserve(payload.len().saturating_add(MAX_HEADER_LEN));
    out.put_u8(if fin { 0x80 } else { 0 } | (op & 0x0F));
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let len = payload.len();
    if let Some(n) = u8::try_from(len).ok().filter(|&n| n <= 125) {
        out.put_u8(mask_bit | n);
    } else if let Ok(n) = u16::try_from(len) {
        out.put_u8(mask_bit | 126);
        out.put_u16(n);
    } else {
        out.put_u8(mask_bit | 127);
        out.put_u64(u64::try_from(len).unwrap_or(u64::MAX));
    }
    match mask {
        Some(m) => {
            out.put_slice(&m);
            let start = out.len();
            out.put_slice(payload);
            if let Some(p) = out.get_mut(start..) {
                apply_mask(p, m, 0);
            }
        }
        None => out.put_slice(payload),
    }
}

/// The payload of a close frame: the code then `reason`, or nothing without
/// a code. `reason` is taken whole (see [`encode_close`] for a capped one).
pub fn close_payload(code: Option<u16>, reason: &[u8]) -> BytesMut {
    let mut payload = BytesMut::new();
    if let Some(code) = code {
        payload.reserve(reason.len().saturating_add(2));
        payload.put_u16(code);
        payload.put_slice(reason);
    }
    payload
}

/// Appends a close frame with an optional status code and a reason cut to
/// [`MAX_CLOSE_REASON`] bytes (dropped without a code).
pub fn encode_close(out: &mut BytesMut, code: Option<u16>, reason: &[u8], mask: Option<[u8; 4]>) {
    let reason = reason.get(..MAX_CLOSE_REASON).unwrap_or(reason);
    encode(out, true, opcode::CLOSE, &close_payload(code, reason), mask);
}

/// Splits a close payload into its status code and reason (`None` and empty
/// when the payload is shorter than a code).
pub fn parse_close(payload: &Bytes) -> (Option<u16>, Bytes) {
    match payload.get(..2).and_then(|c| <[u8; 2]>::try_from(c).ok()) {
        Some(code) => (Some(u16::from_be_bytes(code)), payload.slice(2..)),
        None => (None, Bytes::new()),
    }
}
