//! Argument lists and files of each service, against spec/runner.md §3.

use std::path::{Path, PathBuf};

use super::*;

fn config(text: &str) -> Config {
    let path = Path::new("/cfg/pushpin.conf");
    let raw = pushpin_config::parse(text, path).unwrap();
    Config::from_raw(&raw, None, &pushpin_config::Overrides::default()).unwrap()
}

fn env() -> Env {
    Env {
        runner_dir: None,
        cwd: PathBuf::from("/work"),
        path: None,
    }
}

fn opts() -> Options {
    Options {
        config_path: PathBuf::from("/cfg/pushpin.conf"),
        ..Options::default()
    }
}

const BASE: &str = "[global]\nrundir=run\n[runner]\nservices=condure,zurl,pushpin-proxy,pushpin-handler\n\
                    http_port=7999,127.0.0.1:8000\nlogdir=log\n";

fn child<'a>(plan: &'a Plan, name: &str) -> &'a ChildSpec {
    plan.children.iter().find(|c| c.name == name).unwrap()
}

#[test]
fn default_services_in_start_order_with_1_36_arguments() {
    let cfg = config(&format!("{BASE}local_ports=/tmp/s\nhttps_ports=443\n"));
    let plan = build(&cfg, &opts(), &env()).unwrap();
    let names: Vec<&str> = plan.children.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["condure", "zurl", "proxy", "handler"]);
    assert_eq!(plan.rundir, Path::new("/work/run"));
    let c = child(&plan, "condure");
    assert_eq!(c.program, Path::new("pushpin-connmgr"));
    assert_eq!(
        c.args,
        [
            "--log-level=2",
            "--listen=0.0.0.0:7999,stream",
            "--listen=127.0.0.1:8000,stream",
            "--listen=0.0.0.0:443,stream,tls,default-cert=default_443",
            "--listen=/tmp/s,local,stream",
            "--zclient-stream=ipc:///work/run/pushpin-condure",
            "--buffer-size=8192",
            "--stream-maxconn=50000",
            "--tls-identities-dir=/cfg/runner/certs",
        ]
    );
    assert_eq!(
        c.output,
        Output::File(PathBuf::from("/work/log/condure.log"))
    );
    assert_eq!(
        c.pid_file.as_deref(),
        Some(Path::new("/work/run/condure.pid"))
    );
    assert!(!c.hup);
    let z = child(&plan, "zurl");
    assert_eq!(z.program, Path::new("zurl-rs"));
    assert_eq!(
        z.args,
        [
            "--config=/work/run/zurl.conf",
            "--logfile=/work/log/zurl.log",
            "--loglevel=2"
        ]
    );
    let (path, text) = z.generated.as_ref().unwrap();
    assert_eq!(path, Path::new("/work/run/zurl.conf"));
    assert!(text.contains("in_spec=ipc:///work/run/pushpin-zurl-in\n"));
    assert!(text.contains("out_spec=ipc:///work/run/pushpin-zurl-out\n"));
    let p = child(&plan, "proxy");
    assert_eq!(
        p.args,
        [
            "--config=/cfg/pushpin.conf",
            "--ipc-prefix=pushpin-",
            "--logfile=/work/log/pushpin-proxy.log",
            "--loglevel=2",
            "--quiet-check",
        ]
    );
    assert!(p.hup);
    let h = child(&plan, "handler");
    assert_eq!(
        h.args,
        [
            "--config=/cfg/pushpin.conf",
            "--ipc-prefix=pushpin-",
            "--logfile=/work/log/pushpin-handler.log",
            "--loglevel=2",
        ]
    );
    assert_eq!(
        h.output,
        Output::OwnLog {
            stderr: PathBuf::from("/work/log/pushpin-handler.log")
        }
    );
}

