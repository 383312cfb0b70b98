use bytes::Bytes;

use super::*;

fn h(name: &str, value: &str) -> Header {
    (
        Bytes::copy_from_slice(name.as_bytes()),
        Bytes::copy_from_slice(value.as_bytes()),
    )
}

fn pairs(p: &Params) -> Vec<(String, String)> {
    p.items
        .iter()
        .map(|(k, v)| {
            (
                String::from_utf8_lossy(k).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
            )
        })
        .collect()
}

fn s(a: &str, b: &str) -> (String, String) {
    (a.to_owned(), b.to_owned())
}

#[test]
fn splits_on_unquoted_commas() {
    assert_eq!(split_list(b"a, b ,c"), vec![&b"a"[..], b"b", b"c"]);
    assert_eq!(
        split_list(b"a; x=\"1,2\", b"),
        vec![&b"a; x=\"1,2\""[..], b"b"]
    );
    assert_eq!(split_list(b""), Vec::<&[u8]>::new());
    assert_eq!(split_list(b"a,,b"), vec![&b"a"[..], b"", b"b"]);
    assert_eq!(split_list(b"a,"), vec![&b"a"[..]]);
    // unterminated quote: the rest is one part
    assert_eq!(split_list(b"a, \"b,c"), vec![&b"a"[..], b"\"b,c"]);
}

#[test]
fn parses_parameters() {
    let p = parse_params(
        b"ch; prev-id=3; filter=skip-self; filter=build-id",
        ParseMode::NoParseFirstParameter,
    )
    .unwrap();
    assert_eq!(
        pairs(&p),
        vec![
            s("ch", ""),
            s("prev-id", "3"),
            s("filter", "skip-self"),
            s("filter", "build-id")
        ]
    );
    assert_eq!(p.get(b"PREV-ID"), Some(&b"3"[..]));
    assert_eq!(p.first(), Some(&b"ch"[..]));
    assert_eq!(p.rest().len(), 3);

    let p = parse_params(
        b"x; a=\"q\\\"uo;ted\" ; b ; c= 5 ",
        ParseMode::NoParseFirstParameter,
    )
    .unwrap();
    assert_eq!(
        pairs(&p),
        vec![s("x", ""), s("a", "q\"uo;ted"), s("b", ""), s("c", "5")]
    );

    // first item verbatim, even with quotes
    let p = parse_params(b"\"a b\"; k=v", ParseMode::NoParseFirstParameter).unwrap();
    assert_eq!(pairs(&p), vec![s("\"a b\"", ""), s("k", "v")]);

    // all-parameters mode
    let p = parse_params(b"greeting=\"hi there\"; b=2", ParseMode::ParseAllParameters).unwrap();
    assert_eq!(pairs(&p), vec![s("greeting", "hi there"), s("b", "2")]);
    assert!(
        parse_params(b"", ParseMode::ParseAllParameters)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        pairs(&parse_params(b"", ParseMode::NoParseFirstParameter).unwrap()),
        vec![s("", "")]
    );

    // errors: unterminated quote, dangling escape
    assert!(parse_params(b"a; b=\"x", ParseMode::NoParseFirstParameter).is_none());
    assert!(parse_params(b"a; b=\"x\\", ParseMode::NoParseFirstParameter).is_none());
    // trailing separator
    let p = parse_params(b"a; ", ParseMode::NoParseFirstParameter).unwrap();
    assert_eq!(pairs(&p), vec![s("a", ""), s("", "")]);
    let p = parse_params(b"a;", ParseMode::NoParseFirstParameter).unwrap();
    assert_eq!(pairs(&p), vec![s("a", "")]);
}

#[test]
fn header_lookups() {
    let headers = vec![
        h("Content-Type", "application/grip-instruct; charset=utf-8"),
        h("grip-channel", "a, b; prev-id=1"),
        h("Grip-Channel", "c"),
        h("Grip-Channel", ""),
        h("Grip-Channel", "d; x=\"bad"),
    ];
    assert!(contains(&headers, b"GRIP-CHANNEL"));
    assert_eq!(
        get(&headers, b"grip-channel").map(|b| &b[..]),
        Some(&b"a, b; prev-id=1"[..])
    );
    assert_eq!(
        get_first_param(&headers, b"content-type"),
        Some(b"application/grip-instruct".to_vec())
    );
    assert_eq!(get_first_param(&headers, b"x-none"), None);
    let all = get_all_as_params(&headers, b"Grip-Channel", ParseMode::NoParseFirstParameter);
    let names: Vec<_> = all.iter().map(|p| p.first().unwrap().to_vec()).collect();
    assert_eq!(names, vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
    assert!(get_as_params(&headers, b"x-none", ParseMode::NoParseFirstParameter).is_empty());
}
