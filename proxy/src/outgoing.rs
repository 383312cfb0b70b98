//! What the origin receives: the route's URI and header rewriting of `spec/grip.md` §2.1
//! and `spec/config.md` §8.2/§8.5 (route `header=`, `orig_headers`, hop-by-hop removal,
//! `Grip-*` stripping, `Grip-Sig`/`Grip-Feature`/`Grip-Last`, X-Forwarded-*, `Host`,
//! `as_host`, `path_rem`/`replace_beg`, target `host=`), plus the trusted-client check
//! against `upstream_key` (§2.3). Pure functions; the clock arrives as `now` (Unix seconds).

use bytes::Bytes;
use pushpin_config::key::{ConfigKey, PemLoadError};
use pushpin_config::proxy::{ProxyConfig, SetXForwardedProtocol, XffRule};
use pushpin_config::routes::{Route, Target};
use pushpin_grip::instruct::{GRIP_FEATURE, grip_last_header, is_grip_header};
use pushpin_grip::sig::{PemKey, SigningKey, SystemRandom, VerifyingKey};

use crate::uri::Uri;

/// A header as carried between modules: name and value, case and order kept.
pub(crate) type Header = (Bytes, Bytes);

/// Removed from every proxied request (`spec/grip.md` §2.1 step 3).
const HOP_BY_HOP: [&[u8]; 6] = [
    b"Connection",
    b"Keep-Alive",
    b"Accept-Encoding",
    b"Content-Encoding",
    b"Transfer-Encoding",
    b"Expect",
];

/// The name prefix of `orig_headers` copies.
const ORIG_PREFIX: &[u8] = b"eb9bf0f5-";

/// The client request as it reached us (after `accept_x_forwarded_protocol`).
#[derive(Debug, Clone)]
pub(crate) struct ClientRequest {
    /// Method.
    pub(crate) method: Bytes,
    /// The URI as received (scheme possibly upgraded to https).
    pub(crate) uri: Uri,
    /// The raw URI bytes to report (orig-request-data, inspect).
    pub(crate) uri_text: Bytes,
    /// Headers as received.
    pub(crate) headers: Vec<Header>,
    /// Client address, when known.
    pub(crate) peer_address: Option<Bytes>,
}

/// The request to send to one target.
#[derive(Debug, Clone)]
pub(crate) struct OriginRequest {
    /// Final URI (scheme from the target's `ssl`, host from `as_host`/`host=`).
    pub(crate) uri: Uri,
    /// Final headers.
    pub(crate) headers: Vec<Header>,
}

/// Per-request facts that change the rewriting.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rewrite<'a> {
    /// The client presented a valid `Grip-Sig` under `upstream_key`.
    pub(crate) trusted_client: bool,
    /// An intreq (handler → proxy) request: client `Grip-*` headers are kept.
    pub(crate) internal: bool,
    /// `Grip-Last` values to add (channel, last id).
    pub(crate) last_ids: &'a [(Bytes, Bytes)],
    /// `Grip-Session-Id` to add.
    pub(crate) sid: Option<&'a Bytes>,
    /// Unix time for `Grip-Sig`.
    pub(crate) now: i64,
}

fn remove(headers: &mut Vec<Header>, name: &[u8]) {
    headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
}

/// The first value of header `name`.
pub(crate) fn get<'a>(headers: &'a [Header], name: &[u8]) -> Option<&'a Bytes> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// Whether `upstream_key` makes this client trusted (a valid, unexpired `Grip-Sig`).
/// `None` key means "no key" (our deviation from 1.36, which trusts the empty secret). A
/// `file:` key trusts only when it is a public key (1.36: a private, unreadable or invalid
/// file never verifies anything).
pub(crate) fn is_trusted_client(config: &ProxyConfig, headers: &[Header], now: i64) -> bool {
    let key = match &config.upstream_key {
        Some(ConfigKey::Secret(secret)) => VerifyingKey::Secret(secret),
        Some(ConfigKey::Pem(pem)) => match &pem.key {
            Ok(PemKey::Public(public)) => VerifyingKey::Public(public),
            Ok(PemKey::Private(_)) | Err(_) => return false,
        },
        Some(ConfigKey::PemFile(_)) | None => return false,
    };
    get(headers, b"Grip-Sig")
        .is_some_and(|token| pushpin_grip::sig::verify_with(token, key, now).is_ok())
}

/// Applies `accept_x_forwarded_protocol`: a client `X-Forwarded-Proto(col)` of
/// `https`/`wss` marks the request as TLS.
pub(crate) fn apply_accept_xfp(config: &ProxyConfig, uri: &mut Uri, headers: &[Header]) {
    if !config.accept_x_forwarded_protocol || uri.is_tls() {
        return;
    }
    let tls = [b"X-Forwarded-Proto".as_slice(), b"X-Forwarded-Protocol"]
        .iter()
        .filter_map(|n| get(headers, n))
        .any(|v| v.eq_ignore_ascii_case(b"https") || v.eq_ignore_ascii_case(b"wss"));
    if tls {
        uri.scheme = if uri.is_websocket() { "wss" } else { "https" }.to_string();
    }
}

