//! The real 1.36 files (tests/fixtures), include/override handling and the TOML twin.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

#[test]
fn debian_fixture_global_and_runner() {
    let c = debian();
    assert_eq!(c.global.include, Some(fixtures().join("internal.conf")));
    assert_eq!(c.global.libdir, fixtures());
    assert_eq!(c.global.rundir, PathBuf::from("/var/run/pushpin"));
    assert_eq!(c.global.ipc_prefix, "pushpin-");
    assert_eq!(c.global.port_offset, 0);
    assert_eq!(c.global.stats_connection_ttl, Duration::from_secs(120));
    assert_eq!(c.global.templates_dir(), fixtures().join("runner"));

    let r = &c.runner;
    assert_eq!(
        r.services,
        vec![Service::Connmgr, Service::Proxy, Service::Handler]
    );
    assert!(r.unknown_services.is_empty());
    assert_eq!(
        r.http_port,
        vec![ListenAddr {
            addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port: 7999
        }]
    );
    assert!(r.https_ports.is_empty() && r.local_ports.is_empty());
    assert_eq!(r.logdir, PathBuf::from("/var/log/pushpin"));
    assert_eq!(r.rundir, PathBuf::from("/var/run/pushpin"));
    assert_eq!(r.log_level.default_level(), 2);
    assert_eq!(r.client_buffer_size, 8192);
    assert_eq!(r.client_maxconn, 50000);
    assert_eq!(
        r.condure_bin,
        Program {
            path: "condure".into(),
            explicit: true
        }
    );
    assert_eq!(r.zurl_bin.path, PathBuf::from("zurl"));
    assert_eq!(r.mongrel2_bin.path, PathBuf::from("mongrel2"));
    assert_eq!(r.m2sh_bin.path, PathBuf::from("m2sh"));
    assert_eq!(
        r.proxy_bin,
        Program {
            path: "pushpin-proxy".into(),
            explicit: false
        }
    );
    assert_eq!(r.connmgr_program().path, PathBuf::from("condure"));
    assert_eq!(r.certs_dir, fixtures().join("runner/certs"));
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert!(c.check_runner(false).is_ok());
}

#[test]
fn debian_fixture_proxy() {
    let c = debian();
    let p = &c.proxy;
    assert_eq!(p.routesfile, Some(fixtures().join("routes")));
    assert!(!p.debug && !p.auto_cross_origin && !p.accept_x_forwarded_protocol);
    assert_eq!(p.set_x_forwarded_protocol, SetXForwardedProtocol::ProtoOnly);
    assert!(p.x_forwarded_for.is_passthrough() && p.x_forwarded_for_trusted.is_passthrough());
    assert!(p.orig_headers_need_mark.is_empty());
    assert!(!p.accept_pushpin_route && !p.log_from && !p.log_user_agent);
    assert_eq!(p.sig_iss, "pushpin");
    assert_eq!(p.sig_key, ConfigKey::Secret(b"changeme".to_vec()));
    assert_eq!(p.upstream_key, None);
    assert_eq!(
        p.sockjs_url,
        "http://cdn.jsdelivr.net/sockjs/0.3.4/sockjs.min.js"
    );
    assert_eq!(p.updates_check, UpdatesCheck::Off);
    assert_eq!(p.organization_name, "");
    assert_eq!(
        p.condure_in_specs,
        specs(&["ipc:///var/run/pushpin/pushpin-condure-out"])
    );
    assert_eq!(
        p.condure_in_stream_specs,
        specs(&["ipc:///var/run/pushpin/pushpin-condure-out-stream"])
    );
    assert_eq!(
        p.condure_out_specs,
        specs(&["ipc:///var/run/pushpin/pushpin-condure-in"])
    );
    assert_eq!(
        p.m2a_in_specs,
        specs(&[
            "ipc:///var/run/pushpin/pushpin-m2zhttp-out",
            "ipc:///var/run/pushpin/pushpin-m2zws-out"
        ])
    );
    assert_eq!(p.zurl_out_specs, specs(&["ipc:///var/run/zurl/zurl-in"]));
    assert_eq!(
        p.zurl_out_stream_specs,
        specs(&["ipc:///var/run/zurl/zurl-in-stream"])
    );
    assert_eq!(p.zurl_in_specs, specs(&["ipc:///var/run/zurl/zurl-out"]));
    assert_eq!(
        p.handler_inspect_spec,
        Some(spec("ipc:///var/run/pushpin/pushpin-inspect"))
    );
    assert_eq!(
        p.handler_accept_spec,
        Some(spec("ipc:///var/run/pushpin/pushpin-accept"))
    );
    assert_eq!(
        p.handler_retry_in_spec,
        Some(spec("ipc:///var/run/pushpin/pushpin-retry"))
    );
    assert_eq!(
        p.handler_ws_control_in_spec,
        Some(spec("ipc:///var/run/pushpin/pushpin-ws-control-in"))
    );
    assert_eq!(
        p.handler_ws_control_out_spec,
        Some(spec("ipc:///var/run/pushpin/pushpin-ws-control-out"))
    );
    assert_eq!(
        p.stats_spec,
        Some(spec("ipc:///var/run/pushpin/pushpin-proxy-stats"))
    );
    assert_eq!(
        p.command_spec,
        Some(spec("ipc:///var/run/pushpin/pushpin-proxy-command"))
    );
    assert_eq!(
        p.intreq_in_specs,
        specs(&["ipc:///var/run/pushpin/pushpin-intreq-in"])
    );
    assert_eq!(
        p.intreq_in_stream_specs,
        specs(&["ipc:///var/run/pushpin/pushpin-intreq-in-stream"])
    );
    assert_eq!(
        p.intreq_out_specs,
        specs(&["ipc:///var/run/pushpin/pushpin-intreq-out"])
    );
    assert_eq!(p.server_specs().kind, ServerKind::Condure);
    assert_eq!(p.client_maxconn, 50000);
    assert_eq!(p.services, c.runner.services);
    assert!(c.check_proxy().is_ok());
}

