//! Test harness: runs the handler in-process against fake proxy and
//! connection-manager peers over real ZeroMQ ipc sockets in a temp dir.

#![allow(
    dead_code,
    reason = "each test file uses a different part of the harness"
)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use pushpin_internal::zrpc::{self, Outcome, Request, Response};
use pushpin_internal::{
    AcceptArgs, AcceptResult, Call, RequestData, RequestState, ResponseData, Rid,
};
use pushpin_tnetstring::Limits;
use pushpin_zhttp::{Id, Ids, Packet, PacketType, framing};
use pushpin_zmq::{AsyncSocket, Hwm, Multipart, SocketKind, SocketSpec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Bound on every wait in the tests.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// The fake peers and the running handler.
pub(crate) struct Harness {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) condure_router: AsyncSocket,
    pub(crate) condure_sub: AsyncSocket,
    pub(crate) accept: AsyncSocket,
    pub(crate) inspect: AsyncSocket,
    pub(crate) retry: AsyncSocket,
    pub(crate) ws_to_handler: AsyncSocket,
    pub(crate) ws_from_handler: AsyncSocket,
    pub(crate) intreq_in: AsyncSocket,
    pub(crate) intreq_out: AsyncSocket,
    pub(crate) http: SocketAddr,
    pub(crate) instance: String,
    pub(crate) stats: tokio::sync::watch::Receiver<pushpin_handler::Stats>,
    pub(crate) command: Option<AsyncSocket>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    next_id: u32,
}

fn ipc(dir: &std::path::Path, name: &str) -> String {
    format!("ipc://{}/{name}", dir.display())
}

fn sock(kind: SocketKind, bind: &str) -> AsyncSocket {
    let b = AsyncSocket::builder(kind, Hwm::both(100_000));
    let b = if kind == SocketKind::Sub {
        b.subscribe(Bytes::from_static(b"condure "))
    } else {
        b
    };
    b.bind(SocketSpec::parse(bind).unwrap()).build().unwrap()
}

