//! GRIP instructions from a backend response (`spec/grip.md` §3, §4): the
//! `Grip-*` headers and the `application/grip-instruct` JSON body, parsed into
//! a typed [`Instruct`] exactly as 1.36's `Instruct::fromResponse` does —
//! defaults, minimums, header/JSON merging and every error text included.
//!
//! Entry point: [`Instruct::parse`]. Related helpers: [`is_grip_response`]
//! (the proxy's GRIP detection) and [`grip_last_header`].

mod error;
mod json;

use std::collections::BTreeMap;

use bytes::Bytes;

pub use error::{InstructError, PROXY_ERROR_BODY};

use crate::keepalive::{
    DEFAULT_KEEP_ALIVE_TIMEOUT, DataFormat, KeepAlive, KeepAliveMode, MIN_KEEP_ALIVE_TIMEOUT,
};
use crate::params::{self, Header, ParseMode};
use crate::{qt, status};

/// Response-hold timeout in seconds when none is given.
pub const DEFAULT_RESPONSE_TIMEOUT: u32 = 55;

/// Smallest response-hold timeout in seconds; smaller values are raised to it.
pub const MIN_RESPONSE_TIMEOUT: u32 = 5;

/// Next-link timeout in seconds when the link has no `timeout=`.
pub const DEFAULT_NEXT_LINK_TIMEOUT: u32 = 120;

/// The content type of a JSON instruct body.
pub const GRIP_INSTRUCT_CONTENT_TYPE: &[u8] = b"application/grip-instruct";

/// The `Grip-Feature` value the 1.36 proxy sends to backends (`spec/grip.md` §2.1).
pub const GRIP_FEATURE: &str = "status, session, link:next, filter:skip-self, filter:skip-users, filter:require-sub, filter:build-id, filter:var-subst";

/// How the client connection is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HoldMode {
    /// Long-polling: one response, sent on publish or timeout.
    Response,
    /// Streaming: the initial response stays open for published content.
    Stream,
}

impl HoldMode {
    /// The wire spelling (`Grip-Hold`, JSON `hold.mode`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Response => "response",
            Self::Stream => "stream",
        }
    }
}

/// One channel to subscribe to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Channel {
    /// Channel name as written (the route prefix is added by the handler).
    pub name: String,
    /// Id of the last item the backend already reflected (`prev-id`).
    pub prev_id: Option<String>,
    /// Filter names, in order (unknown names are kept; the handler ignores them).
    pub filters: Vec<String>,
}

/// A `Grip-Link: <uri>; rel=next` instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextLink {
    /// The link as written between `<` and `>`, still to be resolved against
    /// the request URI.
    pub uri: Bytes,
    /// Seconds between fetches.
    pub timeout: u32,
}

/// The response the client will see (status, filtered headers, body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstructResponse {
    /// Status code (0..=999).
    pub code: u16,
    /// Reason phrase, never empty (filled from the standard table).
    pub reason: Bytes,
    /// Backend headers minus `Grip-*` (and minus unexposed ones), or the JSON
    /// instruct's `response.headers`.
    pub headers: Vec<Header>,
    /// The body. `None` only for a JSON instruct whose `response` has no body:
    /// 1.36 treats that "null" body as a filter error (`filter error: `) when
    /// there is no hold — see [`InstructResponse::body_or_empty`].
    pub body: Option<Bytes>,
}

impl InstructResponse {
    /// The body, with a missing one read as empty.
    pub fn body_or_empty(&self) -> Bytes {
        self.body.clone().unwrap_or_default()
    }
}

/// Parsed GRIP instructions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruct {
    /// Hold mode; `None` = no hold.
    pub hold: Option<HoldMode>,
    /// Channels, header ones first, then JSON ones.
    pub channels: Vec<Channel>,
    /// Response-hold timeout in seconds (default 55, at least 5).
    pub timeout: u32,
    /// `Grip-Expose-Headers` names (empty = expose everything).
    pub expose_headers: Vec<Bytes>,
    /// Stream keep-alive, if any.
    pub keep_alive: Option<KeepAlive>,
    /// Subscription meta (`Grip-Set-Meta`, JSON `hold.meta`).
    pub meta: BTreeMap<String, String>,
    /// What the client sees.
    pub response: InstructResponse,
    /// The `rel=next` link, if any (the last one wins).
    pub next_link: Option<NextLink>,
}

