//! Complete HTTP answers to SockJS requests, as 1.36's `SockJsManager::respond*`: every
//! answer carries `Cache-Control: no-store, no-cache, must-revalidate, max-age=0`,
//! `Access-Control-Allow-Origin` (the request's `Origin`, else `*`) and
//! `Access-Control-Allow-Credentials: true` after its own headers. The body goes out
//! within the connection manager's credits (the length is the connection manager's
//! business, as with 1.36).

use bytes::Bytes;
use pushpin_zhttp::{Header, PacketType};

use super::frame;
use crate::outgoing;
use crate::session::conn::{Conn, ConnEvent};

/// Headers of a response before the common ones are added.
pub(crate) type Headers = Vec<(Bytes, Bytes)>;

/// The common headers every SockJS answer ends with.
fn apply_headers(request: &[outgoing::Header], out: &mut Headers) {
    out.push((
        Bytes::from_static(b"Cache-Control"),
        Bytes::from_static(b"no-store, no-cache, must-revalidate, max-age=0"),
    ));
    let origin = outgoing::get(request, b"Origin")
        .cloned()
        .unwrap_or(Bytes::from_static(b"*"));
    out.push((Bytes::from_static(b"Access-Control-Allow-Origin"), origin));
    out.push((
        Bytes::from_static(b"Access-Control-Allow-Credentials"),
        Bytes::from_static(b"true"),
    ));
}

/// Sends a complete response with the common headers. `false` when the client went away.
pub(crate) async fn respond(
    conn: &mut Conn,
    request: &[outgoing::Header],
    code: u16,
    reason: &[u8],
    mut headers: Headers,
    mut body: Bytes,
) -> bool {
    apply_headers(request, &mut headers);
    let n = conn.out_credits.take(body.len());
    let chunk = body.split_to(n);
    let mut p = conn.packet(PacketType::Data);
    p.code = Some(code);
    p.reason = Some(Bytes::copy_from_slice(reason));
    p.headers = Some(
        headers
            .into_iter()
            .map(|(n, v)| Header::new(n, v))
            .collect(),
    );
    p.body = Some(chunk);
    p.more = !body.is_empty();
    if !conn.send(p).await {
        return false;
    }
    while !body.is_empty() {
        if conn.out_credits.available() == 0 {
            match conn.recv().await {
                ConnEvent::Gone => return false,
                _ => continue,
            }
        }
        let n = conn.out_credits.take(body.len());
        let mut p = conn.packet(PacketType::Data);
        p.body = Some(body.split_to(n));
        p.more = !body.is_empty();
        if !conn.send(p).await {
            return false;
        }
    }
    true
}

fn content_type(value: &'static [u8]) -> Headers {
    vec![(
        Bytes::from_static(b"Content-Type"),
        Bytes::from_static(value),
    )]
}

/// `204 No Content` (answer to `OPTIONS`), with `Content-Type: text/plain` as the SockJS
/// protocol asks.
pub(crate) async fn empty(conn: &mut Conn, request: &[outgoing::Header]) -> bool {
    respond(
        conn,
        request,
        204,
        b"No Content",
        content_type(b"text/plain"),
        Bytes::new(),
    )
    .await
}

/// `200 OK` carrying a SockJS frame (`o`, `h`, `a[...]`, `c[...]`, `/info`), JSON-P
/// wrapped when there is a callback.
pub(crate) async fn ok_frame(
    conn: &mut Conn,
    request: &[outgoing::Header],
    frame: &[u8],
    callback: Option<&[u8]>,
) -> bool {
    let ct = frame_content_type(callback);
    let body = frame::http_body(frame, callback);
    respond(conn, request, 200, b"OK", content_type(ct), body).await
}

/// `200 OK` carrying a plain string (`ok` after a send), JSON-P wrapped when there is a
/// callback.
pub(crate) async fn ok_string(
    conn: &mut Conn,
    request: &[outgoing::Header],
    s: &[u8],
    callback: Option<&[u8]>,
) -> bool {
    let ct = frame_content_type(callback);
    let body = frame::http_string(s, callback);
    respond(conn, request, 200, b"OK", content_type(ct), body).await
}

/// JavaScript for a JSON-P callback, plain text otherwise.
const fn frame_content_type(callback: Option<&[u8]>) -> &'static [u8] {
    if callback.is_some() {
        b"application/javascript"
    } else {
        b"text/plain"
    }
}

/// A `text/plain` error: the message and a newline.
pub(crate) async fn error(
    conn: &mut Conn,
    request: &[outgoing::Header],
    code: u16,
    reason: &[u8],
    message: &str,
) -> bool {
    let body = Bytes::from(format!("{message}\n"));
    respond(
        conn,
        request,
        code,
        reason,
        content_type(b"text/plain"),
        body,
    )
    .await
}

/// Refuses a WebSocket handshake with a `text/plain` error (no SockJS headers, as 1.36's
/// `respondError` on a socket).
pub(crate) async fn ws_error(conn: &mut Conn, code: u16, reason: &[u8], message: &str) {
    let mut p = conn.packet(PacketType::Error);
    p.condition = Some(pushpin_zhttp::Condition::Rejected);
    p.code = Some(code);
    p.reason = Some(Bytes::copy_from_slice(reason));
    p.headers = Some(vec![Header::new("Content-Type", "text/plain")]);
    p.body = Some(Bytes::from(format!("{message}\n")));
    let _ = conn.send(p).await;
}
