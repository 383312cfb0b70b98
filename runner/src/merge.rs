//! `--merge-output` (spec/runner.md §6.3): every line a child writes is printed by the runner,
//! with `[<display name>] ` inserted after the third space of lines that start with `[` (after
//! `[LEVEL] date time `); other lines pass unchanged.
//!
//! Lines go through a bounded queue ([`QUEUE_LINES`]) to one writer thread, so a slow stdout
//! never blocks the runtime. When the queue is full the child's reader waits, which in turn
//! makes the child wait on its pipe — the same backpressure a slow terminal gives. Lines longer
//! than [`MAX_LINE`] are cut into pieces of that size.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::PathBuf;

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, BufReader};
use tokio::net::unix::pipe;
use tokio::sync::mpsc;

/// Lines queued for the writer thread.
pub const QUEUE_LINES: usize = 1024;
/// The longest line kept whole.
pub const MAX_LINE: usize = 64 * 1024;

/// Where merged lines go: a handle to the writer thread.
#[derive(Debug, Clone)]
pub struct Sink {
    tx: mpsc::Sender<Vec<u8>>,
}

impl Sink {
    /// Starts the writer thread: stdout, or `logfile` opened for append.
    pub fn start(logfile: Option<PathBuf>) -> io::Result<Self> {
        let mut out: Box<dyn Write + Send> = match logfile {
            Some(path) => Box::new(OpenOptions::new().create(true).append(true).open(path)?),
            None => Box::new(io::stdout()),
        };
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(QUEUE_LINES);
        std::thread::Builder::new()
            .name("pushpin-merge".into())
            .spawn(move || {
                while let Some(line) = rx.blocking_recv() {
                    // Nowhere to report a failed write of the log itself.
                    let _ = out.write_all(&line);
                    let _ = out.flush();
                }
            })?;
        Ok(Self { tx })
    }

    /// Copies a child's output to the sink until the pipe closes.
    pub async fn forward(self, name: String, output: pipe::Receiver) {
        let mut reader = BufReader::new(output);
        let mut line = Vec::new();
        loop {
            line.clear();
            let read = (&mut reader)
                .take(MAX_LINE as u64)
                .read_until(b'\n', &mut line)
                .await;
            match read {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    if !line.ends_with(b"\n") {
                        line.push(b'\n');
                    }
                    if self.tx.send(prefixed(&name, &line)).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

/// Inserts `[name] ` after the third space of a line starting with `[`.
pub fn prefixed(name: &str, line: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(line.len() + name.len() + 3);
    if line.first() == Some(&b'[') {
        if let Some(at) = line
            .iter()
            .enumerate()
            .filter(|&(_, &b)| b == b' ')
            .nth(2)
            .map(|(i, _)| i + 1)
        {
            let (head, tail) = line.split_at(at);
            out.extend_from_slice(head);
            out.push(b'[');
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"] ");
            out.extend_from_slice(tail);
            return out;
        }
    }
    out.extend_from_slice(line);
    out
}

#[cfg(test)]
mod tests {
    use super::prefixed;

    #[test]
    fn prefix_after_third_space() {
        assert_eq!(
            prefixed("handler", b"[INFO] 2026-11-29 02:46:27.348 starting...\n"),
            b"[INFO] 2026-11-29 02:46:27.348 [handler] starting...\n"
        );
        assert_eq!(prefixed("zurl", b"plain line\n"), b"plain line\n");
        assert_eq!(prefixed("zurl", b"[x] y\n"), b"[x] y\n");
    }
}
