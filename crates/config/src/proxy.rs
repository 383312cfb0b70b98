//! `[proxy]`: what pushpin-proxy reads — routing, forwarding and signing options and the
//! internal ZeroMQ specs of internal.conf (spec/config.md §6, spec/internal.md §1).

use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::error::{Expected, Requirement};
use crate::global::GlobalConfig;
use crate::key::ConfigKey;
use crate::qt;
use crate::read::Reader;
use crate::runner::{RunnerConfig, Service};
use crate::spec::ZmqSpec;

/// `routesfile` default: empty, no routes (spec/config.md §6).
pub const DEFAULT_ROUTESFILE: &str = "";
/// `debug` default (spec/config.md §6).
pub const DEFAULT_DEBUG: bool = false;
/// `auto_cross_origin` default (spec/config.md §6).
pub const DEFAULT_AUTO_CROSS_ORIGIN: bool = false;
/// `accept_x_forwarded_protocol` default (spec/config.md §6).
pub const DEFAULT_ACCEPT_X_FORWARDED_PROTOCOL: bool = false;
/// `set_x_forwarded_protocol` default: neither header (spec/config.md §6).
pub const DEFAULT_SET_X_FORWARDED_PROTOCOL: SetXForwardedProtocol = SetXForwardedProtocol::Off;
/// `accept_pushpin_route` default (spec/config.md §6).
pub const DEFAULT_ACCEPT_PUSHPIN_ROUTE: bool = false;
/// `log_from` default (spec/config.md §6).
pub const DEFAULT_LOG_FROM: bool = false;
/// `log_user_agent` default (spec/config.md §6).
pub const DEFAULT_LOG_USER_AGENT: bool = false;
/// `sig_iss` default (spec/config.md §6).
pub const DEFAULT_SIG_ISS: &str = "pushpin";
/// `sig_key` default: the empty secret, which 1.36 still signs with (spec/config.md §6).
pub const DEFAULT_SIG_KEY: &str = "";
/// `sockjs_url` default (spec/config.md §6).
pub const DEFAULT_SOCKJS_URL: &str = "";
/// `updates_check` default: off (spec/config.md §6).
pub const DEFAULT_UPDATES_CHECK: UpdatesCheck = UpdatesCheck::Off;
/// `organization_name` default (spec/config.md §6).
pub const DEFAULT_ORGANIZATION_NAME: &str = "";
/// `max_open_requests` default: -1, unlimited (spec/config.md §6).
pub const DEFAULT_MAX_OPEN_REQUESTS: Option<u32> = None;
/// `stats_report_interval` default: 10 s (spec/config.md §6).
pub const DEFAULT_STATS_REPORT_INTERVAL: Duration = Duration::from_secs(10);
/// `prometheus_prefix` default (spec/config.md §6).
pub const DEFAULT_PROMETHEUS_PREFIX: &str = "";

pub(crate) const KEYS: &[&str] = &[
    "routesfile",
    "debug",
    "auto_cross_origin",
    "accept_x_forwarded_protocol",
    "set_x_forwarded_protocol",
    "x_forwarded_for",
    "x_forwarded_for_trusted",
    "orig_headers_need_mark",
    "accept_pushpin_route",
    "log_from",
    "log_user_agent",
    "sig_iss",
    "sig_key",
    "upstream_key",
    "sockjs_url",
    "updates_check",
    "organization_name",
    "max_open_requests",
    "ipc_file_mode",
    "stats_report_interval",
    "prometheus_port",
    "prometheus_prefix",
    "condure_in_specs",
    "condure_in_stream_specs",
    "condure_out_specs",
    "m2a_in_specs",
    "m2a_in_stream_specs",
    "m2a_out_specs",
    "zurl_out_specs",
    "zurl_out_stream_specs",
    "zurl_in_specs",
    "handler_inspect_spec",
    "handler_accept_spec",
    "handler_retry_in_spec",
    "handler_ws_control_in_spec",
    "handler_ws_control_out_spec",
    "stats_spec",
    "command_spec",
    "intreq_in_specs",
    "intreq_in_stream_specs",
    "intreq_out_specs",
];

