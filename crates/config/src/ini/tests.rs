//! The Qt INI rules of spec/config.md §2, one test per rule.

use std::path::Path;

use super::*;

fn raw(text: &str) -> Raw {
    parse(text, Path::new("t.conf"))
}

fn val(text: &str, section: &str, key: &str) -> Option<Value> {
    raw(text).get(section, key).map(|e| e.value.clone())
}

fn s(v: &str) -> Option<Value> {
    Some(Value::Str(v.to_string()))
}

fn list(v: &[&str]) -> Option<Value> {
    Some(Value::List(v.iter().map(|x| x.to_string()).collect()))
}

#[test]
fn sections_and_keys() {
    let text = "top=1\n[proxy]\na = 1 \n[handler]\nb=2\n";
    assert_eq!(val(text, "", "top"), s("1"));
    assert_eq!(val(text, "proxy", "a"), s("1"));
    assert_eq!(val(text, "handler", "b"), s("2"));
    assert_eq!(val(text, "proxy", "b"), None);
}

#[test]
fn case_sensitive_names() {
    let text = "[Proxy]\nDebug=true\n[proxy]\ndebug=false\n";
    assert_eq!(val(text, "proxy", "debug"), s("false"));
    assert_eq!(val(text, "Proxy", "Debug"), s("true"));
    assert_eq!(val(text, "proxy", "Debug"), None);
}

#[test]
fn general_is_top_level() {
    let text = "[General]\na=1\n[general]\nb=2\n[%General]\nc=3\n";
    assert_eq!(val(text, "", "a"), s("1"));
    assert_eq!(val(text, "", "b"), s("2"));
    assert_eq!(val(text, "General", "c"), s("3"));
}

#[test]
fn section_name_trimmed_and_unterminated() {
    assert_eq!(val("[ proxy ]\na=1", "proxy", "a"), s("1"));
    assert_eq!(val("[proxy\na=1", "proxy", "a"), s("1"));
    assert_eq!(val("[proxy] trailing\na=1", "proxy", "a"), s("1"));
}

#[test]
fn nested_sections_and_backslash_keys() {
    assert_eq!(val("[a/b]\nk=1", "a/b", "k"), s("1"));
    assert_eq!(val("[a]\nb\\k=1", "a", "b/k"), s("1"));
    assert_eq!(val("[a]\n%41%U0042=1", "a", "AB"), s("1"));
    assert_eq!(val("[a]\nk%=1", "a", "k%"), s("1"));
    assert_eq!(val("[a]\nk%zz=1", "a", "k%zz"), s("1"));
    // Qt's toInt skips whitespace around the two digits.
    assert_eq!(val("[a]\nk% b=1", "a", "k\x0b"), s("1"));
}

#[test]
fn repeated_sections_merge_and_last_wins() {
    let text = "[proxy]\na=1\nb=1\n[handler]\nx=0\n[proxy]\na=2\n";
    assert_eq!(val(text, "proxy", "a"), s("2"));
    assert_eq!(val(text, "proxy", "b"), s("1"));
    let text = "[proxy]\na=1\na=3\n";
    assert_eq!(val(text, "proxy", "a"), s("3"));
}

#[test]
fn only_first_equals_separates() {
    assert_eq!(val("[s]\nu=a=b", "s", "u"), s("a=b"));
    assert_eq!(val("[s]\n  key  =   value  ", "s", "key"), s("value"));
}

#[test]
fn lines_without_equals_are_ignored() {
    let r = raw("[s]\n# a comment\nlonely line\nk=v\n");
    assert_eq!(r.entries.len(), 1);
    assert_eq!(r.get("s", "k").map(|e| e.line), Some(4));
}

#[test]
fn semicolon_comments() {
    assert_eq!(val("[s]\nd=value ; note", "s", "d"), s("value"));
    assert_eq!(val("[s]\n; c=1\nd=2", "s", "c"), None);
    assert_eq!(val("[s]\nd=\"a;b\"", "s", "d"), s("a;b"));
    assert_eq!(val("[s]\nd=a\\;b", "s", "d"), s("ab"));
}

