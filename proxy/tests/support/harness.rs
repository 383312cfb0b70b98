//! Test harness: runs `pushpin_proxy::run` in-process with ipc sockets in a temp dir and
//! plays the connection manager, zurl and the handler on real ZeroMQ sockets.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "a test-only module; each test binary uses a different part of it"
)]

use std::path::PathBuf;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use pushpin_internal::zrpc::{Request, Response};
use pushpin_internal::{Call, Limits as ILimits};
use pushpin_proxy::{Config, RouteSource};
use pushpin_zhttp::{Ext, Header, Id, Ids, Limits, Packet, PacketType, framing};
use pushpin_zmq::{AsyncSocket, Hwm, Mode, Multipart, SocketKind, SocketSpec};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Our proxy's instance id in tests.
pub const PROXY_ID: &str = "proxy-test";
/// The fake zurl's identity.
pub const ZURL_ID: &str = "zurl-test";
/// Every wait in the tests is bounded by this.
pub const WAIT: Duration = Duration::from_secs(5);

fn spec(dir: &std::path::Path, name: &str) -> SocketSpec {
    SocketSpec::parse(&format!("ipc://{}/{name}", dir.display())).unwrap()
}

fn sock(kind: SocketKind, mode: Mode, spec: SocketSpec) -> AsyncSocket {
    AsyncSocket::builder(kind, Hwm::both(1000))
        .attach(mode, &[spec])
        .build()
        .unwrap()
}

/// The fake connection manager (binds, as condure does).
pub struct Connmgr {
    push: AsyncSocket,
    router: AsyncSocket,
    sub: AsyncSocket,
}

impl Connmgr {
    /// Sends a first packet.
    pub async fn first(&mut self, p: &Packet) {
        self.push.send(Multipart::from(p.to_bytes())).await.unwrap();
    }

    /// Sends a follow-up packet to the proxy.
    pub async fn send(&mut self, p: &Packet) {
        let frames = framing::router_frames(Bytes::from_static(PROXY_ID.as_bytes()), p.to_bytes());
        self.router.send(Multipart::from(frames)).await.unwrap();
    }

    /// The next packet from the proxy (probe traffic skipped).
    pub async fn recv(&mut self) -> Packet {
        loop {
            let msg = tokio::time::timeout(WAIT, self.sub.recv())
                .await
                .expect("timed out waiting for a packet to the connection manager")
                .unwrap();
            let m = framing::parse_pub(&msg[0]).unwrap();
            assert_eq!(m.address, "condure");
            let p = Packet::decode(&m.payload, &Limits::default()).unwrap();
            if p.id().is_some_and(|i| i.0.starts_with(b"probe")) {
                continue;
            }
            return p;
        }
    }

    /// Whether a packet arrives within `d`.
    pub async fn quiet_for(&mut self, d: Duration) -> bool {
        tokio::time::timeout(d, self.sub.recv()).await.is_err()
    }

    /// Reads packets until one without `more`, returning (head, body).
    pub async fn response(&mut self) -> (Packet, Bytes) {
        let mut head: Option<Packet> = None;
        let mut body = BytesMut::new();
        loop {
            let p = self.recv().await;
            if p.ptype != PacketType::Data {
                assert!(
                    matches!(p.ptype, PacketType::KeepAlive | PacketType::Credit),
                    "unexpected {:?}",
                    p.ptype
                );
                continue;
            }
            body.extend_from_slice(p.body_bytes());
            let more = p.more;
            if head.is_none() {
                head = Some(p);
            }
            if !more {
                return (head.unwrap(), body.freeze());
            }
        }
    }
}

/// The fake zurl (binds, as zurl does).
pub struct Zurl {
    pull: AsyncSocket,
    dealer: AsyncSocket,
    publisher: AsyncSocket,
    seq: u32,
}

impl Zurl {
    /// The next first packet.
    pub async fn first(&mut self) -> Packet {
        let msg = tokio::time::timeout(WAIT, self.pull.recv())
            .await
            .expect("timed out waiting for a zurl request")
            .unwrap();
        self.seq = 0;
        Packet::decode(&msg[0], &Limits::default()).unwrap()
    }

    /// The next follow-up packet.
    pub async fn recv(&mut self) -> Packet {
        let msg = tokio::time::timeout(WAIT, self.dealer.recv())
            .await
            .expect("timed out waiting for a zurl follow-up")
            .unwrap();
        let payload = framing::parse_dealer(&msg).unwrap();
        Packet::decode(payload, &Limits::default()).unwrap()
    }

