//! Errors and warnings of every file format in this crate.
//!
//! Every [`ConfigError`] names the file and, where there is one, the line, the key and the
//! offending value, so a binary can print all of them (`file:line: key "value": reason`, one per
//! line through [`ConfigErrors`]) and exit non-zero before it binds a socket. Validation never
//! stops at the first problem: it collects. [`ConfigWarning`]s are for input that Pushpin 1.36
//! accepts but that probably does not mean what the operator thinks (`debug=off` is *true*).

use std::fmt;
use std::path::PathBuf;

use crate::runner::LogLevelError;
use crate::spec::SpecError;

/// One problem found while reading a configuration, routes or zurl file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read (only the thin `load` wrappers produce this).
    #[error("{}: cannot read file", file.display())]
    Read {
        /// The file that was opened.
        file: PathBuf,
        /// Why reading failed.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid in its format (TOML syntax, a TOML table where a value belongs).
    #[error("{}:{line}: {message}", file.display())]
    Syntax {
        /// The file.
        file: PathBuf,
        /// 1-based line.
        line: u32,
        /// What the parser reported.
        message: String,
    },
    /// A key is present but its value cannot be used.
    #[error("{}:{line}: {key} {value:?}: expected {expected}", file.display())]
    InvalidValue {
        /// The file the value came from (the main file or its `include=`).
        file: PathBuf,
        /// 1-based line of the key.
        line: u32,
        /// `section/key` as QSettings names it (`proxy/sig_key`), or `key` for top-level keys.
        key: String,
        /// The value after `{…}` substitution.
        value: String,
        /// What the value should have been.
        expected: Expected,
    },
    /// A rule about several keys together is broken (e.g. required specs are missing).
    #[error("{}: {requirement}", file.display())]
    Requirement {
        /// The main configuration file.
        file: PathBuf,
        /// Which rule.
        requirement: Requirement,
    },
    /// A routes line was rejected; Pushpin skips such a line and keeps the others.
    #[error("{}", route_message(file, *line, kind))]
    Route {
        /// The routes file, or `<route>` for `--route` lines.
        file: PathBuf,
        /// 1-based line (always 1 for `--route` lines).
        line: u32,
        /// The offending text: the line, or the option or target value at fault.
        value: String,
        /// What is wrong.
        kind: crate::routes::RouteErrorKind,
    },
}

fn route_message(
    file: &std::path::Path,
    line: u32,
    kind: &crate::routes::RouteErrorKind,
) -> String {
    use crate::routes::RouteErrorKind;
    // 1.36 writes these two without the colon after the line number.
    match kind {
        RouteErrorKind::NoDomainOrId | RouteErrorKind::DuplicateCondition => {
            format!("{}:{line} {kind}", file.display())
        }
        _ => format!("{}:{line}: {kind}", file.display()),
    }
}

impl ConfigError {
    /// The line the error refers to, when there is one.
    pub fn line(&self) -> Option<u32> {
        match self {
            Self::Syntax { line, .. }
            | Self::InvalidValue { line, .. }
            | Self::Route { line, .. } => Some(*line),
            Self::Read { .. } | Self::Requirement { .. } => None,
        }
    }

    /// The file the error refers to.
    pub fn file(&self) -> &std::path::Path {
        match self {
            Self::Read { file, .. }
            | Self::Syntax { file, .. }
            | Self::InvalidValue { file, .. }
            | Self::Requirement { file, .. }
            | Self::Route { file, .. } => file,
        }
    }
}

/// What a rejected value should have looked like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// A list (unquoted comma) was given where one value is read. Qt reads it as the empty string.
    SingleValue,
    /// A decimal integer (Qt `toInt`).
    Integer,
    /// A decimal integer `>= 0`.
    NonNegativeInteger,
    /// `-1` for unlimited, or a decimal integer `>= 0`.
    IntegerOrUnlimited,
    /// A port number.
    Port,
    /// `[address:]port` with an IP address (IPv6 in brackets).
    ListenAddr,
    /// An IP address.
    IpAddr,
    /// An octal file mode such as `777`.
    Octal,
    /// A ZeroMQ endpoint.
    ZmqSpec(SpecError),
    /// One of these words.
    OneOf(&'static [&'static str]),
    /// A `log_level` list.
    LogLevel(LogLevelError),
    /// `x_forwarded_for` items: `truncate:N` or `append`.
    XffRule,
    /// `[address:]port` or `ipc://path`.
    MetricsAddr,
    /// A TOML string, integer, boolean, or array of those.
    TomlValue,
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SingleValue => {
                f.write_str("a single value (quote a value that contains a comma)")
            }
            Self::Integer => f.write_str("an integer"),
            Self::NonNegativeInteger => f.write_str("an integer >= 0"),
            Self::IntegerOrUnlimited => f.write_str("an integer >= 0, or -1 for unlimited"),
            Self::Port => f.write_str("a port number"),
            Self::ListenAddr => f.write_str("[address:]port with an IP address"),
            Self::IpAddr => f.write_str("an IP address"),
            Self::Octal => f.write_str("an octal file mode"),
            Self::ZmqSpec(e) => write!(f, "a ZeroMQ spec ({e})"),
            Self::OneOf(words) => write!(f, "one of {}", words.join(", ")),
            Self::LogLevel(e) => write!(f, "a log level list ({e})"),
            Self::XffRule => f.write_str("items \"truncate:N\" or \"append\""),
            Self::MetricsAddr => f.write_str("[address:]port or ipc://path"),
            Self::TomlValue => f.write_str("a string, integer, boolean, or an array of those"),
        }
    }
}

