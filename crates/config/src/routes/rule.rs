//! The meaning of one routes line (spec/config.md §8.2), ported from 1.36's
//! `DomainMap::Worker::parseRouteLine`: the condition with its options, then the targets with
//! theirs. Flags are enabled by presence alone; unknown options are ignored.

use std::path::Path;

use super::line::{LexError, RouteSection, parse_line};
use super::{Domain, JsonpConfig, JsonpMode, Protocol, Route, RouteErrorKind, Target, TargetKind};
use crate::key::ConfigKey;
use crate::qt;

/// A rejected line: what is wrong and the text at fault.
pub(crate) type RuleError = (RouteErrorKind, String);

fn err<T>(kind: RouteErrorKind, value: &str) -> Result<T, RuleError> {
    Err((kind, value.to_string()))
}

/// Parses one line. `Ok(None)` for blank and comment lines. `sig_key=file:` paths are relative
/// to `base_dir`.
pub(crate) fn parse_rule(line: &str, base_dir: &Path) -> Result<Option<Route>, RuleError> {
    let sections = parse_line(line).map_err(|e| {
        let kind = match e {
            LexError::Unterminated => RouteErrorKind::Unterminated,
            LexError::ExpectingProp => RouteErrorKind::ExpectingProp,
            LexError::EmptyPropName => RouteErrorKind::EmptyPropName,
        };
        (kind, line.to_string())
    })?;
    let Some((cond, targets)) = sections.split_first() else {
        return Ok(None);
    };
    if targets.is_empty() {
        return err(RouteErrorKind::NeedTarget, line);
    }
    let mut r = condition(cond, base_dir)?;
    for t in targets {
        r.targets.push(target(t)?);
    }
    Ok(Some(r))
}

fn condition(c: &RouteSection, base_dir: &Path) -> Result<Route, RuleError> {
    let domain = match c.value.as_str() {
        "" => Domain::None,
        "*" => Domain::Any,
        host => Domain::Exact(host.to_string()),
    };
    let proto = match c.last("proto") {
        None => None,
        Some("http") => Some(Protocol::Http),
        Some("ws") => Some(Protocol::WebSocket),
        Some(other) => return err(RouteErrorKind::BadProto, other),
    };
    let ssl = match c.last("ssl") {
        None => None,
        Some("yes") => Some(true),
        Some("no") => Some(false),
        Some(other) => return err(RouteErrorKind::BadSsl, other),
    };
    let path_beg = match c.last("path_beg") {
        None => None,
        Some("") => return err(RouteErrorKind::EmptyPathBeg, ""),
        Some(p) => Some(p.to_string()),
    };
    let sig_key = c
        .last("sig_key")
        .map(|s| ConfigKey::from_config_string(s, base_dir).0);
    let mut path_rem = match c.last("path_rem") {
        None => 0,
        Some(s) => match qt::to_int(s).and_then(|v| usize::try_from(v).ok()) {
            Some(n) => n,
            None => return err(RouteErrorKind::BadPathRem, s),
        },
    };
    let mut path_prepend = None;
    if let Some(rep) = c.last("replace_beg") {
        path_rem = path_beg.as_ref().map_or(0, String::len);
        path_prepend = Some(rep.to_string());
    }
    let mode = match c.last("jsonp_mode") {
        None | Some("extended") => JsonpMode::Extended,
        Some("basic") => JsonpMode::Basic,
        Some(other) => return err(RouteErrorKind::BadJsonpMode, other),
    };
    let jsonp = JsonpConfig {
        mode,
        callback_param: c.last("jsonp_cb").unwrap_or_default().to_string(),
        body_param: c.last("jsonp_body").unwrap_or_default().to_string(),
        default_callback: c.last("jsonp_defcb").unwrap_or_default().to_string(),
        default_method: c.last("jsonp_defmethod").map_or_else(
            || {
                if mode == JsonpMode::Basic {
                    "POST"
                } else {
                    "GET"
                }
                .to_string()
            },
            str::to_string,
        ),
    };
    let mut headers = Vec::new();
    for h in c.all_rev("header") {
        match h.split_once(':') {
            Some((name, value)) if !name.is_empty() => {
                headers.push((name.to_string(), value.trim_start_matches(' ').to_string()));
            }
            _ => return err(RouteErrorKind::BadHeader, h),
        }
    }
    Ok(Route {
        line: 0,
        domain,
        proto,
        ssl,
        path_beg,
        id: c.last("id").map(str::to_string),
        explicit_id: c.has("id"),
        sig_iss: c.last("sig_iss").map(str::to_string),
        sig_key,
        prefix: c.last("prefix").unwrap_or_default().to_string(),
        orig_headers: c.has("orig_headers"),
        as_host: c.last("as_host").map(str::to_string),
        path_rem,
        path_prepend,
        debug: c.has("debug"),
        auto_cross_origin: c.has("aco"),
        jsonp,
        session: c.has("session"),
        sockjs_path: c.last("sockjs").map(str::to_string),
        sockjs_as_path: c.last("sockjs_as_path").map(str::to_string),
        headers,
        grip: !c.has("no_grip"),
        targets: Vec::new(),
    })
}

fn target(t: &RouteSection) -> Result<Target, RuleError> {
    let v = t.value.as_str();
    let kind = if v == "test" {
        TargetKind::Test
    } else if let Some(base) = v.strip_prefix("zhttp/") {
        TargetKind::Zhttp {
            base: zhttp_base(base)?,
            req: false,
        }
    } else if let Some(base) = v.strip_prefix("zhttpreq/") {
        TargetKind::Zhttp {
            base: zhttp_base(base)?,
            req: true,
        }
    } else {
        let Some((host, port)) = v.split_once(':') else {
            return err(RouteErrorKind::TargetBadFormat, v);
        };
        let port = qt::to_int(port)
            .and_then(|p| u16::try_from(p).ok())
            .filter(|&p| p >= 1);
        let Some(port) = port else {
            return err(RouteErrorKind::TargetInvalidPort, v);
        };
        TargetKind::Origin {
            host: host.to_string(),
            port,
        }
    };
    Ok(Target {
        kind,
        ssl: t.has("ssl"),
        trusted: !t.has("untrusted"),
        trust_connect_host: t.has("trust_connect_host"),
        insecure: t.has("insecure"),
        host: t.last("host").map(str::to_string),
        subscriptions: t
            .all_rev("sub")
            .into_iter()
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        over_http: t.has("over_http"),
        one_event: t.has("one_event"),
        // 1.36 silently ignores an invalid mode.
        ipc_file_mode: t
            .last("ipc_file_mode")
            .and_then(|s| qt::to_int_radix(s, 8))
            .and_then(|m| u32::try_from(m).ok()),
    })
}

fn zhttp_base(base: &str) -> Result<crate::spec::ZmqSpec, RuleError> {
    base.parse()
        .map_err(|e| (RouteErrorKind::BadZhttpSpec(e), base.to_string()))
}
