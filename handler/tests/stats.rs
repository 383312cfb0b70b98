//! The stats socket: `conn`, `sub`, `message` and `report` packets.

mod support;

use std::time::Duration;

use bytes::Bytes;
use pushpin_internal::{StatsBody, StatsPacket};
use pushpin_zmq::{AsyncSocket, Hwm, SocketKind, SocketSpec};
use support::{Harness, item_json};

async fn next_stats(sub: &mut AsyncSocket, type_str: &str) -> StatsPacket {
    let deadline = tokio::time::Instant::now() + support::WAIT;
    loop {
        let msg = tokio::time::timeout_at(deadline, sub.recv())
            .await
            .unwrap_or_else(|_| panic!("no {type_str} stats"))
            .unwrap();
        let p = StatsPacket::decode(&msg[0], &Default::default()).unwrap();
        if p.body.type_str() == type_str {
            return p;
        }
    }
}

#[tokio::test]
async fn stats_report_holds_subscriptions_and_messages() {
    let mut h = Harness::start("stats_spec=ipc://{dir}/stats\nstats_report_interval=1").await;
    let spec = SocketSpec::parse(&format!("ipc://{}/stats", h.dir.path().display())).unwrap();
    let mut sub = AsyncSocket::builder(SocketKind::Sub, Hwm::both(1000))
        .subscribe(Bytes::new())
        .connect(spec)
        .build()
        .unwrap();
    // the first report proves the subscription is live
    let report = next_stats(&mut sub, "report").await;
    assert_eq!(report.from.as_deref(), Some(h.instance.as_bytes()));
    let rid = h.rid();
    h.accept_with(
        &rid,
        8192,
        &[("Grip-Hold", "stream"), ("Grip-Channel", "st")],
        "",
    )
    .await
    .unwrap();
    let p = next_stats(&mut sub, "sub").await;
    match p.body {
        StatsBody::Subscribed {
            channel,
            subscribers,
            ttl,
            ..
        } => {
            assert_eq!(
                (channel.as_ref(), subscribers, ttl),
                (&b"st"[..], Some(1), 60)
            );
        }
        other => panic!("{other:?}"),
    }
    let p = next_stats(&mut sub, "conn").await;
    match p.body {
        StatsBody::Connected { id, ttl, .. } => {
            assert_eq!(
                (id.as_ref(), ttl),
                (format!("condure:{rid}").as_bytes(), 120)
            );
        }
        other => panic!("{other:?}"),
    }
    h.http(
        "POST",
        "/publish/",
        &item_json("st", r#"{"http-stream":{"content":"x"}}"#),
    )
    .await;
    let p = next_stats(&mut sub, "message").await;
    match p.body {
        StatsBody::Message { channel, count, .. } => {
            assert_eq!((channel.as_ref(), count), (&b"st"[..], 1))
        }
        other => panic!("{other:?}"),
    }
    let report = next_stats(&mut sub, "report").await;
    match report.body {
        StatsBody::Report(r) => assert!(r.received >= Some(1), "{r:?}"),
        other => panic!("{other:?}"),
    }
    h.stop().await;
}

#[tokio::test]
async fn prometheus_endpoint_serves_1_36_metric_names() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut h = Harness::start("prometheus_port=ipc://{dir}/metrics\nprometheus_prefix=pp_").await;
    let rid = h.rid();
    h.accept_with(
        &rid,
        8192,
        &[("Grip-Hold", "stream"), ("Grip-Channel", "m")],
        "",
    )
    .await
    .unwrap();
    let _ka = h.next_packet().await;
    let _head = h.next_packet().await;
    let path = h.dir.path().join("metrics");
    let deadline = tokio::time::Instant::now() + support::WAIT;
    loop {
        let mut s = tokio::net::UnixStream::connect(&path).await.unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        assert!(out.contains("# TYPE pp_message_sent counter\n"), "{out}");
        if out.contains("pp_connection_connected 1\n") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{out}");
        h.stats.changed().await.unwrap();
    }
    h.stop().await;
}

#[tokio::test]
async fn conn_and_sub_are_refreshed_before_their_ttl() {
    let mut h = Harness::start("stats_spec=ipc://{dir}/stats\nstats_subscription_ttl=2").await;
    let spec = SocketSpec::parse(&format!("ipc://{}/stats", h.dir.path().display())).unwrap();
    let mut sub = AsyncSocket::builder(SocketKind::Sub, Hwm::both(1000))
        .subscribe(Bytes::new())
        .connect(spec)
        .build()
        .unwrap();
    let rid = h.rid();
    h.accept_with(
        &rid,
        8192,
        &[("Grip-Hold", "stream"), ("Grip-Channel", "rf")],
        "",
    )
    .await
    .unwrap();
    let deadline = tokio::time::Instant::now() + support::WAIT;
    let mut subs = 0;
    let mut conns = 0;
    // one `sub`/`conn` at the hold, the rest are refreshes: two of each prove one
    while subs < 2 || conns < 2 {
        let msg = tokio::time::timeout_at(deadline, sub.recv())
            .await
            .expect("no refresh")
            .unwrap();
        let p = StatsPacket::decode(&msg[0], &Default::default()).unwrap();
        match p.body {
            StatsBody::Subscribed { channel, ttl, .. } if channel.as_ref() == b"rf" => {
                assert_eq!(ttl, 2);
                subs += 1;
            }
            StatsBody::Connected { .. } => conns += 1,
            _ => {}
        }
    }
    h.stop().await;
}

