use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::{Bytes, BytesMut};
use pushpin_internal::zrpc::{self, Outcome, Request, Response};
use pushpin_internal::{Call, Limits};
use pushpin_zmq::{AsyncSocket, Hwm, Multipart, SocketKind, SocketSpec};

use super::*;

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A DEALER bound as the proxy binds it, with a small send HWM, and a ROUTER peer.
fn pair(hwm: u32, connect_router: bool) -> (AsyncSocket, Option<AsyncSocket>) {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let spec = SocketSpec::parse(&format!("inproc://rpc-test-{}-{n}", std::process::id())).unwrap();
    let dealer = AsyncSocket::builder(SocketKind::Dealer, Hwm::both(hwm))
        .bind(spec.clone())
        .build()
        .unwrap();
    let router = connect_router.then(|| {
        AsyncSocket::builder(SocketKind::Router, Hwm::both(hwm))
            .connect(spec)
            .build()
            .unwrap()
    });
    (dealer, router)
}

/// Answers every call the ROUTER has received so far with success.
async fn answer(router: &mut AsyncSocket, n: usize) {
    let limits = Limits::default();
    for _ in 0..n {
        let msg = router.recv().await.unwrap();
        let (envelope, body) = zrpc::server_request(msg.as_slice()).unwrap();
        let req = Request::decode(body, &limits).unwrap();
        let resp = Response {
            id: req.id.clone(),
            outcome: Outcome::null(),
        };
        let mut buf = BytesMut::new();
        resp.encode(&mut buf);
        router
            .send(Multipart::from(zrpc::server_reply(envelope, buf.freeze())))
            .await
            .unwrap();
    }
}

fn call() -> Call {
    Call::Conncheck(vec![Bytes::from_static(b"c1")])
}

/// A handler that is busy (reads late) loses no call: calls beyond the DEALER's HWM wait
/// for room instead of failing (1.36 answered them `500 Accept service unavailable.`).
#[tokio::test]
async fn calls_beyond_the_hwm_wait_for_room() {
    let (dealer, router) = pair(2, true);
    let mut router = router.unwrap();
    let (client, task) = client(dealer, "test");
    tokio::spawn(task);
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.call(call()).await })
        })
        .collect();
    // the handler is slow to start reading
    tokio::time::sleep(Duration::from_millis(300)).await;
    answer(&mut router, 20).await;
    for c in calls {
        let resp = c.await.unwrap().expect("call answered");
        assert_eq!(resp.outcome, Outcome::null());
    }
}

/// With no handler connected, the first call fails after [`ROOM_WAIT`] and later calls fail
/// at once; once a handler is there, calls go through again.
#[tokio::test]
async fn missing_handler_costs_one_wait() {
    let (dealer, _) = pair(2, false);
    let (client, task) = client(dealer, "test");
    tokio::spawn(task);
    let start = Instant::now();
    assert_eq!(client.call(call()).await, Err(RpcError::Unavailable));
    let first = start.elapsed();
    assert!(first >= ROOM_WAIT, "first call failed after {first:?}");
    let start = Instant::now();
    for _ in 0..5 {
        assert_eq!(client.call(call()).await, Err(RpcError::Unavailable));
    }
    assert!(
        start.elapsed() < ROOM_WAIT,
        "later calls waited {:?}",
        start.elapsed()
    );
}
