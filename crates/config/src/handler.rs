//! `[handler]`: what pushpin-handler reads — publish inputs, rate limits, stats, and the
//! internal specs towards the proxy (spec/config.md §7, spec/publishing.md,
//! spec/internal.md §1).

use std::net::IpAddr;
use std::time::Duration;

use crate::error::{Expected, Requirement, WarningKind};
use crate::global::GlobalConfig;
use crate::proxy::{MetricsAddr, ServerKind, ServerSpecs};
use crate::read::Reader;
use crate::runner::{RunnerConfig, Service};
use crate::spec::ZmqSpec;

/// `push_in_sub_connect` default: bind (spec/config.md §7).
pub const DEFAULT_PUSH_IN_SUB_CONNECT: bool = false;
/// `push_in_max_headers_size` default, bytes (spec/config.md §7).
pub const DEFAULT_PUSH_IN_MAX_HEADERS_SIZE: usize = 10000;
/// `push_in_max_body_size` default, bytes (spec/config.md §7).
pub const DEFAULT_PUSH_IN_MAX_BODY_SIZE: usize = 1_000_000;
/// `message_rate` default: -1, unlimited (spec/config.md §7).
pub const DEFAULT_MESSAGE_RATE: Option<u32> = None;
/// `message_hwm` default: -1, unlimited (spec/config.md §7).
pub const DEFAULT_MESSAGE_HWM: Option<u32> = None;
/// `message_block_size` default: -1, off (spec/config.md §7).
pub const DEFAULT_MESSAGE_BLOCK_SIZE: Option<u32> = None;
/// `message_wait` default: 5000 ms (spec/config.md §7).
pub const DEFAULT_MESSAGE_WAIT: Duration = Duration::from_millis(5000);
/// `id_cache_ttl` default: 0 s (spec/config.md §7).
pub const DEFAULT_ID_CACHE_TTL: Duration = Duration::from_secs(0);
/// `connection_subscription_max` default (spec/config.md §7).
pub const DEFAULT_CONNECTION_SUBSCRIPTION_MAX: u32 = 20;
/// `subscription_linger` default: 60 s (spec/config.md §7).
pub const DEFAULT_SUBSCRIPTION_LINGER: Duration = Duration::from_secs(60);
/// `stats_subscription_ttl` default: 60 s (spec/config.md §7).
pub const DEFAULT_STATS_SUBSCRIPTION_TTL: Duration = Duration::from_secs(60);
/// `stats_report_interval` default: 10 s (spec/config.md §7).
pub const DEFAULT_STATS_REPORT_INTERVAL: Duration = Duration::from_secs(10);
/// `stats_format` default (spec/config.md §7).
pub const DEFAULT_STATS_FORMAT: StatsFormat = StatsFormat::Tnetstring;
/// `share_all` default (spec/config.md §7).
pub const DEFAULT_SHARE_ALL: bool = false;
/// `prometheus_prefix` default (spec/config.md §7).
pub const DEFAULT_PROMETHEUS_PREFIX: &str = "";

pub(crate) const KEYS: &[&str] = &[
    "ipc_file_mode",
    "push_in_spec",
    "push_in_sub_specs",
    "push_in_sub_spec",
    "push_in_sub_connect",
    "push_in_http_addr",
    "push_in_http_port",
    "push_in_max_headers_size",
    "push_in_max_body_size",
    "push_in_http_max_headers_size",
    "push_in_http_max_body_size",
    "stats_spec",
    "command_spec",
    "state_spec",
    "message_rate",
    "message_hwm",
    "message_block_size",
    "message_wait",
    "id_cache_ttl",
    "connection_subscription_max",
    "subscription_linger",
    "stats_subscription_ttl",
    "stats_report_interval",
    "stats_format",
    "share_all",
    "prometheus_port",
    "prometheus_prefix",
    "proxy_inspect_spec",
    "proxy_accept_spec",
    "proxy_retry_out_spec",
    "proxy_ws_control_in_spec",
    "proxy_ws_control_out_spec",
    "proxy_stats_spec",
    "proxy_command_spec",
    "condure_in_stream_specs",
    "condure_out_specs",
    "m2a_in_stream_specs",
    "m2a_out_specs",
    "proxy_intreq_out_specs",
    "proxy_intreq_out_stream_specs",
    "proxy_intreq_in_specs",
];

