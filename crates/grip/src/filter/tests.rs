use std::collections::BTreeMap;

use proptest::prelude::*;

use super::format::{self, Directives, Mode};
use super::*;

type Pair<'a> = (&'a str, &'a str);
type Pairs<'a> = &'a [Pair<'a>];
type IdPairs<'a> = &'a [(&'a str, Option<&'a str>)];

fn meta(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn ids(pairs: &[(&str, Option<&str>)]) -> BTreeMap<String, Option<String>> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.map(str::to_owned)))
        .collect()
}

fn run(names: &[&str], ctx: Context<'_>, data: &str) -> Result<String, String> {
    FilterStack::new(names, ctx)
        .process(data.as_bytes())
        .map(|o| String::from_utf8_lossy(&o).into_owned())
        .map_err(|e| e.to_string())
}

fn var_subst(sub: &[(&str, &str)], data: &str) -> Result<String, String> {
    let sub = meta(sub);
    let ctx = Context {
        sub_meta: &sub,
        ..Context::default()
    };
    run(&["var-subst"], ctx, data)
}

#[test]
fn names_and_targets() {
    for f in Filter::ALL {
        assert_eq!(f.as_str().parse::<Filter>(), Ok(f));
    }
    assert!("nope".parse::<Filter>().is_err());
    assert!(Filter::SkipSelf.targets().delivery);
    assert!(Filter::BuildId.targets().proxy_content);
    assert!(!Filter::VarSubst.targets().proxy_content);
    assert_eq!(
        message_content_filters(&["skip-self", "build-id", "x", "var-subst"]),
        ["build-id", "var-subst"]
    );
    let a = ["skip-self".to_owned(), "build-id".to_owned()];
    let b = ["build-id".to_owned(), "var-subst".to_owned()];
    assert_eq!(
        proxy_content_filters([a.as_slice(), b.as_slice()]),
        ["build-id"]
    );
}

#[test]
fn content_filter_mismatch_text() {
    let sub = ["var-subst", "skip-self"];
    let one = vec!["var-subst".to_owned()];
    assert_eq!(check_content_filters(&sub, Some(one.as_slice())), Ok(()));
    assert_eq!(check_content_filters(&sub, None), Ok(()));
    let c = vec!["c".to_owned()];
    let e = check_content_filters(&["var-subst", "build-id"], Some(c.as_slice())).unwrap_err();
    assert_eq!(
        e.to_string(),
        "content filter mismatch: subscription=var-subst,build-id message=c"
    );
    let e = check_content_filters(&["var-subst"], Some(&[][..])).unwrap_err();
    assert_eq!(
        e.to_string(),
        "content filter mismatch: subscription=var-subst message="
    );
}

#[test]
fn skip_self() {
    let cases: &[(Pairs<'_>, Pairs<'_>, bool)] = &[
        (&[("user", "alice")], &[("sender", "alice")], true),
        (&[("user", "alice")], &[("sender", "bob")], false),
        (&[("user", "")], &[("sender", "")], false),
        (&[], &[("sender", "alice")], false),
        (&[("user", "alice")], &[], false),
    ];
    for (sub, publ, drop) in cases {
        let (sub, publ) = (meta(sub), meta(publ));
        let ctx = Context {
            sub_meta: &sub,
            pub_meta: &publ,
            ..Context::default()
        };
        assert_eq!(
            FilterStack::new(&["skip-self"], ctx).drops(),
            *drop,
            "{sub:?} {publ:?}"
        );
    }
}

#[test]
fn skip_users() {
    let cases: &[(&str, &str, bool)] = &[
        ("alice", "bob, alice ,carol", true),
        ("alice", "alice", true),
        ("alice", "bob,,carol", false),
        ("alice", "alic", false),
        ("", " , ", false),
        ("a b", " a b ", true),
    ];
    for (user, list, drop) in cases {
        let sub = meta(&[("user", user)]);
        let publ = meta(&[("skip_users", list)]);
        let ctx = Context {
            sub_meta: &sub,
            pub_meta: &publ,
            ..Context::default()
        };
        assert_eq!(
            FilterStack::new(&["skip-users"], ctx).drops(),
            *drop,
            "{user} {list}"
        );
    }
}

