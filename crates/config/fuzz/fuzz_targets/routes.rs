//! Parses arbitrary text as a routes file and as `--route` lines, then runs the matching
//! algorithm. Nothing may panic; a route found by host/path must match the request.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use pushpin_config::routes::{self, Domain, Protocol};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let parsed = routes::parse(&text, Path::new("/etc/pushpin/routes"));
    for e in &parsed.skipped {
        let _ = e.to_string();
    }
    let lines: Vec<&str> = text.lines().collect();
    let args = routes::parse_route_lines(&lines, Path::new("."));
    for table in [&parsed.routes, &args.routes] {
        assert!(table.iter().all(|r| !r.targets.is_empty()));
        for r in table.iter() {
            let host = match &r.domain {
                Domain::Exact(h) => h.as_str(),
                Domain::Any | Domain::None => "any.example",
            };
            let path = r.path_beg.as_deref().unwrap_or("/");
            for proto in [Protocol::Http, Protocol::WebSocket] {
                for ssl in [false, true] {
                    if let Some(found) = table.find(proto, ssl, host, path) {
                        assert!(found.proto.is_none_or(|p| p == proto));
                        assert!(found.ssl.is_none_or(|s| s == ssl));
                        assert!(
                            found
                                .path_beg
                                .as_deref()
                                .is_none_or(|b| path.starts_with(b))
                        );
                    }
                }
            }
            if let Some(id) = &r.id {
                let _ = table.find_by_id(id);
            }
            for t in &r.targets {
                let _ = t.kind.zhttp_specs();
                let _ = t.kind.to_string();
            }
        }
        let _ = table.zhttp_targets();
    }
});
