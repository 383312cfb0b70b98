//! Defaults of every key, typed values, collected errors and warnings.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use super::*;

#[test]
fn defaults_of_every_key() {
    let c = Config::from_raw(&Raw::empty("pushpin.conf"), None, &Overrides::default())
        .expect("empty is valid");
    let g = &c.global;
    assert_eq!(g.include, None);
    assert_eq!(g.libdir, PathBuf::from(settings::DEFAULT_LIBDIR));
    assert_eq!(g.rundir, PathBuf::from(DEFAULT_RUNDIR));
    assert_eq!(g.ipc_prefix, settings::DEFAULT_IPC_PREFIX);
    assert_eq!(g.port_offset, DEFAULT_PORT_OFFSET);
    assert_eq!(g.stats_connection_ttl, DEFAULT_STATS_CONNECTION_TTL);
    assert_eq!(g.stats_connection_send, DEFAULT_STATS_CONNECTION_SEND);

    let r = &c.runner;
    assert!(
        r.services.is_empty()
            && r.http_port.is_empty()
            && r.https_ports.is_empty()
            && r.local_ports.is_empty()
    );
    assert_eq!(r.logdir, PathBuf::from(DEFAULT_LOGDIR));
    assert_eq!(r.log_level, LogLevels::default());
    assert_eq!(r.log_level.default_level(), DEFAULT_LOG_LEVEL);
    assert_eq!(r.client_buffer_size, DEFAULT_CLIENT_BUFFER_SIZE);
    assert_eq!(r.client_maxconn, DEFAULT_CLIENT_MAXCONN);
    assert_eq!(r.allow_compression, DEFAULT_ALLOW_COMPRESSION);
    for (p, d) in [
        (&r.condure_bin, DEFAULT_CONDURE_BIN),
        (&r.connmgr_bin, DEFAULT_CONNMGR_BIN),
        (&r.mongrel2_bin, DEFAULT_MONGREL2_BIN),
        (&r.m2sh_bin, DEFAULT_M2SH_BIN),
        (&r.zurl_bin, DEFAULT_ZURL_BIN),
        (&r.m2adapter_bin, DEFAULT_M2ADAPTER_BIN),
        (&r.proxy_bin, DEFAULT_PROXY_BIN),
        (&r.handler_bin, DEFAULT_HANDLER_BIN),
    ] {
        assert_eq!(
            p,
            &Program {
                path: d.into(),
                explicit: false
            }
        );
    }
    assert_eq!(r.connmgr_program().path, PathBuf::from(DEFAULT_CONNMGR_BIN));

    let p = &c.proxy;
    assert_eq!(p.routesfile, None);
    assert_eq!(p.debug, DEFAULT_DEBUG);
    assert_eq!(p.auto_cross_origin, DEFAULT_AUTO_CROSS_ORIGIN);
    assert_eq!(
        p.accept_x_forwarded_protocol,
        DEFAULT_ACCEPT_X_FORWARDED_PROTOCOL
    );
    assert_eq!(p.set_x_forwarded_protocol, DEFAULT_SET_X_FORWARDED_PROTOCOL);
    assert_eq!(p.x_forwarded_for, XffRule::default());
    assert_eq!(p.x_forwarded_for_trusted, XffRule::default());
    assert!(p.orig_headers_need_mark.is_empty());
    assert_eq!(p.accept_pushpin_route, DEFAULT_ACCEPT_PUSHPIN_ROUTE);
    assert_eq!(p.log_from, DEFAULT_LOG_FROM);
    assert_eq!(p.log_user_agent, DEFAULT_LOG_USER_AGENT);
    assert_eq!(p.sig_iss, DEFAULT_SIG_ISS);
    assert_eq!(p.sig_key, ConfigKey::Secret(DEFAULT_SIG_KEY.into()));
    assert_eq!(p.upstream_key, None);
    assert_eq!(p.sockjs_url, DEFAULT_SOCKJS_URL);
    assert_eq!(p.updates_check, DEFAULT_UPDATES_CHECK);
    assert_eq!(p.organization_name, DEFAULT_ORGANIZATION_NAME);
    assert_eq!(p.max_open_requests, DEFAULT_MAX_OPEN_REQUESTS);
    assert_eq!(p.ipc_file_mode, None);
    assert_eq!(p.stats_report_interval, P_STATS_REPORT_INTERVAL);
    assert_eq!(p.prometheus_port, None);
    assert_eq!(p.prometheus_prefix, P_PROMETHEUS_PREFIX);
    assert!(
        p.condure_in_specs.is_empty()
            && p.zurl_out_specs.is_empty()
            && p.intreq_out_specs.is_empty()
    );
    assert!(p.handler_inspect_spec.is_none() && p.stats_spec.is_none() && p.command_spec.is_none());
    assert_eq!(p.server_specs().kind, ServerKind::M2a);

    let h = &c.handler;
    assert_eq!(h.ipc_file_mode, None);
    assert!(h.push_in_spec.is_none() && h.push_in_sub_specs.is_empty());
    assert_eq!(h.push_in_sub_connect, DEFAULT_PUSH_IN_SUB_CONNECT);
    assert_eq!((h.push_in_http_addr, h.push_in_http_port), (None, None));
    assert_eq!(h.push_in_max_headers_size, DEFAULT_PUSH_IN_MAX_HEADERS_SIZE);
    assert_eq!(h.push_in_max_body_size, DEFAULT_PUSH_IN_MAX_BODY_SIZE);
    assert_eq!(h.message_rate, DEFAULT_MESSAGE_RATE);
    assert_eq!(h.message_hwm, DEFAULT_MESSAGE_HWM);
    assert_eq!(h.message_block_size, DEFAULT_MESSAGE_BLOCK_SIZE);
    assert_eq!(h.message_wait, DEFAULT_MESSAGE_WAIT);
    assert_eq!(h.id_cache_ttl, DEFAULT_ID_CACHE_TTL);
    assert_eq!(
        h.connection_subscription_max,
        DEFAULT_CONNECTION_SUBSCRIPTION_MAX
    );
    assert_eq!(h.subscription_linger, DEFAULT_SUBSCRIPTION_LINGER);
    assert_eq!(h.stats_subscription_ttl, DEFAULT_STATS_SUBSCRIPTION_TTL);
    assert_eq!(h.stats_report_interval, H_STATS_REPORT_INTERVAL);
    assert_eq!(h.stats_format, DEFAULT_STATS_FORMAT);
    assert_eq!(h.share_all, DEFAULT_SHARE_ALL);
    assert_eq!(h.prometheus_port, None);
    assert_eq!(h.prometheus_prefix, H_PROMETHEUS_PREFIX);
    assert!(h.state_spec.is_none() && h.proxy_inspect_spec.is_none() && h.m2a_out_specs.is_empty());
    assert_eq!(h.client_maxconn, DEFAULT_CLIENT_MAXCONN);
    assert_eq!(h.stats_connection_ttl, DEFAULT_STATS_CONNECTION_TTL);
    assert!(c.warnings.is_empty());
}

