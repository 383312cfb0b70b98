//! Command-line flags shared by the Pushpin component binaries.
//!
//! [`CommonArgs`] holds the flags that `pushpin-proxy` and `pushpin-handler`
//! 1.36 both accept (`--config --logfile --loglevel --verbose --ipc-prefix`),
//! with 1.36's value names and help texts, so `--help` reads the same. It is
//! meant for `#[command(flatten)]`. `--port-offset` is handler-only in 1.36
//! (the proxy rejects it), so it lives in [`PortOffsetArgs`], flattened only
//! where it belongs. `--help` and `--version` come from clap on each binary.
//!
//! Both `--config=FILE` and `--config FILE` work, as with 1.36's Qt parser;
//! Qt's single-dash long forms (`-config=FILE`) are not accepted.
//!
//! [`parse`] parses like `clap::Parser::parse` but exits with Pushpin's
//! status codes: 1 for a bad command line (clap uses 2), 0 for `--help` and
//! `--version`. See `spec/runner.md` §7.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Parser;
use tracing::Level;

/// Log level used when neither `--loglevel` nor `--verbose` is given (info).
pub const DEFAULT_LOG_LEVEL: u32 = 2;

/// Log level that `--verbose` selects (debug).
pub const VERBOSE_LOG_LEVEL: u32 = 3;

/// Flags common to `pushpin-proxy` and `pushpin-handler` (`spec/runner.md` §7).
#[derive(clap::Args, Debug, Clone, Default, PartialEq, Eq)]
pub struct CommonArgs {
    /// Config file (`pushpin.conf`); the binary decides the default.
    #[arg(long, value_name = "file", help = "Config file.")]
    pub config: Option<PathBuf>,

    /// Append log lines to this file instead of writing them to stdout.
    #[arg(long, value_name = "file", help = "File to log to.")]
    pub logfile: Option<PathBuf>,

    /// Numeric log level: 0 error, 1 warn, 2 info, 3 debug, 4 or more trace.
    #[arg(
        long,
        value_name = "x",
        help = "Log level (default: 2).",
        allow_hyphen_values = true,
        value_parser = parse_log_level
    )]
    pub loglevel: Option<u32>,

    /// Same as `--loglevel=3`; wins over `--loglevel`, as in 1.36.
    #[arg(long, help = "Verbose output. Same as --loglevel=3.")]
    pub verbose: bool,

    /// Overrides the `ipc_prefix` config option.
    #[arg(
        long,
        value_name = "prefix",
        help = "Override ipc_prefix config option."
    )]
    pub ipc_prefix: Option<String>,
}

impl CommonArgs {
    /// The numeric level in effect: `--verbose` gives 3, else `--loglevel`,
    /// else 2 (the order of 1.36's `parseCommandLine`).
    pub fn log_level_number(&self) -> u32 {
        if self.verbose {
            VERBOSE_LOG_LEVEL
        } else {
            self.loglevel.unwrap_or(DEFAULT_LOG_LEVEL)
        }
    }

    /// The tracing level in effect (see [`level_from_number`]).
    pub fn log_level(&self) -> Level {
        level_from_number(self.log_level_number())
    }
}

/// The handler's `--port-offset` flag, kept apart from [`CommonArgs`] because
/// 1.36's proxy rejects it.
#[derive(clap::Args, Debug, Clone, Default, PartialEq, Eq)]
pub struct PortOffsetArgs {
    /// Overrides the `port_offset` config option.
    #[arg(
        long,
        value_name = "offset",
        help = "Override port_offset config option.",
        allow_hyphen_values = true,
        value_parser = parse_port_offset
    )]
    pub port_offset: Option<u32>,
}

/// Maps a Pushpin numeric log level to a tracing level: 0 error, 1 warn,
/// 2 info, 3 debug, 4 and above trace.
pub fn level_from_number(n: u32) -> Level {
    match n {
        0 => Level::ERROR,
        1 => Level::WARN,
        2 => Level::INFO,
        3 => Level::DEBUG,
        _ => Level::TRACE,
    }
}

/// Parses a non-negative `int` the way 1.36 does (`QString::toInt`, then `>= 0`).
fn parse_non_negative(s: &str) -> Option<u32> {
    s.parse::<i32>().ok().and_then(|n| u32::try_from(n).ok())
}

fn parse_log_level(s: &str) -> Result<u32, String> {
    parse_non_negative(s).ok_or_else(|| "loglevel must be greater than or equal to 0".to_owned())
}

fn parse_port_offset(s: &str) -> Result<u32, String> {
    parse_non_negative(s).ok_or_else(|| "port-offset must be greater than or equal to 0".to_owned())
}

/// Parses the process's command line into `T`, exiting like 1.36 on failure:
/// help and version go to stdout with status 0, errors to stderr with status 1.
pub fn parse<T: Parser>() -> T {
    parse_from(std::env::args_os())
}

/// [`parse`] over an explicit argument list (the first item is the program name).
pub fn parse_from<T, I, A>(args: I) -> T
where
    T: Parser,
    I: IntoIterator<Item = A>,
    A: Into<OsString> + Clone,
{
    match T::try_parse_from(args) {
        Ok(parsed) => parsed,
        Err(e) => {
            // Printing can only fail if stdout/stderr is gone; the exit status
            // still tells the caller what happened.
            let _ = e.print();
            std::process::exit(exit_status(&e));
        }
    }
}

/// The exit status 1.36 uses for a command-line outcome: 0 for `--help` and
/// `--version` (clap reports them as errors printed to stdout), 1 otherwise.
pub fn exit_status(e: &clap::Error) -> i32 {
    if e.use_stderr() { 1 } else { 0 }
}

#[cfg(test)]
mod tests;
