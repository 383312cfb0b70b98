//! TLS listeners: a certificate chain made with `openssl` in a temp dir, our
//! connmgr serving `,tls,default-cert=NAME`, and a rustls client that trusts the
//! test CA. Fails (never skips) when `openssl` is missing.

#[path = "support/harness.rs"]
mod harness;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use harness::*;
use pushpin_connmgr::config::{Listen, ListenAddr, TlsListen};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore, crypto};

fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("running openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Writes `ca.crt` into `root` and `default_test.crt`/`.key` (for `localhost`,
/// signed by that CA) into `root/certs`.
fn make_certs(root: &Path) {
    let p = |name: &str| root.join(name).to_str().unwrap().to_owned();
    std::fs::create_dir_all(root.join("certs")).unwrap();
    std::fs::write(
        root.join("ext"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        &p("ca.key"),
        "-out",
        &p("ca.crt"),
        "-days",
        "2",
        "-subj",
        "/CN=connmgr test ca",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        &p("certs/default_test.key"),
        "-out",
        &p("ee.csr"),
        "-subj",
        "/CN=localhost",
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        &p("ee.csr"),
        "-CA",
        &p("ca.crt"),
        "-CAkey",
        &p("ca.key"),
        "-CAcreateserial",
        "-out",
        &p("certs/default_test.crt"),
        "-days",
        "2",
        "-extfile",
        &p("ext"),
    ]);
}

#[tokio::test]
async fn https_and_wss_over_a_tls_listener() {
    let dir = tempfile::tempdir().unwrap();
    make_certs(dir.path());
    let certs = dir.path().join("certs");
    let mut h = Harness::start_with(|c| {
        c.tls_identities_dir = certs.clone();
        c.listen.push(Listen {
            addr: ListenAddr::Tcp("127.0.0.1:0".parse().unwrap()),
            tls: Some(TlsListen {
                default_cert: Some("default_test".into()),
            }),
        });
    })
    .await;

    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(dir.path().join("ca.crt")).unwrap())
        .unwrap();
    let config = ClientConfig::builder_with_provider(Arc::new(crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = TlsConnector::from(Arc::new(config));
    let tcp = within(tokio::net::TcpStream::connect(h.addrs[1]))
        .await
        .unwrap();
    let mut tls = within(connector.connect(ServerName::try_from("localhost").unwrap(), tcp))
        .await
        .unwrap();
    tls.write_all(b"GET /secure HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let p = h.resp.first().await;
    assert_eq!(
        p.uri.as_deref(),
        Some(b"https://localhost/secure".as_slice())
    );
    let id = p.id().unwrap().0.clone();
    h.resp
        .send(&response(&id, 0, 200, &[], "secret", false))
        .await;
    let mut got = Vec::new();
    within(async {
        while !got.ends_with(b"secret") {
            let mut chunk = [0u8; 1024];
            let n = tls.read(&mut chunk).await.unwrap();
            assert!(n > 0);
            got.extend_from_slice(&chunk[..n]);
        }
    })
    .await;
    assert!(text(&got).starts_with("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n"));

    // WebSocket handshakes over TLS carry a wss:// URI.
    tls.write_all(
        b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    .await
    .unwrap();
    let p = h.resp.first().await;
    assert_eq!(p.uri.as_deref(), Some(b"wss://localhost/ws".as_slice()));

    // A plain-text client on the TLS port is dropped (the handshake fails).
    let mut plain = within(tokio::net::TcpStream::connect(h.addrs[1]))
        .await
        .unwrap();
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = read_to_eof(&mut plain).await;
    assert!(!text(&answer).starts_with("HTTP/"), "{}", text(&answer));
    h.stop().await;
}

#[tokio::test]
async fn missing_default_certificate_is_a_startup_error() {
    let dir = tempfile::tempdir().unwrap();
    make_certs(dir.path());
    let base = format!("ipc://{}", dir.path().join("c").display());
    let mut config = pushpin_connmgr::Config::new(
        vec![Listen {
            addr: ListenAddr::Tcp("127.0.0.1:0".parse().unwrap()),
            tls: Some(TlsListen {
                default_cert: Some("nope".into()),
            }),
        }],
        vec![pushpin_connmgr::config::parse_zclient_stream(&base).unwrap()],
    );
    config.tls_identities_dir = dir.path().join("certs");
    let err = format!(
        "{:#}",
        pushpin_connmgr::Server::bind(config).await.err().unwrap()
    );
    assert!(
        err.contains("default certificate \"nope\" not found"),
        "{err}"
    );
}