#[test]
fn debian_fixture_handler() {
    let c = debian();
    let h = &c.handler;
    assert_eq!(h.ipc_file_mode, None);
    assert_eq!(h.push_in_spec, Some(spec("tcp://127.0.0.1:5560")));
    assert_eq!(h.push_in_sub_specs, specs(&["tcp://127.0.0.1:5562"]));
    assert!(!h.push_in_sub_connect);
    assert_eq!(h.push_in_http_addr, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    assert_eq!(h.push_in_http_port, Some(5561));
    assert_eq!(h.push_in_max_headers_size, 10000);
    assert_eq!(h.push_in_max_body_size, 1_000_000);
    assert_eq!(
        h.stats_spec,
        Some(spec("ipc:///var/run/pushpin/pushpin-stats"))
    );
    assert_eq!(h.command_spec, Some(spec("tcp://127.0.0.1:5563")));
    assert_eq!(h.state_spec, None);
    assert_eq!(
        (h.message_rate, h.message_hwm, h.message_block_size),
        (Some(2500), Some(25000), None)
    );
    assert_eq!(h.message_wait, Duration::from_millis(5000));
    assert_eq!(h.id_cache_ttl, Duration::from_secs(60));
    assert_eq!(h.connection_subscription_max, 20);
    assert_eq!(h.subscription_linger, Duration::from_secs(60));
    assert_eq!(h.stats_subscription_ttl, Duration::from_secs(60));
    assert_eq!(h.stats_report_interval, Duration::from_secs(10));
    assert_eq!(h.stats_format, StatsFormat::Tnetstring);
    assert_eq!(
        h.proxy_inspect_spec,
        Some(spec("ipc:///var/run/pushpin/pushpin-inspect"))
    );
    assert_eq!(
        h.proxy_accept_spec,
        Some(spec("ipc:///var/run/pushpin/pushpin-accept"))
    );
    assert_eq!(
        h.proxy_retry_out_spec,
        Some(spec("ipc:///var/run/pushpin/pushpin-retry"))
    );
    assert_eq!(
        h.proxy_ws_control_in_spec,
        Some(spec("ipc:///var/run/pushpin/pushpin-ws-control-out"))
    );
    assert_eq!(
        h.proxy_ws_control_out_spec,
        Some(spec("ipc:///var/run/pushpin/pushpin-ws-control-in"))
    );
    assert_eq!(
        h.proxy_stats_spec,
        Some(spec("ipc:///var/run/pushpin/pushpin-proxy-stats"))
    );
    assert_eq!(
        h.proxy_command_spec,
        Some(spec("ipc:///var/run/pushpin/pushpin-proxy-command"))
    );
    assert_eq!(
        h.condure_in_stream_specs,
        specs(&["ipc:///var/run/pushpin/pushpin-condure-out-stream"])
    );
    assert_eq!(
        h.condure_out_specs,
        specs(&["ipc:///var/run/pushpin/pushpin-condure-in"])
    );
    assert_eq!(h.m2a_out_specs.len(), 2);
    assert_eq!(
        h.proxy_intreq_out_specs,
        specs(&["ipc:///var/run/pushpin/pushpin-intreq-in"])
    );
    assert_eq!(
        h.proxy_intreq_out_stream_specs,
        specs(&["ipc:///var/run/pushpin/pushpin-intreq-in-stream"])
    );
    assert_eq!(
        h.proxy_intreq_in_specs,
        specs(&["ipc:///var/run/pushpin/pushpin-intreq-out"])
    );
    let server = h.server_specs();
    assert_eq!(server.kind, ServerKind::Condure);
    assert!(server.in_specs.is_empty());
    assert_eq!(server.out_specs, h.condure_out_specs);
    assert!(c.check_handler().is_ok());
}

#[test]
fn our_example_config() {
    let c = load(
        &example_dir().join("pushpin.conf.example"),
        &Overrides::default(),
    )
    .expect("loads");
    // `{libdir}/internal.conf` does not exist under the default LIBDIR on every machine.
    let main = ini::parse(
        &std::fs::read_to_string(example_dir().join("pushpin.conf.example")).expect("read"),
        &example_dir().join("pushpin.conf.example"),
    );
    let inc = ini::parse(INTERNAL_CONF, &example_dir().join("internal.conf"));
    let c2 = Config::from_raw(&main, Some(&inc), &Overrides::default()).expect("types");
    assert_eq!(c.runner.services.len(), 4);
    assert_eq!(
        c2.runner.services,
        vec![
            Service::Connmgr,
            Service::Zurl,
            Service::Proxy,
            Service::Handler
        ]
    );
    assert_eq!(c2.global.rundir, PathBuf::from("run"));
    assert_eq!(c2.runner.logdir, PathBuf::from("log"));
    assert_eq!(c2.proxy.updates_check, UpdatesCheck::Off);
    assert_eq!(
        c2.proxy.zurl_out_specs,
        specs(&["ipc://run/pushpin-zurl-in"])
    );
    assert_eq!(
        c2.proxy.handler_inspect_spec,
        Some(spec("ipc://run/pushpin-inspect"))
    );
    assert_eq!(c2.handler.stats_spec, Some(spec("ipc://run/pushpin-stats")));
    assert!(
        c2.check_proxy().is_ok() && c2.check_handler().is_ok() && c2.check_runner(false).is_ok()
    );
}

#[test]
fn capture_fixture() {
    let path = fixtures().join("example-pushpin.conf");
    let main = ini::parse(&std::fs::read_to_string(&path).expect("read"), &path);
    let inc = ini::parse(INTERNAL_CONF, Path::new("internal.conf"));
    let c = Config::from_raw(&main, Some(&inc), &Overrides::default()).expect("types");
    assert_eq!(c.runner.http_port.first().map(|a| a.port), Some(17270));
    assert_eq!(c.runner.log_level.default_level(), 2);
    assert_eq!(c.runner.log_level.for_service(Service::Proxy), 3);
    assert_eq!(c.runner.log_level.for_service(Service::Handler), 3);
    assert_eq!(c.runner.log_level.for_service(Service::Connmgr), 2);
    assert_eq!(
        c.proxy.handler_inspect_spec,
        Some(spec("ipc://run/pushpin-p-inspect"))
    );
    assert_eq!(
        c.handler.proxy_inspect_spec,
        Some(spec("ipc://run/pushpin-h-inspect"))
    );
    assert_eq!(c.handler.push_in_http_port, Some(17272));
    assert_eq!(c.handler.stats_spec, Some(spec("tcp://127.0.0.1:17275")));
    // Keys not in the main file come from the include.
    assert_eq!(
        c.proxy.condure_in_specs,
        specs(&["ipc://run/pushpin-condure-out"])
    );
    assert_eq!(
        c.proxy.stats_spec,
        Some(spec("ipc://run/pushpin-proxy-stats"))
    );
}

#[test]
fn overrides_ipc_prefix_and_port_offset() {
    let o = Overrides {
        ipc_prefix: Some("p1-".into()),
        port_offset: Some(10),
        libdir: Some(fixtures()),
    };
    let c = load(&fixtures().join("pushpin.conf"), &o).expect("loads");
    assert_eq!(c.global.ipc_prefix, "p1-");
    assert_eq!(c.global.port_offset, 10);
    assert_eq!(
        c.proxy.handler_inspect_spec,
        Some(spec("ipc:///var/run/pushpin/p1-inspect"))
    );
    assert_eq!(c.handler.push_in_spec, Some(spec("tcp://127.0.0.1:5570")));
    assert_eq!(c.handler.command_spec, Some(spec("tcp://127.0.0.1:5573")));
    assert_eq!(c.handler.push_in_http_port, Some(5571));
}

#[test]
fn port_offset_from_file() {
    let c = config("[global]\nport_offset=3\n[handler]\npush_in_spec=tcp://127.0.0.1:17240\npush_in_http_port=5561\n").expect("ok");
    assert_eq!(c.handler.push_in_spec, Some(spec("tcp://127.0.0.1:17243")));
    assert_eq!(c.handler.push_in_http_port, Some(5564));
    assert_eq!(c.global.port_offset, 3);
    let c = config("[global]\nport_offset=3\n[handler]\npush_in_http_port=0\n").expect("ok");
    assert_eq!(
        c.handler.push_in_http_port,
        Some(0),
        "offset only for positive ports"
    );
}

#[test]
fn include_merging() {
    let main = ini(
        "[global]\nrundir=run\nipc_prefix=m-\n[proxy]\ndebug=true\nstats_spec=ipc://{rundir}/{ipc_prefix}mine\n",
    );
    let inc = ini::parse(
        "[global]\nipc_prefix=inc-\ninclude=other.conf\n[proxy]\ndebug=false\nstats_spec=ipc://x\ncommand_spec=ipc://{rundir}/{ipc_prefix}cmd\n",
        Path::new("/usr/lib/pushpin/internal.conf"),
    );
    let c = Config::from_raw(&main, Some(&inc), &Overrides::default()).expect("ok");
    assert!(c.proxy.debug, "the main file wins");
    assert_eq!(c.proxy.stats_spec, Some(spec("ipc://run/m-mine")));
    // Substitution variables come from the main file only.
    assert_eq!(c.proxy.command_spec, Some(spec("ipc://run/m-cmd")));
    assert_eq!(c.global.include, None, "no include= in the main file");
}

#[test]
fn merged_ipc_prefix_for_the_runner() {
    let main = ini("[global]\nrundir=run\n");
    let inc = ini::parse(
        "[global]\nipc_prefix=inc-\n[proxy]\nstats_spec=ipc://{rundir}/{ipc_prefix}s\n",
        Path::new("i.conf"),
    );
    let c = Config::from_raw(&main, Some(&inc), &Overrides::default()).expect("ok");
    assert_eq!(
        c.global.ipc_prefix, "inc-",
        "the runner reads the merged view"
    );
    assert_eq!(
        c.proxy.stats_spec,
        Some(spec("ipc://run/pushpin-s")),
        "substitution reads the main file"
    );
}

#[test]
fn load_with_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let main = dir.path().join("pushpin.conf");
    std::fs::write(
        dir.path().join("extra.conf"),
        "[proxy]\nsig_iss=from-include\n",
    )
    .expect("write");
    std::fs::write(&main, "[global]\ninclude=extra.conf\n").expect("write");
    let c = load(&main, &Overrides::default()).expect("loads");
    assert_eq!(c.proxy.sig_iss, "from-include");
    assert_eq!(c.global.include, Some(dir.path().join("extra.conf")));

    // The exact value `internal.conf` means {libdir}/internal.conf.
    let libdir = dir.path().join("lib");
    std::fs::create_dir(&libdir).expect("mkdir");
    std::fs::write(
        libdir.join("internal.conf"),
        "[proxy]\nsig_iss=from-libdir\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("internal.conf"),
        "[proxy]\nsig_iss=beside\n",
    )
    .expect("write");
    std::fs::write(&main, "[global]\ninclude=internal.conf\n").expect("write");
    let o = Overrides {
        libdir: Some(libdir),
        ..Overrides::default()
    };
    assert_eq!(load(&main, &o).expect("loads").proxy.sig_iss, "from-libdir");

    // A missing include is silently empty.
    std::fs::write(&main, "[global]\ninclude=missing.conf\n").expect("write");
    let c = load(&main, &Overrides::default()).expect("loads");
    assert_eq!(c.proxy.sig_iss, DEFAULT_SIG_ISS);

    // A missing main file is an error.
    let e = load(&dir.path().join("nope.conf"), &Overrides::default()).expect_err("missing");
    assert!(matches!(e.iter().next(), Some(ConfigError::Read { .. })));

    // Latin-1 bytes do not stop the reader.
    std::fs::write(&main, b"[proxy]\nsig_iss=caf\xe9\n").expect("write");
    assert_eq!(
        load(&main, &Overrides::default())
            .expect("loads")
            .proxy
            .sig_iss,
        "caf\u{e9}"
    );
}

