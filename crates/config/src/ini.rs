//! Pushpin's configuration dialect: Qt 5 `QSettings` in `IniFormat`, as the 1.36 binaries read
//! `pushpin.conf`, `internal.conf` and `zurl.conf` (spec/config.md §2).
//!
//! This is a line-for-line port of Qt 5.15's `readIniLine`, `readIniFile`, `readIniSection`,
//! `iniUnescapedKey`, `iniUnescapedStringList` and `stringToVariant`, so every quirk survives:
//! `;` comments anywhere outside quotes but `#` only by accident (a `# x` line has no `=`),
//! quoted text that may span lines, `\` line continuations, C-style escapes (unknown ones are
//! dropped), unquoted commas making a string list, `@Invalid()`/`@@` forms, `[General]` as the
//! top level, repeated sections merging, and the last duplicate key winning.
//!
//! Parsing never fails: like QSettings, malformed lines are skipped. The input is a `&str`; Qt
//! decodes the file as Latin-1 (so UTF-8 values come out double-encoded in 1.36), this reader
//! keeps the UTF-8 text as it is.

use std::path::Path;

use crate::qt;
use crate::raw::{Entry, Raw, Value};

/// Parses an INI text. `origin` names the file in errors and is the base of relative paths.
pub fn parse(text: &str, origin: &Path) -> Raw {
    let mut raw = Raw::empty(origin);
    let data = text.as_bytes();
    let mut lines = LineCounter::default();
    // A UTF-8 BOM only switches Qt's codec; the content starts after it.
    let mut pos = if data.starts_with(&[0xef, 0xbb, 0xbf]) {
        3
    } else {
        0
    };
    let mut section = String::new();
    while let Some(line) = read_line(data, &mut pos) {
        let start = line.start;
        let end = line.start + line.len;
        if byte(data, start) == b'[' {
            section = section_name(text, start, end);
            continue;
        }
        // A line without an unquoted `=` is a comment or garbage: QSettings skips it.
        let Some(equals) = line.equals else { continue };
        let mut key_end = equals;
        while key_end > start && matches!(byte(data, key_end - 1), b' ' | b'\t') {
            key_end -= 1;
        }
        let key = unescape_key(text.get(start..key_end).unwrap_or_default());
        let value_text = text.get(equals + 1..end).unwrap_or_default();
        let value = unescape_value(text, equals + 1, end);
        raw.entries.push(Entry {
            section: section.clone(),
            key,
            value,
            text: value_text.trim().to_string(),
            line: lines.line_of(data, start),
        });
    }
    raw
}

/// The section of keys under `[]` (unreachable by name, as in Qt).
pub const EMPTY_SECTION: &str = "/";

fn byte(data: &[u8], i: usize) -> u8 {
    data.get(i).copied().unwrap_or(0)
}

fn is_space(c: u8) -> bool {
    matches!(c, b'\t' | b'\n' | b'\r' | b' ')
}

fn is_special(c: u8) -> bool {
    matches!(c, b'\n' | b'\r' | b'"' | b';' | b'=' | b'\\')
}

/// Converts byte offsets to 1-based line numbers, walking forward only.
#[derive(Default)]
struct LineCounter {
    pos: usize,
    line: u32,
}

impl LineCounter {
    fn line_of(&mut self, data: &[u8], offset: usize) -> u32 {
        while self.pos < offset {
            let c = byte(data, self.pos);
            if c == b'\n' || (c == b'\r' && byte(data, self.pos + 1) != b'\n') {
                self.line = self.line.saturating_add(1);
            }
            self.pos += 1;
        }
        self.line.saturating_add(1)
    }
}

/// A logical line: `start..start+len` of the data, with the first unquoted `=`.
struct Line {
    start: usize,
    len: usize,
    equals: Option<usize>,
}