/// `set_x_forwarded_protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetXForwardedProtocol {
    /// Any value other than `true`/`proto-only`: send neither header.
    Off,
    /// `proto-only`: `X-Forwarded-Proto` for TLS requests.
    ProtoOnly,
    /// `true`: `X-Forwarded-Proto` and `X-Forwarded-Protocol`.
    Both,
}

impl SetXForwardedProtocol {
    /// 1.36's reading: `true`, `proto-only`, anything else off.
    pub fn from_config(s: &str) -> Self {
        match s {
            "true" => Self::Both,
            "proto-only" => Self::ProtoOnly,
            _ => Self::Off,
        }
    }
}

/// `updates_check`. The rebuild never contacts the update service; the value is kept so a
/// file round-trips and for logging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdatesCheck {
    /// Anything but the words below.
    Off,
    /// `check` or `true`.
    Check,
    /// `report`.
    Report,
}

impl UpdatesCheck {
    /// 1.36's reading.
    pub fn from_config(s: &str) -> Self {
        match s {
            "check" | "true" => Self::Check,
            "report" => Self::Report,
            _ => Self::Off,
        }
    }
}

/// An `x_forwarded_for` rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct XffRule {
    /// `truncate:N`: keep only the last N values (0 drops all); `None` keeps them all.
    pub truncate: Option<u32>,
    /// `append`: add the peer address.
    pub append: bool,
}

impl XffRule {
    /// Parses the list items; `Err` names the first bad item.
    pub fn parse_items<S: AsRef<str>>(items: &[S]) -> Result<Self, String> {
        let mut out = Self::default();
        for item in items {
            let item = item.as_ref();
            if let Some(n) = item.strip_prefix("truncate:") {
                let n = qt::to_int(n)
                    .and_then(|v| u32::try_from(v).ok())
                    .ok_or_else(|| item.to_string())?;
                out.truncate = Some(n);
            } else if item == "append" {
                out.append = true;
            } else {
                return Err(item.to_string());
            }
        }
        Ok(out)
    }

    /// True when the rule leaves the header as it is.
    pub fn is_passthrough(&self) -> bool {
        self.truncate.is_none() && !self.append
    }
}

/// `prometheus_port`: `[addr:]port` or `ipc://path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetricsAddr {
    /// A TCP listener; no address means all interfaces.
    Tcp {
        /// Address, when given.
        addr: Option<IpAddr>,
        /// Port.
        port: u16,
    },
    /// A Unix socket.
    Ipc(PathBuf),
}

impl FromStr for MetricsAddr {
    type Err = Expected;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(path) = s.strip_prefix("ipc://") {
            return Ok(Self::Ipc(PathBuf::from(path)));
        }
        let port = |p: &str| {
            qt::to_int(p)
                .and_then(|v| u16::try_from(v).ok())
                .ok_or(Expected::MetricsAddr)
        };
        match s.split_once(':') {
            Some((a, p)) => {
                let addr = if a.is_empty() {
                    None
                } else {
                    Some(a.parse().map_err(|_| Expected::MetricsAddr)?)
                };
                Ok(Self::Tcp {
                    addr,
                    port: port(p)?,
                })
            }
            None => Ok(Self::Tcp {
                addr: None,
                port: port(s)?,
            }),
        }
    }
}

/// Which client-facing peer the proxy/handler talk to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    /// condure (or our connmgr).
    Condure,
    /// mongrel2 through m2adapter.
    M2a,
}

/// The server-side specs in use, after 1.36's selection rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSpecs {
    /// Which set was chosen.
    pub kind: ServerKind,
    /// Connect PULL (proxy only; empty for the handler).
    pub in_specs: Vec<ZmqSpec>,
    /// Connect ROUTER.
    pub in_stream_specs: Vec<ZmqSpec>,
    /// Connect PUB.
    pub out_specs: Vec<ZmqSpec>,
}

