//! Byte-level conversions that reproduce the Qt 5 behaviour Pushpin 1.36 relies
//! on: `QByteArray::trimmed`, `QByteArray::toInt`, `QByteArray::fromBase64`
//! (lenient: invalid characters are skipped) and `QVariant::toInt` on JSON
//! values. Matching them keeps edge cases (`" 7 "`, `"+5"`, `"7.5"`, padding in
//! the middle of base64) answered exactly as 1.36 answers them.

/// Qt's `isspace` set for byte arrays: space, `\t`, `\n`, `\v`, `\f`, `\r`.
const fn is_qt_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// `QByteArray::trimmed`: strips Qt whitespace from both ends.
pub fn trimmed(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if !is_qt_space(*first) {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !is_qt_space(*last) {
            break;
        }
        s = rest;
    }
    s
}

/// `QByteArray::toLongLong(&ok)` in base 10: optional surrounding whitespace,
/// an optional sign, at least one digit, nothing else; `None` when that fails
/// or the value does not fit in 64 bits.
pub fn to_i64(s: &[u8]) -> Option<i64> {
    let s = trimmed(s);
    let (neg, digits) = match s {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut acc: i64 = 0;
    for d in digits {
        let v = i64::from(d.wrapping_sub(b'0'));
        acc = acc.checked_mul(10)?;
        acc = if neg {
            acc.checked_sub(v)?
        } else {
            acc.checked_add(v)?
        };
    }
    Some(acc)
}

/// `QByteArray::toInt(&ok)`: like [`to_i64`] but the value must fit in 32 bits.
pub fn to_i32(s: &[u8]) -> Option<i32> {
    to_i64(s).and_then(|v| i32::try_from(v).ok())
}

/// `qRound64` followed by Qt's `int(...)` truncation, as `QVariant::toInt` does
/// for a double.
#[expect(
    clippy::cast_possible_truncation,
    reason = "Qt truncates the rounded 64-bit value to int; reproduced on purpose"
)]
pub fn round_to_i32(d: f64) -> i32 {
    let rounded = if d >= 0.0 {
        (d + 0.5).floor()
    } else {
        (d - 0.5).ceil()
    };
    // `as` saturates for out-of-range floats and maps NaN to 0: no panic.
    (rounded as i64) as i32
}

/// `QVariant::toInt` after a successful `canConvert(QVariant::Int)` check, for a
/// JSON value: numbers are rounded, strings parsed leniently (unparsable → 0),
/// booleans are 0/1. `None` for the types that cannot convert (null, arrays,
/// objects).
pub fn json_to_int(v: &serde_json::Value) -> Option<i32> {
    match v {
        serde_json::Value::Number(n) => Some(n.as_f64().map_or(0, round_to_i32)),
        serde_json::Value::String(s) => Some(string_to_int(s.as_bytes())),
        serde_json::Value::Bool(b) => Some(i32::from(*b)),
        _ => None,
    }
}

/// `QString::toInt()` / `QByteArray::toInt()` without an `ok` check: the value
/// (truncated to 32 bits as Qt's `int(...)` does) or 0 when unparsable.
#[expect(
    clippy::cast_possible_truncation,
    reason = "Qt converts through qlonglong then truncates to int; reproduced on purpose"
)]
pub fn string_to_int(s: &[u8]) -> i32 {
    to_i64(s).map_or(0, |v| v as i32)
}

/// Truncates a 64-bit integer to Qt's `int` as `QVariant::toInt` does.
#[expect(
    clippy::cast_possible_truncation,
    reason = "Qt truncates qlonglong to int; reproduced on purpose"
)]
pub const fn truncate_i64(v: i64) -> i32 {
    v as i32
}

/// `QByteArray::fromBase64` (Qt 5, standard alphabet): every byte outside
/// `A-Z a-z 0-9 + /` (including `=`) is skipped, and leftover bits are dropped.
pub fn from_base64_lenient(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len().saturating_mul(3) / 4);
    let mut buf: u32 = 0;
    let mut nbits: u32 = 0;
    for &ch in input {
        let d = match ch {
            b'A'..=b'Z' => ch - b'A',
            b'a'..=b'z' => ch - b'a' + 26,
            b'0'..=b'9' => ch - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => continue,
        };
        buf = (buf << 6) | u32::from(d);
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push(((buf >> nbits) & 0xff) as u8);
            buf &= (1 << nbits) - 1;
        }
    }
    out
}

/// `QString::fromUtf8`: invalid sequences become U+FFFD.
pub fn lossy_string(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_qt_whitespace() {
        assert_eq!(trimmed(b" \t\x0ba b\r\n"), b"a b");
        assert_eq!(trimmed(b"   "), b"");
    }

    #[test]
    fn to_int_like_qt() {
        assert_eq!(to_i32(b"55"), Some(55));
        assert_eq!(to_i32(b" 7 "), Some(7));
        assert_eq!(to_i32(b"+5"), Some(5));
        assert_eq!(to_i32(b"-1"), Some(-1));
        assert_eq!(to_i32(b"abc"), None);
        assert_eq!(to_i32(b""), None);
        assert_eq!(to_i32(b"-"), None);
        assert_eq!(to_i32(b"7.5"), None);
        assert_eq!(to_i32(b"1 2"), None);
        assert_eq!(to_i32(b"99999999999"), None);
        assert_eq!(to_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(to_i64(b"9223372036854775808"), None);
    }

    #[test]
    fn json_int_conversion() {
        use serde_json::json;
        assert_eq!(json_to_int(&json!(7)), Some(7));
        assert_eq!(json_to_int(&json!(7.5)), Some(8));
        assert_eq!(json_to_int(&json!(-7.5)), Some(-8));
        assert_eq!(json_to_int(&json!("7")), Some(7));
        assert_eq!(json_to_int(&json!("abc")), Some(0));
        assert_eq!(json_to_int(&json!(true)), Some(1));
        assert_eq!(json_to_int(&json!(null)), None);
        assert_eq!(json_to_int(&json!([1])), None);
        assert_eq!(json_to_int(&json!(1e300)), Some(-1));
    }

    #[test]
    fn base64_is_lenient() {
        assert_eq!(from_base64_lenient(b"aGVsbG8K"), b"hello\n");
        assert_eq!(from_base64_lenient(b"aGVs bG8K"), b"hello\n");
        assert_eq!(from_base64_lenient(b"aGk="), b"hi");
        assert_eq!(from_base64_lenient(b"aGk"), b"hi");
        assert_eq!(from_base64_lenient(b"!!"), b"");
        assert_eq!(from_base64_lenient(b"c2VjcmV0"), b"secret");
    }
}
