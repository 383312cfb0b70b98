//! `zurl-rs`: zurl 1.11's command line (`--config`, `--loglevel`, `--verbose`,
//! `--logfile`, `--version`) around [`zurl_rs::run`]. The config is loaded and validated
//! before any socket is bound; every error is reported and the exit status is 1.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::print_stdout))]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use pushpin_service::args::CommonArgs;

/// Outbound HTTP client speaking ZHTTP (a drop-in for zurl).
#[derive(Parser, Debug)]
#[command(name = "Zurl", version = "1.11.1", about = "Zurl (Rust rebuild).")]
struct Cli {
    /// Config file.
    #[arg(long, value_name = "file")]
    config: Option<PathBuf>,
    /// File to log to.
    #[arg(long, value_name = "file")]
    logfile: Option<PathBuf>,
    /// Log level (default: 2).
    #[arg(long, value_name = "x", allow_hyphen_values = true)]
    loglevel: Option<u32>,
    /// Verbose output. Same as --loglevel=3.
    #[arg(long)]
    verbose: bool,
}

fn main() -> ExitCode {
    let cli: Cli = pushpin_service::args::parse();
    let common = CommonArgs {
        config: cli.config.clone(),
        logfile: cli.logfile,
        loglevel: cli.loglevel,
        verbose: cli.verbose,
        ipc_prefix: None,
    };
    let path = cli
        .config
        .unwrap_or_else(|| PathBuf::from(pushpin_config::zurl::DEFAULT_CONFIG_FILE));
    pushpin_service::run_main("zurl", &common, |shutdown| async move {
        let config = match pushpin_config::zurl::load(&path) {
            Ok(c) => c,
            Err(errors) => {
                let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
                anyhow::bail!("invalid config:\n{}", text.join("\n"));
            }
        };
        for w in &config.warnings {
            tracing::warn!("{w}");
        }
        zurl_rs::run(config, shutdown).await
    })
}