/// The `[proxy]` section plus the keys pushpin-proxy reads from other sections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyConfig {
    /// The routes file, relative to the config directory; `None` when empty.
    pub routesfile: Option<PathBuf>,
    /// Informative error bodies for all routes.
    pub debug: bool,
    /// CORS and JSON-P for all routes.
    pub auto_cross_origin: bool,
    /// Honour a client's `X-Forwarded-Proto(col)`.
    pub accept_x_forwarded_protocol: bool,
    /// Which `X-Forwarded-*` headers to send for TLS requests.
    pub set_x_forwarded_protocol: SetXForwardedProtocol,
    /// Rule for untrusted clients.
    pub x_forwarded_for: XffRule,
    /// Rule for clients with a valid `Grip-Sig`.
    pub x_forwarded_for_trusted: XffRule,
    /// Headers not copied by `orig_headers` unless marked.
    pub orig_headers_need_mark: Vec<String>,
    /// Honour `Pushpin-Route`.
    pub accept_pushpin_route: bool,
    /// ` from=` in request logs.
    pub log_from: bool,
    /// ` ua=` in request logs.
    pub log_user_agent: bool,
    /// `iss` of `Grip-Sig`.
    pub sig_iss: String,
    /// Key for `Grip-Sig`.
    pub sig_key: ConfigKey,
    /// Key recognising a trusted upstream's `Grip-Sig`. Deviation: an empty value is `None`
    /// (1.36 treats it as the empty HS256 secret, spec/config.md §6).
    pub upstream_key: Option<ConfigKey>,
    /// URL in SockJS iframe pages.
    pub sockjs_url: String,
    /// Kept for information; the rebuild never phones home.
    pub updates_check: UpdatesCheck,
    /// Sent with update reports in 1.36.
    pub organization_name: String,
    /// Stop taking requests while this many are open; `None` = unlimited.
    pub max_open_requests: Option<u32>,
    /// chmod of bound ipc sockets.
    pub ipc_file_mode: Option<u32>,
    /// `report` stats period.
    pub stats_report_interval: Duration,
    /// Prometheus endpoint.
    pub prometheus_port: Option<MetricsAddr>,
    /// Metric name prefix.
    pub prometheus_prefix: String,
    /// Connect PULL from condure.
    pub condure_in_specs: Vec<ZmqSpec>,
    /// Connect ROUTER to condure.
    pub condure_in_stream_specs: Vec<ZmqSpec>,
    /// Connect PUB to condure.
    pub condure_out_specs: Vec<ZmqSpec>,
    /// Connect PULL from m2adapter.
    pub m2a_in_specs: Vec<ZmqSpec>,
    /// Connect ROUTER to m2adapter.
    pub m2a_in_stream_specs: Vec<ZmqSpec>,
    /// Connect PUB to m2adapter.
    pub m2a_out_specs: Vec<ZmqSpec>,
    /// Connect PUSH to zurl.
    pub zurl_out_specs: Vec<ZmqSpec>,
    /// Connect ROUTER to zurl.
    pub zurl_out_stream_specs: Vec<ZmqSpec>,
    /// Connect SUB from zurl.
    pub zurl_in_specs: Vec<ZmqSpec>,
    /// Bind DEALER, inspect RPC.
    pub handler_inspect_spec: Option<ZmqSpec>,
    /// Bind DEALER, accept RPC.
    pub handler_accept_spec: Option<ZmqSpec>,
    /// Bind PULL, retries.
    pub handler_retry_in_spec: Option<ZmqSpec>,
    /// Bind PULL, ws-control from the handler.
    pub handler_ws_control_in_spec: Option<ZmqSpec>,
    /// Bind PUSH, ws-control to the handler.
    pub handler_ws_control_out_spec: Option<ZmqSpec>,
    /// Bind PUB, stats.
    pub stats_spec: Option<ZmqSpec>,
    /// Bind ROUTER, proxy commands.
    pub command_spec: Option<ZmqSpec>,
    /// Bind PULL, intreq.
    pub intreq_in_specs: Vec<ZmqSpec>,
    /// Bind ROUTER, intreq.
    pub intreq_in_stream_specs: Vec<ZmqSpec>,
    /// Bind PUB, intreq.
    pub intreq_out_specs: Vec<ZmqSpec>,
    /// `[runner] client_maxconn`.
    pub client_maxconn: usize,
    /// `[global] stats_connection_ttl`.
    pub stats_connection_ttl: Duration,
    /// `[runner] services` (only `mongrel2` matters to the proxy).
    pub services: Vec<Service>,
}

