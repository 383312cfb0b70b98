//! Bind-time handling of `ipc://` paths: the stale-file policy and
//! `ipc_file_mode`.
//!
//! libzmq unlinks an ipc path unconditionally before binding it, so a second
//! process binding the same path silently steals it from a live one. We check
//! first:
//!
//! * no file: bind;
//! * a socket nobody accepts on (`ECONNREFUSED`, left behind by a crashed or
//!   killed process): remove it, then bind;
//! * a socket that accepts a connection: [`Error::IpcInUse`];
//! * anything that is not a socket: [`Error::IpcNotSocket`] (never delete a
//!   user's file);
//! * Linux abstract names (`@name`) have no file: bind.
//!
//! The probe is a plain unix-stream `connect`, done once at setup time; a
//! live libzmq listener sees a connection that closes before the ZMTP
//! greeting and drops it.
//!
//! After a successful bind, `ipc_file_mode` (octal, from config) is applied
//! with `chmod`, keeping only the permission bits as Pushpin does
//! (`ZUtil::bindSpec`).

use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::Path;

use crate::Error;

/// Permission bits honoured from `ipc_file_mode`.
const MODE_MASK: u32 = 0o777;

fn is_abstract(path: &Path) -> bool {
    path.as_os_str().as_encoded_bytes().first() == Some(&b'@')
}

/// Applies the stale-file policy to `path` before it is bound.
pub(crate) fn prepare_bind(path: &Path) -> Result<(), Error> {
    if is_abstract(path) {
        return Ok(());
    }
    let probe_err = |source| Error::IpcProbe {
        path: path.to_owned(),
        source,
    };
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(probe_err(e)),
    };
    if !meta.file_type().is_socket() {
        return Err(Error::IpcNotSocket {
            path: path.to_owned(),
        });
    }
    match UnixStream::connect(path) {
        Ok(_) => Err(Error::IpcInUse {
            path: path.to_owned(),
        }),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            tracing::debug!(path = %path.display(), "removing stale ipc socket file");
            match std::fs::remove_file(path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(probe_err(e)),
            }
        }
        Err(e) => Err(probe_err(e)),
    }
}

/// Applies `ipc_file_mode` to a freshly bound path.
pub(crate) fn set_mode(path: &Path, mode: u32) -> Result<(), Error> {
    if is_abstract(path) {
        return Ok(());
    }
    let mode = mode & MODE_MASK;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|source| {
        Error::IpcFileMode {
            path: path.to_owned(),
            mode,
            source,
        }
    })
}