const DEBIAN_TOML: &str = r#"
[global]
include = "{libdir}/internal.conf"
rundir = "/var/run/pushpin"
ipc_prefix = "pushpin-"
port_offset = 0
stats_connection_ttl = 120

[runner]
services = ["condure", "pushpin-proxy", "pushpin-handler"]
http_port = 7999
logdir = "/var/log/pushpin"
log_level = 2
client_buffer_size = 8192
client_maxconn = 50000
condure_bin = "condure"
mongrel2_bin = "mongrel2"
m2sh_bin = "m2sh"
zurl_bin = "zurl"

[proxy]
routesfile = "routes"
debug = false
auto_cross_origin = false
accept_x_forwarded_protocol = false
set_x_forwarded_protocol = "proto-only"
x_forwarded_for = ""
x_forwarded_for_trusted = []
orig_headers_need_mark = ""
accept_pushpin_route = false
log_from = false
log_user_agent = false
sig_iss = "pushpin"
sig_key = "changeme"
upstream_key = ""
sockjs_url = "http://cdn.jsdelivr.net/sockjs/0.3.4/sockjs.min.js"
updates_check = "off"
organization_name = ""

[handler]
push_in_spec = "tcp://127.0.0.1:5560"
push_in_sub_specs = ["tcp://127.0.0.1:5562"]
push_in_sub_connect = false
push_in_http_addr = "127.0.0.1"
push_in_http_port = 5561
push_in_http_max_headers_size = 10000
push_in_http_max_body_size = 1000000
stats_spec = "ipc://{rundir}/{ipc_prefix}stats"
command_spec = "tcp://127.0.0.1:5563"
message_rate = 2500
message_hwm = 25000
message_wait = 5000
id_cache_ttl = 60
connection_subscription_max = 20
subscription_linger = 60
stats_subscription_ttl = 60
stats_report_interval = 10
stats_format = "tnetstring"
"#;

