//! Custom `zhttp/<base>` route targets (1.36 `ZRoutes`): the proxy binds PUSH
//! `<base>-out`, ROUTER `<base>-out-stream` and SUB `<base>-in` when the routes load
//! (chmod to `ipc_file_mode`), and a ZHTTP server peer connecting there gets the requests
//! exactly as zurl would, without connect host or port. Also: WebSockets through such a
//! peer, the sockets closing once a reload drops the target, and `zhttpreq/` targets
//! (one DEALER bound on the spec, whole requests and responses; WebSockets refused).

#[path = "support/harness.rs"]
mod harness;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use harness::{PROXY_ID, Setup, WAIT, follow, get, get_owned, header, start};
use pushpin_zhttp::{Header, Id, Ids, Limits, Packet, PacketType, framing};
use pushpin_zmq::{AsyncSocket, Hwm, Mode, Multipart, SocketKind, SocketSpec};

const PEER_ID: &str = "custom-peer";

/// A ZHTTP server peer connecting to a custom target's sockets.
struct Peer {
    pull: AsyncSocket,
    dealer: AsyncSocket,
    publisher: AsyncSocket,
    seq: u32,
}

fn connect(kind: SocketKind, path: PathBuf) -> pushpin_zmq::SocketBuilder {
    let spec = SocketSpec::parse(&format!("ipc://{}", path.display())).unwrap();
    AsyncSocket::builder(kind, Hwm::both(1000)).attach(Mode::Connect, &[spec])
}

impl Peer {
    fn connect(base: &Path) -> Self {
        let with = |suffix: &str| PathBuf::from(format!("{}{suffix}", base.display()));
        Self {
            pull: connect(SocketKind::Pull, with("-out")).build().unwrap(),
            dealer: connect(SocketKind::Dealer, with("-out-stream"))
                .identity(Bytes::from_static(PEER_ID.as_bytes()))
                .build()
                .unwrap(),
            publisher: connect(SocketKind::Pub, with("-in")).build().unwrap(),
            seq: 0,
        }
    }

    /// The next first packet, or `None` after `d`.
    async fn first_within(&mut self, d: Duration) -> Option<Packet> {
        let msg = tokio::time::timeout(d, self.pull.recv())
            .await
            .ok()?
            .unwrap();
        self.seq = 0;
        Some(Packet::decode(&msg[0], &Limits::default()).unwrap())
    }

    async fn first(&mut self) -> Packet {
        self.first_within(WAIT)
            .await
            .expect("timed out waiting for a request on the custom target")
    }

    /// The next follow-up that is not a credit or keep-alive.
    async fn recv(&mut self) -> Packet {
        loop {
            let msg = tokio::time::timeout(WAIT, self.dealer.recv())
                .await
                .expect("timed out waiting for a follow-up on the custom target")
                .unwrap();
            let payload = framing::parse_dealer(&msg).unwrap();
            let p = Packet::decode(payload, &Limits::default()).unwrap();
            if !matches!(p.ptype, PacketType::Credit | PacketType::KeepAlive) {
                return p;
            }
        }
    }

    async fn send(&mut self, id: &Id, mut p: Packet) {
        p.from = Bytes::from_static(PEER_ID.as_bytes());
        p.ids = Ids::One(id.clone());
        p.seq = Some(self.seq);
        self.seq += 1;
        let frame = framing::pub_frame(PROXY_ID.as_bytes(), &p);
        self.publisher.send(Multipart::from(frame)).await.unwrap();
    }
}

fn response(code: u16, body: &'static [u8]) -> Packet {
    Packet {
        code: Some(code),
        reason: Some(Bytes::from_static(b"OK")),
        headers: Some(vec![Header::new("Content-Type", "text/plain")]),
        body: Some(Bytes::from_static(body)),
        ..Packet::default()
    }
}