    /// Sends `p` to the proxy with our from, `id` and the next seq.
    pub async fn send(&mut self, id: &Id, mut p: Packet) {
        p.from = Bytes::from_static(ZURL_ID.as_bytes());
        p.ids = Ids::One(id.clone());
        p.seq = Some(self.seq);
        self.seq += 1;
        let frame = framing::pub_frame(PROXY_ID.as_bytes(), &p);
        self.publisher.send(Multipart::from(frame)).await.unwrap();
    }
}

/// A SUB on the proxy's stats socket.
pub fn stats_sub(dir: &std::path::Path) -> AsyncSocket {
    AsyncSocket::builder(SocketKind::Sub, Hwm::both(1000))
        .subscribe(Bytes::new())
        .attach(Mode::Connect, &[spec(dir, "proxy-stats")])
        .build()
        .unwrap()
}

/// The handler's side of ws-control (connects, as pushpin-handler does).
pub struct WsControl {
    pull: AsyncSocket,
    push: AsyncSocket,
}

impl WsControl {
    /// Connects to the proxy's ws-control sockets in `dir`.
    pub fn connect(dir: &std::path::Path) -> Self {
        Self {
            pull: sock(SocketKind::Pull, Mode::Connect, spec(dir, "ws-control-out")),
            push: sock(SocketKind::Push, Mode::Connect, spec(dir, "ws-control-in")),
        }
    }

    /// The next packet from the proxy.
    pub async fn recv(&mut self) -> pushpin_internal::WsControlPacket {
        let msg = tokio::time::timeout(WAIT, self.pull.recv())
            .await
            .expect("timed out waiting for ws-control")
            .unwrap();
        pushpin_internal::WsControlPacket::decode(&msg[0], &ILimits::default()).unwrap()
    }

    /// Sends `items` to the proxy.
    pub async fn send(&mut self, items: Vec<pushpin_internal::WsControlItem>) {
        let mut buf = BytesMut::new();
        pushpin_internal::WsControlPacket { items }.encode(&mut buf);
        self.push.send(Multipart::from(buf.freeze())).await.unwrap();
    }
}

/// The handler's ZHTTP client side of intreq (connects, as pushpin-handler does).
pub struct Intreq {
    push: AsyncSocket,
    sub: AsyncSocket,
}

/// The intreq client's `from`.
pub const INTREQ_FROM: &str = "handler-test";

impl Intreq {
    /// Connects to the proxy's intreq sockets in `dir`.
    pub fn connect(dir: &std::path::Path) -> Self {
        Self {
            push: sock(SocketKind::Push, Mode::Connect, spec(dir, "intreq-in")),
            sub: AsyncSocket::builder(SocketKind::Sub, Hwm::both(1000))
                .subscribe(Bytes::from(format!("{INTREQ_FROM} ")))
                .attach(Mode::Connect, &[spec(dir, "intreq-out")])
                .build()
                .unwrap(),
        }
    }

    /// Sends a first packet.
    pub async fn first(&mut self, p: &Packet) {
        self.push.send(Multipart::from(p.to_bytes())).await.unwrap();
    }

    /// The next packet from the proxy, or `None` after `d`.
    pub async fn recv_within(&mut self, d: Duration) -> Option<Packet> {
        let msg = tokio::time::timeout(d, self.sub.recv())
            .await
            .ok()?
            .unwrap();
        let m = framing::parse_pub(&msg[0]).unwrap();
        Some(Packet::decode(&m.payload, &Limits::default()).unwrap())
    }
}

/// The fake handler (connects, as pushpin-handler does).
pub struct Handler {
    inspect: AsyncSocket,
    accept: AsyncSocket,
    retry: AsyncSocket,
    command: AsyncSocket,
}

/// A call received by the fake handler.
pub struct Received {
    pub envelope: Vec<Bytes>,
    pub request: Request,
}

impl Received {
    pub fn call(&self) -> Call {
        self.request.call(&ILimits::default()).unwrap()
    }
}

async fn recv_call(s: &mut AsyncSocket) -> Received {
    let msg = tokio::time::timeout(WAIT, s.recv())
        .await
        .expect("timed out waiting for a zrpc call")
        .unwrap();
    let (env, body) = pushpin_internal::zrpc::server_request(&msg).unwrap();
    Received {
        envelope: env.to_vec(),
        request: Request::decode(body, &ILimits::default()).unwrap(),
    }
}

async fn reply(s: &mut AsyncSocket, to: &Received, outcome: pushpin_internal::Outcome) {
    let mut buf = BytesMut::new();
    Response {
        id: to.request.id.clone(),
        outcome,
    }
    .encode(&mut buf);
    let frames = pushpin_internal::zrpc::server_reply(&to.envelope, buf.freeze());
    s.send(Multipart::from(frames)).await.unwrap();
}

