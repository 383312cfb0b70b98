//! One client connection: reads request heads, runs one ZHTTP session per request
//! ([`session`]), and keeps the connection for the next request (keep-alive and
//! pipelining) when both sides allow it.
//!
//! Memory: the read buffer is allocated when bytes arrive and released whenever it
//! is empty between steps; the write buffer lives in the session and is released
//! once flushed. An idle held stream therefore owns no data buffer.

mod link;
pub(crate) mod session;
mod ws;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{Instrument, debug, debug_span};

use crate::config::Config;
use crate::http1::{self, HeadError, RequestHead};
use crate::zio::{Outbound, Registry};

/// Longest time spent writing an error answer to a client before closing.
const ERROR_WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// State shared by every connection.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The configuration.
    pub(crate) config: Arc<Config>,
    /// Our instance id as bytes (`from`).
    pub(crate) from: Bytes,
    /// Outgoing packets.
    pub(crate) outbound: Outbound,
    /// Incoming packet routing.
    pub(crate) registry: Arc<Registry>,
    /// Becomes `true` when the process stops.
    pub(crate) shutdown: watch::Receiver<bool>,
}

/// Who is on the other end, as reported to the responder.
#[derive(Debug, Clone)]
pub(crate) struct Peer {
    /// The client's address (TCP only).
    pub(crate) addr: Option<SocketAddr>,
    /// `host:port` used in the URI when the request has no `Host` header.
    pub(crate) local_host: Bytes,
    /// The connection is TLS (`https`/`wss` URIs).
    pub(crate) secure: bool,
}

/// What a finished request leaves the connection in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Read the next request.
    KeepAlive,
    /// Close the connection.
    Close,
}

/// Serves one client connection until it closes.
pub(crate) async fn serve<R, W>(mut r: R, mut w: W, peer: Peer, conn_id: u64, shared: Arc<Shared>)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut rbuf = BytesMut::new();
    let mut shutdown = shared.shutdown.clone();
    let mut req_n: u64 = 0;
    loop {
        let head = match read_head(&mut r, &mut rbuf, &shared.config, &mut shutdown).await {
            Ok(Some(head)) => head,
            Ok(None) => break,
            Err(e) => {
                debug!(error = %e, "bad request");
                let answer = http1::error_response(&e);
                let _ = tokio::time::timeout(ERROR_WRITE_TIMEOUT, w.write_all(&answer)).await;
                break;
            }
        };
        if rbuf.is_empty() {
            // Drop the allocation the header block was read into.
            rbuf = BytesMut::new();
        }
        let (id, span) = session_id(conn_id, req_n);
        req_n = req_n.wrapping_add(1);
        if head.websocket {
            if let Some(reason) = ws::check_handshake(&head) {
                debug!(reason, "bad websocket handshake");
                let answer = http1::plain_response(400, "Bad Request", reason);
                let _ = tokio::time::timeout(ERROR_WRITE_TIMEOUT, w.write_all(&answer)).await;
            } else {
                ws::run(&mut r, &mut w, &mut rbuf, head, id, &peer, &shared)
                    .instrument(span)
                    .await;
            }
            break;
        }
        let next = session::run(&mut r, &mut w, &mut rbuf, head, id, &peer, &shared)
            .instrument(span)
            .await;
        if next == Next::Close {
            break;
        }
        if rbuf.is_empty() {
            rbuf = BytesMut::new();
        }
    }
    let _ = tokio::time::timeout(ERROR_WRITE_TIMEOUT, w.shutdown()).await;
}

/// The id of a connection's `req_n`th session, and its span. A separate function
/// so the id is not borrowed in (and kept by) `serve`'s suspended state.
fn session_id(conn_id: u64, req_n: u64) -> (Bytes, tracing::Span) {
    let id = Bytes::from(format!("0-{conn_id:x}-{req_n:x}"));
    let span = debug_span!("session", rid = %String::from_utf8_lossy(&id));
    (id, span)
}

/// Reads until a complete request head is in `rbuf`. `Ok(None)`: the client closed,
/// idled out, was too slow with its header block, or the process is stopping.
async fn read_head<R: AsyncRead + Unpin>(
    r: &mut R,
    rbuf: &mut BytesMut,
    config: &Config,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<Option<RequestHead>, HeadError> {
    let limit = config.buffer_size;
    let idle_deadline = Instant::now() + config.stream_timeout;
    let mut header_deadline: Option<Instant> = None;
    loop {
        if !rbuf.is_empty() {
            if let Some(head) = http1::parse_head(rbuf, limit)? {
                return Ok(Some(head));
            }
            header_deadline.get_or_insert_with(|| Instant::now() + config.header_timeout);
        }
        if *shutdown.borrow() {
            return Ok(None);
        }
        let deadline = header_deadline.unwrap_or(idle_deadline);
        if rbuf.capacity() - rbuf.len() < 256 {
            // Start small (most request heads are a few hundred bytes) and double,
            // up to a little past the limit so an oversized head is detected.
            let room = limit.saturating_sub(rbuf.len()).max(256);
            rbuf.reserve(rbuf.len().max(1024).min(room));
        }
        tokio::select! {
            res = r.read_buf(rbuf) => match res {
                Ok(0) => {
                    if !rbuf.is_empty() {
                        debug!("client closed in the middle of a request head");
                    }
                    return Ok(None);
                }
                Ok(_) => {}
                Err(e) => {
                    debug!(error = %e, "client read failed");
                    return Ok(None);
                }
            },
            () = tokio::time::sleep_until(deadline) => {
                debug!(partial = !rbuf.is_empty(), "client timed out waiting for a request head");
                return Ok(None);
            }
            _ = shutdown.changed() => return Ok(None),
        }
    }
}
