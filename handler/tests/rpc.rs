//! The inspect RPC server under a burst: no reply is lost when the proxy
//! reads its replies later than the handler writes them.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use pushpin_internal::zrpc::{self, Outcome, Request, Response};
use pushpin_internal::{Call, InspectArgs};
use pushpin_tnetstring::Limits;
use pushpin_zmq::Multipart;
use support::{Harness, WAIT, request_data};

/// Far more replies than the DEALER's receive HWM (100) and the kernel's
/// socket buffers hold, so they must wait in the handler's ROUTER queue.
const CALLS: usize = 20_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_of_inspect_calls_gets_every_reply() {
    let mut h = Harness::start("").await;
    let args = InspectArgs {
        request: request_data("GET", "http://example.com/burst"),
        ..Default::default()
    };
    let call = Call::Inspect(args);
    for i in 0..CALLS {
        let req = Request::new(Some(Bytes::from(format!("burst-{i}"))), &call);
        let mut buf = BytesMut::new();
        req.encode(&mut buf);
        h.inspect
            .send(Multipart::from(zrpc::client_frames(buf.freeze()).to_vec()))
            .await
            .unwrap();
    }
    // the proxy is busy: the handler answers everything before it reads
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut seen = HashSet::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while seen.len() < CALLS {
        let msg = tokio::time::timeout_at(deadline, h.inspect.recv())
            .await
            .unwrap_or_else(|_| panic!("only {} of {CALLS} inspect replies arrived", seen.len()))
            .unwrap();
        let body = zrpc::client_reply(&msg).expect("reply frames");
        let reply = Response::decode(body, &Limits::default()).unwrap();
        assert!(matches!(reply.outcome, Outcome::Success(_)), "{reply:?}");
        assert!(seen.insert(reply.id.expect("reply id")), "duplicate reply");
    }
    h.stop().await;
}
