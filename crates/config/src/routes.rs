//! The routes file (spec/config.md §8): lines → typed [`Route`]s, the route table with ids and
//! duplicate handling, and the matching algorithm of §8.5 as pure functions
//! ([`Routes::find`], [`Routes::find_by_id`]).
//!
//! Rejected lines never fail the whole file: like 1.36 (which logs `<file>:<line>: <message>`
//! and skips), [`parse`] returns the table plus the skipped lines as [`ConfigError::Route`].
//! `--route` lines go through the same parser ([`parse_route_lines`]) with the file name
//! `<route>` and no generated ids.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::ConfigError;
use crate::key::ConfigKey;
use crate::spec::{SpecError, ZmqSpec};

pub mod line;
mod rule;

/// The file name 1.36 uses for `--route` lines in messages.
pub const ROUTE_ARG_FILE: &str = "<route>";

/// The condition's domain.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Domain {
    /// `*`: the default rules, used when no rule names the request host.
    Any,
    /// An exact host, compared as written (a route `Upper.Example` never matches a lowercased
    /// request host).
    Exact(String),
    /// Empty: matches no host, reachable only by id.
    None,
}

/// The request kind a `proto` option restricts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// `proto=http`.
    Http,
    /// `proto=ws`.
    WebSocket,
}

/// JSON-P style.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonpMode {
    /// `jsonp_mode=basic`.
    Basic,
    /// `jsonp_mode=extended` (default).
    Extended,
}

/// JSON-P settings of a route (empty strings are unset, as in 1.36).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonpConfig {
    /// `jsonp_mode`.
    pub mode: JsonpMode,
    /// `jsonp_cb`: the callback query parameter.
    pub callback_param: String,
    /// `jsonp_body`: the body query parameter.
    pub body_param: String,
    /// `jsonp_defcb`: the default callback.
    pub default_callback: String,
    /// `jsonp_defmethod`, else `POST` (basic) / `GET` (extended).
    pub default_method: String,
}

/// Where a target sends requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetKind {
    /// `host:port`: an origin through the outbound ZHTTP client (zurl).
    Origin {
        /// Connect host (split at the first `:`).
        host: String,
        /// Port, 1–65535.
        port: u16,
    },
    /// `test`: the proxy's built-in test origin.
    Test,
    /// `zhttp/<spec>` or `zhttpreq/<spec>`: a custom ZHTTP peer.
    Zhttp {
        /// The base spec.
        base: ZmqSpec,
        /// `zhttpreq/`: req (REQ/REP-style) mode.
        req: bool,
    },
}

/// One target and its options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Where.
    pub kind: TargetKind,
    /// `ssl`: https/wss to the origin.
    pub ssl: bool,
    /// False with `untrusted` (zurl policies apply; reported as `trusted: false`).
    pub trusted: bool,
    /// `trust_connect_host`.
    pub trust_connect_host: bool,
    /// `insecure`.
    pub insecure: bool,
    /// `host=`: rewrite the URI host / `Host` header.
    pub host: Option<String>,
    /// `sub=` channels, last written first (1.36 order), empty ones dropped.
    pub subscriptions: Vec<String>,
    /// `over_http`: WebSocket-over-HTTP.
    pub over_http: bool,
    /// `one_event`.
    pub one_event: bool,
    /// `ipc_file_mode=` (octal) for `zhttp/` targets; invalid values are ignored as in 1.36.
    pub ipc_file_mode: Option<u32>,
}

impl TargetKind {
    /// For `zhttp/` targets: the PUSH, ROUTER and SUB specs the proxy binds (1.36 `ZRoutes`)
    /// (`<base>-out`, `<base>-out-stream`, `<base>-in`, or tcp ports +0, +1, +2).
    pub fn zhttp_specs(&self) -> Option<(ZmqSpec, ZmqSpec, ZmqSpec)> {
        let Self::Zhttp { base, .. } = self else {
            return None;
        };
        if base.ipc_path().is_some() || matches!(base, ZmqSpec::Inproc(_)) {
            Some((
                base.derive("-out", 0)?,
                base.derive("-out-stream", 0)?,
                base.derive("-in", 0)?,
            ))
        } else {
            Some((
                base.derive("", 0)?,
                base.derive("", 1)?,
                base.derive("", 2)?,
            ))
        }
    }
}

