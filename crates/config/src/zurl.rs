//! zurl.conf: zurl 1.11's own configuration (`[General]` keys of a Qt INI file, no Pushpin
//! substitutions), spec/zhttp.md §10.2 and the runner's generated file of spec/runner.md §3.2.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{ConfigError, ConfigErrors, ConfigWarning, Expected, Requirement};
use crate::raw::Raw;
use crate::read::Reader;
use crate::settings::{Settings, Vars};
use crate::spec::ZmqSpec;

/// zurl's config file when `--config` is not given.
pub const DEFAULT_CONFIG_FILE: &str = "/etc/zurl.conf";
/// `defpolicy` default (spec/zhttp.md §10.2).
pub const DEFAULT_DEFPOLICY: Policy = Policy::Allow;
/// `allow_ipv6` default (spec/zhttp.md §10.2).
pub const DEFAULT_ALLOW_IPV6: bool = false;
/// `max_open_requests` default: -1, unlimited (spec/zhttp.md §10.2).
pub const DEFAULT_MAX_OPEN_REQUESTS: Option<u32> = None;
/// `buffer_size` default, bytes (spec/zhttp.md §10.2).
pub const DEFAULT_BUFFER_SIZE: usize = 200_000;
/// `timeout` default: 600 s of inactivity (spec/zhttp.md §10.2).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
/// `connection_max_time` default: 7200 s (spec/zhttp.md §10.2).
pub const DEFAULT_CONNECTION_MAX_TIME: Duration = Duration::from_secs(7200);
/// `in_hwm` default (spec/zhttp.md §10.2).
pub const DEFAULT_IN_HWM: i32 = 1000;
/// `out_hwm` default (spec/zhttp.md §10.2).
pub const DEFAULT_OUT_HWM: i32 = 1000;

const KEYS: &[&str] = &[
    "instance_id",
    "in_spec",
    "in_stream_spec",
    "out_spec",
    "in_req_spec",
    "ipc_file_mode",
    "defpolicy",
    "allow",
    "deny",
    "allow_ipv6",
    "max_open_requests",
    "buffer_size",
    "timeout",
    "connection_max_time",
    "in_hwm",
    "out_hwm",
];

/// `defpolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Allowed unless denied (allow overrides deny).
    Allow,
    /// Denied unless allowed and not denied.
    Deny,
}

/// A typed zurl.conf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZurlConfig {
    /// `instance_id`; `None` (empty) means a random UUID.
    pub instance_id: Option<String>,
    /// Bind PULL for first packets.
    pub in_spec: Option<ZmqSpec>,
    /// Bind DEALER for follow-ups.
    pub in_stream_spec: Option<ZmqSpec>,
    /// Bind PUB for responses.
    pub out_spec: Option<ZmqSpec>,
    /// Bind ROUTER for req mode.
    pub in_req_spec: Option<ZmqSpec>,
    /// Octal permissions of ipc socket files.
    pub ipc_file_mode: Option<u32>,
    /// Default policy.
    pub defpolicy: Policy,
    /// Host patterns allowed (empty items dropped).
    pub allow: Vec<String>,
    /// Host patterns denied (empty items dropped).
    pub deny: Vec<String>,
    /// Permit IPv6 targets.
    pub allow_ipv6: bool,
    /// Stop reading new requests at this many; `None` = unlimited.
    pub max_open_requests: Option<u32>,
    /// Credits / buffering per session.
    pub buffer_size: usize,
    /// Inactivity timeout.
    pub timeout: Duration,
    /// Max age of a reused upstream connection.
    pub connection_max_time: Duration,
    /// Input socket HWM.
    pub in_hwm: i32,
    /// Output socket HWM.
    pub out_hwm: i32,
    /// Odd but accepted input.
    pub warnings: Vec<ConfigWarning>,
}

