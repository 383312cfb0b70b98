//! The HTTP control server on `push_in_http_addr:push_in_http_port`
//! (`spec/publishing.md` §3): `POST /publish` with JSON items, `POST
//! /recover`, `GET /`, answered exactly as 1.36's one-request-per-connection
//! `SimpleHttpServer` does (status texts, `Connection: close`, `Accept`
//! negotiation, the same error bodies).
//!
//! Limits: request head at most `push_in_max_headers_size` bytes, body at
//! most `push_in_max_body_size`, [`MAX_CONNECTIONS`] connections at once
//! (further ones wait in the listen backlog), and every connection must send
//! its request within [`REQUEST_TIMEOUT`]. Published items go to the engine
//! queue, waiting while it is full (backpressure on the publisher).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use pushpin_grip::publish::parse_http_body;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tracing::{debug, warn};

use crate::engine::Event;

/// Most concurrent publish connections.
pub(crate) const MAX_CONNECTIONS: usize = 1024;
/// Time a client has to send its whole request.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Most header lines parsed.
const MAX_HEADER_LINES: usize = 100;

/// Size limits of the server.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HttpLimits {
    /// Request head bytes.
    pub(crate) max_headers: usize,
    /// Body bytes.
    pub(crate) max_body: usize,
}

/// Accepts connections until the engine goes away.
pub(crate) async fn serve(
    listener: TcpListener,
    limits: HttpLimits,
    events: mpsc::Sender<Event>,
) -> anyhow::Result<()> {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut conns = JoinSet::new();
    loop {
        let permit = Arc::clone(&permits).acquire_owned().await?;
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(v) => v,
                Err(e) => {
                    warn!(error = %e, "publish http: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
        };
        let events = events.clone();
        conns.spawn(async move {
            let _permit = permit;
            match tokio::time::timeout(REQUEST_TIMEOUT, handle(stream, peer, limits, &events)).await
            {
                Ok(Ok(())) => {}
                Ok(Err(e)) => debug!(%peer, error = %e, "publish http connection error"),
                Err(_) => debug!(%peer, "publish http request timed out"),
            }
        });
        while conns.try_join_next().is_some() {}
    }
}

/// A response of the control server.
struct Answer {
    code: u16,
    reason: &'static str,
    json: bool,
    allow_post: bool,
    body: Bytes,
}

impl Answer {
    fn text(code: u16, reason: &'static str, body: impl Into<Bytes>) -> Self {
        Self {
            code,
            reason,
            json: false,
            allow_post: false,
            body: body.into(),
        }
    }

    fn message(json: bool, text: &str) -> Self {
        if json {
            Self {
                json: true,
                ..Self::text(200, "OK", format!("{{\"message\":\"{text}\"}}\n"))
            }
        } else {
            Self::text(200, "OK", format!("{text}\n"))
        }
    }

    fn encode(&self, http10: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(128 + self.body.len());
        let version = if http10 { "HTTP/1.0" } else { "HTTP/1.1" };
        out.extend_from_slice(format!("{version} {} {}\r\n", self.code, self.reason).as_bytes());
        if self.allow_post {
            out.extend_from_slice(b"Allow: POST\r\n");
        }
        let ctype = if self.json {
            "application/json"
        } else {
            "text/plain"
        };
        out.extend_from_slice(
            format!(
                "Content-Type: {ctype}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
                self.body.len()
            )
            .as_bytes(),
        );
        out.extend_from_slice(&self.body);
        out
    }
}

fn bad_request(text: &str) -> Answer {
    Answer::text(400, "Bad Request", format!("{text}\n"))
}

/// What the request asked for, once fully read.
enum Action {
    Answer(Answer),
    Publish(Bytes, bool),
    Recover(bool),
}

struct Head {
    method: String,
    path: String,
    http10: bool,
    content_length: Option<Result<usize, ()>>,
    chunked: bool,
    expect_continue: bool,
    accept: Option<Vec<u8>>,
    len: usize,
}

fn parse_head(buf: &[u8]) -> Result<Option<Head>, ()> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADER_LINES];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(()),
    };
    let mut head = Head {
        method: req.method.unwrap_or_default().to_owned(),
        path: req.path.unwrap_or_default().to_owned(),
        http10: req.version == Some(0),
        content_length: None,
        chunked: false,
        expect_continue: false,
        accept: None,
        len,
    };
    let mut accepts: Vec<u8> = Vec::new();
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("Content-Length") {
            head.content_length = Some(
                std::str::from_utf8(h.value)
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
                    .ok_or(()),
            );
        } else if h.name.eq_ignore_ascii_case("Transfer-Encoding") {
            head.chunked = true;
        } else if h.name.eq_ignore_ascii_case("Expect") {
            head.expect_continue = h.value.eq_ignore_ascii_case(b"100-continue");
        } else if h.name.eq_ignore_ascii_case("Accept") {
            if !accepts.is_empty() {
                accepts.push(b',');
            }
            accepts.extend_from_slice(h.value);
            head.accept = Some(accepts.clone());
        }
    }
    Ok(Some(head))
}

