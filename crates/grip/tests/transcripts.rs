//! Checks the parsers against the 1.36 transcripts in `tests/vectors/`
//! (copied from `spec/vectors/grip/`; see the README there).

use std::path::PathBuf;

use bytes::Bytes;
use pushpin_grip::instruct::{Instruct, is_grip_response};
use pushpin_grip::publish::{
    self, HttpResponseFormat, HttpStreamFormat, MessageError, PublishRequestError,
};
use pushpin_grip::{Header, HoldMode, KeepAliveMode};

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn read(name: &str) -> String {
    std::fs::read_to_string(vectors_dir().join(name)).expect("vector file")
}

fn all_files() -> Vec<(String, String)> {
    let mut names: Vec<String> = std::fs::read_dir(vectors_dir())
        .expect("vectors dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".txt") && n != "UPSTREAM-README.txt")
        .collect();
    names.sort();
    assert!(names.len() >= 18, "grip vectors missing");
    names
        .into_iter()
        .map(|n| (read(&n), n))
        .map(|(t, n)| (n, t))
        .collect()
}

/// Undoes the transcript notation: `\r`, `\n`, `\\`, `\xNN`; real newlines
/// are formatting only.
fn unescape(lines: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in lines {
        let b = line.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'\\' && i + 1 < b.len() {
                match b[i + 1] {
                    b'r' => out.push(b'\r'),
                    b'n' => out.push(b'\n'),
                    b'\\' => out.push(b'\\'),
                    b'x' if i + 3 < b.len() => {
                        let hex = std::str::from_utf8(&b[i + 2..i + 4]).unwrap();
                        out.push(u8::from_str_radix(hex, 16).unwrap());
                        i += 4;
                        continue;
                    }
                    other => {
                        out.push(b'\\');
                        out.push(other);
                    }
                }
                i += 2;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    out
}

/// A `--- ...` block: its marker line, the section title it belongs to and
/// its content lines.
struct Block<'a> {
    marker: &'a str,
    section: &'a str,
    lines: Vec<&'a str>,
}

fn blocks(text: &str) -> Vec<Block<'_>> {
    let mut out: Vec<Block<'_>> = Vec::new();
    let mut section = "";
    let mut open = false;
    for line in text.lines() {
        if let Some(title) = line.strip_prefix("######## ") {
            section = title;
            open = false;
        } else if line.starts_with("--- ") {
            out.push(Block {
                marker: line,
                section,
                lines: Vec::new(),
            });
            open = true;
        } else if line.is_empty() || line.starts_with("# ") || line.starts_with("(t=") {
            open = false;
        } else if open && !line.starts_with("[t=") && !line.starts_with("[connection") {
            if let Some(b) = out.last_mut() {
                b.lines.push(line);
            }
        }
    }
    out
}

struct Http {
    start: String,
    headers: Vec<Header>,
    body: Bytes,
}

fn parse_http(raw: &[u8]) -> Http {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of head");
    let head = std::str::from_utf8(&raw[..end]).expect("ascii head");
    let mut lines = head.split("\r\n");
    let start = lines.next().unwrap().to_owned();
    let headers = lines
        .map(|l| {
            let (n, v) = l.split_once(':').expect("header");
            (
                Bytes::copy_from_slice(n.as_bytes()),
                Bytes::copy_from_slice(v.trim().as_bytes()),
            )
        })
        .collect();
    Http {
        start,
        headers,
        body: Bytes::copy_from_slice(&raw[end + 4..]),
    }
}

fn content_length(h: &Http) -> Option<usize> {
    h.headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(b"content-length"))
        .map(|(_, v)| std::str::from_utf8(v).unwrap().parse().unwrap())
}

fn status(h: &Http) -> (u16, Bytes) {
    let mut parts = h.start.splitn(3, ' ');
    parts.next();
    let code = parts.next().unwrap().parse().unwrap();
    let reason = Bytes::copy_from_slice(parts.next().unwrap_or("").as_bytes());
    (code, reason)
}

fn instruct_of(h: &Http) -> Result<Instruct, pushpin_grip::InstructError> {
    assert_eq!(content_length(h), Some(h.body.len()), "{}", h.start);
    let (code, reason) = status(h);
    Instruct::parse(code, &reason, &h.headers, &h.body)
}

