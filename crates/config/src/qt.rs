//! The few Qt 5 conversions Pushpin applies to configuration strings, reproduced exactly:
//! `QString::toInt` (decimal and octal), `QVariant::toBool` and the lenient
//! `QByteArray::fromBase64` used for `base64:` keys.

/// Whitespace as Qt's number parser skips it around a number.
fn is_qt_space(c: char) -> bool {
    c.is_whitespace()
}

/// `QString::toInt(&ok, radix)`: optional surrounding whitespace, optional sign, digits of the
/// radix, and the result must fit an `int`. `None` where Qt sets `ok = false`.
pub(crate) fn to_int_radix(s: &str, radix: u32) -> Option<i32> {
    let t = s.trim_matches(is_qt_space);
    let (negative, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, t.get(1..)?),
        Some(b'+') => (false, t.get(1..)?),
        _ => (false, t),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let mut value: i64 = 0;
    for c in digits.chars() {
        let d = i64::from(c.to_digit(radix)?);
        value = value.checked_mul(i64::from(radix))?.checked_add(d)?;
        if value > i64::from(i32::MAX) + 1 {
            return None;
        }
    }
    let value = if negative { -value } else { value };
    i32::try_from(value).ok()
}

/// `QString::toInt(&ok)` in base 10.
pub(crate) fn to_int(s: &str) -> Option<i32> {
    to_int_radix(s, 10)
}

/// `QVariant(QString).toBool()`: false only for the empty string, `0` and `false` (any case).
pub(crate) fn to_bool(s: &str) -> bool {
    let lower = s.to_lowercase();
    !(lower.is_empty() || lower == "0" || lower == "false")
}

/// Whether a boolean text is one a person would expect to mean what Qt makes of it.
pub(crate) fn is_plain_bool(s: &str) -> bool {
    matches!(
        s.to_lowercase().as_str(),
        "" | "0" | "1" | "false" | "true" | "yes" | "on"
    )
}

/// Qt 5's `QByteArray::fromBase64`: characters outside the alphabet (including `=`) are
/// skipped, missing padding is fine. Returns the bytes and whether anything was skipped
/// (padding `=` at the end does not count).
pub(crate) fn from_base64(s: &str) -> (Vec<u8>, bool) {
    let unpadded = s.trim_end_matches('=');
    let skipped = unpadded
        .bytes()
        .any(|b| !(b.is_ascii_alphanumeric() || b == b'+' || b == b'/'));
    (
        pushpin_grip::qt::from_base64_lenient(unpadded.as_bytes()),
        skipped,
    )
}

/// A Qt `QChar` built from an escape value: the low 16 bits, and a lone surrogate (which Rust
/// strings cannot hold) becomes U+FFFD.
pub(crate) fn qchar(v: u32) -> char {
    char::from_u32(v & 0xffff).unwrap_or('\u{fffd}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_int_like_qt() {
        assert_eq!(to_int("42"), Some(42));
        assert_eq!(to_int(" 42 "), Some(42));
        assert_eq!(to_int("+7"), Some(7));
        assert_eq!(to_int("-1"), Some(-1));
        assert_eq!(to_int("100abc"), None);
        assert_eq!(to_int(""), None);
        assert_eq!(to_int("-"), None);
        assert_eq!(to_int("0x10"), None);
        assert_eq!(to_int("2147483647"), Some(i32::MAX));
        assert_eq!(to_int("-2147483648"), Some(i32::MIN));
        assert_eq!(to_int("2147483648"), None);
        assert_eq!(to_int("99999999999999999999999"), None);
        assert_eq!(to_int_radix("777", 8), Some(0o777));
        assert_eq!(to_int_radix("8", 8), None);
    }

    #[test]
    fn to_bool_like_qt() {
        for f in ["", "0", "false", "False", "FALSE"] {
            assert!(!to_bool(f), "{f}");
        }
        for t in ["1", "true", "off", "no", "disabled", " false", "2"] {
            assert!(to_bool(t), "{t}");
        }
        assert!(is_plain_bool("TRUE"));
        assert!(!is_plain_bool("off"));
    }

    #[test]
    fn base64_lenient() {
        assert_eq!(from_base64("aGVsbG8="), (b"hello".to_vec(), false));
        assert_eq!(from_base64("aGVsbG8"), (b"hello".to_vec(), false));
        assert_eq!(from_base64("aGV sbG8"), (b"hello".to_vec(), true));
        assert_eq!(from_base64(""), (Vec::new(), false));
        assert_eq!(from_base64("/w=="), (vec![0xff], false));
    }

    #[test]
    fn qchar_truncates() {
        assert_eq!(qchar(0x41), 'A');
        assert_eq!(qchar(0x1_0041), 'A');
        assert_eq!(qchar(0xd800), '\u{fffd}');
    }
}