/// `stats_format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatsFormat {
    /// Anything but `json`.
    Tnetstring,
    /// `json`: `J` + JSON frames.
    Json,
}

/// The `[handler]` section plus the keys pushpin-handler reads from other sections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerConfig {
    /// chmod of bound ipc sockets.
    pub ipc_file_mode: Option<u32>,
    /// Bind PULL for publishes.
    pub push_in_spec: Option<ZmqSpec>,
    /// SUB for publishes; the deprecated `push_in_sub_spec` is appended.
    pub push_in_sub_specs: Vec<ZmqSpec>,
    /// Connect the SUB instead of binding it.
    pub push_in_sub_connect: bool,
    /// HTTP publish address; `None` when empty.
    pub push_in_http_addr: Option<IpAddr>,
    /// HTTP publish port, port offset added; `None` = no HTTP listener.
    pub push_in_http_port: Option<u16>,
    /// Max request header bytes (1.36 reads `push_in_max_headers_size`).
    pub push_in_max_headers_size: usize,
    /// Max request body bytes (1.36 reads `push_in_max_body_size`).
    pub push_in_max_body_size: usize,
    /// Bind PUB, handler stats.
    pub stats_spec: Option<ZmqSpec>,
    /// Bind ROUTER, ZRPC commands.
    pub command_spec: Option<ZmqSpec>,
    /// Bind DEALER to a session store.
    pub state_spec: Option<ZmqSpec>,
    /// Publish deliveries per second; `None` = unlimited.
    pub message_rate: Option<u32>,
    /// Max queued rate-limited messages; `None` = unlimited.
    pub message_hwm: Option<u32>,
    /// Adds `blocks` to stats; `None` = off.
    pub message_block_size: Option<u32>,
    /// Max wait for out-of-order messages.
    pub message_wait: Duration,
    /// How long published ids are remembered.
    pub id_cache_ttl: Duration,
    /// Channels per connection.
    pub connection_subscription_max: u32,
    /// Response-mode subscription linger.
    pub subscription_linger: Duration,
    /// `sub` stats packet ttl.
    pub stats_subscription_ttl: Duration,
    /// `report` stats period.
    pub stats_report_interval: Duration,
    /// Stats frame encoding.
    pub stats_format: StatsFormat,
    /// Inspect returns a sharing key for every request.
    pub share_all: bool,
    /// Prometheus endpoint.
    pub prometheus_port: Option<MetricsAddr>,
    /// Metric name prefix.
    pub prometheus_prefix: String,
    /// Connect ROUTER, inspect RPC.
    pub proxy_inspect_spec: Option<ZmqSpec>,
    /// Connect ROUTER, accept RPC.
    pub proxy_accept_spec: Option<ZmqSpec>,
    /// Connect PUSH, retries.
    pub proxy_retry_out_spec: Option<ZmqSpec>,
    /// Connect PULL, ws-control from the proxy.
    pub proxy_ws_control_in_spec: Option<ZmqSpec>,
    /// Connect PUSH, ws-control to the proxy.
    pub proxy_ws_control_out_spec: Option<ZmqSpec>,
    /// Connect SUB, proxy stats.
    pub proxy_stats_spec: Option<ZmqSpec>,
    /// Connect DEALER, proxy commands.
    pub proxy_command_spec: Option<ZmqSpec>,
    /// Connect ROUTER to condure — read from **`[proxy]`** as 1.36 does (the `[handler]` copy
    /// in internal.conf is dead, spec/config.md §7).
    pub condure_in_stream_specs: Vec<ZmqSpec>,
    /// Connect PUB to condure — read from `[proxy]` like 1.36.
    pub condure_out_specs: Vec<ZmqSpec>,
    /// Connect ROUTER to m2adapter (mandatory even with condure).
    pub m2a_in_stream_specs: Vec<ZmqSpec>,
    /// Connect PUB to m2adapter (mandatory even with condure).
    pub m2a_out_specs: Vec<ZmqSpec>,
    /// Connect PUSH, intreq.
    pub proxy_intreq_out_specs: Vec<ZmqSpec>,
    /// Connect ROUTER, intreq.
    pub proxy_intreq_out_stream_specs: Vec<ZmqSpec>,
    /// Connect SUB, intreq.
    pub proxy_intreq_in_specs: Vec<ZmqSpec>,
    /// `[runner] client_maxconn`.
    pub client_maxconn: usize,
    /// `[global] stats_connection_ttl`.
    pub stats_connection_ttl: Duration,
    /// `[runner] services`.
    pub services: Vec<Service>,
}

