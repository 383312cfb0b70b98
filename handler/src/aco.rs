//! Auto cross-origin and JSON-P on the responses the handler writes
//! (`spec/grip.md` §11), as Pushpin 1.36's handler applies them per session
//! from the accept request state: CORS headers on a stream hold's initial
//! headers, and on a response hold's timeout or published response either
//! JSON-P wrapping (with a callback) or CORS headers (without).
//!
//! Pure functions over headers and bytes; nothing here panics on input.

use bytes::Bytes;

use crate::session::Response;

type Header = (Bytes, Bytes);

/// The auto cross-origin settings of one client session (accept request state).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Aco {
    /// `auto-cross-origin`.
    pub(crate) enabled: bool,
    /// `jsonp-callback` (never empty when set).
    pub(crate) jsonp_callback: Option<Bytes>,
    /// `jsonp-extended-response`.
    pub(crate) jsonp_extended: bool,
}

fn values<'a>(headers: &'a [Header], name: &[u8]) -> Vec<&'a [u8]> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| &v[..])
        .collect()
}

fn push(headers: &mut Vec<Header>, name: &'static [u8], value: impl Into<Bytes>) {
    headers.push((Bytes::from_static(name), value.into()));
}

pub(crate) use pushpin_grip::cors::apply_cors;
use pushpin_grip::cors::json_string;

/// The extended JSON-P object: compact, keys sorted, each header name once
/// (first spelling) with all its values joined by `", "`.
fn extended_json(code: u16, reason: &[u8], headers: &[Header], body: &[u8]) -> String {
    let mut merged: Vec<(String, String)> = Vec::new();
    for (name, _) in headers {
        if merged
            .iter()
            .any(|(k, _)| k.as_bytes().eq_ignore_ascii_case(name))
        {
            continue;
        }
        let joined: Vec<String> = values(headers, name)
            .into_iter()
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect();
        merged.push((
            String::from_utf8_lossy(name).into_owned(),
            joined.join(", "),
        ));
    }
    merged.sort_by(|a, b| a.0.cmp(&b.0));
    let fields: Vec<String> = merged
        .iter()
        .map(|(k, v)| {
            format!(
                "{}:{}",
                json_string(k.as_bytes()),
                json_string(v.as_bytes())
            )
        })
        .collect();
    format!(
        "{{\"body\":{},\"code\":{code},\"headers\":{{{}}},\"reason\":{}}}",
        json_string(body),
        fields.join(","),
        json_string(reason)
    )
}

impl Aco {
    /// Reads the settings from an accept request state.
    pub(crate) fn from_state(r: &pushpin_internal::RequestState) -> Self {
        Self {
            enabled: r.auto_cross_origin,
            jsonp_callback: r.jsonp_callback.clone().filter(|cb| !cb.is_empty()),
            jsonp_extended: r.jsonp_extended_response,
        }
    }

    /// The initial headers of a stream hold: CORS headers added when enabled.
    pub(crate) fn stream_head(&self, request: &[Header], response: &Response) -> Option<Response> {
        if !self.enabled {
            return None;
        }
        let mut out = response.clone();
        apply_cors(request, &mut out.headers);
        Some(out)
    }

