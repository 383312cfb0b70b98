//! Test support: an in-process zurl-rs on ipc sockets in a temp dir, a ZHTTP client on
//! real zmq sockets, and a tiny HTTP/1.1 origin with scripted paths.

#![allow(dead_code, reason = "each test file uses a subset")]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use pushpin_zhttp::{Header, Id, Ids, Limits, Packet, PacketType, framing};
use pushpin_zmq::{AsyncSocket, Hwm, Multipart, SocketKind, SocketSpec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

pub(crate) const CLIENT: &str = "test-client";
pub(crate) const ZURL_ID: &str = "zurl-test";
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// A running zurl-rs.
pub(crate) struct Zurl {
    pub(crate) dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Zurl {
    pub(crate) fn spec(&self, name: &str) -> SocketSpec {
        SocketSpec::parse(&format!("ipc://{}", self.dir.path().join(name).display())).unwrap()
    }

    pub(crate) async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            tokio::time::timeout(WAIT, t)
                .await
                .expect("zurl stops")
                .unwrap()
                .unwrap();
        }
    }
}

/// zurl.conf text for sockets in `dir`, plus `extra` lines.
pub(crate) fn conf_text(dir: &Path, extra: &str) -> String {
    let d = dir.display();
    format!(
        "[General]\ninstance_id={ZURL_ID}\nin_spec=ipc://{d}/in\nin_stream_spec=ipc://{d}/in-stream\n\
         out_spec=ipc://{d}/out\nin_req_spec=ipc://{d}/req\n{extra}\n"
    )
}

pub(crate) async fn start_zurl(extra: &str) -> Zurl {
    start_zurl_with(extra, zurl_rs::Options::default()).await
}

/// [`start_zurl`] with settings zurl.conf has no key for.
pub(crate) async fn start_zurl_with(extra: &str, options: zurl_rs::Options) -> Zurl {
    let dir = tempfile::tempdir().unwrap();
    let text = conf_text(dir.path(), extra);
    let config = pushpin_config::zurl::parse(&text, &dir.path().join("zurl.conf")).unwrap();
    let (tx, rx) = oneshot::channel();
    let task = tokio::spawn(zurl_rs::run_with(config, options, async {
        let _ = rx.await;
    }));
    Zurl {
        dir,
        stop: Some(tx),
        task: Some(task),
    }
}

/// A ZHTTP initiator: PUSH, ROUTER, SUB.
pub(crate) struct Client {
    pub(crate) push: AsyncSocket,
    pub(crate) router: AsyncSocket,
    pub(crate) sub: AsyncSocket,
    pub(crate) from: Bytes,
    /// Packets received but not yet consumed by `recv_for`.
    pending: VecDeque<Packet>,
}

impl Client {
    pub(crate) async fn connect(z: &Zurl) -> Self {
        Self::connect_specs(z.spec("in"), z.spec("in-stream"), z.spec("out"), ZURL_ID).await
    }

    pub(crate) async fn connect_specs(
        inp: SocketSpec,
        stream: SocketSpec,
        out: SocketSpec,
        zurl_id: &str,
    ) -> Self {
        let from = Bytes::from(format!("{CLIENT}-{}", uuid::Uuid::new_v4()));
        let push = AsyncSocket::builder(SocketKind::Push, Hwm::both(1000))
            .connect(inp)
            .build()
            .unwrap();
        let router = AsyncSocket::builder(SocketKind::Router, Hwm::both(1000))
            .router_mandatory(true)
            .connect(stream)
            .build()
            .unwrap();
        let mut topic = from.to_vec();
        topic.push(b' ');
        let sub = AsyncSocket::builder(SocketKind::Sub, Hwm::both(1000))
            .subscribe(topic)
            .connect(out)
            .build()
            .unwrap();
        let mut c = Self {
            push,
            router,
            sub,
            from,
            pending: VecDeque::new(),
        };
        c.await_ready(zurl_id).await;
        c
    }

