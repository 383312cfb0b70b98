//! `pushpin-publish`: publishes one item to a channel, with Pushpin 1.36's
//! flags (`spec/runner.md` §8, `spec/publishing.md` §12).
//!
//! HTTP mode POSTs `{"items":[item]}` to `<spec>/publish/` over HTTP/1.0;
//! ZeroMQ mode (`tcp://`, `ipc://`) sends the item as one bare tnetstring
//! frame over a PUSH socket. Prints `Published` on success; otherwise
//! `Error: <reason>` on stderr and exit status 1.
//!
//! Difference from 1.36: `https://` specs are refused (no TLS client here).

#![cfg_attr(not(test), deny(clippy::unwrap_used))]

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use clap::Parser;
use pushpin_tnetstring as tnet;
use serde_json::{Map, Value, json};

/// Publish a message to a channel.
#[derive(Debug, Parser)]
#[command(
    name = "pushpin-publish",
    version = "1.36.0",
    about = "Publish messages to Pushpin"
)]
struct Cli {
    /// Channel to send to.
    channel: String,
    /// Content to use for HTTP body and WebSocket message (`@FILE` reads a file).
    content: Option<String>,
    /// Close streams and WebSockets (no content needed).
    #[arg(long)]
    close: bool,
    /// Send hint instead of content.
    #[arg(long)]
    hint: bool,
    /// Do not add a newline to HTTP payloads.
    #[arg(long = "no-eol")]
    no_eol: bool,
    /// Set no-seq on the item.
    #[arg(long = "no-seq")]
    no_seq: bool,
    /// Content is a JSON Patch (http-response body-patch only).
    #[arg(long)]
    patch: bool,
    /// HTTP response code to use.
    #[arg(long, default_value_t = 200)]
    code: u16,
    /// Add HTTP response header ("K: V").
    #[arg(short = 'H', long = "header")]
    headers: Vec<String>,
    /// Payload ID.
    #[arg(long)]
    id: Option<String>,
    /// Previous payload ID.
    #[arg(long = "prev-id")]
    prev_id: Option<String>,
    /// Add metadata field ("K=V").
    #[arg(short = 'M', long = "meta")]
    meta: Vec<String>,
    /// Sender meta value.
    #[arg(long)]
    sender: Option<String>,
    /// GRIP URL or ZeroMQ PUSH spec [default: $GRIP_URL or http://localhost:5561].
    #[arg(long)]
    spec: Option<String>,
    /// Authenticate using basic auth (user:pass).
    #[arg(short = 'u', long)]
    user: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => {
            #[expect(clippy::print_stdout, reason = "the CLI's output")]
            {
                println!("Published");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("Error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The content bytes and whether they came from a file.
fn content(cli: &Cli) -> Result<Option<(Vec<u8>, bool)>, String> {
    match &cli.content {
        Some(c) => match c.strip_prefix('@') {
            Some(path) => std::fs::read(path)
                .map(|b| Some((b, true)))
                .map_err(|e| e.to_string()),
            None => Ok(Some((c.clone().into_bytes(), false))),
        },
        None => Ok(None),
    }
}

/// Builds the item as JSON (keys inserted in sorted order, as 1.36 emits).
fn item(cli: &Cli) -> Result<Value, String> {
    if cli.code > 999 {
        return Err("code must be less than 1000".into());
    }
    let mut formats = Map::new();
    if cli.hint {
        for f in ["http-response", "http-stream", "ws-message"] {
            formats.insert(f.into(), json!({"action": "hint"}));
        }
    } else if cli.close {
        formats.insert("http-stream".into(), json!({"action": "close"}));
        formats.insert("ws-message".into(), json!({"action": "close"}));
    } else {
        let (data, from_file) = content(cli)?.ok_or("must specify content")?;
        let text = String::from_utf8_lossy(&data).into_owned();
        let mut resp = Map::new();
        if cli.patch {
            let ops: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
            if !ops.is_array() {
                return Err("patch must be a JSON array".into());
            }
            resp.insert("body-patch".into(), ops);
            resp.insert("code".into(), json!(cli.code));
        } else {
            let eol = if cli.no_eol || from_file { "" } else { "\n" };
            resp.insert("body".into(), json!(format!("{text}{eol}")));
            resp.insert("code".into(), json!(cli.code));
        }
        if !cli.headers.is_empty() {
            let mut list = Vec::new();
            for h in &cli.headers {
                let (k, v) = h
                    .split_once(':')
                    .ok_or_else(|| format!("invalid header: {h}"))?;
                list.push(json!([k.trim(), v.trim()]));
            }
            resp.insert("headers".into(), Value::Array(list));
        }
        formats.insert("http-response".into(), Value::Object(resp));
        if !cli.patch {
            let eol = if cli.no_eol || from_file { "" } else { "\n" };
            formats.insert(
                "http-stream".into(),
                json!({"content": format!("{text}{eol}")}),
            );
            formats.insert("ws-message".into(), json!({"content": text}));
        }
    }
    let mut item = Map::new();
    item.insert("channel".into(), json!(cli.channel));
    item.insert("formats".into(), Value::Object(formats));
    if let Some(id) = &cli.id {
        item.insert("id".into(), json!(id));
    }
    let mut meta = Map::new();
    for m in &cli.meta {
        let (k, v) = m
            .split_once('=')
            .ok_or_else(|| format!("invalid meta: {m}"))?;
        meta.insert(k.trim().to_owned(), json!(v.trim()));
    }
    if let Some(s) = &cli.sender {
        meta.insert("sender".into(), json!(s));
    }
    if !meta.is_empty() {
        item.insert("meta".into(), Value::Object(meta));
    }
    if cli.no_seq {
        item.insert("no-seq".into(), json!(true));
    }
    if let Some(p) = &cli.prev_id {
        item.insert("prev-id".into(), json!(p));
    }
    Ok(Value::Object(item))
}

fn run(cli: &Cli) -> Result<(), String> {
    let item = item(cli)?;
    let spec = cli
        .spec
        .clone()
        .or_else(|| std::env::var("GRIP_URL").ok())
        .unwrap_or_else(|| "http://localhost:5561".to_owned());
    if spec.starts_with("tcp://") || spec.starts_with("ipc://") {
        if cli.user.is_some() {
            return Err("Authentication requires https".into());
        }
        return publish_zmq(&spec, &item);
    }
    if let Some(rest) = spec.strip_prefix("http://") {
        if cli.user.is_some() {
            return Err("Authentication requires https".into());
        }
        return publish_http(rest, &item);
    }
    if spec.starts_with("https://") {
        return Err("https is not supported by this pushpin-publish".into());
    }
    Err(format!("unsupported spec: {spec}"))
}

fn publish_http(rest: &str, item: &Value) -> Result<(), String> {
    let (authority, base) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    let base = base.trim_end_matches('/');
    let host_port = if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let body = serde_json::to_string(&json!({ "items": [item] })).map_err(|e| e.to_string())?;
    let req = format!(
        "POST {base}/publish/ HTTP/1.0\r\nHost: {authority}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let addr = host_port
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .next()
        .ok_or("could not resolve host")?;
    let mut s =
        TcpStream::connect_timeout(&addr, Duration::from_secs(10)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out);
    let (head, resp_body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).unwrap_or_default();
    if status == "200" {
        Ok(())
    } else {
        Err(resp_body.trim_end().to_owned())
    }
}

/// Encodes a JSON value as a tnetstring (strings as byte strings).
fn to_tnet(buf: &mut BytesMut, v: &Value) {
    match v {
        Value::Null => tnet::write_null(buf),
        Value::Bool(b) => tnet::write_bool(buf, *b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => tnet::write_int(buf, i),
            None => tnet::write_float(buf, n.as_f64().unwrap_or_default()),
        },
        Value::String(s) => tnet::write_bytes(buf, s.as_bytes()),
        Value::Array(list) => tnet::write_list(buf, |buf| {
            for x in list {
                to_tnet(buf, x);
            }
        }),
        Value::Object(map) => tnet::write_map(buf, |buf| {
            for (k, x) in map {
                tnet::write_bytes(buf, k.as_bytes());
                to_tnet(buf, x);
            }
        }),
    }
}

fn publish_zmq(spec: &str, item: &Value) -> Result<(), String> {
    let spec = pushpin_zmq::SocketSpec::parse(spec).map_err(|e| e.to_string())?;
    let mut buf = BytesMut::new();
    to_tnet(&mut buf, item);
    let frame: Bytes = buf.freeze();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let mut sock = pushpin_zmq::AsyncSocket::builder(
            pushpin_zmq::SocketKind::Push,
            pushpin_zmq::Hwm::both(1),
        )
        .linger(Duration::from_secs(1))
        .connect(spec)
        .build()
        .map_err(|e| e.to_string())?;
        tokio::time::timeout(
            Duration::from_secs(10),
            sock.send(pushpin_zmq::Multipart::from(frame)),
        )
        .await
        .map_err(|_| "timed out connecting".to_owned())?
        .map_err(|e| e.to_string())?;
        drop(sock);
        // the process-wide context keeps sending after close; give the I/O
        // thread a moment to write the queued frame before exiting
        tokio::time::sleep(Duration::from_millis(200)).await;
        Ok::<(), String>(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::parse_from(std::iter::once("pushpin-publish").chain(args.iter().copied()))
    }

    #[test]
    fn item_matches_the_1_36_capture() {
        let cli = parse(&[
            "-H",
            "X-A: 1",
            "-M",
            "k=v",
            "--id",
            "i1",
            "--prev-id",
            "i0",
            "--sender",
            "me",
            "--no-seq",
            "mych",
            "hello world",
        ]);
        let body = serde_json::to_string(&json!({"items": [item(&cli).unwrap()]})).unwrap();
        assert_eq!(
            body,
            r#"{"items":[{"channel":"mych","formats":{"http-response":{"body":"hello world\n","code":200,"headers":[["X-A","1"]]},"http-stream":{"content":"hello world\n"},"ws-message":{"content":"hello world"}},"id":"i1","meta":{"k":"v","sender":"me"},"no-seq":true,"prev-id":"i0"}]}"#
        );
    }

    #[test]
    fn hint_close_and_errors() {
        let hint = item(&parse(&["c", "--hint"])).unwrap();
        assert_eq!(hint["formats"]["http-stream"]["action"], "hint");
        let close = item(&parse(&["c", "--close"])).unwrap();
        assert!(close["formats"].get("http-response").is_none());
        assert_eq!(item(&parse(&["c"])).unwrap_err(), "must specify content");
        assert!(item(&parse(&["c", "x", "--code", "1000"])).is_err());
        let patch = item(&parse(&[
            "c",
            "--patch",
            r#"[{"op":"remove","path":"/a"}]"#,
        ]))
        .unwrap();
        assert!(patch["formats"].get("http-stream").is_none());
    }
}
