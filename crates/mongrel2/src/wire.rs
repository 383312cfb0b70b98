//! Byte-level helpers shared by the request, response and control codecs:
//! space-delimited tokens, one netstring/tnetstring element at an offset,
//! zero-copy sub-slices, and decimal numbers read and written without allocating.

use bytes::{BufMut, Bytes, BytesMut};
use pushpin_tnetstring::{Frame, Limits as TnLimits, parse_frame};

use crate::{Error, Part};

/// The token of `msg` starting at `start` and ending before the next space,
/// and the offset just after that space.
///
/// No space at all means the frame stopped inside the token ([`Error::Truncated`]).
pub(crate) fn token(msg: &[u8], start: usize, part: Part) -> Result<(&[u8], usize), Error> {
    let rest = msg.get(start..).unwrap_or_default();
    let Some(len) = rest.iter().position(|&b| b == b' ') else {
        return Err(Error::Truncated {
            part,
            offset: start,
        });
    };
    if len == 0 {
        return Err(Error::EmptyField {
            part,
            offset: start,
        });
    }
    let next = start
        .checked_add(len)
        .and_then(|n| n.checked_add(1))
        .ok_or(Error::Truncated {
            part,
            offset: start,
        })?;
    Ok((rest.get(..len).unwrap_or_default(), next))
}

/// One tnetstring element of `msg` starting at `start`, and the offset after it.
///
/// The frame's own offsets (and those of its children) are relative to `start`.
pub(crate) fn element<'a>(
    msg: &'a [u8],
    start: usize,
    part: Part,
    limits: &TnLimits,
) -> Result<(Frame<'a>, usize), Error> {
    let rest = msg.get(start..).unwrap_or_default();
    match parse_frame(rest, limits) {
        Ok(Some((frame, used))) => {
            let end = start.checked_add(used).ok_or(Error::Truncated {
                part,
                offset: start,
            })?;
            Ok((frame, end))
        }
        Ok(None) => Err(Error::Truncated {
            part,
            offset: start,
        }),
        Err(source) => Err(Error::Tnetstring {
            part,
            offset: start,
            source,
        }),
    }
}

/// A `Bytes` for `part`, sharing `src`'s memory when `part` lies inside it
/// (`Bytes::slice_ref` would panic otherwise, so this checks first and copies
/// as a fallback).
pub(crate) fn share(src: &Bytes, part: &[u8]) -> Bytes {
    if part.is_empty() {
        return Bytes::new();
    }
    let base = src.as_ptr() as usize;
    let at = part.as_ptr() as usize;
    let inside = at >= base && at.saturating_add(part.len()) <= base.saturating_add(src.len());
    if inside {
        src.slice_ref(part)
    } else {
        Bytes::copy_from_slice(part)
    }
}

/// Parses `[0-9]+` into a u64 (no sign, no spaces; leading zeros allowed, as
/// mongrel2's `strtoul` allows them).
pub(crate) fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &b| {
        let d = b.checked_sub(b'0').filter(|d| *d <= 9)?;
        acc.checked_mul(10)?.checked_add(u64::from(d))
    })
}

/// The number of decimal digits in `n` (at least one).
pub(crate) const fn decimal_len(n: u64) -> usize {
    match n.checked_ilog10() {
        Some(log) => (log as usize).saturating_add(1),
        None => 1,
    }
}

/// Appends `n` in shortest decimal form.
pub(crate) fn put_decimal(buf: &mut BytesMut, n: u64) {
    let mut digits = [0u8; 20];
    let mut rest = n;
    let mut used = 0usize;
    for slot in digits.iter_mut().rev() {
        // `rest % 10` is below 10, so the cast and the add cannot overflow.
        *slot = b'0'.wrapping_add((rest % 10) as u8);
        rest /= 10;
        used = used.saturating_add(1);
        if rest == 0 {
            break;
        }
    }
    let start = digits.len().saturating_sub(used);
    buf.put_slice(digits.get(start..).unwrap_or_default());
}

/// Appends `n` in upper-case hexadecimal without leading zeros, as Qt's
/// `QByteArray::number(n, 16).toUpper()`.
pub(crate) fn put_hex_upper(buf: &mut BytesMut, n: u64) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut digits = [0u8; 16];
    let mut rest = n;
    let mut used = 0usize;
    for slot in digits.iter_mut().rev() {
        *slot = HEX.get((rest % 16) as usize).copied().unwrap_or(b'0');
        rest /= 16;
        used = used.saturating_add(1);
        if rest == 0 {
            break;
        }
    }
    let start = digits.len().saturating_sub(used);
    buf.put_slice(digits.get(start..).unwrap_or_default());
}

/// Appends a netstring (`SIZE:DATA,`).
pub(crate) fn put_netstring(buf: &mut BytesMut, data: &[u8]) {
    buf.reserve(data.len().saturating_add(12));
    put_decimal(buf, data.len() as u64);
    buf.put_u8(b':');
    buf.put_slice(data);
    buf.put_u8(b',');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(n: u64) -> String {
        let mut buf = BytesMut::new();
        put_decimal(&mut buf, n);
        String::from_utf8(buf.to_vec()).unwrap()
    }

    fn hex(n: u64) -> String {
        let mut buf = BytesMut::new();
        put_hex_upper(&mut buf, n);
        String::from_utf8(buf.to_vec()).unwrap()
    }

    #[test]
    fn decimals_round_trip() {
        for n in [0, 1, 9, 10, 99, 100, 102_400, u64::from(u32::MAX), u64::MAX] {
            assert_eq!(dec(n), n.to_string());
            assert_eq!(decimal_len(n), n.to_string().len());
            assert_eq!(parse_decimal(n.to_string().as_bytes()), Some(n));
        }
        assert_eq!(parse_decimal(b""), None);
        assert_eq!(parse_decimal(b"-1"), None);
        assert_eq!(parse_decimal(b"1 "), None);
        assert_eq!(parse_decimal(b"007"), Some(7));
        assert_eq!(parse_decimal(b"18446744073709551616"), None);
    }

    #[test]
    fn hex_is_upper_case_without_padding() {
        assert_eq!(hex(0), "0");
        assert_eq!(hex(9), "9");
        assert_eq!(hex(12), "C");
        assert_eq!(hex(0x1fff), "1FFF");
        assert_eq!(hex(u64::MAX), "FFFFFFFFFFFFFFFF");
    }

    #[test]
    fn tokens() {
        assert_eq!(token(b"ab cd", 0, Part::Sender), Ok((&b"ab"[..], 3)));
        assert_eq!(token(b"ab cd ", 3, Part::Path), Ok((&b"cd"[..], 6)));
        assert_eq!(
            token(b"ab", 0, Part::Sender),
            Err(Error::Truncated {
                part: Part::Sender,
                offset: 0
            })
        );
        assert_eq!(
            token(b"ab  x", 3, Part::ConnId),
            Err(Error::EmptyField {
                part: Part::ConnId,
                offset: 3
            })
        );
    }

    #[test]
    fn share_is_zero_copy_inside_and_copies_outside() {
        let src = Bytes::from_static(b"hello world");
        let inner = share(&src, src.get(6..).unwrap());
        assert_eq!(inner, "world");
        assert_eq!(inner.as_ptr(), src.get(6..).unwrap().as_ptr());
        let other = share(&src, b"elsewhere");
        assert_eq!(other, "elsewhere");
        assert!(share(&src, b"").is_empty());
    }
}