#[test]
fn id_port_routes_levels_and_merge() {
    let cfg = config(&format!(
        "{BASE}condure_bin=/usr/bin/condure\nzurl_bin=/usr/bin/zurl\n"
    ));
    let o = Options {
        id: Some(1),
        port: Some("127.0.0.1:9000".parse().unwrap()),
        routes: vec!["* test".into(), "example.com 127.0.0.1:80".into()],
        merge_output: true,
        log_levels: Some("1,pushpin-handler:3,zurl:3,runner:0".parse().unwrap()),
        ..opts()
    };
    let plan = build(&cfg, &o, &env()).unwrap();
    assert_eq!(plan.logdir, None);
    assert_eq!(plan.runner_level, 0);
    let c = child(&plan, "condure");
    assert_eq!(c.program, Path::new("/usr/bin/condure"));
    assert_eq!(c.args[1], "--listen=127.0.0.1:9000,stream");
    assert_eq!(c.args[2], "--zclient-stream=ipc:///work/run/p1-condure");
    assert_eq!(
        c.pid_file.as_deref(),
        Some(Path::new("/work/run/p1-condure.pid"))
    );
    assert_eq!(c.output, Output::Merge);
    let z = child(&plan, "zurl");
    assert_eq!(z.program, Path::new("/usr/bin/zurl"));
    assert_eq!(z.args, ["--config=/work/run/p1-zurl.conf", "--verbose"]);
    let p = child(&plan, "proxy");
    assert_eq!(
        p.args,
        [
            "--config=/cfg/pushpin.conf",
            "--ipc-prefix=p1-",
            "--loglevel=1",
            "--route=* test",
            "--route=example.com 127.0.0.1:80",
            "--quiet-check",
        ]
    );
    let h = child(&plan, "handler");
    assert_eq!(
        h.args,
        [
            "--config=/cfg/pushpin.conf",
            "--ipc-prefix=p1-",
            "--port-offset=10",
            "--loglevel=3"
        ]
    );
}

#[test]
fn mongrel2_one_instance_per_port_and_m2adapter_for_a_foreign_proxy() {
    let cfg = config(
        "[global]\nrundir=/r\n[runner]\nservices=mongrel2,zurl,pushpin-proxy\nhttp_port=7999,8000\n\
         logdir=/l\nproxy_bin=/usr/bin/pushpin-proxy\n",
    );
    let plan = build(&cfg, &opts(), &env()).unwrap();
    let names: Vec<&str> = plan.children.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["m2 http:7999", "m2 http:8000", "m2a", "zurl", "proxy"]
    );
    let m = child(&plan, "m2 http:8000");
    assert_eq!(m.args, ["/r/mongrel2.sqlite", "default_8000"]);
    // both instances share the service's one log file (1.36: mongrel2_PORT.log each)
    assert_eq!(m.output, Output::File(PathBuf::from("/l/mongrel2.log")));
    assert_eq!(child(&plan, "m2 http:7999").output, m.output);
    assert_eq!(m.pid_file, None);
    let Setup::M2shLoad {
        config: (path, text),
        db,
        ..
    } = &plan.setup[0];
    assert_eq!(path, Path::new("/r/mongrel2.conf"));
    assert_eq!(db, Path::new("/r/mongrel2.sqlite"));
    assert!(
        text.contains("send_spec=\"ipc:///r/pushpin-m2-out-7999\""),
        "{text}"
    );
    assert!(text.contains("recv_ident=\"pushpin-m2-8000 \""), "{text}");
    assert!(text.contains("access_log=\"/l/access_8000.log\""), "{text}");
    assert!(text.contains("\"superpoll.max_fd\": 51000"), "{text}");
    assert!(
        text.contains("servers = [server_7999, server_8000]"),
        "{text}"
    );
    assert_eq!(
        child(&plan, "m2 http:7999").stale_file.as_deref(),
        Some(Path::new("/r/mongrel2_7999.pid"))
    );
    let a = child(&plan, "m2a");
    assert_eq!(
        a.args,
        [
            "--config=/r/m2adapter.conf",
            "--logfile=/l/m2adapter.log",
            "--loglevel=2"
        ]
    );
    let text = &a.generated.as_ref().unwrap().1;
    assert!(
        text.contains("m2_in_specs=ipc:///r/pushpin-m2-out-7999,ipc:///r/pushpin-m2-out-8000\n")
    );
    assert!(!plan.notes.is_empty());
}