#[test]
fn hash_is_not_a_comment() {
    assert_eq!(val("[s]\n#key=5", "s", "#key"), s("5"));
    assert_eq!(val("[s]\ne=value # x", "s", "e"), s("value # x"));
}

#[test]
fn crlf_and_continuation() {
    let r = raw("[s]\r\na=1\r\nb=2\r\n");
    assert_eq!(r.get("s", "a").map(|e| e.value.clone()), s("1"));
    assert_eq!(r.get("s", "b").map(|e| e.line), Some(3));
    assert_eq!(val("[s]\na=one\\\ntwo\nb=3", "s", "a"), s("onetwo"));
    assert_eq!(val("[s]\na=one\\\r\ntwo\nb=3", "s", "a"), s("onetwo"));
    assert_eq!(val("[s]\na=one\\\ntwo\nb=3", "s", "b"), s("3"));
}

#[test]
fn quotes() {
    assert_eq!(
        val("[s]\nc=\"quoted, with comma\"", "s", "c"),
        s("quoted, with comma")
    );
    assert_eq!(val("[s]\nc=\"  spaced  \"", "s", "c"), s("  spaced  "));
    assert_eq!(val("[s]\ni=\"a\" b", "s", "i"), s("ab"));
    assert_eq!(val("[s]\ni=x\"a\"", "s", "i"), s("xa"));
    // A quoted value may span lines.
    assert_eq!(val("[s]\nq=\"a\nb\"\nz=1", "s", "q"), s("a\nb"));
    assert_eq!(val("[s]\nq=\"a\nb\"\nz=1", "s", "z"), s("1"));
}

#[test]
fn escapes() {
    assert_eq!(
        val(
            r#"[s]
a=x\\y\"z\tq"#,
            "s",
            "a"
        ),
        s("x\\y\"z\tq")
    );
    assert_eq!(
        val(
            r"[s]
a=\n\r\a\b\f\v\?\'",
            "s",
            "a"
        ),
        s("\n\r\x07\x08\x0c\x0b?'")
    );
    assert_eq!(
        val(
            r"[s]
a=\x41\101",
            "s",
            "a"
        ),
        s("AA")
    );
    assert_eq!(
        val(
            r"[s]
a=\x41g",
            "s",
            "a"
        ),
        s("Ag")
    );
    assert_eq!(
        val(
            r"[s]
a=\x4",
            "s",
            "a"
        ),
        s("\x04")
    );
    assert_eq!(
        val(
            r"[s]
a=\xzz",
            "s",
            "a"
        ),
        s("zz")
    );
    assert_eq!(
        val(
            r"[s]
a=\x",
            "s",
            "a"
        ),
        s("")
    );
    assert_eq!(
        val(
            r"[s]
n=a\,b",
            "s",
            "n"
        ),
        s("ab")
    );
    assert_eq!(
        val(
            r"[s]
n=a\éb",
            "s",
            "n"
        ),
        s("ab")
    );
    assert_eq!(
        val(
            r"[s]
n=\xe9",
            "s",
            "n"
        ),
        s("é")
    );
    assert_eq!(
        val(
            r"[s]
n=\x10041",
            "s",
            "n"
        ),
        s("A")
    );
    assert_eq!(
        val(
            r"[s]
n=\xd800",
            "s",
            "n"
        ),
        s("\u{fffd}")
    );
    // An escaped trailing space survives the trimming.
    assert_eq!(val("[s]\nn=a\\x20", "s", "n"), s("a "));
}

#[test]
fn comma_lists() {
    assert_eq!(
        val("[s]\nb=x,y, z ,,w", "s", "b"),
        list(&["x", "y", "z", "", "w"])
    );
    assert_eq!(val("[s]\nb=x,", "s", "b"), list(&["x", ""]));
    assert_eq!(val("[s]\nb=\"a,b\",c", "s", "b"), list(&["a,b", "c"]));
    assert_eq!(val("[s]\nb=\" a \" , c", "s", "b"), list(&[" a ", "c"]));
    assert_eq!(val("[s]\nb=single", "s", "b"), s("single"));
}

