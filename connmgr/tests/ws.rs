//! In-process integration tests of WebSocket sessions, replaying the captured
//! condure exchange (`spec/vectors/condure/ws.jsonl`, `ws-reject.jsonl`) against a
//! scripted ZHTTP responder (see `support/harness.rs`).

#[path = "support/harness.rs"]
mod harness;

use base64::Engine as _;
use bytes::Bytes;
use harness::*;
use pushpin_zhttp::{Condition, ContentType, Packet, PacketType};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

/// A masked client frame.
fn client_frame(op: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mask = [9u8, 8, 7, 6];
    let mut v = vec![if fin { 0x80 } else { 0 } | op];
    if payload.len() < 126 {
        v.push(0x80 | payload.len() as u8);
    } else {
        v.push(0x80 | 126);
        v.extend_from_slice(&u16::try_from(payload.len()).unwrap().to_be_bytes());
    }
    v.extend_from_slice(&mask);
    v.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    v
}

const HANDSHAKE: &[u8] = b"GET /ws?x=1 HTTP/1.1\r\nHost: example.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: LJXjOjN0lMc3offeZvzyAA==\r\nSec-WebSocket-Protocol: chat\r\n\r\n";

/// Opens a WebSocket through the harness; returns the client and session id.
async fn open(h: &mut Harness, credits: u32) -> (TcpStream, Bytes) {
    let mut c = h.client().await;
    c.write_all(HANDSHAKE).await.unwrap();
    let p = h.resp.first().await;
    assert_eq!(
        p.uri.as_deref(),
        Some(b"ws://example.test/ws?x=1".as_slice())
    );
    assert_eq!(p.credits, Some(8192));
    assert!(!p.stream && !p.more);
    assert_eq!(p.method.as_deref(), Some(b"GET".as_slice()));
    let id = p.id().unwrap().0.clone();
    let mut accept = response(
        &id,
        0,
        101,
        &[("Sec-WebSocket-Protocol", "chat")],
        "",
        false,
    );
    accept.reason = Some(Bytes::from_static(b"Switching Protocols"));
    accept.body = None;
    accept.credits = Some(credits);
    h.resp.send(&accept).await;
    let got = read_until(&mut c, b"\r\n\r\n").await;
    assert_eq!(
        text(&got),
        "HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Protocol: chat\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: l6lF7r0fhUcJCjZuLv9yTy4OOQ4=\r\n\r\n"
    );
    (c, id)
}

#[tokio::test]
async fn captured_websocket_exchange() {
    let mut h = Harness::start().await;
    let (mut c, id) = open(&mut h, 16384).await;

    // Client messages, the captured bytes.
    c.write_all(&b64("gYpK1cAvIrCsQyX1tEoyoQ==")).await.unwrap();
    let p = h.resp.stream().await;
    assert_eq!(
        (p.seq, p.content_type.clone(), p.body.as_deref()),
        (
            Some(1),
            Some(ContentType::Text),
            Some(b"hello text".as_slice())
        )
    );
    c.write_all(&b64("gokW0m3gFtNvgn+8DJJv")).await.unwrap();
    let p = h.resp.stream().await;
    assert_eq!(
        (p.seq, p.content_type.clone(), p.body.as_deref()),
        (
            Some(2),
            Some(ContentType::Binary),
            Some(b"\x00\x01\x02binary".as_slice())
        )
    );

    // Responder messages become exactly the captured frames.
    h.resp.send(&body_packet(&id, 1, "reply text", false)).await;
    let mut bin = reply(RESPONDER, &id, 2, PacketType::Data);
    bin.content_type = Some(ContentType::Binary);
    bin.body = Some(Bytes::from_static(b"\xff\xfe"));
    h.resp.send(&bin).await;
    let mut ping = reply(RESPONDER, &id, 3, PacketType::Ping);
    ping.body = Some(Bytes::from_static(b"pp"));
    h.resp.send(&ping).await;
    let mut want = b64("gQpyZXBseSB0ZXh0");
    want.extend(b64("ggL//g=="));
    want.extend(b64("iQJwcA=="));
    let got = read_until(&mut c, &b64("iQJwcA==")).await;
    assert_eq!(got, want);
    // Credits come back for the 14 payload bytes written.
    let mut returned = 0;
    while returned < 14 {
        let p = h.resp.stream().await;
        assert_eq!(p.ptype, PacketType::Credit);
        returned += p.credits.unwrap();
    }
    assert_eq!(returned, 14);

    // Client ping is forwarded with its payload; client close carries code and reason.
    c.write_all(&b64("iYXp+Hs/iogSUY4=")).await.unwrap();
    let p = h.resp.stream().await;
    assert_eq!(
        (p.ptype, p.body.as_deref()),
        (PacketType::Ping, Some(b"cping".as_slice()))
    );
    c.write_all(&b64("iIZqwAlCaShtLQSl")).await.unwrap();
    let p = h.resp.stream().await;
    assert_eq!(
        (p.ptype, p.code, p.body.as_deref()),
        (PacketType::Close, Some(1000), Some(b"done".as_slice()))
    );
    let mut close = reply(RESPONDER, &id, 4, PacketType::Close);
    close.code = Some(1000);
    close.body = Some(Bytes::from_static(b"bye"));
    h.resp.send(&close).await;
    assert_eq!(read_to_eof(&mut c).await, b64("iAUD6GJ5ZQ=="));
    h.stop().await;
}

