//! Installing the process-wide tracing subscriber with Pushpin's output.
//!
//! Only a binary's `main` calls [`init`] (usually through
//! [`run_main`](crate::run_main)); libraries just emit `tracing` events.
//! Lines go to stdout, as 1.36's components do for every level, or are
//! appended to `--logfile`. Writes are synchronous and whole-line: stdout is
//! line-buffered and the file is unbuffered, so a line is in the kernel when
//! the event returns and nothing is lost if the process exits at once (a
//! second stop signal calls `_exit`). The file can be reopened for log
//! rotation with [`Guard::reopen`], as 1.36 does on SIGHUP.
//!
//! The level comes from `--loglevel`/`--verbose`; a `RUST_LOG` value, when
//! set, adds `EnvFilter` directives on top (for development), e.g.
//! `RUST_LOG=pushpin_proxy::conn=trace` keeps everything else at `--loglevel`.

mod format;

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use anyhow::Context as _;
use tracing::{Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::{Directive, LevelFilter};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::DefaultFields;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;

pub use format::{PushpinFormat, level_name, write_timestamp};

/// Installs the global subscriber: Pushpin's line format at `level`, written
/// to stdout or appended to `logfile`.
///
/// Fails if the log file cannot be opened (the error reads
/// `failed to open log file: PATH`, 1.36's message) or if a global subscriber
/// is already installed. Keep the returned [`Guard`] alive until exit.
pub fn init(level: Level, logfile: Option<&Path>) -> anyhow::Result<Guard> {
    let output = match logfile {
        Some(path) => Output::File(Arc::new(LogFile::open(path)?)),
        None => Output::Stdout,
    };
    tracing_subscriber::registry()
        .with(env_filter(level))
        .with(fmt_layer(output.clone()))
        .try_init()
        .context("installing the global tracing subscriber")?;
    Ok(Guard { output })
}

/// The formatting layer used by [`init`], for callers (tests, test support)
/// that assemble their own subscriber around another writer.
pub fn fmt_layer<S, W>(
    writer: W,
) -> tracing_subscriber::fmt::Layer<S, DefaultFields, PushpinFormat, W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'a> MakeWriter<'a> + 'static,
{
    tracing_subscriber::fmt::layer()
        .event_format(PushpinFormat::new())
        .with_ansi(false)
        .with_writer(writer)
}

/// `level` for every target, refined by `RUST_LOG` when it is set.
fn env_filter(level: Level) -> EnvFilter {
    let rust_log = std::env::var(EnvFilter::DEFAULT_ENV).ok();
    filter(level, rust_log.as_deref())
}

/// `level` for every target, then each valid directive of `rust_log` on top
/// (a more specific directive, or a bare level, in `rust_log` wins; invalid
/// directives are skipped). Unlike `EnvFilter::with_default_directive`, a
/// `RUST_LOG` naming one target keeps the others at `level`.
fn filter(level: Level, rust_log: Option<&str>) -> EnvFilter {
    let base = EnvFilter::default().add_directive(LevelFilter::from_level(level).into());
    rust_log
        .into_iter()
        .flat_map(|spec| spec.split(','))
        .filter_map(|directive| directive.trim().parse::<Directive>().ok())
        .fold(base, EnvFilter::add_directive)
}

/// Keeps the log output usable; returned by [`init`].
///
/// Dropping it flushes stdout. Events logged after the drop are still
/// written (the subscriber owns its own handle to the output).
#[must_use = "dropping the guard early is harmless but loses `reopen`"]
#[derive(Debug)]
pub struct Guard {
    output: Output,
}

impl Guard {
    /// Reopens the log file by path (append mode), so a rotated file is
    /// replaced by a new one; does nothing when logging to stdout. On error
    /// the old file stays in use.
    pub fn reopen(&self) -> io::Result<()> {
        match &self.output {
            Output::Stdout => Ok(()),
            Output::File(file) => file.reopen(),
        }
    }

    /// The log file, or `None` when logging to stdout.
    pub fn logfile(&self) -> Option<&Path> {
        match &self.output {
            Output::Stdout => None,
            Output::File(file) => Some(&file.path),
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // Nothing useful can be done about a failed flush at exit.
        let _ = io::stdout().flush();
    }
}

/// Where lines go. Cloning shares the same file.
#[derive(Debug, Clone)]
enum Output {
    Stdout,
    File(Arc<LogFile>),
}

/// An append-mode log file and the path to reopen it by.
#[derive(Debug)]
struct LogFile {
    path: PathBuf,
    file: Mutex<File>,
}

impl LogFile {
    fn open(path: &Path) -> anyhow::Result<Self> {
        let file = open_append(path)
            .with_context(|| format!("failed to open log file: {}", path.display()))?;
        Ok(Self {
            path: path.to_owned(),
            file: Mutex::new(file),
        })
    }

    fn reopen(&self) -> io::Result<()> {
        let new = open_append(&self.path)?;
        *self.lock() = new;
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, File> {
        // A panic while holding the lock cannot leave a `File` inconsistent.
        self.file.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

impl<'a> MakeWriter<'a> for Output {
    type Writer = OutputWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        match self {
            Self::Stdout => OutputWriter::Stdout(io::stdout()),
            // Held for the one `write_all` of a formatted line, so lines from
            // different threads never interleave.
            Self::File(file) => OutputWriter::File(file.lock()),
        }
    }
}

/// The writer for one formatted line.
#[derive(Debug)]
enum OutputWriter<'a> {
    Stdout(io::Stdout),
    File(MutexGuard<'a, File>),
}

impl Write for OutputWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Stdout(out) => out.write(buf),
            Self::File(file) => file.write(buf),
        }
    }

    // Delegated so that stdout is locked once per line, not once per `write`.
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Self::Stdout(out) => out.write_all(buf),
            Self::File(file) => file.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Stdout(out) => out.flush(),
            Self::File(file) => file.flush(),
        }
    }
}

#[cfg(test)]
mod tests;