/// Round trips until the peer's PUB reaches the proxy (a SUB drops what is published
/// before its subscription arrives), bounded in time and count.
async fn warm_up(env: &mut harness::Env, peer: &mut Peer) {
    for n in 0..50 {
        let id = format!("warm{n}");
        env.cm
            .first(&get_owned(id.clone(), "http://example.com/warm"))
            .await;
        let z = peer.first().await;
        let zid = z.id().unwrap().clone();
        peer.send(&zid, response(200, b"warm\n")).await;
        let until = tokio::time::Instant::now() + Duration::from_millis(300);
        while let Ok(p) = tokio::time::timeout_at(until, env.cm.recv()).await {
            if p.code == Some(200) {
                return;
            }
        }
        // this session never hears back; cancel it so it does not linger
        let mut cancel = follow("x", 1, PacketType::Cancel);
        cancel.ids = Ids::One(Id::new(Bytes::from(id)));
        env.cm.send(&cancel).await;
    }
    panic!("the custom target's responses never reached the proxy");
}

#[tokio::test]
async fn requests_reach_a_custom_zhttp_peer() {
    let peer_dir = tempfile::tempdir().unwrap();
    let base = peer_dir.path().join("custom");
    let routes = format!("* zhttp/ipc://{},ipc_file_mode=700\n", base.display());
    let mut env = start(Setup {
        routes: &routes,
        with_handler: false,
        ..Setup::default()
    })
    .await;
    // bound at route load, with the target's file mode
    for suffix in ["-out", "-out-stream", "-in"] {
        let meta = std::fs::metadata(format!("{}{suffix}", base.display())).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o700, "{suffix}");
    }
    let mut peer = Peer::connect(&base);
    warm_up(&mut env, &mut peer).await;

    let mut req = get("z1", "http://example.com/path?x=1");
    req.method = Some(Bytes::from_static(b"POST"));
    req.body = Some(Bytes::from_static(b"hello"));
    env.cm.first(&req).await;
    let z = peer.first().await;
    assert_eq!(z.from, PROXY_ID);
    assert!(z.ext.multi && z.stream && z.ignore_policies);
    assert_eq!(z.credits, Some(200_000));
    assert_eq!(z.method.as_deref(), Some(&b"POST"[..]));
    assert_eq!(z.uri.as_deref(), Some(&b"http://example.com/path?x=1"[..]));
    assert_eq!(z.body.as_deref(), Some(&b"hello"[..]));
    assert_eq!((z.connect_host.clone(), z.connect_port), (None, None));
    assert!(header(&z, "Grip-Sig").is_some());
    let zid = z.id().unwrap().clone();
    // a streamed response, as from zurl
    let mut head = response(200, b"part one, ");
    head.more = true;
    peer.send(&zid, head).await;
    let tail = Packet {
        body: Some(Bytes::from_static(b"part two\n")),
        ..Packet::default()
    };
    peer.send(&zid, tail).await;
    let (resp, body) = env.cm.response().await;
    assert_eq!(resp.code, Some(200));
    assert_eq!(header(&resp, "Content-Type").unwrap(), "text/plain");
    assert_eq!(body, "part one, part two\n");

    // a WebSocket goes through the same peer
    let mut hs = get("z2", "ws://example.com/chat");
    hs.stream = false;
    if let Some(h) = hs.headers.as_mut() {
        h.push(Header::new("Upgrade", "websocket"));
        h.push(Header::new("Sec-WebSocket-Key", "abc"));
    }
    env.cm.first(&hs).await;
    let z = peer.first().await;
    assert_eq!(z.uri.as_deref(), Some(&b"ws://example.com/chat"[..]));
    assert_eq!(z.connect_host, None);
    let zid = z.id().unwrap().clone();
    let mut accept = response(101, b"");
    accept.reason = Some(Bytes::from_static(b"Switching Protocols"));
    accept.headers = Some(Vec::new());
    accept.credits = Some(1000);
    peer.send(&zid, accept).await;
    let a = env.cm.recv().await;
    assert_eq!(a.code, Some(101));
    let mut m = follow("z2", 1, PacketType::Data);
    m.body = Some(Bytes::from_static(b"ping?"));
    env.cm.send(&m).await;
    assert_eq!(peer.recv().await.body_bytes(), b"ping?");
    let mut cancel = follow("z2", 2, PacketType::Cancel);
    cancel.seq = Some(2);
    env.cm.send(&cancel).await;
    assert_eq!(peer.recv().await.ptype, PacketType::Cancel);

    // a reload without the target closes its sockets once no session uses them (the
    // ipc file stays, refusing connections); put back, the target works again
    std::fs::write(env.routes_path(), "* test\n").unwrap();
    let out = PathBuf::from(format!("{}-out", base.display()));
    let deadline = tokio::time::Instant::now() + WAIT;
    while std::os::unix::net::UnixStream::connect(&out).is_ok() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the custom target's sockets outlived the reload"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(peer);
    std::fs::write(env.routes_path(), &routes).unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while std::os::unix::net::UnixStream::connect(&out).is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the custom target's sockets were not bound again"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut peer = Peer::connect(&base);
    warm_up(&mut env, &mut peer).await;
    env.stop().await;
}