#[test]
fn toml_gives_the_same_configs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("pushpin.conf");
    let toml = dir.path().join("pushpin.toml");
    std::fs::copy(fixtures().join("pushpin.conf"), &conf).expect("copy");
    std::fs::write(&toml, DEBIAN_TOML).expect("write");
    let a = load(&conf, &fixture_overrides()).expect("ini");
    let b = load(&toml, &fixture_overrides()).expect("toml");
    assert_eq!(a.global, b.global);
    assert_eq!(a.runner, b.runner);
    assert_eq!(a.proxy, b.proxy);
    assert_eq!(a.handler, b.handler);
    assert!(b.warnings.is_empty(), "{:?}", b.warnings);

    std::fs::write(
        &toml,
        "[proxy]\ndebug = 1.5\n[handler]\nmessage_rate = \"x\"\n",
    )
    .expect("write");
    let errs = load(&toml, &Overrides::default()).expect_err("bad");
    assert_eq!(
        errs.len(),
        1,
        "value type errors stop before typing: {errs}"
    );
    std::fs::write(&toml, "[handler]\nmessage_rate = \"x\"\n").expect("write");
    let errs = load(&toml, &Overrides::default()).expect_err("bad");
    assert!(
        errs.to_string()
            .contains("pushpin.toml:2: handler/message_rate \"x\""),
        "{errs}"
    );
}

#[test]
fn runner_search_path() {
    let paths = config_search_path(Path::new(DEFAULT_CONFIG_DIR));
    assert_eq!(paths.first(), Some(&PathBuf::from("config/pushpin.conf")));
    assert_eq!(paths.last(), Some(&PathBuf::from(DEFAULT_CONFIG_FILE)));
    assert_eq!(paths.len(), 4);
}
