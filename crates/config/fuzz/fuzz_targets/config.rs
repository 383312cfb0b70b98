//! Parses arbitrary text as pushpin.conf (Qt INI dialect), as its own include, as TOML and as
//! zurl.conf, then types and validates it. Nothing may panic, and every entry's line must lie
//! inside the text.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use pushpin_config::{Config, Overrides, ZurlConfig, ini, toml_source};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let raw = ini::parse(&text, Path::new("fuzz.conf"));
    let lines = text.split(['\n', '\r']).count();
    for e in &raw.entries {
        assert!(
            e.line >= 1 && (e.line as usize) <= lines,
            "line {} of {lines}",
            e.line
        );
    }
    let overrides = Overrides {
        ipc_prefix: None,
        port_offset: Some(10),
        libdir: None,
    };
    for include in [None, Some(&raw)] {
        match Config::from_raw(&raw, include, &overrides) {
            Ok(cfg) => {
                let _ = cfg.check_proxy();
                let _ = cfg.check_handler();
                let _ = cfg.check_runner(false);
                let _ = cfg.proxy.server_specs();
                let _ = cfg.handler.server_specs();
            }
            Err(errors) => {
                assert!(!errors.is_empty());
                let _ = errors.to_string();
            }
        }
    }
    let _ = ZurlConfig::from_raw(&raw);
    if let Ok(t) = toml_source::parse(&text, Path::new("fuzz.toml")) {
        let _ = Config::from_raw(&t, None, &Overrides::default());
    }
});
