//! The Prometheus endpoint on `prometheus_port` (`spec/publishing.md` §11):
//! any request on `[addr:]port` or `ipc://path` gets the plain-text metrics
//! with 1.36's names, prefixed with `prometheus_prefix`, and the connection
//! is closed.
//!
//! Bounded like the publish server: [`MAX_CONNECTIONS`] at once, a request
//! head of at most [`MAX_HEAD`] bytes read within [`REQUEST_TIMEOUT`].

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use pushpin_config::proxy::MetricsAddr;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tracing::{debug, warn};

use crate::Stats;

/// Most concurrent metrics connections.
pub(crate) const MAX_CONNECTIONS: usize = 64;
/// Most request head bytes read.
pub(crate) const MAX_HEAD: usize = 10_000;
/// Time a client has to send its request head.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A bound metrics listener.
pub(crate) enum Listener {
    /// TCP.
    Tcp(TcpListener),
    /// Unix socket.
    Unix(UnixListener),
}

impl Listener {
    /// Binds the configured address.
    pub(crate) async fn bind(addr: &MetricsAddr) -> anyhow::Result<Self> {
        Ok(match addr {
            MetricsAddr::Tcp { addr, port } => {
                let ip = addr.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
                let sa = SocketAddr::new(ip, *port);
                Self::Tcp(
                    TcpListener::bind(sa)
                        .await
                        .with_context(|| format!("binding prometheus_port {sa}"))?,
                )
            }
            MetricsAddr::Ipc(path) => {
                let _stale = std::fs::remove_file(path);
                Self::Unix(
                    UnixListener::bind(path)
                        .with_context(|| format!("binding prometheus_port {}", path.display()))?,
                )
            }
        })
    }
}

/// The metrics text (`spec/publishing.md` §11).
pub(crate) fn render(prefix: &str, s: &Stats) -> String {
    let metrics: [(&str, &str, &str, u64); 5] = [
        (
            "request_received",
            "counter",
            "Number of requests received",
            s.accepted,
        ),
        (
            "connection_connected",
            "gauge",
            "Number of concurrent connections",
            s.connections,
        ),
        (
            "connection_minute",
            "counter",
            "Number of minutes clients have been connected",
            s.connection_minutes,
        ),
        (
            "message_received",
            "counter",
            "Number of messages received by the publish API",
            s.received,
        ),
        (
            "message_sent",
            "counter",
            "Number of messages sent to clients",
            s.sent,
        ),
    ];
    let mut out = String::new();
    for (name, kind, help, value) in metrics {
        out.push_str(&format!(
            "# HELP {prefix}{name} {help}\n# TYPE {prefix}{name} {kind}\n{prefix}{name} {value}\n"
        ));
    }
    out
}

async fn answer<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, body: String) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(buf.get(..n).unwrap_or_default());
    }
    let http10 = head.windows(8).any(|w| w == b"HTTP/1.0");
    let version = if http10 { "HTTP/1.0" } else { "HTTP/1.1" };
    let resp = format!(
        "{version} 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(resp.as_bytes()).await?;
    s.shutdown().await
}

/// Serves metrics until the handler stops.
pub(crate) async fn serve(
    listener: Listener,
    prefix: String,
    stats: watch::Receiver<Stats>,
) -> anyhow::Result<()> {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut conns = JoinSet::new();
    loop {
        let permit = Arc::clone(&permits).acquire_owned().await?;
        while conns.try_join_next().is_some() {}
        let body = match &listener {
            Listener::Tcp(l) => match l.accept().await {
                Ok((s, _)) => Some((render(&prefix, &stats.borrow()), Conn::Tcp(s))),
                Err(e) => {
                    warn!(error = %e, "metrics: accept failed");
                    None
                }
            },
            Listener::Unix(l) => match l.accept().await {
                Ok((s, _)) => Some((render(&prefix, &stats.borrow()), Conn::Unix(s))),
                Err(e) => {
                    warn!(error = %e, "metrics: accept failed");
                    None
                }
            },
        };
        let Some((body, conn)) = body else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        conns.spawn(async move {
            let _permit = permit;
            let r = match conn {
                Conn::Tcp(s) => tokio::time::timeout(REQUEST_TIMEOUT, answer(s, body)).await,
                Conn::Unix(s) => tokio::time::timeout(REQUEST_TIMEOUT, answer(s, body)).await,
            };
            if let Ok(Err(e)) = r {
                debug!(error = %e, "metrics connection error");
            }
        });
    }
}

enum Conn {
    Tcp(tokio::net::TcpStream),
    Unix(tokio::net::UnixStream),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_prefix_as_1_35() {
        let s = Stats {
            received: 3,
            sent: 2,
            ..Stats::default()
        };
        let text = render("pp_", &s);
        assert!(text.starts_with(
            "# HELP pp_request_received Number of requests received\n# TYPE pp_request_received counter\npp_request_received 0\n"
        ));
        assert!(text.contains("pp_message_received 3\n"));
        assert!(text.contains("# TYPE pp_connection_connected gauge\n"));
        assert!(text.ends_with("pp_message_sent 2\n"));
    }
}
