//! Pushpin's settings layer over the parsed files (`src/corelib/settings.cpp`,
//! spec/config.md §3): the one-level `include=`, per-key merging (main file wins), the
//! `{libdir}`, `{rundir}`, `{ipc_prefix}` substitutions and the port offset added to every
//! `tcp://host:port` in a value.
//!
//! The substitution variables come from the **main file only** (1.36 reads them before it
//! opens the include), overridden by `--ipc-prefix` / `--port-offset`.

use std::path::{Path, PathBuf};

use crate::Overrides;
use crate::qt;
use crate::raw::{Entry, Raw, Value};

/// The compiled-in LIBDIR of the Debian 1.36 build: `{libdir}` when `[global] libdir` is empty
/// (spec/config.md §3.2).
pub const DEFAULT_LIBDIR: &str = "/usr/lib/pushpin";

/// `{ipc_prefix}` when `[global] ipc_prefix` is absent (spec/config.md §3.2, §4).
pub const DEFAULT_IPC_PREFIX: &str = "pushpin-";

/// The values substituted into every string read through the settings layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vars {
    /// `{libdir}`: `[global] libdir` of the main file, else [`Overrides::libdir`], else
    /// [`DEFAULT_LIBDIR`].
    pub libdir: String,
    /// `{rundir}`: `[global] rundir` of the main file, else its `[runner] rundir`; raw (not made
    /// absolute).
    pub rundir: String,
    /// `{ipc_prefix}`: [`Overrides::ipc_prefix`], else `[global] ipc_prefix` of the main file,
    /// else [`DEFAULT_IPC_PREFIX`].
    pub ipc_prefix: String,
    /// Added to the port of every `tcp://host:port`: [`Overrides::port_offset`], else
    /// `[global] port_offset` of the main file (Qt `toInt`: invalid reads as 0).
    pub port_offset: i32,
}

fn main_string(main: &Raw, key: &str) -> Option<String> {
    main.get("global", key).map(|e| e.value.to_qstring())
}

impl Vars {
    /// Variables that substitute nothing (for files read without Pushpin's settings layer).
    pub(crate) fn identity() -> Self {
        Self {
            libdir: "{libdir}".into(),
            rundir: "{rundir}".into(),
            ipc_prefix: "{ipc_prefix}".into(),
            port_offset: 0,
        }
    }

    /// The variables as 1.36 computes them from the main file and the command line.
    pub fn from_main(main: &Raw, overrides: &Overrides) -> Self {
        let libdir = main_string(main, "libdir")
            .filter(|s| !s.is_empty())
            .or_else(|| overrides.libdir.as_ref().map(|p| p.display().to_string()))
            .unwrap_or_else(|| DEFAULT_LIBDIR.to_string());
        let rundir = main_string(main, "rundir")
            .filter(|s| !s.is_empty())
            .or_else(|| main.get("runner", "rundir").map(|e| e.value.to_qstring()))
            .unwrap_or_default();
        let ipc_prefix = overrides
            .ipc_prefix
            .clone()
            .or_else(|| main_string(main, "ipc_prefix"))
            .unwrap_or_else(|| DEFAULT_IPC_PREFIX.to_string());
        let port_offset = overrides.port_offset.map(i32::from).unwrap_or_else(|| {
            main_string(main, "port_offset")
                .and_then(|s| qt::to_int(&s))
                .unwrap_or(0)
        });
        Self {
            libdir,
            rundir,
            ipc_prefix,
            port_offset,
        }
    }

    /// Pushpin's `resolveVars`: plain text replacement in the order libdir, rundir, ipc_prefix,
    /// then the port offset on every `tcp://…:port`.
    ///
    /// Deviation: 1.36's offset rewrite cuts any text after the port and stops at IPv6
    /// brackets; this one replaces exactly the digits and understands `[v6]:port`.
    pub fn resolve(&self, s: &str) -> String {
        let out = s
            .replace("{libdir}", &self.libdir)
            .replace("{rundir}", &self.rundir)
            .replace("{ipc_prefix}", &self.ipc_prefix);
        if self.port_offset == 0 {
            out
        } else {
            offset_tcp_ports(&out, self.port_offset)
        }
    }
}

