//! `pushpin-config` (layer L0) owns every file format the suite reads: `pushpin.conf` and its
//! `internal.conf` include (spec/config.md §2–§7), the routes file (§8) and `zurl.conf`
//! (spec/zhttp.md §10.2). It turns text into typed, validated per-process configs with Pushpin
//! 1.36's defaults.
//!
//! It does **not** open sockets, watch files, resolve paths against the working directory or
//! decide process behaviour; the only I/O is in the thin `load` wrappers ([`load`],
//! [`routes::load`], [`zurl::load`]) over pure parsers, and in [`key::load_pem_keys`] (with
//! [`ProxyConfig::load_pem_keys`], [`routes::Routes::load_pem_keys`]), which reads `file:` JWT
//! keys for the binaries that use them.
//!
//! # Layout
//!
//! * [`ini`] — Qt `QSettings` INI dialect → [`Raw`] (keys, values, lines as written);
//!   [`toml_source`] — the same keys from a `.toml` file.
//! * [`settings`] — `include=`, main-file-wins merging, `{libdir}` `{rundir}` `{ipc_prefix}`
//!   substitutions and the tcp port offset.
//! * [`global`], [`runner`], [`proxy`], [`handler`] — typed sections with `DEFAULT_*` consts.
//! * [`spec`] — [`ZmqSpec`]; [`key`] — `sig_key`-style JWT keys.
//! * [`routes`] — routes lines, the route table and the §8.5 matching algorithm.
//! * [`zurl`] — zurl.conf.
//! * [`error`] — [`ConfigError`] (file, line, key, value), collected into [`ConfigErrors`].
//!
//! # Entry points
//!
//! ```no_run
//! # fn main() -> Result<(), pushpin_config::ConfigErrors> {
//! use std::path::Path;
//! let cfg = pushpin_config::load(Path::new("/etc/pushpin/pushpin.conf"), &Default::default())?;
//! cfg.check_proxy()?; // 1.36's "must set ..." rules for this process
//! let routes = pushpin_config::routes::load(cfg.proxy.routesfile.as_deref().unwrap_or(Path::new("routes")));
//! # Ok(()) }
//! ```
//!
//! # Deviations from 1.36 (all deliberate, see the module docs)
//!
//! Values Qt silently coerces (`100abc` → 0, a comma list read as one value → `""`) are
//! reported as errors; empty numbers mean "default"; an empty `upstream_key` is no key; the
//! port offset rewrites exactly the port digits; text is kept as UTF-8 instead of Latin-1.

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::print_stdout,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

use std::path::{Path, PathBuf};

pub mod error;
pub mod global;
pub mod handler;
pub mod ini;
pub mod key;
pub mod proxy;
mod qt;
pub mod raw;
mod read;
pub mod routes;
pub mod runner;
pub mod settings;
pub mod spec;
pub mod toml_source;
pub mod zurl;

pub use error::{ConfigError, ConfigErrors, ConfigWarning, Expected, Requirement, WarningKind};
pub use global::GlobalConfig;
pub use handler::HandlerConfig;
pub use key::ConfigKey;
pub use proxy::ProxyConfig;
pub use raw::{Entry, Raw, Value};
pub use routes::{Route, Routes};
pub use runner::{ListenAddr, LogLevels, RunnerConfig, Service};
pub use settings::Vars;
pub use spec::ZmqSpec;
pub use zurl::ZurlConfig;

/// Our `config/internal.conf`: the internal socket layout with 1.36's keys and socket names
/// (zurl specs under `{rundir}`), for binaries and tests that need the internal specs without
/// an installed file.
pub const INTERNAL_CONF: &str = include_str!("../../../config/internal.conf");

/// pushpin-proxy's and pushpin-handler's config file without `--config` (spec/config.md §1).
pub const DEFAULT_CONFIG_FILE: &str = "/etc/pushpin/pushpin.conf";

/// CONFIGDIR of the Debian 1.36 build.
pub const DEFAULT_CONFIG_DIR: &str = "/etc/pushpin";

/// The files the runner tries without `--config`, in order (spec/config.md §1): relative ones
/// are relative to the current directory. The runner takes the first that exists and logs
/// `using config: FILE`.
pub fn config_search_path(config_dir: &Path) -> Vec<PathBuf> {
    vec![
        PathBuf::from("config/pushpin.conf"),
        PathBuf::from("pushpin.conf"),
        PathBuf::from("examples/config/pushpin.conf"),
        config_dir.join("pushpin.conf"),
    ]
}

/// Command-line values that take precedence over the file (CLI, then file, then default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `--ipc-prefix` (proxy, handler; the runner's `--id=N` gives `pN-`).
    pub ipc_prefix: Option<String>,
    /// `--port-offset` (handler; the runner's `--id=N` gives `10·N`).
    pub port_offset: Option<u16>,
    /// The installation's LIBDIR: `{libdir}` when `[global] libdir` is empty (default
    /// [`settings::DEFAULT_LIBDIR`]).
    pub libdir: Option<PathBuf>,
}

/// The typed configuration of one `pushpin.conf` (plus include), for every process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The main file.
    pub file: PathBuf,
    /// `[global]`.
    pub global: GlobalConfig,
    /// `[runner]`.
    pub runner: RunnerConfig,
    /// What pushpin-proxy reads.
    pub proxy: ProxyConfig,
    /// What pushpin-handler reads.
    pub handler: HandlerConfig,
    /// Accepted but suspicious input, to log at WARN.
    pub warnings: Vec<ConfigWarning>,
}

