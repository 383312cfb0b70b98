//! Connections to origins: DNS resolution off the runtime threads (`lookup_host`), the
//! allow/deny policy applied to every resolved address (spec/zhttp.md §10.3), TCP connect
//! with a timeout, TLS with rustls and the system's root certificates ([`crate::roots`]),
//! and a keep-alive pool of idle connections keyed by where and how they were opened.
//!
//! Pool policy: at most [`MAX_IDLE_PER_KEY`] idle connections per key and
//! [`MAX_IDLE_TOTAL`] overall (extra ones are closed); an idle connection is dropped after
//! [`IDLE_TIMEOUT`] or once older than `connection_max_time`, and checked for a close by
//! the origin before reuse.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use pushpin_zhttp::Condition;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::{self, pki_types::ServerName};

use crate::policy::Policy;

/// Default time allowed for DNS plus TCP connect plus TLS handshake: libcurl's default
/// connect timeout, which zurl 1.11 keeps (it sets none). Expiry is `connection-timeout`,
/// as is a TCP connect the kernel gives up on (`ETIMEDOUT`, after about 130 s of
/// unanswered SYNs on Linux): libcurl reports both as `CURLE_OPERATION_TIMEDOUT`.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(300);
/// Idle connections kept per pool key.
pub const MAX_IDLE_PER_KEY: usize = 16;
/// Idle connections kept in total.
pub const MAX_IDLE_TOTAL: usize = 1024;
/// An idle pooled connection older than this (since last use) is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// A plain or TLS connection to an origin.
#[derive(Debug)]
pub enum Stream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    /// Whether the origin closed (or sent unexpected bytes on) an idle connection.
    fn is_stale(&self) -> bool {
        let tcp = match self {
            Self::Plain(s) => s,
            Self::Tls(s) => s.get_ref().0,
        };
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut byte = [0u8; 1];
        let mut buf = ReadBuf::new(&mut byte);
        !matches!(tcp.poll_peek(&mut cx, &mut buf), Poll::Pending)
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Why a connection could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// Name resolution failed or gave nothing.
    #[error("dns lookup of {host} failed: {source}")]
    Dns {
        /// The name.
        host: String,
        /// Why.
        source: io::Error,
    },
    /// Every resolved address is denied by the policy.
    #[error("no allowed address for {host}")]
    Policy {
        /// The name.
        host: String,
    },
    /// Every address refused or failed.
    #[error("connect failed: {0}")]
    Connect(io::Error),
    /// The connect timeout elapsed.
    #[error("connect timed out")]
    Timeout,
    /// TLS handshake or verification failed.
    #[error("tls: {0}")]
    Tls(io::Error),
}

impl ConnectError {
    /// The ZHTTP condition zurl reports for this failure (spec/zhttp.md §7).
    pub fn condition(&self) -> Condition {
        match self {
            Self::Connect(e) if e.kind() == io::ErrorKind::TimedOut => Condition::ConnectionTimeout,
            Self::Dns { .. } | Self::Connect(_) => Condition::RemoteConnectionFailed,
            Self::Policy { .. } => Condition::PolicyViolation,
            Self::Timeout => Condition::ConnectionTimeout,
            Self::Tls(_) => Condition::TlsError,
        }
    }
}

/// Where and how to connect; also the pool key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// Host to resolve (or an address).
    pub host: String,
    /// Port.
    pub port: u16,
    /// The TLS server name (SNI, and the first name the certificate may match), when TLS
    /// is used: the URI host.
    pub tls_name: Option<String>,
    /// `trust-connect-host`: a second name the certificate may match instead (zurl checks
    /// the certificate against the URI host or, when trusted, the connect host).
    pub tls_also: Option<String>,
    /// Skip certificate verification.
    pub insecure: bool,
}

/// The two TLS client configurations (verifying and not), built once, and what is needed to
/// build one that accepts a second name (`trust-connect-host`).
#[derive(Clone)]
pub struct Tls {
    verify: TlsConnector,
    insecure: TlsConnector,
    provider: Arc<rustls::crypto::CryptoProvider>,
    verifier: Arc<rustls::client::WebPkiServerVerifier>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls")
    }
}

impl Tls {
    /// Builds the rustls configs with the trust anchors of `roots` (see [`crate::roots`])
    /// plus `extra_roots`.
    pub fn new(
        roots: &rustls::RootCertStore,
        extra_roots: &[rustls::pki_types::CertificateDer<'static>],
    ) -> Result<Self, rustls::Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = roots.clone();
        for cert in extra_roots {
            roots.add(cert.clone())?;
        }
        let roots = Arc::new(roots);
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::clone(&roots),
            Arc::clone(&provider),
        )
        .build()
        .map_err(|e| rustls::Error::General(e.to_string()))?;
        let verify = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let insecure = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(Arc::clone(&provider))))
            .with_no_client_auth();
        Ok(Self {
            verify: TlsConnector::from(Arc::new(verify)),
            insecure: TlsConnector::from(Arc::new(insecure)),
            provider,
            verifier,
        })
    }

    /// A verifying connector that also accepts a certificate for `also`.
    fn verify_also(&self, also: ServerName<'static>) -> Result<TlsConnector, rustls::Error> {
        let config = rustls::ClientConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AlsoName {
                inner: Arc::clone(&self.verifier),
                also,
            }))
            .with_no_client_auth();
        Ok(TlsConnector::from(Arc::new(config)))
    }
}

/// `trust-connect-host`: the full webpki verification, for the server name or else for a
/// second name.
#[derive(Debug)]
struct AlsoName {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    also: ServerName<'static>,
}