impl ZurlConfig {
    /// Types and validates a parsed zurl.conf (top-level / `[General]` keys).
    pub fn from_raw(raw: &Raw) -> Result<Self, ConfigErrors> {
        // zurl reads plain QSettings: no include and no substitutions.
        let settings = Settings {
            main: raw,
            include: None,
            vars: Vars::identity(),
        };
        let mut r = Reader::new(&settings);
        const S: &str = "";
        const POLICIES: &[&str] = &["allow", "deny"];
        let defpolicy = match r.scalar(S, "defpolicy") {
            None => DEFAULT_DEFPOLICY,
            Some((s, found)) => match s.as_str() {
                "allow" => Policy::Allow,
                "deny" => Policy::Deny,
                _ => {
                    r.error(&found, &s, Expected::OneOf(POLICIES));
                    DEFAULT_DEFPOLICY
                }
            },
        };
        let config = Self {
            instance_id: Some(r.string(S, "instance_id", "")).filter(|s| !s.is_empty()),
            in_spec: r.spec(S, "in_spec"),
            in_stream_spec: r.spec(S, "in_stream_spec"),
            out_spec: r.spec(S, "out_spec"),
            in_req_spec: r.spec(S, "in_req_spec"),
            ipc_file_mode: r.octal(S, "ipc_file_mode"),
            defpolicy,
            allow: r.list(S, "allow"),
            deny: r.list(S, "deny"),
            allow_ipv6: r.bool(S, "allow_ipv6", DEFAULT_ALLOW_IPV6),
            max_open_requests: r
                .unlimited(S, "max_open_requests")
                .or(DEFAULT_MAX_OPEN_REQUESTS),
            buffer_size: r.int(S, "buffer_size", DEFAULT_BUFFER_SIZE),
            timeout: r.seconds(S, "timeout", DEFAULT_TIMEOUT),
            connection_max_time: r.seconds(S, "connection_max_time", DEFAULT_CONNECTION_MAX_TIME),
            in_hwm: r.int(S, "in_hwm", DEFAULT_IN_HWM),
            out_hwm: r.int(S, "out_hwm", DEFAULT_OUT_HWM),
            warnings: Vec::new(),
        };
        r.unknown_keys(S, KEYS);
        let mut errors = r.errors;
        let file = raw.origin.clone();
        for requirement in config.requirements() {
            errors.push(ConfigError::Requirement {
                file: file.clone(),
                requirement,
            });
        }
        let warnings = r.warnings;
        ConfigErrors(errors).into_result(Self { warnings, ..config })
    }

    /// zurl's startup rules.
    pub fn requirements(&self) -> Vec<Requirement> {
        let trio = [&self.in_spec, &self.in_stream_spec, &self.out_spec];
        let set = trio.iter().filter(|s| s.is_some()).count();
        let mut out = Vec::new();
        if set != 0 && set != 3 {
            out.push(Requirement::ZurlStreamSpecs);
        }
        if self.in_spec.is_none() && self.in_req_spec.is_none() {
            out.push(Requirement::ZurlNoSpecs);
        }
        out
    }
}

/// Parses and validates zurl.conf text (pure).
pub fn parse(text: &str, origin: &Path) -> Result<ZurlConfig, ConfigErrors> {
    ZurlConfig::from_raw(&crate::ini::parse(text, origin))
}

