//! `pushpin-connmgr`: the connection manager binary, with condure 1.9's command line
//! (`spec/zhttp.md` §11.1) so Pushpin 1.36's runner can start it via `condure_bin`.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::print_stdout))]

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use pushpin_connmgr::config::{self, Config};
use pushpin_service::args::CommonArgs;

/// HTTP/WebSocket connection manager.
#[derive(Parser, Debug)]
#[command(
    name = "pushpin-connmgr",
    version,
    about = "HTTP/WebSocket connection manager"
)]
struct Cli {
    /// Log level (0 error .. 3 debug, 4 trace).
    #[arg(long, value_name = "N", default_value_t = 2)]
    log_level: u32,
    /// Log to this file instead of stdout.
    #[arg(long, value_name = "file")]
    logfile: Option<std::path::PathBuf>,
    /// Instance ID.
    #[arg(long, default_value = config::DEFAULT_ID)]
    id: String,
    /// Number of worker threads.
    #[arg(long, value_name = "N", default_value_t = 2)]
    workers: usize,
    /// Maximum number of concurrent connections in req mode (accepted for
    /// compatibility; req-mode listeners are not supported).
    #[arg(long, value_name = "N", default_value_t = 100)]
    req_maxconn: usize,
    /// Maximum number of concurrent connections in stream mode.
    #[arg(long, value_name = "N", default_value_t = config::DEFAULT_STREAM_MAXCONN)]
    stream_maxconn: usize,
    /// Connection buffer size.
    #[arg(long, value_name = "N", default_value_t = config::DEFAULT_BUFFER_SIZE)]
    buffer_size: usize,
    /// Body buffer size for connections in req mode (accepted for compatibility).
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    body_buffer_size: usize,
    /// Maximum number of queued WebSocket messages per connection (accepted for
    /// compatibility).
    #[arg(long, value_name = "N", default_value_t = 100)]
    messages_max: usize,
    /// Client timeout in req mode, seconds (accepted for compatibility).
    #[arg(long, value_name = "N", default_value_t = 30)]
    req_timeout: u64,
    /// Client timeout in stream mode, seconds.
    #[arg(long, value_name = "N", default_value_t = 1800)]
    stream_timeout: u64,
    /// Port to listen on: `[addr:]port[,stream]` or `path,local[,stream]`.
    #[arg(
        long,
        value_name = "[addr:]port[,params...]",
        default_value = "0.0.0.0:8000,stream"
    )]
    listen: Vec<String>,
    /// ZeroMQ client REQ spec (req mode is not supported; accepted and ignored).
    #[arg(long, value_name = "spec")]
    zclient_req: Vec<String>,
    /// ZeroMQ client PUSH/ROUTER/SUB spec base.
    #[arg(long, value_name = "spec-base", default_value = "ipc://client")]
    zclient_stream: Vec<String>,
    /// ZeroMQ client sockets should connect instead of bind.
    #[arg(long)]
    zclient_connect: bool,
    /// Permissions for ZeroMQ IPC binds (octal).
    #[arg(long, value_name = "octal")]
    ipc_file_mode: Option<String>,
    /// Directory containing certificates and private keys (`NAME.crt`, `NAME.key`).
    #[arg(long, value_name = "directory", default_value = ".")]
    tls_identities_dir: std::path::PathBuf,
    /// Allow compression to be used (not supported; accepted and ignored).
    #[arg(long)]
    compression: bool,
}

fn build_config(cli: &Cli) -> Result<Config, Vec<String>> {
    let mut errors = Vec::new();
    let listen = cli
        .listen
        .iter()
        .filter_map(|l| {
            config::parse_listen(l)
                .map_err(|e| errors.push(e.to_string()))
                .ok()
        })
        .collect();
    let zclient = cli
        .zclient_stream
        .iter()
        .filter_map(|z| {
            config::parse_zclient_stream(z)
                .map_err(|e| errors.push(e.to_string()))
                .ok()
        })
        .collect();
    let mut config = Config::new(listen, zclient);
    config.id.clone_from(&cli.id);
    config.buffer_size = cli.buffer_size;
    config.stream_maxconn = cli.stream_maxconn;
    config.stream_timeout = Duration::from_secs(cli.stream_timeout);
    config.zclient_connect = cli.zclient_connect;
    config
        .tls_identities_dir
        .clone_from(&cli.tls_identities_dir);
    if let Some(mode) = &cli.ipc_file_mode {
        match u32::from_str_radix(mode, 8) {
            Ok(m) => config.ipc_file_mode = Some(m),
            Err(_) => errors.push(format!("invalid ipc file mode {mode:?}")),
        }
    }
    if cli.workers == 0 {
        errors.push("workers must be at least 1".to_owned());
    }
    // An empty listener or zclient list caused by a value that did not parse is
    // already reported.
    let parse_errors = !errors.is_empty();
    errors.extend(
        config
            .validate()
            .into_iter()
            .filter(|e| !(parse_errors && (e == "no listeners" || e == "no zclient stream spec"))),
    );
    if errors.is_empty() {
        Ok(config)
    } else {
        Err(errors)
    }
}

fn main() -> ExitCode {
    let cli: Cli = pushpin_service::args::parse();
    let common = CommonArgs {
        loglevel: Some(cli.log_level),
        logfile: cli.logfile.clone(),
        ..CommonArgs::default()
    };
    pushpin_service::run_main("pushpin-connmgr", &common, |shutdown| async move {
        let config =
            build_config(&cli).map_err(|errors| anyhow::anyhow!("{}", errors.join("; ")))?;
        pushpin_connmgr::run(config, shutdown).await
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("pushpin-connmgr").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn runner_command_line_is_accepted() {
        let c = cli(&[
            "--log-level=2",
            "--listen=0.0.0.0:7999,stream",
            "--listen=/tmp/x/pushpin-server,local,stream",
            "--zclient-stream=ipc:///tmp/x/pushpin-condure",
            "--buffer-size=8192",
            "--stream-maxconn=50000",
        ]);
        let config = build_config(&c).unwrap();
        assert_eq!(config.listen.len(), 2);
        assert_eq!(config.buffer_size, 8192);
        assert_eq!(config.stream_maxconn, 50000);
        assert_eq!(
            config.zclient_stream[0].inbound.endpoint(),
            "ipc:///tmp/x/pushpin-condure-in"
        );
    }

    #[test]
    fn every_error_is_reported() {
        let c = cli(&[
            "--listen=1.2.3.4:443,stream,req",
            "--zclient-stream=bogus",
            "--id=a b",
            "--ipc-file-mode=9z",
        ]);
        let errors = build_config(&c).unwrap_err();
        assert_eq!(errors.len(), 4, "{errors:?}");
    }
}