impl fmt::Display for TargetKind {
    /// As in the proxy's `Tried:` list and request log (1.36 `targetToString`): `host:port`,
    /// `test`, `zhttp/<base>` or `zhttpreq/<base>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Origin { host, port } => write!(f, "{host}:{port}"),
            Self::Test => f.write_str("test"),
            Self::Zhttp { base, req: false } => write!(f, "zhttp/{base}"),
            Self::Zhttp { base, req: true } => write!(f, "zhttpreq/{base}"),
        }
    }
}

/// One accepted routes line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// 1-based line in its file.
    pub line: u32,
    /// The condition's domain.
    pub domain: Domain,
    /// `proto=`.
    pub proto: Option<Protocol>,
    /// `ssl=yes|no`.
    pub ssl: Option<bool>,
    /// `path_beg=` (never empty).
    pub path_beg: Option<String>,
    /// `id=`, or for file lines the generated `<domain>,<proto>,<ssl>,<path_beg>`.
    pub id: Option<String>,
    /// `id` was written (enables per-route stats and ` route=` in logs).
    pub explicit_id: bool,
    /// `sig_iss=`.
    pub sig_iss: Option<String>,
    /// `sig_key=`.
    pub sig_key: Option<ConfigKey>,
    /// `prefix=`: channel prefix.
    pub prefix: String,
    /// `orig_headers`.
    pub orig_headers: bool,
    /// `as_host=`.
    pub as_host: Option<String>,
    /// Bytes removed from the start of the path (`path_rem`, or `len(path_beg)` with
    /// `replace_beg`).
    pub path_rem: usize,
    /// `replace_beg=`: prepended after removing `path_rem` bytes.
    pub path_prepend: Option<String>,
    /// `debug`.
    pub debug: bool,
    /// `aco`.
    pub auto_cross_origin: bool,
    /// JSON-P settings.
    pub jsonp: JsonpConfig,
    /// `session`.
    pub session: bool,
    /// `sockjs=`.
    pub sockjs_path: Option<String>,
    /// `sockjs_as_path=`.
    pub sockjs_as_path: Option<String>,
    /// `header=Name:value` edits, last written first (1.36 order).
    pub headers: Vec<(String, String)>,
    /// False with `no_grip`.
    pub grip: bool,
    /// Tried in order.
    pub targets: Vec<Target>,
}

impl Route {
    /// The route's own `Grip-Sig` issuer and key, used only when both are set.
    pub fn signing(&self) -> Option<(&str, &ConfigKey)> {
        Some((self.sig_iss.as_deref()?, self.sig_key.as_ref()?))
    }

    /// The `route` reported in stats and logs: explicit ids only.
    pub fn stats_route(&self) -> Option<&str> {
        self.id.as_deref().filter(|_| self.explicit_id)
    }

    /// The id 1.36 generates for a file line without one. The ssl flag is inverted exactly as
    /// in 1.36: `ssl=no` gives `ssl`, `ssl=yes` gives `no-ssl`.
    pub fn id_from_condition(&self) -> String {
        let domain = match &self.domain {
            Domain::Exact(d) => d.as_str(),
            Domain::Any | Domain::None => "*",
        };
        let proto = match self.proto {
            Some(Protocol::Http) => "http",
            Some(Protocol::WebSocket) => "ws",
            None => "*",
        };
        let ssl = match self.ssl {
            Some(false) => "ssl",
            Some(true) => "no-ssl",
            None => "*",
        };
        format!(
            "{domain},{proto},{ssl},{}",
            self.path_beg.as_deref().unwrap_or("*")
        )
    }

    fn matches(&self, proto: Protocol, ssl: bool, path: &str) -> bool {
        self.proto.is_none_or(|p| p == proto)
            && self.ssl.is_none_or(|s| s == ssl)
            && self
                .path_beg
                .as_deref()
                .is_none_or(|b| path.as_bytes().starts_with(b.as_bytes()))
    }

    fn more_specific_than(&self, best: &Self, proto: Protocol, ssl: bool, path: &str) -> bool {
        if !self.matches(proto, ssl, path) {
            return false;
        }
        match (best.proto.is_some(), self.proto.is_some()) {
            (false, true) => return true,
            (true, false) => return false,
            _ => {}
        }
        let len = |r: &Self| r.path_beg.as_ref().map_or(0, String::len);
        if len(self) > len(best) {
            return true;
        }
        best.ssl.is_none() && self.ssl.is_some()
    }

    fn same_condition(&self, other: &Self) -> bool {
        self.proto == other.proto && self.ssl == other.ssl && self.path_beg == other.path_beg
    }
}