    /// Probes until the ROUTER reaches zurl's DEALER and the SUB gets zurl's answers.
    async fn await_ready(&mut self, zurl_id: &str) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "zurl never answered the probe"
            );
            let probe = Packet {
                from: self.from.clone(),
                ids: Ids::One(Id::from("probe")),
                seq: Some(0),
                ptype: PacketType::KeepAlive,
                ..Packet::default()
            };
            let frames = framing::router_frames(Bytes::from(zurl_id.to_owned()), probe.to_bytes());
            if self.router.try_send(Multipart::from(frames)).is_ok() {
                if let Ok(Ok(msg)) =
                    tokio::time::timeout(Duration::from_millis(200), self.sub.recv()).await
                {
                    let p = decode_pub(&msg);
                    if p.id().is_some_and(|i| i.as_bytes() == b"probe") {
                        // Drain any further probe answers.
                        while let Ok(Ok(_)) =
                            tokio::time::timeout(Duration::from_millis(100), self.sub.recv()).await
                        {
                        }
                        return;
                    }
                }
            } else {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }

    pub(crate) fn request(&self, id: &'static str, method: &str, uri: &str) -> Packet {
        Packet {
            from: self.from.clone(),
            ids: Ids::One(Id::from(id)),
            seq: Some(0),
            method: Some(Bytes::from(method.to_owned())),
            uri: Some(Bytes::from(uri.to_owned())),
            stream: true,
            credits: Some(200_000),
            ..Packet::default()
        }
    }

    pub(crate) async fn send_first(&mut self, p: &Packet) {
        self.push.send(Multipart::from(p.to_bytes())).await.unwrap();
    }

    /// Sends a follow-up to zurl over the ROUTER.
    pub(crate) async fn send_next(&mut self, p: Packet) {
        let frames = framing::router_frames(Bytes::from_static(ZURL_ID.as_bytes()), p.to_bytes());
        self.router.send(Multipart::from(frames)).await.unwrap();
    }

    pub(crate) fn follow(&self, id: &'static str, seq: u32, ptype: PacketType) -> Packet {
        Packet {
            from: self.from.clone(),
            ids: Ids::One(Id::from(id)),
            seq: Some(seq),
            ptype,
            ..Packet::default()
        }
    }

    /// The next packet for session `id` (others are kept for later calls).
    pub(crate) async fn recv_for(&mut self, id: &str) -> Packet {
        if let Some(i) = self
            .pending
            .iter()
            .position(|p| p.id().is_some_and(|x| x.as_bytes() == id.as_bytes()))
        {
            return self.pending.remove(i).unwrap();
        }
        loop {
            let msg = tokio::time::timeout(WAIT, self.sub.recv())
                .await
                .unwrap_or_else(|_| panic!("no packet for {id}"))
                .unwrap();
            let p = decode_pub(&msg);
            if p.id().is_some_and(|x| x.as_bytes() == id.as_bytes()) {
                return p;
            }
            self.pending.push_back(p);
        }
    }

    /// Whether nothing arrives for `id` within `d`.
    pub(crate) async fn silent_for(&mut self, id: &str, d: Duration) -> bool {
        if self
            .pending
            .iter()
            .any(|p| p.id().is_some_and(|x| x.as_bytes() == id.as_bytes()))
        {
            return false;
        }
        let deadline = tokio::time::Instant::now() + d;
        loop {
            match tokio::time::timeout_at(deadline, self.sub.recv()).await {
                Err(_) => return true,
                Ok(msg) => {
                    let p = decode_pub(&msg.unwrap());
                    if p.id().is_some_and(|x| x.as_bytes() == id.as_bytes()) {
                        self.pending.push_back(p);
                        return false;
                    }
                    self.pending.push_back(p);
                }
            }
        }
    }

    /// Reads a streamed response to the end, returning credits as body arrives.
    /// Returns (first data packet, whole body, data packets seen).
    pub(crate) async fn read_stream(
        &mut self,
        id: &'static str,
        mut next_seq: u32,
        give_credits: bool,
    ) -> (Packet, Vec<u8>, usize) {
        let mut first: Option<Packet> = None;
        let mut body = Vec::new();
        let mut n = 0;
        loop {
            let p = self.recv_for(id).await;
            match &p.ptype {
                PacketType::KeepAlive | PacketType::Credit => continue,
                PacketType::Data => {}
                other => panic!("unexpected {other} {p:?}"),
            }
            n += 1;
            let len = p.body_bytes().len();
            body.extend_from_slice(p.body_bytes());
            let more = p.more;
            if first.is_none() {
                first = Some(p);
            }
            if !more {
                return (first.unwrap(), body, n);
            }
            if give_credits && len > 0 {
                let mut c = self.follow(id, next_seq, PacketType::Credit);
                c.credits = Some(len as u32);
                next_seq += 1;
                self.send_next(c).await;
            }
        }
    }
}

