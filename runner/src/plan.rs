//! Turning a validated `pushpin.conf` plus the command line into the exact child processes to
//! run (spec/runner.md §2–§4): program paths, argument lists, pid and log files, which children
//! get SIGHUP, and the generated `zurl.conf` / `m2adapter.conf` / `mongrel2.conf`. Pure apart
//! from looking programs up on disk ([`Env::resolve`]), so the argument lists are unit-tested.

use std::path::{Path, PathBuf};

use pushpin_config::runner::Program;
use pushpin_config::{Config, ListenAddr, LogLevels, Service};

use crate::template::{self, Value, Vars};
use crate::{ChildSpec, Output, Plan, Setup};

/// Our zurl when `zurl_bin` is not set (the config crate's default is 1.36's `zurl`).
pub const DEFAULT_ZURL_RS_BIN: &str = "zurl-rs";

/// Our mongrel2 adapter (`proxy/src/m2.rs`), started between mongrel2 and the proxy
/// unless `m2adapter_bin` is set or `services` lists `m2adapter` (then the real one).
pub const DEFAULT_M2ADAPTER_RS_BIN: &str = "pushpin-m2adapter";

/// `zurl.conf` template (`config/zurl.conf.template`), compiled in so a moved binary works.
const ZURL_TEMPLATE: &str = include_str!("../../config/zurl.conf.template");
/// `mongrel2.conf` template (`config/mongrel2.conf.template`).
const MONGREL2_TEMPLATE: &str = include_str!("../../config/mongrel2.conf.template");
/// 1.36's `m2adapter.conf.template`, read by our `pushpin-m2adapter` and the real m2adapter.
const M2ADAPTER_TEMPLATE: &str = include_str!("../templates/m2adapter.conf.template");

/// What the command line adds to the file (spec/runner.md §1).
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The config file as given (or as found), passed on verbatim to proxy and handler.
    pub config_path: PathBuf,
    /// `--port`: the only listener.
    pub port: Option<ListenAddr>,
    /// `--id`.
    pub id: Option<u32>,
    /// `--route` lines.
    pub routes: Vec<String>,
    /// `-m`.
    pub merge_output: bool,
    /// `--loglevel` / `--verbose`, replacing `[runner] log_level`.
    pub log_levels: Option<LogLevels>,
    /// `[runner] services` as written. A service's pid and log files are named after the name
    /// used there (`condure.log`, or `connmgr.log` for our alias), so the 1.36 names give the
    /// 1.36 files.
    pub service_names: Vec<String>,
}

impl Options {
    /// The name `service` was written as in `services`, else its 1.36 name.
    fn file_name(&self, service: Service) -> String {
        self.service_names
            .iter()
            .find(|n| n.parse::<Service>() == Ok(service))
            .cloned()
            .unwrap_or_else(|| service.as_str().to_owned())
    }
}

/// Where programs are looked up and paths resolved.
#[derive(Debug, Clone)]
pub struct Env {
    /// The runner executable's directory (our binaries are looked up here first).
    pub runner_dir: Option<PathBuf>,
    /// The current directory (rundir and logdir are made absolute against it).
    pub cwd: PathBuf,
    /// `PATH`.
    pub path: Option<std::ffi::OsString>,
}

impl Env {
    /// From the running process.
    pub fn current() -> anyhow::Result<Self> {
        let runner_dir = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf));
        Ok(Self {
            runner_dir,
            cwd: std::env::current_dir()?,
            path: std::env::var_os("PATH"),
        })
    }

    /// A program: a path with `/` as given, else next to the runner, else on `PATH`, else the
    /// bare name (spawning it then fails with a clear error).
    pub fn resolve(&self, program: &Path) -> PathBuf {
        if program.components().count() > 1 || program.is_absolute() {
            return program.to_path_buf();
        }
        let candidates = self
            .runner_dir
            .iter()
            .cloned()
            .chain(self.path.iter().flat_map(std::env::split_paths));
        for dir in candidates {
            let p = dir.join(program);
            if p.is_file() {
                return p;
            }
        }
        program.to_path_buf()
    }
}

fn absolute(cwd: &Path, p: &Path) -> PathBuf {
    if p.as_os_str().is_empty() {
        cwd.to_path_buf()
    } else {
        cwd.join(p)
    }
}