#[test]
fn instruct_errors_and_status() {
    let text = read("instruct-errors-and-status.txt");
    let bs = blocks(&text);
    let mut checked = 0;
    for (i, b) in bs.iter().enumerate() {
        if !b.marker.starts_with("--- backend -> pushpin") {
            continue;
        }
        let backend = parse_http(&unescape(&b.lines));
        let client = bs[i + 1..]
            .iter()
            .find(|c| c.marker.starts_with("--- pushpin -> client"))
            .expect("client block");
        let client = parse_http(&unescape(&client.lines));
        let result = instruct_of(&backend);
        let (code, reason) = status(&client);
        let debug_prefix = b"Failed to parse accept instructions: ";
        if code == 502 && client.body.starts_with(debug_prefix) {
            let message = &client.body[debug_prefix.len()..client.body.len() - 1];
            if message == b"filter error: " {
                // the no-hold, no-body JSON quirk: parses, but the body is null
                let i = result.expect(b.section);
                assert!(i.hold.is_none() && i.next_link.is_none() && i.response.body.is_none());
            } else {
                let e = result.expect_err(b.section);
                assert_eq!(e.to_string().as_bytes(), message, "{}", b.section);
                assert_eq!(e.debug_body().as_bytes(), &client.body[..]);
            }
        } else if code == 502 {
            assert_eq!(&client.body[..], b"Error while proxying to origin.\n");
            assert!(result.is_err(), "{}", b.section);
        } else {
            let i = result.expect(b.section);
            assert_eq!(
                (i.response.code, i.response.reason.clone()),
                (code, reason),
                "{}",
                b.section
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 27);
}

#[test]
fn grip_instruct_json() {
    let text = read("grip-instruct-json.txt");
    let responses: Vec<Http> = blocks(&text)
        .iter()
        .filter(|b| b.marker.starts_with("--- backend -> pushpin"))
        .map(|b| parse_http(&unescape(&b.lines)))
        .collect();
    assert_eq!(responses.len(), 3);

    let hold = instruct_of(&responses[1]).unwrap();
    assert_eq!(hold.hold, Some(HoldMode::Response));
    assert_eq!(hold.channels[0].name, "ji20131");
    assert_eq!(hold.timeout, 30);
    assert_eq!(hold.meta.get("user").map(String::as_str), Some("alice"));
    assert_eq!(
        (hold.response.code, &hold.response.reason[..]),
        (202, &b"Held"[..])
    );
    let names: Vec<&[u8]> = hold.response.headers.iter().map(|(n, _)| &n[..]).collect();
    assert_eq!(names, vec![&b"Content-Type"[..], b"X-A"]);
    assert_eq!(hold.response.body.as_deref(), Some(&b"timeout body\n"[..]));

    let stream = instruct_of(&responses[2]).unwrap();
    assert_eq!(stream.hold, Some(HoldMode::Stream));
    let channels: Vec<&str> = stream.channels.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(channels, vec!["extra20131", "js20131"]);
    let ka = stream.keep_alive.unwrap();
    assert_eq!(
        (&ka.data[..], ka.timeout, ka.mode),
        (&b"ka\n"[..], 1, KeepAliveMode::Interval)
    );
    let headers: Vec<(&[u8], &[u8])> = stream
        .response
        .headers
        .iter()
        .map(|(n, v)| (&n[..], &v[..]))
        .collect();
    assert_eq!(headers, vec![(&b"X-B"[..], &b"2"[..]), (b"X-B", b"3")]);
    assert_eq!(stream.response.body.as_deref(), Some(&b"hello\n"[..]));
}

#[test]
fn every_backend_grip_response_parses() {
    let mut parsed = 0;
    for (name, text) in all_files() {
        if name == "instruct-errors-and-status.txt" {
            continue;
        }
        for b in blocks(&text) {
            if !b.marker.starts_with("--- backend -> pushpin") {
                continue;
            }
            let h = parse_http(&unescape(&b.lines));
            if !is_grip_response(&h.headers) {
                continue;
            }
            let i = instruct_of(&h).unwrap_or_else(|e| panic!("{name}: {}: {e}", b.marker));
            assert!(i.response.code > 0, "{name}");
            parsed += 1;
        }
    }
    assert!(parsed >= 35, "only {parsed} GRIP responses found");
}

#[test]
fn stream_keepalive_and_links() {
    let text = read("stream-keepalive.txt");
    let kas: Vec<_> = blocks(&text)
        .iter()
        .filter(|b| b.marker.starts_with("--- backend -> pushpin"))
        .map(|b| {
            instruct_of(&parse_http(&unescape(&b.lines)))
                .unwrap()
                .keep_alive
                .unwrap()
        })
        .collect();
    assert_eq!(
        (&kas[0].data[..], kas[0].timeout, kas[0].mode),
        (&b"\n"[..], 2, KeepAliveMode::Idle)
    );
    assert_eq!(
        (&kas[1].data[..], kas[1].timeout, kas[1].mode),
        (&b"ping"[..], 2, KeepAliveMode::Interval)
    );

    let text = read("next-link.txt");
    let links: Vec<_> = blocks(&text)
        .iter()
        .filter(|b| b.marker.starts_with("--- backend -> pushpin"))
        .filter_map(|b| {
            instruct_of(&parse_http(&unescape(&b.lines)))
                .unwrap()
                .next_link
        })
        .map(|l| (String::from_utf8(l.uri.to_vec()).unwrap(), l.timeout))
        .collect();
    assert!(links.contains(&("/nl?step=1".to_owned(), 3)), "{links:?}");
    assert!(links.contains(&("/nl?step=2".to_owned(), 120)), "{links:?}");
}

#[test]
fn http_publish_answers() {
    let mut checked = 0;
    for (name, text) in all_files() {
        let bs = blocks(&text);
        for (i, b) in bs.iter().enumerate() {
            if !b
                .marker
                .starts_with("--- publisher -> pushpin HTTP publish port")
            {
                continue;
            }
            let req = parse_http(&unescape(&b.lines));
            if !req.start.starts_with("POST /publish")
                || content_length(&req) != Some(req.body.len())
            {
                continue;
            }
            let resp = bs[i + 1..]
                .iter()
                .find(|c| c.marker.starts_with("--- pushpin -> publisher"))
                .expect("answer");
            let resp = parse_http(&unescape(&resp.lines));
            let (code, _) = status(&resp);
            if code == 406 {
                // content negotiation happens before the body is read
                continue;
            }
            match publish::parse_http_body(&req.body) {
                Ok(_) => assert_eq!(code, 200, "{name}: {:?}", req.body),
                Err(e) => {
                    assert_eq!(code, 400, "{name}");
                    assert_eq!(e.http_body().as_bytes(), &resp.body[..], "{name}");
                }
            }
            checked += 1;
        }
        for line in text.lines() {
            if let Some((_, item)) = line.split_once(") publish item: ") {
                let body = format!("{{\"items\": [{item}]}}");
                publish::parse_http_body(body.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"));
                checked += 1;
            }
        }
    }
    assert!(checked >= 60, "only {checked} publishes checked");
}

#[test]
fn zmq_publish_and_command() {
    let text = read("zmq-publish-and-command.txt");
    let lines: Vec<&str> = text.lines().collect();
    let mut checked = 0;
    for (i, line) in lines.iter().enumerate() {
        let Some((_, frames)) = line.split_once("<- [") else {
            continue;
        };
        let frames = frames.strip_suffix(']').unwrap();
        let frames: Vec<Bytes> = frames
            .split("] + [")
            .map(|f| Bytes::from(unescape(&[f])))
            .collect();
        let outcome = lines[i + 1].trim();
        let result = if line.contains("PUSH->PULL") {
            publish::decode_push_message(&frames)
        } else {
            publish::decode_sub_message(&frames)
        };
        if outcome.starts_with("delivered") {
            let item = result.unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!(item.channel, "zq");
            assert!(matches!(
                item.formats.http_stream,
                Some(HttpStreamFormat::Send { .. })
            ));
        } else {
            let e = result.expect_err(line);
            if outcome.contains("exactly") {
                assert!(matches!(e, MessageError::FrameCount { .. }), "{line}");
            }
            if let Some((_, msg)) = outcome.split_once("(error: ") {
                assert_eq!(
                    e.to_string(),
                    format!(
                        "received message with invalid format: {}",
                        msg.trim_end_matches(')')
                    )
                );
            }
        }
        checked += 1;
    }
    assert_eq!(checked, 11);

    // command socket publish: the reply value is the error text
    let mut commands = 0;
    for (i, line) in lines.iter().enumerate() {
        let Some(req) = line.strip_prefix("REQ> ") else {
            continue;
        };
        if !req.contains("7:publish,") {
            continue;
        }
        let req = Bytes::from(unescape(&[req]));
        let rep = lines[i + 1].strip_prefix("REP< ").unwrap();
        let args = extract_args(&req);
        match publish::parse_command_args(&args) {
            Ok(items) => {
                assert!(rep.contains("4:true!"), "{rep}");
                assert_eq!(items.len(), 1);
            }
            Err(e) => {
                assert!(rep.contains("11:bad-request,"), "{rep}");
                let value = format!("{}:{},", e.to_string().len(), e);
                assert!(rep.contains(&value), "{rep} lacks {value}");
                assert_eq!(e.condition(), "bad-request");
            }
        }
        commands += 1;
    }
    assert_eq!(commands, 3);
    let _ = PublishRequestError::NoItems;
    let _ = HttpResponseFormat::Hint;
}

/// The raw `args` dictionary of a ZRPC request (empty when absent).
fn extract_args(req: &Bytes) -> Bytes {
    let limits = pushpin_tnetstring::Limits::default();
    let (frame, _) = pushpin_tnetstring::parse_frame(req, &limits)
        .unwrap()
        .unwrap();
    let Some(args) = frame.get(b"args").unwrap() else {
        return Bytes::new();
    };
    let start = args.offset();
    let len = args.data().len();
    // SIZE ':' DATA TAG
    let digits = len.to_string().len();
    req.slice(start..start + digits + 1 + len + 1)
}