/// A successful inspect answer: `{"no-proxy": false}` (what a handler without state says).
pub fn inspect_ok() -> pushpin_internal::Outcome {
    pushpin_internal::Outcome::success_with(|b| pushpin_internal::InspectInfo::default().encode(b))
}

impl Handler {
    pub async fn inspect_call(&mut self) -> Received {
        recv_call(&mut self.inspect).await
    }
    pub async fn inspect_reply(&mut self, to: &Received, o: pushpin_internal::Outcome) {
        reply(&mut self.inspect, to, o).await;
    }
    pub async fn accept_call(&mut self) -> Received {
        recv_call(&mut self.accept).await
    }
    pub async fn accept_reply(&mut self, to: &Received, o: pushpin_internal::Outcome) {
        reply(&mut self.accept, to, o).await;
    }
    pub async fn retry(&mut self, frame: Bytes) {
        self.retry.send(Multipart::from(frame)).await.unwrap();
    }
    /// A command call; returns the response.
    pub async fn command(&mut self, call: &Call) -> Response {
        let mut buf = BytesMut::new();
        Request::new(Some(Bytes::from_static(b"c1")), call).encode(&mut buf);
        let frames = pushpin_internal::zrpc::client_frames(buf.freeze());
        self.command
            .send(Multipart::from(frames.to_vec()))
            .await
            .unwrap();
        let msg = tokio::time::timeout(WAIT, self.command.recv())
            .await
            .expect("timed out waiting for a command reply")
            .unwrap();
        let body = pushpin_internal::zrpc::client_reply(&msg).unwrap();
        Response::decode(body, &ILimits::default()).unwrap()
    }
}

/// A running proxy and its fake peers.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub cm: Connmgr,
    pub zurl: Zurl,
    pub handler: Option<Handler>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

/// What to start.
pub struct Setup<'a> {
    pub routes: &'a str,
    pub proxy_extra: &'a str,
    pub with_handler: bool,
}

impl Default for Setup<'_> {
    fn default() -> Self {
        Self {
            routes: "* test\n",
            proxy_extra: "",
            with_handler: true,
        }
    }
}