/// Adds `offset` to the port of every `tcp://host:port` in `s`. Like 1.36, it stops at the
/// first occurrence whose port is not a number.
pub(crate) fn offset_tcp_ports(s: &str, offset: i32) -> String {
    const TCP: &str = "tcp://";
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find(TCP) {
        let (head, after) = rest.split_at(at + TCP.len());
        out.push_str(head);
        rest = after;
        let colon = if rest.starts_with('[') {
            rest.find(']').and_then(|close| {
                rest.get(close + 1..)
                    .filter(|t| t.starts_with(':'))
                    .map(|_| close + 1)
            })
        } else {
            rest.find(':')
        };
        let Some(colon) = colon else { break };
        let digits_from = colon + 1;
        let tail = rest.get(digits_from..).unwrap_or_default();
        let n = tail.bytes().take_while(u8::is_ascii_digit).count();
        // Qt's toInt: more than an int holds is not a number either.
        let Some(port) = tail.get(..n).and_then(|d| d.parse::<i32>().ok()) else {
            break;
        };
        out.push_str(rest.get(..digits_from).unwrap_or_default());
        out.push_str(&(i64::from(port) + i64::from(offset)).to_string());
        rest = tail.get(n..).unwrap_or_default();
    }
    out.push_str(rest);
    out
}

/// The include file named by the main file's `[global] include`, as 1.36 resolves it: the exact
/// value `internal.conf` means `{libdir}/internal.conf`, substitutions apply, and a relative
/// path is relative to the main file's directory. `None` when there is no include.
pub fn include_path(main: &Raw, vars: &Vars) -> Option<PathBuf> {
    let mut name = main_string(main, "include")?;
    if name == "internal.conf" {
        name = "{libdir}/internal.conf".to_string();
    }
    let name = vars.resolve(&name);
    if name.is_empty() {
        return None;
    }
    let path = Path::new(&name);
    Some(if path.is_relative() {
        main.dir().join(path)
    } else {
        path.to_path_buf()
    })
}

/// A key found through the settings layer.
#[derive(Debug, Clone)]
pub(crate) struct Found<'a> {
    /// The value with substitutions applied.
    pub(crate) value: Value,
    /// The entry as written.
    pub(crate) entry: &'a Entry,
    /// The file it came from.
    pub(crate) file: &'a Path,
}

/// The merged view of the main file and its include.
#[derive(Debug)]
pub(crate) struct Settings<'a> {
    pub(crate) main: &'a Raw,
    pub(crate) include: Option<&'a Raw>,
    pub(crate) vars: Vars,
}