#[test]
fn mongrel2_rejects_local_ports() {
    let cfg = config("[runner]\nservices=mongrel2\nhttp_port=1\n");
    let o = Options {
        port: None,
        ..opts()
    };
    assert!(build(&cfg, &o, &env()).is_ok());
    let mut cfg = cfg;
    cfg.runner.local_ports.push(PathBuf::from("/s"));
    let err = build(&cfg, &o, &env()).unwrap_err();
    assert_eq!(err, ["Cannot use local_ports option with mongrel2"]);
}

#[test]
fn programs_found_next_to_the_runner_first() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("pushpin-connmgr");
    std::fs::write(&bin, "").unwrap();
    let e = Env {
        runner_dir: Some(dir.path().to_path_buf()),
        cwd: PathBuf::from("/"),
        path: Some("/usr/bin:/bin".into()),
    };
    assert_eq!(e.resolve(Path::new("pushpin-connmgr")), bin);
    assert_eq!(e.resolve(Path::new("sh")), Path::new("/usr/bin/sh"));
    assert_eq!(e.resolve(Path::new("./x")), Path::new("./x"));
    assert_eq!(e.resolve(Path::new("nope-xyz")), Path::new("nope-xyz"));
}

#[test]
fn mongrel2_always_gets_m2adapter_in_front_of_the_proxy() {
    // Listed or not, m2adapter runs between mongrel2 and the proxy, after mongrel2 and
    // before the proxy; a note says why when services did not list it.
    for services in ["mongrel2,pushpin-proxy", "mongrel2,m2adapter,pushpin-proxy"] {
        let cfg = config(&format!("[runner]\nservices={services}\nhttp_port=1\n"));
        let plan = build(&cfg, &opts(), &env()).unwrap();
        let names: Vec<&str> = plan.children.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["m2 http:1", "m2a", "proxy"], "{services}");
        assert_eq!(
            plan.notes.iter().any(|n| n.contains("m2adapter: started")),
            !services.contains("m2adapter"),
            "{services}"
        );
    }
}

#[test]
fn mongrel2_gets_our_m2adapter_unless_the_real_one_is_asked_for() {
    // services without m2adapter and no m2adapter_bin: ours; listing m2adapter (1.36's
    // way) or setting m2adapter_bin: the real one.
    for (services, extra, program) in [
        ("mongrel2,pushpin-proxy", "", DEFAULT_M2ADAPTER_RS_BIN),
        ("mongrel2,m2adapter,pushpin-proxy", "", "m2adapter"),
        (
            "mongrel2,pushpin-proxy",
            "m2adapter_bin=/usr/bin/m2adapter\n",
            "/usr/bin/m2adapter",
        ),
    ] {
        let cfg = config(&format!(
            "[runner]\nservices={services}\nhttp_port=1\n{extra}"
        ));
        let plan = build(&cfg, &opts(), &env()).unwrap();
        assert_eq!(
            child(&plan, "m2a").program,
            Path::new(program),
            "{services} {extra}"
        );
    }
}

#[test]
fn files_named_after_the_service_names_as_written() {
    let cfg = config(
        "[global]\nrundir=/r\n[runner]\nservices=connmgr,proxy,handler\nhttp_port=1\nlogdir=/l\n",
    );
    let o = Options {
        service_names: vec!["connmgr".into(), "proxy".into(), "handler".into()],
        ..opts()
    };
    let plan = build(&cfg, &o, &env()).unwrap();
    let c = child(&plan, "connmgr");
    assert_eq!(c.pid_file.as_deref(), Some(Path::new("/r/connmgr.pid")));
    assert_eq!(c.output, Output::File(PathBuf::from("/l/connmgr.log")));
    let p = child(&plan, "proxy");
    assert_eq!(p.pid_file.as_deref(), Some(Path::new("/r/proxy.pid")));
    assert!(p.args.contains(&"--logfile=/l/proxy.log".to_owned()));
    let h = child(&plan, "handler");
    assert_eq!(h.pid_file.as_deref(), Some(Path::new("/r/handler.pid")));
}
