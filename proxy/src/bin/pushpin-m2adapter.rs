//! `pushpin-m2adapter`: our drop-in for Pushpin 1.36's `m2adapter`. Reads the same
//! `m2adapter.conf` and command line, then runs [`pushpin_proxy::m2::run`].

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::print_stdout))]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use pushpin_service::args::CommonArgs;

/// Default config file (1.36's).
const DEFAULT_CONFIG: &str = "/etc/pushpin/m2adapter.conf";

/// Mongrel2 <-> ZHTTP adapter.
#[derive(Parser)]
#[command(
    name = "pushpin-m2adapter",
    version = "1.36.0",
    about = "Mongrel2 <-> ZHTTP adapter."
)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    let cli: Cli = pushpin_service::args::parse();
    let common = cli.common.clone();
    pushpin_service::run_main("m2adapter", &common, |shutdown| async move {
        let path = cli
            .common
            .config
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
        let config = pushpin_proxy::m2::Config::load(&path)?;
        pushpin_proxy::m2::run(config, shutdown).await
    })
}