#[test]
fn at_forms() {
    assert_eq!(val("[s]\na=@Invalid()", "s", "a"), Some(Value::Invalid));
    assert_eq!(val("[s]\na=@@x", "s", "a"), s("@x"));
    assert_eq!(val("[s]\na=@other", "s", "a"), s("@other"));
    assert_eq!(val("[s]\na=@String(hi)", "s", "a"), s("hi"));
    assert_eq!(val("[s]\na=@ByteArray(hi)", "s", "a"), s("hi"));
    assert_eq!(val("[s]\na=@Variant(xyz)", "s", "a"), Some(Value::Invalid));
    assert_eq!(val("[s]\na=@Rect(1 2 3 4)", "s", "a"), Some(Value::Invalid));
    assert_eq!(val("[s]\na=@Rect(1 2)", "s", "a"), s("@Rect(1 2)"));
    assert_eq!(val("[s]\na=@Size(1 2)", "s", "a"), Some(Value::Invalid));
    // Qt's splitArgs counts every `)` as the end of an argument.
    assert_eq!(val("[s]\na=@Size(1 2))", "s", "a"), s("@Size(1 2))"));
    assert_eq!(
        val("[s]\na=@Rect(1 2 3 4)x)", "s", "a"),
        s("@Rect(1 2 3 4)x)")
    );
    assert_eq!(val("[s]\na=@Point(1 2)", "s", "a"), Some(Value::Invalid));
    assert_eq!(
        val("[s]\na=@@x,@Invalid(),y", "s", "a"),
        list(&["@x", "", "y"])
    );
}

#[test]
fn no_percent_decoding_of_values() {
    assert_eq!(val("[s]\na=%41", "s", "a"), s("%41"));
}

#[test]
fn empty_and_key_only() {
    assert_eq!(val("[s]\na=", "s", "a"), s(""));
    assert_eq!(val("[s]\na=   ", "s", "a"), s(""));
    let r = raw("[s]\n=x");
    assert_eq!(r.get("s", "").map(|e| e.value.clone()), s("x"));
}

#[test]
fn bom_is_skipped() {
    assert_eq!(val("\u{feff}[s]\na=1", "s", "a"), s("1"));
}

#[test]
fn comment_line_then_indented_lines() {
    // After a leading `;` comment Qt skips the following whitespace, newlines included.
    let r = raw("[s]\n;c\n  k=v\n");
    assert_eq!(r.get("s", "k").map(|e| e.line), Some(3));
    let r = raw(";c\n\n  [s]\nk=v\n");
    assert_eq!(r.get("s", "k").map(|e| e.value.clone()), s("v"));
}

#[test]
fn empty_section_is_not_top_level() {
    let r = raw("[]\nk=v\n[ ]\nj=w\n[\nz=1");
    assert!(r.get("", "k").is_none() && r.get("", "j").is_none() && r.get("", "z").is_none());
    assert_eq!(r.get(EMPTY_SECTION, "k").map(|e| e.value.clone()), s("v"));
}

#[test]
fn text_and_lines_kept() {
    let r = raw("[global]\n\n\ninclude={libdir}/internal.conf\n");
    let e = r.get("global", "include").expect("present");
    assert_eq!(e.text, "{libdir}/internal.conf");
    assert_eq!(e.line, 4);
    let r = raw("[s]\ra=1\rb=2");
    assert_eq!(r.get("s", "b").map(|e| e.line), Some(3));
}

#[test]
fn non_ascii_kept() {
    assert_eq!(val("[s]\nk=é,ü", "s", "k"), list(&["é", "ü"]));
    assert_eq!(val("[sé]\nk=1", "sé", "k"), s("1"));
}
