//! Test harness shared by the integration tests: our connmgr's `Server` on
//! 127.0.0.1 port 0 with ipc endpoints in a temp dir, a scripted ZHTTP responder
//! (PULL + ROUTER + XPUB, standing in for pushpin-proxy/handler) and raw TCP
//! clients. Every wait is bounded.

#![allow(dead_code, reason = "each test crate uses a different subset")]
#![allow(unreachable_pub, reason = "test helpers")]

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use pushpin_connmgr::config::{Config, Listen, ListenAddr, parse_zclient_stream};
use pushpin_zhttp::{Header, Id, Ids, Limits, Packet, PacketType, framing};
use pushpin_zmq::{AsyncSocket, Hwm, SocketKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::timeout;

/// Upper bound for anything that should happen.
pub const WAIT: Duration = Duration::from_secs(10);
/// How long something that must not happen is given to happen anyway.
pub const NEGATIVE_WAIT: Duration = Duration::from_millis(300);

pub const RESPONDER: &str = "test-handler_1";

pub async fn within<F: Future>(f: F) -> F::Output {
    timeout(WAIT, f).await.expect("timed out")
}

/// The scripted responder.
pub struct Responder {
    pub pull: AsyncSocket,
    pub router: AsyncSocket,
    pub xpub: AsyncSocket,
}

impl Responder {
    pub fn connect(base: &str, identity: &str) -> Self {
        Self::attach(base, identity, false)
    }

    /// Binds the responder's sockets (for a connmgr with `zclient_connect`).
    pub fn bind(base: &str, identity: &str) -> Self {
        Self::attach(base, identity, true)
    }

    fn attach(base: &str, identity: &str, bind: bool) -> Self {
        let z = parse_zclient_stream(base).unwrap();
        let build = |kind, spec| {
            let b = AsyncSocket::builder(kind, Hwm::both(1000));
            if bind { b.bind(spec) } else { b.connect(spec) }
        };
        let router = build(SocketKind::Router, z.out_stream)
            .identity(Bytes::copy_from_slice(identity.as_bytes()))
            .build()
            .unwrap();
        let pull = build(SocketKind::Pull, z.out).build().unwrap();
        let xpub = build(SocketKind::XPub, z.inbound).build().unwrap();
        Self { pull, router, xpub }
    }

    /// Waits for our connmgr's subscription to arrive on the XPUB.
    pub async fn wait_subscribed(&mut self) {
        let msg = within(self.xpub.recv()).await.unwrap();
        assert_eq!(msg.first().unwrap().as_ref(), b"\x01condure ");
    }

    pub async fn first(&mut self) -> Packet {
        let msg = within(self.pull.recv()).await.unwrap();
        Packet::decode(framing::single(&msg).unwrap(), &Limits::default()).unwrap()
    }

    pub async fn stream(&mut self) -> Packet {
        let msg = within(self.router.recv()).await.unwrap();
        let routed = framing::parse_router(&msg).unwrap();
        Packet::decode(routed.payload, &Limits::default()).unwrap()
    }

    pub async fn maybe_stream(&mut self, wait: Duration) -> Option<Packet> {
        let msg = timeout(wait, self.router.recv()).await.ok()?.unwrap();
        let routed = framing::parse_router(&msg).unwrap();
        Some(Packet::decode(routed.payload, &Limits::default()).unwrap())
    }

    pub async fn send(&mut self, p: &Packet) {
        let frame = framing::pub_frame(b"condure", p);
        within(self.xpub.send(frame)).await.unwrap();
    }
}

/// A responder packet for session `id`.
pub fn reply(from: &str, id: &Bytes, seq: u32, ptype: PacketType) -> Packet {
    Packet {
        from: Bytes::copy_from_slice(from.as_bytes()),
        ids: Ids::One(Id(id.clone())),
        seq: Some(seq),
        ptype,
        ..Packet::default()
    }
}

pub fn response(
    id: &Bytes,
    seq: u32,
    code: u16,
    headers: &[(&str, &str)],
    body: &str,
    more: bool,
) -> Packet {
    Packet {
        code: Some(code),
        reason: Some(Bytes::from_static(b"OK")),
        headers: Some(
            headers
                .iter()
                .map(|(n, v)| {
                    Header::new(
                        Bytes::copy_from_slice(n.as_bytes()),
                        Bytes::copy_from_slice(v.as_bytes()),
                    )
                })
                .collect(),
        ),
        body: Some(Bytes::copy_from_slice(body.as_bytes())),
        more,
        ..reply(RESPONDER, id, seq, PacketType::Data)
    }
}

pub fn body_packet(id: &Bytes, seq: u32, body: &str, more: bool) -> Packet {
    Packet {
        body: Some(Bytes::copy_from_slice(body.as_bytes())),
        more,
        ..reply(RESPONDER, id, seq, PacketType::Data)
    }
}

pub struct Harness {
    pub addr: SocketAddr,
    pub addrs: Vec<SocketAddr>,
    pub base: String,
    pub stop: Option<oneshot::Sender<()>>,
    pub task: Option<JoinHandle<anyhow::Result<()>>>,
    pub resp: Responder,
    pub _dir: tempfile::TempDir,
}

impl Harness {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Self {
        Self::start_inner(tweak, false).await
    }

    /// Like [`Harness::start_with`], with the connmgr connecting to a bound responder.
    pub async fn start_connecting() -> Self {
        Self::start_inner(|c| c.zclient_connect = true, true).await
    }

    async fn start_inner(tweak: impl FnOnce(&mut Config), bind_responder: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let base = format!("ipc://{}", dir.path().join("condure").display());
        let mut config = Config::new(
            vec![Listen::plain(ListenAddr::Tcp(
                "127.0.0.1:0".parse().unwrap(),
            ))],
            vec![parse_zclient_stream(&base).unwrap()],
        );
        config.shutdown_grace = Duration::from_secs(2);
        tweak(&mut config);
        let early = bind_responder.then(|| Responder::bind(&base, RESPONDER));
        let server = pushpin_connmgr::Server::bind(config).await.unwrap();
        let addrs = server.tcp_addrs();
        let addr = addrs[0];
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        let mut resp = early.unwrap_or_else(|| Responder::connect(&base, RESPONDER));
        resp.wait_subscribed().await;
        let mut h = Self {
            addr,
            addrs,
            base,
            stop: Some(stop),
            task: Some(task),
            resp,
            _dir: dir,
        };
        h.warm_up().await;
        h
    }

    /// Makes sure the ROUTER path to the responder is connected: a streamed
    /// response whose credit packet must come back, retried until it does.
    pub async fn warm_up(&mut self) {
        for _ in 0..50 {
            let mut c = self.client().await;
            c.write_all(b"GET /warmup HTTP/1.1\r\nHost: w\r\n\r\n")
                .await
                .unwrap();
            let p = self.resp.first().await;
            let id = p.id().unwrap().0.clone();
            self.resp.send(&response(&id, 0, 200, &[], "x", true)).await;
            if let Some(credit) = self.resp.maybe_stream(Duration::from_millis(200)).await {
                assert_eq!(credit.ptype, PacketType::Credit);
                self.resp.send(&body_packet(&id, 1, "", false)).await;
                read_until(&mut c, b"0\r\n\r\n").await;
                return;
            }
        }
        panic!("router path never connected");
    }

    pub async fn client(&self) -> TcpStream {
        within(TcpStream::connect(self.addr)).await.unwrap()
    }

    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        within(self.task.take().unwrap()).await.unwrap().unwrap();
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

/// Reads until `needle` has been seen; returns everything read.
pub async fn read_until(c: &mut TcpStream, needle: &[u8]) -> Vec<u8> {
    let mut buf = Vec::new();
    within(async {
        loop {
            if buf.windows(needle.len()).any(|w| w == needle) {
                return;
            }
            let mut chunk = [0u8; 4096];
            let n = c.read(&mut chunk).await.unwrap();
            assert!(
                n > 0,
                "eof before {:?} in {:?}",
                String::from_utf8_lossy(needle),
                String::from_utf8_lossy(&buf)
            );
            buf.extend_from_slice(&chunk[..n]);
        }
    })
    .await;
    buf
}

/// Reads to EOF (bounded); returns everything read.
pub async fn read_to_eof(c: &mut TcpStream) -> Vec<u8> {
    let mut buf = Vec::new();
    within(c.read_to_end(&mut buf)).await.unwrap();
    buf
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