impl Harness {
    /// Starts the peers, then the handler with `extra` lines in `[handler]`.
    pub(crate) async fn start(extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let condure_router = sock(SocketKind::Router, &ipc(d, "condure-out-stream"));
        let condure_sub = sock(SocketKind::Sub, &ipc(d, "condure-in"));
        let accept = sock(SocketKind::Dealer, &ipc(d, "accept"));
        // receive HWM 100 like the proxy's DEALER, so replies can back up
        let inspect = AsyncSocket::builder(SocketKind::Dealer, Hwm::new(100_000, 100))
            .bind(SocketSpec::parse(&ipc(d, "inspect")).unwrap())
            .build()
            .unwrap();
        let retry = sock(SocketKind::Pull, &ipc(d, "retry"));
        let ws_to_handler = sock(SocketKind::Push, &ipc(d, "ws-control-out"));
        let ws_from_handler = sock(SocketKind::Pull, &ipc(d, "ws-control-in"));
        let intreq_in = sock(SocketKind::Pull, &ipc(d, "intreq-in"));
        let intreq_out = sock(SocketKind::Pub, &ipc(d, "intreq-out"));
        let conf = format!(
            "[proxy]\ncondure_in_stream_specs={}\ncondure_out_specs={}\n\
             [handler]\nproxy_inspect_spec={}\nproxy_accept_spec={}\nproxy_retry_out_spec={}\n\
             proxy_ws_control_in_spec={}\nproxy_ws_control_out_spec={}\n\
             proxy_intreq_out_specs={}\nproxy_intreq_in_specs={}\n\
             push_in_spec={}\npush_in_sub_specs={}\ncommand_spec={}\n\
             push_in_http_addr=127.0.0.1\npush_in_http_port=0\n{}\n",
            ipc(d, "condure-out-stream"),
            ipc(d, "condure-in"),
            ipc(d, "inspect"),
            ipc(d, "accept"),
            ipc(d, "retry"),
            ipc(d, "ws-control-out"),
            ipc(d, "ws-control-in"),
            ipc(d, "intreq-in"),
            ipc(d, "intreq-out"),
            ipc(d, "push-in"),
            ipc(d, "push-sub"),
            ipc(d, "command"),
            extra.replace("{dir}", &d.display().to_string()),
        );
        let path = d.join("pushpin.conf");
        std::fs::write(&path, conf).unwrap();
        let config = pushpin_config::load(&path, &Default::default()).unwrap();
        let instance = format!("pushpin-handler_test{}", rand_suffix());
        let handler = pushpin_handler::Handler::bind(pushpin_handler::Config {
            handler: config.handler,
            instance_id: instance.clone(),
        })
        .await
        .unwrap();
        let http = handler.http_addr().unwrap();
        let stats = handler.stats();
        let (stop, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(handler.run(async move {
            let _ = rx.await;
        }));
        let mut h = Self {
            dir,
            condure_router,
            condure_sub,
            accept,
            inspect,
            retry,
            ws_to_handler,
            ws_from_handler,
            intreq_in,
            intreq_out,
            http,
            instance,
            stats,
            command: None,
            stop: Some(stop),
            task: Some(task),
            next_id: 0,
        };
        h.wait_ready().await;
        h
    }

    /// Waits until the handler's sockets are connected: an inspect round
    /// trip, then probe holds until one's packets reach the fake connection
    /// manager (the PUB subscription is live then); the probes are canceled.
    async fn wait_ready(&mut self) {
        let args = pushpin_internal::InspectArgs {
            request: request_data("GET", "http://example.com/x"),
            ..Default::default()
        };
        let reply = rpc(&mut self.inspect, &Call::Inspect(args)).await;
        assert!(matches!(reply.outcome, Outcome::Success(_)), "{reply:?}");
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut probes = Vec::new();
        loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "handler never connected"
            );
            let rid = format!("probe-{}", probes.len());
            self.accept_with(
                &rid,
                0,
                &[("Grip-Hold", "stream"), ("Grip-Channel", "__probe")],
                "",
            )
            .await
            .unwrap();
            probes.push(rid.clone());
            if let Ok(Ok(msg)) =
                tokio::time::timeout(Duration::from_millis(200), self.condure_sub.recv()).await
            {
                let pm = framing::parse_pub(&msg[0]).unwrap();
                let p = Packet::decode(&pm.payload, &Default::default()).unwrap();
                if p.ptype == PacketType::KeepAlive {
                    // the head of the same probe follows its keep-alive
                    let _head = self.next_packet().await;
                }
                break;
            }
        }
        for rid in probes {
            self.send_packet(&rid, 2, PacketType::Cancel, None).await;
        }
    }

    /// Sends an accept for one client session; returns the decoded result.
    pub(crate) async fn accept_with(
        &mut self,
        rid: &str,
        credits: u32,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Result<AcceptResult, Response> {
        self.accept_edited(rid, credits, headers, body, |_| {})
            .await
    }

    /// [`Self::accept_with`] with the accept args changed by `edit` before sending.
    pub(crate) async fn accept_edited(
        &mut self,
        rid: &str,
        credits: u32,
        headers: &[(&str, &str)],
        body: &str,
        edit: impl FnOnce(&mut AcceptArgs),
    ) -> Result<AcceptResult, Response> {
        let mut args = AcceptArgs {
            requests: vec![RequestState {
                rid: Rid {
                    sender: Bytes::from_static(b"condure"),
                    id: Bytes::copy_from_slice(rid.as_bytes()),
                },
                in_seq: 2,
                out_seq: 2,
                out_credits: credits,
                peer_address: Some(Bytes::from_static(b"127.0.0.1")),
                ..Default::default()
            }],
            request_data: request_data("GET", "http://example.com/stream"),
            orig_request_data: request_data("GET", "http://example.com/stream"),
            response: Some(ResponseData {
                code: 200,
                reason: Bytes::from_static(b"OK"),
                headers: headers
                    .iter()
                    .map(|(n, v)| {
                        (
                            Bytes::copy_from_slice(n.as_bytes()),
                            Bytes::copy_from_slice(v.as_bytes()),
                        )
                    })
                    .collect(),
                body: Bytes::copy_from_slice(body.as_bytes()),
            }),
            route: Some(Bytes::from_static(b"test")),
            ..Default::default()
        };
        edit(&mut args);
        let reply = rpc(&mut self.accept, &Call::Accept(Box::new(args))).await;
        match &reply.outcome {
            Outcome::Success(v) => Ok(AcceptResult::decode(v, &Limits::default()).unwrap()),
            Outcome::Failure { .. } => Err(reply),
        }
    }

    /// The next packet the handler sent to the fake connection manager.
    pub(crate) async fn next_packet(&mut self) -> Packet {
        let msg = tokio::time::timeout(WAIT, self.condure_sub.recv())
            .await
            .expect("no packet from the handler")
            .unwrap();
        let pm = framing::parse_pub(&msg[0]).unwrap();
        assert_eq!(pm.address.as_ref(), b"condure");
        let p = Packet::decode(&pm.payload, &Default::default()).unwrap();
        assert_eq!(p.from.as_ref(), self.instance.as_bytes());
        p
    }

    /// Asserts nothing arrives for a short while.
    pub(crate) async fn no_packet(&mut self, wait: Duration) {
        if let Ok(msg) = tokio::time::timeout(wait, self.condure_sub.recv()).await {
            panic!("unexpected packet {msg:?}");
        }
    }

    /// Sends a packet from the fake connection manager to the handler.
    pub(crate) async fn send_packet(
        &mut self,
        rid: &str,
        seq: u32,
        ptype: PacketType,
        credits: Option<u32>,
    ) {
        let mut p = Packet::new(ptype);
        p.from = Bytes::from_static(b"condure");
        p.ids = Ids::One(Id::new(Bytes::copy_from_slice(rid.as_bytes())));
        p.seq = Some(seq);
        p.credits = credits;
        let frames = framing::router_frames(Bytes::from(self.instance.clone()), p.to_bytes());
        self.condure_router
            .send(Multipart::from(frames))
            .await
            .unwrap();
    }

    /// POSTs `body` to `path` on the publish port; returns status and body.
    pub(crate) async fn http(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        http_request(self.http, method, path, &[], body).await
    }

    /// `conncheck` over the command socket.
    pub(crate) async fn conncheck(&mut self, ids: &[&str]) -> Vec<String> {
        if self.command.is_none() {
            let spec = SocketSpec::parse(&ipc(self.dir.path(), "command")).unwrap();
            self.command = Some(
                AsyncSocket::builder(SocketKind::Dealer, Hwm::both(100))
                    .connect(spec)
                    .build()
                    .unwrap(),
            );
        }
        let sock = self.command.as_mut().unwrap();
        let ids = ids
            .iter()
            .map(|i| Bytes::copy_from_slice(i.as_bytes()))
            .collect();
        let reply = rpc(sock, &Call::Conncheck(ids)).await;
        let Outcome::Success(v) = reply.outcome else {
            panic!("conncheck failed: {reply:?}")
        };
        pushpin_internal::decode_id_list(&v, &Limits::default())
            .unwrap()
            .into_iter()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .collect()
    }

    /// A fresh client session id.
    pub(crate) fn rid(&mut self) -> String {
        self.next_id += 1;
        format!("0-0-{}", self.next_id)
    }

    /// Stops the handler.
    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(WAIT, task)
                .await
                .unwrap()
                .unwrap()
                .unwrap();
        }
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u8(0);
    h.finish()
}