impl rustls::client::danger::ServerCertVerifier for AlsoName {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        intermediates: &[rustls::pki_types::CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        let first = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        first.or_else(|e| {
            self.inner
                .verify_server_cert(end_entity, intermediates, &self.also, ocsp_response, now)
                .map_err(|_| e)
        })
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `ignore-tls-errors`: accepts any certificate but still checks handshake signatures.
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Opens a new connection to `target` within `timeout`, applying `policy` (when given) to
/// every resolved address.
pub async fn connect(
    target: &Target,
    policy: Option<&Policy>,
    tls: &Tls,
    timeout: Duration,
) -> Result<Stream, ConnectError> {
    tokio::time::timeout(timeout, connect_inner(target, policy, tls))
        .await
        .unwrap_or(Err(ConnectError::Timeout))
}

async fn connect_inner(
    target: &Target,
    policy: Option<&Policy>,
    tls: &Tls,
) -> Result<Stream, ConnectError> {
    let addrs: Vec<SocketAddr> = match target.host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, target.port)],
        Err(_) => tokio::net::lookup_host((target.host.as_str(), target.port))
            .await
            .map_err(|source| ConnectError::Dns {
                host: target.host.clone(),
                source,
            })?
            .collect(),
    };
    let allowed: Vec<SocketAddr> = addrs
        .into_iter()
        .filter(|a| policy.is_none_or(|p| p.allows_ip(a.ip())))
        .collect();
    if allowed.is_empty() {
        return Err(ConnectError::Policy {
            host: target.host.clone(),
        });
    }
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
    let mut tcp = None;
    for addr in allowed {
        match TcpStream::connect(addr).await {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) => last = e,
        }
    }
    let tcp = tcp.ok_or(ConnectError::Connect(last))?;
    // Small writes (heads, chunks) must not wait for Nagle.
    let _ = tcp.set_nodelay(true);
    let Some(name) = &target.tls_name else {
        return Ok(Stream::Plain(tcp));
    };
    let server_name = ServerName::try_from(name.clone())
        .map_err(|e| ConnectError::Tls(io::Error::new(io::ErrorKind::InvalidInput, e)))?;
    let tls_err = |e| ConnectError::Tls(io::Error::new(io::ErrorKind::InvalidInput, e));
    let also = match (&target.tls_also, target.insecure) {
        (Some(also), false) if also != name => {
            let also = ServerName::try_from(also.clone()).map_err(tls_err)?;
            Some(
                tls.verify_also(also)
                    .map_err(|e| ConnectError::Tls(io::Error::other(e)))?,
            )
        }
        _ => None,
    };
    let connector = match (&also, target.insecure) {
        (Some(c), _) => c,
        (None, true) => &tls.insecure,
        (None, false) => &tls.verify,
    };
    let stream = connector
        .connect(server_name, tcp)
        .await
        .map_err(ConnectError::Tls)?;
    Ok(Stream::Tls(Box::new(stream)))
}

struct Idle {
    stream: Stream,
    opened: Instant,
    since: Instant,
}

/// Idle keep-alive connections.
#[derive(Default)]
pub struct Pool {
    idle: Mutex<HashMap<Target, Vec<Idle>>>,
    max_age: Duration,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pool")
    }
}

/// A connection with the time it was opened (for `connection_max_time`).
#[derive(Debug)]
pub struct Conn {
    /// The stream.
    pub stream: Stream,
    /// When it was opened.
    pub opened: Instant,
    /// Taken from the pool (so a failure before any response byte may be retried).
    pub reused: bool,
}

impl Pool {
    /// An empty pool whose connections live at most `max_age`.
    pub fn new(max_age: Duration) -> Self {
        Self {
            idle: Mutex::default(),
            max_age,
        }
    }

    /// An idle connection to `target`, if a healthy one is pooled.
    pub fn take(&self, target: &Target) -> Option<Conn> {
        let now = Instant::now();
        let mut map = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let list = map.get_mut(target)?;
        while let Some(idle) = list.pop() {
            let fresh = now.duration_since(idle.since) < IDLE_TIMEOUT
                && now.duration_since(idle.opened) < self.max_age;
            if fresh && !idle.stream.is_stale() {
                return Some(Conn {
                    stream: idle.stream,
                    opened: idle.opened,
                    reused: true,
                });
            }
        }
        map.remove(target);
        None
    }

    /// Returns a connection whose last response was fully read.
    pub fn put(&self, target: Target, conn: Conn) {
        let now = Instant::now();
        if now.duration_since(conn.opened) >= self.max_age {
            return;
        }
        let mut map = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let total: usize = map.values().map(Vec::len).sum();
        if total >= MAX_IDLE_TOTAL {
            // Make room by expiring idle connections; if none expired, drop this one.
            map.retain(|_, list| {
                list.retain(|i| now.duration_since(i.since) < IDLE_TIMEOUT);
                !list.is_empty()
            });
            if map.values().map(Vec::len).sum::<usize>() >= MAX_IDLE_TOTAL {
                return;
            }
        }
        let list = map.entry(target).or_default();
        if list.len() < MAX_IDLE_PER_KEY {
            list.push(Idle {
                stream: conn.stream,
                opened: conn.opened,
                since: now,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_like_libcurl() {
        // The kernel giving up on unanswered SYNs is a timeout for libcurl too.
        let timed_out = ConnectError::Connect(io::ErrorKind::TimedOut.into());
        assert_eq!(timed_out.condition(), Condition::ConnectionTimeout);
        assert_eq!(
            ConnectError::Timeout.condition(),
            Condition::ConnectionTimeout
        );
        let refused = ConnectError::Connect(io::ErrorKind::ConnectionRefused.into());
        assert_eq!(refused.condition(), Condition::RemoteConnectionFailed);
    }
}
