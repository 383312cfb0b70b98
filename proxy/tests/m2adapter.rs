//! Our built-in mongrel2 adapter (`pushpin_proxy::m2`) between a real mongrel2 1.12 and
//! a fake ZHTTP responder: a large upload streamed with upload credits, a large
//! streamed response paced by mongrel2's download credits, and a client disconnect
//! turning into `cancel`. Skipped (with a note) when `/usr/bin/mongrel2` or
//! `/usr/bin/m2sh` is missing; the e2e suite (`tests/tests/runner.rs`) covers the
//! same adapter under our runner.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use pushpin_proxy::m2::{Config, ZhttpSpecs};
use pushpin_zhttp::{Id, Ids, Limits, Packet, PacketType, framing};
use pushpin_zmq::{AsyncSocket, Hwm, SocketKind, SocketSpec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

const MONGREL2: &str = "/usr/bin/mongrel2";
const M2SH: &str = "/usr/bin/m2sh";
const IDENT: &str = "test-m2";
const RESPONDER: &[u8] = b"resp-1";
const WAIT: Duration = Duration::from_secs(10);

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Writes the config of `spec/mongrel2.md` §8, loads it and starts mongrel2.
fn start_mongrel2(dir: &Path, http: u16, send: u16, recv: u16) -> Kill {
    let control = free_port();
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    std::fs::create_dir_all(dir.join("run")).unwrap();
    let conf = format!(
        "handler_test = Handler(send_spec=\"tcp://127.0.0.1:{send}\", send_ident=\"{IDENT}\",\n\
         recv_spec=\"tcp://127.0.0.1:{recv}\", recv_ident=\"{IDENT} \")\n\
         host_default = Host(name=\"default\", routes={{\"/\": handler_test}})\n\
         server_main = Server(uuid=\"default_{http}\", access_log=\"/logs/access.log\",\n\
         error_log=\"/logs/error.log\", pid_file=\"/run/mongrel2.pid\", chroot=\"{d}\",\n\
         control_port=\"tcp://127.0.0.1:{control}\", default_host=\"default\",\n\
         name=\"server-{http}\", bind_addr=\"127.0.0.1\", port={http}, hosts=[host_default])\n\
         settings = {{\"upload.stream\": 1, \"server.daemonize\": 0, \"no_clobber_xff\": 1,\n\
         \"request.relaxed\": 1, \"download.flow_control\": 1, \"net.tcp_keepalive\": 1,\n\
         \"limits.buffer_size\": 8192}}\n\
         servers = [server_main]\n",
        d = dir.display()
    );
    std::fs::write(dir.join("mongrel2.conf"), conf).unwrap();
    let db = dir.join("mongrel2.sqlite");
    let status = Command::new(M2SH)
        .args(["load", "-config"])
        .arg(dir.join("mongrel2.conf"))
        .arg("-db")
        .arg(&db)
        .env("LOGNAME", "test")
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "m2sh load failed");
    let out = std::fs::File::create(dir.join("mongrel2.out")).unwrap();
    Kill(
        Command::new(MONGREL2)
            .arg(&db)
            .arg(format!("default_{http}"))
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap(),
    )
}

struct Responder {
    pull: AsyncSocket,
    dealer: AsyncSocket,
    publ: AsyncSocket,
    adapter: Bytes,
    seq: u32,
    id: Bytes,
}

impl Responder {
    async fn first(&mut self) -> Packet {
        let msg = timeout(WAIT, self.pull.recv()).await.unwrap().unwrap();
        let p =
            Packet::decode(framing::single(msg.as_slice()).unwrap(), &Limits::default()).unwrap();
        self.id = p.id().unwrap().0.clone();
        self.seq = 0;
        p
    }

    async fn recv(&mut self) -> Packet {
        let msg = timeout(WAIT, self.dealer.recv()).await.unwrap().unwrap();
        Packet::decode(
            framing::parse_dealer(msg.as_slice()).unwrap(),
            &Limits::default(),
        )
        .unwrap()
    }

    async fn send(&mut self, mut p: Packet) {
        p.from = Bytes::from_static(RESPONDER);
        p.ids = Ids::One(Id(self.id.clone()));
        p.seq = Some(self.seq);
        self.seq += 1;
        self.publ
            .send(framing::pub_frame(&self.adapter, &p))
            .await
            .unwrap();
    }
}

