//! Compressed responses, as zurl 1.11 (libcurl 7.88) handles them: every request carries
//! libcurl's `Accept-Encoding` instead of the client's; a gzip body reaches the initiator
//! decoded, still labelled `Content-Encoding: gzip`, without `Content-Length`; a corrupt
//! body or an unknown coding is `undefined-condition` (before any response head).

#[path = "support/common.rs"]
mod common;

use common::*;
use pushpin_zhttp::{Condition, Packet, PacketType};

fn names(p: &Packet) -> Vec<String> {
    p.header_list()
        .iter()
        .map(|h| String::from_utf8_lossy(&h.name).into_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_bodies_are_decoded_and_keep_their_label() {
    let origin = start_origin().await;
    let z = start_zurl("").await;
    let mut c = Client::connect(&z).await;

    // The client's Accept-Encoding is replaced by libcurl's list.
    let mut req = c.request("e-1", "GET", &origin.url("/headers"));
    req.headers = Some(headers(&[("Accept-Encoding", "identity"), ("X-A", "1")]));
    c.send_first(&req).await;
    assert_eq!(c.recv_for("e-1").await.ptype, PacketType::KeepAlive);
    let (_, body, _) = c.read_stream("e-1", 1, true).await;
    assert_eq!(
        String::from_utf8(body).unwrap(),
        format!(
            "GET /headers HTTP/1.1\nHost: {}\nAccept: */*\nAccept-Encoding: deflate, gzip, br, zstd\nX-A: 1\n\n",
            origin.addr
        )
    );

    for (id, path, small_credits) in [
        ("e-2", "/gzip", false),
        ("e-3", "/gzip-chunked", false),
        // Decoded bytes are sent within the credits, like any body.
        ("e-4", "/gzip", true),
    ] {
        let mut req = c.request(id, "GET", &origin.url(path));
        if small_credits {
            req.credits = Some(5);
        }
        c.send_first(&req).await;
        assert_eq!(c.recv_for(id).await.ptype, PacketType::KeepAlive);
        let (first, body, packets) = c.read_stream(id, 1, true).await;
        assert_eq!(first.code, Some(200), "{path}");
        assert_eq!(body, b"hello from origin\n", "{path}");
        assert_eq!(header(&first, "Content-Encoding"), Some(&b"gzip"[..]));
        assert!(
            !names(&first).iter().any(|n| n == "Content-Length"),
            "{path}: Content-Length dropped"
        );
        if small_credits {
            assert!(packets >= 4, "{packets} packets within 5-byte credits");
        }
    }

    // Non-stream (one packet) too.
    let mut req = c.request("e-5", "GET", &origin.url("/gzip"));
    req.stream = false;
    c.send_first(&req).await;
    assert_eq!(c.recv_for("e-5").await.ptype, PacketType::KeepAlive);
    let p = c.recv_for("e-5").await;
    assert_eq!(
        (p.more, p.body_bytes()),
        (false, &b"hello from origin\n"[..])
    );
    z.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_bodies_are_undefined_condition() {
    let origin = start_origin().await;
    let z = start_zurl("").await;
    let mut c = Client::connect(&z).await;
    for (id, path) in [("b-1", "/bad-gzip"), ("b-2", "/unknown-coding")] {
        c.send_first(&c.request(id, "GET", &origin.url(path))).await;
        assert_eq!(c.recv_for(id).await.ptype, PacketType::KeepAlive);
        let p = c.recv_for(id).await;
        assert_eq!(
            (p.ptype, p.condition),
            (PacketType::Error, Some(Condition::UndefinedCondition)),
            "{path}: no head first"
        );
    }
    z.stop().await;
}