impl Config {
    /// Types and validates the main file and its include (pure). Every bad value is reported.
    pub fn from_raw(
        main: &Raw,
        include: Option<&Raw>,
        overrides: &Overrides,
    ) -> Result<Self, ConfigErrors> {
        let vars = Vars::from_main(main, overrides);
        let include_file = settings::include_path(main, &vars);
        let settings = settings::Settings {
            main,
            include,
            vars,
        };
        let mut r = read::Reader::new(&settings);
        let global = global::read(&mut r, include_file, overrides);
        let runner = runner::read(&mut r, &global);
        let proxy = proxy::read(&mut r, &global, &runner);
        let handler = handler::read(&mut r, &global, &runner);
        let mut seen = std::collections::HashSet::new();
        let mut errors: Vec<ConfigError> = r
            .errors
            .into_iter()
            .filter(|e| seen.insert(e.to_string()))
            .collect();
        errors.sort_by(|a, b| (a.file(), a.line()).cmp(&(b.file(), b.line())));
        let mut warnings: Vec<ConfigWarning> = Vec::new();
        for w in r.warnings {
            if !warnings.contains(&w) {
                warnings.push(w);
            }
        }
        warnings.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
        let config = Self {
            file: main.origin.clone(),
            global,
            runner,
            proxy,
            handler,
            warnings,
        };
        ConfigErrors(errors).into_result(config)
    }

    fn requirements(&self, list: Vec<Requirement>) -> Result<(), ConfigErrors> {
        let errors = list
            .into_iter()
            .map(|requirement| ConfigError::Requirement {
                file: self.file.clone(),
                requirement,
            })
            .collect::<Vec<_>>();
        ConfigErrors(errors).into_result(())
    }

    /// pushpin-proxy's startup rules (1.36 exits with code 0 on these).
    pub fn check_proxy(&self) -> Result<(), ConfigErrors> {
        self.requirements(self.proxy.requirements())
    }

    /// pushpin-handler's startup rules (1.36 exits with code 0 on these).
    pub fn check_handler(&self) -> Result<(), ConfigErrors> {
        self.requirements(self.handler.requirements())
    }

    /// The runner's startup rules (exit 1); `port_override` is `--port`.
    pub fn check_runner(&self, port_override: bool) -> Result<(), ConfigErrors> {
        self.requirements(self.runner.requirements(port_override))
    }
}

/// Parses a configuration text: TOML when `origin` ends in `.toml`, else Pushpin's INI
/// dialect (which never fails).
pub fn parse(text: &str, origin: &Path) -> Result<Raw, ConfigErrors> {
    if origin.extension().is_some_and(|e| e == "toml") {
        toml_source::parse(text, origin)
    } else {
        Ok(ini::parse(text, origin))
    }
}

/// The include file the main file names (`[global] include`), resolved as 1.36 does.
pub fn include_path(main: &Raw, overrides: &Overrides) -> Option<PathBuf> {
    settings::include_path(main, &Vars::from_main(main, overrides))
}

/// Reads a text file: UTF-8, or Latin-1 when it is not valid UTF-8 (never fails on encoding).
pub(crate) fn read_text(path: &Path) -> Result<String, ConfigError> {
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
        file: path.to_path_buf(),
        source,
    })?;
    Ok(String::from_utf8(bytes)
        .unwrap_or_else(|e| e.into_bytes().iter().map(|&b| char::from(b)).collect()))
}

/// Reads `path` and its include, then types and validates everything. A missing include file
/// is treated as empty (as in 1.36); any other read failure is an error.
pub fn load(path: &Path, overrides: &Overrides) -> Result<Config, ConfigErrors> {
    let with_libdir;
    let overrides = if overrides.libdir.is_none() {
        with_libdir = Overrides {
            libdir: Some(default_libdir()),
            ..overrides.clone()
        };
        &with_libdir
    } else {
        overrides
    };
    let main = parse(&read_text(path)?, path)?;
    let include = match include_path(&main, overrides) {
        Some(inc) => match std::fs::metadata(&inc) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            _ => Some(parse(&read_text(&inc)?, &inc)?),
        },
        None => None,
    };
    Config::from_raw(&main, include.as_ref(), overrides)
}

/// The checkout's `config/` directory, as built (holds our `internal.conf` and templates).
pub const CHECKOUT_LIBDIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config");

/// `{libdir}` when neither `[global] libdir` nor [`Overrides::libdir`] says: the checkout's
/// `config/` directory when the binaries run from the checkout they were built in (so
/// `include={libdir}/internal.conf` finds our `internal.conf`), else
/// [`settings::DEFAULT_LIBDIR`] as in an installed Pushpin.
pub fn default_libdir() -> PathBuf {
    let checkout = Path::new(CHECKOUT_LIBDIR);
    if checkout.join("internal.conf").is_file() {
        checkout
            .canonicalize()
            .unwrap_or_else(|_| checkout.to_path_buf())
    } else {
        PathBuf::from(settings::DEFAULT_LIBDIR)
    }
}

#[cfg(test)]
mod tests;