pub(crate) fn decode_pub(msg: &Multipart) -> Packet {
    let frame = framing::single(msg).unwrap();
    let pubm = framing::parse_pub(frame).unwrap();
    Packet::decode(&pubm.payload, &Limits::default()).unwrap()
}

/// A req-mode client (DEALER).
pub(crate) async fn req_client(z: &Zurl) -> AsyncSocket {
    AsyncSocket::builder(SocketKind::Dealer, Hwm::both(100))
        .connect(z.spec("req"))
        .build()
        .unwrap()
}

pub(crate) async fn req_roundtrip(sock: &mut AsyncSocket, payload: Bytes) -> Bytes {
    sock.send(Multipart::from(framing::dealer_frames(payload)))
        .await
        .unwrap();
    let msg = tokio::time::timeout(WAIT, sock.recv())
        .await
        .expect("req reply")
        .unwrap();
    framing::parse_dealer(&msg).unwrap().clone()
}

pub(crate) fn header<'a>(p: &'a Packet, name: &str) -> Option<&'a [u8]> {
    p.header_list()
        .iter()
        .find(|h| h.is(name.as_bytes()))
        .map(|h| &h.value[..])
}

pub(crate) fn headers(list: &[(&str, &str)]) -> Vec<Header> {
    list.iter()
        .map(|(n, v)| Header::new(Bytes::from(n.to_string()), Bytes::from(v.to_string())))
        .collect()
}

/// `hello from origin\n`, gzip-compressed (mtime 0).
pub(crate) const GZIP_HELLO: &[u8] = &[
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xcb, 0x48, 0xcd, 0xc9, 0xc9, 0x57,
    0x48, 0x2b, 0xca, 0xcf, 0x55, 0xc8, 0x2f, 0xca, 0x4c, 0xcf, 0xcc, 0xe3, 0x02, 0x00, 0xab, 0xbc,
    0xa8, 0xa0, 0x12, 0x00, 0x00, 0x00,
];

/// A scripted HTTP/1.1 origin. Paths:
/// `/hello` (18-byte text), `/big?n=N` (N x's), `/chunked` (3 chunks), `/echo` (body back),
/// `/headers` (request head back), `/slow` (never answers), `/redirect` (302 → /hello),
/// `/loop` (302 → /loop), `/close` (HTTP/1.0, close-delimited), `/status/N`,
/// `/gzip` ([`GZIP_HELLO`] with `Content-Encoding: gzip` and its `Content-Length`),
/// `/gzip-chunked` (the same, chunked), `/bad-gzip` (a body that is not gzip),
/// `/unknown-coding` (`Content-Encoding: foo`).
pub(crate) struct Origin {
    pub(crate) addr: SocketAddr,
    pub(crate) connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Origin {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

pub(crate) async fn start_origin() -> Origin {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&connections);
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            count.fetch_add(1, Ordering::SeqCst);
            conns.spawn(serve_conn(sock));
        }
    });
    Origin {
        addr,
        connections,
        task,
    }
}