#[test]
fn missing_requirements() {
    let c =
        Config::from_raw(&Raw::empty("pushpin.conf"), None, &Overrides::default()).expect("valid");
    let msgs = |r: Result<(), ConfigErrors>| {
        r.expect_err("fails")
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        msgs(c.check_proxy()),
        [
            format!("pushpin.conf: {}", Requirement::ProxyServerSpecs),
            format!("pushpin.conf: {}", Requirement::ProxyZurlSpecs)
        ]
    );
    assert_eq!(
        msgs(c.check_handler()),
        [
            format!("pushpin.conf: {}", Requirement::HandlerM2aSpecs),
            format!("pushpin.conf: {}", Requirement::HandlerProxySpecs)
        ]
    );
    assert_eq!(
        msgs(c.check_runner(false)),
        [format!("pushpin.conf: {}", Requirement::NoServerPorts)]
    );
    assert!(c.check_runner(true).is_ok());
    let c = config("[runner]\nservices=condure,mongrel2\nlocal_ports=/tmp/s\n").expect("valid");
    assert_eq!(
        c.runner.requirements(false),
        [
            Requirement::ConnmgrWithMongrel2,
            Requirement::LocalPortsWithMongrel2
        ]
    );
}

#[test]
fn server_spec_selection() {
    let both = "[proxy]\ncondure_in_specs=ipc://c\ncondure_in_stream_specs=ipc://cs\ncondure_out_specs=ipc://co\nm2a_in_specs=ipc://m\nm2a_in_stream_specs=ipc://ms\nm2a_out_specs=ipc://mo\n";
    assert_eq!(
        config(both).expect("ok").proxy.server_specs().kind,
        ServerKind::Condure
    );
    let c = config(&format!("[runner]\nservices=mongrel2,m2adapter\n{both}")).expect("ok");
    assert_eq!(c.proxy.server_specs().in_specs, specs(&["ipc://m"]));
    assert_eq!(c.handler.server_specs().kind, ServerKind::M2a);
}

