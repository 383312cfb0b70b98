//! Encoding into a `BytesMut`: scalars directly, containers through a closure
//! that writes the children (the SIZE prefix is filled in afterwards).
//!
//! Encoding works on lengths of data already in memory, so the arithmetic and
//! indexing below are on trusted sizes; the crate-wide bans on them guard the
//! decoding side.
#![allow(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    reason = "lengths here come from buffers we own, never from the wire"
)]

use bytes::{BufMut, BytesMut};

use crate::frame::digit_count;
use crate::{Kind, T_PREFIX};

/// Room reserved for a container's SIZE prefix and colon before its children
/// are written. Ten bytes fit any length below 1 GB (nine digits) plus the colon.
const PREFIX_ROOM: usize = MAX_PREFIX_DIGITS + 1;
const MAX_PREFIX_DIGITS: usize = 9;

fn write_header(buf: &mut BytesMut, len: usize) {
    buf.put_slice(itoa_buf(len as u64).as_bytes());
    buf.put_u8(b':');
}

/// Decimal text of `n` without allocation beyond a small stack buffer.
fn itoa_buf(n: u64) -> DecBuf {
    let mut out = DecBuf {
        bytes: [0; 20],
        start: 20,
    };
    let mut n = n;
    loop {
        out.start -= 1;
        out.bytes[out.start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out
}

struct DecBuf {
    bytes: [u8; 20],
    start: usize,
}

impl DecBuf {
    fn as_bytes(&self) -> &[u8] {
        &self.bytes[self.start..]
    }
}

fn write_scalar(buf: &mut BytesMut, data: &[u8], kind: Kind) {
    buf.reserve(data.len() + 12);
    write_header(buf, data.len());
    buf.put_slice(data);
    buf.put_u8(kind.tag());
}

/// Writes a `,` byte string.
pub fn write_bytes(buf: &mut BytesMut, data: &[u8]) {
    write_scalar(buf, data, Kind::Bytes);
}

/// Writes a `#` integer in shortest decimal form.
pub fn write_int(buf: &mut BytesMut, n: i64) {
    let digits = itoa_buf(n.unsigned_abs());
    let len = digits.as_bytes().len() + usize::from(n < 0);
    buf.reserve(len + 4);
    write_header(buf, len);
    if n < 0 {
        buf.put_u8(b'-');
    }
    buf.put_slice(digits.as_bytes());
    buf.put_u8(Kind::Int.tag());
}

/// Writes a `^` float (Rust's shortest round-trip form).
pub fn write_float(buf: &mut BytesMut, x: f64) {
    let text = x.to_string();
    write_scalar(buf, text.as_bytes(), Kind::Float);
}

/// Writes `4:true!` or `5:false!`.
pub fn write_bool(buf: &mut BytesMut, b: bool) {
    buf.put_slice(if b { b"4:true!" } else { b"5:false!" });
}

/// Writes `0:~`.
pub fn write_null(buf: &mut BytesMut) {
    buf.put_slice(b"0:~");
}

/// Writes a `}` dictionary whose DATA is whatever `children` appends
/// (alternating byte-string keys and values).
pub fn write_map(buf: &mut BytesMut, children: impl FnOnce(&mut BytesMut)) {
    write_container(buf, Kind::Map, children);
}

/// Writes a `]` list whose DATA is whatever `children` appends.
pub fn write_list(buf: &mut BytesMut, children: impl FnOnce(&mut BytesMut)) {
    write_container(buf, Kind::List, children);
}

/// Writes `T` followed by a dictionary: a ZHTTP payload (`spec/tnetstring.md` §2).
pub fn write_t_message(buf: &mut BytesMut, children: impl FnOnce(&mut BytesMut)) {
    buf.put_u8(T_PREFIX);
    write_map(buf, children);
}

fn write_container(buf: &mut BytesMut, kind: Kind, children: impl FnOnce(&mut BytesMut)) {
    let start = buf.len();
    buf.put_bytes(b' ', PREFIX_ROOM);
    let data_start = buf.len();
    children(buf);
    let len = buf.len() - data_start;
    let digits = digit_count(len);
    assert!(
        digits <= MAX_PREFIX_DIGITS,
        "tnetstring container of {len} bytes exceeds the 9-digit size limit"
    );
    // Move the children left so the prefix sits right before them.
    let header_len = digits + 1;
    let new_data_start = start + header_len;
    buf.copy_within(data_start.., new_data_start);
    buf.truncate(new_data_start + len);
    let prefix = itoa_buf(len as u64);
    buf[start..start + digits].copy_from_slice(prefix.as_bytes());
    buf[start + digits] = b':';
    buf.put_u8(kind.tag());
}
