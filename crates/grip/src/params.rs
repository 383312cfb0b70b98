//! Header-value lists and parameters as Pushpin's `HttpHeaders` reads them
//! (`spec/grip.md` §3.1): lookups by case-insensitive name, "get" returning the
//! first occurrence, "get all" splitting every occurrence on commas outside
//! double quotes, and the `value; a=b; c="d"` parameter grammar.
//!
//! These are byte-exact ports of 1.36's parsing, quirks included: the first
//! item is taken verbatim (no unquoting), an unterminated quote drops the
//! whole element, and a parameter without `=` has an empty value.

use bytes::Bytes;

use crate::qt::trimmed;

/// One header as received: name and value, case and order preserved.
pub type Header = (Bytes, Bytes);

/// How the first item of an element is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseMode {
    /// The first item is the text up to the first `;`, verbatim (trimmed).
    NoParseFirstParameter,
    /// The first item is a `name=value` pair like the others
    /// (`Grip-Set-Meta`, `Grip-Session-Detect`).
    ParseAllParameters,
}

/// The parsed parameters of one header element: `(name, value)` pairs in order.
///
/// In [`ParseMode::NoParseFirstParameter`] the first pair is `(item, "")`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    /// The pairs, in the order written.
    pub items: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Params {
    /// Whether there are no pairs at all.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The first item's name: the element's value in
    /// [`ParseMode::NoParseFirstParameter`].
    pub fn first(&self) -> Option<&[u8]> {
        self.items.first().map(|(k, _)| k.as_slice())
    }

    /// Whether a parameter of this name (ASCII case-insensitive) exists.
    pub fn contains(&self, name: &[u8]) -> bool {
        self.items.iter().any(|(k, _)| k.eq_ignore_ascii_case(name))
    }

    /// The value of the first parameter of this name (ASCII case-insensitive).
    pub fn get(&self, name: &[u8]) -> Option<&[u8]> {
        self.items
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// The parameters after the first item, in order.
    pub fn rest(&self) -> &[(Vec<u8>, Vec<u8>)] {
        self.items.get(1..).unwrap_or_default()
    }
}

/// Position of the first `c` outside double quotes at or after `offset`;
/// `Some(len)` when there is none, `None` for an unterminated quote or a
/// dangling escape inside quotes.
fn find_non_quoted(input: &[u8], c: u8, offset: usize) -> Option<usize> {
    let mut in_quote = false;
    let mut n = offset;
    while let Some(&b) = input.get(n) {
        if in_quote {
            if b == b'\\' {
                n = n.saturating_add(1);
                if n >= input.len() {
                    return None;
                }
            } else if b == b'"' {
                in_quote = false;
            }
        } else if b == b'"' {
            in_quote = true;
        } else if b == c {
            return Some(n);
        }
        n = n.saturating_add(1);
    }
    if in_quote { None } else { Some(input.len()) }
}

/// Splits a header value on commas outside double quotes, trimming each part
/// (`headerSplit`). An unterminated quote makes the rest one part.
pub fn split_list(input: &[u8]) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let mut pos = 0;
    while pos < input.len() {
        let rest = input.get(pos..).unwrap_or_default();
        match find_non_quoted(input, b',', pos) {
            Some(end) => {
                parts.push(trimmed(input.get(pos..end).unwrap_or_default()));
                pos = if end < input.len() {
                    end.saturating_add(1)
                } else {
                    input.len()
                };
            }
            None => {
                parts.push(trimmed(rest));
                pos = input.len();
            }
        }
    }
    parts
}