#[test]
fn every_bad_value_is_collected() {
    let text = "[global]\nport_offset=-1\nstats_connection_ttl=soon\n\
[runner]\nhttp_port=7999,localhost:80,99999\nhttps_ports=0\nlog_level=2,\nclient_maxconn=lots\n\
[proxy]\nmax_open_requests=100abc\nipc_file_mode=999\nx_forwarded_for=truncate:x\nsig_key=abc,def\nstats_spec=run/stats\nzurl_out_specs=ipc://a,tcp://b\nprometheus_port=x:y\n\
[handler]\npush_in_http_port=70000\npush_in_http_addr=localhost\nmessage_rate=-5\nmessage_wait=-1\n";
    let errs = config(text).expect_err("invalid");
    let keys: Vec<String> = errs
        .iter()
        .map(|e| match e {
            ConfigError::InvalidValue {
                key, value, line, ..
            } => format!("{line} {key}={value}"),
            other => other.to_string(),
        })
        .collect();
    assert_eq!(
        keys,
        [
            "2 global/port_offset=-1",
            "3 global/stats_connection_ttl=soon",
            "5 runner/http_port=localhost:80",
            "5 runner/http_port=99999",
            "6 runner/https_ports=0",
            "7 runner/log_level=2,",
            "8 runner/client_maxconn=lots",
            "10 proxy/max_open_requests=100abc",
            "11 proxy/ipc_file_mode=999",
            "12 proxy/x_forwarded_for=truncate:x",
            "13 proxy/sig_key=abc,def",
            "14 proxy/stats_spec=run/stats",
            "15 proxy/zurl_out_specs=tcp://b",
            "16 proxy/prometheus_port=x:y",
            "18 handler/push_in_http_port=70000",
            "19 handler/push_in_http_addr=localhost",
            "20 handler/message_rate=-5",
            "21 handler/message_wait=-1",
        ]
    );
    let shown = errs.to_string();
    assert!(
        shown.contains("pushpin.conf:13: proxy/sig_key \"abc,def\": expected a single value"),
        "{shown}"
    );
    assert_eq!(shown.lines().count(), 18);
}

#[test]
fn empty_numbers_mean_default() {
    let c = config("[proxy]\nmax_open_requests=\n[handler]\nmessage_rate=\nmessage_wait=\n")
        .expect("ok");
    assert_eq!(c.proxy.max_open_requests, None);
    assert_eq!(c.handler.message_wait, DEFAULT_MESSAGE_WAIT);
}

#[test]
fn typed_values() {
    let c = config(
        "[runner]\nhttp_port=17240,127.0.0.1:17247,[::1]:80\nhttps_ports=443\nlocal_ports={rundir}/{ipc_prefix}server\nlog_level=1,condure:3,runner:0\n\
[global]\nrundir=run\n\
[proxy]\nset_x_forwarded_protocol=true\nx_forwarded_for=truncate:0,append\nmax_open_requests=-1\nipc_file_mode=777\nupstream_key=base64:aGk=\nsig_key=file:key.pem\nprometheus_port=127.0.0.1:9000\norig_headers_need_mark=A, B\nroutesfile=/abs/routes\n\
[handler]\nmessage_rate=0\nstats_format=json\nprometheus_port=ipc://run/metrics\npush_in_sub_spec=tcp://127.0.0.1:1\npush_in_sub_specs=tcp://127.0.0.1:2\n",
    )
    .expect("ok");
    let r = &c.runner;
    assert_eq!(
        r.http_port
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["0.0.0.0:17240", "127.0.0.1:17247", "[::1]:80"]
    );
    assert_eq!(r.https_ports.first().map(|a| a.port), Some(443));
    assert_eq!(r.local_ports, [PathBuf::from("run/pushpin-server")]);
    assert_eq!(r.log_level.default_level(), 1);
    assert_eq!(r.log_level.for_service(Service::Connmgr), 3);
    assert_eq!(r.log_level.level_for("runner"), 0);
    let p = &c.proxy;
    assert_eq!(p.set_x_forwarded_protocol, SetXForwardedProtocol::Both);
    assert_eq!(
        p.x_forwarded_for,
        XffRule {
            truncate: Some(0),
            append: true
        }
    );
    assert_eq!(p.max_open_requests, None);
    assert_eq!(p.ipc_file_mode, Some(0o777));
    assert_eq!(p.upstream_key, Some(ConfigKey::Secret(b"hi".to_vec())));
    assert_eq!(p.sig_key, ConfigKey::PemFile("/etc/pushpin/key.pem".into()));
    assert_eq!(
        p.prometheus_port,
        Some(MetricsAddr::Tcp {
            addr: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            port: 9000
        })
    );
    assert_eq!(p.orig_headers_need_mark, ["A", "B"]);
    assert_eq!(p.routesfile, Some(PathBuf::from("/abs/routes")));
    let h = &c.handler;
    assert_eq!(h.message_rate, Some(0));
    assert_eq!(h.stats_format, StatsFormat::Json);
    assert_eq!(
        h.prometheus_port,
        Some(MetricsAddr::Ipc("run/metrics".into()))
    );
    assert_eq!(
        h.push_in_sub_specs,
        specs(&["tcp://127.0.0.1:2", "tcp://127.0.0.1:1"])
    );
}

