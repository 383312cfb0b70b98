//! `[runner]`: which services to start, the client listeners, log levels, limits and program
//! paths (spec/config.md §5, spec/runner.md §1–§3).

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::str::FromStr;

use crate::error::{Expected, Requirement, WarningKind};
use crate::global::GlobalConfig;
use crate::qt;
use crate::read::Reader;

/// `[runner] log_level` default and every unset per-service level (spec/runner.md §1).
pub const DEFAULT_LOG_LEVEL: u32 = 2;
/// `[runner] client_buffer_size` default: condure `--buffer-size` (spec/config.md §5).
pub const DEFAULT_CLIENT_BUFFER_SIZE: usize = 8192;
/// `[runner] client_maxconn` default: condure `--stream-maxconn` (spec/config.md §5).
pub const DEFAULT_CLIENT_MAXCONN: usize = 50000;
/// `[runner] logdir` default: empty, the current directory (spec/config.md §5).
pub const DEFAULT_LOGDIR: &str = "";
/// `[runner] allow_compression` default (1.37+ key, spec/config.md §5).
pub const DEFAULT_ALLOW_COMPRESSION: bool = false;
/// `[runner] condure_bin` default, looked up in PATH (spec/config.md §5).
pub const DEFAULT_CONDURE_BIN: &str = "condure";
/// `[runner] mongrel2_bin` default (spec/config.md §5).
pub const DEFAULT_MONGREL2_BIN: &str = "mongrel2";
/// `[runner] m2sh_bin` default (spec/config.md §5).
pub const DEFAULT_M2SH_BIN: &str = "m2sh";
/// `[runner] zurl_bin` default (spec/config.md §5).
pub const DEFAULT_ZURL_BIN: &str = "zurl";
/// m2adapter's program name; 1.36 has no key for it, this rebuild reads `m2adapter_bin`
/// (spec/runner.md §2 step 3).
pub const DEFAULT_M2ADAPTER_BIN: &str = "m2adapter";
/// Our connection manager (`connmgr_bin`, a rebuild key): the program of the condure service
/// when `condure_bin` is not set.
pub const DEFAULT_CONNMGR_BIN: &str = "pushpin-connmgr";
/// `proxy_bin` (a rebuild key): 1.36 runs `<runner dir>/bin/pushpin-proxy` or PATH's.
pub const DEFAULT_PROXY_BIN: &str = "pushpin-proxy";
/// `handler_bin` (a rebuild key): 1.36 runs `<runner dir>/bin/pushpin-handler` or PATH's.
pub const DEFAULT_HANDLER_BIN: &str = "pushpin-handler";

pub(crate) const KEYS: &[&str] = &[
    "services",
    "http_port",
    "https_ports",
    "local_ports",
    "rundir",
    "logdir",
    "log_level",
    "client_buffer_size",
    "client_maxconn",
    "allow_compression",
    "condure_bin",
    "connmgr_bin",
    "mongrel2_bin",
    "m2sh_bin",
    "zurl_bin",
    "m2adapter_bin",
    "proxy_bin",
    "handler_bin",
];

/// A child service of the runner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    /// The client connection manager: 1.36 `condure`, our alias `connmgr`.
    Connmgr,
    /// `mongrel2` (one instance per listener).
    Mongrel2,
    /// `m2adapter`.
    M2adapter,
    /// `zurl`.
    Zurl,
    /// 1.36 `pushpin-proxy`, our alias `proxy`.
    Proxy,
    /// 1.36 `pushpin-handler`, our alias `handler`.
    Handler,
}

/// A `services` name that is not a service.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown service {0:?}")]
pub struct UnknownService(pub String);

impl Service {
    /// The order the runner starts services in, whatever the order in `services`.
    pub const START_ORDER: [Self; 6] = [
        Self::Connmgr,
        Self::Mongrel2,
        Self::M2adapter,
        Self::Zurl,
        Self::Proxy,
        Self::Handler,
    ];