/// Instruct fields while header and JSON instructions are merged.
#[derive(Debug, Default)]
pub(crate) struct Builder {
    pub(crate) hold: Option<HoldMode>,
    pub(crate) channels: Vec<Channel>,
    pub(crate) timeout: Option<i32>,
    pub(crate) keep_alive_mode: Option<KeepAliveMode>,
    pub(crate) keep_alive_data: Bytes,
    pub(crate) keep_alive_timeout: Option<i32>,
    pub(crate) meta: BTreeMap<String, String>,
    pub(crate) code: u16,
    pub(crate) reason: Bytes,
    pub(crate) headers: Vec<Header>,
    pub(crate) body: Option<Bytes>,
}

impl Instruct {
    /// Parses the instructions of a backend response: its status `code` and
    /// `reason`, `headers` (order and case as received) and complete `body`.
    pub fn parse(
        code: u16,
        reason: &Bytes,
        headers: &[Header],
        body: &Bytes,
    ) -> Result<Self, InstructError> {
        let mut b = Builder {
            code,
            reason: reason.clone(),
            body: Some(body.clone()),
            ..Builder::default()
        };

        if let Some(hold) = params::get(headers, b"Grip-Hold") {
            b.hold = Some(match hold.as_ref() {
                b"response" => HoldMode::Response,
                b"stream" => HoldMode::Stream,
                _ => return Err(InstructError::InvalidHold),
            });
        }

        for p in
            params::get_all_as_params(headers, b"Grip-Channel", ParseMode::NoParseFirstParameter)
        {
            let Some(name) = p.first() else {
                return Err(InstructError::GripChannel);
            };
            b.channels.push(Channel {
                name: qt::lossy_string(name),
                prev_id: p.get(b"prev-id").map(qt::lossy_string),
                filters: p
                    .rest()
                    .iter()
                    .filter(|(k, _)| k.as_slice() == b"filter")
                    .map(|(_, v)| qt::lossy_string(v))
                    .collect(),
            });
        }

        if let Some(t) = params::get(headers, b"Grip-Timeout") {
            let t = qt::to_i32(t).ok_or(InstructError::TimeoutParse)?;
            if t < 0 {
                return Err(InstructError::TimeoutInvalid);
            }
            b.timeout = Some(t);
        }

        let expose_headers: Vec<Bytes> = params::get_all(headers, b"Grip-Expose-Headers")
            .into_iter()
            .map(Bytes::copy_from_slice)
            .collect();

        parse_keep_alive_header(headers, &mut b)?;

        for p in params::get_all_as_params(headers, b"Grip-Set-Meta", ParseMode::ParseAllParameters)
        {
            let Some((k, v)) = p.items.first() else {
                return Err(InstructError::SetMetaEmpty);
            };
            b.meta.insert(qt::lossy_string(k), qt::lossy_string(v));
        }

        if let Some(status_header) = params::get(headers, b"Grip-Status").filter(|s| !s.is_empty())
        {
            let (code_str, reason) = match status_header.iter().position(|&c| c == b' ') {
                Some(at) => (
                    status_header.slice(..at),
                    status_header.slice(at.saturating_add(1)..),
                ),
                None => (status_header.clone(), Bytes::new()),
            };
            b.code = qt::to_i32(&code_str)
                .and_then(|c| u16::try_from(c).ok())
                .filter(|c| *c <= 999)
                .ok_or(InstructError::StatusInvalid)?;
            b.reason = reason;
        }

        let next_link = parse_next_link(headers)?;

        b.headers = headers
            .iter()
            .filter(|(name, _)| !is_grip_header(name))
            .filter(|(name, _)| {
                expose_headers.is_empty()
                    || expose_headers.iter().any(|e| e.eq_ignore_ascii_case(name))
            })
            .cloned()
            .collect();

        if params::get_first_param(headers, b"Content-Type").as_deref()
            == Some(GRIP_INSTRUCT_CONTENT_TYPE)
        {
            if code != 200 {
                return Err(InstructError::JsonStatus);
            }
            json::apply(body, &mut b)?;
        }

        Ok(b.finish(expose_headers, next_link))
    }
}