/// Qt's `readIniLine`. A `;` as the first character skips the comment and the whitespace
/// after it, then keeps reading; a newline inside quotes or after a backslash does not end the
/// line.
fn read_line(data: &[u8], pos: &mut usize) -> Option<Line> {
    let len = data.len();
    let mut in_quotes = false;
    let mut equals = None;
    let mut start = *pos;
    while start < len && is_space(byte(data, start)) {
        start += 1;
    }
    let mut i = start;
    'outer: while i < len {
        while !is_special(byte(data, i)) {
            i += 1;
            if i == len {
                break 'outer;
            }
        }
        let ch = byte(data, i);
        i += 1;
        match ch {
            b'=' => {
                if !in_quotes && equals.is_none() {
                    equals = Some(i - 1);
                }
            }
            b'\n' | b'\r' => {
                if i == start + 1 {
                    start += 1;
                } else if !in_quotes {
                    i -= 1;
                    break 'outer;
                }
            }
            b'\\' => {
                if i < len {
                    let c = byte(data, i);
                    i += 1;
                    if i < len {
                        let c2 = byte(data, i);
                        if (c == b'\n' && c2 == b'\r') || (c == b'\r' && c2 == b'\n') {
                            i += 1;
                        }
                    }
                }
            }
            b'"' => in_quotes = !in_quotes,
            _ => {
                // ';'
                if i == start + 1 {
                    while i < len && !matches!(byte(data, i), b'\n' | b'\r') {
                        i += 1;
                    }
                    while i < len && is_space(byte(data, i)) {
                        i += 1;
                    }
                    start = i;
                } else if !in_quotes {
                    i -= 1;
                    break 'outer;
                }
            }
        }
    }
    *pos = i;
    let line_len = i - start;
    (line_len > 0).then_some(Line {
        start,
        len: line_len,
        equals,
    })
}

/// The section of a `[...]` line: up to the first `]` (or the whole line when there is none),
/// trimmed; `General` (any case) is the top level, `%General` a section named `General`.
fn section_name(text: &str, start: usize, end: usize) -> String {
    let data = text.as_bytes();
    let close = data
        .get(start..end)
        .and_then(|l| l.iter().position(|&c| c == b']'))
        .map_or(end, |p| start + p);
    let inner = text.get(start + 1..close).unwrap_or_default();
    let inner = inner.trim_matches(|c: char| c.is_ascii_whitespace() || c == '\x0b');
    if inner.eq_ignore_ascii_case("general") {
        String::new()
    } else if inner.eq_ignore_ascii_case("%general") {
        inner.get(1..).unwrap_or_default().to_string()
    } else {
        match unescape_key(inner) {
            // `[]`: Qt files its keys under "/key", which no lookup reaches; keep them apart
            // from the top level.
            name if name.is_empty() => EMPTY_SECTION.to_string(),
            name => name,
        }
    }
}

/// Qt's `iniUnescapedKey`: `\` is `/`, `%XX` and `%UXXXX` are character codes.
pub(crate) fn unescape_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut rest = key;
    while let Some(c) = rest.chars().next() {
        let after = rest.get(c.len_utf8()..).unwrap_or_default();
        match c {
            '\\' => {
                out.push('/');
                rest = after;
            }
            '%' if !after.is_empty() => {
                let (digits_from, n) = if after.starts_with('U') {
                    (1, 4)
                } else {
                    (0, 2)
                };
                let digits = after.get(digits_from..digits_from + n);
                // QByteArray::toInt(&ok, 16): surrounding whitespace and a sign are accepted.
                let code = digits
                    .and_then(|d| qt::to_int_radix(d, 16))
                    .map(|v| v as u32);
                match code {
                    Some(code) => {
                        out.push(qt::qchar(code));
                        rest = after.get(digits_from + n..).unwrap_or_default();
                    }
                    None => {
                        out.push('%');
                        rest = after;
                    }
                }
            }
            _ => {
                out.push(c);
                rest = after;
            }
        }
    }
    out
}

#[derive(Clone, Copy)]
enum St {
    SkipSpaces,
    Normal,
    Hex,
    Oct,
    End,
}

fn simple_escape(c: u8) -> Option<char> {
    Some(match c {
        b'a' => '\x07',
        b'b' => '\x08',
        b'f' => '\x0c',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b'v' => '\x0b',
        b'"' => '"',
        b'?' => '?',
        b'\'' => '\'',
        b'\\' => '\\',
        _ => return None,
    })
}

/// Removes trailing spaces and tabs that were appended after byte `limit`.
fn chop_trailing(s: &mut String, limit: usize) {
    while s.len() > limit && (s.ends_with(' ') || s.ends_with('\t')) {
        s.pop();
    }
}

