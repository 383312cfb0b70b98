//! In-process integration tests of HTTP sessions: our connmgr against a scripted
//! ZHTTP responder and raw TCP clients (see `support/harness.rs`).

#[path = "support/harness.rs"]
mod harness;

use std::path::Path;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use harness::*;
use pushpin_connmgr::config::{Config, Listen, ListenAddr};
use pushpin_zhttp::{Ext, Id, Ids, Packet, PacketType};
use pushpin_zmq::SocketSpec;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn get_with_complete_response_and_keep_alive() {
    let mut h = Harness::start().await;
    let mut c = h.client().await;
    c.write_all(b"GET /hello?a=1 HTTP/1.1\r\nHost: example.test\r\nX-Test: yes\r\n\r\n")
        .await
        .unwrap();
    let p = h.resp.first().await;
    assert_eq!(p.from.as_ref(), b"condure");
    assert_eq!(p.seq, Some(0));
    assert!(p.ext.multi);
    assert_eq!(p.method.as_deref(), Some(b"GET".as_slice()));
    assert_eq!(
        p.uri.as_deref(),
        Some(b"http://example.test/hello?a=1".as_slice())
    );
    assert_eq!(p.credits, Some(8192));
    assert!(p.stream);
    assert!(!p.more);
    assert!(p.body.is_none());
    assert_eq!(p.peer_address.as_deref(), Some(b"127.0.0.1".as_slice()));
    let names: Vec<_> = p.header_list().iter().map(|h| text(&h.name)).collect();
    assert_eq!(names, ["Host", "X-Test"]);
    let id = p.id().unwrap().0.clone();

    // pushpin-proxy acks with keep-alive, then answers.
    h.resp
        .send(&Packet {
            ext: Ext {
                multi: true,
                quiet: false,
            },
            ..reply(RESPONDER, &id, 0, PacketType::KeepAlive)
        })
        .await;
    h.resp
        .send(&response(
            &id,
            1,
            200,
            &[("Content-Type", "text/plain")],
            "hello world\n",
            false,
        ))
        .await;
    let got = read_until(&mut c, b"hello world\n").await;
    assert_eq!(
        text(&got),
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\nhello world\n"
    );

    // Same connection, next request, fresh id.
    c.write_all(b"GET /two HTTP/1.1\r\nHost: example.test\r\n\r\n")
        .await
        .unwrap();
    let p2 = h.resp.first().await;
    let id2 = p2.id().unwrap().0.clone();
    assert_ne!(id, id2);
    h.resp.send(&response(&id2, 0, 200, &[], "2", false)).await;
    let got = read_until(&mut c, b"\r\n\r\n2").await;
    assert!(text(&got).starts_with("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"));
    // Nothing was sent on the ROUTER for completed sessions.
    assert!(h.resp.maybe_stream(NEGATIVE_WAIT).await.is_none());
    h.stop().await;
}

#[tokio::test]
async fn streamed_response_is_chunked_and_credits_return() {
    let mut h = Harness::start().await;
    let mut c = h.client().await;
    c.write_all(b"GET /stream HTTP/1.1\r\nHost: example.test\r\n\r\n")
        .await
        .unwrap();
    let id = h.resp.first().await.id().unwrap().0.clone();
    h.resp
        .send(&response(
            &id,
            0,
            200,
            &[("Content-Type", "text/plain")],
            "chunk one\n",
            true,
        ))
        .await;
    let got = read_until(&mut c, b"chunk one\n\r\n").await;
    assert_eq!(
        text(&got),
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n\r\na\r\nchunk one\n\r\n"
    );
    let credit = h.resp.stream().await;
    assert_eq!(credit.ptype, PacketType::Credit);
    assert_eq!(credit.credits, Some(10));
    assert_eq!(credit.seq, Some(1));
    assert_eq!(credit.from.as_ref(), b"condure");
    h.resp.send(&body_packet(&id, 1, "chunk two\n", true)).await;
    read_until(&mut c, b"a\r\nchunk two\n\r\n").await;
    let credit = h.resp.stream().await;
    assert_eq!((credit.seq, credit.credits), (Some(2), Some(10)));
    h.resp.send(&body_packet(&id, 2, "last\n", false)).await;
    read_until(&mut c, b"5\r\nlast\n\r\n0\r\n\r\n").await;
    h.stop().await;
}