impl<'a> Settings<'a> {
    /// The main file's entry, else the include's; substituted.
    pub(crate) fn get(&self, section: &str, key: &str) -> Option<Found<'a>> {
        let (raw, entry) = match self.main.get(section, key) {
            Some(e) => (self.main, e),
            None => {
                let inc = self.include?;
                (inc, inc.get(section, key)?)
            }
        };
        Some(Found {
            value: entry.value.map_strings(|s| self.vars.resolve(s)),
            entry,
            file: &raw.origin,
        })
    }

    /// Whether either file has the key.
    pub(crate) fn contains(&self, section: &str, key: &str) -> bool {
        self.main.contains(section, key) || self.include.is_some_and(|i| i.contains(section, key))
    }

    /// Directory of the main file: base of `routesfile`, `file:` keys and the include.
    pub(crate) fn config_dir(&self) -> &'a Path {
        self.main.dir()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ini;

    fn main(text: &str) -> Raw {
        ini::parse(text, Path::new("/etc/pushpin/pushpin.conf"))
    }

    #[test]
    fn vars_from_main_file() {
        let m = main("[global]\nrundir=run\nipc_prefix=x-\nport_offset=3\nlibdir=/lib/pp\n");
        let v = Vars::from_main(&m, &Overrides::default());
        assert_eq!(v.rundir, "run");
        assert_eq!(v.ipc_prefix, "x-");
        assert_eq!(v.port_offset, 3);
        assert_eq!(v.libdir, "/lib/pp");
        assert_eq!(v.resolve("ipc://{rundir}/{ipc_prefix}a"), "ipc://run/x-a");
        assert_eq!(v.resolve("{libdir}/internal.conf"), "/lib/pp/internal.conf");
        assert_eq!(v.resolve("{port_offset}"), "{port_offset}");
    }

    #[test]
    fn vars_defaults_and_overrides() {
        let m = main("[runner]\nrundir=old\n");
        let v = Vars::from_main(&m, &Overrides::default());
        assert_eq!(v.rundir, "old");
        assert_eq!(v.ipc_prefix, DEFAULT_IPC_PREFIX);
        assert_eq!(v.libdir, DEFAULT_LIBDIR);
        assert_eq!(v.port_offset, 0);
        let o = Overrides {
            ipc_prefix: Some("p1-".into()),
            port_offset: Some(10),
            libdir: Some("/opt/lib".into()),
        };
        let v = Vars::from_main(&m, &o);
        assert_eq!(
            (v.ipc_prefix.as_str(), v.port_offset, v.libdir.as_str()),
            ("p1-", 10, "/opt/lib")
        );
        // Present but empty ipc_prefix is empty, not the default.
        let v = Vars::from_main(&main("[global]\nipc_prefix=\n"), &Overrides::default());
        assert_eq!(v.ipc_prefix, "");
    }

    #[test]
    fn port_offset_rewrites_tcp() {
        assert_eq!(
            offset_tcp_ports("tcp://127.0.0.1:17240", 3),
            "tcp://127.0.0.1:17243"
        );
        assert_eq!(
            offset_tcp_ports("x tcp://a:1 y tcp://b:2", 10),
            "x tcp://a:11 y tcp://b:12"
        );
        assert_eq!(offset_tcp_ports("tcp://[::1]:5560", 1), "tcp://[::1]:5561");
        assert_eq!(
            offset_tcp_ports("tcp://a:x tcp://b:2", 1),
            "tcp://a:x tcp://b:2"
        );
        assert_eq!(offset_tcp_ports("ipc://tcp", 1), "ipc://tcp");
        assert_eq!(offset_tcp_ports("tcp://nocolon", 1), "tcp://nocolon");
        assert_eq!(offset_tcp_ports("tcp://[::1", 1), "tcp://[::1");
    }

    #[test]
    fn include_resolution() {
        let v = |m: &Raw| Vars::from_main(m, &Overrides::default());
        let m = main("[global]\ninclude={libdir}/internal.conf\n");
        assert_eq!(
            include_path(&m, &v(&m)),
            Some(PathBuf::from("/usr/lib/pushpin/internal.conf"))
        );
        let m = main("[global]\ninclude=internal.conf\nlibdir=/l\n");
        assert_eq!(
            include_path(&m, &v(&m)),
            Some(PathBuf::from("/l/internal.conf"))
        );
        let m = main("[global]\ninclude=extra.conf\n");
        assert_eq!(
            include_path(&m, &v(&m)),
            Some(PathBuf::from("/etc/pushpin/extra.conf"))
        );
        let m = main("[global]\ninclude=\n");
        assert_eq!(include_path(&m, &v(&m)), None);
        let m = main("[proxy]\ninclude=x\n");
        assert_eq!(include_path(&m, &v(&m)), None);
    }

    #[test]
    fn merge_main_wins() {
        let m = main("[global]\nrundir=run\n[proxy]\na=main\n");
        let i = ini::parse(
            "[proxy]\na=inc\nb=ipc://{rundir}/b\n[global]\nrundir=other\n",
            Path::new("i.conf"),
        );
        let s = Settings {
            main: &m,
            include: Some(&i),
            vars: Vars::from_main(&m, &Overrides::default()),
        };
        let a = s.get("proxy", "a").expect("a");
        assert_eq!(a.value, Value::Str("main".into()));
        assert_eq!(a.file, Path::new("/etc/pushpin/pushpin.conf"));
        let b = s.get("proxy", "b").expect("b");
        assert_eq!(b.value, Value::Str("ipc://run/b".into()));
        assert_eq!(b.file, Path::new("i.conf"));
        assert!(s.contains("proxy", "b"));
        assert!(!s.contains("proxy", "c"));
        assert_eq!(s.config_dir(), Path::new("/etc/pushpin"));
    }
}
