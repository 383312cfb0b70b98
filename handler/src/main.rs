//! `pushpin-handler`: parses the command line, loads and checks the
//! configuration (every error reported before any socket is bound), then
//! runs [`pushpin_handler::run`] until SIGINT/SIGTERM.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::print_stdout))]

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;
use pushpin_service::args::CommonArgs;

/// Pushpin handler component.
#[derive(Debug, Parser)]
#[command(
    name = "pushpin-handler",
    version = "1.36.0",
    about = "Pushpin handler component."
)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
    /// Add this to every tcp port in the configuration.
    #[arg(long = "port-offset", value_name = "N")]
    port_offset: Option<u16>,
}

/// The default configuration file.
const DEFAULT_CONFIG: &str = "/etc/pushpin/pushpin.conf";

fn main() -> ExitCode {
    let cli: Cli = pushpin_service::args::parse();
    let path = cli
        .common
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
    let overrides = pushpin_config::Overrides {
        ipc_prefix: cli.common.ipc_prefix.clone(),
        port_offset: cli.port_offset,
        libdir: None,
    };
    pushpin_service::run_main("pushpin-handler", &cli.common, |shutdown| async move {
        let config = pushpin_config::load(&path, &overrides)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("loading {}", path.display()))?;
        for w in &config.warnings {
            tracing::warn!("{w}");
        }
        config.check_handler().map_err(|e| anyhow::anyhow!("{e}"))?;
        pushpin_handler::run(pushpin_handler::Config::new(config.handler), shutdown).await
    })
}
