//! Files the runner owns (spec/runner.md §4): pid files (decimal pid and `\n`, removed when the
//! child exits), generated config files, the `m2sh load` step, and stale ipc socket files.
//!
//! A stale ipc file is a Unix socket in rundir, named with our ipc prefix and one of the names
//! the suite uses, that nobody accepts on (connecting is refused). Those are left by a crashed
//! run; they are removed before the start and after the stop. ZeroMQ would bind over them
//! anyway, but a clean rundir makes a crashed run's leftovers obvious and keeps `ls` honest. A
//! live socket (another process still serves it) is never touched.

use std::io;
use std::os::unix::fs::FileTypeExt as _;
use std::os::unix::net::UnixStream;
use std::path::Path;

use anyhow::Context as _;
use tokio::process::Command;

/// The ipc names of the default internal.conf and the runner (spec/runner.md §4), without the
/// prefix; mongrel2 mode adds `m2-{out,in,control}-PORT`.
pub const IPC_NAMES: &[&str] = &[
    "condure",
    "condure-out",
    "condure-out-stream",
    "condure-in",
    "zurl-in",
    "zurl-in-stream",
    "zurl-out",
    "inspect",
    "accept",
    "retry",
    "ws-control-in",
    "ws-control-out",
    "proxy-stats",
    "proxy-command",
    "intreq-in",
    "intreq-in-stream",
    "intreq-out",
    "stats",
    "m2zhttp-in",
    "m2zhttp-out",
    "m2zhttp-out-stream",
    "m2zws-in",
    "m2zws-out",
    "m2zws-out-stream",
];

/// Writes `pid\n` to `path`.
pub fn write_pid(path: &Path, pid: u32) -> io::Result<()> {
    std::fs::write(path, format!("{pid}\n"))
}

/// Removes a file, ignoring "not found".
pub fn remove(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn is_our_ipc_name(name: &str, prefix: &str) -> bool {
    let Some(rest) = name.strip_prefix(prefix) else {
        return false;
    };
    if IPC_NAMES.contains(&rest) {
        return true;
    }
    ["m2-out-", "m2-in-", "m2-control-"].iter().any(|p| {
        rest.strip_prefix(p)
            .is_some_and(|port| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// Removes stale ipc socket files of `prefix` in `rundir`; returns how many.
pub fn remove_stale_ipc(rundir: &Path, prefix: &str) -> usize {
    let Ok(entries) = std::fs::read_dir(rundir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !is_our_ipc_name(name, prefix) {
            continue;
        }
        let path = entry.path();
        let is_socket = entry.file_type().is_ok_and(|t| t.is_socket());
        if is_socket
            && matches!(UnixStream::connect(&path), Err(e) if e.kind() == io::ErrorKind::ConnectionRefused)
            && std::fs::remove_file(&path).is_ok()
        {
            removed += 1;
        }
    }
    removed
}

/// Writes the mongrel2 config and runs `m2sh load -config CONF -db DB` (its output goes to
/// the runner's stdout, as in 1.36). Fails with `Failed to run m2sh` on a non-zero exit.
pub async fn m2sh_load(
    program: &Path,
    config: &(std::path::PathBuf, String),
    db: &Path,
) -> anyhow::Result<()> {
    let (path, text) = config;
    std::fs::write(path, text).with_context(|| {
        format!(
            "Failed to generate mongrel2 config file: {}",
            path.display()
        )
    })?;
    let status = Command::new(program)
        .arg("load")
        .arg("-config")
        .arg(path)
        .arg("-db")
        .arg(db)
        .stdin(std::process::Stdio::null())
        .status()
        .await
        .with_context(|| format!("Failed to run m2sh: {}", program.display()))?;
    anyhow::ensure!(status.success(), "Failed to run m2sh: {status}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipc_names() {
        assert!(is_our_ipc_name("pushpin-condure", "pushpin-"));
        assert!(is_our_ipc_name("p1-m2-out-7999", "p1-"));
        assert!(!is_our_ipc_name("pushpin-condure", "p1-"));
        assert!(!is_our_ipc_name("pushpin-m2-out-", "pushpin-"));
        assert!(!is_our_ipc_name("pushpin-zurl.conf", "pushpin-"));
    }

    #[test]
    fn stale_sockets_removed_live_kept() {
        let dir = tempfile::tempdir().unwrap();
        let stale = dir.path().join("pushpin-accept");
        let live = dir.path().join("pushpin-inspect");
        drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
        let _live = std::os::unix::net::UnixListener::bind(&live).unwrap();
        std::fs::write(dir.path().join("pushpin-stats"), b"not a socket").unwrap();
        assert_eq!(remove_stale_ipc(dir.path(), "pushpin-"), 1);
        assert!(!stale.exists());
        assert!(live.exists());
        assert!(dir.path().join("pushpin-stats").exists());
    }
}
