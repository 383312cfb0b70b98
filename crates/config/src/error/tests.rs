//! Display and accessors of every error, warning and requirement.

use std::path::PathBuf;

use super::*;
use crate::routes::RouteErrorKind;
use crate::spec::SpecError;

fn file() -> PathBuf {
    PathBuf::from("pushpin.conf")
}

#[test]
fn read_error() {
    let e = ConfigError::Read {
        file: file(),
        source: std::io::Error::other("boom"),
    };
    assert_eq!(e.to_string(), "pushpin.conf: cannot read file");
    assert!(std::error::Error::source(&e).is_some());
    assert_eq!(e.line(), None);
    assert_eq!(
        ConfigErrors::from(e).to_string(),
        "pushpin.conf: cannot read file: boom"
    );
}

#[test]
fn syntax_error() {
    let e = ConfigError::Syntax {
        file: file(),
        line: 3,
        message: "expected `=`".into(),
    };
    assert_eq!(e.to_string(), "pushpin.conf:3: expected `=`");
    assert_eq!(e.line(), Some(3));
}

#[test]
fn invalid_value() {
    let e = ConfigError::InvalidValue {
        file: file(),
        line: 12,
        key: "proxy/max_open_requests".into(),
        value: "100abc".into(),
        expected: Expected::IntegerOrUnlimited,
    };
    assert_eq!(
        e.to_string(),
        "pushpin.conf:12: proxy/max_open_requests \"100abc\": expected an integer >= 0, or -1 for unlimited"
    );
    assert_eq!(e.file(), std::path::Path::new("pushpin.conf"));
}

#[test]
fn requirement() {
    let e = ConfigError::Requirement {
        file: file(),
        requirement: Requirement::ProxyZurlSpecs,
    };
    assert_eq!(
        e.to_string(),
        "pushpin.conf: must set zurl_out_specs, zurl_out_stream_specs, and zurl_in_specs"
    );
    assert_eq!(e.line(), None);
}

#[test]
fn route_error() {
    let e = ConfigError::Route {
        file: "routes".into(),
        line: 2,
        value: "x".into(),
        kind: RouteErrorKind::TargetBadFormat,
    };
    assert_eq!(e.to_string(), "routes:2: target bad format");
    let e = ConfigError::Route {
        file: "routes".into(),
        line: 4,
        value: "x".into(),
        kind: RouteErrorKind::DuplicateCondition,
    };
    assert_eq!(e.to_string(), "routes:4 skipping duplicate condition");
    assert_eq!(e.line(), Some(4));
}

#[test]
fn expected_messages() {
    let all = [
        Expected::SingleValue,
        Expected::Integer,
        Expected::NonNegativeInteger,
        Expected::IntegerOrUnlimited,
        Expected::Port,
        Expected::ListenAddr,
        Expected::IpAddr,
        Expected::Octal,
        Expected::ZmqSpec(SpecError::NoScheme),
        Expected::OneOf(&["allow", "deny"]),
        Expected::LogLevel(LogLevelError::EmptyComponent),
        Expected::XffRule,
        Expected::MetricsAddr,
        Expected::TomlValue,
    ];
    for e in &all {
        let s = e.to_string();
        assert!(!s.is_empty() && s == s.trim(), "{e:?}");
    }
    assert_eq!(
        Expected::OneOf(&["allow", "deny"]).to_string(),
        "one of allow, deny"
    );
    assert_eq!(
        Expected::ZmqSpec(SpecError::NoScheme).to_string(),
        "a ZeroMQ spec (missing \"://\")"
    );
}

#[test]
fn requirement_messages_are_pushpins() {
    let cases = [
        (
            Requirement::ProxyServerSpecs,
            "must set condure_in_specs, condure_in_stream_specs, and condure_out_specs, or m2a_in_specs, m2a_in_stream_specs, and m2a_out_specs",
        ),
        (
            Requirement::ProxyZurlSpecs,
            "must set zurl_out_specs, zurl_out_stream_specs, and zurl_in_specs",
        ),
        (
            Requirement::HandlerM2aSpecs,
            "must set m2a_in_stream_specs and m2a_out_specs",
        ),
        (
            Requirement::HandlerProxySpecs,
            "must set proxy_inspect_spec, proxy_accept_spec, and proxy_retry_out_spec",
        ),
        (
            Requirement::ZurlStreamSpecs,
            "if any of in_spec, in_stream_spec, or out_spec are set then all of them must be set",
        ),
        (
            Requirement::ZurlNoSpecs,
            "must set at least in_spec+in_stream_spec+out_spec or in_req_spec",
        ),
        (
            Requirement::ConnmgrWithMongrel2,
            "cannot enable the condure service at the same time as mongrel2 or m2adapter",
        ),
        (
            Requirement::LocalPortsWithMongrel2,
            "Cannot use local_ports option with mongrel2",
        ),
        (Requirement::NoServerPorts, "no server ports configured"),
    ];
    for (r, msg) in cases {
        assert_eq!(r.to_string(), msg);
    }
}

#[test]
fn errors_collection_prints_one_per_line() {
    let errs = ConfigErrors(vec![
        ConfigError::Syntax {
            file: file(),
            line: 1,
            message: "a".into(),
        },
        ConfigError::Requirement {
            file: file(),
            requirement: Requirement::NoServerPorts,
        },
    ]);
    assert_eq!(
        errs.to_string(),
        "pushpin.conf:1: a\npushpin.conf: no server ports configured"
    );
    assert_eq!(errs.len(), 2);
    assert!(!errs.is_empty());
    assert_eq!((&errs).into_iter().count(), 2);
    assert!(errs.into_result(()).is_err());
    assert!(ConfigErrors::default().into_result(5).is_ok());
}

#[test]
fn warnings_display() {
    let w = ConfigWarning {
        file: file(),
        line: Some(7),
        key: "proxy/debug".into(),
        value: "off".into(),
        kind: WarningKind::TruthyBool,
    };
    assert_eq!(
        w.to_string(),
        "pushpin.conf:7: proxy/debug \"off\": reads as true (only empty, 0 and false are false)"
    );
    for kind in [
        WarningKind::UnknownService,
        WarningKind::UnknownKey,
        WarningKind::DeprecatedRunnerRundir,
        WarningKind::IgnoredKey {
            read_instead: "push_in_max_headers_size",
        },
        WarningKind::LossyBase64,
    ] {
        assert!(!kind.to_string().is_empty());
    }
    let w = ConfigWarning { line: None, ..w };
    assert!(w.to_string().starts_with("pushpin.conf: proxy/debug"));
}
