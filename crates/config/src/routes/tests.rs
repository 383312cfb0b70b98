//! Routes lexer, line semantics, table rules, the §8.5 matching algorithm, fixtures and properties.

use std::path::Path;

use super::line::{LexError, RouteSection, parse_line};
use super::*;

fn file(text: &str) -> Parsed {
    parse(text, Path::new("/etc/pushpin/routes"))
}

fn one(line: &str) -> Route {
    match parse_rule(line, Path::new("/etc/pushpin")) {
        Ok(Some(r)) => r,
        other => panic!("{line:?}: {other:?}"),
    }
}

fn rejected(line: &str) -> RouteErrorKind {
    match parse_rule(line, Path::new(".")) {
        Err(k) => k,
        other => panic!("{line:?} accepted: {other:?}"),
    }
}

fn sec(value: &str, props: &[(&str, &str)]) -> RouteSection {
    RouteSection {
        value: value.into(),
        props: props
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
    }
}

#[test]
fn lexer_sections_and_props() {
    assert_eq!(
        parse_line("* test"),
        Ok(vec![sec("*", &[]), sec("test", &[])])
    );
    assert_eq!(
        parse_line("*,proto=ws,path_beg=/wssub 127.0.0.1:17281,sub=implicit-ch"),
        Ok(vec![
            sec("*", &[("proto", "ws"), ("path_beg", "/wssub")]),
            sec("127.0.0.1:17281", &[("sub", "implicit-ch")]),
        ])
    );
    assert_eq!(parse_line("   "), Ok(vec![]));
    assert_eq!(parse_line("# comment"), Ok(vec![]));
    assert_eq!(parse_line("   # comment"), Ok(vec![]));
    assert_eq!(parse_line(""), Ok(vec![]));
}

#[test]
fn lexer_hash_ends_line_mid_token() {
    assert_eq!(
        parse_line("* 127.0.0.1:17261#comment"),
        Ok(vec![sec("*", &[]), sec("127.0.0.1:17261", &[])])
    );
    assert_eq!(
        parse_line("* \"a#b\""),
        Ok(vec![sec("*", &[]), sec("a#b", &[])])
    );
}

