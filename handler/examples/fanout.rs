//! Fan-out benchmark (not a test): holds N stream sessions on one channel
//! through a fake proxy and connection manager, publishes one item over
//! HTTP and reports the time until the last session's packet arrives; then
//! measures ZeroMQ PULL publish throughput to one subscriber.
//!
//! `cargo run --release -p pushpin-handler --example fanout -- 10000`

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use pushpin_internal::zrpc::{self, Request};
use pushpin_internal::{AcceptArgs, Call, RequestData, RequestState, ResponseData, Rid};
use pushpin_zmq::{AsyncSocket, Hwm, Multipart, SocketKind, SocketSpec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn sock(kind: SocketKind, spec: &str, bind: bool) -> AsyncSocket {
    let b = AsyncSocket::builder(kind, Hwm::both(1_000_000));
    let b = if kind == SocketKind::Sub {
        b.subscribe(Bytes::from_static(b"condure "))
    } else {
        b
    };
    let spec = SocketSpec::parse(spec).expect("spec");
    if bind { b.bind(spec) } else { b.connect(spec) }
        .build()
        .expect("socket")
}

fn rd() -> RequestData {
    RequestData {
        method: Bytes::from_static(b"GET"),
        uri: Bytes::from_static(b"http://example.com/"),
        headers: Vec::new(),
        body: Bytes::new(),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let _log = pushpin_service::log::init(tracing::Level::WARN, None).expect("log");
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let ipc = |name: &str| format!("ipc://{}/{name}", dir.path().display());
    let _router = sock(SocketKind::Router, &ipc("cos"), true);
    let mut sub = sock(SocketKind::Sub, &ipc("ci"), true);
    let mut accept = sock(SocketKind::Dealer, &ipc("accept"), true);
    let _inspect = sock(SocketKind::Dealer, &ipc("inspect"), true);
    let conf = format!(
        "[proxy]\ncondure_in_stream_specs={}\ncondure_out_specs={}\n[handler]\nproxy_inspect_spec={}\n\
         proxy_accept_spec={}\npush_in_spec={}\npush_in_http_addr=127.0.0.1\npush_in_http_port=0\n",
        ipc("cos"),
        ipc("ci"),
        ipc("inspect"),
        ipc("accept"),
        ipc("pull"),
    );
    let path = dir.path().join("pushpin.conf");
    std::fs::write(&path, conf).expect("write");
    let config = pushpin_config::load(&path, &Default::default()).expect("config");
    let handler = pushpin_handler::Handler::bind(pushpin_handler::Config::new(config.handler))
        .await
        .expect("bind");
    let http = handler.http_addr().expect("http");
    let mut stats = handler.stats();
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(handler.run(async move {
        let _ = rx.await;
    }));

    // hold n sessions, 1000 per accept
    let mut held = 0;
    while held < n {
        let k = (n - held).min(1000);
        let args = AcceptArgs {
            requests: (held..held + k)
                .map(|i| RequestState {
                    rid: Rid {
                        sender: Bytes::from_static(b"condure"),
                        id: Bytes::from(format!("0-0-{i}")),
                    },
                    in_seq: 2,
                    out_seq: 2,
                    out_credits: 1_000_000,
                    ..Default::default()
                })
                .collect(),
            request_data: rd(),
            orig_request_data: rd(),
            response: Some(ResponseData {
                code: 200,
                reason: Bytes::from_static(b"OK"),
                headers: vec![
                    (
                        Bytes::from_static(b"Grip-Hold"),
                        Bytes::from_static(b"stream"),
                    ),
                    (
                        Bytes::from_static(b"Grip-Channel"),
                        Bytes::from_static(b"fan"),
                    ),
                ],
                body: Bytes::new(),
            }),
            ..Default::default()
        };
        let mut buf = BytesMut::new();
        Request::new(
            Some(Bytes::from_static(b"1")),
            &Call::Accept(Box::new(args)),
        )
        .encode(&mut buf);
        accept
            .send(Multipart::from(zrpc::client_frames(buf.freeze()).to_vec()))
            .await
            .expect("send");
        accept.recv().await.expect("reply");
        held += k;
    }
    // drain keep-alives and heads (2 per session); tolerate ones lost before the subscription
    while tokio::time::timeout(Duration::from_millis(500), sub.recv())
        .await
        .is_ok()
    {}

    let body =
        r#"{"items":[{"channel":"fan","formats":{"http-stream":{"content":"hello fan-out\n"}}}]}"#;
    let start = Instant::now();
    let mut s = tokio::net::TcpStream::connect(http).await.expect("connect");
    let req = format!(
        "POST /publish/ HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.expect("read");
    let mut got = 0;
    while got < n {
        match tokio::time::timeout(Duration::from_secs(10), sub.recv()).await {
            Ok(Ok(_)) => got += 1,
            _ => break,
        }
    }
    println!(
        "fan-out to {got}/{n} streams: last after {:?}",
        start.elapsed()
    );

    // PULL publish throughput (a channel without subscribers: parse + route)
    let mut push = sock(SocketKind::Push, &ipc("pull"), false);
    let msgs = 200_000usize;
    let item = Bytes::from_static(
        b"J{\"channel\":\"nobody\",\"formats\":{\"http-stream\":{\"content\":\"x\"}}}",
    );
    let base = stats.borrow().received;
    let start = Instant::now();
    for _ in 0..msgs {
        push.send(Multipart::from(item.clone()))
            .await
            .expect("push");
    }
    while stats.borrow().received < base + msgs as u64 {
        if tokio::time::timeout(Duration::from_secs(10), stats.changed())
            .await
            .is_err()
        {
            break;
        }
    }
    let took = start.elapsed();
    let done = stats.borrow().received - base;
    println!(
        "{done} PULL publishes handled in {took:?} ({:.0}/s)",
        done as f64 / took.as_secs_f64()
    );
    let _ = stop.send(());
    match task.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => println!("handler failed: {e:#}"),
        Err(e) => println!("handler task: {e}"),
    }
}
