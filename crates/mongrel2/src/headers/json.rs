//! The JSON headers object (`protocol=json`, `spec/mongrel2.md` §2.2).
//!
//! mongrel2 writes `{"name":"value","name2":["a","b"],...}` with no whitespace and
//! escapes only `\` and `"`: control bytes and non-UTF-8 bytes go in raw, so the
//! text is not always valid JSON. The reader here is therefore a lenient byte-level
//! parser for exactly this shape (an object of strings and lists of strings); it
//! also takes JSON whitespace and the standard escapes (`\n`, `\u00e9`, surrogate
//! pairs) that a stricter producer would write. Strings without escapes are
//! zero-copy slices of the frame.
//!
//! The writer produces mongrel2's bytes exactly (same escaping, no whitespace).

use bytes::{BufMut, Bytes, BytesMut};

use crate::wire::{put_netstring, share};
use crate::{Error, HeaderValue, Headers, Limits};

/// Reads the JSON object in `msg[start..end]` (the DATA of the headers netstring).
pub(crate) fn decode(
    msg: &Bytes,
    start: usize,
    end: usize,
    limits: &Limits,
) -> Result<Headers, Error> {
    let mut r = Reader {
        msg,
        pos: start,
        end,
    };
    let mut headers = Headers::new();
    let mut count = 0usize;
    r.ws();
    r.expect(b'{', "'{'")?;
    r.ws();
    if r.peek() == Some(b'}') {
        r.bump();
    } else {
        loop {
            r.ws();
            if r.peek() != Some(b'"') {
                return Err(r.error("a header name string"));
            }
            let name = r.string()?;
            r.ws();
            r.expect(b':', "':'")?;
            r.ws();
            let value = r.value(&name)?;
            count = count.saturating_add(value.len());
            if count > limits.max_headers {
                return Err(Error::TooManyHeaders {
                    max: limits.max_headers,
                });
            }
            headers.0.push((name, value));
            r.ws();
            match r.peek() {
                Some(b',') => r.bump(),
                Some(b'}') => {
                    r.bump();
                    break;
                }
                _ => return Err(r.error("',' or '}'")),
            }
        }
    }
    r.ws();
    if r.pos != r.end {
        return Err(r.error("the end of the headers object"));
    }
    Ok(headers)
}

/// Appends `headers` as a netstring of mongrel2-style JSON.
pub(crate) fn encode(buf: &mut BytesMut, headers: &Headers) {
    let mut json = BytesMut::with_capacity(256);
    json.put_u8(b'{');
    for (i, (name, value)) in headers.iter().enumerate() {
        if i > 0 {
            json.put_u8(b',');
        }
        put_string(&mut json, name);
        json.put_u8(b':');
        match value {
            HeaderValue::One(v) => put_string(&mut json, v),
            HeaderValue::Many(vs) => {
                json.put_u8(b'[');
                for (j, v) in vs.iter().enumerate() {
                    if j > 0 {
                        json.put_u8(b',');
                    }
                    put_string(&mut json, v);
                }
                json.put_u8(b']');
            }
        }
    }
    json.put_u8(b'}');
    put_netstring(buf, &json);
}

/// Writes `"s"` escaping only `\` and `"`, as mongrel2's `json_escape`.
fn put_string(buf: &mut BytesMut, s: &[u8]) {
    buf.put_u8(b'"');
    for part in s.split_inclusive(|&b| b == b'\\' || b == b'"') {
        match part.split_last() {
            Some((&last, head)) if last == b'\\' || last == b'"' => {
                buf.put_slice(head);
                buf.put_u8(b'\\');
                buf.put_u8(last);
            }
            _ => buf.put_slice(part),
        }
    }
    buf.put_u8(b'"');
}

/// The JSON type a value starting with `b` would be, for error messages.
const fn json_type(b: u8) -> Option<&'static str> {
    match b {
        b'{' => Some("object"),
        b't' | b'f' => Some("boolean"),
        b'n' => Some("null"),
        b'-' | b'0'..=b'9' => Some("number"),
        b'[' => Some("nested list"),
        _ => None,
    }
}

