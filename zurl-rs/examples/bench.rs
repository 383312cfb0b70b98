//! A manual benchmark (not a test): stream-mode throughput and memory per held request of a
//! zurl binary, so zurl-rs and zurl 1.11 can be compared on the same machine.
//!
//! ```sh
//! cargo build --release -p zurl-rs
//! cargo run --release -p zurl-rs --example bench -- target/release/zurl-rs 20000 200 2000
//! cargo run --release -p zurl-rs --example bench -- /usr/bin/zurl 20000 200 2000
//! ```
//!
//! Arguments: binary, requests, concurrency, held requests.

#[path = "../tests/support/common.rs"]
mod common;

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use pushpin_zhttp::{Id, Ids, Packet, PacketType};
use pushpin_zmq::Multipart;

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn first(c: &Client, id: String, uri: &str) -> Packet {
    Packet {
        from: c.from.clone(),
        ids: Ids::One(Id(Bytes::from(id))),
        seq: Some(0),
        method: Some(Bytes::from_static(b"GET")),
        uri: Some(Bytes::from(uri.to_owned())),
        stream: true,
        credits: Some(200_000),
        ignore_policies: true,
        ..Packet::default()
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bin = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "target/release/zurl-rs".into());
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let conc: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(200);
    let held: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(2000);

    let origin = start_origin().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("zurl.conf");
    std::fs::write(&conf, conf_text(dir.path(), "max_open_requests=10000")).expect("conf");
    let mut child = Command::new(&bin)
        .arg(format!("--config={}", conf.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    let spec = |name: &str| {
        pushpin_zmq::SocketSpec::parse(&format!("ipc://{}", dir.path().join(name).display()))
            .expect("spec")
    };
    let mut c = Client::connect_specs(spec("in"), spec("in-stream"), spec("out"), ZURL_ID).await;
    let base_rss = rss_kib(pid);

    // Throughput: `conc` sessions in flight, `n` in total.
    let url = origin.url("/hello");
    let start = Instant::now();
    let (mut sent, mut done) = (0usize, 0usize);
    while done < n {
        while sent < n && sent - done < conc {
            let p = first(&c, format!("t-{sent}"), &url);
            c.push
                .send(Multipart::from(p.to_bytes()))
                .await
                .expect("send");
            sent += 1;
        }
        let msg = tokio::time::timeout(WAIT, c.sub.recv())
            .await
            .expect("answer")
            .expect("recv");
        let p = decode_pub(&msg);
        if (p.ptype == PacketType::Data && !p.more) || p.ptype == PacketType::Error {
            done += 1;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let rss_after = rss_kib(pid);

    // Memory: `held` sessions waiting on a slow origin.
    let slow = origin.url("/slow");
    for i in 0..held {
        let p = first(&c, format!("h-{i}"), &slow);
        c.push
            .send(Multipart::from(p.to_bytes()))
            .await
            .expect("send");
    }
    let mut acked = HashSet::new();
    while acked.len() < held {
        let msg = tokio::time::timeout(WAIT, c.sub.recv())
            .await
            .expect("ack")
            .expect("recv");
        let p = decode_pub(&msg);
        if p.ptype == PacketType::KeepAlive {
            acked.insert(p.id().map(|i| i.0.clone()).unwrap_or_default());
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_held = rss_kib(pid);
    println!(
        "{bin}: {n} requests, concurrency {conc}: {:.0} req/s; rss {base_rss} KiB idle, \
         {rss_after} KiB after; {held} held: {rss_held} KiB ({:.1} KiB per held request)",
        n as f64 / secs,
        (rss_held.saturating_sub(rss_after)) as f64 / held as f64
    );
    let _ = child.kill();
    let _ = child.wait();
}