#[test]
fn warnings_are_collected() {
    let c = config(
        "[global]\n\
[runner]\nrundir=old\nservices=condure,bogus,proxy,handler,condure\n\
[proxy]\ndebug=off\nupstream_key=base64:a!b\ntypo_key=1\n\
[handler]\npush_in_http_max_headers_size=100000\n",
    )
    .expect("ok");
    assert_eq!(
        c.runner.services,
        [Service::Connmgr, Service::Proxy, Service::Handler]
    );
    assert_eq!(c.runner.unknown_services, ["bogus"]);
    assert!(c.proxy.debug, "off reads as true, as in Qt");
    assert_eq!(c.global.rundir, PathBuf::from("old"));
    let kinds: Vec<_> = c
        .warnings
        .iter()
        .map(|w| (w.key.as_str(), w.kind.clone()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("runner/rundir", WarningKind::DeprecatedRunnerRundir),
            ("runner/services", WarningKind::UnknownService),
            ("proxy/debug", WarningKind::TruthyBool),
            ("proxy/upstream_key", WarningKind::LossyBase64),
            ("proxy/typo_key", WarningKind::UnknownKey),
            (
                "handler/push_in_http_max_headers_size",
                WarningKind::IgnoredKey {
                    read_instead: "push_in_max_headers_size"
                }
            ),
        ]
    );
}

#[test]
fn parse_helpers() {
    assert_eq!("7999".parse::<ListenAddr>().map(|a| a.port), Ok(7999));
    assert!("127.0.0.1:".parse::<ListenAddr>().is_err());
    assert!("[::1".parse::<ListenAddr>().is_err());
    assert!("host:80".parse::<ListenAddr>().is_err());
    for (name, s) in [
        ("condure", Service::Connmgr),
        ("connmgr", Service::Connmgr),
        ("pushpin-proxy", Service::Proxy),
        ("proxy", Service::Proxy),
        ("pushpin-handler", Service::Handler),
        ("handler", Service::Handler),
        ("zurl", Service::Zurl),
        ("mongrel2", Service::Mongrel2),
        ("m2adapter", Service::M2adapter),
    ] {
        assert_eq!(name.parse::<Service>(), Ok(s));
    }
    assert_eq!(
        "Condure".parse::<Service>(),
        Err(UnknownService("Condure".into()))
    );
    assert_eq!(Service::Proxy.to_string(), "pushpin-proxy");
    assert_eq!(Service::M2adapter.display_name(), "m2a");
    assert_eq!(
        "2,pushpin-handler:3"
            .parse::<LogLevels>()
            .map(|l| l.for_service(Service::Handler)),
        Ok(3)
    );
    assert_eq!(
        "handler:4"
            .parse::<LogLevels>()
            .map(|l| l.for_service(Service::Handler)),
        Ok(4)
    );
    assert_eq!("".parse::<LogLevels>(), Err(LogLevelError::EmptyComponent));
    assert_eq!(":3".parse::<LogLevels>(), Err(LogLevelError::EmptyName));
    assert_eq!(
        "x:-1".parse::<LogLevels>(),
        Err(LogLevelError::Service("x".into()))
    );
    assert_eq!("x".parse::<LogLevels>(), Err(LogLevelError::Default));
    assert_eq!(LogLevels::verbose().default_level(), 3);
    assert_eq!(
        XffRule::parse_items(&["append", "junk"]),
        Err("junk".to_string())
    );
    assert_eq!(
        "9000".parse::<MetricsAddr>(),
        Ok(MetricsAddr::Tcp {
            addr: None,
            port: 9000
        })
    );
    assert_eq!(
        ":9000".parse::<MetricsAddr>(),
        Ok(MetricsAddr::Tcp {
            addr: None,
            port: 9000
        })
    );
    assert_eq!(
        SetXForwardedProtocol::from_config("yes"),
        SetXForwardedProtocol::Off
    );
    assert_eq!(UpdatesCheck::from_config("true"), UpdatesCheck::Check);
}