/// Starts the proxy and its peers, and waits until the proxy answers.
pub async fn start(setup: Setup<'_>) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let conf = format!(
        "[global]\nrundir={d}\nipc_prefix=\ninclude=\n[runner]\nservices=condure,zurl,pushpin-proxy,pushpin-handler\n\
         [proxy]\nroutesfile=routes\nsig_key=changeme\n{extra}\n\
         condure_in_specs=ipc://{d}/condure-out\ncondure_in_stream_specs=ipc://{d}/condure-out-stream\n\
         condure_out_specs=ipc://{d}/condure-in\nzurl_out_specs=ipc://{d}/zurl-in\n\
         zurl_out_stream_specs=ipc://{d}/zurl-in-stream\nzurl_in_specs=ipc://{d}/zurl-out\n\
         handler_inspect_spec=ipc://{d}/inspect\nhandler_accept_spec=ipc://{d}/accept\n\
         handler_retry_in_spec=ipc://{d}/retry\ncommand_spec=ipc://{d}/proxy-command\n\
         stats_spec=ipc://{d}/proxy-stats\n\
         intreq_in_specs=ipc://{d}/intreq-in\nintreq_in_stream_specs=ipc://{d}/intreq-in-stream\n\
         intreq_out_specs=ipc://{d}/intreq-out\n\
         handler_ws_control_in_spec=ipc://{d}/ws-control-in\n\
         handler_ws_control_out_spec=ipc://{d}/ws-control-out\n",
        d = d.display(),
        extra = setup.proxy_extra,
    );
    std::fs::write(d.join("pushpin.conf"), conf).unwrap();
    std::fs::write(d.join("routes"), setup.routes).unwrap();
    let cfg = pushpin_config::load(&d.join("pushpin.conf"), &Default::default()).unwrap();
    let mut config = Config::new(cfg.proxy, RouteSource::File(d.join("routes")));
    config.instance_id = PROXY_ID.to_string();

    let mut cm = Connmgr {
        push: sock(SocketKind::Push, Mode::Bind, spec(d, "condure-out")),
        router: {
            AsyncSocket::builder(SocketKind::Router, Hwm::both(1000))
                .router_mandatory(true)
                .attach(Mode::Bind, &[spec(d, "condure-out-stream")])
                .build()
                .unwrap()
        },
        sub: AsyncSocket::builder(SocketKind::Sub, Hwm::both(1000))
            .subscribe(Bytes::from_static(b"condure "))
            .attach(Mode::Bind, &[spec(d, "condure-in")])
            .build()
            .unwrap(),
    };
    let zurl = Zurl {
        pull: sock(SocketKind::Pull, Mode::Bind, spec(d, "zurl-in")),
        dealer: AsyncSocket::builder(SocketKind::Dealer, Hwm::both(1000))
            .identity(Bytes::from_static(ZURL_ID.as_bytes()))
            .attach(Mode::Bind, &[spec(d, "zurl-in-stream")])
            .build()
            .unwrap(),
        publisher: sock(SocketKind::Pub, Mode::Bind, spec(d, "zurl-out")),
        seq: 0,
    };
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(pushpin_proxy::run(config, async move {
        let _ = stop_rx.await;
    }));
    // wait until the proxy answers (PUB/SUB joins late): probe with unroutable requests
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut n = 0u32;
    'probe: loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "proxy did not come up"
        );
        n += 1;
        let id = format!("probe{n}");
        // a non-stream request is refused before routing: no inspect, no zurl
        let mut p = get_owned(id, "http://probe.invalid/");
        p.stream = false;
        cm.first(&p).await;
        let until = tokio::time::Instant::now() + Duration::from_millis(200);
        while let Ok(Ok(msg)) = tokio::time::timeout_at(until, cm.sub.recv()).await {
            let m = framing::parse_pub(&msg[0]).unwrap();
            let p = Packet::decode(&m.payload, &Limits::default()).unwrap();
            if p.id().is_some_and(|i| i.0.starts_with(b"probe")) {
                break 'probe;
            }
        }
    }
    // the proxy has bound its handler sockets by now (it answers), so these connects
    // succeed at once; a command round trip shows they are up (the proxy fails
    // inspect/accept fast while no handler is connected, as 1.36 does)
    let mut handler = setup.with_handler.then(|| Handler {
        inspect: sock(SocketKind::Router, Mode::Connect, spec(d, "inspect")),
        accept: sock(SocketKind::Router, Mode::Connect, spec(d, "accept")),
        retry: sock(SocketKind::Push, Mode::Connect, spec(d, "retry")),
        command: sock(SocketKind::Dealer, Mode::Connect, spec(d, "proxy-command")),
    });
    if let Some(h) = handler.as_mut() {
        let _ = h.command(&Call::Report(None)).await;
    }
    // drain the rest of the probe traffic
    while let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(100), cm.sub.recv()).await {}
    Env {
        dir,
        cm,
        zurl,
        handler,
        stop: Some(stop_tx),
        task: Some(task),
    }
}

impl Env {
    pub fn handler(&mut self) -> &mut Handler {
        self.handler.as_mut().expect("started without a handler")
    }

    /// Stops the proxy and checks it ended cleanly.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            tokio::time::timeout(WAIT, t)
                .await
                .expect("proxy did not stop")
                .unwrap()
                .unwrap();
        }
    }

    pub fn routes_path(&self) -> PathBuf {
        self.dir.path().join("routes")
    }
}

/// A condure-style first packet for a GET.
pub fn get(id: &'static str, uri: &str) -> Packet {
    get_owned(id.to_string(), uri)
}

/// Like [`get`] with an owned id.
pub fn get_owned(id: String, uri: &str) -> Packet {
    let host = uri
        .split("://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or("")
        .to_string();
    Packet {
        from: Bytes::from_static(b"condure"),
        ids: Ids::One(Id::new(Bytes::from(id))),
        seq: Some(0),
        ext: Ext {
            multi: true,
            quiet: false,
        },
        method: Some(Bytes::from_static(b"GET")),
        uri: Some(Bytes::from(uri.to_string())),
        headers: Some(vec![
            Header::new("Host", host),
            Header::new("User-Agent", "test"),
            Header::new("Connection", "close"),
        ]),
        credits: Some(8192),
        stream: true,
        peer_address: Some(Bytes::from_static(b"127.0.0.1")),
        peer_port: Some(40000),
        ..Packet::default()
    }
}

/// A follow-up packet from the connection manager.
pub fn follow(id: &'static str, seq: u32, ptype: PacketType) -> Packet {
    Packet {
        from: Bytes::from_static(b"condure"),
        ids: Ids::One(Id::from(id)),
        seq: Some(seq),
        ext: Ext {
            multi: true,
            quiet: false,
        },
        ptype,
        ..Packet::default()
    }
}

/// The header value of `name` in `p`.
pub fn header<'a>(p: &'a Packet, name: &str) -> Option<&'a Bytes> {
    p.header_list()
        .iter()
        .find(|h| h.is(name.as_bytes()))
        .map(|h| &h.value)
}
