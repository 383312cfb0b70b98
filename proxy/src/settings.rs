//! The proxy's typed configuration: the `[proxy]` section, where the routes come from
//! (`routesfile` or `--route` lines), and the instance id (`spec/config.md` §6, §8.7;
//! `spec/runner.md` §3.3).
//!
//! Loading the routes is here too, because both startup and reloads (file change, SIGHUP)
//! read them the same way: parse, log every skipped line at WARN, and return the table.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use pushpin_config::ProxyConfig;
use pushpin_config::routes::{self, Routes};
use tracing::{info, warn};

/// Where the route table comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteSource {
    /// A routes file, watched and reloaded on change and on SIGHUP.
    File(PathBuf),
    /// `--route` lines: parsed once with the file name `<route>`, never reloaded.
    Lines(Vec<String>),
    /// No `routesfile` and no `--route`: every request gets `502 No route for host`.
    None,
}

/// Everything [`run`](crate::run) needs.
#[derive(Debug, Clone)]
pub struct Config {
    /// `[proxy]` and the keys the proxy reads from other sections.
    pub proxy: Arc<ProxyConfig>,
    /// The routes.
    pub routes: RouteSource,
    /// Our ZHTTP `from` and ROUTER identity (`pushpin-proxy_<pid>` by default).
    pub instance_id: String,
}

impl Config {
    /// A config with Pushpin's default instance id for this process.
    pub fn new(proxy: ProxyConfig, routes: RouteSource) -> Self {
        Self {
            proxy: Arc::new(proxy),
            routes,
            instance_id: default_instance_id(),
        }
    }
}

/// `pushpin-proxy_<pid>`, as 1.36 names itself (`spec/zhttp.md` §1).
pub fn default_instance_id() -> String {
    format!("pushpin-proxy_{}", std::process::id())
}

/// Loads the route table from `source`, logging as 1.36 does: each skipped line at WARN,
/// then `routes loaded with N entries`. A file that cannot be read gives an empty table
/// and an ERR line (1.36 logs `unable to open routes file`).
pub fn load_routes(source: &RouteSource) -> Routes {
    let parsed = match source {
        RouteSource::File(path) => match routes::load(path) {
            Ok(parsed) => parsed,
            Err(e) => {
                tracing::error!("unable to open routes file: {}: {e}", path.display());
                return Routes::default();
            }
        },
        RouteSource::Lines(lines) => {
            let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
            routes::parse_route_lines(lines, &cwd)
        }
        RouteSource::None => return Routes::default(),
    };
    for skipped in &parsed.skipped {
        warn!("{skipped}");
    }
    info!("routes loaded with {} entries", parsed.routes.len());
    parsed.routes
}

/// The routes file of a [`RouteSource::File`], for the watcher.
pub(crate) fn watched_file(source: &RouteSource) -> Option<&Path> {
    match source {
        RouteSource::File(p) => Some(p),
        RouteSource::Lines(_) | RouteSource::None => None,
    }
}