    /// A complete response to the client (timeout or published): wrapped in
    /// JSON-P when there is a callback, else with CORS headers, when enabled.
    /// `Content-Length` is recomputed and written last.
    pub(crate) fn respond(&self, request: &[Header], response: Response) -> Response {
        if !self.enabled {
            return response;
        }
        let Response {
            mut code,
            mut reason,
            mut headers,
            mut body,
        } = response;
        headers.retain(|(n, _)| !n.eq_ignore_ascii_case(b"Content-Length"));
        if let Some(cb) = &self.jsonp_callback {
            let mut out = b"/**/".to_vec();
            out.extend_from_slice(cb);
            out.push(b'(');
            if self.jsonp_extended {
                out.extend_from_slice(extended_json(code, &reason, &headers, &body).as_bytes());
            } else {
                let trimmed = body
                    .strip_suffix(b"\r\n")
                    .or_else(|| body.strip_suffix(b"\n"))
                    .unwrap_or(&body);
                out.extend_from_slice(trimmed);
            }
            out.extend_from_slice(b");\n");
            body = Bytes::from(out);
            headers.retain(|(n, _)| !n.eq_ignore_ascii_case(b"Content-Type"));
            push(
                &mut headers,
                b"Content-Type",
                &b"application/javascript"[..],
            );
            code = 200;
            reason = Bytes::from_static(b"OK");
        } else {
            apply_cors(request, &mut headers);
        }
        push(&mut headers, b"Content-Length", body.len().to_string());
        Response {
            code,
            reason,
            headers,
            body,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<Header> {
        pairs
            .iter()
            .map(|(n, v)| {
                (
                    Bytes::copy_from_slice(n.as_bytes()),
                    Bytes::copy_from_slice(v.as_bytes()),
                )
            })
            .collect()
    }

    /// The long-poll timeout response of the vector's `/lp` (Grip headers
    /// already filtered, `Content-Length` added by `timeout_response`).
    fn timeout() -> Response {
        Response {
            code: 200,
            reason: Bytes::from_static(b"OK"),
            headers: h(&[
                ("Content-Type", "text/plain"),
                ("X-Foo", "bar"),
                ("Content-Length", "13"),
            ]),
            body: Bytes::from_static(b"timeout body\n"),
        }
    }

    fn jsonp(extended: bool) -> Aco {
        Aco {
            enabled: true,
            jsonp_callback: Some(Bytes::from_static(b"cb")),
            jsonp_extended: extended,
        }
    }

    // spec/vectors/grip/auto-cross-origin-jsonp.txt, "JSON-P on a long-poll"
    #[test]
    fn extended_jsonp_wraps_the_timeout_response_like_the_vector() {
        let out = jsonp(true).respond(&h(&[("Host", "e")]), timeout());
        let body = "/**/cb({\"body\":\"timeout body\\n\",\"code\":200,\
                    \"headers\":{\"Content-Type\":\"text/plain\",\"X-Foo\":\"bar\"},\
                    \"reason\":\"OK\"});\n";
        assert_eq!((out.code, &out.reason[..]), (200, &b"OK"[..]));
        assert_eq!(
            out.headers,
            h(&[
                ("X-Foo", "bar"),
                ("Content-Type", "application/javascript"),
                ("Content-Length", "114"),
            ])
        );
        assert_eq!(out.body, body.as_bytes());
        assert_eq!(out.body.len(), 114);
    }

    #[test]
    fn extended_jsonp_forces_200_and_merges_repeated_headers() {
        let r = Response {
            code: 404,
            reason: Bytes::from_static(b"Not Found"),
            headers: h(&[("X-A", "1"), ("Cache-Control", "no-cache"), ("x-a", "2")]),
            body: Bytes::from_static(b"\"q\""),
        };
        let out = jsonp(true).respond(&[], r);
        assert_eq!(out.code, 200);
        assert_eq!(
            out.body,
            &b"/**/cb({\"body\":\"\\\"q\\\"\",\"code\":404,\
               \"headers\":{\"Cache-Control\":\"no-cache\",\"X-A\":\"1, 2\"},\
               \"reason\":\"Not Found\"});\n"[..]
        );
    }

    // the vector's basic mode: one trailing newline removed
    #[test]
    fn basic_jsonp_wraps_the_body_only() {
        let mut r = timeout();
        r.body = Bytes::from_static(b"hello\n");
        let out = jsonp(false).respond(&[], r);
        assert_eq!(out.body, &b"/**/cb(hello);\n"[..]);
        assert_eq!(header(&out, "Content-Length"), Some("15"));
        let mut r = timeout();
        r.body = Bytes::from_static(b"a\n\r\n");
        assert_eq!(jsonp(false).respond(&[], r).body, &b"/**/cb(a\n);\n"[..]);
    }

    fn header<'a>(r: &'a Response, name: &str) -> Option<&'a str> {
        r.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    // spec/vectors/grip/auto-cross-origin-jsonp.txt, "aco on a long-poll timeout response"
    #[test]
    fn cors_on_the_timeout_response_like_the_vector() {
        let aco = Aco {
            enabled: true,
            ..Aco::default()
        };
        let out = aco.respond(&h(&[("Host", "e"), ("Origin", "http://o.com")]), timeout());
        assert_eq!(
            out.headers,
            h(&[
                ("Content-Type", "text/plain"),
                ("X-Foo", "bar"),
                (
                    "Access-Control-Allow-Methods",
                    "OPTIONS, HEAD, GET, POST, PUT, DELETE"
                ),
                ("Access-Control-Expose-Headers", "X-Foo"),
                ("Access-Control-Allow-Credentials", "true"),
                ("Access-Control-Allow-Origin", "http://o.com"),
                ("Access-Control-Max-Age", "3600"),
                ("Content-Length", "13"),
            ])
        );
        assert_eq!(out.body, &b"timeout body\n"[..]);
    }

    // the vector's preflight case: request method and headers echoed
    #[test]
    fn cors_echoes_preflight_requests_and_keeps_existing_headers() {
        let req = h(&[
            ("Origin", "http://a.com"),
            ("Access-Control-Request-Method", "PUT"),
            ("Access-Control-Request-Headers", "X-One, X-Two"),
        ]);
        let mut resp = h(&[("Access-Control-Max-Age", "10"), ("Grip-X", "1")]);
        apply_cors(&req, &mut resp);
        assert_eq!(
            resp,
            h(&[
                ("Access-Control-Max-Age", "10"),
                ("Grip-X", "1"),
                ("Access-Control-Allow-Methods", "PUT"),
                ("Access-Control-Allow-Headers", "X-One, X-Two"),
                ("Access-Control-Allow-Credentials", "true"),
                ("Access-Control-Allow-Origin", "http://a.com"),
            ])
        );
    }

    #[test]
    fn disabled_leaves_responses_alone_even_with_a_callback() {
        let aco = Aco {
            enabled: false,
            ..jsonp(true)
        };
        assert_eq!(aco.respond(&[], timeout()), timeout());
        assert_eq!(aco.stream_head(&[], &timeout()), None);
    }
}
