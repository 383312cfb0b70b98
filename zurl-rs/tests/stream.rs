//! Stream-interface sessions (PUSH/ROUTER/SUB against zurl-rs's PULL/DEALER/PUB) against a
//! local origin: acks, credits, streamed bodies both ways, errors and options.

#[path = "support/common.rs"]
mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use pushpin_tnetstring::Value;
use pushpin_zhttp::{Condition, PacketType};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_ack_then_response() {
    let origin = start_origin().await;
    let z = start_zurl("").await;
    let mut c = Client::connect(&z).await;
    let mut req = c.request("g-1", "GET", &origin.url("/hello?x=1"));
    req.headers = Some(headers(&[("User-Agent", "test")]));
    req.ext.multi = true;
    c.send_first(&req).await;
    let ack = c.recv_for("g-1").await;
    assert_eq!(ack.ptype, PacketType::KeepAlive);
    assert_eq!((ack.seq, &ack.from[..]), (Some(0), ZURL_ID.as_bytes()));
    assert!(ack.ext.multi, "ext.multi echoed on the ack");
    let (first, body, _) = c.read_stream("g-1", 1, true).await;
    assert_eq!(first.seq, Some(1));
    assert!(!first.ext.multi);
    assert_eq!(first.code, Some(200));
    assert_eq!(first.reason.as_deref(), Some(&b"OK"[..]));
    assert_eq!(header(&first, "X-Origin"), Some(&b"yes"[..]));
    assert_eq!(
        first.header_list()[0].name,
        "Content-Type",
        "origin order and case kept"
    );
    assert_eq!(body, b"hello from origin\n");
    z.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_streamed_within_credits() {
    let origin = start_origin().await;
    let z = start_zurl("").await;
    let mut c = Client::connect(&z).await;
    let mut req = c.request("s-1", "GET", &origin.url("/big?n=2500"));
    req.credits = Some(1000);
    c.send_first(&req).await;
    assert_eq!(c.recv_for("s-1").await.ptype, PacketType::KeepAlive);
    let mut got = 0usize;
    let mut window = 0usize;
    let mut seq = 1;
    loop {
        let p = c.recv_for("s-1").await;
        if got == 0 && window == 0 {
            assert_eq!(p.code, Some(200));
        }
        let n = p.body_bytes().len();
        window += n;
        got += n;
        assert!(window <= 1000, "never beyond the credits");
        if !p.more {
            break;
        }
        if window == 1000 {
            // The window is used up: nothing more until credits are returned.
            assert!(c.silent_for("s-1", Duration::from_millis(200)).await);
            let mut credit = c.follow("s-1", seq, PacketType::Credit);
            credit.credits = Some(1000);
            seq += 1;
            c.send_next(credit).await;
            window = 0;
        }
    }
    assert_eq!(got, 2500);
    z.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_request_body_with_credits() {
    let origin = start_origin().await;
    let z = start_zurl("buffer_size=1000").await;
    let mut c = Client::connect(&z).await;
    let mut req = c.request("p-1", "POST", &origin.url("/echo"));
    req.more = true;
    req.headers = Some(headers(&[("Content-Type", "text/plain")]));
    c.send_first(&req).await;
    let ack = c.recv_for("p-1").await;
    assert_eq!(
        (ack.ptype.clone(), ack.credits),
        (PacketType::Credit, Some(1000))
    );
    // 1500 bytes in pieces of at most the granted credits.
    let mut body = c.follow("p-1", 1, PacketType::Data);
    body.body = Some(Bytes::from(vec![b'a'; 1000]));
    body.more = true;
    c.send_next(body).await;
    let credit = c.recv_for("p-1").await;
    assert_eq!(credit.ptype, PacketType::Credit);
    assert_eq!(
        credit.credits,
        Some(1000),
        "bytes written upstream come back as credit"
    );
    let mut body = c.follow("p-1", 2, PacketType::Data);
    body.body = Some(Bytes::from(vec![b'b'; 500]));
    c.send_next(body).await;
    let (first, resp, _) = c.read_stream("p-1", 3, true).await;
    assert_eq!(first.code, Some(200));
    let mut want = b"echo:".to_vec();
    want.extend(vec![b'a'; 1000]);
    want.extend(vec![b'b'; 500]);
    assert_eq!(resp, want);
    z.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_head_like_zurl() {
    let origin = start_origin().await;
    let z = start_zurl("").await;
    let mut c = Client::connect(&z).await;
    let mut req = c.request("h-1", "POST", &origin.url("/headers"));
    req.more = true;
    req.headers = Some(headers(&[
        ("X-Custom", "1"),
        ("Host", "wrong.example"),
        ("Expect", "100-continue"),
    ]));
    c.send_first(&req).await;
    assert_eq!(c.recv_for("h-1").await.ptype, PacketType::Credit);
    let mut body = c.follow("h-1", 1, PacketType::Data);
    body.body = Some(Bytes::from_static(b"abc"));
    c.send_next(body).await;
    let (_, resp, _) = c.read_stream("h-1", 2, true).await;
    let text = String::from_utf8(resp).unwrap();
    assert_eq!(
        text,
        format!(
            "POST /headers HTTP/1.1\nHost: {}\nAccept: */*\nAccept-Encoding: deflate, gzip, br, zstd\nX-Custom: 1\nTransfer-Encoding: chunked\n\n",
            origin.addr
        )
    );
    // connect-host/connect-port: the Host header still comes from the URI.
    let mut req = c.request("h-2", "GET", "http://example.test/headers");
    req.connect_host = Some(Bytes::from_static(b"127.0.0.1"));
    req.connect_port = Some(origin.addr.port());
    c.send_first(&req).await;
    let (_, resp, _) = c.read_stream("h-2", 1, true).await;
    assert_eq!(
        String::from_utf8(resp).unwrap(),
        "GET /headers HTTP/1.1\nHost: example.test\nAccept: */*\nAccept-Encoding: deflate, gzip, br, zstd\n\n"
    );
    z.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_stream_request_gets_one_packet_and_chunked_is_decoded() {
    let origin = start_origin().await;
    let z = start_zurl("").await;
    let mut c = Client::connect(&z).await;
    let mut req = c.request("n-1", "GET", &origin.url("/chunked"));
    req.stream = false;
    c.send_first(&req).await;
    assert_eq!(c.recv_for("n-1").await.ptype, PacketType::KeepAlive);
    let p = c.recv_for("n-1").await;
    assert_eq!((p.code, p.more), (Some(200), false));
    assert_eq!(p.body_bytes(), b"hello world");
    assert_eq!(
        header(&p, "Transfer-Encoding"),
        Some(&b"chunked"[..]),
        "passed through like zurl"
    );
    z.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_connections_are_reused() {
    let origin = start_origin().await;
    let z = start_zurl("").await;
    let mut c = Client::connect(&z).await;
    for id in ["k-1", "k-2", "k-3"] {
        let req = c.request(id, "GET", &origin.url("/hello"));
        c.send_first(&req).await;
        let (first, body, _) = c.read_stream(id, 1, true).await;
        assert_eq!((first.code, body.len()), (Some(200), 18));
    }
    assert_eq!(origin.connections.load(Ordering::SeqCst), 1);
    z.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_delimited_and_status_reason() {
    let origin = start_origin().await;
    let z = start_zurl("").await;
    let mut c = Client::connect(&z).await;
    let req = c.request("c-1", "GET", &origin.url("/close"));
    c.send_first(&req).await;
    let (_, body, _) = c.read_stream("c-1", 1, true).await;
    assert_eq!(body, b"until close");
    let req = c.request("c-2", "GET", &origin.url("/status/418"));
    c.send_first(&req).await;
    let (first, _, _) = c.read_stream("c-2", 1, true).await;
    assert_eq!(first.code, Some(418));
    assert_eq!(first.reason.as_deref(), Some(&b"Custom Reason"[..]));
    // An interim 100 response is skipped.
    let req = c.request("c-4", "GET", &origin.url("/continue"));
    c.send_first(&req).await;
    let (first, body, _) = c.read_stream("c-4", 1, true).await;
    assert_eq!((first.code, &body[..]), (Some(200), &b"done"[..]));
    // A pooled connection the origin closed is not reused (or is retried).
    for id in ["c-5", "c-6", "c-7"] {
        let req = c.request(id, "GET", &origin.url("/then-close"));
        c.send_first(&req).await;
        let (first, body, _) = c.read_stream(id, 1, true).await;
        assert_eq!((first.code, &body[..]), (Some(200), &b"ok"[..]), "{id}");
    }
    let req = c.request("c-3", "GET", &origin.url("/head-only"));
    c.send_first(&req).await;
    let (first, body, n) = c.read_stream("c-3", 1, true).await;
    assert_eq!(
        (first.code, body.len(), n, first.more),
        (Some(204), 0, 1, false)
    );
    z.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_conditions() {
    let origin = start_origin().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = closed.local_addr().unwrap();
    drop(closed);
    let z = start_zurl("deny=denied.invalid,*.local,10/8").await;
    let mut c = Client::connect(&z).await;

    // Refused: ack, then remote-connection-failed.
    let req = c.request("e-1", "GET", &format!("http://{dead}/"));
    c.send_first(&req).await;
    assert_eq!(c.recv_for("e-1").await.ptype, PacketType::KeepAlive);
    let e = c.recv_for("e-1").await;
    assert_eq!(
        (e.ptype, e.condition, e.seq),
        (
            PacketType::Error,
            Some(Condition::RemoteConnectionFailed),
            Some(1)
        )
    );

    // Denied host: policy-violation at seq 0, no ack.
    let req = c.request("e-2", "GET", "http://denied.invalid/");
    c.send_first(&req).await;
    let e = c.recv_for("e-2").await;
    assert_eq!(
        (e.condition, e.seq),
        (Some(Condition::PolicyViolation), Some(0))
    );

    // Denied subnet via connect-host; ignore-policies lets it through.
    let mut req = c.request("e-2b", "GET", "http://example.test/");
    req.connect_host = Some(Bytes::from_static(b"10.1.2.3"));
    c.send_first(&req).await;
    assert_eq!(
        c.recv_for("e-2b").await.condition,
        Some(Condition::PolicyViolation)
    );
    let mut req = c.request("e-2c", "GET", "http://printer.local/hello");
    req.connect_host = Some(Bytes::from_static(b"127.0.0.1"));
    req.connect_port = Some(origin.addr.port());
    req.ignore_policies = true;
    c.send_first(&req).await;
    let (first, body, _) = c.read_stream("e-2c", 1, true).await;
    assert_eq!(
        (first.code, &body[..]),
        (Some(200), &b"hello from origin\n"[..])
    );

    // No method: bad-request.
    let mut req = c.request("e-3", "GET", &origin.url("/"));
    req.method = None;
    c.send_first(&req).await;
    let e = c.recv_for("e-3").await;
    assert_eq!((e.condition, e.seq), (Some(Condition::BadRequest), Some(0)));

    // Bad scheme: bad-request.
    let req = c.request("e-3b", "GET", "ftp://x/");
    c.send_first(&req).await;
    assert_eq!(
        c.recv_for("e-3b").await.condition,
        Some(Condition::BadRequest)
    );

    // max-size: by Content-Length.
    let mut req = c.request("e-5", "GET", &origin.url("/big?n=5000"));
    req.max_size = Some(100);
    c.send_first(&req).await;
    assert_eq!(c.recv_for("e-5").await.ptype, PacketType::KeepAlive);
    assert_eq!(
        c.recv_for("e-5").await.condition,
        Some(Condition::MaxSizeExceeded)
    );

    // max-size: chunked body counted as it arrives.
    let mut req = c.request("e-5b", "GET", &origin.url("/chunked"));
    req.max_size = Some(6);
    req.stream = false;
    c.send_first(&req).await;
    assert_eq!(c.recv_for("e-5b").await.ptype, PacketType::KeepAlive);
    assert_eq!(
        c.recv_for("e-5b").await.condition,
        Some(Condition::MaxSizeExceeded)
    );

    // timeout (ms): session-timeout.
    let mut req = c.request("e-6", "GET", &origin.url("/slow"));
    req.timeout = Some(200);
    c.send_first(&req).await;
    assert_eq!(c.recv_for("e-6").await.ptype, PacketType::KeepAlive);
    assert_eq!(
        c.recv_for("e-6").await.condition,
        Some(Condition::SessionTimeout)
    );

    // Redirects: followed, and too many.
    let mut req = c.request("e-7", "GET", &origin.url("/redirect"));
    req.follow_redirects = true;
    c.send_first(&req).await;
    let (first, body, _) = c.read_stream("e-7", 1, true).await;
    assert_eq!(
        (first.code, &body[..]),
        (Some(200), &b"hello from origin\n"[..])
    );
    let req = c.request("e-7b", "GET", &origin.url("/redirect"));
    c.send_first(&req).await;
    let (first, _, _) = c.read_stream("e-7b", 1, true).await;
    assert_eq!(first.code, Some(302), "not followed without the flag");
    // 307 repeats the request with its body; 302 turns POST into GET.
    let mut req = c.request("e-7c", "POST", &origin.url("/r307"));
    req.follow_redirects = true;
    req.body = Some(Bytes::from_static(b"abc"));
    req.headers = Some(headers(&[("Content-Length", "3")]));
    c.send_first(&req).await;
    let (first, body, _) = c.read_stream("e-7c", 1, true).await;
    assert_eq!((first.code, &body[..]), (Some(200), &b"echo:abc"[..]));
    let mut req = c.request("e-7d", "POST", &origin.url("/redirect"));
    req.follow_redirects = true;
    req.body = Some(Bytes::from_static(b"abc"));
    c.send_first(&req).await;
    let (first, body, _) = c.read_stream("e-7d", 1, true).await;
    assert_eq!(
        (first.code, &body[..]),
        (Some(200), &b"hello from origin\n"[..])
    );
    // A body that does not match its Content-Length.
    let mut req = c.request("e-9", "POST", &origin.url("/echo"));
    req.body = Some(Bytes::from_static(b"abc"));
    req.headers = Some(headers(&[("Content-Length", "5")]));
    c.send_first(&req).await;
    assert_eq!(c.recv_for("e-9").await.ptype, PacketType::KeepAlive);
    assert_eq!(
        c.recv_for("e-9").await.condition,
        Some(Condition::BadRequest)
    );
    let mut req = c.request("e-8", "GET", &origin.url("/loop"));
    req.follow_redirects = true;
    c.send_first(&req).await;
    assert_eq!(c.recv_for("e-8").await.ptype, PacketType::KeepAlive);
    assert_eq!(
        c.recv_for("e-8").await.condition,
        Some(Condition::TooManyRedirects)
    );
    z.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_unknown_ids_and_user_data() {
    let origin = start_origin().await;
    let z = start_zurl("").await;
    let mut c = Client::connect(&z).await;
    // Cancel by the client: no reply at all.
    let req = c.request("x-1", "GET", &origin.url("/slow"));
    c.send_first(&req).await;
    assert_eq!(c.recv_for("x-1").await.ptype, PacketType::KeepAlive);
    c.send_next(c.follow("x-1", 1, PacketType::Cancel)).await;
    assert!(c.silent_for("x-1", Duration::from_millis(300)).await);
    // After the cancel the session is gone: a credit gets zurl's bare cancel.
    let mut credit = c.follow("x-1", 2, PacketType::Credit);
    credit.credits = Some(10);
    c.send_next(credit).await;
    let p = c.recv_for("x-1").await;
    assert_eq!(
        (p.ptype, p.seq, p.from.is_empty()),
        (PacketType::Cancel, None, true)
    );
    // user-data is echoed in every packet, latest value.
    let mut req = c.request("u-1", "GET", &origin.url("/big?n=30"));
    req.credits = Some(10);
    req.user_data = Some(Value::Bytes(Bytes::from_static(b"one")));
    c.send_first(&req).await;
    let ack = c.recv_for("u-1").await;
    assert_eq!(
        ack.user_data,
        Some(Value::Bytes(Bytes::from_static(b"one")))
    );
    let first = c.recv_for("u-1").await;
    assert_eq!(
        first.user_data,
        Some(Value::Bytes(Bytes::from_static(b"one")))
    );
    let mut credit = c.follow("u-1", 1, PacketType::Credit);
    credit.credits = Some(100);
    credit.user_data = Some(Value::Bytes(Bytes::from_static(b"two")));
    c.send_next(credit).await;
    let next = c.recv_for("u-1").await;
    assert_eq!(
        next.user_data,
        Some(Value::Bytes(Bytes::from_static(b"two")))
    );
    // Fire-and-forget: no from → nothing is sent back, but the request is made.
    let before = origin.connections.load(Ordering::SeqCst);
    let mut req = c.request("f-1", "GET", &origin.url("/hello"));
    req.from = Bytes::new();
    c.send_first(&req).await;
    assert!(c.silent_for("f-1", Duration::from_millis(300)).await);
    assert!(origin.connections.load(Ordering::SeqCst) >= before);
    // Out-of-sequence follow-up: zurl cancels.
    let mut req = c.request("q-1", "GET", &origin.url("/slow"));
    req.credits = Some(10);
    c.send_first(&req).await;
    assert_eq!(c.recv_for("q-1").await.ptype, PacketType::KeepAlive);
    c.send_next(c.follow("q-1", 5, PacketType::KeepAlive)).await;
    assert_eq!(c.recv_for("q-1").await.ptype, PacketType::Cancel);
    z.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_of_concurrent_streams() {
    let origin = start_origin().await;
    let z = start_zurl("max_open_requests=50").await;
    let mut c = Client::connect(&z).await;
    let ids: Vec<&'static str> = (0..200)
        .map(|i| &*Box::leak(format!("b-{i}").into_boxed_str()))
        .collect();
    for id in &ids {
        let req = c.request(id, "GET", &origin.url("/hello"));
        c.send_first(&req).await;
    }
    for id in &ids {
        let (first, body, _) = c.read_stream(id, 1, true).await;
        assert_eq!((first.code, body.len()), (Some(200), 18), "{id}");
    }
    z.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_open_requests_stops_reading() {
    let origin = start_origin().await;
    let z = start_zurl("max_open_requests=1").await;
    let mut c = Client::connect(&z).await;
    let req = c.request("m-1", "GET", &origin.url("/slow"));
    c.send_first(&req).await;
    assert_eq!(c.recv_for("m-1").await.ptype, PacketType::KeepAlive);
    let req = c.request("m-2", "GET", &origin.url("/hello"));
    c.send_first(&req).await;
    assert!(
        c.silent_for("m-2", Duration::from_millis(300)).await,
        "second request waits for a free slot"
    );
    c.send_next(c.follow("m-1", 1, PacketType::Cancel)).await;
    let (first, body, _) = c.read_stream("m-2", 1, true).await;
    assert_eq!((first.code, body.len()), (Some(200), 18));
    z.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inactivity_timeout_from_config() {
    let origin = start_origin().await;
    let z = start_zurl("timeout=1").await;
    let mut c = Client::connect(&z).await;
    let req = c.request("i-1", "GET", &origin.url("/slow"));
    c.send_first(&req).await;
    assert_eq!(c.recv_for("i-1").await.ptype, PacketType::KeepAlive);
    let e = c.recv_for("i-1").await;
    assert_eq!(e.condition, Some(Condition::SessionTimeout));
    // HEAD: the response has no body whatever its Content-Length says.
    let req = c.request("i-2", "HEAD", &origin.url("/hello"));
    c.send_first(&req).await;
    let (first, body, _) = c.read_stream("i-2", 1, true).await;
    assert_eq!((first.code, body.len()), (Some(200), 0));
    assert_eq!(header(&first, "Content-Length"), Some(&b"18"[..]));
    z.stop().await;
}