impl Builder {
    fn finish(self, expose_headers: Vec<Bytes>, next_link: Option<NextLink>) -> Instruct {
        let reason = if self.reason.is_empty() {
            Bytes::from_static(status::reason(self.code).as_bytes())
        } else {
            self.reason
        };
        let timeout = self
            .timeout
            .and_then(|t| u32::try_from(t).ok())
            .unwrap_or(DEFAULT_RESPONSE_TIMEOUT)
            .max(MIN_RESPONSE_TIMEOUT);
        let keep_alive = self.keep_alive_timeout.map(|t| KeepAlive {
            data: self.keep_alive_data,
            timeout: u32::try_from(t).unwrap_or(0).max(MIN_KEEP_ALIVE_TIMEOUT),
            // a JSON keep-alive without a header mode has no mode in 1.36 and
            // behaves like interval mode
            mode: self.keep_alive_mode.unwrap_or(KeepAliveMode::Interval),
        });
        Instruct {
            hold: self.hold,
            channels: self.channels,
            timeout,
            expose_headers,
            keep_alive,
            meta: self.meta,
            response: InstructResponse {
                code: self.code,
                reason,
                headers: self.headers,
                body: self.body,
            },
            next_link,
        }
    }
}

fn parse_keep_alive_header(headers: &[Header], b: &mut Builder) -> Result<(), InstructError> {
    let p = params::get_as_params(
        headers,
        b"Grip-Keep-Alive",
        ParseMode::NoParseFirstParameter,
    );
    let Some(val) = p.first() else {
        return Ok(());
    };
    if val.is_empty() {
        return Err(InstructError::KeepAliveEmpty);
    }
    b.keep_alive_mode = Some(match p.get(b"mode").unwrap_or_default() {
        b"" | b"idle" => KeepAliveMode::Idle,
        b"interval" => KeepAliveMode::Interval,
        other => {
            return Err(InstructError::KeepAliveMode {
                mode: qt::lossy_string(other),
            });
        }
    });
    b.keep_alive_timeout = Some(match p.get(b"timeout") {
        Some(t) => {
            let t = qt::to_i32(t).ok_or(InstructError::KeepAliveTimeoutParse)?;
            if t < 0 {
                return Err(InstructError::KeepAliveTimeoutInvalid);
            }
            t
        }
        None => i32::try_from(DEFAULT_KEEP_ALIVE_TIMEOUT).unwrap_or(i32::MAX),
    });
    let format_str = p.get(b"format").unwrap_or_default();
    let format = DataFormat::parse(format_str).ok_or_else(|| InstructError::KeepAliveFormat {
        format: qt::lossy_string(format_str),
    })?;
    let data = format.decode(val).ok_or(InstructError::KeepAliveCstring)?;
    b.keep_alive_data = Bytes::from(data);
    Ok(())
}

fn parse_next_link(headers: &[Header]) -> Result<Option<NextLink>, InstructError> {
    let mut next = None;
    for p in params::get_all_as_params(headers, b"Grip-Link", ParseMode::NoParseFirstParameter) {
        if p.items.len() < 2 || p.get(b"rel") != Some(b"next") {
            continue;
        }
        let link = p.first().unwrap_or_default();
        let inner = match link {
            [b'<', inner @ .., b'>'] if link.len() > 2 => inner,
            _ => return Err(InstructError::LinkValue),
        };
        if !is_valid_link(inner) {
            return Err(InstructError::LinkInvalid);
        }
        let timeout = match p.get(b"timeout") {
            Some(t) => {
                let t = qt::to_i32(t).ok_or(InstructError::LinkTimeoutParse)?;
                u32::try_from(t).map_err(|_| InstructError::LinkTimeoutInvalid)?
            }
            None => DEFAULT_NEXT_LINK_TIMEOUT,
        };
        next = Some(NextLink {
            uri: Bytes::copy_from_slice(inner),
            timeout,
        });
    }
    Ok(next)
}