/// One listener of the runner.
#[derive(Debug, Clone)]
enum Listener {
    Http(ListenAddr),
    Https(ListenAddr),
    Local(PathBuf),
}

/// Builds the plan; every problem is returned (the caller prints them and exits 1).
pub fn build(cfg: &Config, opts: &Options, env: &Env) -> Result<Plan, Vec<String>> {
    let r = &cfg.runner;
    let mut errors = Vec::new();
    let levels = opts
        .log_levels
        .clone()
        .unwrap_or_else(|| r.log_level.clone());
    let (ipc_prefix, file_prefix) = match opts.id {
        Some(n) => (format!("p{n}-"), format!("p{n}-")),
        None => (r.ipc_prefix.clone(), String::new()),
    };
    let rundir = absolute(&env.cwd, &r.rundir);
    let logdir = (!opts.merge_output).then(|| absolute(&env.cwd, &r.logdir));
    let listeners: Vec<Listener> = match opts.port {
        Some(p) => vec![Listener::Http(p)],
        None => r
            .http_port
            .iter()
            .map(|a| Listener::Http(*a))
            .chain(r.https_ports.iter().map(|a| Listener::Https(*a)))
            .chain(r.local_ports.iter().map(|p| Listener::Local(p.clone())))
            .collect(),
    };
    let conf = opts.config_path.display().to_string();
    let log_of = |name: &str| {
        logdir
            .as_ref()
            .map(|d| d.join(format!("{file_prefix}{name}.log")))
    };
    let pid_of = |name: &str| rundir.join(format!("{file_prefix}{name}.pid"));
    let output_own_log = |name: &str| match log_of(name) {
        Some(path) => Output::OwnLog { stderr: path },
        None => Output::Merge,
    };
    let mut children = Vec::new();
    let mut setup = Vec::new();
    let mut notes = Vec::new();
    let program = |p: &Program| env.resolve(&p.path);

    // 1.36's proxy does not read mongrel2's handler sockets, so with mongrel2 an adapter
    // always runs between them and the proxy and handler use the `m2a_*` specs. It is our
    // `pushpin-m2adapter` unless `m2adapter_bin` is set or `services` lists `m2adapter`
    // (1.36's way of asking for it), which start the real m2adapter.
    let want_m2adapter = r.has(Service::M2adapter) || r.has(Service::Mongrel2);
    let real_m2adapter = r.has(Service::M2adapter) || r.m2adapter_bin.explicit;
    if want_m2adapter && !r.has(Service::M2adapter) {
        notes.push(format!(
            "m2adapter: started because mongrel2 is in services ({})",
            if real_m2adapter {
                "m2adapter_bin is set: the real m2adapter"
            } else {
                "our pushpin-m2adapter; list m2adapter in services or set m2adapter_bin for the real one"
            }
        ));
    }

    for service in Service::START_ORDER {
        let wanted = match service {
            Service::M2adapter => want_m2adapter,
            s => r.has(s),
        };
        if !wanted {
            continue;
        }
        let level = levels.for_service(service);
        match service {
            Service::Connmgr => {
                let file = opts.file_name(service);
                let mut args = vec![format!("--log-level={level}")];
                let mut tls = false;
                for l in &listeners {
                    args.push(match l {
                        Listener::Http(a) => format!("--listen={a},stream"),
                        Listener::Https(a) => {
                            tls = true;
                            format!("--listen={a},stream,tls,default-cert=default_{}", a.port)
                        }
                        Listener::Local(p) => format!("--listen={},local,stream", p.display()),
                    });
                }
                args.push(format!(
                    "--zclient-stream=ipc://{}/{ipc_prefix}condure",
                    rundir.display()
                ));
                args.push(format!("--buffer-size={}", r.client_buffer_size));
                args.push(format!("--stream-maxconn={}", r.client_maxconn));
                if tls {
                    args.push(format!("--tls-identities-dir={}", r.certs_dir.display()));
                }
                children.push(ChildSpec {
                    service,
                    name: file.clone(),
                    program: program(r.connmgr_program()),
                    args,
                    pid_file: Some(pid_of(&file)),
                    output: match log_of(&file) {
                        Some(path) => Output::File(path),
                        None => Output::Merge,
                    },
                    hup: false,
                    generated: None,
                    stale_file: None,
                });
            }
            Service::Mongrel2 => {
                mongrel2(
                    cfg,
                    &listeners,
                    level,
                    (&rundir, logdir.as_deref(), &ipc_prefix, &file_prefix),
                    &mut children,
                    &mut setup,
                    &mut errors,
                    env,
                );
            }
            Service::M2adapter => {
                let conf_path = rundir.join(format!("{file_prefix}m2adapter.conf"));
                let ports: Vec<Value> = listeners
                    .iter()
                    .filter_map(|l| match l {
                        Listener::Http(a) | Listener::Https(a) => Some(a.port.to_string().into()),
                        Listener::Local(_) => None,
                    })
                    .collect();
                let mut vars = base_vars(&rundir, &ipc_prefix);
                vars.insert("ports".into(), Value::List(ports));
                let text = render("m2adapter", M2ADAPTER_TEMPLATE, &vars, &mut errors);
                let mut args = vec![format!("--config={}", conf_path.display())];
                if let Some(log) = log_of("m2adapter") {
                    args.push(format!("--logfile={}", log.display()));
                }
                args.push(format!("--loglevel={level}"));
                children.push(ChildSpec {
                    service,
                    name: "m2a".into(),
                    program: if real_m2adapter {
                        program(&r.m2adapter_bin)
                    } else {
                        env.resolve(Path::new(DEFAULT_M2ADAPTER_RS_BIN))
                    },
                    args,
                    pid_file: Some(pid_of("m2adapter")),
                    output: output_own_log("m2adapter"),
                    hup: true,
                    generated: Some((conf_path, text)),
                    stale_file: None,
                });
            }
            Service::Zurl => {
                let conf_path = rundir.join(format!("{file_prefix}zurl.conf"));
                let vars = base_vars(&rundir, &ipc_prefix);
                let text = render("zurl", ZURL_TEMPLATE, &vars, &mut errors);
                let mut args = vec![format!("--config={}", conf_path.display())];
                if let Some(log) = log_of("zurl") {
                    args.push(format!("--logfile={}", log.display()));
                }
                args.push(if level >= 3 {
                    "--verbose".to_owned()
                } else {
                    format!("--loglevel={level}")
                });
                let zurl = if r.zurl_bin.explicit {
                    program(&r.zurl_bin)
                } else {
                    env.resolve(Path::new(DEFAULT_ZURL_RS_BIN))
                };
                children.push(ChildSpec {
                    service,
                    name: "zurl".into(),
                    program: zurl,
                    args,
                    pid_file: Some(pid_of("zurl")),
                    output: output_own_log("zurl"),
                    hup: true,
                    generated: Some((conf_path, text)),
                    stale_file: None,
                });
            }
            Service::Proxy | Service::Handler => {
                let name = opts.file_name(service);
                let display = if service == Service::Proxy {
                    "proxy"
                } else {
                    "handler"
                };
                let mut args = vec![format!("--config={conf}")];
                if !ipc_prefix.is_empty() {
                    args.push(format!("--ipc-prefix={ipc_prefix}"));
                }
                let offset = opts.id.map_or(0, |n| u64::from(n) * 10);
                if service == Service::Handler && offset > 0 {
                    args.push(format!("--port-offset={offset}"));
                }
                if let Some(log) = log_of(&name) {
                    args.push(format!("--logfile={}", log.display()));
                }
                args.push(format!("--loglevel={level}"));
                if service == Service::Proxy {
                    args.extend(opts.routes.iter().map(|l| format!("--route={l}")));
                    if r.has(Service::Zurl) {
                        args.push("--quiet-check".into());
                    }
                }
                let prog = if service == Service::Proxy {
                    program(&r.proxy_bin)
                } else {
                    program(&r.handler_bin)
                };
                children.push(ChildSpec {
                    service,
                    name: display.into(),
                    program: prog,
                    args,
                    pid_file: Some(pid_of(&name)),
                    output: output_own_log(&name),
                    hup: true,
                    generated: None,
                    stale_file: None,
                });
            }
        }
    }
    if errors.is_empty() {
        Ok(Plan {
            children,
            setup,
            notes,
            rundir,
            logdir,
            ipc_prefix,
            runner_level: levels.level_for("runner"),
            ..Plan::default()
        })
    } else {
        Err(errors)
    }
}

