//! `pushpin`: parses the 1.36 command line, finds and validates the config, builds the plan
//! (exiting 1 with every error before any child starts), then runs it under
//! `pushpin_service::run_main`. Also the exec helper that arms the parent-death signal of a
//! child (`pushpin __pushpin-exec-child ...`, see `pushpin_runner::spawn`).

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::print_stdout))]

use std::ffi::OsString;
use std::process::ExitCode;

use pushpin_config::Overrides;
use pushpin_runner::cli::{self, Cli};
use pushpin_runner::plan::{self, Env, Options};
use pushpin_runner::spawn;
use pushpin_service::args::CommonArgs;

fn fail(lines: impl IntoIterator<Item = String>) -> ExitCode {
    for line in lines {
        eprintln!("error: {line}");
    }
    ExitCode::FAILURE
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    if let Some(rest) = args
        .get(1)
        .filter(|a| *a == spawn::EXEC_HELPER_ARG)
        .and_then(|_| args.get(2..))
    {
        return spawn::exec_child(rest);
    }
    let cli: Cli = pushpin_service::args::parse_from(args);
    let env = match Env::current() {
        Ok(env) => env,
        Err(e) => return fail([format!("{e:#}")]),
    };
    let exe = std::env::current_exe().ok();
    let config_path = match cli.config.clone() {
        Some(p) => p,
        None => match cli::find_config(exe.as_deref(), &env.cwd) {
            Ok(p) => p,
            Err(e) => return fail([e]),
        },
    };
    let overrides = Overrides {
        ipc_prefix: cli.id.map(|n| format!("p{n}-")),
        ..Overrides::default()
    };
    let config = match pushpin_config::load(&config_path, &overrides) {
        Ok(c) => c,
        Err(errors) => return fail(errors.0.iter().map(ToString::to_string)),
    };
    if let Err(errors) = config.check_runner(cli.port.is_some()) {
        return fail(errors.0.iter().map(ToString::to_string));
    }
    // The names as written in `services` (pid and log files are named after them).
    let service_names = std::fs::read(&config_path)
        .ok()
        .and_then(|bytes| {
            pushpin_config::parse(&String::from_utf8_lossy(&bytes), &config_path).ok()
        })
        .and_then(|raw| raw.get("runner", "services").map(|e| e.value.to_list()))
        .unwrap_or_default();
    let options = Options {
        config_path: config_path.clone(),
        port: cli.port,
        id: cli.id,
        routes: cli.route.clone(),
        merge_output: cli.merge_output,
        log_levels: cli.log_levels(),
        service_names,
    };
    let mut plan = match plan::build(&config, &options, &env) {
        Ok(p) => p,
        Err(errors) => return fail(errors),
    };
    plan.exec_helper = exe;
    if cli.merge_output {
        plan.merge_logfile = cli.logfile.clone();
    }
    let common = CommonArgs {
        config: Some(config_path.clone()),
        logfile: cli.logfile.clone(),
        loglevel: Some(plan.runner_level),
        verbose: false,
        ipc_prefix: None,
    };
    let searched = cli.config.is_none();
    let warnings: Vec<String> = config
        .warnings
        .iter()
        .filter(|w| w.key.starts_with("runner/") || w.key.starts_with("global/"))
        .map(|w| format!("{}: {} {:?}: {}", w.file.display(), w.key, w.value, w.kind))
        .collect();
    pushpin_service::run_main("pushpin", &common, move |shutdown| async move {
        if searched {
            tracing::info!("using config: {}", config_path.display());
        }
        for w in warnings {
            tracing::warn!("{w}");
        }
        pushpin_runner::run(plan, shutdown).await
    })
}