/// `Ok(Some(json))` for the negotiated format, `Ok(None)` = 406.
fn negotiate(accept: Option<&[u8]>) -> Option<bool> {
    let Some(accept) = accept else {
        return Some(false);
    };
    let mut chosen = None;
    for part in accept.split(|&c| c == b',') {
        let media = part.split(|&c| c == b';').next().unwrap_or_default();
        let media = String::from_utf8_lossy(media).trim().to_ascii_lowercase();
        match media.as_str() {
            "text/plain" | "text/*" | "*/*" | "*" => chosen = Some(false),
            "application/json" | "application/*" => chosen = Some(true),
            _ => {}
        }
    }
    chosen
}

async fn handle(
    mut stream: TcpStream,
    peer: SocketAddr,
    limits: HttpLimits,
    events: &mpsc::Sender<Event>,
) -> std::io::Result<()> {
    let mut buf = BytesMut::with_capacity(1024);
    let head = loop {
        match parse_head(&buf) {
            Ok(Some(head)) => break head,
            Ok(None) if buf.len() > limits.max_headers => {
                return respond(
                    &mut stream,
                    &bad_request("Request header too large."),
                    false,
                )
                .await;
            }
            Ok(None) => {}
            Err(()) => {
                return respond(
                    &mut stream,
                    &bad_request("Failed to parse request header."),
                    false,
                )
                .await;
            }
        }
        if stream.read_buf(&mut buf).await? == 0 {
            return Ok(());
        }
    };
    if head.len > limits.max_headers {
        return respond(
            &mut stream,
            &bad_request("Request header too large."),
            head.http10,
        )
        .await;
    }
    let http10 = head.http10;
    let needs_body = !matches!(head.method.as_str(), "GET" | "HEAD" | "DELETE" | "OPTIONS");
    let length = match head.content_length {
        Some(Ok(n)) => n,
        Some(Err(())) => {
            return respond(&mut stream, &bad_request("Bad Content-Length."), http10).await;
        }
        None if needs_body || head.chunked => {
            let a = Answer::text(411, "Length Required", "Request requires Content-Length.\n");
            return respond(&mut stream, &a, http10).await;
        }
        None => 0,
    };
    if length > limits.max_body {
        return respond(&mut stream, &bad_request("Request body too large."), http10).await;
    }
    let _head_bytes = buf.split_to(head.len);
    if head.expect_continue && buf.len() < length {
        stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
    }
    while buf.len() < length {
        if stream.read_buf(&mut buf).await? == 0 {
            return Ok(());
        }
    }
    if buf.len() > length {
        return respond(
            &mut stream,
            &bad_request("Request body exceeded Content-Length."),
            http10,
        )
        .await;
    }
    let body = buf.freeze();
    let action = route(&head, body);
    match action {
        Action::Answer(a) => respond(&mut stream, &a, http10).await,
        Action::Publish(body, json) => match parse_http_body(&body) {
            Ok(items) => {
                debug!(%peer, count = items.len(), "http publish");
                respond(&mut stream, &Answer::message(json, "Published"), http10).await?;
                for item in items {
                    if events.send(Event::Publish(Box::new(item))).await.is_err() {
                        break;
                    }
                }
                Ok(())
            }
            Err(e) => {
                debug!(%peer, error = %e, "http publish rejected");
                let a = Answer::text(400, "Bad Request", e.http_body());
                respond(&mut stream, &a, http10).await
            }
        },
        Action::Recover(json) => {
            respond(&mut stream, &Answer::message(json, "Updated"), http10).await?;
            let _closed = events.send(Event::Recover).await;
            Ok(())
        }
    }
}

fn route(head: &Head, body: Bytes) -> Action {
    let mut path = head.path.as_str();
    if path.len() > 1 {
        path = path.strip_suffix('/').unwrap_or(path);
    }
    let Some(json) = negotiate(head.accept.as_deref()) else {
        return Action::Answer(Answer::text(
            406,
            "Not Acceptable",
            "Not Acceptable. Supported formats are text/plain and application/json.\n",
        ));
    };
    match path {
        "/" => Action::Answer(Answer::text(200, "OK", "Pushpin API\n")),
        "/publish" | "/recover" if head.method != "POST" => Action::Answer(Answer {
            allow_post: true,
            ..Answer::text(
                405,
                "Method Not Allowed",
                format!("Method not allowed: {}.\n", head.method),
            )
        }),
        "/publish" => Action::Publish(body, json),
        "/recover" => Action::Recover(json),
        _ => Action::Answer(Answer::text(404, "Not Found", "Not Found\n")),
    }
}

async fn respond(stream: &mut TcpStream, answer: &Answer, http10: bool) -> std::io::Result<()> {
    stream.write_all(&answer.encode(http10)).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_negotiation_last_match_wins() {
        assert_eq!(negotiate(None), Some(false));
        assert_eq!(
            negotiate(Some(b"text/html, application/json;q=0.1")),
            Some(true)
        );
        assert_eq!(negotiate(Some(b"application/json, text/*")), Some(false));
        assert_eq!(negotiate(Some(b"text/html")), None);
    }

    #[test]
    fn answer_bytes_match_1_36() {
        let a = bad_request("Body is not valid JSON.");
        assert_eq!(
            a.encode(false),
            b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: 24\r\n\r\nBody is not valid JSON.\n"
        );
    }
}
