//! `pushpin-proxy`: parses the command line, loads and checks the config (every error
//! reported before any socket exists), then runs [`pushpin_proxy::run`].

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::print_stdout))]

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::anyhow;
use clap::Parser;
use pushpin_proxy::{Config, RouteSource};
use pushpin_service::args::CommonArgs;

/// Default config file.
const DEFAULT_CONFIG: &str = "/etc/pushpin/pushpin.conf";

/// Pushpin proxy component.
#[derive(Parser)]
#[command(
    name = "pushpin-proxy",
    version = "1.36.0",
    about = "Pushpin proxy component."
)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
    /// Add route (overrides routes file).
    #[arg(long, value_name = "line")]
    route: Vec<String>,
    /// Log update checks in Zurl as debug level.
    #[arg(long)]
    quiet_check: bool,
}

fn load(cli: &Cli) -> anyhow::Result<Config> {
    let path = cli
        .common
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
    let overrides = pushpin_config::Overrides {
        ipc_prefix: cli.common.ipc_prefix.clone(),
        ..Default::default()
    };
    let cfg = pushpin_config::load(&path, &overrides)
        .and_then(|c| c.check_proxy().map(|()| c))
        .map_err(|errors| {
            let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
            anyhow!("{}", lines.join("\n"))
        })?;
    for w in &cfg.warnings {
        tracing::warn!("{w}");
    }
    let routes = if !cli.route.is_empty() {
        RouteSource::Lines(cli.route.clone())
    } else if let Some(file) = cfg.proxy.routesfile.clone() {
        RouteSource::File(file)
    } else {
        RouteSource::None
    };
    Ok(Config::new(cfg.proxy, routes))
}

fn main() -> ExitCode {
    let cli: Cli = pushpin_service::args::parse();
    let common = cli.common.clone();
    pushpin_service::run_main("pushpin-proxy", &common, |shutdown| async move {
        let config = load(&cli)?;
        pushpin_proxy::run(config, shutdown).await
    })
}