#[test]
fn require_sub() {
    let prev = ids(&[("a", None), ("b", Some("1"))]);
    for (req, drop) in [("a", false), ("b", false), ("c", true), ("", false)] {
        let publ = meta(&[("require_sub", req)]);
        let ctx = Context {
            prev_ids: &prev,
            pub_meta: &publ,
            ..Context::default()
        };
        assert_eq!(
            FilterStack::new(&["require-sub"], ctx).drops(),
            drop,
            "{req}"
        );
    }
    // WebSocket sessions have no prev-ids: any require_sub drops
    let publ = meta(&[("require_sub", "a")]);
    let ctx = Context {
        pub_meta: &publ,
        ..Context::default()
    };
    assert!(FilterStack::new(&["require-sub"], ctx).drops());
    // no filter, no drop
    assert!(!FilterStack::new(&["var-subst", "nope"], ctx).drops());
}

#[test]
fn var_subst_substitutes() {
    let sub = &[("user", "alice"), ("n", "")];
    assert_eq!(var_subst(sub, "hi %(user)s!"), Ok("hi alice!".into()));
    assert_eq!(var_subst(sub, "100%% [%(n)s]"), Ok("100% []".into()));
    assert_eq!(
        var_subst(sub, "%(us\\)er)s"),
        Err("var-subst: No such variable 'us)er' at position 9".into())
    );
    assert_eq!(var_subst(sub, "plain"), Ok("plain".into()));
    // spec/vectors/grip/filters.txt (1.36)
    let sub = &[("user", "alice"), ("greeting", "hi there")];
    assert_eq!(
        var_subst(sub, "Hello %(user)s, %(greeting)s 100%%\n"),
        Ok("Hello alice, hi there 100%\n".into())
    );
    assert_eq!(
        var_subst(sub, "missing %(nope)s\n"),
        Err("var-subst: No such variable 'nope' at position 15".into())
    );
    assert_eq!(var_subst(sub, ""), Ok(String::new()));
}

#[test]
fn var_subst_errors() {
    let sub = &[("user", "alice")];
    let cases = [
        ("hello %(nope)s", "No such variable 'nope' at position 13"),
        ("%c", "Unknown directive 'c' at position 1"),
        ("%(user)c", "Unknown directive 'c' at position 7"),
        ("ab%", "Expected directive after '%' at position 2"),
        ("%(", "Expected character after '(' at position 1"),
        ("%(ab", "Unterminated field starting at position 1"),
        ("%(a\\", "Expected character after '\\' at position 3"),
        ("%(a)", "Expected directive after ')' at position 3"),
        ("%s", "Directive 's' requires argument at position 1"),
        ("%()s", "Directive 's' requires argument at position 3"),
        ("% x", "Unknown directive ' ' at position 1"),
        ("%1", "Unknown directive '1' at position 1"),
    ];
    for (input, text) in cases {
        assert_eq!(
            var_subst(sub, input),
            Err(format!("var-subst: {text}")),
            "{input}"
        );
    }
}

#[test]
fn non_ascii_directive_shows_as_latin1() {
    let e = format::process(b"%\xe9", &MetaVars(&BTreeMap::new()), Mode::Strict).unwrap_err();
    assert_eq!(e.to_string(), "Unknown directive '\u{e9}' at position 1");
}

