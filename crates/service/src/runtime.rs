//! Building the tokio runtime for a binary.
//!
//! One multi-thread runtime per process, with a fixed worker count (by
//! default the machine's available parallelism, tokio's own default made
//! explicit) and threads named after the binary (`pushpin-proxy-0`, ...), so
//! `top -H` and panic messages say whose thread it is. Linux shows only the
//! first 15 bytes of a thread name; Rust keeps the full name.

use std::io;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::runtime::{Builder, Runtime};

/// The default worker count: the available parallelism, or 1 if unknown.
pub fn default_workers() -> NonZeroUsize {
    std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN)
}

/// Builds a multi-thread runtime with all drivers (I/O, time, signals)
/// enabled, `workers` worker threads (default [`default_workers`]), and
/// threads named `<name>-<n>` (blocking-pool threads included).
pub fn build(name: &str, workers: Option<NonZeroUsize>) -> io::Result<Runtime> {
    let workers = workers.unwrap_or_else(default_workers);
    let name = name.to_owned();
    let next = AtomicUsize::new(0);
    Builder::new_multi_thread()
        .worker_threads(workers.get())
        .thread_name_fn(move || format!("{name}-{}", next.fetch_add(1, Ordering::Relaxed)))
        .enable_all()
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_and_thread_names() {
        let rt = build("svc-test", NonZeroUsize::new(2)).unwrap();
        assert_eq!(rt.metrics().num_workers(), 2);
        let name = rt
            .block_on(async {
                tokio::spawn(async { std::thread::current().name().map(str::to_owned) }).await
            })
            .unwrap()
            .unwrap();
        let n = name
            .strip_prefix("svc-test-")
            .unwrap_or_else(|| panic!("thread {name}"));
        assert!(n.parse::<usize>().is_ok(), "thread {name}");
    }

    #[test]
    fn default_worker_count_is_available_parallelism() {
        let rt = build("svc-default", None).unwrap();
        assert_eq!(rt.metrics().num_workers(), default_workers().get());
    }
}