/// 1.36: "websockets don't work with zhttp req mode".
#[tokio::test]
async fn zhttpreq_target_refuses_websockets() {
    let peer_dir = tempfile::tempdir().unwrap();
    let routes = format!(
        "*,debug zhttpreq/ipc://{}\n",
        peer_dir.path().join("req").display()
    );
    let mut env = start(Setup {
        routes: &routes,
        with_handler: false,
        ..Setup::default()
    })
    .await;
    let mut hs = get("r1", "ws://example.com/chat");
    hs.stream = false;
    env.cm.first(&hs).await;
    let e = env.cm.recv().await;
    assert_eq!((e.ptype.clone(), e.code), (PacketType::Error, Some(502)));
    assert_eq!(
        e.body_bytes(),
        b"WebSockets cannot be used with zhttpreq target\n"
    );
    env.stop().await;
}

/// Req mode: one packet each way over the DEALER the proxy binds on the spec.
#[tokio::test]
async fn zhttpreq_target_exchanges_whole_messages() {
    let peer_dir = tempfile::tempdir().unwrap();
    let path = peer_dir.path().join("req");
    let routes = format!("* zhttpreq/ipc://{}\n", path.display());
    let mut env = start(Setup {
        routes: &routes,
        with_handler: false,
        ..Setup::default()
    })
    .await;
    let mut router = connect(SocketKind::Router, path).build().unwrap();
    let mut req = get("q1", "http://example.com/req");
    req.method = Some(Bytes::from_static(b"POST"));
    req.body = Some(Bytes::from_static(b"first "));
    req.more = true;
    env.cm.first(&req).await;
    let mut rest = follow("q1", 1, PacketType::Data);
    rest.body = Some(Bytes::from_static(b"second"));
    env.cm.send(&rest).await;
    let msg = tokio::time::timeout(WAIT, router.recv())
        .await
        .expect("timed out waiting for the req-mode request")
        .unwrap();
    let routed = framing::parse_router(&msg).unwrap();
    let p = Packet::decode(routed.payload, &Limits::default()).unwrap();
    assert_eq!(p.from, PROXY_ID);
    assert_eq!(p.seq, None);
    assert!(!p.stream && !p.more);
    assert_eq!(p.credits, None);
    assert_eq!(p.max_size, Some(1_000_000));
    assert_eq!(p.method.as_deref(), Some(&b"POST"[..]));
    assert_eq!(p.body.as_deref(), Some(&b"first second"[..]));
    assert_eq!((p.connect_host.clone(), p.connect_port), (None, None));
    let mut answer = response(200, b"whole\n");
    answer.ids = p.ids.clone();
    let frames = framing::reply_frames(routed.envelope, answer.to_bytes());
    router.send(Multipart::from(frames)).await.unwrap();
    let (resp, body) = env.cm.response().await;
    assert_eq!(resp.code, Some(200));
    assert_eq!(body, "whole\n");
    env.stop().await;
}
