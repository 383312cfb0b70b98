//! `pushpin-e2e`: multi-process end-to-end and interop tests (no library code).
//!
//! The tests live in `tests/tests/`, one file per pairing: our runner with every mix of
//! services (`runner.rs`), and each of our components beside the real Pushpin 1.36
//! counterparts from Debian (`connmgr_interop.rs`, `proxy_interop.rs`,
//! `handler_interop.rs`, `zurl_differential.rs`). They start processes themselves, kill
//! them by PID, bound every wait, and use loopback only. They fail, rather than skip, when
//! a real component they need is missing (`.ci/run` installs them); the one exception is
//! `gripcontrol_publish.rs` (the official Python GRIP library publishing to our handler),
//! which skips when no Python can import that library, unless `PUSHPIN_TEST_PYTHON` is set
//! (as `.ci/run` does). They run the binaries that `cargo test --workspace` builds into
//! `target/<profile>/`.