impl HandlerConfig {
    /// 1.36's choice: the condure specs unless `services` has mongrel2 or both are empty.
    pub fn server_specs(&self) -> ServerSpecs {
        let condure_any =
            !(self.condure_in_stream_specs.is_empty() && self.condure_out_specs.is_empty());
        let (kind, in_stream_specs, out_specs) =
            if !self.services.contains(&Service::Mongrel2) && condure_any {
                (
                    ServerKind::Condure,
                    &self.condure_in_stream_specs,
                    &self.condure_out_specs,
                )
            } else {
                (
                    ServerKind::M2a,
                    &self.m2a_in_stream_specs,
                    &self.m2a_out_specs,
                )
            };
        ServerSpecs {
            kind,
            in_specs: Vec::new(),
            in_stream_specs: in_stream_specs.clone(),
            out_specs: out_specs.clone(),
        }
    }

    /// The startup checks of 1.36.
    pub fn requirements(&self) -> Vec<Requirement> {
        let mut out = Vec::new();
        if self.m2a_in_stream_specs.is_empty() || self.m2a_out_specs.is_empty() {
            out.push(Requirement::HandlerM2aSpecs);
        }
        if self.proxy_inspect_spec.is_none()
            || self.proxy_accept_spec.is_none()
            || self.proxy_retry_out_spec.is_none()
        {
            out.push(Requirement::HandlerProxySpecs);
        }
        out
    }
}

/// A 1.36-ignored key: warn when it is set to something else than what 1.36 actually uses.
fn ignored(r: &mut Reader<'_>, key: &str, read_instead: &'static str, effective: usize) {
    if let Some(found) = r.get("handler", key) {
        let text = found.value.to_qstring();
        if text.trim() != effective.to_string() {
            r.warn(&found, &text, WarningKind::IgnoredKey { read_instead });
        }
    }
}