/// A rule that involves several keys. The messages are Pushpin's / zurl's / the runner's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// pushpin-proxy: neither the condure nor the m2a trio of server specs is complete.
    ProxyServerSpecs,
    /// pushpin-proxy: a zurl spec is missing.
    ProxyZurlSpecs,
    /// pushpin-handler: `m2a_in_stream_specs`/`m2a_out_specs` are mandatory even with condure.
    HandlerM2aSpecs,
    /// pushpin-handler: inspect, accept and retry specs are mandatory.
    HandlerProxySpecs,
    /// zurl: `in_spec`, `in_stream_spec`, `out_spec` come together.
    ZurlStreamSpecs,
    /// zurl: nothing to bind.
    ZurlNoSpecs,
    /// runner: condure together with mongrel2 or m2adapter.
    ConnmgrWithMongrel2,
    /// runner: `local_ports` with mongrel2.
    LocalPortsWithMongrel2,
    /// runner: no `http_port`, `https_ports` or `local_ports` (and no `--port`).
    NoServerPorts,
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ProxyServerSpecs => {
                "must set condure_in_specs, condure_in_stream_specs, and condure_out_specs, or m2a_in_specs, m2a_in_stream_specs, and m2a_out_specs"
            }
            Self::ProxyZurlSpecs => "must set zurl_out_specs, zurl_out_stream_specs, and zurl_in_specs",
            Self::HandlerM2aSpecs => "must set m2a_in_stream_specs and m2a_out_specs",
            Self::HandlerProxySpecs => {
                "must set proxy_inspect_spec, proxy_accept_spec, and proxy_retry_out_spec"
            }
            Self::ZurlStreamSpecs => {
                "if any of in_spec, in_stream_spec, or out_spec are set then all of them must be set"
            }
            Self::ZurlNoSpecs => "must set at least in_spec+in_stream_spec+out_spec or in_req_spec",
            Self::ConnmgrWithMongrel2 => {
                "cannot enable the condure service at the same time as mongrel2 or m2adapter"
            }
            Self::LocalPortsWithMongrel2 => "Cannot use local_ports option with mongrel2",
            Self::NoServerPorts => "no server ports configured",
        })
    }
}

/// All errors of one validation, in file order. `Display` prints one per line.
#[derive(Debug, Default)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// The collected errors.
    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.0.iter()
    }

    /// How many errors.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when nothing was collected.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(value)` when nothing was collected, else `Err(self)`.
    pub fn into_result<T>(self, value: T) -> Result<T, Self> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, e) in self.0.iter().enumerate() {
            if n > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
            // The aggregate is what a person reads: show the cause on the same line.
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                write!(f, ": {s}")?;
                source = s.source();
            }
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        Self(vec![e])
    }
}

impl From<Vec<ConfigError>> for ConfigErrors {
    fn from(v: Vec<ConfigError>) -> Self {
        Self(v)
    }
}

impl IntoIterator for ConfigErrors {
    type Item = ConfigError;
    type IntoIter = std::vec::IntoIter<ConfigError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Input that 1.36 accepts but that is probably a mistake; the binaries log these at WARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    /// The file.
    pub file: PathBuf,
    /// 1-based line, when the warning is about one key.
    pub line: Option<u32>,
    /// `section/key`.
    pub key: String,
    /// The value as read.
    pub value: String,
    /// What is odd about it.
    pub kind: WarningKind,
}

/// Kinds of [`ConfigWarning`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WarningKind {
    /// A boolean that reads as *true* although it looks negative (`off`, `no`, ...): Qt's
    /// `toBool` is false only for empty, `0` and `false`.
    TruthyBool,
    /// A `services` entry that is not a known service name (ignored, as in 1.36).
    UnknownService,
    /// A key this crate does not know in a section it reads.
    UnknownKey,
    /// `rundir` was taken from the deprecated `[runner]` section.
    DeprecatedRunnerRundir,
    /// A key that 1.36 does not read although its packaged config sets it.
    IgnoredKey {
        /// The key 1.36 reads instead.
        read_instead: &'static str,
    },
    /// A `base64:` key with characters outside the base64 alphabet (Qt skips them).
    LossyBase64,
}

impl fmt::Display for WarningKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TruthyBool => f.write_str("reads as true (only empty, 0 and false are false)"),
            Self::UnknownService => f.write_str("unknown service name, ignored"),
            Self::UnknownKey => f.write_str("unknown key, ignored"),
            Self::DeprecatedRunnerRundir => {
                f.write_str("rundir in [runner] section is deprecated. put in [global]")
            }
            Self::IgnoredKey { read_instead } => {
                write!(f, "ignored by pushpin 1.36, which reads {read_instead}")
            }
            Self::LossyBase64 => f.write_str("characters outside the base64 alphabet are skipped"),
        }
    }
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: ", self.file.display())?,
            None => write!(f, "{}: ", self.file.display())?,
        }
        write!(f, "{} {:?}: {}", self.key, self.value, self.kind)
    }
}

#[cfg(test)]
mod tests;