async fn read_until(s: &mut TcpStream, buf: &mut Vec<u8>, done: impl Fn(&[u8]) -> bool) {
    let mut chunk = vec![0u8; 65536];
    while !done(buf) {
        let n = timeout(WAIT, s.read(&mut chunk)).await.unwrap().unwrap();
        assert!(
            n > 0,
            "connection closed early: {}",
            String::from_utf8_lossy(buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Decodes a chunked body; `None` until the last chunk is in.
fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line = b.windows(2).position(|w| w == b"\r\n")?;
        let size = usize::from_str_radix(std::str::from_utf8(&b[..line]).ok()?, 16).ok()?;
        let start = line + 2;
        if b.len() < start + size + 2 {
            return None;
        }
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(&b[start..start + size]);
        b = &b[start + size + 2..];
    }
}

fn split_head(buf: &[u8]) -> Option<(String, &[u8])> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    Some((
        String::from_utf8_lossy(&buf[..end]).into_owned(),
        &buf[end + 4..],
    ))
}

#[tokio::test]
async fn real_mongrel2_upload_download_credits_and_disconnect() {
    if !Path::new(MONGREL2).exists() || !Path::new(M2SH).exists() {
        eprintln!("skipped: {MONGREL2} or {M2SH} is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (http, send, recv) = (free_port(), free_port(), free_port());
    let _m2 = start_mongrel2(d, http, send, recv);

    let ipc = |name: &str| -> SocketSpec {
        SocketSpec::parse(&format!("ipc://{}", d.join(name).display())).unwrap()
    };
    let config = Config {
        m2_in_specs: vec![SocketSpec::parse(&format!("tcp://127.0.0.1:{send}")).unwrap()],
        m2_out_specs: vec![SocketSpec::parse(&format!("tcp://127.0.0.1:{recv}")).unwrap()],
        m2_send_idents: vec![Bytes::from_static(IDENT.as_bytes())],
        zhttp: ZhttpSpecs {
            inbound: vec![ipc("zin")],
            out: vec![ipc("zout")],
            out_stream: vec![ipc("zout-stream")],
            connect: false,
        },
        zws: ZhttpSpecs::default(),
        client_buffer: 200_000,
        max_open_requests: None,
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let adapter = tokio::spawn(pushpin_proxy::m2::run(config, async {
        let _ = stop_rx.await;
    }));

    let mut r = Responder {
        pull: AsyncSocket::builder(SocketKind::Pull, Hwm::both(1000))
            .connect(ipc("zout"))
            .build()
            .unwrap(),
        dealer: AsyncSocket::builder(SocketKind::Dealer, Hwm::both(1000))
            .identity(Bytes::from_static(RESPONDER))
            .connect(ipc("zout-stream"))
            .build()
            .unwrap(),
        publ: AsyncSocket::builder(SocketKind::Pub, Hwm::both(1000))
            .connect(ipc("zin"))
            .build()
            .unwrap(),
        adapter: Bytes::from(format!("m2zhttp_{}", std::process::id())),
        seq: 0,
        id: Bytes::new(),
    };

    // mongrel2 takes a moment to listen
    let mut client = None;
    for _ in 0..100 {
        if let Ok(s) = TcpStream::connect(("127.0.0.1", http)).await {
            client = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut client = client.expect("mongrel2 never listened");
    // ZeroMQ slow joiners: give every connect a moment before traffic flows
    tokio::time::sleep(Duration::from_millis(300)).await;

    // 1. a 60000-byte upload: streamed by mongrel2 as the responder grants credits
    let upload: Vec<u8> = (0..60_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let head = format!(
        "POST /up?x=1 HTTP/1.1\r\nHost: example.test\r\nContent-Length: {}\r\n\r\n",
        upload.len()
    );
    client.write_all(head.as_bytes()).await.unwrap();
    client.write_all(&upload).await.unwrap();
    let first = r.first().await;
    assert_eq!(first.method.as_deref(), Some(&b"POST"[..]));
    assert_eq!(
        first.uri.as_deref(),
        Some(&b"http://example.test/up?x=1"[..])
    );
    assert!(first.more, "a body over 20480 bytes is streamed");
    let mut credits = first.credits.unwrap();
    assert_eq!(credits, 102_400);
    let mut got = first.body.clone().unwrap_or_default().to_vec();
    let mut c = Packet::new(PacketType::Credit);
    c.credits = Some(100_000);
    r.send(c).await;
    loop {
        let p = r.recv().await;
        assert_eq!(p.ptype, PacketType::Data);
        got.extend_from_slice(p.body_bytes());
        if !p.more {
            break;
        }
    }
    assert_eq!(got, upload);

    // 2. a 300000-byte streamed response, paced by the credits the adapter passes on
    let mut resp = Packet::new(PacketType::Data);
    resp.code = Some(200);
    resp.reason = Some(Bytes::from_static(b"OK"));
    resp.headers = Some(vec![pushpin_zhttp::Header::new(
        "Content-Type",
        "application/octet-stream",
    )]);
    resp.more = true;
    r.send(resp).await;
    let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let mut sent = 0;
    while sent < body.len() {
        while credits == 0 {
            let p = r.recv().await;
            if p.ptype == PacketType::Credit {
                credits += p.credits.unwrap_or(0);
            }
        }
        let n = (credits as usize).min(body.len() - sent).min(40_000);
        let mut p = Packet::new(PacketType::Data);
        p.body = Some(Bytes::copy_from_slice(&body[sent..sent + n]));
        p.more = true;
        r.send(p).await;
        sent += n;
        credits -= n as u32;
    }
    r.send(Packet::new(PacketType::Data)).await;
    let mut buf = Vec::new();
    read_until(&mut client, &mut buf, |b| {
        split_head(b).is_some_and(|(_, rest)| dechunk(rest).is_some())
    })
    .await;
    let (head, rest) = split_head(&buf).unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("Transfer-Encoding: chunked"), "{head}");
    assert_eq!(dechunk(rest).unwrap(), body);

    // 3. the same connection stays open; the client leaves mid-response: cancel
    client
        .write_all(b"GET /held HTTP/1.1\r\nHost: example.test\r\n\r\n")
        .await
        .unwrap();
    let first = r.first().await;
    assert_eq!(first.method.as_deref(), Some(&b"GET"[..]));
    assert!(
        first.id().unwrap().0.ends_with(b"_1"),
        "second session of the connection"
    );
    let mut resp = Packet::new(PacketType::Data);
    resp.code = Some(200);
    resp.body = Some(Bytes::from_static(b"start\n"));
    resp.more = true;
    r.send(resp).await;
    let mut buf = Vec::new();
    read_until(&mut client, &mut buf, |b| b.ends_with(b"start\n\r\n")).await;
    drop(client);
    let cancel = loop {
        let p = r.recv().await;
        if p.ptype != PacketType::Credit {
            break p;
        }
    };
    assert_eq!(cancel.ptype, PacketType::Cancel);

    stop_tx.send(()).unwrap();
    timeout(WAIT, adapter).await.unwrap().unwrap().unwrap();
}