pub(crate) fn read(
    r: &mut Reader<'_>,
    global: &GlobalConfig,
    runner: &RunnerConfig,
) -> HandlerConfig {
    const S: &str = "handler";
    let mut push_in_sub_specs = r.specs(S, "push_in_sub_specs");
    push_in_sub_specs.extend(r.spec(S, "push_in_sub_spec"));
    // As 1.36: the offset of the substitution variables (main file or --port-offset).
    let offset = r.settings.vars.port_offset;
    let push_in_http_port = r.parsed(S, "push_in_http_port", Expected::Port, |s| {
        // Settings::adjustedPort: the offset is added only to a positive port.
        let p = crate::qt::to_int(s)?;
        let p = if p > 0 { p.checked_add(offset)? } else { p };
        u16::try_from(p).ok()
    });
    let push_in_max_headers_size = r.int(
        S,
        "push_in_max_headers_size",
        DEFAULT_PUSH_IN_MAX_HEADERS_SIZE,
    );
    let push_in_max_body_size = r.int(S, "push_in_max_body_size", DEFAULT_PUSH_IN_MAX_BODY_SIZE);
    ignored(
        r,
        "push_in_http_max_headers_size",
        "push_in_max_headers_size",
        push_in_max_headers_size,
    );
    ignored(
        r,
        "push_in_http_max_body_size",
        "push_in_max_body_size",
        push_in_max_body_size,
    );
    let config = HandlerConfig {
        ipc_file_mode: r.octal(S, "ipc_file_mode"),
        push_in_spec: r.spec(S, "push_in_spec"),
        push_in_sub_specs,
        push_in_sub_connect: r.bool(S, "push_in_sub_connect", DEFAULT_PUSH_IN_SUB_CONNECT),
        push_in_http_addr: r.parsed(S, "push_in_http_addr", Expected::IpAddr, |s| s.parse().ok()),
        push_in_http_port,
        push_in_max_headers_size,
        push_in_max_body_size,
        stats_spec: r.spec(S, "stats_spec"),
        command_spec: r.spec(S, "command_spec"),
        state_spec: r.spec(S, "state_spec"),
        message_rate: r.unlimited(S, "message_rate").or(DEFAULT_MESSAGE_RATE),
        message_hwm: r.unlimited(S, "message_hwm").or(DEFAULT_MESSAGE_HWM),
        message_block_size: r
            .unlimited(S, "message_block_size")
            .or(DEFAULT_MESSAGE_BLOCK_SIZE),
        message_wait: r.millis(S, "message_wait", DEFAULT_MESSAGE_WAIT),
        id_cache_ttl: r.seconds(S, "id_cache_ttl", DEFAULT_ID_CACHE_TTL),
        connection_subscription_max: r.int(
            S,
            "connection_subscription_max",
            DEFAULT_CONNECTION_SUBSCRIPTION_MAX,
        ),
        subscription_linger: r.seconds(S, "subscription_linger", DEFAULT_SUBSCRIPTION_LINGER),
        stats_subscription_ttl: r.seconds(
            S,
            "stats_subscription_ttl",
            DEFAULT_STATS_SUBSCRIPTION_TTL,
        ),
        stats_report_interval: r.seconds(S, "stats_report_interval", DEFAULT_STATS_REPORT_INTERVAL),
        stats_format: r
            .scalar(S, "stats_format")
            .map_or(DEFAULT_STATS_FORMAT, |(s, _)| {
                if s == "json" {
                    StatsFormat::Json
                } else {
                    StatsFormat::Tnetstring
                }
            }),
        share_all: r.bool(S, "share_all", DEFAULT_SHARE_ALL),
        prometheus_port: r.parsed(S, "prometheus_port", Expected::MetricsAddr, |s| {
            s.parse().ok()
        }),
        prometheus_prefix: r.string(S, "prometheus_prefix", DEFAULT_PROMETHEUS_PREFIX),
        proxy_inspect_spec: r.spec(S, "proxy_inspect_spec"),
        proxy_accept_spec: r.spec(S, "proxy_accept_spec"),
        proxy_retry_out_spec: r.spec(S, "proxy_retry_out_spec"),
        proxy_ws_control_in_spec: r.spec(S, "proxy_ws_control_in_spec"),
        proxy_ws_control_out_spec: r.spec(S, "proxy_ws_control_out_spec"),
        proxy_stats_spec: r.spec(S, "proxy_stats_spec"),
        proxy_command_spec: r.spec(S, "proxy_command_spec"),
        condure_in_stream_specs: r.specs("proxy", "condure_in_stream_specs"),
        condure_out_specs: r.specs("proxy", "condure_out_specs"),
        m2a_in_stream_specs: r.specs(S, "m2a_in_stream_specs"),
        m2a_out_specs: r.specs(S, "m2a_out_specs"),
        proxy_intreq_out_specs: r.specs(S, "proxy_intreq_out_specs"),
        proxy_intreq_out_stream_specs: r.specs(S, "proxy_intreq_out_stream_specs"),
        proxy_intreq_in_specs: r.specs(S, "proxy_intreq_in_specs"),
        client_maxconn: runner.client_maxconn,
        stats_connection_ttl: global.stats_connection_ttl,
        services: runner.services.clone(),
    };
    r.unknown_keys(S, KEYS);
    config
}