/// Why a routes line was rejected. Messages are 1.36's except where marked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteErrorKind {
    /// Unterminated quote or a bad `\` escape (1.36 logs an empty message).
    #[error("unterminated quote or invalid escape")]
    Unterminated,
    /// A trailing `,` or a props-only section after leading spaces.
    #[error("expecting prop")]
    ExpectingProp,
    /// `,=x`.
    #[error("empty prop name")]
    EmptyPropName,
    /// Fewer than two sections.
    #[error("must specify condition and at least one target")]
    NeedTarget,
    /// `proto` other than http/ws.
    #[error("proto must be set to 'http' or 'ws'")]
    BadProto,
    /// `ssl` other than yes/no.
    #[error("ssl must be set to 'yes' or 'no'")]
    BadSsl,
    /// `path_beg=`.
    #[error("path_beg cannot be empty")]
    EmptyPathBeg,
    /// `jsonp_mode` other than basic/extended.
    #[error("jsonp_mode must be set to 'basic' or 'extended'")]
    BadJsonpMode,
    /// `header` without `:` or with an empty name.
    #[error("header must use format 'name:value'")]
    BadHeader,
    /// A target without `:`.
    #[error("target bad format")]
    TargetBadFormat,
    /// A target port outside 1–65535.
    #[error("target invalid port")]
    TargetInvalidPort,
    /// Rebuild: a `zhttp/` base that is not a spec (1.36 asserts and aborts).
    #[error("zhttp target base must be a ZeroMQ spec: {0}")]
    BadZhttpSpec(SpecError),
    /// Rebuild: `path_rem` that is not an integer >= 0 (1.36 reads it as 0).
    #[error("path_rem must be an integer >= 0")]
    BadPathRem,
    /// No domain and no id (only possible for `--route` lines).
    #[error("condition has no domain or id")]
    NoDomainOrId,
    /// Same domain and condition as an earlier line (the first wins).
    #[error("skipping duplicate condition")]
    DuplicateCondition,
}

/// The route table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Routes {
    routes: Vec<Route>,
    /// Rules by domain in file order; `""` holds the `*` rules.
    by_domain: HashMap<String, Vec<usize>>,
    /// Rules by id; `None` marks an id used twice (unusable).
    by_id: HashMap<String, Option<usize>>,
}

impl Routes {
    /// Adds a parsed rule (1.36 `addRule`).
    pub fn add(&mut self, route: Route) -> Result<(), RouteErrorKind> {
        let domain_key = match &route.domain {
            Domain::Any => Some(String::new()),
            Domain::Exact(d) => Some(d.clone()),
            Domain::None => None,
        };
        let id = route.id.clone().filter(|i| !i.is_empty());
        if domain_key.is_none() && id.is_none() {
            return Err(RouteErrorKind::NoDomainOrId);
        }
        if let Some(key) = &domain_key {
            let dup = self.by_domain.get(key).is_some_and(|list| {
                list.iter()
                    .filter_map(|&i| self.routes.get(i))
                    .any(|b| b.same_condition(&route))
            });
            if dup {
                return Err(RouteErrorKind::DuplicateCondition);
            }
        }
        let index = self.routes.len();
        if let Some(id) = id {
            self.by_id
                .entry(id)
                .and_modify(|slot| *slot = None)
                .or_insert(Some(index));
        }
        if let Some(key) = domain_key {
            self.by_domain.entry(key).or_default().push(index);
        }
        self.routes.push(route);
        Ok(())
    }

