//! `[global]`: include, libdir, rundir, ipc_prefix, port_offset and the connection-stats TTL
//! (spec/config.md §4), plus the substitution variables derived from the main file (§3.2).

use std::path::PathBuf;
use std::time::Duration;

use crate::Overrides;
use crate::error::WarningKind;
use crate::read::Reader;
use crate::settings::{DEFAULT_IPC_PREFIX, DEFAULT_LIBDIR, Vars};

/// `[global] port_offset` when absent (spec/config.md §4).
pub const DEFAULT_PORT_OFFSET: u16 = 0;

/// `[global] rundir` when neither `[global]` nor `[runner]` sets it: empty, i.e. the current
/// directory (spec/config.md §4).
pub const DEFAULT_RUNDIR: &str = "";

/// `[global] stats_connection_ttl` when absent: 120 s (spec/config.md §4).
pub const DEFAULT_STATS_CONNECTION_TTL: Duration = Duration::from_secs(120);

/// `[global] stats_connection_send` when absent (1.37+ key, spec/config.md §4 and §9).
pub const DEFAULT_STATS_CONNECTION_SEND: bool = false;

/// Keys of `[global]` this crate reads.
pub(crate) const KEYS: &[&str] = &[
    "include",
    "libdir",
    "rundir",
    "ipc_prefix",
    "port_offset",
    "stats_connection_ttl",
    "stats_connection_send",
];

/// The `[global]` section, merged view (main file wins over the include).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalConfig {
    /// The include file as resolved (`internal.conf` hack, substitutions, relative to the main
    /// file's directory); `None` without `include=`.
    pub include: Option<PathBuf>,
    /// `[global] libdir`, else the compiled-in LIBDIR ([`crate::Overrides::libdir`] or
    /// [`DEFAULT_LIBDIR`]). The runner's templates are in `<libdir>/runner`.
    pub libdir: PathBuf,
    /// `[global] rundir`, else the deprecated `[runner] rundir`, else empty; substituted, not
    /// made absolute (the runner resolves it against its working directory).
    pub rundir: PathBuf,
    /// `--ipc-prefix`, else `[global] ipc_prefix`, else [`DEFAULT_IPC_PREFIX`].
    pub ipc_prefix: String,
    /// `--port-offset`, else `[global] port_offset`, else [`DEFAULT_PORT_OFFSET`].
    pub port_offset: u16,
    /// `ttl` of `conn` stats packets (refreshed every 3/4 of it).
    pub stats_connection_ttl: Duration,
    /// Newer Pushpin only; read so a 1.37+ file validates.
    pub stats_connection_send: bool,
    /// The substitution variables as 1.36 computes them (main file only, plus overrides).
    pub vars: Vars,
}

impl GlobalConfig {
    /// `<libdir>/runner`, where the runner finds its `*.conf.template` files.
    pub fn templates_dir(&self) -> PathBuf {
        self.libdir.join("runner")
    }
}

pub(crate) fn read(
    r: &mut Reader<'_>,
    include: Option<PathBuf>,
    overrides: &Overrides,
) -> GlobalConfig {
    let vars = r.settings.vars.clone();
    let libdir = Some(r.string("global", "libdir", ""))
        .filter(|s| !s.is_empty())
        .or_else(|| overrides.libdir.as_ref().map(|p| p.display().to_string()))
        .unwrap_or_else(|| DEFAULT_LIBDIR.to_string());
    let rundir = if r.settings.contains("global", "rundir") {
        r.string("global", "rundir", DEFAULT_RUNDIR)
    } else if let Some(found) = r.get("runner", "rundir") {
        let text = found.value.to_qstring();
        r.warn(&found, &text, WarningKind::DeprecatedRunnerRundir);
        r.string("runner", "rundir", DEFAULT_RUNDIR)
    } else {
        DEFAULT_RUNDIR.to_string()
    };
    let ipc_prefix = match &overrides.ipc_prefix {
        Some(p) => p.clone(),
        None => r.string("global", "ipc_prefix", DEFAULT_IPC_PREFIX),
    };
    let file_port_offset = r.int("global", "port_offset", DEFAULT_PORT_OFFSET);
    let stats_connection_ttl = r.seconds(
        "global",
        "stats_connection_ttl",
        DEFAULT_STATS_CONNECTION_TTL,
    );
    let stats_connection_send = r.bool(
        "global",
        "stats_connection_send",
        DEFAULT_STATS_CONNECTION_SEND,
    );
    r.unknown_keys("global", KEYS);
    GlobalConfig {
        include,
        libdir: PathBuf::from(libdir),
        rundir: PathBuf::from(rundir),
        ipc_prefix,
        port_offset: overrides.port_offset.unwrap_or(file_port_offset),
        stats_connection_ttl,
        stats_connection_send,
        vars,
    }
}