#[test]
fn partial_mode_stops_before_an_incomplete_directive() {
    struct Upper;
    impl Directives for Upper {
        fn render(&self, d: u8, _: Option<&[u8]>) -> Result<Vec<u8>, DirectiveError> {
            Ok(vec![d.to_ascii_uppercase()])
        }
    }
    for (input, out, consumed) in [
        ("ab%", "ab", 2),
        ("a%(x", "a", 1),
        ("a%(", "a", 1),
        ("a%(x\\", "a", 1),
        ("a%(x)", "a", 1),
        ("a%b%", "aB", 3),
        ("a%%", "a%", 3),
    ] {
        let r = format::process(input.as_bytes(), &Upper, Mode::Partial).unwrap();
        assert_eq!(
            (r.out.as_slice(), r.consumed),
            (out.as_bytes(), consumed),
            "{input}"
        );
    }
    assert!(format::process(b"a%-", &Upper, Mode::Partial).is_err());
}

fn build_id(
    sub: &[(&str, &str)],
    prev: &[(&str, Option<&str>)],
    data: &str,
) -> Result<String, String> {
    let (sub, prev) = (meta(sub), ids(prev));
    let ctx = Context {
        prev_ids: &prev,
        sub_meta: &sub,
        ..Context::default()
    };
    run(&["build-id"], ctx, data)
}

#[test]
fn build_id_renders_ids() {
    let prev = &[("ch", Some("42")), ("other", None)];
    let fmt = &[("id_format", "ch:%(ch)s")];
    assert_eq!(build_id(fmt, prev, "id=%I"), Ok("id=ch:42".into()));
    assert_eq!(build_id(fmt, prev, "%(lit)I %%"), Ok("lit %".into()));
    assert_eq!(build_id(fmt, prev, "%()I"), Ok("ch:42".into()));
    let hex = &[("id_format", "%(ch)s"), ("id_encoding", "hex")];
    assert_eq!(build_id(hex, prev, "%I/%(A)I"), Ok("3432/41".into()));
    // no prev-ids (WebSocket, proxied content): the id format is not rendered
    assert_eq!(
        build_id(&[("id_format", "%bad")], &[], "%(x)I"),
        Ok("x".into())
    );
}

#[test]
fn build_id_vector() {
    // spec/vectors/grip/filters.txt (1.36): prev-id abc, item id def20207
    let sub = &[("id_format", "id-%(f420207)s")];
    let prev = &[("f420207", Some("def20207"))];
    assert_eq!(
        build_id(sub, prev, "msg %I / explicit %(xyz)I\n"),
        Ok("msg id-def20207 / explicit xyz\n".into())
    );
    assert_eq!(
        build_id(sub, &[], "open id=%(x1)I\n"),
        Ok("open id=x1\n".into())
    );
}

#[test]
fn build_id_errors() {
    let prev: &[(&str, Option<&str>)] = &[("ch", Some("42")), ("other", None)];
    let none: &[(&str, Option<&str>)] = &[];
    let fmt = &[("id_format", "%(ch)s")];
    let cases: Vec<(Vec<Pair<'_>>, IdPairs<'_>, &str, &str)> = vec![
        (vec![], prev, "x", "no sub meta 'id_format'"),
        (
            vec![("id_format", "%(other)s")],
            prev,
            "x",
            "failed to render ID: No such variable 'other' at position 8",
        ),
        (
            vec![("id_format", "%(ch)s"), ("id_encoding", "b64")],
            prev,
            "x",
            "unsupported encoding: b64",
        ),
        (
            fmt.to_vec(),
            prev,
            "%s",
            "Unknown directive 's' at position 1",
        ),
        (
            fmt.to_vec(),
            none,
            "%I",
            "No ID specified and no default ID in context at position 1",
        ),
        // the incomplete tail is finalized on its own: positions restart at 0
        (
            fmt.to_vec(),
            prev,
            "abc%",
            "Expected directive after '%' at position 0",
        ),
        (
            fmt.to_vec(),
            prev,
            "a%(b",
            "Unterminated field starting at position 1",
        ),
    ];
    for (sub, prev, data, text) in cases {
        assert_eq!(
            build_id(&sub, prev, data),
            Err(format!("build-id: {text}")),
            "{sub:?} {data}"
        );
    }
}