/// The URI as the route rewrites it for `target` (`as_host`, `path_rem`/`replace_beg`,
/// target `host=`, target `ssl`).
pub(crate) fn origin_uri(client: &Uri, route: &Route, target: &Target) -> Uri {
    let mut uri = client.clone();
    if let Some(h) = &route.as_host {
        // A bad as_host keeps the client's authority (the route parser accepted it as text).
        let _ = uri.set_authority(h);
    }
    if route.path_rem > 0 || route.path_prepend.is_some() {
        let rest = uri.path.get(route.path_rem..).unwrap_or("");
        let mut path = route.path_prepend.clone().unwrap_or_default();
        path.push_str(rest);
        if !path.starts_with('/') {
            path.insert(0, '/');
        }
        uri.path = path;
    }
    if let Some(h) = &target.host {
        let _ = uri.set_authority(h);
    }
    let ws = uri.is_websocket();
    uri.scheme = match (ws, target.ssl) {
        (false, false) => "http",
        (false, true) => "https",
        (true, false) => "ws",
        (true, true) => "wss",
    }
    .to_string();
    uri
}

/// The logical peer address: the first X-Forwarded-For value the rule keeps, else the
/// peer address.
pub(crate) fn logical_peer_address(
    config: &ProxyConfig,
    client: &ClientRequest,
    trusted: bool,
) -> Option<Bytes> {
    let rule = if trusted {
        &config.x_forwarded_for_trusted
    } else {
        &config.x_forwarded_for
    };
    if rule.truncate != Some(0) {
        let values = xff_values(&client.headers);
        let kept = truncate(values, rule.truncate);
        if let Some(first) = kept.into_iter().next() {
            return Some(Bytes::from(first));
        }
    }
    client.peer_address.clone()
}

fn xff_values(headers: &[Header]) -> Vec<String> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(b"X-Forwarded-For"))
        .flat_map(|(_, v)| {
            String::from_utf8_lossy(v)
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn truncate(values: Vec<String>, keep: Option<u32>) -> Vec<String> {
    match keep {
        Some(n) => {
            let n = usize::try_from(n).unwrap_or(usize::MAX);
            let skip = values.len().saturating_sub(n);
            values.into_iter().skip(skip).collect()
        }
        None => values,
    }
}

fn apply_xff(rule: &XffRule, headers: &mut Vec<Header>, peer: Option<&Bytes>) {
    if rule.is_passthrough() {
        return;
    }
    let mut values = truncate(xff_values(headers), rule.truncate);
    remove(headers, b"X-Forwarded-For");
    if rule.append {
        if let Some(p) = peer {
            values.push(String::from_utf8_lossy(p).into_owned());
        }
    }
    if !values.is_empty() {
        headers.push((
            Bytes::from_static(b"X-Forwarded-For"),
            Bytes::from(values.join(", ")),
        ));
    }
}

/// A configured `Grip-Sig` key as 1.36 sees it: `None` for its *null* key (a `file:` that
/// could not be read), `Some(None)` for a key that fails every signature (a file that is not a
/// private key we can use), else the key.
fn signing_key(key: &ConfigKey) -> Option<Option<SigningKey<'_>>> {
    match key {
        ConfigKey::Secret(secret) => Some(Some(SigningKey::Secret(secret))),
        ConfigKey::Pem(pem) => match &pem.key {
            Ok(PemKey::Private(private)) => Some(Some(SigningKey::Private(private))),
            Ok(PemKey::Public(_)) | Err(PemLoadError::Key(_)) => Some(None),
            Err(PemLoadError::Read(_)) => None,
        },
        // never loaded (only in tests that skip the load step): as unreadable
        ConfigKey::PemFile(_) => None,
    }
}

/// The `Grip-Sig` issuer and key for `route` (1.36 `ProxySession`): the route's pair when its
/// issuer is non-empty and its key not null, else the global pair when its issuer is non-empty
/// and its key not null, else no signing. The inner `None` is a key that cannot sign.
fn signing<'a>(
    config: &'a ProxyConfig,
    route: &'a Route,
) -> Option<(&'a str, Option<SigningKey<'a>>)> {
    let route_pair = route
        .signing()
        .filter(|(iss, _)| !iss.is_empty())
        .and_then(|(iss, key)| Some((iss, signing_key(key)?)));
    route_pair.or_else(|| {
        let iss = config.sig_iss.as_str();
        if iss.is_empty() {
            return None;
        }
        Some((iss, signing_key(&config.sig_key)?))
    })
}