#[tokio::test]
async fn client_frames_wait_for_credits_and_fragments_keep_more() {
    let mut h = Harness::start().await;
    let (mut c, id) = open(&mut h, 3).await;
    c.write_all(&client_frame(0x1, false, b"abc"))
        .await
        .unwrap();
    c.write_all(&client_frame(0x0, true, b"defg"))
        .await
        .unwrap();
    let p = h.resp.stream().await;
    assert_eq!((p.body.as_deref(), p.more), (Some(b"abc".as_slice()), true));
    // 4 bytes do not fit the remaining 0 credits.
    assert!(h.resp.maybe_stream(NEGATIVE_WAIT).await.is_none());
    let mut credit = reply(RESPONDER, &id, 1, PacketType::Credit);
    credit.credits = Some(4);
    h.resp.send(&credit).await;
    let p = h.resp.stream().await;
    assert_eq!(
        (p.body.as_deref(), p.more, p.content_type),
        (Some(b"defg".as_slice()), false, Some(ContentType::Text))
    );
    h.stop().await;
}

#[tokio::test]
async fn large_messages_stream_in_pieces_both_ways() {
    let mut h = Harness::start().await;
    let (mut c, id) = open(&mut h, 5000).await;
    let big: Vec<u8> = (0..20000u32).map(|i| b'a' + (i % 26) as u8).collect();
    c.write_all(&client_frame(0x1, true, &big)).await.unwrap();
    let mut got = Vec::new();
    let mut seq = 1;
    loop {
        let p = h.resp.stream().await;
        assert_eq!(p.ptype, PacketType::Data);
        assert!(p.body_bytes().len() <= 5000);
        got.extend_from_slice(p.body_bytes());
        if !p.more {
            break;
        }
        // Grant credits for what was received, as pushpin-proxy does.
        let mut credit = reply(RESPONDER, &id, seq, PacketType::Credit);
        credit.credits = Some(u32::try_from(p.body_bytes().len()).unwrap());
        h.resp.send(&credit).await;
        seq += 1;
    }
    assert_eq!(got, big);

    // The responder sends a message larger than our 8192 credits in pieces.
    let mut rseq = seq;
    let mut sent = 0;
    let mut frames = Vec::new();
    while sent < big.len() {
        let n = (big.len() - sent).min(8192);
        let mut p = reply(RESPONDER, &id, rseq, PacketType::Data);
        p.body = Some(Bytes::copy_from_slice(&big[sent..sent + n]));
        sent += n;
        p.more = sent < big.len();
        h.resp.send(&p).await;
        rseq += 1;
        // Wait for the credit before sending more.
        if p.more {
            let credit = h.resp.stream().await;
            assert_eq!(credit.ptype, PacketType::Credit);
            assert_eq!(credit.credits, Some(u32::try_from(n).unwrap()));
        }
        frames.push((n, p.more));
    }
    // First frame text, then continuations; only the last has FIN.
    let mut expect = Vec::new();
    for (i, (n, more)) in frames.iter().enumerate() {
        let b0 = if *more { 0 } else { 0x80 } | if i == 0 { 0x1 } else { 0x0 };
        expect.push(b0);
        expect.push(126);
        expect.extend_from_slice(&u16::try_from(*n).unwrap().to_be_bytes());
    }
    let last_len = frames.last().unwrap().0;
    let total: usize = frames.iter().map(|(n, _)| n + 4).sum();
    let mut buf = Vec::new();
    while buf.len() < total {
        let mut chunk = vec![0u8; 65536];
        let n = within(tokio::io::AsyncReadExt::read(&mut c, &mut chunk))
            .await
            .unwrap();
        assert!(n > 0);
        buf.extend_from_slice(&chunk[..n]);
    }
    let mut at = 0;
    let mut payload = Vec::new();
    for (i, (n, _)) in frames.iter().enumerate() {
        assert_eq!(&buf[at..at + 4], &expect[i * 4..i * 4 + 4]);
        payload.extend_from_slice(&buf[at + 4..at + 4 + n]);
        at += 4 + n;
    }
    assert_eq!(payload, big);
    assert!(last_len > 0);
    h.stop().await;
}

