//! Supervision (spec/runner.md §2 steps 8–9, §5): start the children in order, restart one that
//! exits unexpectedly with capped backoff (giving up after repeated fast failures), forward
//! SIGHUP, and on shutdown stop them in reverse order, SIGKILL after [`STOP_TIMEOUT`].
//!
//! Each running child is owned by a watcher task that waits for its exit and applies signals
//! sent to it by PID only while the child is unreaped (`Child::id()` is `None` afterwards), so a
//! recycled PID is never signalled. Watchers report exits on one bounded channel sized for one
//! message per child generation in flight, so a send never waits long.
//!
//! States of a slot: `Running` → (exit) → `Backoff { until }` → (timer) → `Running`; any state
//! → `Stopped` during the stop. What a restart means for clients: held connections live in the
//! connection manager, so a restarted handler or proxy does not close them; sessions whose
//! state was in the dead process end when the connection manager's keep-alive to it times out.

use std::collections::VecDeque;
use std::future::Future;
use std::path::Path;
use std::process::ExitStatus;
use std::time::Duration;

use anyhow::Context as _;
use nix::sys::signal::Signal;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until, timeout_at};
use tracing::{debug, error, info, warn};

use crate::merge::Sink;
use crate::{
    BACKOFF_MAX, BACKOFF_MIN, ChildSpec, FAILURE_WINDOW, MAX_FAST_FAILURES, Plan, STABLE_RUN,
    STOP_TIMEOUT, Setup, files, spawn,
};

/// Signals queued for one watcher (each is applied at once; more than a few never pile up).
const CONTROL_QUEUE: usize = 8;
/// After SIGKILL, how long to wait for the exit before giving up on a child.
const KILL_WAIT: Duration = Duration::from_secs(2);

#[derive(Debug)]
struct Exit {
    idx: usize,
    generation: u64,
    status: std::io::Result<ExitStatus>,
}

#[derive(Debug)]
enum State {
    Running {
        control: mpsc::Sender<Signal>,
        since: Instant,
    },
    Backoff {
        until: Instant,
    },
    Stopped,
}

#[derive(Debug)]
struct Slot {
    spec: ChildSpec,
    state: State,
    generation: u64,
    fast_failures: VecDeque<Instant>,
    killed: bool,
    terminated: bool,
}

struct Supervisor {
    slots: Vec<Slot>,
    exits_tx: mpsc::Sender<Exit>,
    exits: mpsc::Receiver<Exit>,
    tasks: JoinSet<()>,
    merge: Option<Sink>,
    helper: Option<std::path::PathBuf>,
    stop_errors: usize,
}

/// See [`crate::run`].
pub async fn run(plan: Plan, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    std::fs::create_dir_all(&plan.rundir)
        .with_context(|| format!("failed to create directory: {}", plan.rundir.display()))?;
    if let Some(logdir) = &plan.logdir {
        std::fs::create_dir_all(logdir)
            .with_context(|| format!("failed to create directory: {}", logdir.display()))?;
    }
    let stale = files::remove_stale_ipc(&plan.rundir, &plan.ipc_prefix);
    if stale > 0 {
        info!(
            "removed {stale} stale ipc files in {}",
            plan.rundir.display()
        );
    }
    for note in &plan.notes {
        info!("{note}");
    }
    for step in &plan.setup {
        match step {
            Setup::M2shLoad {
                program,
                config,
                db,
            } => files::m2sh_load(program, config, db).await?,
        }
    }
    if plan.children.is_empty() {
        warn!("no known service in services; nothing to run");
        return Ok(());
    }
    let merge = if plan.logdir.is_none() {
        Some(Sink::start(plan.merge_logfile.clone()).context("starting the merged output")?)
    } else {
        None
    };
    let capacity = plan.children.len() * 2;
    let (exits_tx, exits) = mpsc::channel(capacity);
    let mut sup = Supervisor {
        slots: plan
            .children
            .iter()
            .map(|spec| Slot {
                spec: spec.clone(),
                state: State::Stopped,
                generation: 0,
                fast_failures: VecDeque::new(),
                killed: false,
                terminated: false,
            })
            .collect(),
        exits_tx,
        exits,
        tasks: JoinSet::new(),
        merge,
        helper: plan.exec_helper.clone(),
        stop_errors: 0,
    };
    let result = sup.supervise(shutdown).await;
    sup.stop_all().await;
    sup.tasks.shutdown().await;
    let removed = files::remove_stale_ipc(&plan.rundir, &plan.ipc_prefix);
    debug!("removed {removed} ipc files");
    result?;
    anyhow::ensure!(
        sup.stop_errors == 0,
        "{} services stopped badly",
        sup.stop_errors
    );
    Ok(())
}

