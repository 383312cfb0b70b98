//! Socket setup: bind/connect rules for spec lists, tcp port 0, ipc
//! stale-file policy, `ipc_file_mode`, and option validation.

use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::time::Duration;

use bytes::Bytes;
use pushpin_zmq::{AsyncSocket, Error, Hwm, Mode, Multipart, SocketKind, SocketSpec};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

async fn within<F: Future>(f: F) -> F::Output {
    timeout(WAIT, f).await.expect("timed out")
}

fn one(frame: &'static [u8]) -> Multipart {
    Multipart::from(Bytes::from_static(frame))
}

fn pull() -> pushpin_zmq::SocketBuilder {
    AsyncSocket::builder(SocketKind::Pull, Hwm::both(100))
}

fn push() -> pushpin_zmq::SocketBuilder {
    AsyncSocket::builder(SocketKind::Push, Hwm::both(100))
}

#[tokio::test]
async fn tcp_port_zero_reports_real_port() {
    let mut server = pull()
        .bind(SocketSpec::parse("tcp://127.0.0.1:*").unwrap())
        .build()
        .unwrap();
    let endpoint = server.last_endpoint().unwrap().unwrap();
    let SocketSpec::Tcp { host, port } = &endpoint else {
        panic!("not tcp: {endpoint}");
    };
    assert_eq!(host, "127.0.0.1");
    assert_ne!(*port, 0);

    let mut client = push().connect(endpoint.clone()).build().unwrap();
    within(client.send(one(b"hi"))).await.unwrap();
    assert_eq!(within(server.recv()).await.unwrap(), one(b"hi"));

    // The port is taken now.
    let err = pull().bind(endpoint).build().unwrap_err();
    assert!(matches!(&err, Error::Bind { .. }), "{err}");
    assert!(err.zmq().is_some_and(|e| e.is_addr_in_use()), "{err:?}");
}

#[tokio::test]
async fn bind_list_binds_only_the_first_spec() {
    let dir = tempfile::tempdir().unwrap();
    let specs = vec![
        SocketSpec::Ipc(dir.path().join("first")),
        SocketSpec::Ipc(dir.path().join("second")),
    ];
    let server = pull().attach(Mode::Bind, &specs).build().unwrap();
    assert!(dir.path().join("first").exists());
    assert!(!dir.path().join("second").exists());
    let expected = SocketSpec::Ipc(dir.path().join("first"));
    assert_eq!(server.last_endpoint().unwrap(), Some(expected));
}

#[tokio::test]
async fn connect_list_connects_every_spec() {
    let dir = tempfile::tempdir().unwrap();
    let specs = vec![
        SocketSpec::Ipc(dir.path().join("a")),
        SocketSpec::Ipc(dir.path().join("b")),
    ];
    let mut a = pull().bind(specs[0].clone()).build().unwrap();
    let mut b = pull().bind(specs[1].clone()).build().unwrap();
    let mut client = push().attach(Mode::Connect, &specs).build().unwrap();
    // PUSH round-robins over its connected peers: one message each.
    within(client.send(one(b"1"))).await.unwrap();
    within(client.send(one(b"2"))).await.unwrap();
    let got_a = within(a.recv()).await.unwrap();
    let got_b = within(b.recv()).await.unwrap();
    assert_ne!(got_a, got_b);
}

#[tokio::test]
async fn empty_spec_list_is_an_error() {
    let err = pull().attach(Mode::Bind, &[]).build().unwrap_err();
    assert!(
        matches!(
            err,
            Error::NoSpec {
                kind: SocketKind::Pull
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn ipc_file_mode_is_applied() {
    let dir = tempfile::tempdir().unwrap();
    for mode in [0o600, 0o777, 0o640] {
        let path = dir.path().join(format!("mode-{mode:o}"));
        let _server = pull()
            .ipc_file_mode(mode)
            .bind(SocketSpec::Ipc(path.clone()))
            .build()
            .unwrap();
        let got = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(got, mode);
    }
}

#[tokio::test]
async fn stale_ipc_file_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stale");
    // A listener that went away leaves its socket file behind.
    drop(UnixListener::bind(&path).unwrap());
    assert!(path.exists());

    let spec = SocketSpec::Ipc(path);
    let mut server = pull().bind(spec.clone()).build().unwrap();
    let mut client = push().connect(spec).build().unwrap();
    within(client.send(one(b"fresh"))).await.unwrap();
    assert_eq!(within(server.recv()).await.unwrap(), one(b"fresh"));
}

#[tokio::test]
async fn live_ipc_socket_is_not_stolen() {
    let dir = tempfile::tempdir().unwrap();
    let spec = SocketSpec::Ipc(dir.path().join("live"));
    let mut server = pull().bind(spec.clone()).build().unwrap();

    let err = pull().bind(spec.clone()).build().unwrap_err();
    assert!(matches!(err, Error::IpcInUse { .. }), "{err}");

    // The first binder still owns the path.
    let mut client = push().connect(spec).build().unwrap();
    within(client.send(one(b"still mine"))).await.unwrap();
    assert_eq!(within(server.recv()).await.unwrap(), one(b"still mine"));
}

#[tokio::test]
async fn regular_file_is_never_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("precious");
    std::fs::write(&path, b"data").unwrap();
    let err = pull()
        .bind(SocketSpec::Ipc(path.clone()))
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::IpcNotSocket { .. }), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), b"data");
}

#[test]
fn building_outside_a_runtime_fails() {
    let err = pull()
        .bind(SocketSpec::Inproc("no-runtime".into()))
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::NoRuntime), "{err}");
}

#[tokio::test]
async fn invalid_options_are_rejected() {
    let err = AsyncSocket::builder(SocketKind::Push, Hwm::new(0, 10))
        .build()
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidOption {
                option: "ZMQ_SNDHWM",
                value: 0
            }
        ),
        "{err}"
    );
    let err = AsyncSocket::builder(SocketKind::Push, Hwm::new(10, u32::MAX))
        .build()
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidOption {
                option: "ZMQ_RCVHWM",
                ..
            }
        ),
        "{err}"
    );
    for bad in [&b""[..], b"\x00reserved", &[b'x'; 256]] {
        let err = AsyncSocket::builder(SocketKind::Router, Hwm::both(10))
            .identity(Bytes::copy_from_slice(bad))
            .build()
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidOption {
                    option: "ZMQ_ROUTING_ID",
                    ..
                }
            ),
            "{err}"
        );
    }
    // libzmq itself rejects ROUTER-only options on other socket types.
    let err = push().router_mandatory(true).build().unwrap_err();
    assert!(
        matches!(
            err,
            Error::SetOption {
                option: "ZMQ_ROUTER_MANDATORY",
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn sending_an_empty_message_is_an_error() {
    let mut client = push()
        .bind(SocketSpec::Inproc("empty-message".into()))
        .build()
        .unwrap();
    let err = within(client.send(Multipart::new())).await.unwrap_err();
    assert!(matches!(err, Error::EmptyMessage), "{err}");
}