#[tokio::test]
async fn unmasked_client_frame_is_a_protocol_error() {
    let mut h = Harness::start().await;
    let (mut c, _id) = open(&mut h, 100).await;
    c.write_all(b"\x81\x02hi").await.unwrap();
    // Close frame 1002, then EOF; the responder gets a cancel.
    assert_eq!(read_to_eof(&mut c).await, b"\x88\x02\x03\xea");
    assert_eq!(h.resp.stream().await.ptype, PacketType::Cancel);
    h.stop().await;
}

#[tokio::test]
async fn rejected_handshake_writes_the_responders_answer() {
    let mut h = Harness::start().await;
    let mut c = h.client().await;
    c.write_all(HANDSHAKE).await.unwrap();
    let id = h.resp.first().await.id().unwrap().0.clone();
    let mut reject = response(
        &id,
        0,
        403,
        &[("Content-Type", "text/plain")],
        "go away\n",
        false,
    );
    reject.ptype = PacketType::Error;
    reject.condition = Some(Condition::Rejected);
    reject.reason = Some(Bytes::from_static(b"Forbidden"));
    h.resp.send(&reject).await;
    assert_eq!(
        text(&read_to_eof(&mut c).await),
        "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 8\r\n\r\ngo away\n"
    );
    h.stop().await;
}

#[tokio::test]
async fn bad_handshakes_get_400_without_a_session() {
    let mut h = Harness::start().await;
    for req in [
        "POST /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: a\r\n\r\n",
        "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: a\r\n\r\n",
        "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n",
    ] {
        let mut c = h.client().await;
        c.write_all(req.as_bytes()).await.unwrap();
        let got = text(&read_to_eof(&mut c).await);
        assert!(got.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{got}");
    }
    assert!(
        tokio::time::timeout(NEGATIVE_WAIT, h.resp.pull.recv())
            .await
            .is_err()
    );
    let _ = Packet::default();
    h.stop().await;
}

#[tokio::test]
async fn responder_initiated_close_waits_for_the_client() {
    let mut h = Harness::start().await;
    let (mut c, id) = open(&mut h, 100).await;
    let mut close = reply(RESPONDER, &id, 1, PacketType::Close);
    close.code = Some(4001);
    close.body = Some(Bytes::from_static(b"later"));
    h.resp.send(&close).await;
    read_until(&mut c, b"\x88\x07\x0f\xa1later").await;
    c.write_all(&client_frame(0x8, true, b"\x0f\xa1"))
        .await
        .unwrap();
    let p = h.resp.stream().await;
    assert_eq!((p.ptype, p.code), (PacketType::Close, Some(4001)));
    assert!(read_to_eof(&mut c).await.is_empty());
    h.stop().await;
}