#[tokio::test]
async fn responder_exceeding_credits_closes_the_client() {
    let mut h = Harness::start_with(|c| c.buffer_size = 100).await;
    let mut c = h.client().await;
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let p = h.resp.first().await;
    assert_eq!(p.credits, Some(100));
    let id = p.id().unwrap().0.clone();
    h.resp
        .send(&response(&id, 0, 200, &[], &"x".repeat(101), true))
        .await;
    let got = read_to_eof(&mut c).await;
    assert!(got.is_empty(), "{}", text(&got));
    h.stop().await;
}

#[tokio::test]
async fn post_body_is_sent_within_credits() {
    let mut h = Harness::start().await;
    let mut c = h.client().await;
    c.write_all(b"POST /submit HTTP/1.1\r\nHost: example.test\r\nContent-Length: 18\r\n\r\n{\"hello\": \"world\"}")
        .await
        .unwrap();
    let p = h.resp.first().await;
    assert!(p.more);
    assert!(p.body.is_none());
    let id = p.id().unwrap().0.clone();
    // No body before credits.
    assert!(h.resp.maybe_stream(NEGATIVE_WAIT).await.is_none());
    h.resp
        .send(&Packet {
            credits: Some(10),
            ..reply(RESPONDER, &id, 0, PacketType::Credit)
        })
        .await;
    let b1 = h.resp.stream().await;
    assert_eq!(
        (b1.seq, b1.body.as_deref(), b1.more),
        (Some(1), Some(b"{\"hello\": ".as_slice()), true)
    );
    h.resp
        .send(&Packet {
            credits: Some(100),
            ..reply(RESPONDER, &id, 1, PacketType::Credit)
        })
        .await;
    let b2 = h.resp.stream().await;
    assert_eq!(
        (b2.seq, b2.body.as_deref(), b2.more),
        (Some(2), Some(b"\"world\"}".as_slice()), false)
    );
    h.resp
        .send(&response(
            &id,
            2,
            201,
            &[("Content-Length", "3")],
            "ok\n",
            false,
        ))
        .await;
    let got = read_until(&mut c, b"ok\n").await;
    assert!(
        text(&got).starts_with("HTTP/1.1 201 OK\r\nContent-Length: 3\r\n\r\n"),
        "{}",
        text(&got)
    );
    h.stop().await;
}