struct Reader<'a> {
    msg: &'a Bytes,
    pos: usize,
    end: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        if self.pos < self.end {
            self.msg.get(self.pos).copied()
        } else {
            None
        }
    }

    fn bump(&mut self) {
        self.pos = self.pos.saturating_add(1);
    }

    fn error(&self, expected: &'static str) -> Error {
        Error::Json {
            offset: self.pos,
            expected,
        }
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.bump();
        }
    }

    fn expect(&mut self, byte: u8, expected: &'static str) -> Result<(), Error> {
        if self.peek() == Some(byte) {
            self.bump();
            Ok(())
        } else {
            Err(self.error(expected))
        }
    }

    /// A header value: a string or a non-empty list of strings.
    fn value(&mut self, name: &Bytes) -> Result<HeaderValue, Error> {
        match self.peek() {
            Some(b'"') => Ok(HeaderValue::One(self.string()?)),
            Some(b'[') => {
                self.bump();
                self.ws();
                if self.peek() == Some(b']') {
                    return Err(Error::EmptyHeaderList { name: name.clone() });
                }
                let mut items = Vec::new();
                loop {
                    self.ws();
                    match self.peek() {
                        Some(b'"') => items.push(self.string()?),
                        Some(b) => {
                            return Err(match json_type(b) {
                                Some(found) => Error::HeaderType {
                                    name: name.clone(),
                                    found,
                                },
                                None => self.error("a string"),
                            });
                        }
                        None => return Err(self.error("a string")),
                    }
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.bump(),
                        Some(b']') => {
                            self.bump();
                            return Ok(HeaderValue::Many(items));
                        }
                        _ => return Err(self.error("',' or ']'")),
                    }
                }
            }
            Some(b) => Err(match json_type(b) {
                Some(found) => Error::HeaderType {
                    name: name.clone(),
                    found,
                },
                None => self.error("a header value"),
            }),
            None => Err(self.error("a header value")),
        }
    }

    /// A string starting at the current `"`; zero-copy unless it has escapes.
    fn string(&mut self) -> Result<Bytes, Error> {
        self.expect(b'"', "'\"'")?;
        let start = self.pos;
        loop {
            match self.peek() {
                Some(b'"') => {
                    let raw = self.msg.get(start..self.pos).unwrap_or_default();
                    self.bump();
                    return Ok(share(self.msg, raw));
                }
                Some(b'\\') => break,
                Some(_) => self.bump(),
                None => return Err(self.error("'\"'")),
            }
        }
        // Slow path: copy what was plain so far, then unescape the rest.
        let mut out = self.msg.get(start..self.pos).unwrap_or_default().to_vec();
        loop {
            match self.peek() {
                Some(b'"') => {
                    self.bump();
                    return Ok(Bytes::from(out));
                }
                Some(b'\\') => {
                    self.bump();
                    self.escape(&mut out)?;
                }
                Some(b) => {
                    out.push(b);
                    self.bump();
                }
                None => return Err(self.error("'\"'")),
            }
        }
    }

    /// One escape sequence, after its backslash.
    fn escape(&mut self, out: &mut Vec<u8>) -> Result<(), Error> {
        let Some(b) = self.peek() else {
            return Err(self.error("an escape character"));
        };
        let plain = match b {
            b'"' => Some(b'"'),
            b'\\' => Some(b'\\'),
            b'/' => Some(b'/'),
            b'b' => Some(0x08),
            b'f' => Some(0x0c),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'u' => None,
            _ => return Err(self.error("a JSON escape")),
        };
        self.bump();
        if let Some(c) = plain {
            out.push(c);
            return Ok(());
        }
        let unit = self.hex4()?;
        let code = match unit {
            0xd800..=0xdbff => {
                if self.peek() != Some(b'\\') {
                    return Err(self.error("a low surrogate escape"));
                }
                self.bump();
                self.expect(b'u', "a low surrogate escape")?;
                let low = self.hex4()?;
                if !(0xdc00..=0xdfff).contains(&low) {
                    return Err(self.error("a low surrogate escape"));
                }
                let high = u32::from(unit).saturating_sub(0xd800);
                let low = u32::from(low).saturating_sub(0xdc00);
                (high << 10 | low).saturating_add(0x1_0000)
            }
            0xdc00..=0xdfff => return Err(self.error("a high surrogate before a low one")),
            _ => u32::from(unit),
        };
        let c = char::from_u32(code).ok_or(self.error("a unicode scalar value"))?;
        let mut utf8 = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
        Ok(())
    }

    fn hex4(&mut self) -> Result<u16, Error> {
        let mut unit = 0u16;
        for _ in 0..4 {
            let digit = self
                .peek()
                .and_then(|b| char::from(b).to_digit(16))
                .ok_or(self.error("four hex digits"))?;
            // Four hex digits fit in 16 bits.
            unit = unit << 4 | digit as u16;
            self.bump();
        }
        Ok(unit)
    }
}
