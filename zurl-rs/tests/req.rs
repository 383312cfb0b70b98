//! The req interface (`in_req_spec`, DEALER → ROUTER): one request, one reply, `T` and `J`.

#[path = "support/common.rs"]
mod common;

use bytes::Bytes;
use common::*;
use pushpin_tnetstring::Value;
use pushpin_zhttp::{Condition, Id, Ids, Limits, Packet, PacketType};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tnetstring_request_with_user_data() {
    let origin = start_origin().await;
    let z = start_zurl("").await;
    let mut sock = req_client(&z).await;
    let req = Packet {
        ids: Ids::One(Id::from("req-1")),
        method: Some(Bytes::from_static(b"GET")),
        uri: Some(Bytes::from(origin.url("/hello?x=1"))),
        headers: Some(headers(&[("Accept", "*/*")])),
        user_data: Some(Value::Map(vec![(
            Bytes::from_static(b"anything"),
            Value::Bytes(Bytes::from_static(b"echoed")),
        )])),
        ..Packet::default()
    };
    let reply = req_roundtrip(&mut sock, req.to_bytes()).await;
    let p = Packet::decode(&reply, &Limits::default()).unwrap();
    assert_eq!(p.id().unwrap().as_bytes(), b"req-1");
    assert_eq!((p.seq, p.code, p.more), (Some(0), Some(200), false));
    assert!(p.from.is_empty(), "zurl sends no from in req mode");
    assert_eq!(p.body_bytes(), b"hello from origin\n");
    assert_eq!(p.user_data, req.user_data);
    assert_eq!(header(&p, "X-Origin"), Some(&b"yes"[..]));
    z.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_request_gets_json_reply() {
    let origin = start_origin().await;
    let z = start_zurl("").await;
    let mut sock = req_client(&z).await;
    let text = format!(
        r#"J{{"id":"req-2","method":"POST","uri":"{}","body":"json body"}}"#,
        origin.url("/echo")
    );
    let reply = req_roundtrip(&mut sock, Bytes::from(text)).await;
    assert_eq!(reply.first(), Some(&b'J'));
    let json: serde_json::Value = serde_json::from_slice(&reply[1..]).unwrap();
    assert_eq!(json["id"], "req-2");
    assert_eq!(json["code"], 200);
    assert_eq!(json["seq"], 0);
    assert_eq!(json["body"], "echo:json body");
    assert_eq!(json["reason"], "OK");
    z.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn req_mode_errors() {
    let origin = start_origin().await;
    let z = start_zurl("").await;
    let mut sock = req_client(&z).await;
    // `more` is not allowed on the req interface.
    let req = Packet {
        ids: Ids::One(Id::from("r-1")),
        method: Some(Bytes::from_static(b"POST")),
        uri: Some(Bytes::from(origin.url("/echo"))),
        more: true,
        ..Packet::default()
    };
    let p = Packet::decode(
        &req_roundtrip(&mut sock, req.to_bytes()).await,
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(
        (p.ptype, p.condition),
        (PacketType::Error, Some(Condition::BadRequest))
    );
    // WebSocket is not allowed on the req interface.
    let req = Packet {
        ids: Ids::One(Id::from("r-2")),
        uri: Some(Bytes::from_static(b"ws://127.0.0.1:1/")),
        ..Packet::default()
    };
    let p = Packet::decode(
        &req_roundtrip(&mut sock, req.to_bytes()).await,
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(p.condition, Some(Condition::BadRequest));
    // max-size on a buffered response.
    let req = Packet {
        ids: Ids::One(Id::from("r-3")),
        method: Some(Bytes::from_static(b"GET")),
        uri: Some(Bytes::from(origin.url("/big?n=1000"))),
        max_size: Some(10),
        ..Packet::default()
    };
    let p = Packet::decode(
        &req_roundtrip(&mut sock, req.to_bytes()).await,
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(p.condition, Some(Condition::MaxSizeExceeded));
    z.stop().await;
}
