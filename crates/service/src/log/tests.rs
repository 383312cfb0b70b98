use std::io;
use std::sync::{Arc, Mutex};

use chrono::{Local, NaiveDate, NaiveDateTime, TimeDelta};
use tracing::{debug, error, info, info_span, trace, warn};
use tracing_subscriber::layer::SubscriberExt as _;

use super::*;

/// A `MakeWriter` over a shared byte buffer.
#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Runs `f` under a subscriber like `init`'s (without `RUST_LOG`) and
/// returns what it wrote.
fn capture(level: Level, f: impl FnOnce()) -> String {
    capture_filtered(filter(level, None), f)
}

fn capture_filtered(filter: EnvFilter, f: impl FnOnce()) -> String {
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::registry()
        .with(filter)
        .with(fmt_layer(move || writer.clone()));
    tracing::subscriber::with_default(subscriber, f);
    let bytes = buf.0.lock().unwrap().clone();
    String::from_utf8(bytes).unwrap()
}

const TS_LEN: usize = "2026-11-29 02:45:44.567".len();

/// Asserts `line` is `[<level>] <local timestamp of about now> <rest>`.
fn assert_line(line: &str, level: &str, rest: &str) {
    let prefix = format!("[{level}] ");
    let after_level = line
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{line:?} does not start with {prefix:?}"));
    let (ts, after_ts) = after_level.split_at(TS_LEN);
    assert_timestamp_shape(ts);
    let t = NaiveDateTime::parse_from_str(ts, "%Y-%m-%d %H:%M:%S%.3f").unwrap();
    let skew = (Local::now().naive_local() - t).abs();
    assert!(
        skew < TimeDelta::seconds(60),
        "timestamp {ts} is not local now"
    );
    assert_eq!(after_ts.strip_prefix(' '), Some(rest), "in line {line:?}");
}

/// `YYYY-MM-DD HH:MM:SS.mmm`, checked character by character.
fn assert_timestamp_shape(ts: &str) {
    let shape = "dddd-dd-dd dd:dd:dd.ddd";
    assert_eq!(ts.len(), shape.len(), "{ts:?}");
    for (c, s) in ts.chars().zip(shape.chars()) {
        let ok = if s == 'd' { c.is_ascii_digit() } else { c == s };
        assert!(ok, "timestamp {ts:?} does not match {shape}");
    }
}

fn lines(out: &str) -> Vec<&str> {
    assert!(
        out.ends_with('\n') || out.is_empty(),
        "unterminated output {out:?}"
    );
    out.lines().collect()
}

#[test]
fn info_line_has_pushpin_shape() {
    let out = capture(Level::INFO, || info!("starting..."));
    let lines = lines(&out);
    assert_eq!(lines.len(), 1, "{out:?}");
    assert_line(lines[0], "INFO", "starting...");
}

#[test]
fn level_names_and_no_target_below_debug() {
    let out = capture(Level::INFO, || {
        error!("a");
        warn!("b");
        info!("c");
    });
    let lines = lines(&out);
    assert_eq!(lines.len(), 3, "{out:?}");
    assert_line(lines[0], "ERR", "a");
    assert_line(lines[1], "WARN", "b");
    assert_line(lines[2], "INFO", "c");
}

#[test]
fn debug_and_trace_show_target() {
    let out = capture(Level::TRACE, || {
        debug!("d");
        trace!("t");
        debug!(target: "proxy", "custom");
    });
    let lines = lines(&out);
    assert_eq!(lines.len(), 3, "{out:?}");
    assert_line(lines[0], "DEBUG", "[pushpin_service::log::tests] d");
    assert_line(lines[1], "TRACE", "[pushpin_service::log::tests] t");
    assert_line(lines[2], "DEBUG", "[proxy] custom");
}