#[test]
fn lexer_quotes() {
    assert_eq!(
        parse_line("* \"127.0.0.1:17261\",header=X-A:1,\"header=X-B:  two\""),
        Ok(vec![
            sec("*", &[]),
            sec(
                "127.0.0.1:17261",
                &[("header", "X-A:1"), ("header", "X-B:  two")]
            )
        ])
    );
    assert_eq!(
        parse_line(r#"* a"b c"d"#),
        Ok(vec![sec("*", &[]), sec("ab cd", &[])])
    );
    assert_eq!(
        parse_line(r#"* "q\"\\""#),
        Ok(vec![sec("*", &[]), sec("q\"\\", &[])])
    );
    assert_eq!(parse_line(r#"* "open"#), Err(LexError::Unterminated));
    assert_eq!(parse_line(r#"* "bad\n""#), Err(LexError::Unterminated));
    assert_eq!(parse_line(r#"* "end\"#), Err(LexError::Unterminated));
}

#[test]
fn lexer_tab_is_part_of_value() {
    assert_eq!(parse_line("*\ttest"), Ok(vec![sec("*\ttest", &[])]));
}

#[test]
fn lexer_props_only_first_section() {
    assert_eq!(
        parse_line("id=x test"),
        Ok(vec![sec("", &[("id", "x")]), sec("test", &[])])
    );
    assert_eq!(
        parse_line(",id=x test"),
        Ok(vec![sec("", &[("id", "x")]), sec("test", &[])])
    );
    // 1.36 re-reads from before the spaces: leading spaces break a props-only condition, and a
    // props-only later section always fails.
    assert_eq!(parse_line("  id=x test"), Err(LexError::ExpectingProp));
    assert_eq!(parse_line("* a=b"), Err(LexError::ExpectingProp));
}

#[test]
fn lexer_errors() {
    assert_eq!(parse_line("* test,"), Err(LexError::ExpectingProp));
    assert_eq!(parse_line("*,=x test"), Err(LexError::EmptyPropName));
    assert_eq!(parse_line("*, test"), Err(LexError::ExpectingProp));
}

#[test]
fn props_last_wins_and_multi_reverse() {
    let s = sec("x", &[("a", "1"), ("b", ""), ("a", "2")]);
    assert_eq!(s.last("a"), Some("2"));
    assert!(s.has("b"));
    assert_eq!(s.all_rev("a"), vec!["2", "1"]);
}

#[test]
fn condition_options() {
    let r = one(
        "example.com,proto=http,ssl=yes,path_beg=/api,id=main,sig_iss=iss,sig_key=base64:aGk=,prefix=p-,orig_headers,as_host=other:8080,debug=false,aco,session,sockjs=/sock,sockjs_as_path=/s2,no_grip 127.0.0.1:80",
    );
    assert_eq!(r.domain, Domain::Exact("example.com".into()));
    assert_eq!(r.proto, Some(Protocol::Http));
    assert_eq!(r.ssl, Some(true));
    assert_eq!(r.path_beg.as_deref(), Some("/api"));
    assert_eq!(r.id.as_deref(), Some("main"));
    assert!(r.explicit_id);
    assert_eq!(
        r.signing(),
        Some(("iss", &ConfigKey::Secret(b"hi".to_vec())))
    );
    assert_eq!(r.prefix, "p-");
    assert!(r.orig_headers);
    assert_eq!(r.as_host.as_deref(), Some("other:8080"));
    assert!(r.debug, "a flag's value is ignored");
    assert!(r.auto_cross_origin);
    assert!(r.session);
    assert_eq!(r.sockjs_path.as_deref(), Some("/sock"));
    assert_eq!(r.sockjs_as_path.as_deref(), Some("/s2"));
    assert!(!r.grip);
    assert_eq!(r.stats_route(), Some("main"));
}

#[test]
fn defaults_of_a_plain_line() {
    let r = one("* test");
    assert_eq!(r.domain, Domain::Any);
    assert_eq!((r.proto, r.ssl, r.path_beg.as_deref()), (None, None, None));
    assert!(r.grip && !r.debug && !r.session && !r.orig_headers && !r.auto_cross_origin);
    assert_eq!(r.path_rem, 0);
    assert_eq!(r.jsonp.mode, JsonpMode::Extended);
    assert_eq!(r.jsonp.default_method, "GET");
    assert_eq!(r.signing(), None);
    assert_eq!(r.targets.len(), 1);
    assert_eq!(r.targets.first().map(|t| &t.kind), Some(&TargetKind::Test));
}

#[test]
fn sig_key_forms() {
    let r = one("*,sig_key=file:keys/k.pem test");
    assert_eq!(
        r.sig_key,
        Some(ConfigKey::PemFile("/etc/pushpin/keys/k.pem".into()))
    );
    assert_eq!(r.signing(), None, "needs sig_iss too");
    let r = one("*,sig_key=plain,sig_iss=x test");
    assert_eq!(
        r.signing(),
        Some(("x", &ConfigKey::Secret(b"plain".to_vec())))
    );
}

#[test]
fn path_rewrites() {
    assert_eq!(one("*,path_rem=3 test").path_rem, 3);
    let r = one("*,path_beg=/rep,replace_beg=/new test");
    assert_eq!((r.path_rem, r.path_prepend.as_deref()), (4, Some("/new")));
    let r = one("*,replace_beg=/new,path_rem=9 test");
    assert_eq!(
        r.path_rem, 0,
        "replace_beg without path_beg removes nothing"
    );
    assert_eq!(rejected("*,path_rem=x test"), RouteErrorKind::BadPathRem);
    assert_eq!(rejected("*,path_rem=-1 test"), RouteErrorKind::BadPathRem);
}

#[test]
fn jsonp_options() {
    let r = one("*,jsonp_mode=basic,jsonp_cb=cb,jsonp_body=b,jsonp_defcb=f test");
    assert_eq!(r.jsonp.mode, JsonpMode::Basic);
    assert_eq!(r.jsonp.default_method, "POST");
    assert_eq!(
        (r.jsonp.callback_param.as_str(), r.jsonp.body_param.as_str()),
        ("cb", "b")
    );
    assert_eq!(r.jsonp.default_callback, "f");
    assert_eq!(
        one("*,jsonp_defmethod=PUT test").jsonp.default_method,
        "PUT"
    );
    assert_eq!(
        rejected("*,jsonp_mode=x test"),
        RouteErrorKind::BadJsonpMode
    );
}

#[test]
fn headers_reverse_order_and_trim() {
    let r = one("*,header=X-A:1,\"header=X-B:  two\",header=X-C: test");
    assert_eq!(
        r.headers,
        vec![
            ("X-C".into(), "".into()),
            ("X-B".into(), "two".into()),
            ("X-A".into(), "1".into())
        ]
    );
    assert_eq!(rejected("*,header=novalue test"), RouteErrorKind::BadHeader);
    assert_eq!(rejected("*,header=:v test"), RouteErrorKind::BadHeader);
}

#[test]
fn condition_errors() {
    assert_eq!(rejected("*"), RouteErrorKind::NeedTarget);
    assert_eq!(rejected("*,proto=tcp test"), RouteErrorKind::BadProto);
    assert_eq!(rejected("*,proto test"), RouteErrorKind::BadProto);
    assert_eq!(rejected("*,ssl=maybe test"), RouteErrorKind::BadSsl);
    assert_eq!(rejected("*,path_beg= test"), RouteErrorKind::EmptyPathBeg);
    assert_eq!(rejected("* \"x"), RouteErrorKind::Unterminated);
    assert_eq!(rejected("* x,"), RouteErrorKind::ExpectingProp);
    assert_eq!(rejected("*,=1 x"), RouteErrorKind::EmptyPropName);
}

#[test]
fn ignored_options() {
    let r = one("*,path_end=/x,aud=a,session_header=h,timeout=5,logging,grip test");
    assert_eq!(r, one("* test"));
}

#[test]
fn targets_and_options() {
    let r = one(
        "* h1:80,ssl,untrusted,trust_connect_host,insecure,host=example.com:443,sub=a,sub=b,sub=,over_http,one_event test zhttp/ipc://run/custom,ipc_file_mode=770 zhttpreq/tcp://127.0.0.1:9000,ipc_file_mode=9",
    );
    let t = r.targets.first().expect("target");
    assert_eq!(
        t.kind,
        TargetKind::Origin {
            host: "h1".into(),
            port: 80
        }
    );
    assert!(
        t.ssl && !t.trusted && t.trust_connect_host && t.insecure && t.over_http && t.one_event
    );
    assert_eq!(t.host.as_deref(), Some("example.com:443"));
    assert_eq!(t.subscriptions, vec!["b".to_string(), "a".to_string()]);
    assert_eq!(r.targets.get(1).map(|t| &t.kind), Some(&TargetKind::Test));
    assert!(r.targets.get(1).is_some_and(|t| t.trusted && !t.ssl));
    let z = r.targets.get(2).expect("zhttp");
    assert_eq!(
        z.kind,
        TargetKind::Zhttp {
            base: "ipc://run/custom".parse().expect("spec"),
            req: false
        }
    );
    assert_eq!(z.ipc_file_mode, Some(0o770));
    let (a, b, c) = z.kind.zhttp_specs().expect("specs");
    assert_eq!(
        [a.to_string(), b.to_string(), c.to_string()],
        [
            "ipc://run/custom-out",
            "ipc://run/custom-out-stream",
            "ipc://run/custom-in"
        ]
    );
    let zr = r.targets.get(3).expect("zhttpreq");
    assert_eq!(zr.ipc_file_mode, None, "invalid octal ignored");
    assert!(matches!(zr.kind, TargetKind::Zhttp { req: true, .. }));
    let (a, b, c) = zr.kind.zhttp_specs().expect("specs");
    assert_eq!(
        [a.to_string(), b.to_string(), c.to_string()],
        [
            "tcp://127.0.0.1:9000",
            "tcp://127.0.0.1:9001",
            "tcp://127.0.0.1:9002"
        ]
    );
    assert_eq!(zr.kind.to_string(), "zhttpreq/tcp://127.0.0.1:9000");
    assert_eq!(t.kind.to_string(), "h1:80");
}

#[test]
fn target_errors() {
    assert_eq!(rejected("* nocolon"), RouteErrorKind::TargetBadFormat);
    assert_eq!(rejected("* h:0"), RouteErrorKind::TargetInvalidPort);
    assert_eq!(rejected("* h:65536"), RouteErrorKind::TargetInvalidPort);
    assert_eq!(rejected("* h:x"), RouteErrorKind::TargetInvalidPort);
    assert_eq!(rejected("* ::1:80"), RouteErrorKind::TargetInvalidPort);
    assert!(matches!(
        rejected("* zhttp/run/x"),
        RouteErrorKind::BadZhttpSpec(_)
    ));
    // The first target error rejects the line.
    assert_eq!(
        rejected("* test h:0 nocolon"),
        RouteErrorKind::TargetInvalidPort
    );
}

#[test]
fn generated_ids() {
    let p = file(
        "*,proto=ws test\n*,path_beg=/test test\nx.example,ssl=no,proto=http,path_beg=/s test\n*,ssl=yes test\n",
    );
    let ids: Vec<_> = p
        .routes
        .iter()
        .map(|r| r.id.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        ids,
        [
            "*,ws,*,*",
            "*,*,*,/test",
            "x.example,http,ssl,/s",
            "*,*,no-ssl,*"
        ]
    );
    assert!(p.routes.iter().all(|r| r.stats_route().is_none()));
    assert!(p.routes.find_by_id("*,*,*,/test").is_some());
}

#[test]
fn route_lines_get_no_generated_id() {
    let p = parse_route_lines(
        &[
            "* test",
            "example.com 127.0.0.1:17299",
            ",id=x test",
            ",proto=ws test",
        ],
        Path::new("."),
    );
    assert_eq!(p.routes.len(), 3);
    assert!(
        p.routes
            .iter()
            .all(|r| !r.id.as_deref().is_some_and(|i| i.contains(',')))
    );
    assert_eq!(p.skipped.len(), 1);
    let e = p.skipped.first().expect("error");
    assert_eq!(e.to_string(), "<route>:1 condition has no domain or id");
    assert!(p.routes.find_by_id("x").is_some());
}

#[test]
fn empty_domain_in_file_gets_star_id() {
    // 1.36 generates an id even for an empty domain, so such a file line is accepted and only
    // reachable through its generated id (which collides with a `*` line's).
    let p = file(",proto=ws test\n*,proto=ws 127.0.0.1:1\n");
    assert_eq!(p.routes.len(), 2);
    assert!(p.routes.is_id_shared("*,ws,*,*"));
    assert!(p.routes.find_by_id("*,ws,*,*").is_none());
    assert_eq!(
        p.routes
            .find(Protocol::WebSocket, false, "h", "/")
            .map(|r| r.line),
        Some(2)
    );
}

#[test]
fn duplicates_and_shared_ids() {
    let p = file(
        "*,id=a test\n*,id=b,path_beg=/b 127.0.0.1:1\nh.example,id=a test\nh.example,id=a test\n",
    );
    assert_eq!(p.routes.len(), 3);
    let e = p.skipped.first().expect("dup");
    assert_eq!(
        e.to_string(),
        "/etc/pushpin/routes:4 skipping duplicate condition"
    );
    assert!(p.routes.is_id_shared("a"));
    assert!(p.routes.find_by_id("a").is_none());
    assert_eq!(p.routes.find_by_id("b").map(|r| r.line), Some(2));
    assert!(!p.routes.is_id_shared("b"));
    assert!(p.routes.find_by_id("nope").is_none());
}

#[test]
fn skipped_lines_are_reported_and_others_kept() {
    let p = file("# header\n\n* test,\n*,proto=bad test\n* test\n");
    assert_eq!(p.routes.len(), 1);
    let msgs: Vec<_> = p.skipped.iter().map(ToString::to_string).collect();
    assert_eq!(
        msgs,
        [
            "/etc/pushpin/routes:3: expecting prop",
            "/etc/pushpin/routes:4: proto must be set to 'http' or 'ws'"
        ]
    );
    assert!(matches!(p.skipped.get(1), Some(ConfigError::Route { value, .. }) if value == "bad"));
}

#[test]
fn matching_host_then_wildcard_without_fallback() {
    let p = file("* 127.0.0.1:1\nb.example,path_beg=/x 127.0.0.1:2\nUpper.Example 127.0.0.1:3\n");
    let find = |host: &str, path: &str| {
        p.routes
            .find(Protocol::Http, false, host, path)
            .map(|r| r.line)
    };
    assert_eq!(find("a.example", "/"), Some(1));
    assert_eq!(find("b.example", "/x/1"), Some(2));
    assert_eq!(find("b.example", "/y"), None, "no fallback to *");
    assert_eq!(
        find("upper.example", "/"),
        Some(1),
        "route domain is not lowercased"
    );
    assert_eq!(find("", "/"), Some(1));
    let empty = file("b.example test\n");
    assert!(
        empty
            .routes
            .find(Protocol::Http, false, "c.example", "/")
            .is_none()
    );
}

#[test]
fn matching_specificity() {
    let p = file(
        "* 127.0.0.1:1\n*,path_beg=/a 127.0.0.1:2\n*,path_beg=/a/b 127.0.0.1:3\n*,proto=ws 127.0.0.1:4\n*,ssl=yes 127.0.0.1:5\n",
    );
    let find = |proto, ssl, path: &str| p.routes.find(proto, ssl, "h", path).map(|r| r.line);
    assert_eq!(find(Protocol::Http, false, "/"), Some(1));
    assert_eq!(find(Protocol::Http, false, "/a/x"), Some(2));
    assert_eq!(find(Protocol::Http, false, "/a/b/c"), Some(3));
    assert_eq!(
        find(Protocol::WebSocket, false, "/a/b/c"),
        Some(4),
        "proto beats path"
    );
    // The ssl quirk: a set ssl beats a longer path_beg without one.
    assert_eq!(find(Protocol::Http, true, "/a/b/c"), Some(5));
    assert_eq!(find(Protocol::Http, true, "/"), Some(5));
}

#[test]
fn matching_ssl_quirk() {
    // A later rule with a shorter path_beg but a set ssl beats a longer path_beg without ssl.
    let p = file("c.example,path_beg=/a 127.0.0.1:1\nc.example,ssl=no 127.0.0.1:2\n");
    assert_eq!(
        p.routes
            .find(Protocol::Http, false, "c.example", "/a/x")
            .map(|r| r.line),
        Some(2)
    );
    assert_eq!(
        p.routes
            .find(Protocol::Http, true, "c.example", "/a/x")
            .map(|r| r.line),
        Some(1)
    );
    assert_eq!(
        p.routes
            .find(Protocol::Http, true, "c.example", "/b")
            .map(|r| r.line),
        None
    );
}

#[test]
fn fixtures() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let p = load(&dir.join("routes")).expect("read");
    assert_eq!(p.routes.len(), 1);
    assert!(p.skipped.is_empty());
    let r = p
        .routes
        .find(Protocol::Http, false, "localhost", "/")
        .expect("* test");
    assert_eq!(r.targets.first().map(|t| &t.kind), Some(&TargetKind::Test));

    let p = load(&dir.join("example-routes")).expect("read");
    assert_eq!(p.routes.len(), 4);
    assert!(p.skipped.is_empty());
    let ws = p
        .routes
        .find(Protocol::WebSocket, false, "127.0.0.1", "/wssub/x")
        .expect("ws");
    assert_eq!(ws.id.as_deref(), Some("*,ws,*,/wssub"));
    assert_eq!(
        ws.targets.first().map(|t| t.subscriptions.clone()),
        Some(vec!["implicit-ch".to_string()])
    );
    let ws = p
        .routes
        .find(Protocol::WebSocket, false, "127.0.0.1", "/other")
        .expect("ws");
    assert_eq!(ws.id.as_deref(), Some("*,ws,*,*"));
    let t = p
        .routes
        .find(Protocol::Http, false, "127.0.0.1", "/test/x")
        .expect("test");
    assert_eq!(t.id.as_deref(), Some("*,*,*,/test"));
    let main = p
        .routes
        .find(Protocol::Http, false, "127.0.0.1", "/")
        .expect("main");
    assert_eq!(main.stats_route(), Some("main"));
    assert_eq!(p.routes.find_by_id("main").map(|r| r.line), Some(5));
}

#[test]
fn load_missing_file_is_read_error() {
    let e = load(Path::new("/nonexistent/routes")).expect_err("missing");
    assert!(matches!(e, ConfigError::Read { .. }));
}

#[test]
fn crlf_lines() {
    let p = file("* test\r\nx.example 127.0.0.1:1\r\n");
    assert_eq!(p.routes.len(), 2);
    assert_eq!(
        p.routes
            .find(Protocol::Http, false, "x.example", "/")
            .map(|r| r.line),
        Some(2)
    );
}

#[test]
fn zhttp_targets_distinct() {
    let p = file("* zhttp/ipc://a,ipc_file_mode=777 zhttp/ipc://a\nx zhttp/ipc://b\n");
    let bases: Vec<_> = p
        .routes
        .zhttp_targets()
        .iter()
        .map(|t| t.kind.to_string())
        .collect();
    assert_eq!(bases, ["zhttp/ipc://a", "zhttp/ipc://b"]);
}

mod props {
    use proptest::prelude::*;

    use super::*;

    fn token() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9_./:-]{1,12}"
    }

    fn quoted(s: &str) -> String {
        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
    }

    proptest! {
        #[test]
        fn lexing_never_panics(line in ".{0,200}") {
            let _ = parse_line(&line);
            let _ = parse_rule(&line, Path::new("."));
        }

        #[test]
        fn file_parsing_never_panics(text in "(?s).{0,400}") {
            let p = parse(&text, Path::new("routes"));
            let _ = p.routes.find(Protocol::Http, false, "h", "/");
        }

        #[test]
        fn generated_options_parse(
            host in "[a-z]{1,8}(\\.[a-z]{2,5})?",
            port in 1u16..,
            path in proptest::option::of("/[a-z0-9/]{0,10}"),
            proto in proptest::option::of(prop_oneof![Just("http"), Just("ws")]),
            ssl in proptest::option::of(prop_oneof![Just("yes"), Just("no")]),
            id in proptest::option::of(token()),
            prefix in proptest::option::of(token()),
            header_value in "[ -~]{0,12}",
            subs in proptest::collection::vec(token(), 0..3),
            flags in proptest::collection::vec(prop_oneof![
                Just("debug"), Just("aco"), Just("session"), Just("orig_headers"), Just("no_grip")
            ], 0..4),
            target_flags in proptest::collection::vec(prop_oneof![
                Just("ssl"), Just("untrusted"), Just("insecure"), Just("over_http"), Just("trust_connect_host")
            ], 0..4),
        ) {
            let mut cond = host.clone();
            if let Some(p) = &path { cond.push_str(&format!(",path_beg={p}")); }
            if let Some(p) = proto { cond.push_str(&format!(",proto={p}")); }
            if let Some(s) = ssl { cond.push_str(&format!(",ssl={s}")); }
            if let Some(i) = &id { cond.push_str(&format!(",id={i}")); }
            if let Some(p) = &prefix { cond.push_str(&format!(",prefix={p}")); }
            cond.push(',');
            cond.push_str(&quoted(&format!("header=X-H:{header_value}")));
            for f in &flags { cond.push_str(&format!(",{f}")); }
            let mut target = format!("127.0.0.1:{port}");
            for s in &subs { target.push_str(&format!(",sub={s}")); }
            for f in &target_flags { target.push_str(&format!(",{f}")); }
            let line = format!("{cond} {target} test");
            let r = parse_rule(&line, Path::new(".")).map_err(|e| TestCaseError::fail(format!("{line}: {e}")))?;
            let r = r.ok_or_else(|| TestCaseError::fail("empty"))?;
            prop_assert_eq!(&r.domain, &Domain::Exact(host.clone()));
            prop_assert_eq!(r.path_beg.as_deref(), path.as_deref().filter(|p| !p.is_empty()));
            prop_assert_eq!(r.proto.is_some(), proto.is_some());
            prop_assert_eq!(r.ssl, ssl.map(|s| s == "yes"));
            prop_assert_eq!(r.id.as_deref(), id.as_deref());
            prop_assert_eq!(r.prefix.as_str(), prefix.as_deref().unwrap_or(""));
            prop_assert_eq!(r.headers.first().map(|(_, v)| v.as_str()), Some(header_value.trim_start_matches(' ')));
            prop_assert_eq!(r.debug, flags.contains(&"debug"));
            prop_assert_eq!(r.grip, !flags.contains(&"no_grip"));
            prop_assert_eq!(r.targets.len(), 2);
            let t = r.targets.first().ok_or_else(|| TestCaseError::fail("no target"))?;
            prop_assert_eq!(&t.kind, &TargetKind::Origin { host: "127.0.0.1".into(), port });
            let mut rev = subs.clone();
            rev.reverse();
            prop_assert_eq!(&t.subscriptions, &rev);
            prop_assert_eq!(t.trusted, !target_flags.contains(&"untrusted"));
            prop_assert_eq!(t.ssl, target_flags.contains(&"ssl"));
        }
    }
}
