//! The same keys in TOML, for a config path ending in `.toml` (a rebuild convenience; Pushpin's
//! own files stay INI, STYLE §6).
//!
//! Each INI section is a TOML table (`[global]`, `[runner]`, `[proxy]`, `[handler]`); values
//! are strings, integers, booleans or arrays of those (an array is what an INI comma list is).
//! Keys must sit inside a table. The result is the same [`Raw`] the INI reader produces, so
//! `include=`, substitutions, typing and validation are shared.

use std::collections::BTreeMap;
use std::path::Path;

use toml::Spanned;

use crate::error::{ConfigError, ConfigErrors, Expected};
use crate::raw::{Entry, Raw, Value};
use crate::read::key_name;

type Table = BTreeMap<String, Spanned<toml::Value>>;
type Doc = BTreeMap<String, Spanned<Table>>;

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> u32 {
    let before = text.get(..offset).unwrap_or(text);
    u32::try_from(before.matches('\n').count())
        .unwrap_or(u32::MAX)
        .saturating_add(1)
}

fn scalar_text(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        toml::Value::Float(_)
        | toml::Value::Datetime(_)
        | toml::Value::Array(_)
        | toml::Value::Table(_) => None,
    }
}

/// Parses a TOML configuration into [`Raw`]. All value errors are collected.
pub fn parse(text: &str, origin: &Path) -> Result<Raw, ConfigErrors> {
    let doc: Doc = toml::from_str(text).map_err(|e| ConfigError::Syntax {
        file: origin.to_path_buf(),
        line: e.span().map_or(1, |s| line_of(text, s.start)),
        message: e.message().to_string(),
    })?;
    let mut raw = Raw::empty(origin);
    let mut errors = Vec::new();
    for (section, table) in doc {
        for (key, value) in table.into_inner() {
            let line = line_of(text, value.span().start);
            let v = value.into_inner();
            let converted = match &v {
                toml::Value::Array(items) => items
                    .iter()
                    .map(scalar_text)
                    .collect::<Option<Vec<_>>>()
                    .map(Value::List),
                other => scalar_text(other).map(Value::Str),
            };
            let shown = v.to_string();
            match converted {
                Some(value) => raw.entries.push(Entry {
                    section: section.clone(),
                    key,
                    text: match &value {
                        Value::Str(s) => s.clone(),
                        Value::List(_) | Value::Invalid => shown,
                    },
                    value,
                    line,
                }),
                None => errors.push(ConfigError::InvalidValue {
                    file: origin.to_path_buf(),
                    line,
                    key: key_name(&section, &key),
                    value: shown,
                    expected: Expected::TomlValue,
                }),
            }
        }
    }
    raw.entries.sort_by_key(|e| e.line);
    ConfigErrors(errors).into_result(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Raw, ConfigErrors> {
        parse(text, Path::new("pushpin.toml"))
    }

    #[test]
    fn tables_and_values() {
        let raw = p("[runner]\nservices = [\"condure\", \"pushpin-proxy\"]\nhttp_port = 7999\n\n[proxy]\ndebug = true\nsig_key = \"a,b\"\n")
            .expect("parses");
        let get = |s: &str, k: &str| raw.get(s, k).map(|e| (e.value.clone(), e.line));
        assert_eq!(
            get("runner", "services"),
            Some((
                Value::List(vec!["condure".into(), "pushpin-proxy".into()]),
                2
            ))
        );
        assert_eq!(
            get("runner", "http_port"),
            Some((Value::Str("7999".into()), 3))
        );
        assert_eq!(get("proxy", "debug"), Some((Value::Str("true".into()), 6)));
        // A TOML string keeps its comma: it is not an INI list.
        assert_eq!(get("proxy", "sig_key"), Some((Value::Str("a,b".into()), 7)));
    }

    #[test]
    fn bad_values_are_collected() {
        let errs = p("[proxy]\na = 1.5\nb = [[1]]\nc = { x = 1 }\nd = \"ok\"\n").expect_err("bad");
        assert_eq!(errs.len(), 3);
        let lines: Vec<_> = errs.iter().filter_map(ConfigError::line).collect();
        assert_eq!(lines, vec![2, 3, 4]);
    }

    #[test]
    fn syntax_error_has_line() {
        let errs = p("[proxy]\n\ndebug = \n").expect_err("bad");
        let e = errs.iter().next().expect("one");
        assert!(matches!(e, ConfigError::Syntax { line: 3, .. }), "{e:?}");
    }

    #[test]
    fn top_level_key_is_an_error() {
        let errs = p("debug = true\n").expect_err("bad");
        assert!(matches!(
            errs.iter().next(),
            Some(ConfigError::Syntax { line: 1, .. })
        ));
    }
}