/// Parses one element into parameters (`HttpHeaders::parseParameters`).
/// `None` when a quoted value is unterminated or ends in a lone backslash.
pub fn parse_params(input: &[u8], mode: ParseMode) -> Option<Params> {
    let mut out = Params::default();
    let mut start = 0;
    if mode == ParseMode::NoParseFirstParameter {
        match input.iter().position(|&b| b == b';') {
            Some(at) => {
                out.items.push((
                    trimmed(input.get(..at).unwrap_or_default()).to_vec(),
                    Vec::new(),
                ));
                start = at.saturating_add(1);
            }
            None => {
                out.items.push((trimmed(input).to_vec(), Vec::new()));
                start = input.len();
            }
        }
    }

    while start < input.len() {
        let tail = input.get(start..).unwrap_or_default();
        let Some(rel) = tail.iter().position(|&b| b == b'=' || b == b';') else {
            out.items.push((trimmed(tail).to_vec(), Vec::new()));
            break;
        };
        let at = start.saturating_add(rel);
        let var = trimmed(input.get(start..at).unwrap_or_default()).to_vec();
        let mut val = Vec::new();
        if input.get(at) == Some(&b'=') {
            let vstart = at.saturating_add(1);
            if input.get(vstart) == Some(&b'"') {
                let mut n = vstart.saturating_add(1);
                let mut end = None;
                while let Some(&b) = input.get(n) {
                    if b == b'\\' {
                        n = n.saturating_add(1);
                        let escaped = *input.get(n)?;
                        val.push(escaped);
                    } else if b == b'"' {
                        end = Some(n.saturating_add(1));
                        break;
                    } else {
                        val.push(b);
                    }
                    n = n.saturating_add(1);
                }
                let after = end?;
                let rest = input.get(after..).unwrap_or_default();
                start = match rest.iter().position(|&b| b == b';') {
                    Some(p) => after.saturating_add(p).saturating_add(1),
                    None => input.len(),
                };
            } else {
                let rest = input.get(vstart..).unwrap_or_default();
                match rest.iter().position(|&b| b == b';') {
                    Some(p) => {
                        val = trimmed(rest.get(..p).unwrap_or_default()).to_vec();
                        start = vstart.saturating_add(p).saturating_add(1);
                    }
                    None => {
                        val = trimmed(rest).to_vec();
                        start = input.len();
                    }
                }
            }
        } else {
            start = at.saturating_add(1);
        }
        out.items.push((var, val));
    }
    Some(out)
}

/// Whether a header is named `name` (ASCII case-insensitive).
fn is_named(h: &Header, name: &[u8]) -> bool {
    h.0.eq_ignore_ascii_case(name)
}

/// Whether any header is named `name` (`HttpHeaders::contains`).
pub fn contains(headers: &[Header], name: &[u8]) -> bool {
    headers.iter().any(|h| is_named(h, name))
}

/// The value of the first header named `name` (`HttpHeaders::get`).
pub fn get<'a>(headers: &'a [Header], name: &[u8]) -> Option<&'a Bytes> {
    headers.iter().find(|h| is_named(h, name)).map(|h| &h.1)
}

/// Every value of headers named `name`, each split on unquoted commas
/// (`HttpHeaders::getAll`).
pub fn get_all<'a>(headers: &'a [Header], name: &[u8]) -> Vec<&'a [u8]> {
    headers
        .iter()
        .filter(|h| is_named(h, name))
        .flat_map(|h| split_list(&h.1))
        .collect()
}

/// The parameters of the first header named `name`; empty when it is absent,
/// empty-valued or does not parse (`HttpHeaders::getAsParameters`).
pub fn get_as_params(headers: &[Header], name: &[u8], mode: ParseMode) -> Params {
    match get(headers, name) {
        Some(v) if !v.is_empty() => parse_params(v, mode).unwrap_or_default(),
        _ => Params::default(),
    }
}

/// The first item of the first header named `name` (e.g. a `Content-Type`
/// without its parameters); `None` when absent or empty
/// (`HttpHeaders::getAsFirstParameter`).
pub fn get_first_param(headers: &[Header], name: &[u8]) -> Option<Vec<u8>> {
    let params = get_as_params(headers, name, ParseMode::NoParseFirstParameter);
    params.items.into_iter().next().map(|(k, _)| k)
}

/// Every element of every header named `name`, parsed; elements that fail to
/// parse are dropped (`HttpHeaders::getAllAsParameters`).
pub fn get_all_as_params(headers: &[Header], name: &[u8], mode: ParseMode) -> Vec<Params> {
    get_all(headers, name)
        .into_iter()
        .filter_map(|v| parse_params(v, mode))
        .collect()
}

#[cfg(test)]
mod tests;
