//! Accepting client connections on TCP and Unix sockets, bounded by
//! `--stream-maxconn`.
//!
//! Each connection runs as its own task in one [`JoinSet`] owned by the accept
//! loop, spread by tokio over the worker threads. At the connection limit a new
//! client gets a short `503` answer and is closed at once (condure instead leaves
//! it in the kernel backlog); accept errors (e.g. out of file descriptors) back
//! off for up to one second.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tracing::{Instrument, debug, debug_span, error, warn};

use crate::conn::{self, Peer, Shared};

/// Answer for a client beyond the connection limit.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 20\r\nConnection: close\r\n\r\ntoo many connections\n";

/// Longest back-off after an accept error.
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// A bound listener.
pub(crate) enum Bound {
    /// TCP, with TLS when an acceptor is given.
    Tcp(TcpListener, Option<TlsAcceptor>),
    /// Unix socket, with the path to remove when done.
    Local(UnixListener, PathBuf),
}

/// Ids for connections (part of each session id).
static NEXT_CONN: AtomicU64 = AtomicU64::new(0);

/// Accepts on `listener` until `stop` turns true, then waits for its
/// connections (they see the same signal and cancel their sessions) for at most
/// `grace`, and aborts what is left.
pub(crate) async fn accept_loop(
    listener: Bound,
    shared: Arc<Shared>,
    limit: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
    grace: Duration,
) {
    let mut conns = JoinSet::new();
    let mut backoff = Duration::from_millis(5);
    loop {
        let accepted = tokio::select! {
            res = accept(&listener) => res,
            Some(res) = conns.join_next() => {
                if let Err(e) = res {
                    if e.is_panic() {
                        error!(error = %e, "connection task panicked");
                    }
                }
                continue;
            }
            _ = stop.changed() => break,
        };
        let (stream, peer) = match accepted {
            Ok(x) => {
                backoff = Duration::from_millis(5);
                x
            }
            Err(e) => {
                warn!(error = %e, "accept failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_ACCEPT_BACKOFF);
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&limit).try_acquire_owned() else {
            debug!("connection limit reached; refusing client");
            refuse(stream);
            continue;
        };
        let conn_id = NEXT_CONN.fetch_add(1, Ordering::Relaxed);
        let shared = Arc::clone(&shared);
        let span = debug_span!("conn", conn = conn_id, peer = ?peer.addr);
        match stream {
            Stream::Tcp(s, None) => {
                let _ = s.set_nodelay(true);
                let (r, w) = s.into_split();
                conns.spawn(connection(r, w, peer, conn_id, shared, permit).instrument(span));
            }
            Stream::Tcp(s, Some(acceptor)) => {
                let _ = s.set_nodelay(true);
                conns.spawn(
                    async move {
                        let timeout = shared.config.header_timeout;
                        match tokio::time::timeout(timeout, acceptor.accept(s)).await {
                            Ok(Ok(tls)) => {
                                let (r, w) = tokio::io::split(tls);
                                connection(r, w, peer, conn_id, shared, permit).await;
                            }
                            Ok(Err(e)) => debug!(error = %e, "tls handshake failed"),
                            Err(_) => debug!("tls handshake timed out"),
                        }
                    }
                    .instrument(span),
                );
            }
            Stream::Local(s) => {
                let (r, w) = s.into_split();
                conns.spawn(connection(r, w, peer, conn_id, shared, permit).instrument(span));
            }
        }
    }
    drop(listener);
    let drain = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(grace, drain).await.is_err() {
        debug!(
            left = conns.len(),
            "aborting connections after the grace period"
        );
        conns.shutdown().await;
    }
}

/// One connection task; the permit is released when it ends.
async fn connection<R, W>(
    r: R,
    w: W,
    peer: Peer,
    conn_id: u64,
    shared: Arc<Shared>,
    permit: tokio::sync::OwnedSemaphorePermit,
) where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    debug!("accepted");
    conn::serve(r, w, peer, conn_id, shared).await;
    drop(permit);
    debug!("closed");
}

enum Stream {
    Tcp(tokio::net::TcpStream, Option<TlsAcceptor>),
    Local(tokio::net::UnixStream),
}

async fn accept(listener: &Bound) -> std::io::Result<(Stream, Peer)> {
    match listener {
        Bound::Tcp(l, tls) => {
            let (s, addr) = l.accept().await?;
            let local = s.local_addr().ok();
            Ok((
                Stream::Tcp(s, tls.clone()),
                Peer {
                    addr: Some(addr),
                    local_host: host_of(local),
                    secure: tls.is_some(),
                },
            ))
        }
        Bound::Local(l, _) => {
            let (s, _) = l.accept().await?;
            Ok((
                Stream::Local(s),
                Peer {
                    addr: None,
                    local_host: Bytes::from_static(b"localhost"),
                    secure: false,
                },
            ))
        }
    }
}

fn host_of(addr: Option<SocketAddr>) -> Bytes {
    addr.map_or_else(
        || Bytes::from_static(b"localhost"),
        |a| Bytes::from(a.to_string()),
    )
}

/// Best-effort busy answer without waiting, then close.
fn refuse(stream: Stream) {
    match stream {
        Stream::Tcp(s, None) => {
            let _ = s.try_write(BUSY);
        }
        Stream::Tcp(_, Some(_)) => {
            // A plain answer would only confuse a TLS client: just close.
        }
        Stream::Local(s) => {
            let _ = s.try_write(BUSY);
        }
    }
}

impl Drop for Bound {
    fn drop(&mut self) {
        if let Self::Local(_, path) = self {
            let _ = std::fs::remove_file(path);
        }
    }
}
