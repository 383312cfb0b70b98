//! Typed reads through the settings layer that **collect** errors instead of stopping: each
//! getter returns the default when a key is absent (or, for numbers, empty) and records an
//! [`ConfigError::InvalidValue`] when a value cannot be used, so one pass reports every bad key.
//!
//! Where 1.36 silently turns bad input into something (Qt reads `100abc` as 0 and a list as
//! `""` in a scalar context), the rebuild reports an error: spec/config.md §2 documents the Qt
//! behaviour; STYLE §6 asks for every config error to be reported before exiting.

use std::time::Duration;

use crate::error::{ConfigError, ConfigWarning, Expected, WarningKind};
use crate::key::ConfigKey;
use crate::qt;
use crate::settings::{Found, Settings};
use crate::spec::ZmqSpec;

/// Reads typed values and collects problems.
pub(crate) struct Reader<'a> {
    pub(crate) settings: &'a Settings<'a>,
    pub(crate) errors: Vec<ConfigError>,
    pub(crate) warnings: Vec<ConfigWarning>,
}

/// `section/key`, or `key` for the top level.
pub(crate) fn key_name(section: &str, key: &str) -> String {
    if section.is_empty() {
        key.to_string()
    } else {
        format!("{section}/{key}")
    }
}

impl<'a> Reader<'a> {
    pub(crate) fn new(settings: &'a Settings<'a>) -> Self {
        Self {
            settings,
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    pub(crate) fn get(&self, section: &str, key: &str) -> Option<Found<'a>> {
        self.settings.get(section, key)
    }

    pub(crate) fn error(&mut self, found: &Found<'_>, value: &str, expected: Expected) {
        self.errors.push(ConfigError::InvalidValue {
            file: found.file.to_path_buf(),
            line: found.entry.line,
            key: key_name(&found.entry.section, &found.entry.key),
            value: value.to_string(),
            expected,
        });
    }

    pub(crate) fn warn(&mut self, found: &Found<'_>, value: &str, kind: WarningKind) {
        self.warnings.push(ConfigWarning {
            file: found.file.to_path_buf(),
            line: Some(found.entry.line),
            key: key_name(&found.entry.section, &found.entry.key),
            value: value.to_string(),
            kind,
        });
    }

    /// The scalar text of a key (`@Invalid()` reads as `""`). A list value is an error.
    pub(crate) fn scalar(&mut self, section: &str, key: &str) -> Option<(String, Found<'a>)> {
        let found = self.get(section, key)?;
        if found.value.is_multi() {
            let text = found.entry.text.clone();
            self.error(&found, &text, Expected::SingleValue);
            return None;
        }
        Some((found.value.to_qstring(), found))
    }

    pub(crate) fn string(&mut self, section: &str, key: &str, default: &str) -> String {
        self.scalar(section, key)
            .map_or_else(|| default.to_string(), |(s, _)| s)
    }

    /// Qt `toBool`, with a warning for words like `off` that read as true.
    pub(crate) fn bool(&mut self, section: &str, key: &str, default: bool) -> bool {
        let Some((s, found)) = self.scalar(section, key) else {
            return default;
        };
        if !qt::is_plain_bool(&s) {
            self.warn(&found, &s, WarningKind::TruthyBool);
        }
        qt::to_bool(&s)
    }

    /// A non-empty scalar parsed by `parse`; `None` when absent, empty or invalid (recorded).
    pub(crate) fn parsed<T>(
        &mut self,
        section: &str,
        key: &str,
        expected: Expected,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Option<T> {
        let (s, found) = self.scalar(section, key)?;
        if s.trim().is_empty() {
            return None;
        }
        let v = parse(&s);
        if v.is_none() {
            self.error(&found, &s, expected);
        }
        v
    }

    /// An integer converted to `T` (so `u16`, `u32`, `usize` reject negatives).
    pub(crate) fn int<T: TryFrom<i32>>(&mut self, section: &str, key: &str, default: T) -> T {
        let expected = if T::try_from(-1).is_ok() {
            Expected::Integer
        } else {
            Expected::NonNegativeInteger
        };
        self.parsed(section, key, expected, |s| {
            qt::to_int(s).and_then(|v| T::try_from(v).ok())
        })
        .unwrap_or(default)
    }

    /// `-1` (the 1.36 default) means unlimited: `None`.
    pub(crate) fn unlimited(&mut self, section: &str, key: &str) -> Option<u32> {
        self.parsed(
            section,
            key,
            Expected::IntegerOrUnlimited,
            |s| match qt::to_int(s)? {
                -1 => Some(None),
                v => u32::try_from(v).ok().map(Some),
            },
        )
        .flatten()
    }

    pub(crate) fn seconds(&mut self, section: &str, key: &str, default: Duration) -> Duration {
        self.parsed(section, key, Expected::NonNegativeInteger, |s| {
            qt::to_int(s)
                .and_then(|v| u64::try_from(v).ok())
                .map(Duration::from_secs)
        })
        .unwrap_or(default)
    }

    pub(crate) fn millis(&mut self, section: &str, key: &str, default: Duration) -> Duration {
        self.parsed(section, key, Expected::NonNegativeInteger, |s| {
            qt::to_int(s)
                .and_then(|v| u64::try_from(v).ok())
                .map(Duration::from_millis)
        })
        .unwrap_or(default)
    }

    /// An octal file mode (`ipc_file_mode`).
    pub(crate) fn octal(&mut self, section: &str, key: &str) -> Option<u32> {
        self.parsed(section, key, Expected::Octal, |s| {
            qt::to_int_radix(s, 8).and_then(|v| u32::try_from(v).ok())
        })
    }

    /// Qt `toStringList` with empty elements removed (Pushpin's `trimlist`).
    pub(crate) fn list(&mut self, section: &str, key: &str) -> Vec<String> {
        self.get(section, key)
            .map(|f| {
                f.value
                    .to_list()
                    .into_iter()
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A single spec; `None` when absent or empty.
    pub(crate) fn spec(&mut self, section: &str, key: &str) -> Option<ZmqSpec> {
        let (s, found) = self.scalar(section, key)?;
        if s.is_empty() {
            return None;
        }
        match s.parse() {
            Ok(spec) => Some(spec),
            Err(e) => {
                self.error(&found, &s, Expected::ZmqSpec(e));
                None
            }
        }
    }

    /// A spec list (empty elements removed); each bad element is reported.
    pub(crate) fn specs(&mut self, section: &str, key: &str) -> Vec<ZmqSpec> {
        let Some(found) = self.get(section, key) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in found.value.to_list().into_iter().filter(|s| !s.is_empty()) {
            match item.parse() {
                Ok(spec) => out.push(spec),
                Err(e) => self.error(&found, &item, Expected::ZmqSpec(e)),
            }
        }
        out
    }

    /// A JWT key; `None` when absent. `file:` paths are relative to the config directory.
    pub(crate) fn key(&mut self, section: &str, key: &str) -> Option<ConfigKey> {
        let (s, found) = self.scalar(section, key)?;
        let (k, lossy) = ConfigKey::from_config_string(&s, self.settings.config_dir());
        if lossy {
            self.warn(&found, &s, WarningKind::LossyBase64);
        }
        Some(k)
    }

    /// Warns about keys of `section` (in either file) that are not in `known`. Keys starting
    /// with `#` are commented-out lines that happen to contain `=` (Qt reads them as keys).
    pub(crate) fn unknown_keys(&mut self, section: &str, known: &[&str]) {
        let files = std::iter::once(self.settings.main).chain(self.settings.include);
        let mut found = Vec::new();
        for raw in files {
            for e in raw
                .keys_in(section)
                .filter(|e| !e.key.starts_with('#') && !known.contains(&e.key.as_str()))
            {
                found.push(ConfigWarning {
                    file: raw.origin.clone(),
                    line: Some(e.line),
                    key: key_name(section, &e.key),
                    value: e.text.clone(),
                    kind: WarningKind::UnknownKey,
                });
            }
        }
        self.warnings.extend(found);
    }
}
