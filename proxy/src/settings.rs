//! The proxy's typed configuration: the `[proxy]` section, where the routes come from
//! (`routesfile` or `--route` lines), and the instance id (`spec/config.md` §6, §8.7;
//! `spec/runner.md` §3.3).
//!
//! Loading the routes is here too, because both startup and reloads (file change, SIGHUP)
//! read them the same way: parse, log every skipped line at WARN, read the `sig_key=file:`
//! keys, and return the table. So is reading the `[proxy]` `file:` keys at startup.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use pushpin_config::ProxyConfig;
use pushpin_config::key::{ConfigKey, PemLoadError};
use pushpin_config::routes::{self, ROUTE_ARG_FILE, Routes};
use pushpin_grip::sig::{PemKey, SystemRandom};
use tracing::{error, info, warn};

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
    let mut table = parsed.routes;
    table.load_pem_keys(&SystemRandom::new());
    let file = match source {
        RouteSource::File(path) => path.display().to_string(),
        RouteSource::Lines(_) | RouteSource::None => ROUTE_ARG_FILE.to_string(),
    };
    for route in table.iter() {
        let Some(key) = &route.sig_key else { continue };
        if let Some((path, problem)) = key_problem(key, KeyUse::Sign) {
            let effect = match problem {
                Problem::Unreadable(_) => "the route signs with [proxy] sig_key instead",
                Problem::Unusable(_) => "requests on this route are not signed",
            };
            error!(
                "{file}:{}: route sig_key file {}: {problem}; {effect}",
                route.line,
                path.display()
            );
        }
    }
    info!("routes loaded with {} entries", table.len());
    table
}

/// Reads the `[proxy]` `sig_key` / `upstream_key` `file:` keys (1.36 reads them at startup),
/// logging at ERR any that cannot be used. Like 1.36, a bad key does not stop the proxy: an
/// unreadable `sig_key` signs nothing, an invalid one fails every signature, and an unusable
/// `upstream_key` trusts no client.
pub fn load_proxy_keys(proxy: &ProxyConfig) -> ProxyConfig {
    let mut proxy = proxy.clone();
    proxy.load_pem_keys(&SystemRandom::new());
    if let Some((path, problem)) = key_problem(&proxy.sig_key, KeyUse::Sign) {
        let effect = match problem {
            Problem::Unreadable(_) => "requests are not signed with it",
            Problem::Unusable(_) => "signing with it fails",
        };
        error!("sig_key file {}: {problem}; {effect}", path.display());
    }
    if let Some(key) = &proxy.upstream_key {
        if let Some((path, problem)) = key_problem(key, KeyUse::Verify) {
            error!(
                "upstream_key file {}: {problem}; no client is trusted",
                path.display()
            );
        }
    }
    proxy
}

/// What a `file:` key is for.
#[derive(Debug, Clone, Copy)]
enum KeyUse {
    Sign,
    Verify,
}

/// Why a loaded `file:` key cannot be used; its `Display` is the log text.
#[derive(Debug)]
enum Problem<'a> {
    /// 1.36's null key.
    Unreadable(&'a PemLoadError),
    /// A key that fails every use: why.
    Unusable(String),
}

impl std::fmt::Display for Problem<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unreadable(e) => std::fmt::Display::fmt(e, f),
            Self::Unusable(why) => f.write_str(why),
        }
    }
}

/// The file and problem of a `file:` key that cannot be used for `use_`; `None` for keys that
/// are fine (and for secrets).
fn key_problem(key: &ConfigKey, use_: KeyUse) -> Option<(&Path, Problem<'_>)> {
    let ConfigKey::Pem(pem) = key else {
        return None;
    };
    let problem = match (&pem.key, use_) {
        (Ok(PemKey::Private(_)), KeyUse::Sign) | (Ok(PemKey::Public(_)), KeyUse::Verify) => {
            return None;
        }
        (Ok(PemKey::Public(_)), KeyUse::Sign) => {
            Problem::Unusable("holds a public key, signing needs a private key".to_string())
        }
        (Ok(PemKey::Private(_)), KeyUse::Verify) => Problem::Unusable(
            "holds a private key, checking signatures needs a public key".to_string(),
        ),
        (Err(e @ PemLoadError::Read(_)), _) => Problem::Unreadable(e),
        (Err(PemLoadError::Key(e)), _) => Problem::Unusable(e.to_string()),
    };
    Some((&pem.path, problem))
}

/// The routes file of a [`RouteSource::File`], for the watcher.
pub(crate) fn watched_file(source: &RouteSource) -> Option<&Path> {
    match source {
        RouteSource::File(p) => Some(p),
        RouteSource::Lines(_) | RouteSource::None => None,
    }
}