/// Builds the origin request for `target` (`spec/grip.md` §2.1, steps in order).
pub(crate) fn origin_request(
    config: &ProxyConfig,
    client: &ClientRequest,
    route: &Route,
    target: &Target,
    rw: Rewrite<'_>,
) -> OriginRequest {
    let uri = origin_uri(&client.uri, route, target);
    let mut headers = client.headers.clone();

    // 1. route header= edits
    for (name, value) in &route.headers {
        remove(&mut headers, name.as_bytes());
        if !value.is_empty() {
            headers.push((Bytes::from(name.clone()), Bytes::from(value.clone())));
        }
    }
    // 2. orig_headers
    let prefixed = |n: &Bytes| {
        n.get(..ORIG_PREFIX.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(ORIG_PREFIX))
    };
    if route.orig_headers {
        let (marked, mut plain): (Vec<Header>, Vec<Header>) =
            headers.into_iter().partition(|(n, _)| prefixed(n));
        let copies: Vec<Header> = client
            .headers
            .iter()
            .filter(|(n, _)| !prefixed(n))
            .filter(|(n, _)| {
                !config
                    .orig_headers_need_mark
                    .iter()
                    .any(|m| m.as_bytes().eq_ignore_ascii_case(n))
            })
            .map(|(n, v)| {
                let mut name = ORIG_PREFIX.to_vec();
                name.extend_from_slice(n);
                (Bytes::from(name), v.clone())
            })
            .collect();
        plain.extend(copies);
        plain.extend(marked);
        headers = plain;
    } else {
        headers.retain(|(n, _)| !prefixed(n));
    }
    // 3. hop-by-hop
    for name in HOP_BY_HOP {
        remove(&mut headers, name);
    }
    if config.accept_pushpin_route {
        remove(&mut headers, b"Pushpin-Route");
    }
    // 4. client Grip-* headers
    if !rw.trusted_client && !rw.internal {
        headers.retain(|(n, _)| !is_grip_header(n));
    }
    // 5. signing and features
    if !rw.trusted_client && route.grip {
        if let Some((iss, key)) = signing(config, route) {
            let token = key.and_then(|key| {
                pushpin_grip::sig::sign_with(iss, key, rw.now, &SystemRandom::new()).ok()
            });
            match token {
                Some(token) => {
                    remove(&mut headers, b"Grip-Sig");
                    headers.push((Bytes::from_static(b"Grip-Sig"), Bytes::from(token)));
                }
                // as 1.36, on every request (the key problem itself was logged at load)
                None => tracing::error!("failed to sign request"),
            }
        }
        remove(&mut headers, b"Grip-Feature");
        headers.push((
            Bytes::from_static(b"Grip-Feature"),
            Bytes::from_static(GRIP_FEATURE.as_bytes()),
        ));
        // 1.36: only a non-empty sid, replacing any (an intreq request keeps client Grip-*)
        if let Some(sid) = rw.sid.filter(|s| !s.is_empty()) {
            remove(&mut headers, b"Grip-Session-Id");
            headers.push((Bytes::from_static(b"Grip-Session-Id"), sid.clone()));
        }
        for (channel, id) in rw.last_ids {
            let value = grip_last_header(
                &String::from_utf8_lossy(channel),
                &String::from_utf8_lossy(id),
            );
            headers.push((Bytes::from_static(b"Grip-Last"), value));
        }
    }
    // 6. X-Forwarded-*
    let xfp_on = config.accept_x_forwarded_protocol
        || config.set_x_forwarded_protocol != SetXForwardedProtocol::Off;
    if xfp_on {
        remove(&mut headers, b"X-Forwarded-Proto");
        remove(&mut headers, b"X-Forwarded-Protocol");
        if client.uri.is_tls() {
            let proto = if client.uri.is_websocket() {
                "wss"
            } else {
                "https"
            };
            match config.set_x_forwarded_protocol {
                SetXForwardedProtocol::Off => {}
                SetXForwardedProtocol::ProtoOnly => {
                    headers.push((Bytes::from_static(b"X-Forwarded-Proto"), proto.into()));
                }
                SetXForwardedProtocol::Both => {
                    headers.push((Bytes::from_static(b"X-Forwarded-Proto"), proto.into()));
                    headers.push((Bytes::from_static(b"X-Forwarded-Protocol"), proto.into()));
                }
            }
        }
    }
    let rule = if rw.trusted_client {
        &config.x_forwarded_for_trusted
    } else {
        &config.x_forwarded_for
    };
    apply_xff(rule, &mut headers, client.peer_address.as_ref());
    // 7. Host
    let authority = uri.authority();
    let current = get(&headers, b"Host");
    if current.map(|h| h.as_ref()) != Some(authority.as_bytes()) {
        remove(&mut headers, b"Host");
        headers.push((Bytes::from_static(b"Host"), Bytes::from(authority)));
    }
    OriginRequest { uri, headers }
}

#[cfg(test)]
mod tests;