    /// The 1.36 name (`services=`, `log_level` items, pid/log file names).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connmgr => "condure",
            Self::Mongrel2 => "mongrel2",
            Self::M2adapter => "m2adapter",
            Self::Zurl => "zurl",
            Self::Proxy => "pushpin-proxy",
            Self::Handler => "pushpin-handler",
        }
    }

    /// The rebuild's alias, when there is one (newer Pushpin's names).
    pub fn alias(self) -> Option<&'static str> {
        match self {
            Self::Connmgr => Some("connmgr"),
            Self::Proxy => Some("proxy"),
            Self::Handler => Some("handler"),
            Self::Mongrel2 | Self::M2adapter | Self::Zurl => None,
        }
    }

    /// The name in `starting X` / `stopping X` log lines (mongrel2 instances are `m2 http:PORT`).
    pub fn display_name(self) -> &'static str {
        match self {
            Self::Connmgr => "condure",
            Self::Mongrel2 => "mongrel2",
            Self::M2adapter => "m2a",
            Self::Zurl => "zurl",
            Self::Proxy => "proxy",
            Self::Handler => "handler",
        }
    }
}

impl FromStr for Service {
    type Err = UnknownService;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "condure" | "connmgr" => Self::Connmgr,
            "mongrel2" => Self::Mongrel2,
            "m2adapter" => Self::M2adapter,
            "zurl" => Self::Zurl,
            "pushpin-proxy" | "proxy" => Self::Proxy,
            "pushpin-handler" | "handler" => Self::Handler,
            other => return Err(UnknownService(other.to_string())),
        })
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A TCP listener `[addr:]port`; the address defaults to `0.0.0.0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenAddr {
    /// Address to bind.
    pub addr: IpAddr,
    /// Port.
    pub port: u16,
}

impl FromStr for ListenAddr {
    type Err = Expected;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = Expected::ListenAddr;
        let port = |p: &str| {
            qt::to_int(p)
                .and_then(|v| u16::try_from(v).ok())
                .ok_or(Expected::ListenAddr)
        };
        if !s.contains(':') {
            return Ok(Self {
                addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                port: port(s)?,
            });
        }
        let (host, p) = if let Some(v6) = s.strip_prefix('[') {
            let (host, rest) = v6.split_once(']').ok_or(err.clone())?;
            (host, rest.strip_prefix(':').ok_or(err.clone())?)
        } else {
            s.split_once(':').ok_or(err.clone())?
        };
        let addr = host.parse::<IpAddr>().map_err(|_| err)?;
        Ok(Self {
            addr,
            port: port(p)?,
        })
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.addr {
            IpAddr::V4(a) => write!(f, "{a}:{}", self.port),
            IpAddr::V6(a) => write!(f, "[{a}]:{}", self.port),
        }
    }
}

/// A `log_level` / `--loglevel` problem; the messages are the 1.36 runner's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogLevelError {
    /// An empty item (`2,`).
    #[error("log level component cannot be empty")]
    EmptyComponent,
    /// `:3`.
    #[error("log level component name cannot be empty")]
    EmptyName,
    /// `name:x` with a bad number.
    #[error("log level for service {0} must be greater than or equal to 0")]
    Service(String),
    /// A bad plain number.
    #[error("log level must be greater than or equal to 0")]
    Default,
}

/// Log levels: a default and per-name levels (`2,pushpin-handler:3,runner:3`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogLevels {
    default: Option<u32>,
    by_name: BTreeMap<String, u32>,
}

impl LogLevels {
    /// Parses items as the 1.36 runner does (no trimming beyond what Qt's `toInt` skips).
    pub fn parse_items<S: AsRef<str>>(items: &[S]) -> Result<Self, LogLevelError> {
        let mut out = Self::default();
        for item in items {
            let item = item.as_ref();
            if item.is_empty() {
                return Err(LogLevelError::EmptyComponent);
            }
            match item.split_once(':') {
                Some(("", _)) => return Err(LogLevelError::EmptyName),
                Some((name, n)) => {
                    let level = qt::to_int(n)
                        .and_then(|v| u32::try_from(v).ok())
                        .ok_or_else(|| LogLevelError::Service(name.to_string()))?;
                    out.by_name.insert(name.to_string(), level);
                }
                None => {
                    let level = qt::to_int(item)
                        .and_then(|v| u32::try_from(v).ok())
                        .ok_or(LogLevelError::Default)?;
                    out.default = Some(level);
                }
            }
        }
        Ok(out)
    }

    /// `--verbose`: level 3 for everything.
    pub fn verbose() -> Self {
        Self {
            default: Some(3),
            by_name: BTreeMap::new(),
        }
    }

    /// The default level (the plain number, else [`DEFAULT_LOG_LEVEL`]).
    pub fn default_level(&self) -> u32 {
        self.default.unwrap_or(DEFAULT_LOG_LEVEL)
    }

    /// The level for a name (`runner`, or a 1.36 service name), else the default.
    pub fn level_for(&self, name: &str) -> u32 {
        self.by_name
            .get(name)
            .copied()
            .unwrap_or_else(|| self.default_level())
    }

    /// The level for a service: its 1.36 name, else our alias, else the default.
    pub fn for_service(&self, service: Service) -> u32 {
        self.by_name
            .get(service.as_str())
            .or_else(|| service.alias().and_then(|a| self.by_name.get(a)))
            .copied()
            .unwrap_or_else(|| self.default_level())
    }

    /// The per-name entries.
    pub fn by_name(&self) -> &BTreeMap<String, u32> {
        &self.by_name
    }
}

impl FromStr for LogLevels {
    type Err = LogLevelError;

    /// The `--loglevel` form: comma-separated, split without trimming.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_items(&s.split(',').collect::<Vec<_>>())
    }
}

/// A program to run: the configured path, or the default name looked up in PATH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// Path or name.
    pub path: PathBuf,
    /// True when the config file set it.
    pub explicit: bool,
}

/// The `[runner]` section, with the rundir/ipc_prefix/port_offset the runner computes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerConfig {
    /// Known services, in written order, without duplicates.
    pub services: Vec<Service>,
    /// Names in `services` that are not services (ignored, warned).
    pub unknown_services: Vec<String>,
    /// Plain HTTP listeners.
    pub http_port: Vec<ListenAddr>,
    /// TLS listeners.
    pub https_ports: Vec<ListenAddr>,
    /// Unix-socket listeners (paths, substituted).
    pub local_ports: Vec<PathBuf>,
    /// Same as [`GlobalConfig::rundir`] (raw; the runner makes it absolute).
    pub rundir: PathBuf,
    /// Same as [`GlobalConfig::ipc_prefix`].
    pub ipc_prefix: String,
    /// Same as [`GlobalConfig::port_offset`].
    pub port_offset: u16,
    /// Where children log (raw; the runner makes it absolute).
    pub logdir: PathBuf,
    /// `log_level`.
    pub log_level: LogLevels,
    /// condure `--buffer-size`, mongrel2 `limits.buffer_size`.
    pub client_buffer_size: usize,
    /// condure `--stream-maxconn`; also sizes proxy/handler stats tables.
    pub client_maxconn: usize,
    /// Newer Pushpin only.
    pub allow_compression: bool,
    /// `condure_bin`.
    pub condure_bin: Program,
    /// `connmgr_bin` (rebuild key).
    pub connmgr_bin: Program,
    /// `mongrel2_bin`.
    pub mongrel2_bin: Program,
    /// `m2sh_bin`.
    pub m2sh_bin: Program,
    /// `zurl_bin`.
    pub zurl_bin: Program,
    /// `m2adapter_bin` (rebuild key).
    pub m2adapter_bin: Program,
    /// `proxy_bin` (rebuild key).
    pub proxy_bin: Program,
    /// `handler_bin` (rebuild key).
    pub handler_bin: Program,
    /// `<config dir>/runner/certs`: TLS identities for `https_ports`.
    pub certs_dir: PathBuf,
}

impl RunnerConfig {
    /// Whether `services` lists the service.
    pub fn has(&self, service: Service) -> bool {
        self.services.contains(&service)
    }

    /// The program for the condure service: `condure_bin` when set, else `connmgr_bin`.
    pub fn connmgr_program(&self) -> &Program {
        if self.condure_bin.explicit {
            &self.condure_bin
        } else {
            &self.connmgr_bin
        }
    }

    /// The runner's startup rules (spec/runner.md §2 steps 5 and 7, §3.5); `port_override`
    /// is `--port`, which replaces all listeners.
    pub fn requirements(&self, port_override: bool) -> Vec<Requirement> {
        let mut out = Vec::new();
        let m2 = self.has(Service::Mongrel2);
        if !port_override
            && self.http_port.is_empty()
            && self.https_ports.is_empty()
            && self.local_ports.is_empty()
        {
            out.push(Requirement::NoServerPorts);
        }
        if self.has(Service::Connmgr) && (m2 || self.has(Service::M2adapter)) {
            out.push(Requirement::ConnmgrWithMongrel2);
        }
        if m2 && !port_override && !self.local_ports.is_empty() {
            out.push(Requirement::LocalPortsWithMongrel2);
        }
        out
    }
}

/// Reads `services` as proxy and handler do (they only ask whether it contains `mongrel2`).
pub(crate) fn services(r: &mut Reader<'_>) -> (Vec<Service>, Vec<String>) {
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for name in r.list("runner", "services") {
        match name.parse::<Service>() {
            Ok(s) if !known.contains(&s) => known.push(s),
            Ok(_) => {}
            Err(_) => unknown.push(name),
        }
    }
    (known, unknown)
}

fn listeners(r: &mut Reader<'_>, key: &str, allow_zero: bool) -> Vec<ListenAddr> {
    let Some(found) = r.get("runner", key) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in r.list("runner", key) {
        match item.parse::<ListenAddr>() {
            Ok(a) if allow_zero || a.port != 0 => out.push(a),
            Ok(_) => r.error(&found, &item, Expected::Port),
            Err(e) => r.error(&found, &item, e),
        }
    }
    out
}

fn program(r: &mut Reader<'_>, key: &str, default: &str) -> Program {
    match r.scalar("runner", key) {
        Some((s, _)) => Program {
            path: PathBuf::from(s),
            explicit: true,
        },
        None => Program {
            path: PathBuf::from(default),
            explicit: false,
        },
    }
}

pub(crate) fn read(r: &mut Reader<'_>, global: &GlobalConfig) -> RunnerConfig {
    let (services, unknown_services) = services(r);
    if let Some(found) = r.get("runner", "services") {
        for name in &unknown_services {
            r.warn(&found, name, WarningKind::UnknownService);
        }
    }
    let log_level = match r.get("runner", "log_level") {
        Some(found) if !(matches!(&found.value, crate::raw::Value::Str(s) if s.trim().is_empty())) => {
            match LogLevels::parse_items(&found.value.to_list()) {
                Ok(l) => l,
                Err(e) => {
                    let text = found.entry.text.clone();
                    r.error(&found, &text, Expected::LogLevel(e));
                    LogLevels::default()
                }
            }
        }
        _ => LogLevels::default(),
    };
    let config = RunnerConfig {
        services,
        unknown_services,
        http_port: listeners(r, "http_port", true),
        https_ports: listeners(r, "https_ports", false),
        local_ports: r
            .list("runner", "local_ports")
            .into_iter()
            .map(PathBuf::from)
            .collect(),
        rundir: global.rundir.clone(),
        ipc_prefix: global.ipc_prefix.clone(),
        port_offset: global.port_offset,
        logdir: PathBuf::from(r.string("runner", "logdir", DEFAULT_LOGDIR)),
        log_level,
        client_buffer_size: r.int("runner", "client_buffer_size", DEFAULT_CLIENT_BUFFER_SIZE),
        client_maxconn: r.int("runner", "client_maxconn", DEFAULT_CLIENT_MAXCONN),
        allow_compression: r.bool("runner", "allow_compression", DEFAULT_ALLOW_COMPRESSION),
        condure_bin: program(r, "condure_bin", DEFAULT_CONDURE_BIN),
        connmgr_bin: program(r, "connmgr_bin", DEFAULT_CONNMGR_BIN),
        mongrel2_bin: program(r, "mongrel2_bin", DEFAULT_MONGREL2_BIN),
        m2sh_bin: program(r, "m2sh_bin", DEFAULT_M2SH_BIN),
        zurl_bin: program(r, "zurl_bin", DEFAULT_ZURL_BIN),
        m2adapter_bin: program(r, "m2adapter_bin", DEFAULT_M2ADAPTER_BIN),
        proxy_bin: program(r, "proxy_bin", DEFAULT_PROXY_BIN),
        handler_bin: program(r, "handler_bin", DEFAULT_HANDLER_BIN),
        certs_dir: r.settings.config_dir().join("runner").join("certs"),
    };
    r.unknown_keys("runner", KEYS);
    config
}