#[tokio::test]
async fn chunked_body_with_expect_continue() {
    let mut h = Harness::start().await;
    let mut c = h.client().await;
    c.write_all(b"PUT /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n")
        .await
        .unwrap();
    let p = h.resp.first().await;
    assert!(p.more);
    let id = p.id().unwrap().0.clone();
    h.resp
        .send(&Packet {
            credits: Some(1000),
            ..reply(RESPONDER, &id, 0, PacketType::Credit)
        })
        .await;
    read_until(&mut c, b"HTTP/1.1 100 Continue\r\n\r\n").await;
    c.write_all(b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n")
        .await
        .unwrap();
    let mut body = Vec::new();
    loop {
        let p = h.resp.stream().await;
        body.extend_from_slice(p.body_bytes());
        if !p.more {
            break;
        }
    }
    assert_eq!(text(&body), "hello world");
    h.stop().await;
}

#[tokio::test]
async fn client_disconnect_sends_cancel() {
    let mut h = Harness::start().await;
    let mut c = h.client().await;
    c.write_all(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let id = h.resp.first().await.id().unwrap().0.clone();
    h.resp
        .send(&reply(RESPONDER, &id, 0, PacketType::KeepAlive))
        .await;
    h.resp
        .send(&response(&id, 1, 200, &[], "[held]\n", true))
        .await;
    read_until(&mut c, b"[held]\n").await;
    let credit = h.resp.stream().await;
    assert_eq!(credit.ptype, PacketType::Credit);
    drop(c);
    let cancel = h.resp.stream().await;
    assert_eq!((cancel.ptype, cancel.seq), (PacketType::Cancel, Some(2)));
    h.stop().await;
}

#[tokio::test]
async fn responder_cancel_and_error_close_the_client() {
    let mut h = Harness::start().await;
    for ptype in [PacketType::Cancel, PacketType::Error] {
        let mut c = h.client().await;
        c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let id = h.resp.first().await.id().unwrap().0.clone();
        h.resp.send(&reply(RESPONDER, &id, 0, ptype)).await;
        assert!(read_to_eof(&mut c).await.is_empty());
    }
    assert!(h.resp.maybe_stream(NEGATIVE_WAIT).await.is_none());
    h.stop().await;
}

#[tokio::test]
async fn handoff_moves_the_session_to_a_new_responder() {
    let mut h = Harness::start().await;
    let mut second = Responder::connect(&h.base, "test-handler_2");
    let mut c = h.client().await;
    c.write_all(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let id = h.resp.first().await.id().unwrap().0.clone();
    h.resp
        .send(&reply(RESPONDER, &id, 0, PacketType::KeepAlive))
        .await;
    h.resp
        .send(&reply(RESPONDER, &id, 1, PacketType::HandoffStart))
        .await;
    let proceed = h.resp.stream().await;
    assert_eq!(
        (proceed.ptype, proceed.seq),
        (PacketType::HandoffProceed, Some(1))
    );
    // The second responder (the handler) continues the same counters.
    let mut first = response(&id, 2, 200, &[], "hi\n", true);
    first.from = Bytes::from_static(b"test-handler_2");
    second.send(&first).await;
    read_until(&mut c, b"hi\n").await;
    let credit = within(second.stream()).await;
    assert_eq!(
        (credit.ptype, credit.seq, credit.credits),
        (PacketType::Credit, Some(2), Some(3))
    );
    drop(c);
    let cancel = second.stream().await;
    assert_eq!((cancel.ptype, cancel.seq), (PacketType::Cancel, Some(3)));
    h.stop().await;
}

#[tokio::test]
async fn out_of_sequence_packet_ends_the_session() {
    let mut h = Harness::start().await;
    let mut c = h.client().await;
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let id = h.resp.first().await.id().unwrap().0.clone();
    h.resp
        .send(&reply(RESPONDER, &id, 0, PacketType::KeepAlive))
        .await;
    h.resp
        .send(&reply(RESPONDER, &id, 5, PacketType::KeepAlive))
        .await;
    assert!(read_to_eof(&mut c).await.is_empty());
    let cancel = h.resp.stream().await;
    assert_eq!(cancel.ptype, PacketType::Cancel);
    h.stop().await;
}

#[tokio::test]
async fn keep_alives_and_session_timeout() {
    let mut h = Harness::start_with(|c| {
        c.keep_alive_interval = Duration::from_millis(100);
        c.session_timeout = Duration::from_millis(700);
    })
    .await;
    let mut c = h.client().await;
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let id = h.resp.first().await.id().unwrap().0.clone();
    h.resp
        .send(&reply(RESPONDER, &id, 0, PacketType::KeepAlive))
        .await;
    let ka = h.resp.stream().await;
    assert_eq!((ka.ptype, ka.seq), (PacketType::KeepAlive, Some(1)));
    // The responder stays silent: the client is dropped without a cancel.
    assert!(read_to_eof(&mut c).await.is_empty());
    while let Some(p) = h.resp.maybe_stream(NEGATIVE_WAIT).await {
        assert_eq!(p.ptype, PacketType::KeepAlive);
    }
    h.stop().await;
}

#[tokio::test]
async fn list_form_ids_reach_each_session() {
    let mut h = Harness::start().await;
    let mut clients = Vec::new();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let mut c = h.client().await;
        c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        ids.push(h.resp.first().await.id().unwrap().0.clone());
        clients.push(c);
    }
    let batch = Packet {
        from: Bytes::from_static(RESPONDER.as_bytes()),
        ids: Ids::Many(
            ids.iter()
                .map(|id| pushpin_zhttp::IdSeq {
                    id: Id(id.clone()),
                    seq: Some(0),
                })
                .collect(),
        ),
        ptype: PacketType::KeepAlive,
        ..Packet::default()
    };
    h.resp.send(&batch).await;
    for (i, id) in ids.iter().enumerate() {
        h.resp
            .send(&response(id, 1, 200, &[], &i.to_string(), false))
            .await;
    }
    for (i, c) in clients.iter_mut().enumerate() {
        read_until(c, format!("\r\n\r\n{i}").as_bytes()).await;
    }
    h.stop().await;
}

#[tokio::test]
async fn http10_head_and_no_body_statuses() {
    let mut h = Harness::start().await;
    // HTTP/1.0 with unknown length: close-delimited.
    let mut c = h.client().await;
    c.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
    let p = h.resp.first().await;
    assert!(p.uri.as_deref().unwrap().starts_with(b"http://127.0.0.1:"));
    let id = p.id().unwrap().0.clone();
    h.resp.send(&response(&id, 0, 200, &[], "abc", true)).await;
    h.resp.send(&body_packet(&id, 1, "def", false)).await;
    assert_eq!(
        text(&read_to_eof(&mut c).await),
        "HTTP/1.0 200 OK\r\n\r\nabcdef"
    );

    // HTTP/1.0 keep-alive with a known length.
    let mut c = h.client().await;
    c.write_all(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .await
        .unwrap();
    let id = h.resp.first().await.id().unwrap().0.clone();
    h.resp.send(&response(&id, 0, 200, &[], "abc", false)).await;
    let got = read_until(&mut c, b"abc").await;
    assert_eq!(
        text(&got),
        "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\nabc"
    );

    // HEAD keeps the length header but sends no body.
    let mut c = h.client().await;
    c.write_all(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let id = h.resp.first().await.id().unwrap().0.clone();
    h.resp
        .send(&response(
            &id,
            0,
            200,
            &[("Content-Length", "42")],
            "",
            false,
        ))
        .await;
    let got = read_until(&mut c, b"\r\n\r\n").await;
    assert_eq!(text(&got), "HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n");

    // 204 has no body and no framing headers; Connection: close is honoured.
    let mut c = h.client().await;
    c.write_all(b"DELETE /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let id = h.resp.first().await.id().unwrap().0.clone();
    h.resp.send(&response(&id, 0, 204, &[], "", false)).await;
    assert_eq!(
        text(&read_to_eof(&mut c).await),
        "HTTP/1.1 204 OK\r\nConnection: close\r\n\r\n"
    );
    h.stop().await;
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let mut h = Harness::start().await;
    let mut c = h.client().await;
    c.write_all(b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let p1 = h.resp.first().await;
    assert!(p1.uri.as_deref().unwrap().ends_with(b"/1"));
    h.resp
        .send(&response(&p1.id().unwrap().0, 0, 200, &[], "one", false))
        .await;
    let p2 = h.resp.first().await;
    assert!(p2.uri.as_deref().unwrap().ends_with(b"/2"));
    h.resp
        .send(&response(&p2.id().unwrap().0, 0, 200, &[], "two", false))
        .await;
    let got = read_until(&mut c, b"two").await;
    let t = text(&got);
    assert!(t.find("one").unwrap() < t.find("two").unwrap());
    h.stop().await;
}

#[tokio::test]
async fn bad_requests_get_an_answer_and_others_keep_working() {
    let mut h = Harness::start_with(|c| c.buffer_size = 1024).await;
    let cases: [(&[u8], &str); 4] = [
        (b"GARBAGE\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n"),
        (
            b"GET / HTTP/1.1\r\nHost x\r\n\r\n",
            "HTTP/1.1 400 Bad Request\r\n",
        ),
        (
            b"POST / HTTP/1.1\r\nContent-Length: nope\r\n\r\n",
            "HTTP/1.1 400 Bad Request\r\n",
        ),
        (
            b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
            "HTTP/1.1 501 Not Implemented\r\n",
        ),
    ];
    for (input, want) in cases {
        let mut c = h.client().await;
        c.write_all(input).await.unwrap();
        let got = text(&read_to_eof(&mut c).await);
        assert!(got.starts_with(want), "{got}");
        assert!(got.contains("Connection: close\r\n"));
    }
    // Header block larger than the buffer, and too many headers: 431.
    let mut big = b"GET / HTTP/1.1\r\nX-Big: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', 2000));
    big.extend_from_slice(b"\r\n\r\n");
    let mut many = b"GET / HTTP/1.1\r\n".to_vec();
    for i in 0..70 {
        many.extend_from_slice(format!("H{i}: v\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    for input in [big, many] {
        let mut c = h.client().await;
        c.write_all(&input).await.unwrap();
        let got = text(&read_to_eof(&mut c).await);
        assert!(
            got.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            "{got}"
        );
    }
    // Nothing reached the responder, and a good request still works.
    let mut c = h.client().await;
    c.write_all(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let p = h.resp.first().await;
    assert!(p.uri.as_deref().unwrap().ends_with(b"/ok"));
    h.stop().await;
}

#[tokio::test]
async fn slow_header_block_times_out() {
    let mut h = Harness::start_with(|c| c.header_timeout = Duration::from_millis(300)).await;
    let mut c = h.client().await;
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    assert!(read_to_eof(&mut c).await.is_empty());
    h.resp
        .send(&reply(
            RESPONDER,
            &Bytes::from_static(b"nope"),
            0,
            PacketType::KeepAlive,
        ))
        .await;
    h.stop().await;
}

#[tokio::test]
async fn connection_limit_refuses_extra_clients() {
    let mut h = Harness::start_with(|c| c.stream_maxconn = 2).await;
    // Take both slots with clients whose requests reached the responder (the
    // warm-up connection may still hold a slot for a moment: then a client is
    // refused and we try again).
    let mut held = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while held.len() < 2 {
        assert!(tokio::time::Instant::now() < deadline, "slots never freed");
        let mut c = h.client().await;
        c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = Vec::new();
        tokio::select! {
            _ = h.resp.first() => held.push(c),
            res = c.read_to_end(&mut buf) => {
                res.unwrap();
                assert!(text(&buf).starts_with("HTTP/1.1 503 "), "{}", text(&buf));
            }
        }
    }
    let mut extra = h.client().await;
    let got = text(&read_to_eof(&mut extra).await);
    assert!(
        got.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
        "{got}"
    );
    h.stop().await;
}

#[tokio::test]
async fn shutdown_cancels_open_sessions() {
    let mut h = Harness::start().await;
    let mut c = h.client().await;
    c.write_all(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let id = h.resp.first().await.id().unwrap().0.clone();
    h.resp
        .send(&reply(RESPONDER, &id, 0, PacketType::KeepAlive))
        .await;
    // Wait until the session knows the responder (its keep-alive was handled).
    h.resp.send(&response(&id, 1, 200, &[], "x", true)).await;
    read_until(&mut c, b"x\r\n").await;
    assert_eq!(h.resp.stream().await.ptype, PacketType::Credit);
    let _ = h.stop.take().unwrap().send(());
    let cancel = h.resp.stream().await;
    assert_eq!((cancel.ptype, cancel.seq), (PacketType::Cancel, Some(2)));
    within(h.task.take().unwrap()).await.unwrap().unwrap();
}

#[tokio::test]
async fn unix_listener_serves_requests() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("server.sock");
    let mut h = Harness::start_with(|c| {
        c.listen
            .push(Listen::plain(ListenAddr::Local(sock.clone())));
    })
    .await;
    let mut c = within(tokio::net::UnixStream::connect(&sock))
        .await
        .unwrap();
    c.write_all(b"GET /local HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let p = h.resp.first().await;
    assert!(p.peer_address.is_none());
    h.resp
        .send(&response(&p.id().unwrap().0, 0, 200, &[], "unix", false))
        .await;
    let mut buf = BytesMut::new();
    within(async {
        while !buf.ends_with(b"unix") {
            assert!(c.read_buf(&mut buf).await.unwrap() > 0);
        }
    })
    .await;
    h.stop().await;
    assert!(!Path::new(&sock).exists());
}

#[tokio::test]
async fn bad_config_is_refused_before_binding() {
    let mut config = Config::new(Vec::new(), Vec::new());
    config.id = "has space".into();
    let err = pushpin_connmgr::Server::bind(config)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("no listeners") && err.contains("invalid id"),
        "{err}"
    );
    let _ = SocketSpec::parse("ipc://x").unwrap();
}

#[tokio::test]
async fn idle_keep_alive_connection_times_out() {
    let mut h = Harness::start_with(|c| c.stream_timeout = Duration::from_millis(300)).await;
    let mut c = h.client().await;
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let id = h.resp.first().await.id().unwrap().0.clone();
    h.resp.send(&response(&id, 0, 200, &[], "ok", false)).await;
    let got = read_to_eof(&mut c).await;
    assert!(text(&got).ends_with("\r\n\r\nok"), "{}", text(&got));
    h.stop().await;
}

#[tokio::test]
async fn zclient_connect_mode_reaches_a_bound_responder() {
    let mut h = Harness::start_connecting().await;
    let mut c = h.client().await;
    c.write_all(b"GET /c HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let id = h.resp.first().await.id().unwrap().0.clone();
    h.resp
        .send(&response(&id, 0, 200, &[], "connected", false))
        .await;
    read_until(&mut c, b"connected").await;
    h.stop().await;
}

#[tokio::test]
async fn burst_of_200_concurrent_stream_opens() {
    let mut h = Harness::start().await;
    let addr = h.addr;
    let mut clients = tokio::task::JoinSet::new();
    for i in 0..200 {
        clients.spawn(async move {
            let mut c = within(tokio::net::TcpStream::connect(addr)).await.unwrap();
            c.write_all(format!("GET /s/{i} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
                .await
                .unwrap();
            read_until(&mut c, format!("[held {i}]").as_bytes()).await;
            c
        });
    }
    for _ in 0..200 {
        let p = h.resp.first().await;
        let uri = text(p.uri.as_deref().unwrap());
        let n = uri.rsplit('/').next().unwrap().to_owned();
        let id = p.id().unwrap().0.clone();
        h.resp
            .send(&response(&id, 0, 200, &[], &format!("[held {n}]"), true))
            .await;
    }
    let mut held = Vec::new();
    while let Some(c) = within(clients.join_next()).await {
        held.push(c.unwrap());
    }
    assert_eq!(held.len(), 200);
    h.stop().await;
}
