//! TLS to origins: certificate verification (`tls-error` for an untrusted certificate),
//! `ignore-tls-errors`, and `trust-connect-host` with a locally made CA.
//!
//! zurl 1.11 checks the certificate's names against the URI host or, with
//! `trust-connect-host`, the `connect-host`; the connection goes to `connect-host` either
//! way and the SNI is the URI host. (It does not check the chain at all, see README.)

#[path = "support/common.rs"]
mod common;
#[path = "support/tls.rs"]
mod tls;

use bytes::Bytes;
use common::*;
use pushpin_zhttp::{Condition, PacketType};
use tls::*;

/// Sends a GET for `url` through `connect_host` and returns (code, body) or the condition.
async fn get(
    c: &mut Client,
    id: &'static str,
    url: &str,
    connect_host: &'static str,
    trust: bool,
) -> Result<(u16, Vec<u8>), Condition> {
    let mut req = c.request(id, "GET", url);
    req.connect_host = Some(Bytes::from_static(connect_host.as_bytes()));
    req.trust_connect_host = trust;
    c.send_first(&req).await;
    assert_eq!(c.recv_for(id).await.ptype, PacketType::KeepAlive);
    let p = c.recv_for(id).await;
    if p.ptype == PacketType::Error {
        return Err(p.condition.unwrap());
    }
    let mut body = p.body_bytes().to_vec();
    let code = p.code.unwrap();
    let mut more = p.more;
    while more {
        let p = c.recv_for(id).await;
        body.extend_from_slice(p.body_bytes());
        more = p.more;
    }
    Ok((code, body))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_verification_and_ignore_tls_errors() {
    let (cert, key) = self_signed(&["localhost"]);
    let (port, origin) = tls_origin(cert, key).await;
    let z = start_zurl("").await;
    let mut c = Client::connect(&z).await;
    let url = format!("https://localhost:{port}/");
    assert_eq!(
        get(&mut c, "t-1", &url, "127.0.0.1", false).await,
        Err(Condition::TlsError)
    );

    let mut req = c.request("t-2", "GET", &url);
    req.connect_host = Some(Bytes::from_static(b"127.0.0.1"));
    req.ignore_tls_errors = true;
    c.send_first(&req).await;
    let (first, body, _) = c.read_stream("t-2", 1, true).await;
    assert_eq!((first.code, &body[..]), (Some(200), &b"hello tls"[..]));
    origin.abort();
    z.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_connect_host_with_a_local_ca() {
    let ca = Ca::new();
    let (cert, key) = ca.issue(&["name.test"]);
    let (named, named_task) = tls_origin(cert, key).await;
    let (cert, key) = ca.issue(&["127.0.0.1"]);
    let (by_ip, ip_task) = tls_origin(cert, key).await;
    let options = zurl_rs::Options {
        extra_roots: vec![ca.der()],
        ..zurl_rs::Options::default()
    };
    let z = start_zurl_with("", options).await;
    let mut c = Client::connect(&z).await;
    let ok = Ok((200, b"hello tls".to_vec()));

    // The certificate names the URI host: verified, whatever the connect host.
    let url = format!("https://name.test:{named}/");
    assert_eq!(get(&mut c, "n-1", &url, "127.0.0.1", false).await, ok);
    assert_eq!(get(&mut c, "n-2", &url, "localhost", true).await, ok);
    // The certificate names the connect host only: accepted only when trusted.
    let url = format!("https://other.test:{by_ip}/");
    assert_eq!(
        get(&mut c, "i-1", &url, "127.0.0.1", false).await,
        Err(Condition::TlsError)
    );
    assert_eq!(get(&mut c, "i-2", &url, "127.0.0.1", true).await, ok);
    // Neither name matches.
    let url = format!("https://other.test:{named}/");
    assert_eq!(
        get(&mut c, "x-1", &url, "127.0.0.1", true).await,
        Err(Condition::TlsError)
    );
    named_task.abort();
    ip_task.abort();
    z.stop().await;
}
