//! Crate-level tests: shared helpers; the cases live in `tests/`.

use std::path::{Path, PathBuf};

use super::*;
use crate::global::*;
use crate::handler::*;
use crate::handler::{
    DEFAULT_PROMETHEUS_PREFIX as H_PROMETHEUS_PREFIX,
    DEFAULT_STATS_REPORT_INTERVAL as H_STATS_REPORT_INTERVAL,
};
use crate::proxy::*;
use crate::proxy::{
    DEFAULT_PROMETHEUS_PREFIX as P_PROMETHEUS_PREFIX,
    DEFAULT_STATS_REPORT_INTERVAL as P_STATS_REPORT_INTERVAL,
};
use crate::runner::*;

/// The repository's `config/` directory (our example configs).
fn example_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config")
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The fixtures stand in for `{libdir}` (the Debian include is `{libdir}/internal.conf`).
fn fixture_overrides() -> Overrides {
    Overrides {
        libdir: Some(fixtures()),
        ..Overrides::default()
    }
}

fn spec(s: &str) -> ZmqSpec {
    s.parse().expect(s)
}

fn specs(list: &[&str]) -> Vec<ZmqSpec> {
    list.iter().map(|s| spec(s)).collect()
}

fn ini(text: &str) -> Raw {
    ini::parse(text, Path::new("/etc/pushpin/pushpin.conf"))
}

fn config(text: &str) -> Result<Config, ConfigErrors> {
    Config::from_raw(&ini(text), None, &Overrides::default())
}

fn debian() -> Config {
    load(&fixtures().join("pushpin.conf"), &fixture_overrides())
        .expect("the Debian 1.36 config loads")
}

mod fixtures;
mod props;
mod values;

#[test]
fn default_libdir_is_the_checkout_config_dir() {
    // Built from this checkout, `{libdir}/internal.conf` is our config/internal.conf, so
    // the example config works before anything is installed.
    let dir = default_libdir();
    assert!(dir.join("internal.conf").is_file(), "{}", dir.display());
    let c = load(
        &example_dir().join("pushpin.conf.example"),
        &Overrides::default(),
    )
    .expect("example loads");
    assert!(
        c.proxy.handler_accept_spec.is_some(),
        "internal.conf was included"
    );
}