    /// All accepted routes in order (what 1.36 counts in `routes loaded with N entries`).
    pub fn iter(&self) -> std::slice::Iter<'_, Route> {
        self.routes.iter()
    }

    /// Reads the routes' `sig_key=file:` keys ([`crate::key::load_pem_keys`]; file I/O, for
    /// the load path). 1.36 reads them when it loads the routes file.
    pub fn load_pem_keys(&mut self, rng: &dyn pushpin_grip::sig::SecureRandom) {
        crate::key::load_pem_keys(
            self.routes.iter_mut().filter_map(|r| r.sig_key.as_mut()),
            rng,
        );
    }

    /// Number of accepted routes.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// True without routes (every request gets 502).
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// §8.5 steps 2–3: the candidates are the rules of `host` if any rule names it, else the
    /// `*` rules (no fallback between the two); the first match wins unless a later one is
    /// more specific. `host` is the lowercased URI host without port, `path` the
    /// percent-encoded path without query. `None` means `502 No route for host`.
    pub fn find(&self, proto: Protocol, ssl: bool, host: &str, path: &str) -> Option<&Route> {
        let list = self
            .by_domain
            .get(host)
            .or_else(|| self.by_domain.get(""))?;
        let mut best: Option<&Route> = None;
        for r in list.iter().filter_map(|&i| self.routes.get(i)) {
            let better = match best {
                None => r.matches(proto, ssl, path),
                Some(b) => r.more_specific_than(b, proto, ssl, path),
            };
            if better {
                best = Some(r);
            }
        }
        best
    }

    /// §8.5 step 1: the route with this id regardless of its condition; `None` for unknown and
    /// for duplicated ids.
    pub fn find_by_id(&self, id: &str) -> Option<&Route> {
        self.by_id
            .get(id)
            .copied()
            .flatten()
            .and_then(|i| self.routes.get(i))
    }

    /// Whether the id was used by two routes.
    pub fn is_id_shared(&self, id: &str) -> bool {
        matches!(self.by_id.get(id), Some(None))
    }

    /// The distinct custom ZHTTP peers (`zhttp/` targets), by base spec, first occurrence.
    pub fn zhttp_targets(&self) -> Vec<&Target> {
        let mut out: Vec<&Target> = Vec::new();
        for t in self.routes.iter().flat_map(|r| &r.targets) {
            if let TargetKind::Zhttp { base, .. } = &t.kind {
                let seen = out
                    .iter()
                    .any(|o| matches!(&o.kind, TargetKind::Zhttp { base: b, .. } if b == base));
                if !seen {
                    out.push(t);
                }
            }
        }
        out
    }
}

/// A parsed routes file: the table and the lines that were skipped.
#[derive(Debug, Default)]
pub struct Parsed {
    /// The accepted routes.
    pub routes: Routes,
    /// One [`ConfigError::Route`] per rejected line (1.36 logs these at WARN).
    pub skipped: Vec<ConfigError>,
}

fn add_line(out: &mut Parsed, file: &Path, n: u32, text: &str, base_dir: &Path, generate_id: bool) {
    let rejected = |kind, value: String| ConfigError::Route {
        file: file.to_path_buf(),
        line: n,
        value,
        kind,
    };
    match rule::parse_rule(text, base_dir) {
        Ok(None) => {}
        Ok(Some(mut route)) => {
            route.line = n;
            if route.id.as_deref().is_none_or(str::is_empty) {
                route.id = generate_id.then(|| route.id_from_condition());
            }
            if let Err(kind) = out.routes.add(route) {
                out.skipped.push(rejected(kind, text.to_string()));
            }
        }
        Err((kind, value)) => out.skipped.push(rejected(kind, value)),
    }
}

/// Parses a routes file's text; `file` names it in errors and its directory is the base of
/// `sig_key=file:` paths. Lines split on `\n` (a `\r` before it is dropped).
pub fn parse(text: &str, file: &Path) -> Parsed {
    let base_dir = file.parent().unwrap_or_else(|| Path::new(""));
    let mut out = Parsed::default();
    for (n, l) in text.lines().enumerate() {
        let n = u32::try_from(n).unwrap_or(u32::MAX).saturating_add(1);
        add_line(&mut out, file, n, l, base_dir, true);
    }
    out
}

/// Parses `--route` lines: file `<route>`, line 1 each, `base_dir` (the current directory) for
/// `file:` keys, and no generated ids.
pub fn parse_route_lines<S: AsRef<str>>(lines: &[S], base_dir: &Path) -> Parsed {
    let mut out = Parsed::default();
    for l in lines {
        add_line(
            &mut out,
            Path::new(ROUTE_ARG_FILE),
            1,
            l.as_ref(),
            base_dir,
            false,
        );
    }
    out
}

/// Parses one line on its own (no table rules: duplicates and missing domains are not
/// checked). `Ok(None)` for blank and comment lines.
pub fn parse_rule(line: &str, base_dir: &Path) -> Result<Option<Route>, RouteErrorKind> {
    rule::parse_rule(line, base_dir).map_err(|(kind, _)| kind)
}

/// Reads and parses a routes file (the only I/O here). 1.36 logs
/// `unable to open routes file: <path>` and keeps zero routes when this fails.
pub fn load(path: &Path) -> Result<Parsed, ConfigError> {
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
        file: PathBuf::from(path),
        source,
    })?;
    Ok(parse(&String::from_utf8_lossy(&bytes), path))
}

#[cfg(test)]
mod tests;
