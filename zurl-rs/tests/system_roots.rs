//! The system's root certificates: the built `zurl-rs` binary, run as a child process with
//! `SSL_CERT_FILE` in its environment (never set in this process: tests share it), trusts
//! a CA given there, ignores a certificate there that fails to parse, and falls back to
//! the bundled webpki roots when the file has no usable certificate. The startup log says
//! which.

#[path = "support/common.rs"]
mod common;
#[path = "support/tls.rs"]
mod tls;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use bytes::Bytes;
use common::*;
use pushpin_zhttp::{Condition, PacketType};
use tls::*;

/// A PEM block that is not a certificate rustls can use.
const BAD_PEM: &str = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";

/// A `zurl-rs` child on ipc sockets in a temp dir, logging to a file; killed by PID on drop.
struct ChildZurl {
    child: Child,
    dir: tempfile::TempDir,
}

impl Drop for ChildZurl {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ChildZurl {
    /// Starts the binary with `SSL_CERT_FILE=cert_file` (or none) and no `SSL_CERT_DIR`,
    /// whatever this process's environment holds.
    fn start(cert_file: Option<&Path>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("zurl.conf");
        std::fs::write(&conf, conf_text(dir.path(), "")).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_zurl-rs"));
        cmd.arg(format!("--config={}", conf.display()))
            .arg(format!(
                "--logfile={}",
                dir.path().join("zurl.log").display()
            ))
            .env_remove("SSL_CERT_DIR")
            .env_remove("SSL_CERT_FILE")
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        if let Some(f) = cert_file {
            cmd.env("SSL_CERT_FILE", f);
        }
        let child = cmd.spawn().expect("spawn zurl-rs");
        Self { child, dir }
    }

    async fn client(&self) -> Client {
        let spec = |name: &str| {
            pushpin_zmq::SocketSpec::parse(&format!(
                "ipc://{}",
                self.dir.path().join(name).display()
            ))
            .unwrap()
        };
        Client::connect_specs(spec("in"), spec("in-stream"), spec("out"), ZURL_ID).await
    }

    /// The log so far (the roots are loaded and logged before the sockets are bound, so
    /// once the client is connected the startup lines are there).
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("zurl.log")).unwrap_or_default()
    }
}

/// A CA and an HTTPS origin on loopback with a certificate it issued for `name.test`.
struct Setup {
    ca_pem: String,
    port: u16,
    origin: tokio::task::JoinHandle<()>,
    dir: tempfile::TempDir,
}

impl Setup {
    async fn new() -> Self {
        let ca = Ca::new();
        let (cert, key) = ca.issue(&["name.test"]);
        let (port, origin) = tls_origin(cert, key).await;
        Self {
            ca_pem: ca.cert.pem(),
            port,
            origin,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// Writes `text` to a file in the temp dir and returns its path.
    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Sends a GET for `https://name.test:<port>/` through 127.0.0.1 and returns the
    /// response code or the condition.
    async fn get(&self, c: &mut Client, id: &'static str) -> Result<u16, Condition> {
        let url = format!("https://name.test:{}/", self.port);
        let mut req = c.request(id, "GET", &url);
        req.connect_host = Some(Bytes::from_static(b"127.0.0.1"));
        c.send_first(&req).await;
        assert_eq!(c.recv_for(id).await.ptype, PacketType::KeepAlive);
        let p = c.recv_for(id).await;
        if p.ptype == PacketType::Error {
            return Err(p.condition.unwrap());
        }
        assert_eq!(p.body_bytes(), b"hello tls");
        Ok(p.code.unwrap())
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        self.origin.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ca_from_ssl_cert_file_is_trusted() {
    let s = Setup::new().await;
    // A certificate that fails to parse beside the CA: warned about, not fatal.
    let file = s.file("roots.pem", &format!("{BAD_PEM}{}", s.ca_pem));
    let z = ChildZurl::start(Some(&file));
    let mut c = z.client().await;
    assert_eq!(s.get(&mut c, "f-1").await, Ok(200));
    let log = z.log();
    assert!(
        log.contains(&format!(
            "loaded 1 root certificates from the system store (SSL_CERT_FILE={})",
            file.display()
        )),
        "{log}"
    );
    assert!(
        log.contains("[WARN]")
            && log.contains("ignoring a system root certificate that failed to parse"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ca_not_in_the_system_store_is_not_trusted() {
    let s = Setup::new().await;
    let z = ChildZurl::start(None);
    let mut c = z.client().await;
    assert_eq!(s.get(&mut c, "n-1").await, Err(Condition::TlsError));
    let log = z.log();
    assert!(
        log.contains("root certificates from the system store")
            || log.contains("bundled webpki roots"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_usable_system_roots_falls_back_to_webpki() {
    let s = Setup::new().await;
    let file = s.file("bad.pem", BAD_PEM);
    let z = ChildZurl::start(Some(&file));
    let mut c = z.client().await;
    // The bundled roots do not include the test CA.
    assert_eq!(s.get(&mut c, "b-1").await, Err(Condition::TlsError));
    let log = z.log();
    assert!(
        log.contains(&format!(
            "no usable root certificates in the system store (SSL_CERT_FILE={}); \
             using the {} bundled webpki roots",
            file.display(),
            webpki_roots::TLS_SERVER_ROOTS.len()
        )),
        "{log}"
    );
}
