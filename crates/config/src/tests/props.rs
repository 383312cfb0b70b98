//! Property tests: arbitrary text never panics; generated INI files round-trip.

use std::path::Path;

use proptest::prelude::*;

use super::*;

/// Writes a value as Qt's `iniEscapedString` would.
fn escape(s: &str) -> String {
    let mut out = String::new();
    let mut needs_quotes = s.starts_with(' ') || s.ends_with(' ');
    if s.starts_with('@') {
        out.push('@');
    }
    for c in s.chars() {
        match c {
            ';' | ',' | '=' => {
                needs_quotes = true;
                out.push(c);
            }
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    if needs_quotes {
        format!("\"{out}\"")
    } else {
        out
    }
}

fn value() -> impl Strategy<Value = Value> {
    let text = "[ -~]{0,16}";
    prop_oneof![
        text.prop_map(Value::Str),
        proptest::collection::vec(text, 2..4).prop_map(Value::List),
    ]
}

proptest! {
    #[test]
    fn ini_parsing_never_panics(text in "(?s).{0,600}") {
        let raw = ini::parse(&text, Path::new("x.conf"));
        let _ = Config::from_raw(&raw, Some(&raw), &Overrides::default());
        let _ = ZurlConfig::from_raw(&raw);
    }

    #[test]
    fn ini_bytes_of_specials_never_panic(text in "[\\[\\]=;,\"\\\\ \t\r\nab@%#é]{0,200}") {
        let raw = ini::parse(&text, Path::new("x.conf"));
        let _ = Config::from_raw(&raw, None, &Overrides::default());
    }

    #[test]
    fn toml_parsing_never_panics(text in "(?s).{0,300}") {
        let _ = toml_source::parse(&text, Path::new("x.toml"));
    }

    #[test]
    fn generated_ini_round_trips(
        sections in proptest::collection::btree_map(
            "[a-z][a-z_]{0,8}",
            proptest::collection::btree_map("[a-z][a-z0-9_]{0,10}", value(), 0..6),
            1..4,
        )
    ) {
        let mut text = String::new();
        for (name, keys) in &sections {
            text.push_str(&format!("[{name}]\n"));
            for (k, v) in keys {
                let written = match v {
                    Value::Str(s) => escape(s),
                    Value::List(l) => l.iter().map(|s| escape(s)).collect::<Vec<_>>().join(", "),
                    Value::Invalid => "@Invalid()".to_string(),
                };
                text.push_str(&format!("{k}={written}\n"));
            }
            text.push('\n');
        }
        let raw = ini::parse(&text, Path::new("x.conf"));
        let total: usize = sections.values().map(|k| k.len()).sum();
        prop_assert_eq!(raw.entries.len(), total, "{}", text);
        for (name, keys) in &sections {
            let section = if name == "general" { "" } else { name.as_str() };
            for (k, v) in keys {
                let got = raw.get(section, k).map(|e| e.value.clone());
                prop_assert_eq!(got.as_ref(), Some(v), "{}", text);
            }
        }
    }
}