impl Supervisor {
    async fn supervise(&mut self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let merging = self.merge.is_some();
        for idx in 0..self.slots.len() {
            let slot = &self.slots[idx];
            if !merging || slot.spec.service == pushpin_config::Service::Mongrel2 {
                info!("starting {}", slot.spec.name);
            }
            if let Err(e) = self.start(idx).await {
                error!("{e:#}");
                anyhow::bail!("{}: could not start", self.slots[idx].spec.name);
            }
        }
        info!("started");
        let mut hups = match pushpin_service::signal::hup_signals() {
            Ok(h) => Some(h),
            Err(e) => {
                warn!("SIGHUP will not be forwarded: {e}");
                None
            }
        };
        tokio::pin!(shutdown);
        loop {
            let next_restart = self
                .slots
                .iter()
                .filter_map(|s| match s.state {
                    State::Backoff { until } => Some(until),
                    _ => None,
                })
                .min();
            tokio::select! {
                () = &mut shutdown => return Ok(()),
                Some(()) = async { hups.as_mut()?.recv().await } => {
                    info!("reloading");
                    self.forward_hup().await;
                }
                Some(exit) = self.exits.recv() => self.on_exit(exit)?,
                () = async { sleep_until(next_restart.unwrap_or_else(Instant::now)).await },
                    if next_restart.is_some() => self.restart_due().await?,
            }
        }
    }

    /// Prepares and spawns slot `idx`; on success it is `Running`.
    async fn start(&mut self, idx: usize) -> anyhow::Result<()> {
        // Reap finished watcher/forwarder tasks so restarts do not accumulate them.
        while self.tasks.try_join_next().is_some() {}
        let helper = self.helper.clone();
        let slot = &mut self.slots[idx];
        let spec = &slot.spec;
        if let Some((path, text)) = &spec.generated {
            std::fs::write(path, text).with_context(|| {
                format!(
                    "{}: Failure preparing to start: writing {}",
                    spec.name,
                    path.display()
                )
            })?;
        }
        if let Some(stale) = &spec.stale_file {
            files::remove(stale)
                .with_context(|| format!("{}: removing stale {}", spec.name, stale.display()))?;
        }
        if !is_executable(&spec.program) {
            anyhow::bail!("{}: Error running: {}", spec.name, spec.program.display());
        }
        debug!(
            "running: {} {}",
            spec.program.display(),
            spec.args.join(" ")
        );
        let started = spawn::start(spec, helper.as_deref())
            .await
            .with_context(|| format!("{}: Error running: {}", spec.name, spec.program.display()))?;
        let pid = started.child.id().unwrap_or(0);
        if let Some(pid_file) = &spec.pid_file {
            if let Err(e) = files::write_pid(pid_file, pid) {
                warn!("{}: cannot write {}: {e}", spec.name, pid_file.display());
            }
        }
        if let (Some(output), Some(sink)) = (started.output, &self.merge) {
            self.tasks
                .spawn(sink.clone().forward(spec.name.clone(), output));
        }
        slot.generation += 1;
        slot.killed = false;
        slot.terminated = false;
        let (control, control_rx) = mpsc::channel(CONTROL_QUEUE);
        slot.state = State::Running {
            control,
            since: Instant::now(),
        };
        self.tasks.spawn(watch(
            idx,
            slot.generation,
            started.child,
            control_rx,
            self.exits_tx.clone(),
        ));
        Ok(())
    }

    async fn forward_hup(&self) {
        for slot in &self.slots {
            if let (true, State::Running { control, .. }) = (slot.spec.hup, &slot.state) {
                let _ = control.send(Signal::SIGHUP).await;
            }
        }
    }

    /// Records an exit; unexpected ones schedule a restart or give up.
    fn on_exit(&mut self, exit: Exit) -> anyhow::Result<()> {
        let slot = &mut self.slots[exit.idx];
        if exit.generation != slot.generation {
            return Ok(());
        }
        let State::Running { since, .. } = slot.state else {
            return Ok(());
        };
        if let Some(pid_file) = &slot.spec.pid_file {
            let _ = files::remove(pid_file);
        }
        let now = Instant::now();
        let how = describe(&exit.status);
        error!("{}: Exited unexpectedly ({how})", slot.spec.name);
        if now.duration_since(since) >= STABLE_RUN {
            slot.fast_failures.clear();
        }
        slot.fast_failures.push_back(now);
        self.schedule_restart(exit.idx, now)
    }

