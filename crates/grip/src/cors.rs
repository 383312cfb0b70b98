//! The `Access-Control-*` headers Pushpin adds under auto cross-origin
//! (`spec/grip.md` §11, 1.36's `Cors::applyCorsHeaders`), and the JSON string
//! escaping of its extended JSON-P wrapper. Shared by the proxy (passthrough
//! answers) and the handler (held responses).

use bytes::Bytes;

use crate::params::{self, Header};

/// `Access-Control-Allow-Methods` when the request names none.
const DEFAULT_ALLOW_METHODS: &[u8] = b"OPTIONS, HEAD, GET, POST, PUT, DELETE";
/// Response headers never listed in `Access-Control-Expose-Headers`.
const SIMPLE_HEADERS: [&[u8]; 7] = [
    b"Cache-Control",
    b"Content-Language",
    b"Content-Length",
    b"Content-Type",
    b"Expires",
    b"Last-Modified",
    b"Pragma",
];

fn starts_with_ci(name: &[u8], prefix: &[u8]) -> bool {
    name.get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}

fn has(headers: &[Header], name: &[u8]) -> bool {
    headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
}

fn push(headers: &mut Vec<Header>, name: &'static [u8], value: impl Into<Bytes>) {
    headers.push((Bytes::from_static(name), value.into()));
}

/// Adds the CORS headers for a request with `request` headers to
/// `response`, each only when the response lacks it.
pub fn apply_cors(request: &[Header], response: &mut Vec<Header>) {
    if !has(response, b"Access-Control-Allow-Methods") {
        let method = params::get(request, b"Access-Control-Request-Method")
            .filter(|m| !m.is_empty())
            .cloned()
            .unwrap_or_else(|| Bytes::from_static(DEFAULT_ALLOW_METHODS));
        push(response, b"Access-Control-Allow-Methods", method);
    }
    if !has(response, b"Access-Control-Allow-Headers") {
        let allow: Vec<&[u8]> = params::get_all(request, b"Access-Control-Request-Headers")
            .into_iter()
            .filter(|h| !h.is_empty())
            .collect();
        if !allow.is_empty() {
            push(
                response,
                b"Access-Control-Allow-Headers",
                allow.join(&b", "[..]),
            );
        }
    }
    if !has(response, b"Access-Control-Expose-Headers") {
        let mut expose: Vec<&[u8]> = Vec::new();
        for (name, _) in response.iter() {
            let simple = SIMPLE_HEADERS.iter().any(|s| name.eq_ignore_ascii_case(s));
            if !simple
                && !starts_with_ci(name, b"Access-Control-")
                && !starts_with_ci(name, b"Grip-")
                && !expose.iter().any(|e| e.eq_ignore_ascii_case(name))
            {
                expose.push(name);
            }
        }
        if !expose.is_empty() {
            let value = expose.join(&b", "[..]);
            push(response, b"Access-Control-Expose-Headers", value);
        }
    }
    if !has(response, b"Access-Control-Allow-Credentials") {
        push(response, b"Access-Control-Allow-Credentials", &b"true"[..]);
    }
    if !has(response, b"Access-Control-Allow-Origin") {
        let origin = params::get(request, b"Origin")
            .filter(|o| !o.is_empty())
            .cloned()
            .unwrap_or_else(|| Bytes::from_static(b"*"));
        push(response, b"Access-Control-Allow-Origin", origin);
    }
    if !has(response, b"Access-Control-Max-Age") {
        push(response, b"Access-Control-Max-Age", &b"3600"[..]);
    }
}

/// A JSON string literal of `bytes` read as UTF-8 (invalid sequences replaced),
/// escaped as Qt 5's JSON writer does (`"`, `\`, `\b \f \n \r \t`, other
/// controls `\u00xx`). Used by the extended JSON-P wrapper (`spec/grip.md` §11).
pub fn json_string(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    serde_json::to_string(&*text).unwrap_or_else(|_| String::from("\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(n: &'static str, v: &'static str) -> Header {
        (
            Bytes::from_static(n.as_bytes()),
            Bytes::from_static(v.as_bytes()),
        )
    }

    fn get<'a>(headers: &'a [Header], name: &str) -> Option<&'a [u8]> {
        params::get(headers, name.as_bytes()).map(|v| v.as_ref())
    }

    #[test]
    fn defaults_without_request_hints() {
        let mut resp = vec![h("Content-Type", "text/plain"), h("X-Thing", "1")];
        apply_cors(&[], &mut resp);
        assert_eq!(
            get(&resp, "Access-Control-Allow-Methods"),
            Some(DEFAULT_ALLOW_METHODS)
        );
        assert_eq!(get(&resp, "Access-Control-Allow-Headers"), None);
        assert_eq!(
            get(&resp, "Access-Control-Expose-Headers"),
            Some(&b"X-Thing"[..])
        );
        assert_eq!(
            get(&resp, "Access-Control-Allow-Credentials"),
            Some(&b"true"[..])
        );
        assert_eq!(get(&resp, "Access-Control-Allow-Origin"), Some(&b"*"[..]));
        assert_eq!(get(&resp, "Access-Control-Max-Age"), Some(&b"3600"[..]));
    }

    #[test]
    fn echoes_the_preflight_and_keeps_what_the_response_has() {
        let req = vec![
            h("Origin", "https://a.example"),
            h("Access-Control-Request-Method", "PUT"),
            h("Access-Control-Request-Headers", "X-A"),
            h("Access-Control-Request-Headers", "X-B"),
        ];
        let mut resp = vec![
            h("Access-Control-Max-Age", "10"),
            h("Grip-Hold", "stream"),
            h("x-one", "1"),
            h("X-One", "2"),
        ];
        apply_cors(&req, &mut resp);
        assert_eq!(
            get(&resp, "Access-Control-Allow-Methods"),
            Some(&b"PUT"[..])
        );
        assert_eq!(
            get(&resp, "Access-Control-Allow-Headers"),
            Some(&b"X-A, X-B"[..])
        );
        assert_eq!(
            get(&resp, "Access-Control-Expose-Headers"),
            Some(&b"x-one"[..])
        );
        assert_eq!(
            get(&resp, "Access-Control-Allow-Origin"),
            Some(&b"https://a.example"[..])
        );
        assert_eq!(get(&resp, "Access-Control-Max-Age"), Some(&b"10"[..]));
        assert_eq!(
            resp.iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(b"Access-Control-Max-Age"))
                .count(),
            1
        );
    }

    #[test]
    fn json_string_plain_text_is_quoted() {
        assert_eq!(json_string(b""), "\"\"");
        assert_eq!(json_string(b"hello world"), "\"hello world\"");
    }

    #[test]
    fn json_string_escapes_like_qt() {
        assert_eq!(json_string(b"a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(json_string(b"\x08\x0c\n\r\t"), r#""\b\f\n\r\t""#);
        assert_eq!(json_string(b"\x00\x01\x1f"), r#""\u0000\u0001\u001f""#);
        // '/' and non-ASCII are written as they are
        assert_eq!(json_string("/é€".as_bytes()), "\"/é€\"");
    }

    #[test]
    fn json_string_replaces_invalid_utf8() {
        assert_eq!(json_string(b"a\xffb"), "\"a\u{fffd}b\"");
    }
}
