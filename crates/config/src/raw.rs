//! The format-neutral result of parsing one file: every key with its section, value, text and
//! line exactly as written, before `include=`, substitutions and typing.
//!
//! Both readers produce it: [`crate::ini::parse`] (Pushpin's Qt `QSettings` INI dialect) and
//! [`crate::toml_source::parse`]. Lookups follow QSettings: the **last** occurrence of a key
//! wins, and section and key names are case-sensitive.

use std::path::{Path, PathBuf};

/// A parsed configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Raw {
    /// The file name the text came from (used in errors and as the base of relative paths).
    pub origin: PathBuf,
    /// Every `key=value` line in file order, duplicates included.
    pub entries: Vec<Entry>,
}

/// One `key=value` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Section name without brackets; `""` for keys before the first section and in `[General]`.
    pub section: String,
    /// Key name, unescaped (`%XX` decoded, `\` read as `/`).
    pub key: String,
    /// The value as QSettings returns it.
    pub value: Value,
    /// The value text as written (after `=`, surrounding whitespace trimmed, not unescaped).
    pub text: String,
    /// 1-based line of the key.
    pub line: u32,
}

/// A value as QSettings returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// One string (no unquoted comma in the value).
    Str(String),
    /// A string list (the value had an unquoted comma); elements trimmed, empty ones kept.
    List(Vec<String>),
    /// `@Invalid()` and other `@…(…)` forms that carry no string: present, but no value.
    Invalid,
}

impl Value {
    /// Qt's `toString()`: a list reads as `""` unless it has exactly one element; `Invalid`
    /// reads as `""`.
    pub fn to_qstring(&self) -> String {
        match self {
            Self::Str(s) => s.clone(),
            Self::List(l) => match l.as_slice() {
                [one] => one.clone(),
                _ => String::new(),
            },
            Self::Invalid => String::new(),
        }
    }

    /// Qt's `toStringList()`: a string is a one-element list; `Invalid` is empty.
    pub fn to_list(&self) -> Vec<String> {
        match self {
            Self::Str(s) => vec![s.clone()],
            Self::List(l) => l.clone(),
            Self::Invalid => Vec::new(),
        }
    }

    /// True for a list value that a scalar read would turn into `""`.
    pub fn is_multi(&self) -> bool {
        matches!(self, Self::List(l) if l.len() != 1)
    }

    /// Applies `f` to the string or to every list element.
    pub fn map_strings(&self, mut f: impl FnMut(&str) -> String) -> Self {
        match self {
            Self::Str(s) => Self::Str(f(s)),
            Self::List(l) => Self::List(l.iter().map(|s| f(s)).collect()),
            Self::Invalid => Self::Invalid,
        }
    }
}

impl Raw {
    /// An empty file with this origin.
    pub fn empty(origin: impl Into<PathBuf>) -> Self {
        Self {
            origin: origin.into(),
            entries: Vec::new(),
        }
    }

    /// The effective entry for `section`/`key`: the last occurrence.
    pub fn get(&self, section: &str, key: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.section == section && e.key == key)
    }

    /// Whether the key is present (even with an empty or `@Invalid()` value).
    pub fn contains(&self, section: &str, key: &str) -> bool {
        self.get(section, key).is_some()
    }

    /// The directory relative paths in this file are resolved against (may be empty = cwd).
    pub fn dir(&self) -> &Path {
        self.origin.parent().unwrap_or_else(|| Path::new(""))
    }

    /// The entries of `section`, first occurrence of each key only, in file order.
    pub fn keys_in<'a>(&'a self, section: &'a str) -> impl Iterator<Item = &'a Entry> + 'a {
        let mut seen = std::collections::HashSet::new();
        self.entries
            .iter()
            .filter(move |e| e.section == section && seen.insert(e.key.as_str()))
    }
}