/// Qt's `iniUnescapedStringList` followed by `stringToVariant`/`stringListToVariantList`.
fn unescape_value(text: &str, from: usize, to: usize) -> Value {
    let data = text.as_bytes();
    let mut is_list = false;
    let mut in_quoted = false;
    let mut cur_quoted = false;
    let mut esc: u32 = 0;
    let mut i = from;
    let mut s = String::new();
    let mut list: Vec<String> = Vec::new();
    let mut state = St::SkipSpaces;
    loop {
        match state {
            St::SkipSpaces => {
                while i < to && matches!(byte(data, i), b' ' | b'\t') {
                    i += 1;
                }
                state = St::Normal;
            }
            St::Normal => {
                let mut chop_limit = s.len();
                let mut next = None;
                while i < to && next.is_none() {
                    match byte(data, i) {
                        b'\\' => {
                            i += 1;
                            if i >= to {
                                next = Some(St::End);
                                continue;
                            }
                            let ch = byte(data, i);
                            i += 1;
                            if let Some(c) = simple_escape(ch) {
                                s.push(c);
                                next = Some(St::Normal);
                                continue;
                            }
                            if ch == b'x' {
                                esc = 0;
                                if i >= to {
                                    next = Some(St::End);
                                    continue;
                                }
                                if byte(data, i).is_ascii_hexdigit() {
                                    next = Some(St::Hex);
                                    continue;
                                }
                            } else if (b'0'..=b'7').contains(&ch) {
                                esc = u32::from(ch - b'0');
                                next = Some(St::Oct);
                                continue;
                            } else if ch == b'\n' || ch == b'\r' {
                                let ch2 = byte(data, i);
                                if i < to && (ch2 == b'\n' || ch2 == b'\r') && ch2 != ch {
                                    i += 1;
                                }
                            } else {
                                // Unknown escape: the character is dropped (all of it).
                                while i < to && !text.is_char_boundary(i) {
                                    i += 1;
                                }
                            }
                            chop_limit = s.len();
                        }
                        b'"' => {
                            i += 1;
                            cur_quoted = true;
                            in_quoted = !in_quoted;
                            if !in_quoted {
                                next = Some(St::SkipSpaces);
                            }
                        }
                        b',' if !in_quoted => {
                            if !cur_quoted {
                                chop_trailing(&mut s, chop_limit);
                            }
                            is_list = true;
                            list.push(std::mem::take(&mut s));
                            cur_quoted = false;
                            i += 1;
                            next = Some(St::SkipSpaces);
                        }
                        _ => {
                            let mut j = i + 1;
                            while j < to && !matches!(byte(data, j), b'\\' | b'"' | b',') {
                                j += 1;
                            }
                            s.push_str(text.get(i..j).unwrap_or_default());
                            i = j;
                        }
                    }
                }
                state = match next {
                    Some(st) => st,
                    None => {
                        if !cur_quoted {
                            chop_trailing(&mut s, chop_limit);
                        }
                        St::End
                    }
                };
            }
            St::Hex | St::Oct => {
                let (radix, shift) = if matches!(state, St::Hex) {
                    (16, 4)
                } else {
                    (8, 3)
                };
                let digit = (i < to)
                    .then(|| char::from(byte(data, i)).to_digit(radix))
                    .flatten();
                match digit {
                    Some(d) => {
                        esc = (esc << shift).wrapping_add(d);
                        i += 1;
                    }
                    None => {
                        s.push(qt::qchar(esc));
                        state = if i >= to { St::End } else { St::Normal };
                    }
                }
            }
            St::End => {
                return if is_list {
                    list.push(s);
                    Value::List(list.iter().map(|e| element_to_string(e)).collect())
                } else {
                    string_to_value(&s)
                };
            }
        }
    }
}

/// Qt's `stringToVariant` for a scalar value.
pub(crate) fn string_to_value(s: &str) -> Value {
    if let Some(rest) = s.strip_prefix('@') {
        if let Some(inner) = s.strip_suffix(')') {
            if let Some(v) = inner.strip_prefix("@ByteArray(") {
                return Value::Str(v.to_string());
            }
            if let Some(v) = inner.strip_prefix("@String(") {
                return Value::Str(v.to_string());
            }
            // Serialized QVariants cannot be decoded here; they never carry a Pushpin string.
            if inner.starts_with("@Variant(") || inner.starts_with("@DateTime(") {
                return Value::Invalid;
            }
            for (prefix, n) in [("@Rect(", 4), ("@Size(", 2), ("@Point(", 2)] {
                if s.starts_with(prefix) && split_args_count(s, prefix.len()) == n {
                    return Value::Invalid;
                }
            }
            if s == "@Invalid()" {
                return Value::Invalid;
            }
        }
        if rest.starts_with('@') {
            return Value::Str(rest.to_string());
        }
    }
    Value::Str(s.to_string())
}

/// How many arguments Qt's `splitArgs` finds after the `(` ending at byte `from`: a space
/// ends an argument, and so does every `)` (without starting a new one).
fn split_args_count(s: &str, from: usize) -> usize {
    let args = s.get(from..).unwrap_or_default();
    args.chars().filter(|&c| c == ' ' || c == ')').count()
}

/// A list element as `toStringList()` returns it.
fn element_to_string(s: &str) -> String {
    match string_to_value(s) {
        Value::Str(v) => v,
        Value::List(_) | Value::Invalid => String::new(),
    }
}

#[cfg(test)]
mod tests;