#[test]
fn fields_follow_message_as_key_value() {
    let e = io::Error::other("connection reset");
    let out = capture(Level::INFO, || {
        info!(peer = %"127.0.0.1:5000", conn = 7, "accepted");
        warn!(error = %e, "read failed");
        info!(channel = "test", "publish");
    });
    let lines = lines(&out);
    assert_eq!(lines.len(), 3, "{out:?}");
    assert_line(lines[0], "INFO", "accepted peer=127.0.0.1:5000 conn=7");
    assert_line(lines[1], "WARN", "read failed error=connection reset");
    // A plain string field is Debug-formatted (quoted), as tracing does; use `%` to avoid it.
    assert_line(lines[2], "INFO", r#"publish channel="test""#);
}

#[test]
fn span_fields_follow_event_fields_root_first() {
    let out = capture(Level::INFO, || {
        let conn = info_span!("conn", conn = 3, peer = %"10.0.0.1:80");
        let _c = conn.enter();
        let session = info_span!("session", rid = %"abc");
        let _s = session.enter();
        info!(status = 200, "done");
        let quiet = info_span!("quiet");
        let _q = quiet.enter();
        info!("inner");
    });
    let lines = lines(&out);
    assert_eq!(lines.len(), 2, "{out:?}");
    assert_line(
        lines[0],
        "INFO",
        "done status=200 conn=3 peer=10.0.0.1:80 rid=abc",
    );
    // A span without fields adds nothing, not even a space.
    assert_line(lines[1], "INFO", "inner conn=3 peer=10.0.0.1:80 rid=abc");
}

#[test]
fn level_filter_drops_more_verbose_events() {
    let out = capture(Level::WARN, || {
        error!("kept");
        warn!("kept too");
        info!("dropped");
        debug!("dropped");
        trace!("dropped");
    });
    let lines = lines(&out);
    assert_eq!(lines.len(), 2, "{out:?}");
    assert_line(lines[0], "ERR", "kept");
    assert_line(lines[1], "WARN", "kept too");
}

#[test]
fn rust_log_refines_the_level_per_target() {
    let rust_log = "proxy=trace, not a directive ,handler=off";
    let out = capture_filtered(filter(Level::INFO, Some(rust_log)), || {
        trace!(target: "proxy", "packet");
        debug!(target: "other", "hidden");
        info!(target: "other", "kept");
        info!(target: "handler", "silenced");
    });
    let lines = lines(&out);
    assert_eq!(lines.len(), 2, "{out:?}");
    assert_line(lines[0], "TRACE", "[proxy] packet");
    assert_line(lines[1], "INFO", "kept");
}

#[test]
fn rust_log_bare_level_overrides_the_level() {
    let out = capture_filtered(filter(Level::INFO, Some("warn")), || {
        info!("hidden");
        warn!("kept");
    });
    let lines = lines(&out);
    assert_eq!(lines.len(), 1, "{out:?}");
    assert_line(lines[0], "WARN", "kept");
}

#[test]
fn no_ansi_escapes_reach_the_output() {
    let out = capture(Level::INFO, || info!(field = 1, "red \x1b[31mtext"));
    assert!(!out.contains('\x1b'), "{out:?}");
    assert_line(lines(&out)[0], "INFO", r"red \x1b[31mtext field=1");
}

#[test]
fn timestamp_is_zero_padded_milliseconds() {
    let t = NaiveDate::from_ymd_opt(2026, 1, 2)
        .unwrap()
        .and_hms_milli_opt(3, 4, 5, 67)
        .unwrap()
        .and_utc();
    let mut s = String::new();
    write_timestamp(&mut s, &t).unwrap();
    assert_eq!(s, "2026-01-02 03:04:05.067");
}

#[test]
fn timestamp_clamps_leap_second_to_three_digits() {
    let t = NaiveDate::from_ymd_opt(2016, 12, 31)
        .unwrap()
        .and_hms_milli_opt(23, 59, 59, 1_500)
        .unwrap()
        .and_utc();
    let mut s = String::new();
    write_timestamp(&mut s, &t).unwrap();
    assert_eq!(s, "2016-12-31 23:59:59.999");
}

#[test]
fn level_names_are_pushpins() {
    let names = [
        Level::ERROR,
        Level::WARN,
        Level::INFO,
        Level::DEBUG,
        Level::TRACE,
    ]
    .map(level_name);
    assert_eq!(names, ["ERR", "WARN", "INFO", "DEBUG", "TRACE"]);
}

#[test]
fn log_file_open_failure_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing-dir").join("x.log");
    let e = LogFile::open(&path).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("failed to open log file: {}", path.display())
    );
}

#[test]
fn file_output_appends_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.log");
    std::fs::write(&path, "old line\n").unwrap();
    let output = Output::File(Arc::new(LogFile::open(&path).unwrap()));
    let guard = Guard {
        output: output.clone(),
    };
    let subscriber = tracing_subscriber::registry().with(fmt_layer(output));
    tracing::subscriber::with_default(subscriber, || {
        info!("first");
        let rotated = dir.path().join("p.log.1");
        std::fs::rename(&path, &rotated).unwrap();
        info!("second");
        guard.reopen().unwrap();
        info!("third");
        let old = std::fs::read_to_string(&rotated).unwrap();
        let old: Vec<&str> = old.lines().collect();
        assert_eq!(old.len(), 3, "{old:?}");
        assert_eq!(old[0], "old line");
        assert_line(old[1], "INFO", "first");
        assert_line(old[2], "INFO", "second");
    });
    let new = std::fs::read_to_string(&path).unwrap();
    let new = lines(&new);
    assert_eq!(new.len(), 1, "{new:?}");
    assert_line(new[0], "INFO", "third");
    assert_eq!(guard.logfile(), Some(path.as_path()));
}
