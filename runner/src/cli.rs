//! The runner's command line, as 1.36 (spec/runner.md §1), and where the config file is
//! searched when `--config` is absent (spec/config.md §1): this checkout's
//! `config/pushpin.conf` when the runner runs from `<checkout>/target/<profile>/`, then
//! `./config/pushpin.conf`, `./pushpin.conf`, `./examples/config/pushpin.conf`,
//! `/etc/pushpin/pushpin.conf`.

use std::path::{Path, PathBuf};

use clap::{ArgAction, Parser};
use pushpin_config::{ListenAddr, LogLevels};

/// Reverse proxy for realtime web services.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "pushpin",
    version,
    about = "Reverse proxy for realtime web services.",
    disable_version_flag = true
)]
pub struct Cli {
    /// Config file.
    #[arg(long, value_name = "file")]
    pub config: Option<PathBuf>,
    /// File to log to.
    #[arg(long, value_name = "file")]
    pub logfile: Option<PathBuf>,
    /// Log level (default: 2); `N` and/or `name:N` items, comma-separated.
    #[arg(
        long,
        value_name = "x",
        allow_hyphen_values = true,
        value_parser = parse_levels,
        help = "Log level (default: 2): N and/or name:N items, comma-separated"
    )]
    pub loglevel: Option<LogLevels>,
    /// Verbose output. Same as --loglevel=3.
    #[arg(long)]
    pub verbose: bool,
    /// Output children's logs to the runner's output (no log files).
    #[arg(short = 'm', long)]
    pub merge_output: bool,
    /// Run a single HTTP server instance on `[addr:]port`.
    #[arg(
        long,
        value_name = "[addr:]port",
        allow_hyphen_values = true,
        value_parser = parse_port,
        help = "Run a single HTTP server instance on [addr:]port"
    )]
    pub port: Option<ListenAddr>,
    /// Set instance ID (needed to run multiple instances).
    #[arg(long, value_name = "x", allow_hyphen_values = true, value_parser = parse_id)]
    pub id: Option<u32>,
    /// Add route (overrides routes file).
    #[arg(long, value_name = "line")]
    pub route: Vec<String>,
    /// Displays version information.
    #[arg(short = 'v', long = "version", action = ArgAction::Version)]
    pub version: Option<bool>,
}

impl Cli {
    /// `--verbose` (3 for everything) wins over `--loglevel`; `None` keeps the file's.
    pub fn log_levels(&self) -> Option<LogLevels> {
        if self.verbose {
            Some(LogLevels::verbose())
        } else {
            self.loglevel.clone()
        }
    }
}

fn parse_levels(s: &str) -> Result<LogLevels, String> {
    s.parse::<LogLevels>().map_err(|e| e.to_string())
}

fn parse_port(s: &str) -> Result<ListenAddr, String> {
    match s.parse::<ListenAddr>() {
        Ok(a) if a.port >= 1 => Ok(a),
        _ => Err("port must be greater than or equal to 1".into()),
    }
}

fn parse_id(s: &str) -> Result<u32, String> {
    s.parse::<u32>()
        .map_err(|_| "id must be greater than or equal to 0".into())
}

/// The config files tried, in order, when `--config` is absent.
pub fn search_paths(runner_exe: Option<&Path>, cwd: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(root) = runner_exe.and_then(checkout_root) {
        out.push(root.join("config").join("pushpin.conf"));
    }
    for rel in [
        "config/pushpin.conf",
        "pushpin.conf",
        "examples/config/pushpin.conf",
    ] {
        out.push(cwd.join(rel));
    }
    out.push(PathBuf::from("/etc/pushpin/pushpin.conf"));
    out
}

/// `<root>` when `exe` is `<root>/target/<profile>/pushpin` and `<root>` has a `Cargo.toml`.
fn checkout_root(exe: &Path) -> Option<PathBuf> {
    let target = exe.parent()?.parent()?;
    if target.file_name()? != "target" {
        return None;
    }
    let root = target.parent()?;
    root.join("Cargo.toml")
        .is_file()
        .then(|| root.to_path_buf())
}

/// The first existing file of [`search_paths`], or the `no configuration file found` error.
pub fn find_config(runner_exe: Option<&Path>, cwd: &Path) -> Result<PathBuf, String> {
    let tried = search_paths(runner_exe, cwd);
    tried.iter().find(|p| p.is_file()).cloned().ok_or_else(|| {
        let list: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
        format!("no configuration file found. Tried: {}", list.join(" "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("pushpin").chain(args.iter().copied()))
    }

    #[test]
    fn options_as_1_36() {
        let cli = parse(&[
            "--config=/x.conf",
            "--loglevel=2,pushpin-handler:3,runner:1",
            "-m",
            "--port=127.0.0.1:7000",
            "--id",
            "2",
            "--route=* test",
            "--route",
            "example.com 127.0.0.1:80",
        ])
        .unwrap();
        assert_eq!(cli.config.as_deref(), Some(Path::new("/x.conf")));
        let levels = cli.log_levels().unwrap();
        assert_eq!(levels.level_for("runner"), 1);
        assert_eq!(levels.level_for("pushpin-handler"), 3);
        assert_eq!(levels.level_for("zurl"), 2);
        assert!(cli.merge_output);
        assert_eq!(cli.port.unwrap().to_string(), "127.0.0.1:7000");
        assert_eq!(cli.id, Some(2));
        assert_eq!(cli.route, ["* test", "example.com 127.0.0.1:80"]);
        assert_eq!(
            parse(&["--verbose"])
                .unwrap()
                .log_levels()
                .unwrap()
                .level_for("x"),
            3
        );
    }

    #[test]
    fn bad_values_have_1_36_messages() {
        let msg = |args: &[&str]| parse(args).unwrap_err().to_string();
        assert!(msg(&["--port=0"]).contains("port must be greater than or equal to 1"));
        assert!(msg(&["--id=-1"]).contains("id must be greater than or equal to 0"));
        assert!(msg(&["--loglevel=2,"]).contains("log level component cannot be empty"));
        assert!(msg(&["--loglevel=:3"]).contains("log level component name cannot be empty"));
        assert!(parse(&["--bogus"]).is_err());
        let v = parse(&["-v"]).unwrap_err();
        assert_eq!(v.kind(), clap::error::ErrorKind::DisplayVersion);
    }

    #[test]
    fn checkout_config_first() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("Cargo.toml"), "").unwrap();
        std::fs::create_dir_all(root.join("target/debug")).unwrap();
        std::fs::create_dir_all(root.join("config")).unwrap();
        let exe = root.join("target/debug/pushpin");
        let paths = search_paths(Some(&exe), Path::new("/nowhere"));
        assert_eq!(paths[0], root.join("config/pushpin.conf"));
        assert_eq!(
            paths.last().unwrap(),
            Path::new("/etc/pushpin/pushpin.conf")
        );
        if !Path::new("/etc/pushpin/pushpin.conf").exists() {
            let err = find_config(None, root).unwrap_err();
            assert!(err.starts_with("no configuration file found. Tried: "));
        }
        std::fs::write(root.join("config/pushpin.conf"), "").unwrap();
        assert_eq!(
            find_config(Some(&exe), Path::new("/nowhere")).unwrap(),
            root.join("config/pushpin.conf")
        );
    }
}