    fn schedule_restart(&mut self, idx: usize, now: Instant) -> anyhow::Result<()> {
        let slot = &mut self.slots[idx];
        while slot
            .fast_failures
            .front()
            .is_some_and(|t| now.duration_since(*t) > FAILURE_WINDOW)
        {
            slot.fast_failures.pop_front();
        }
        let failures = slot.fast_failures.len();
        if failures >= MAX_FAST_FAILURES {
            slot.state = State::Stopped;
            anyhow::bail!(
                "{}: failed {failures} times within {}s; giving up",
                slot.spec.name,
                FAILURE_WINDOW.as_secs()
            );
        }
        let exp = u32::try_from(failures.saturating_sub(1))
            .unwrap_or(u32::MAX)
            .min(16);
        let delay = BACKOFF_MIN.saturating_mul(1 << exp).min(BACKOFF_MAX);
        info!("{}: restarting in {} ms", slot.spec.name, delay.as_millis());
        slot.state = State::Backoff { until: now + delay };
        Ok(())
    }

    async fn restart_due(&mut self) -> anyhow::Result<()> {
        let now = Instant::now();
        for idx in 0..self.slots.len() {
            if matches!(self.slots[idx].state, State::Backoff { until } if until <= now) {
                if let Err(e) = self.start(idx).await {
                    error!("{e:#}");
                    let slot = &mut self.slots[idx];
                    slot.state = State::Stopped;
                    slot.fast_failures.push_back(now);
                    self.schedule_restart(idx, now)?;
                }
            }
        }
        Ok(())
    }

    /// Stops every running child in reverse start order: SIGTERM, wait up to
    /// [`STOP_TIMEOUT`], then SIGKILL.
    async fn stop_all(&mut self) {
        let merging = self.merge.is_some();
        for idx in (0..self.slots.len()).rev() {
            let slot = &mut self.slots[idx];
            let control = match &slot.state {
                State::Running { control, .. } => control.clone(),
                State::Backoff { .. } | State::Stopped => {
                    slot.state = State::Stopped;
                    continue;
                }
            };
            if !merging || slot.spec.service == pushpin_config::Service::Mongrel2 {
                info!("stopping {}", slot.spec.name);
            }
            slot.terminated = true;
            let _ = control.send(Signal::SIGTERM).await;
            if !self.wait_stopped(idx, Instant::now() + STOP_TIMEOUT).await {
                let slot = &mut self.slots[idx];
                warn!("{} taking too long, forcing quit", slot.spec.name);
                slot.killed = true;
                let _ = control.send(Signal::SIGKILL).await;
                if !self.wait_stopped(idx, Instant::now() + KILL_WAIT).await {
                    error!("{}: still running after SIGKILL", self.slots[idx].spec.name);
                    self.stop_errors += 1;
                }
            }
        }
    }

    /// Handles exits until slot `idx` has stopped or `deadline` passes; true if it stopped.
    async fn wait_stopped(&mut self, idx: usize, deadline: Instant) -> bool {
        loop {
            if matches!(self.slots[idx].state, State::Stopped) {
                return true;
            }
            match timeout_at(deadline, self.exits.recv()).await {
                Ok(Some(exit)) => self.on_stop_exit(exit),
                Ok(None) | Err(_) => return false,
            }
        }
    }

    /// An exit during the stop (spec/runner.md §5.2).
    fn on_stop_exit(&mut self, exit: Exit) {
        let slot = &mut self.slots[exit.idx];
        if exit.generation != slot.generation {
            return;
        }
        slot.state = State::Stopped;
        if let Some(pid_file) = &slot.spec.pid_file {
            let _ = files::remove(pid_file);
        }
        let name = &slot.spec.name;
        match &exit.status {
            Ok(s) if s.success() => {}
            Ok(s) => {
                use std::os::unix::process::ExitStatusExt as _;
                match (s.code(), s.signal()) {
                    (Some(code), _) => {
                        error!("{name}: Unexpected return code: {code}");
                        self.stop_errors += 1;
                    }
                    (None, Some(9)) if slot.killed => {}
                    (None, Some(15)) if slot.terminated => {}
                    _ => {
                        error!("{name}: Exited uncleanly");
                        self.stop_errors += 1;
                    }
                }
            }
            Err(e) => {
                error!("{name}: {e}");
                self.stop_errors += 1;
            }
        }
    }
}

fn describe(status: &std::io::Result<ExitStatus>) -> String {
    match status {
        Ok(s) => s.to_string(),
        Err(e) => format!("wait failed: {e}"),
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Owns one child until it exits; applies signals while it is unreaped.
async fn watch(
    idx: usize,
    generation: u64,
    mut child: tokio::process::Child,
    mut control: mpsc::Receiver<Signal>,
    exits: mpsc::Sender<Exit>,
) {
    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            Some(sig) = control.recv() => {
                if let Some(pid) = child.id() {
                    spawn::signal(pid, sig);
                }
            }
        }
    };
    let _ = exits
        .send(Exit {
            idx,
            generation,
            status,
        })
        .await;
}