async fn serve_conn(mut sock: TcpStream) {
    let mut buf = BytesMut::new();
    loop {
        // Read a head.
        let (head_len, method, path, req_headers) = loop {
            let mut hs = [httparse::EMPTY_HEADER; 64];
            let mut req = httparse::Request::new(&mut hs);
            if let Ok(httparse::Status::Complete(n)) = req.parse(&buf) {
                let hdrs: Vec<(String, String)> = req
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_string(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect();
                break (
                    n,
                    req.method.unwrap().to_string(),
                    req.path.unwrap().to_string(),
                    hdrs,
                );
            }
            if sock.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                return;
            }
        };
        let head_text = String::from_utf8_lossy(&buf[..head_len]).replace("\r\n", "\n");
        let _ = buf.split_to(head_len);
        let find = |n: &str| {
            req_headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.clone())
        };
        // Read the body.
        let mut body = Vec::new();
        if let Some(len) = find("content-length") {
            let len: usize = len.trim().parse().unwrap();
            while buf.len() < len {
                if sock.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                    return;
                }
            }
            body = buf.split_to(len).to_vec();
        } else if find("transfer-encoding").is_some() {
            loop {
                let Some(pos) = buf.windows(2).position(|w| w == b"\r\n") else {
                    if sock.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                        return;
                    }
                    continue;
                };
                let size =
                    usize::from_str_radix(std::str::from_utf8(&buf[..pos]).unwrap(), 16).unwrap();
                while buf.len() < pos + 2 + size + 2 {
                    if sock.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                        return;
                    }
                }
                body.extend_from_slice(&buf[pos + 2..pos + 2 + size]);
                let _ = buf.split_to(pos + 2 + size + 2);
                if size == 0 {
                    break;
                }
            }
        }
        let ok = |ctype: &str, b: &[u8]| {
            let mut r = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nX-Origin: yes\r\n\r\n",
                b.len()
            )
            .into_bytes();
            r.extend_from_slice(b);
            r
        };
        let p = path.split('?').next().unwrap_or("").to_string();
        let resp: Vec<u8> = match p.as_str() {
            "/hello" => ok("text/plain", b"hello from origin\n"),
            "/big" => {
                let n: usize = path
                    .split("n=")
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(2500);
                ok("text/plain", &vec![b'x'; n])
            }
            "/echo" => ok("text/plain", &[b"echo:".as_slice(), &body].concat()),
            "/headers" => ok("text/plain", head_text.as_bytes()),
            "/chunked" => {
                let _ = sock
                    .write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Origin: yes\r\n\r\n5\r\nhello\r\n")
                    .await;
                tokio::time::sleep(Duration::from_millis(50)).await;
                let _ = sock.write_all(b"1\r\n \r\n").await;
                tokio::time::sleep(Duration::from_millis(50)).await;
                let _ = sock.write_all(b"5\r\nworld\r\n0\r\n\r\n").await;
                continue;
            }
            "/slow" => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return;
            }
            "/redirect" => {
                b"HTTP/1.1 302 Found\r\nLocation: /hello\r\nContent-Length: 0\r\n\r\n".to_vec()
            }
            "/r307" => {
                b"HTTP/1.1 307 Temporary Redirect\r\nLocation: /echo\r\nContent-Length: 0\r\n\r\n"
                    .to_vec()
            }
            "/loop" => {
                b"HTTP/1.1 302 Found\r\nLocation: /loop\r\nContent-Length: 0\r\n\r\n".to_vec()
            }
            "/close" => {
                let _ = sock
                    .write_all(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close")
                    .await;
                return;
            }
            "/continue" => {
                b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone"
                    .to_vec()
            }
            "/then-close" => {
                // Looks reusable, but the origin closes right after answering.
                let _ = sock
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    .await;
                return;
            }
            "/head-only" => b"HTTP/1.1 204 No Content\r\nX-Origin: yes\r\n\r\n".to_vec(),
            "/gzip" => {
                let mut r = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
                    GZIP_HELLO.len()
                )
                .into_bytes();
                r.extend_from_slice(GZIP_HELLO);
                r
            }
            "/gzip-chunked" => {
                let (a, b) = GZIP_HELLO.split_at(20);
                let mut r = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
                for piece in [a, b] {
                    r.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                    r.extend_from_slice(piece);
                    r.extend_from_slice(b"\r\n");
                }
                r.extend_from_slice(b"0\r\n\r\n");
                r
            }
            "/bad-gzip" => {
                b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 23\r\n\r\nthis is not gzip at all".to_vec()
            }
            "/unknown-coding" => {
                b"HTTP/1.1 200 OK\r\nContent-Encoding: foo\r\nContent-Length: 5\r\n\r\nhello".to_vec()
            }
            _ if p.starts_with("/status/") => {
                let code = &p["/status/".len()..];
                format!("HTTP/1.1 {code} Custom Reason\r\nContent-Length: 3\r\n\r\nabc")
                    .into_bytes()
            }
            _ => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(),
        };
        let _ = method;
        if sock.write_all(&resp).await.is_err() {
            return;
        }
    }
}

