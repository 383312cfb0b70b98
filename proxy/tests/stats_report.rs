//! The stats socket's periodic `report` packets (`spec/internal.md` §8.2): one for the
//! routes without an id and one per explicit route id, with the connections, minutes and
//! client/server byte counters of the requests proxied (here through the `test` target).

#[path = "support/harness.rs"]
mod harness;

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use harness::{Env, PROXY_ID, Setup, get_owned, start};
use pushpin_internal::{Limits, Report, StatsBody, StatsPacket};
use pushpin_zhttp::Packet;
use pushpin_zmq::AsyncSocket;

const ROUTES: &str = "main.example,id=main test\n* test\n";

/// 1.36 `estimateRequestHeaderBytes` for the harness's GET to `/`.
fn request_estimate(p: &Packet) -> i64 {
    let headers: usize = p
        .header_list()
        .iter()
        .map(|h| h.name.len() + h.value.len())
        .sum();
    i64::try_from(b"GET".len() + b"/".len() + headers).unwrap()
}

/// 1.36 `estimateResponseHeaderBytes` for the head the client got.
fn response_estimate(p: &Packet) -> i64 {
    let headers: usize = p
        .header_list()
        .iter()
        .map(|h| h.name.len() + h.value.len())
        .sum();
    let code = p.code.unwrap().to_string().len();
    i64::try_from(code + p.reason.as_ref().unwrap().len() + headers).unwrap()
}

async fn next_report(sub: &mut AsyncSocket) -> (Option<Bytes>, Report) {
    let deadline = tokio::time::Instant::now() + harness::WAIT;
    loop {
        let msg = tokio::time::timeout_at(deadline, sub.recv())
            .await
            .expect("no report")
            .unwrap();
        let p = StatsPacket::decode(&msg[0], &Limits::default()).unwrap();
        if let StatsBody::Report(r) = p.body {
            assert_eq!(p.from.as_deref(), Some(PROXY_ID.as_bytes()));
            return (p.route, *r);
        }
    }
}

/// One request through the proxy: the packet sent, the response head and body received.
async fn request(env: &mut Env, id: String, uri: &str) -> (Packet, Packet, Bytes) {
    let p = get_owned(id, uri);
    env.cm.first(&p).await;
    let (head, body) = env.cm.response().await;
    (p, head, body)
}

#[derive(Debug, Default)]
struct Sum {
    reports: u32,
    peak: i64,
    minutes: i64,
    counters: [i64; 12],
}

fn counters(r: &Report) -> [i64; 12] {
    [
        r.client_header_bytes_received,
        r.client_header_bytes_sent,
        r.client_content_bytes_received,
        r.client_content_bytes_sent,
        r.client_messages_received,
        r.client_messages_sent,
        r.server_header_bytes_received,
        r.server_header_bytes_sent,
        r.server_content_bytes_received,
        r.server_content_bytes_sent,
        r.server_messages_received,
        r.server_messages_sent,
    ]
    .map(|v| v.expect("every counter is written"))
}

#[tokio::test]
async fn reports_per_route_with_counters() {
    let mut env = start(Setup {
        routes: ROUTES,
        proxy_extra: "stats_report_interval=1",
        with_handler: false,
    })
    .await;
    let mut sub = harness::stats_sub(env.dir.path());
    // the SUB joins late: requests on `main` until its stats arrive
    let mut n = 0u32;
    loop {
        n += 1;
        assert!(n < 50, "no stats");
        request(&mut env, format!("w{n}"), "http://main.example/").await;
        if tokio::time::timeout(Duration::from_millis(150), sub.recv())
            .await
            .is_ok()
        {
            break;
        }
    }
    // the warm-up is fully reported once `main` has a report without connections
    loop {
        let (route, r) = next_report(&mut sub).await;
        assert_eq!(
            route.as_deref(),
            Some(&b"main"[..]),
            "only main had traffic"
        );
        if r.connections == Some(0) {
            break;
        }
    }

    let (m1, head, body) = request(&mut env, "m1".into(), "http://main.example/").await;
    let (m2, _, _) = request(&mut env, "m2".into(), "http://main.example/").await;
    let (g1, ghead, _) = request(&mut env, "g1".into(), "http://other.example/").await;
    let body_len = i64::try_from(body.len()).unwrap();

    // sum every report until each route reports no connection again
    let mut sums: HashMap<Option<Bytes>, Sum> = HashMap::new();
    let mut done: HashMap<Option<Bytes>, bool> = HashMap::new();
    while done.len() < 2 || done.values().any(|d| !d) {
        let (route, r) = next_report(&mut sub).await;
        assert_eq!(r.received, Some(0));
        assert_eq!(r.sent, Some(0));
        assert_eq!(r.http_response_sent, Some(0));
        assert_eq!(r.blocks_received, None);
        assert!(r.duration.unwrap() > 0);
        let s = sums.entry(route.clone()).or_default();
        s.reports += 1;
        s.peak = s.peak.max(r.connections.unwrap());
        s.minutes += r.minutes.unwrap();
        for (a, b) in s.counters.iter_mut().zip(counters(&r)) {
            *a += b;
        }
        done.insert(route, s.peak > 0 && r.connections == Some(0));
    }

    let main = &sums[&Some(Bytes::from_static(b"main"))];
    assert!(main.peak >= 1);
    assert_eq!(main.minutes, 2, "one minute per connection");
    let c = main.counters;
    assert_eq!(c[0], request_estimate(&m1) + request_estimate(&m2));
    assert_eq!(c[1], 2 * response_estimate(&head));
    assert_eq!(c[2], 0, "no request body");
    assert_eq!(c[3], 2 * body_len);
    assert!(c[6] > 0, "test origin head");
    assert!(c[7] > 0, "origin request head");
    assert_eq!(c[8], 2 * body_len);
    assert_eq!(
        (c[4], c[5], c[10], c[11]),
        (0, 0, 0, 0),
        "no messages on HTTP"
    );

    let global = &sums[&None];
    assert_eq!(global.minutes, 1);
    let c = global.counters;
    assert_eq!(c[0], request_estimate(&g1));
    assert_eq!(c[1], response_estimate(&ghead));
    assert!(c[7] > 0);
    env.stop().await;
}