impl ProxyConfig {
    /// Reads the `sig_key` / `upstream_key` `file:` keys ([`crate::key::load_pem_keys`]; file
    /// I/O, for the load path). 1.36 reads them at start-up.
    pub fn load_pem_keys(&mut self, rng: &dyn pushpin_grip::sig::SecureRandom) {
        crate::key::load_pem_keys(
            std::iter::once(&mut self.sig_key).chain(self.upstream_key.as_mut()),
            rng,
        );
    }

    /// 1.36's choice: the condure set unless `services` has mongrel2 or every condure spec is
    /// empty; otherwise the m2a set.
    pub fn server_specs(&self) -> ServerSpecs {
        let condure_any = !(self.condure_in_specs.is_empty()
            && self.condure_in_stream_specs.is_empty()
            && self.condure_out_specs.is_empty());
        if !self.services.contains(&Service::Mongrel2) && condure_any {
            ServerSpecs {
                kind: ServerKind::Condure,
                in_specs: self.condure_in_specs.clone(),
                in_stream_specs: self.condure_in_stream_specs.clone(),
                out_specs: self.condure_out_specs.clone(),
            }
        } else {
            ServerSpecs {
                kind: ServerKind::M2a,
                in_specs: self.m2a_in_specs.clone(),
                in_stream_specs: self.m2a_in_stream_specs.clone(),
                out_specs: self.m2a_out_specs.clone(),
            }
        }
    }

    /// The startup checks of 1.36 (each stops the proxy with its message).
    pub fn requirements(&self) -> Vec<Requirement> {
        let mut out = Vec::new();
        let full = |a: &[ZmqSpec], b: &[ZmqSpec], c: &[ZmqSpec]| {
            !a.is_empty() && !b.is_empty() && !c.is_empty()
        };
        if !full(
            &self.condure_in_specs,
            &self.condure_in_stream_specs,
            &self.condure_out_specs,
        ) && !full(
            &self.m2a_in_specs,
            &self.m2a_in_stream_specs,
            &self.m2a_out_specs,
        ) {
            out.push(Requirement::ProxyServerSpecs);
        }
        if !full(
            &self.zurl_out_specs,
            &self.zurl_out_stream_specs,
            &self.zurl_in_specs,
        ) {
            out.push(Requirement::ProxyZurlSpecs);
        }
        out
    }
}

fn xff(r: &mut Reader<'_>, key: &str) -> XffRule {
    let items = r.list("proxy", key);
    match XffRule::parse_items(&items) {
        Ok(rule) => rule,
        Err(bad) => {
            if let Some(found) = r.get("proxy", key) {
                r.error(&found, &bad, Expected::XffRule);
            }
            XffRule::default()
        }
    }
}