/// An echo WebSocket origin on `/echo`; anything else gets 403.
pub(crate) async fn ws_origin() -> (u16, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            conns.spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let mut hs = [httparse::EMPTY_HEADER; 32];
                let mut req = httparse::Request::new(&mut hs);
                req.parse(&buf).unwrap();
                if req.path != Some("/echo") {
                    let _ = sock
                        .write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\nX-Why: test\r\n\r\nnope")
                        .await;
                    return;
                }
                let find = |n: &str| {
                    req.headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case(n))
                        .map(|h| String::from_utf8_lossy(h.value).into_owned())
                };
                let key = find("sec-websocket-key").unwrap();
                use sha1::Digest as _;
                let mut sha = sha1::Sha1::new();
                sha.update(key.as_bytes());
                sha.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
                let accept = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, sha.finalize());
                let proto = find("sec-websocket-protocol")
                    .map(|p| format!("Sec-WebSocket-Protocol: {p}\r\n"))
                    .unwrap_or_default();
                let resp = format!(
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n{proto}\r\n"
                );
                sock.write_all(resp.as_bytes()).await.unwrap();
                let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(sock, tokio_tungstenite::tungstenite::protocol::Role::Server, None).await;
                while let Some(Ok(msg)) = futures_util::StreamExt::next(&mut ws).await {
                    if msg.is_close() {
                        let _ = futures_util::SinkExt::flush(&mut ws).await;
                        return;
                    }
                    if (msg.is_text() || msg.is_binary()) && futures_util::SinkExt::send(&mut ws, msg).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, task)
}

/// Frames the `/frames` origin sends after its handshake: a text message in three
/// fragments with a ping and a pong between them, then a binary message in three
/// fragments (the middle one empty). As `(opcode, fin, payload)`.
pub(crate) const SCRIPTED_FRAMES: &[(u8, bool, &[u8])] = &[
    (0x1, false, b"hel"),
    (0x9, true, b"pp"),
    (0x0, false, b"lo "),
    (0xA, true, b"qq"),
    (0x0, true, b"world"),
    (0x2, false, b"\x01"),
    (0x0, false, b""),
    (0x0, true, b"\x02"),
];