fn base_vars(rundir: &Path, ipc_prefix: &str) -> Vars {
    let mut vars = Vars::new();
    vars.insert("rundir".into(), rundir.display().to_string().into());
    vars.insert("ipc_prefix".into(), ipc_prefix.into());
    vars
}

fn render(name: &str, template: &str, vars: &Vars, errors: &mut Vec<String>) -> String {
    template::render(template, vars).unwrap_or_else(|e| {
        errors.push(format!("Failed to generate {name} config file: {e}"));
        String::new()
    })
}

/// The mongrel2 service: one config, one `m2sh load`, one mongrel2 per listener (§3.5).
#[expect(
    clippy::too_many_arguments,
    reason = "one call site; splitting the tuple gains nothing"
)]
fn mongrel2(
    cfg: &Config,
    listeners: &[Listener],
    level: u32,
    (rundir, logdir, ipc_prefix, file_prefix): (&Path, Option<&Path>, &str, &str),
    children: &mut Vec<ChildSpec>,
    setup: &mut Vec<Setup>,
    errors: &mut Vec<String>,
    env: &Env,
) {
    let r = &cfg.runner;
    let mut interfaces = Vec::new();
    let mut ports = Vec::new();
    for l in listeners {
        let (a, ssl) = match l {
            Listener::Http(a) => (a, false),
            Listener::Https(a) => (a, true),
            Listener::Local(_) => {
                errors.push("Cannot use local_ports option with mongrel2".into());
                continue;
            }
        };
        let mut m = std::collections::BTreeMap::new();
        m.insert("addr".to_owned(), Value::from(a.addr.to_string()));
        m.insert("port".to_owned(), Value::Int(i64::from(a.port)));
        m.insert("ssl".to_owned(), Value::Bool(ssl));
        interfaces.push(Value::Map(m));
        ports.push((a.port, ssl));
    }
    let mut vars = base_vars(rundir, ipc_prefix);
    vars.insert("interfaces".into(), Value::List(interfaces));
    vars.insert(
        "logdir".into(),
        logdir
            .map_or(String::new(), |d| d.display().to_string())
            .into(),
    );
    vars.insert("loglevel".into(), Value::Int(i64::from(level)));
    vars.insert("certdir".into(), r.certs_dir.display().to_string().into());
    vars.insert("file_prefix".into(), file_prefix.into());
    vars.insert(
        "limits_buffer_size".into(),
        Value::Int(i64::try_from(r.client_buffer_size).unwrap_or(i64::MAX)),
    );
    vars.insert(
        "disable_access_logging".into(),
        Value::Int(if level >= 2 { 0 } else { 1 }),
    );
    let max_fd = i64::try_from(r.client_maxconn)
        .unwrap_or(i64::MAX)
        .saturating_add(1000);
    vars.insert("superpoll_max_fd".into(), Value::Int(max_fd));
    let text = render("mongrel2", MONGREL2_TEMPLATE, &vars, errors);
    let conf = rundir.join(format!("{file_prefix}mongrel2.conf"));
    let db = rundir.join(format!("{file_prefix}mongrel2.sqlite"));
    setup.push(Setup::M2shLoad {
        program: env.resolve(&r.m2sh_bin.path),
        config: (conf, text),
        db: db.clone(),
    });
    // Deviation: every instance appends to one `mongrel2.log`, the `<service>.log` every
    // other service has (1.36 writes `mongrel2_PORT.log` per listener). The per-port
    // detail stays in mongrel2's own `access_PORT.log` and `error_PORT.log`.
    let output = match logdir {
        Some(d) => Output::File(d.join(format!("{file_prefix}mongrel2.log"))),
        None => Output::Merge,
    };
    for (port, ssl) in ports {
        children.push(ChildSpec {
            service: Service::Mongrel2,
            name: format!("m2 {}:{port}", if ssl { "https" } else { "http" }),
            program: env.resolve(&r.mongrel2_bin.path),
            args: vec![db.display().to_string(), format!("default_{port}")],
            // mongrel2 writes its own pid file; a crashed one leaves it behind
            pid_file: None,
            output: output.clone(),
            hup: true,
            generated: None,
            stale_file: Some(rundir.join(format!("{file_prefix}mongrel2_{port}.pid"))),
        });
    }
}

#[cfg(test)]
mod tests;