#[tokio::test]
async fn proxy_conn_stats_are_republished_with_our_from() {
    use bytes::BytesMut;
    use pushpin_internal::ConnectionType;
    let h =
        Harness::start("stats_spec=ipc://{dir}/stats\nproxy_stats_spec=ipc://{dir}/proxy-stats")
            .await;
    let d = h.dir.path().display().to_string();
    let mut proxy = AsyncSocket::builder(SocketKind::Pub, Hwm::both(1000))
        .bind(SocketSpec::parse(&format!("ipc://{d}/proxy-stats")).unwrap())
        .build()
        .unwrap();
    let mut sub = AsyncSocket::builder(SocketKind::Sub, Hwm::both(1000))
        .subscribe(Bytes::from_static(b"conn "))
        .connect(SocketSpec::parse(&format!("ipc://{d}/stats")).unwrap())
        .build()
        .unwrap();
    let packet = StatsPacket {
        from: Some(Bytes::from_static(b"pushpin-proxy_1")),
        route: None,
        body: StatsBody::Connected {
            id: Bytes::from_static(b"condure:9-9-9"),
            conn_type: ConnectionType::Http,
            peer_address: None,
            ssl: false,
            ttl: 120,
        },
    };
    let mut buf = BytesMut::new();
    packet.encode(&mut buf);
    let frame = buf.freeze();
    let deadline = tokio::time::Instant::now() + support::WAIT;
    loop {
        proxy
            .send(pushpin_zmq::Multipart::from(frame.clone()))
            .await
            .unwrap();
        if let Ok(msg) = tokio::time::timeout(Duration::from_millis(100), sub.recv()).await {
            let p = StatsPacket::decode(&msg.unwrap()[0], &Default::default()).unwrap();
            // (the harness's probe holds also report their end here)
            if matches!(p.body, StatsBody::Connected { ref id, .. } if id.as_ref() == b"condure:9-9-9")
            {
                assert_eq!(p.from.as_deref(), Some(h.instance.as_bytes()));
                break;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "proxy conn never re-published"
        );
    }
    h.stop().await;
}

/// A proxy `report` is not forwarded: its counters go into our next report for the same
/// route (the global one for no route, one of its own for a route id).
#[tokio::test]
async fn proxy_reports_are_merged_into_ours() {
    use bytes::BytesMut;
    use pushpin_internal::Report;
    let h = Harness::start(
        "stats_spec=ipc://{dir}/stats\nproxy_stats_spec=ipc://{dir}/proxy-stats\nstats_report_interval=1",
    )
    .await;
    let d = h.dir.path().display().to_string();
    let mut proxy = AsyncSocket::builder(SocketKind::Pub, Hwm::both(1000))
        .bind(SocketSpec::parse(&format!("ipc://{d}/proxy-stats")).unwrap())
        .build()
        .unwrap();
    let mut sub = AsyncSocket::builder(SocketKind::Sub, Hwm::both(1000))
        .subscribe(Bytes::from_static(b"report "))
        .connect(SocketSpec::parse(&format!("ipc://{d}/stats")).unwrap())
        .build()
        .unwrap();
    let frame = |route: Option<&'static [u8]>, report: Report| {
        let mut buf = BytesMut::new();
        StatsPacket {
            from: Some(Bytes::from_static(b"pushpin-proxy_1")),
            route: route.map(Bytes::from_static),
            body: StatsBody::Report(Box::new(report)),
        }
        .encode(&mut buf);
        buf.freeze()
    };
    let global = frame(
        None,
        Report {
            connections: Some(3),
            server_header_bytes_sent: Some(7),
            ..Report::default()
        },
    );
    let routed = frame(
        Some(b"main"),
        Report {
            connections: Some(3),
            client_header_bytes_received: Some(5),
            client_messages_sent: Some(2),
            ..Report::default()
        },
    );
    let (mut saw_global, mut saw_route) = (false, false);
    let deadline = tokio::time::Instant::now() + support::WAIT;
    while !(saw_global && saw_route) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "proxy report never merged (global {saw_global}, route {saw_route})"
        );
        for f in [&global, &routed] {
            proxy
                .send(pushpin_zmq::Multipart::from(f.clone()))
                .await
                .unwrap();
        }
        let Ok(msg) = tokio::time::timeout(Duration::from_millis(100), sub.recv()).await else {
            continue;
        };
        let p = StatsPacket::decode(&msg.unwrap()[0], &Default::default()).unwrap();
        assert_eq!(
            p.from.as_deref(),
            Some(h.instance.as_bytes()),
            "proxy reports are not forwarded"
        );
        let StatsBody::Report(r) = p.body else {
            panic!("not a report");
        };
        match p.route.as_deref() {
            None => {
                let n = r.server_header_bytes_sent.unwrap();
                assert_eq!(n % 7, 0);
                saw_global |= n > 0;
            }
            Some(b"main") => {
                let n = r.client_header_bytes_received.unwrap();
                assert!(n > 0 && n % 5 == 0);
                assert_eq!(r.client_messages_sent.unwrap() * 5, n * 2);
                assert_eq!(r.server_header_bytes_sent, Some(0));
                saw_route = true;
            }
            Some(other) => panic!("unexpected route {other:?}"),
        }
    }
    h.stop().await;
}