/// One unmasked (server) frame.
fn origin_frame(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
    match payload.len() {
        n @ 0..=125 => out.push(n as u8),
        n => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
    out
}

/// Reads one frame (unmasking it) as `(opcode, fin, payload)`; `None` at EOF.
async fn read_origin_frame(sock: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(u8, bool, Vec<u8>)> {
    loop {
        if buf.len() >= 2 {
            let (b0, b1) = (buf[0], buf[1]);
            let (len, mut off) = match b1 & 0x7f {
                126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4),
                127 if buf.len() >= 10 => (
                    u64::from_be_bytes(buf[2..10].try_into().unwrap()) as usize,
                    10,
                ),
                126 | 127 => (usize::MAX, 0),
                n => (n as usize, 2),
            };
            let masked = b1 & 0x80 != 0;
            if len != usize::MAX && buf.len() >= off + if masked { 4 } else { 0 } + len {
                let mask = if masked {
                    off += 4;
                    Some([buf[off - 4], buf[off - 3], buf[off - 2], buf[off - 1]])
                } else {
                    None
                };
                let mut payload = buf[off..off + len].to_vec();
                if let Some(m) = mask {
                    for (i, b) in payload.iter_mut().enumerate() {
                        *b ^= m[i % 4];
                    }
                }
                buf.drain(..off + len);
                return Some((b0 & 0x0f, b0 & 0x80 != 0, payload));
            }
        }
        let mut chunk = [0u8; 4096];
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// A WebSocket origin speaking raw frames, to see fragments and control frames one by one.
///
/// `/frames`: sends [`SCRIPTED_FRAMES`], then notes every frame it receives as
/// `<opcode><+ if FIN, else -><payload>`; on the client's close it answers with the
/// client's code and those notes, space-separated, as the reason.
/// `/frames-close`: sends the fragment `part` (no FIN), waits for any frame from the client,
/// then closes with 1001 `away` in the middle of its message.
pub(crate) async fn ws_frames_origin() -> (u16, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            conns.spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let end = loop {
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                };
                let mut hs = [httparse::EMPTY_HEADER; 32];
                let mut req = httparse::Request::new(&mut hs);
                req.parse(&buf).unwrap();
                let path = req.path.unwrap_or_default().to_owned();
                let key = req
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("sec-websocket-key"))
                    .map(|h| String::from_utf8_lossy(h.value).into_owned())
                    .unwrap();
                use sha1::Digest as _;
                let mut sha = sha1::Sha1::new();
                sha.update(key.as_bytes());
                sha.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
                let accept = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, sha.finalize());
                let resp = format!(
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
                );
                sock.write_all(resp.as_bytes()).await.unwrap();
                buf.drain(..end);
                if path == "/frames-close" {
                    let _ = sock.write_all(&origin_frame(0x1, false, b"part")).await;
                    if read_origin_frame(&mut sock, &mut buf).await.is_some() {
                        let _ = sock.write_all(&origin_frame(0x8, true, b"\x03\xe9away")).await;
                    }
                    while read_origin_frame(&mut sock, &mut buf).await.is_some() {}
                    return;
                }
                let mut out = Vec::new();
                for (op, fin, payload) in SCRIPTED_FRAMES {
                    out.extend(origin_frame(*op, *fin, payload));
                }
                if sock.write_all(&out).await.is_err() {
                    return;
                }
                let mut notes = Vec::new();
                while let Some((op, fin, payload)) = read_origin_frame(&mut sock, &mut buf).await {
                    if op == 0x8 {
                        // The report goes in the close reason: zurl 1.11 may drop data
                        // frames read together with the close answering its own.
                        let mut close = payload.get(..2).unwrap_or(b"\x03\xe8").to_vec();
                        close.extend_from_slice(notes.join(" ").as_bytes());
                        let _ = sock.write_all(&origin_frame(0x8, true, &close)).await;
                        while read_origin_frame(&mut sock, &mut buf).await.is_some() {}
                        return;
                    }
                    notes.push(format!(
                        "{op}{}{}",
                        if fin { '+' } else { '-' },
                        String::from_utf8_lossy(&payload).escape_debug()
                    ));
                }
            });
        }
    });
    (port, task)
}

/// A loopback listener whose accept queue is full, so that a new connection's SYNs go
/// unanswered and its connect hangs (until the kernel gives up, about 130 s on Linux).
/// Keep it (and the connections filling it) alive while it is used.
pub(crate) struct HungListener {
    pub(crate) port: u16,
    _listener: TcpListener,
    _filling: Vec<TcpStream>,
}

pub(crate) async fn hung_listener() -> HungListener {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    // Backlog 0: Linux queues one connection, then drops further SYNs.
    let listener = socket.listen(0).unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut filling = Vec::new();
    for _ in 0..8 {
        match tokio::time::timeout(
            Duration::from_millis(300),
            TcpStream::connect(("127.0.0.1", port)),
        )
        .await
        {
            Ok(Ok(s)) => filling.push(s),
            Ok(Err(e)) => panic!("connect to the backlog listener: {e}"),
            // This connect hangs: the queue is full.
            Err(_) => {
                return HungListener {
                    port,
                    _listener: listener,
                    _filling: filling,
                };
            }
        }
    }
    panic!("the accept queue never filled");
}
