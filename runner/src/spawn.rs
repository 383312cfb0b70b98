//! Starting one child: its own process group (a terminal Ctrl-C reaches only the runner, as
//! in 1.36), stdin from `/dev/null`, output per [`Output`], and a parent-death signal so no
//! child outlives the runner even when the runner is SIGKILLed.
//!
//! The parent-death signal is set by the exec helper ([`exec_child`]): the runner binary run
//! as `pushpin __pushpin-exec-child PPID PROGRAM ARGS...`. Linux sends it when the *thread*
//! that forked the child exits, so all children are forked on one dedicated thread that is
//! never stopped (`pushpin-spawner`), and the async side gets a `tokio::process::Child` back
//! over a oneshot.

use std::ffi::{CString, OsString};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{ExitCode, Stdio};
use std::sync::OnceLock;

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use tokio::net::unix::pipe;
use tokio::sync::{mpsc, oneshot};

use crate::{ChildSpec, Output};

/// The first argument that puts the runner binary in exec-helper mode.
pub const EXEC_HELPER_ARG: &str = "__pushpin-exec-child";

/// Pending spawn requests; the spawner handles one at a time, callers wait (backpressure).
const SPAWN_QUEUE: usize = 16;

/// A started child: the process and, when merging output, the read end of its output pipe.
#[derive(Debug)]
pub struct Started {
    /// The process.
    pub child: tokio::process::Child,
    /// stdout+stderr, with `--merge-output`.
    pub output: Option<pipe::Receiver>,
}

struct Request {
    command: std::process::Command,
    handle: tokio::runtime::Handle,
    reply: oneshot::Sender<io::Result<tokio::process::Child>>,
}

fn spawner() -> io::Result<&'static mpsc::Sender<Request>> {
    static SPAWNER: OnceLock<mpsc::Sender<Request>> = OnceLock::new();
    if let Some(tx) = SPAWNER.get() {
        return Ok(tx);
    }
    let (tx, rx) = mpsc::channel(SPAWN_QUEUE);
    std::thread::Builder::new()
        .name("pushpin-spawner".into())
        .spawn(move || spawner_loop(rx))?;
    // Two racing first calls would each start a thread; the loser's thread ends at once
    // (its sender is dropped here) and has forked nothing.
    Ok(SPAWNER.get_or_init(|| tx))
}

fn spawner_loop(mut rx: mpsc::Receiver<Request>) {
    while let Some(req) = rx.blocking_recv() {
        let _guard = req.handle.enter();
        let mut command = tokio::process::Command::from(req.command);
        let result = command.spawn();
        // The requester may have gone away; the child then belongs to nobody, so stop it.
        if let Err(Ok(mut child)) = req.reply.send(result) {
            let _ = child.start_kill();
        }
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// Starts `spec` (through `helper` when given).
pub async fn start(spec: &ChildSpec, helper: Option<&Path>) -> io::Result<Started> {
    let mut command = match helper {
        Some(helper) => {
            let mut c = std::process::Command::new(helper);
            c.arg(EXEC_HELPER_ARG)
                .arg(std::process::id().to_string())
                .arg(&spec.program)
                .arg0(&spec.program);
            c
        }
        None => std::process::Command::new(&spec.program),
    };
    command
        .args(&spec.args)
        .stdin(Stdio::null())
        .process_group(0);
    let mut merged = None;
    match &spec.output {
        Output::File(path) => {
            let file = open_append(path)?;
            command.stdout(file.try_clone()?).stderr(file);
        }
        Output::OwnLog { stderr } => {
            command.stdout(Stdio::null()).stderr(open_append(stderr)?);
        }
        Output::Merge => {
            let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
            let write2: OwnedFd = write.try_clone()?;
            command.stdout(write).stderr(write2);
            merged = Some(pipe::Receiver::from_owned_fd(read)?);
        }
    }
    let (reply, wait) = oneshot::channel();
    let req = Request {
        command,
        handle: tokio::runtime::Handle::current(),
        reply,
    };
    let tx = spawner()?;
    // Waits only while SPAWN_QUEUE requests are pending, each a fork+exec.
    tx.send(req)
        .await
        .map_err(|_| io::Error::other("the spawner thread is gone"))?;
    let child = wait
        .await
        .map_err(|_| io::Error::other("the spawner thread dropped the request"))??;
    Ok(Started {
        child,
        output: merged,
    })
}

/// Sends `signal` to `pid` (a child we have not reaped yet); errors are ignored (it is gone).
pub fn signal(pid: u32, signal: Signal) {
    if let Ok(pid) = i32::try_from(pid) {
        let _ = nix::sys::signal::kill(Pid::from_raw(pid), signal);
    }
}

/// The exec helper: `args` are what follows [`EXEC_HELPER_ARG`]: the runner's pid, the
/// program and its arguments. Sets SIGKILL as the parent-death signal, checks the parent,
/// then replaces itself with the program. Returns only on failure.
pub fn exec_child(args: &[OsString]) -> ExitCode {
    let [ppid, program, rest @ ..] = args else {
        eprintln!("{EXEC_HELPER_ARG}: expected PPID PROGRAM [ARGS...]");
        return ExitCode::from(127);
    };
    if let Err(e) = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL) {
        eprintln!("{EXEC_HELPER_ARG}: prctl(PR_SET_PDEATHSIG): {e}");
        return ExitCode::from(127);
    }
    let expected = ppid.to_str().and_then(|s| s.parse::<i32>().ok());
    if expected != Some(nix::unistd::getppid().as_raw()) {
        // The runner died before the death signal was armed.
        return ExitCode::from(127);
    }
    let to_c = |s: &OsString| CString::new(s.as_bytes());
    let argv: Result<Vec<CString>, _> = std::iter::once(program).chain(rest).map(to_c).collect();
    let (Ok(path), Ok(argv)) = (to_c(program), argv) else {
        eprintln!("{EXEC_HELPER_ARG}: argument with a NUL byte");
        return ExitCode::from(127);
    };
    let err = match nix::unistd::execv(&path, &argv) {
        Err(e) => e,
        Ok(never) => match never {},
    };
    eprintln!("Error running: {}: {err}", program.to_string_lossy());
    ExitCode::from(127)
}
