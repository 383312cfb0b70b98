//! TLS to origins: certificate verification (`tls-error` for an untrusted certificate) and
//! `ignore-tls-errors`.

#[path = "support/common.rs"]
mod common;

use std::sync::Arc;

use common::*;
use pushpin_zhttp::{Condition, PacketType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

async fn tls_origin() -> (u16, tokio::task::JoinHandle<()>) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.key_pair.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            conns.spawn(async move {
                let Ok(mut tls) = acceptor.accept(sock).await else { return };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let _ = tls
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\nConnection: close\r\n\r\nhello tls")
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (port, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_verification_and_ignore_tls_errors() {
    let (port, origin) = tls_origin().await;
    let z = start_zurl("").await;
    let mut c = Client::connect(&z).await;
    let url = format!("https://localhost:{port}/");
    let mut req = c.request("t-1", "GET", &url);
    req.connect_host = Some(bytes::Bytes::from_static(b"127.0.0.1"));
    c.send_first(&req).await;
    assert_eq!(c.recv_for("t-1").await.ptype, PacketType::KeepAlive);
    let e = c.recv_for("t-1").await;
    assert_eq!(
        (e.ptype, e.condition),
        (PacketType::Error, Some(Condition::TlsError))
    );

    let mut req = c.request("t-2", "GET", &url);
    req.connect_host = Some(bytes::Bytes::from_static(b"127.0.0.1"));
    req.ignore_tls_errors = true;
    c.send_first(&req).await;
    let (first, body, _) = c.read_stream("t-2", 1, true).await;
    assert_eq!((first.code, &body[..]), (Some(200), &b"hello tls"[..]));
    origin.abort();
    z.stop().await;
}
