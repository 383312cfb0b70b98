//! Flow control towards the connection manager: a publisher faster than a
//! held stream's credit round trip loses nothing below `message_hwm`, and
//! what goes beyond it is dropped and counted, never lost silently.

mod support;

use bytes::Bytes;
use pushpin_zhttp::PacketType;
use pushpin_zmq::{AsyncSocket, Hwm, Multipart, SocketKind, SocketSpec};
use support::Harness;

const STREAM: &[(&str, &str)] = &[("Grip-Hold", "stream"), ("Grip-Channel", "f")];

fn push_socket(h: &Harness) -> AsyncSocket {
    let spec = SocketSpec::parse(&format!("ipc://{}/push-in", h.dir.path().display())).unwrap();
    AsyncSocket::builder(SocketKind::Push, Hwm::both(100_000))
        .connect(spec)
        .build()
        .unwrap()
}

fn item(i: usize) -> Multipart {
    Multipart::from(Bytes::from(format!(
        "J{{\"channel\":\"f\",\"formats\":{{\"http-stream\":{{\"content\":\"m {i}\\n\"}}}}}}"
    )))
}

/// Holds one stream with `credits`, returns its rid after its first packets.
async fn hold(h: &mut Harness, credits: u32) -> String {
    let rid = h.rid();
    h.accept_with(&rid, credits, STREAM, "").await.unwrap();
    let _ka = h.next_packet().await;
    let _head = h.next_packet().await;
    rid
}

/// Reads body packets, granting back each one's size as the connection
/// manager does once it has written the bytes to the client, until `want`
/// bytes have arrived.
async fn read_body(h: &mut Harness, rid: &str, want: usize, seq: &mut u32) -> String {
    let mut got = Vec::new();
    while got.len() < want {
        let p = h.next_packet().await;
        assert_eq!(p.ptype, PacketType::Data, "{p:?}");
        let body = p.body_bytes();
        got.extend_from_slice(body);
        let credits = u32::try_from(body.len()).unwrap();
        h.send_packet(rid, *seq, PacketType::Credit, Some(credits))
            .await;
        *seq += 1;
    }
    String::from_utf8(got).unwrap()
}

fn expected(range: std::ops::Range<usize>) -> String {
    range.map(|i| format!("m {i}\n")).collect()
}

#[tokio::test]
async fn burst_to_a_slow_stream_arrives_complete_and_in_order() {
    const ITEMS: usize = 20_000;
    let mut h = Harness::start("").await;
    // a small window: the publisher is far ahead of the credit round trip
    let rid = hold(&mut h, 1000).await;
    let mut push = push_socket(&h);
    let publisher = tokio::spawn(async move {
        for i in 0..ITEMS {
            push.send(item(i)).await.unwrap();
        }
        push
    });
    let want = expected(0..ITEMS);
    let mut seq = 2;
    let got = read_body(&mut h, &rid, want.len(), &mut seq).await;
    assert!(got == want, "items lost or out of order");
    let _push = publisher.await.unwrap();
    assert_eq!(h.stats.borrow().dropped, 0);
    h.no_packet(std::time::Duration::from_millis(200)).await;
    h.stop().await;
}

#[tokio::test]
async fn beyond_session_queue_and_message_hwm_items_are_dropped_and_counted() {
    // no credits: 100 items wait in the session queue and 50 more in the
    // shared backlog (message_hwm); the other 150 are dropped and counted
    let mut h = Harness::start("message_hwm=50").await;
    let rid = hold(&mut h, 0).await;
    let mut push = push_socket(&h);
    for i in 0..300 {
        push.send(item(i)).await.unwrap();
    }
    let deadline = tokio::time::Instant::now() + support::WAIT;
    while h.stats.borrow().received < 300 {
        assert!(tokio::time::Instant::now() < deadline, "items not received");
        h.stats.changed().await.unwrap();
    }
    assert_eq!(h.stats.borrow().dropped, 150);
    let want = expected(0..150);
    h.send_packet(&rid, 2, PacketType::Credit, Some(100)).await;
    let mut seq = 3;
    let got = read_body(&mut h, &rid, want.len(), &mut seq).await;
    assert_eq!(got, want);
    h.no_packet(std::time::Duration::from_millis(200)).await;
    // the backlog is free again: new items queue once more
    for i in 300..310 {
        push.send(item(i)).await.unwrap();
    }
    let got = read_body(&mut h, &rid, expected(300..310).len(), &mut seq).await;
    assert_eq!(got, expected(300..310));
    assert_eq!(h.stats.borrow().dropped, 150);
    h.stop().await;
}

#[tokio::test]
async fn packets_in_flight_are_bounded_and_later_writes_coalesce() {
    // credits would allow every item at once, one packet each; only 4
    // packets may be unacknowledged, the rest leave together once credits
    // for the first come back
    let mut h = Harness::start("").await;
    let rid = hold(&mut h, 100_000).await;
    let mut push = push_socket(&h);
    for i in 0..50 {
        push.send(item(i)).await.unwrap();
    }
    let deadline = tokio::time::Instant::now() + support::WAIT;
    while h.stats.borrow().received < 50 {
        assert!(tokio::time::Instant::now() < deadline, "items not received");
        h.stats.changed().await.unwrap();
    }
    let mut got = Vec::new();
    for _ in 0..4 {
        let p = h.next_packet().await;
        got.extend_from_slice(p.body_bytes());
    }
    h.no_packet(std::time::Duration::from_millis(300)).await;
    let mut seq = 2;
    h.send_packet(&rid, seq, PacketType::Credit, Some(1)).await;
    seq += 1;
    // one byte returned does not complete the first packet
    h.no_packet(std::time::Duration::from_millis(300)).await;
    let first = u32::try_from(expected(0..1).len()).unwrap();
    h.send_packet(&rid, seq, PacketType::Credit, Some(first - 1))
        .await;
    seq += 1;
    let want = expected(0..50);
    let p = h.next_packet().await;
    got.extend_from_slice(p.body_bytes());
    assert!(p.body_bytes().len() > first as usize, "not coalesced");
    let rest = read_body(&mut h, &rid, want.len() - got.len(), &mut seq).await;
    got.extend_from_slice(rest.as_bytes());
    assert_eq!(String::from_utf8(got).unwrap(), want);
    h.stop().await;
}