/// An approximation of `QUrl::fromEncoded(..).isValid()` (tolerant mode): the
/// link must not contain control bytes, and an authority, if present, must
/// have a numeric port and a host without spaces or unbalanced brackets.
fn is_valid_link(link: &[u8]) -> bool {
    if link.iter().any(|&c| c < 0x20 || c == 0x7f) {
        return false;
    }
    let after_scheme = match link.iter().position(|&c| c == b':') {
        Some(at)
            if link
                .get(..at)
                .is_some_and(|s| !s.is_empty() && !s.iter().any(|c| b"/?#".contains(c))) =>
        {
            link.get(at.saturating_add(1)..).unwrap_or_default()
        }
        _ => link,
    };
    let Some(rest) = after_scheme.strip_prefix(b"//") else {
        return true;
    };
    let end = rest
        .iter()
        .position(|c| b"/?#".contains(c))
        .unwrap_or(rest.len());
    let authority = rest.get(..end).unwrap_or_default();
    let host_port = match authority.iter().rposition(|&c| c == b'@') {
        Some(at) => authority.get(at.saturating_add(1)..).unwrap_or_default(),
        None => authority,
    };
    let (host, port) = match host_port.strip_prefix(b"[") {
        Some(v6) => {
            let Some(close) = v6.iter().position(|&c| c == b']') else {
                return false;
            };
            let after = v6.get(close.saturating_add(1)..).unwrap_or_default();
            match after {
                [] => (v6.get(..close).unwrap_or_default(), None),
                [b':', port @ ..] => (v6.get(..close).unwrap_or_default(), Some(port)),
                _ => return false,
            }
        }
        None => match host_port.iter().rposition(|&c| c == b':') {
            Some(at) => (
                host_port.get(..at).unwrap_or_default(),
                host_port.get(at.saturating_add(1)..),
            ),
            None => (host_port, None),
        },
    };
    let port_ok = port.is_none_or(|p| p.iter().all(u8::is_ascii_digit) && p.len() <= 5);
    port_ok && !host.iter().any(|c| b" []<>\"".contains(c))
}

/// Whether a header name starts with `Grip-` (ASCII case-insensitive).
pub fn is_grip_header(name: &[u8]) -> bool {
    name.get(..5)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"Grip-"))
}

/// The proxy's GRIP detection (`spec/grip.md` §1): the `Content-Type` before
/// its first `;` (untrimmed, case-sensitive) is `application/grip-instruct`,
/// or any header name starts with `Grip-`.
pub fn is_grip_response(headers: &[Header]) -> bool {
    let instruct_type = params::get(headers, b"Content-Type").is_some_and(|ct| {
        let end = ct.iter().position(|&c| c == b';').unwrap_or(ct.len());
        ct.get(..end) == Some(GRIP_INSTRUCT_CONTENT_TYPE)
    });
    instruct_type || headers.iter().any(|(name, _)| is_grip_header(name))
}

/// The `Grip-Last` header value for a channel's last id:
/// `<channel>; last-id=<id>` (`spec/grip.md` §7.3).
pub fn grip_last_header(channel: &str, last_id: &str) -> Bytes {
    Bytes::from(format!("{channel}; last-id={last_id}"))
}

/// Reads `Grip-Last` headers (`<channel>; last-id=<id>`, list form allowed)
/// into `(channel, last-id)` pairs, in order.
pub fn parse_grip_last(headers: &[Header]) -> Vec<(String, String)> {
    params::get_all_as_params(headers, b"Grip-Last", ParseMode::NoParseFirstParameter)
        .into_iter()
        .map(|p| {
            (
                qt::lossy_string(p.first().unwrap_or_default()),
                qt::lossy_string(p.get(b"last-id").unwrap_or_default()),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests;