pub(crate) fn read(
    r: &mut Reader<'_>,
    global: &GlobalConfig,
    runner: &RunnerConfig,
) -> ProxyConfig {
    const S: &str = "proxy";
    let dir = r.settings.config_dir();
    let routesfile = Some(r.string(S, "routesfile", DEFAULT_ROUTESFILE))
        .filter(|s| !s.is_empty())
        .map(|s| dir.join(s));
    let sig_key = r
        .key(S, "sig_key")
        .unwrap_or_else(|| ConfigKey::Secret(DEFAULT_SIG_KEY.as_bytes().to_vec()));
    let upstream_key = r.key(S, "upstream_key").filter(|k| !k.is_empty_secret());
    let config = ProxyConfig {
        routesfile,
        debug: r.bool(S, "debug", DEFAULT_DEBUG),
        auto_cross_origin: r.bool(S, "auto_cross_origin", DEFAULT_AUTO_CROSS_ORIGIN),
        accept_x_forwarded_protocol: r.bool(
            S,
            "accept_x_forwarded_protocol",
            DEFAULT_ACCEPT_X_FORWARDED_PROTOCOL,
        ),
        set_x_forwarded_protocol: r
            .scalar(S, "set_x_forwarded_protocol")
            .map_or(DEFAULT_SET_X_FORWARDED_PROTOCOL, |(s, _)| {
                SetXForwardedProtocol::from_config(&s)
            }),
        x_forwarded_for: xff(r, "x_forwarded_for"),
        x_forwarded_for_trusted: xff(r, "x_forwarded_for_trusted"),
        orig_headers_need_mark: r.list(S, "orig_headers_need_mark"),
        accept_pushpin_route: r.bool(S, "accept_pushpin_route", DEFAULT_ACCEPT_PUSHPIN_ROUTE),
        log_from: r.bool(S, "log_from", DEFAULT_LOG_FROM),
        log_user_agent: r.bool(S, "log_user_agent", DEFAULT_LOG_USER_AGENT),
        sig_iss: r.string(S, "sig_iss", DEFAULT_SIG_ISS),
        sig_key,
        upstream_key,
        sockjs_url: r.string(S, "sockjs_url", DEFAULT_SOCKJS_URL),
        updates_check: r
            .scalar(S, "updates_check")
            .map_or(DEFAULT_UPDATES_CHECK, |(s, _)| {
                UpdatesCheck::from_config(&s)
            }),
        organization_name: r.string(S, "organization_name", DEFAULT_ORGANIZATION_NAME),
        max_open_requests: r
            .unlimited(S, "max_open_requests")
            .or(DEFAULT_MAX_OPEN_REQUESTS),
        ipc_file_mode: r.octal(S, "ipc_file_mode"),
        stats_report_interval: r.seconds(S, "stats_report_interval", DEFAULT_STATS_REPORT_INTERVAL),
        prometheus_port: r.parsed(S, "prometheus_port", Expected::MetricsAddr, |s| {
            s.parse().ok()
        }),
        prometheus_prefix: r.string(S, "prometheus_prefix", DEFAULT_PROMETHEUS_PREFIX),
        condure_in_specs: r.specs(S, "condure_in_specs"),
        condure_in_stream_specs: r.specs(S, "condure_in_stream_specs"),
        condure_out_specs: r.specs(S, "condure_out_specs"),
        m2a_in_specs: r.specs(S, "m2a_in_specs"),
        m2a_in_stream_specs: r.specs(S, "m2a_in_stream_specs"),
        m2a_out_specs: r.specs(S, "m2a_out_specs"),
        zurl_out_specs: r.specs(S, "zurl_out_specs"),
        zurl_out_stream_specs: r.specs(S, "zurl_out_stream_specs"),
        zurl_in_specs: r.specs(S, "zurl_in_specs"),
        handler_inspect_spec: r.spec(S, "handler_inspect_spec"),
        handler_accept_spec: r.spec(S, "handler_accept_spec"),
        handler_retry_in_spec: r.spec(S, "handler_retry_in_spec"),
        handler_ws_control_in_spec: r.spec(S, "handler_ws_control_in_spec"),
        handler_ws_control_out_spec: r.spec(S, "handler_ws_control_out_spec"),
        stats_spec: r.spec(S, "stats_spec"),
        command_spec: r.spec(S, "command_spec"),
        intreq_in_specs: r.specs(S, "intreq_in_specs"),
        intreq_in_stream_specs: r.specs(S, "intreq_in_stream_specs"),
        intreq_out_specs: r.specs(S, "intreq_out_specs"),
        client_maxconn: runner.client_maxconn,
        stats_connection_ttl: global.stats_connection_ttl,
        services: runner.services.clone(),
    };
    r.unknown_keys(S, KEYS);
    config
}
