//! Pushpin's log line format as a `tracing_subscriber` event formatter.
//!
//! One event becomes one line:
//! `[LEVEL] YYYY-MM-DD HH:MM:SS.mmm [target] message key=value ...`, in local
//! time, with level names `ERR WARN INFO DEBUG TRACE`. `[target]` appears only
//! for debug and trace (1.36's C++ components print no target at all; condure
//! prints it always). Event fields follow the message, then the fields of
//! each enclosing span from the root outwards, all as `key=value`
//! (`tracing_subscriber`'s `DefaultFields` rendering). The formatter writes
//! straight into the layer's per-thread line buffer: no allocation of its own.
//! See `spec/runner.md` §6.1 and pushpin `src/core/log.cpp` `log()`.

use std::fmt;

use chrono::{DateTime, Datelike as _, Local, TimeZone, Timelike as _};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::{LookupSpan, Scope};

/// The event formatter producing Pushpin's line format (see the module docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct PushpinFormat {
    _private: (),
}

impl PushpinFormat {
    /// Creates the formatter.
    pub fn new() -> Self {
        Self::default()
    }
}

/// Pushpin's name for a level, as printed between the brackets.
pub fn level_name(level: Level) -> &'static str {
    match level {
        Level::ERROR => "ERR",
        Level::WARN => "WARN",
        Level::INFO => "INFO",
        Level::DEBUG => "DEBUG",
        // `Level` is a struct, so the match needs a catch-all; TRACE is the only one left.
        _ => "TRACE",
    }
}

/// Writes `YYYY-MM-DD HH:MM:SS.mmm` (Qt's `yyyy-MM-dd HH:mm:ss.zzz`).
pub fn write_timestamp<Tz: TimeZone>(w: &mut impl fmt::Write, t: &DateTime<Tz>) -> fmt::Result {
    // chrono reports a leap second as nanoseconds >= 1e9; clamp to keep 3 digits.
    let millis = (t.nanosecond() / 1_000_000).min(999);
    write!(
        w,
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        millis
    )
}

impl<S, N> FormatEvent<S, N> for PushpinFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let level = *meta.level();

        writer.write_char('[')?;
        writer.write_str(level_name(level))?;
        writer.write_str("] ")?;
        write_timestamp(&mut writer, &Local::now())?;
        writer.write_char(' ')?;
        if level == Level::DEBUG || level == Level::TRACE {
            writer.write_char('[')?;
            writer.write_str(meta.target())?;
            writer.write_str("] ")?;
        }

        ctx.format_fields(writer.by_ref(), event)?;

        for span in ctx.event_scope().into_iter().flat_map(Scope::from_root) {
            let extensions = span.extensions();
            match extensions.get::<FormattedFields<N>>() {
                Some(fields) if !fields.is_empty() => {
                    writer.write_char(' ')?;
                    writer.write_str(fields)?;
                }
                _ => {}
            }
        }

        writer.write_char('\n')
    }
}