/// A request-data with no headers or body.
pub(crate) fn request_data(method: &str, uri: &str) -> RequestData {
    RequestData {
        method: Bytes::copy_from_slice(method.as_bytes()),
        uri: Bytes::copy_from_slice(uri.as_bytes()),
        headers: vec![(
            Bytes::from_static(b"Host"),
            Bytes::from_static(b"example.com"),
        )],
        body: Bytes::new(),
    }
}

/// One ZRPC call over a DEALER.
pub(crate) async fn rpc(sock: &mut AsyncSocket, call: &Call) -> Response {
    let req = Request::new(Some(Bytes::from_static(b"req-1")), call);
    let mut buf = BytesMut::new();
    req.encode(&mut buf);
    sock.send(Multipart::from(zrpc::client_frames(buf.freeze()).to_vec()))
        .await
        .unwrap();
    let msg = tokio::time::timeout(WAIT, sock.recv())
        .await
        .expect("no rpc reply")
        .unwrap();
    let body = zrpc::client_reply(&msg).expect("bad reply frames");
    Response::decode(body, &Limits::default()).unwrap()
}

/// A minimal HTTP/1.1 client: one request, read to EOF.
pub(crate) async fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let (status, _, body) = http_raw(addr, method, path, headers, body).await;
    (status, body)
}

/// Like [`http_request`], also returning the response head.
pub(crate) async fn http_raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(WAIT, s.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head.to_owned(), body.to_owned())
}

/// A JSON publish body with one item.
pub(crate) fn item_json(channel: &str, formats: &str) -> String {
    format!("{{\"items\":[{{\"channel\":\"{channel}\",\"formats\":{formats}}}]}}")
}

/// The body of a data packet as text.
pub(crate) fn body(p: &Packet) -> String {
    String::from_utf8_lossy(p.body_bytes()).into_owned()
}

/// A header value of a packet.
pub(crate) fn header<'a>(p: &'a Packet, name: &str) -> Option<&'a [u8]> {
    p.header_list()
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name.as_bytes()))
        .map(|h| h.value.as_ref())
}