/// Reads and validates a zurl.conf file.
pub fn load(path: &Path) -> Result<ZurlConfig, ConfigErrors> {
    let text = crate::read_text(path)?;
    parse(&text, &PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name)
    }

    fn spec(s: &str) -> Option<ZmqSpec> {
        Some(s.parse().expect(s))
    }

    #[test]
    fn debian_zurl_conf() {
        let c = load(&fixture("zurl.conf")).expect("loads");
        assert_eq!(c.instance_id, None);
        assert_eq!(c.in_spec, spec("ipc:///var/run/zurl/zurl-in"));
        assert_eq!(c.in_stream_spec, spec("ipc:///var/run/zurl/zurl-in-stream"));
        assert_eq!(c.out_spec, spec("ipc:///var/run/zurl/zurl-out"));
        assert_eq!(c.in_req_spec, spec("ipc:///var/run/zurl/zurl-req"));
        assert_eq!(c.ipc_file_mode, Some(0o660));
        assert_eq!(c.defpolicy, Policy::Allow);
        assert!(c.allow.is_empty());
        assert_eq!(c.deny, ["127.*", "10.*", "192.168.*", "*.local"]);
        assert_eq!(c.max_open_requests, Some(2000));
        assert_eq!(c.buffer_size, 200_000);
        assert_eq!(c.timeout, Duration::from_secs(600));
        assert_eq!((c.in_hwm, c.out_hwm), (1000, 1000));
        assert_eq!(c.connection_max_time, DEFAULT_CONNECTION_MAX_TIME);
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }

    #[test]
    fn example_zurl_conf() {
        let c = load(&fixture("zurl.conf.example")).expect("loads");
        assert_eq!(c.in_spec, spec("ipc:///tmp/zurl-in"));
        assert_eq!(c.ipc_file_mode, None);
        assert!(c.deny.is_empty());
        assert!(!c.allow_ipv6);
    }

    #[test]
    fn runner_template_rendered() {
        let text = std::fs::read_to_string(fixture("zurl.conf.template"))
            .expect("read")
            .replace("{{ rundir }}", "/work/run")
            .replace("{{ ipc_prefix }}", "p1-");
        let c = parse(&text, Path::new("/work/run/p1-zurl.conf")).expect("valid");
        assert_eq!(c.in_spec, spec("ipc:///work/run/p1-zurl-in"));
        assert_eq!(c.in_req_spec, None);
        assert_eq!(c.max_open_requests, Some(2000));
    }

    #[test]
    fn defaults() {
        let c = parse("in_req_spec=ipc://r\n", Path::new("z.conf")).expect("valid");
        assert_eq!(c.defpolicy, DEFAULT_DEFPOLICY);
        assert_eq!(c.allow_ipv6, DEFAULT_ALLOW_IPV6);
        assert_eq!(c.max_open_requests, DEFAULT_MAX_OPEN_REQUESTS);
        assert_eq!(c.buffer_size, DEFAULT_BUFFER_SIZE);
        assert_eq!(c.timeout, DEFAULT_TIMEOUT);
        assert_eq!(c.connection_max_time, DEFAULT_CONNECTION_MAX_TIME);
        assert_eq!((c.in_hwm, c.out_hwm), (DEFAULT_IN_HWM, DEFAULT_OUT_HWM));
        assert_eq!(c.instance_id, None);
        assert!(c.allow.is_empty() && c.deny.is_empty());
    }

    #[test]
    fn general_section_is_top_level() {
        let c = parse(
            "[General]\ninstance_id=z1\nin_req_spec=ipc://r\ndefpolicy=deny\n",
            Path::new("z.conf"),
        )
        .expect("valid");
        assert_eq!(c.instance_id.as_deref(), Some("z1"));
        assert_eq!(c.defpolicy, Policy::Deny);
    }

    #[test]
    fn errors() {
        let msgs = |text: &str| {
            parse(text, Path::new("z.conf"))
                .expect_err("invalid")
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            msgs(""),
            ["z.conf: must set at least in_spec+in_stream_spec+out_spec or in_req_spec"]
        );
        assert_eq!(
            msgs("in_spec=ipc://a\n"),
            [
                "z.conf: if any of in_spec, in_stream_spec, or out_spec are set then all of them must be set"
            ]
        );
        assert_eq!(
            msgs("in_req_spec=ipc://r\ndefpolicy=maybe\n"),
            ["z.conf:2: defpolicy \"maybe\": expected one of allow, deny"]
        );
        assert_eq!(msgs("in_req_spec=ipc://r\ndefpolicy=\n").len(), 1);
        assert_eq!(
            msgs("in_req_spec=ipc://r\nipc_file_mode=9\nbuffer_size=big\n").len(),
            2
        );
    }

    #[test]
    fn missing_file() {
        let e = load(Path::new("/nonexistent/zurl.conf")).expect_err("missing");
        assert!(matches!(e.iter().next(), Some(ConfigError::Read { .. })));
    }
}
