//! Process scaffolding shared by the workspace's binaries (layer L1).
//!
//! Owns what every Pushpin component does the same way around its real work:
//! the common command-line flags ([`args`]), Pushpin's log line format and
//! the global subscriber ([`log`]), stop and reload signals ([`signal`]), the
//! tokio runtime ([`runtime`]), and the `main` body tying them together
//! ([`run_main`]). It does not own config files (`pushpin-config`), sockets
//! (`pushpin-zmq`), or any protocol. It implements `spec/runner.md` §6.1
//! (line format) and §7 (proxy/handler CLI behaviour), and STYLE.md §5, §8.
//!
//! A binary's `main` then reads:
//!
//! ```no_run
//! use clap::Parser;
//! use pushpin_service::{args::CommonArgs, run_main, Shutdown};
//!
//! /// Pushpin handler component.
//! #[derive(Parser)]
//! #[command(name = "pushpin-handler", version, about = "Pushpin handler component.")]
//! struct Cli {
//!     #[command(flatten)]
//!     common: CommonArgs,
//! }
//!
//! async fn run(_config: (), shutdown: Shutdown) -> anyhow::Result<()> {
//!     shutdown.await;
//!     Ok(())
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     let cli: Cli = pushpin_service::args::parse();
//!     run_main("pushpin-handler", &cli.common, |shutdown| async move {
//!         let config = (); // load and validate here, before binding anything
//!         run(config, shutdown).await
//!     })
//! }
//! ```

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::print_stdout))]

pub mod args;
pub mod log;
pub mod run;
pub mod runtime;
pub mod signal;

pub use run::{Shutdown, run_main};