#[test]
fn stack_runs_filters_in_order() {
    let sub = meta(&[("user", "u"), ("id_format", "%(c)s")]);
    let prev = ids(&[("c", Some("7"))]);
    let ctx = Context {
        prev_ids: &prev,
        sub_meta: &sub,
        ..Context::default()
    };
    // var-subst first turns %%I into %I for build-id
    assert_eq!(
        run(&["var-subst", "build-id"], ctx, "%(user)s %%I"),
        Ok("u 7".into())
    );
    // build-id first: `s` is an unknown directive for it
    assert_eq!(
        run(&["build-id", "var-subst"], ctx, "%(user)s"),
        Err("build-id: Unknown directive 's' at position 7".into())
    );
    // delivery and unknown filters pass content through
    assert_eq!(run(&["skip-self", "bogus"], ctx, "%x"), Ok("%x".into()));
    assert!(FilterStack::new(&["bogus"], ctx).is_empty());
    // only content filters rewrite (callers skip `process` otherwise)
    assert!(!FilterStack::new(&["skip-self", "require-sub", "bogus"], ctx).rewrites());
    assert!(FilterStack::new(&["skip-self", "var-subst"], ctx).rewrites());
    assert!(FilterStack::new(&["build-id"], ctx).rewrites());
}

#[test]
fn streaming_build_id_keeps_split_directives() {
    let sub = meta(&[("id_format", "%(c)s")]);
    let prev = ids(&[("c", Some("7"))]);
    let ctx = Context {
        prev_ids: &prev,
        sub_meta: &sub,
        ..Context::default()
    };
    let mut s = FilterStack::new(&["build-id"], ctx);
    let mut out = s.update(b"a%(x").unwrap();
    out.extend(s.update(b")I b%").unwrap());
    out.extend(s.update(b"I").unwrap());
    out.extend(s.finalize().unwrap());
    assert_eq!(out, b"ax b7");
}

proptest! {
    #[test]
    fn arbitrary_formats_never_panic(data in proptest::collection::vec(any::<u8>(), 0..64)) {
        let sub = meta(&[("a", "x"), ("id_format", "%(c)s-%(a)s")]);
        let prev = ids(&[("c", Some("1")), ("a", None)]);
        let ctx = Context { prev_ids: &prev, sub_meta: &sub, ..Context::default() };
        let _ = FilterStack::new(&["var-subst", "build-id"], ctx).process(&data);
        let _ = FilterStack::new(&["build-id", "var-subst"], ctx).process(&data);
        let _ = format::process(&data, &MetaVars(&sub), Mode::Partial);
    }

    #[test]
    fn arbitrary_id_formats_never_panic(f in "[%()\\\\a-zA-Z0-9]{0,16}", d in "[%()\\\\IsA-Z]{0,16}") {
        let sub = meta(&[("id_format", f.as_str())]);
        let prev = ids(&[("a", Some("1"))]);
        let ctx = Context { prev_ids: &prev, sub_meta: &sub, ..Context::default() };
        let _ = FilterStack::new(&["build-id"], ctx).process(d.as_bytes());
    }

    /// Chunked build-id output equals whole-message output when that succeeds.
    #[test]
    fn chunked_build_id_matches_whole(d in "[%()\\\\IsxA]{0,24}", at in 0usize..25) {
        let sub = meta(&[("id_format", "%(c)s")]);
        let prev = ids(&[("c", Some("9"))]);
        let ctx = Context { prev_ids: &prev, sub_meta: &sub, ..Context::default() };
        if let Ok(whole) = FilterStack::new(&["build-id"], ctx).process(d.as_bytes()) {
            let (a, b) = d.as_bytes().split_at(at.min(d.len()));
            let mut s = FilterStack::new(&["build-id"], ctx);
            let mut out = s.update(a).unwrap();
            out.extend(s.update(b).unwrap());
            out.extend(s.finalize().unwrap());
            prop_assert_eq!(out, whole);
        }
    }
}
