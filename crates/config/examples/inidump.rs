//! Prints every key of INI files the way `fuzz/qt-diff/dump.cpp` prints what Qt's `QSettings`
//! returns, so the two can be diffed (`fuzz/qt-diff/diff.py`). Files are decoded as Latin-1,
//! as Qt does.

use std::collections::BTreeMap;
use std::path::Path;

use pushpin_config::{Value, ini};

fn esc(s: &str) -> String {
    let mut o = String::new();
    for c in s.chars() {
        if (' '..='~').contains(&c) && c != '\\' && c != '|' {
            o.push(c);
        } else {
            let mut buf = [0u16; 2];
            for unit in c.encode_utf16(&mut buf) {
                o.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    o
}

fn main() -> std::io::Result<()> {
    for arg in std::env::args().skip(1) {
        let text: String = std::fs::read(&arg)?
            .iter()
            .map(|&b| char::from(b))
            .collect();
        let raw = ini::parse(&text, Path::new(&arg));
        let mut map = BTreeMap::new();
        for e in &raw.entries {
            let full = if e.section.is_empty() {
                e.key.clone()
            } else {
                format!("{}/{}", e.section, e.key)
            };
            map.insert(full, e.value.clone());
        }
        for (k, v) in &map {
            let value = match v {
                Value::Str(s) => format!("S|{}", esc(s)),
                Value::List(l) => l
                    .iter()
                    .fold("L".to_string(), |acc, e| format!("{acc}|{}", esc(e))),
                Value::Invalid => "I".to_string(),
            };
            println!("{}|{value}", esc(k));
        }
        println!("@@END@@");
    }
    Ok(())
}
