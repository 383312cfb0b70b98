use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};
use tracing::Level;

use super::*;

#[derive(Parser, Debug)]
#[command(
    name = "pushpin-handler",
    version = "1.36.0",
    about = "Pushpin handler component."
)]
struct Handler {
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    port_offset: PortOffsetArgs,
}

#[derive(Parser, Debug)]
#[command(name = "pushpin-proxy", version = "1.36.0")]
struct Proxy {
    #[command(flatten)]
    common: CommonArgs,
}

fn handler(args: &[&str]) -> Result<Handler, clap::Error> {
    Handler::try_parse_from(std::iter::once("pushpin-handler").chain(args.iter().copied()))
}

#[test]
fn config_accepts_equals_and_space_forms() {
    for args in [&["--config=/etc/p.conf"][..], &["--config", "/etc/p.conf"]] {
        let h = handler(args).unwrap();
        assert_eq!(
            h.common.config,
            Some(PathBuf::from("/etc/p.conf")),
            "{args:?}"
        );
    }
}

#[test]
fn all_flags_parse() {
    let h = handler(&[
        "--config=c.conf",
        "--logfile=/tmp/x.log",
        "--loglevel=4",
        "--ipc-prefix=p1-",
        "--port-offset=10",
    ])
    .unwrap();
    assert_eq!(
        h.common,
        CommonArgs {
            config: Some("c.conf".into()),
            logfile: Some("/tmp/x.log".into()),
            loglevel: Some(4),
            verbose: false,
            ipc_prefix: Some("p1-".into()),
        }
    );
    assert_eq!(h.port_offset.port_offset, Some(10));
    assert_eq!(h.common.log_level(), Level::TRACE);
}

#[test]
fn defaults_to_info() {
    let h = handler(&[]).unwrap();
    assert_eq!(h.common, CommonArgs::default());
    assert_eq!(h.port_offset.port_offset, None);
    assert_eq!(h.common.log_level_number(), 2);
    assert_eq!(h.common.log_level(), Level::INFO);
}

#[test]
fn verbose_wins_over_loglevel() {
    for args in [
        &["--loglevel=1", "--verbose"][..],
        &["--verbose", "--loglevel=4"],
    ] {
        let h = handler(args).unwrap();
        assert_eq!(h.common.log_level_number(), 3, "{args:?}");
        assert_eq!(h.common.log_level(), Level::DEBUG, "{args:?}");
    }
}

#[test]
fn level_numbers_map_like_pushpin() {
    let expected = [
        (0, Level::ERROR),
        (1, Level::WARN),
        (2, Level::INFO),
        (3, Level::DEBUG),
        (4, Level::TRACE),
        (9, Level::TRACE),
    ];
    for (n, level) in expected {
        assert_eq!(level_from_number(n), level, "level {n}");
    }
}

#[test]
fn bad_loglevel_uses_pushpin_message() {
    for bad in [
        "--loglevel=-1",
        "--loglevel=abc",
        "--loglevel=",
        "--loglevel=99999999999",
    ] {
        let e = handler(&[bad]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ValueValidation, "{bad}");
        assert!(
            e.to_string()
                .contains("loglevel must be greater than or equal to 0"),
            "{bad}: {e}"
        );
        assert_eq!(exit_status(&e), 1);
    }
    // A negative value after a space is a value, not an unknown short flag.
    let e = handler(&["--loglevel", "-1"]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ValueValidation);
}

#[test]
fn bad_port_offset_uses_pushpin_message() {
    let e = handler(&["--port-offset", "-1"]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ValueValidation);
    assert!(
        e.to_string()
            .contains("port-offset must be greater than or equal to 0"),
        "{e}"
    );
}

#[test]
fn proxy_rejects_port_offset_like_1_36() {
    let e = Proxy::try_parse_from(["pushpin-proxy", "--port-offset=1"]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnknownArgument);
    assert_eq!(exit_status(&e), 1);
}

#[test]
fn help_uses_1_36_names_and_texts() {
    let help = Handler::command().render_help().to_string();
    for needle in [
        "Pushpin handler component.",
        "--config <file>",
        "Config file.",
        "--logfile <file>",
        "File to log to.",
        "--loglevel <x>",
        "Log level (default: 2).",
        "--verbose",
        "Verbose output. Same as --loglevel=3.",
        "--ipc-prefix <prefix>",
        "Override ipc_prefix config option.",
        "--port-offset <offset>",
        "Override port_offset config option.",
    ] {
        assert!(help.contains(needle), "missing {needle:?} in:\n{help}");
    }
}

#[test]
fn help_and_version_exit_zero() {
    for flag in ["--help", "--version"] {
        let e = handler(&[flag]).unwrap_err();
        assert_eq!(exit_status(&e), 0, "{flag}");
    }
}
