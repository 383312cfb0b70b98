//! Message exchange over real sockets for every pattern Pushpin uses:
//! PUSH/PULL, PUB/SUB, ROUTER/ROUTER, ROUTER/DEALER, REQ/REP and XPUB, plus a
//! 100,000-message burst and HWM backpressure. Every wait is bounded.

use std::collections::VecDeque;
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use pushpin_zmq::{
    AsyncSocket, Envelope, Hwm, Interest, Multipart, SocketKind, SocketSpec, TrySendError,
};
use tokio::time::timeout;

/// Upper bound for anything that should happen.
const WAIT: Duration = Duration::from_secs(10);
/// How long something that must not happen is given to happen anyway.
const NEGATIVE_WAIT: Duration = Duration::from_millis(200);

async fn within<F: Future>(f: F) -> F::Output {
    timeout(WAIT, f).await.expect("timed out")
}

fn mp(frames: &[&[u8]]) -> Multipart {
    frames.iter().map(|f| Bytes::copy_from_slice(f)).collect()
}

fn ipc(dir: &Path, name: &str) -> SocketSpec {
    SocketSpec::Ipc(dir.join(name))
}

fn inproc(name: &str) -> SocketSpec {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    SocketSpec::Inproc(format!("{name}-{}", NEXT.fetch_add(1, Ordering::Relaxed)))
}

fn tcp_any() -> SocketSpec {
    SocketSpec::parse("tcp://127.0.0.1:0").unwrap()
}

#[tokio::test]
async fn push_pull_multipart_over_ipc() {
    let dir = tempfile::tempdir().unwrap();
    let spec = ipc(dir.path(), "push-pull");
    let mut pull = AsyncSocket::builder(SocketKind::Pull, Hwm::both(100))
        .bind(spec.clone())
        .build()
        .unwrap();
    let mut push = AsyncSocket::builder(SocketKind::Push, Hwm::both(100))
        .connect(spec)
        .build()
        .unwrap();

    within(push.send(mp(&[b"T12:3:abc,}"]))).await.unwrap();
    within(push.send(mp(&[b"a", b"", b"c", b"d", b"e"])))
        .await
        .unwrap();
    assert_eq!(within(pull.recv()).await.unwrap(), mp(&[b"T12:3:abc,}"]));
    assert_eq!(
        within(pull.recv()).await.unwrap(),
        mp(&[b"a", b"", b"c", b"d", b"e"])
    );
    assert_eq!(pull.try_recv().unwrap(), None);
}

#[tokio::test]
async fn large_frames_survive_zero_copy_receive() {
    let spec = inproc("large");
    let mut pull = AsyncSocket::builder(SocketKind::Pull, Hwm::both(10))
        .bind(spec.clone())
        .build()
        .unwrap();
    let mut push = AsyncSocket::builder(SocketKind::Push, Hwm::both(10))
        .connect(spec)
        .build()
        .unwrap();
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let msg = mp(&[b"small", &big, b""]);
    within(push.send(msg.clone())).await.unwrap();
    let got = within(pull.recv()).await.unwrap();
    assert_eq!(got, msg);
    drop(pull);
    // The received frame outlives the socket it came from.
    assert_eq!(got[1].len(), big.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pub_sub_filters_by_topic_prefix() {
    let mut publisher = AsyncSocket::builder(SocketKind::Pub, Hwm::both(1000))
        .bind(tcp_any())
        .build()
        .unwrap();
    let endpoint = publisher.last_endpoint().unwrap().unwrap();
    let mut sub = AsyncSocket::builder(SocketKind::Sub, Hwm::both(1000))
        .subscribe(&b"condure "[..])
        .connect(endpoint)
        .build()
        .unwrap();

    // Subscriptions propagate asynchronously ("slow joiner"): publish until
    // one matching message gets through, waiting a bounded time per round.
    let mut first = None;
    for _ in 0..500 {
        publisher.send(mp(&[b"other T1"])).await.unwrap();
        publisher.send(mp(&[b"condure T1"])).await.unwrap();
        if let Ok(got) = timeout(Duration::from_millis(20), sub.recv()).await {
            first = Some(got.unwrap());
            break;
        }
    }
    assert_eq!(first, Some(mp(&[b"condure T1"])));

    publisher.send(mp(&[b"other T2"])).await.unwrap();
    publisher.send(mp(&[b"condure-x T2"])).await.unwrap();
    publisher.send(mp(&[b"condure T-end"])).await.unwrap();
    // Order is kept per connection, so anything not filtered out would show
    // up before the end marker.
    loop {
        let got = within(sub.recv()).await.unwrap();
        if got == mp(&[b"condure T-end"]) {
            break;
        }
        assert_eq!(got, mp(&[b"condure T1"]));
    }
}

#[tokio::test]
async fn xpub_receives_subscriptions() {
    let spec = inproc("xpub");
    let mut xpub = AsyncSocket::builder(SocketKind::XPub, Hwm::both(100))
        .xpub_verbose(true)
        .bind(spec.clone())
        .build()
        .unwrap();
    let mut sub = AsyncSocket::builder(SocketKind::Sub, Hwm::both(100))
        .connect(spec)
        .build()
        .unwrap();
    sub.subscribe(b"pushpin-proxy_1 ").unwrap();
    assert_eq!(
        within(xpub.recv()).await.unwrap(),
        mp(&[b"\x01pushpin-proxy_1 "])
    );
    // The XPUB has the subscription now, so this is delivered.
    within(xpub.send(mp(&[b"pushpin-proxy_1 T0:}"])))
        .await
        .unwrap();
    assert_eq!(
        within(sub.recv()).await.unwrap(),
        mp(&[b"pushpin-proxy_1 T0:}"])
    );
    sub.unsubscribe(b"pushpin-proxy_1 ").unwrap();
    assert_eq!(
        within(xpub.recv()).await.unwrap(),
        mp(&[b"\x00pushpin-proxy_1 "])
    );
}

#[tokio::test]
async fn router_to_router_by_identity() {
    let dir = tempfile::tempdir().unwrap();
    let spec = ipc(dir.path(), "condure-out-stream");
    // condure: binding ROUTER, ROUTER_MANDATORY, random identity.
    let mut condure = AsyncSocket::builder(SocketKind::Router, Hwm::both(100))
        .router_mandatory(true)
        .bind(spec.clone())
        .build()
        .unwrap();
    // pushpin: connecting ROUTER whose identity is its instance id. The
    // probe tells the binding side that the peer is there, without sleeping.
    let mut proxy = AsyncSocket::builder(SocketKind::Router, Hwm::both(101_000))
        .identity(&b"pushpin-proxy_7"[..])
        .probe_router(true)
        .connect(spec)
        .build()
        .unwrap();

    assert_eq!(
        within(condure.recv()).await.unwrap(),
        mp(&[b"pushpin-proxy_7", b""])
    );

    let to_proxy = Envelope::to_peer(&b"pushpin-proxy_7"[..], Bytes::from_static(b"T1:x,"));
    within(condure.send(to_proxy)).await.unwrap();
    let (ids, body) = Envelope::split_single(within(proxy.recv()).await.unwrap()).unwrap();
    assert_eq!(body, Bytes::from_static(b"T1:x,"));
    assert_eq!(ids.len(), 1);
    // libzmq's generated routing id: 5 bytes starting with a zero byte.
    assert_eq!(ids[0].len(), 5);
    assert_eq!(ids[0][0], 0);

    let reply = Envelope {
        ids,
        content: mp(&[b"T1:y,"]),
    };
    within(proxy.send(reply)).await.unwrap();
    assert_eq!(
        within(condure.recv()).await.unwrap(),
        mp(&[b"pushpin-proxy_7", b"", b"T1:y,"])
    );

    // ROUTER_MANDATORY: an unknown identity is an error, not a silent drop.
    let unknown = mp(&[b"nobody", b"", b"T0:}"]);
    match condure.try_send(unknown.clone()) {
        Err(TrySendError::Failed(e)) => assert!(e.is_host_unreachable(), "{e}"),
        other => panic!("expected host unreachable, got {other:?}"),
    }
    let e = within(condure.send(unknown.clone())).await.unwrap_err();
    assert!(e.is_host_unreachable(), "{e}");
    let mut queue = VecDeque::from([unknown.clone()]);
    let e = within(condure.send_batch(&mut queue, 8)).await.unwrap_err();
    assert!(e.is_host_unreachable(), "{e}");
    assert_eq!(queue.front(), Some(&unknown), "failed message stays queued");
}

#[tokio::test]
async fn router_and_dealer_both_modes() {
    // Stream mode (proxy → zurl): zurl's DEALER binds with its identity, the
    // proxy's ROUTER connects and addresses it by that identity.
    let dir = tempfile::tempdir().unwrap();
    let stream_spec = ipc(dir.path(), "zurl-in-stream");
    let mut zurl = AsyncSocket::builder(SocketKind::Dealer, Hwm::both(1000))
        .identity(&b"zurl_1"[..])
        .bind(stream_spec.clone())
        .build()
        .unwrap();
    let mut proxy = AsyncSocket::builder(SocketKind::Router, Hwm::both(101_000))
        .immediate(true)
        .router_mandatory(true)
        .connect(stream_spec)
        .build()
        .unwrap();
    // The ROUTER learns the identity once the connection is up; a first
    // message from the DEALER (which waits for a peer) marks that moment.
    // (`probe_router` would do it too, but libzmq only probes from the
    // connecting side.)
    within(zurl.send(mp(&[b"", b"T5:hello,"]))).await.unwrap();
    assert_eq!(
        within(proxy.recv()).await.unwrap(),
        mp(&[b"zurl_1", b"", b"T5:hello,"])
    );
    within(proxy.send(mp(&[b"zurl_1", b"", b"T1:a,"])))
        .await
        .unwrap();
    assert_eq!(within(zurl.recv()).await.unwrap(), mp(&[b"", b"T1:a,"]));
    within(zurl.send(mp(&[b"", b"T1:b,"]))).await.unwrap();
    let env = Envelope::split(within(proxy.recv()).await.unwrap()).unwrap();
    assert_eq!(env.ids, mp(&[b"zurl_1"]));
    assert_eq!(env.content, mp(&[b"T1:b,"]));

    // Req mode (condure → handler): condure's DEALER binds and sends first,
    // the ROUTER connects and answers through the received envelope.
    let req_spec = ipc(dir.path(), "condure-req");
    let mut condure = AsyncSocket::builder(SocketKind::Dealer, Hwm::both(100))
        .bind(req_spec.clone())
        .build()
        .unwrap();
    let mut handler = AsyncSocket::builder(SocketKind::Router, Hwm::both(100))
        .connect(req_spec)
        .build()
        .unwrap();
    // No peer yet: the DEALER's send waits until the ROUTER connects.
    within(condure.send(mp(&[b"", b"T1:r,"]))).await.unwrap();
    let request = Envelope::split(within(handler.recv()).await.unwrap()).unwrap();
    assert_eq!(request.content, mp(&[b"T1:r,"]));
    let reply = Envelope {
        ids: request.ids,
        content: mp(&[b"T1:s,"]),
    };
    within(handler.send(reply)).await.unwrap();
    assert_eq!(within(condure.recv()).await.unwrap(), mp(&[b"", b"T1:s,"]));
}

#[tokio::test]
async fn req_rep_round_trip() {
    let spec = inproc("req-rep");
    let mut rep = AsyncSocket::builder(SocketKind::Rep, Hwm::both(100))
        .bind(spec.clone())
        .build()
        .unwrap();
    let mut req = AsyncSocket::builder(SocketKind::Req, Hwm::both(100))
        .connect(spec)
        .build()
        .unwrap();
    for i in 0..3u8 {
        within(req.send(mp(&[b"ping", &[i]]))).await.unwrap();
        assert_eq!(within(rep.recv()).await.unwrap(), mp(&[b"ping", &[i]]));
        within(rep.send(mp(&[b"pong", &[i]]))).await.unwrap();
        assert_eq!(within(req.recv()).await.unwrap(), mp(&[b"pong", &[i]]));
    }
    // REQ enforces alternation: a second request before the reply is an
    // error from libzmq, reported, not hidden.
    within(req.send(mp(&[b"one"]))).await.unwrap();
    assert!(req.try_send(mp(&[b"two"])).is_err());
}

#[tokio::test]
async fn ready_reports_each_direction() {
    let spec = inproc("ready");
    let mut a = AsyncSocket::builder(SocketKind::Dealer, Hwm::both(10))
        .bind(spec.clone())
        .build()
        .unwrap();
    let mut b = AsyncSocket::builder(SocketKind::Dealer, Hwm::both(10))
        .connect(spec)
        .build()
        .unwrap();
    let r = within(a.ready(Interest::READABLE | Interest::WRITABLE))
        .await
        .unwrap();
    assert!(r.is_writable() && !r.is_readable());
    assert!(
        timeout(NEGATIVE_WAIT, a.ready(Interest::READABLE))
            .await
            .is_err(),
        "nothing was sent, so nothing is readable"
    );
    within(b.send(mp(&[b"x"]))).await.unwrap();
    let r = within(a.ready(Interest::READABLE)).await.unwrap();
    assert!(r.is_readable());
    assert_eq!(a.try_recv().unwrap(), Some(mp(&[b"x"])));
}

/// 100,000 messages PUSH → PULL over tcp, in batches, without loss,
/// reordering or stall. Speed is not asserted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_of_100k_messages_push_pull() {
    const N: u64 = 100_000;
    const BATCH: usize = 256;
    let mut pull = AsyncSocket::builder(SocketKind::Pull, Hwm::both(1000))
        .bind(tcp_any())
        .build()
        .unwrap();
    let endpoint = pull.last_endpoint().unwrap().unwrap();
    let mut push = AsyncSocket::builder(SocketKind::Push, Hwm::both(1000))
        .connect(endpoint)
        .build()
        .unwrap();

    let sender = tokio::spawn(async move {
        let payload = Bytes::from_static(&[b'x'; 40]);
        let mut queue = VecDeque::with_capacity(BATCH);
        let mut seq = 0u64;
        while seq < N {
            while queue.len() < BATCH && seq < N {
                let mut msg = Multipart::new();
                msg.push(Bytes::copy_from_slice(&seq.to_be_bytes()));
                msg.push(payload.clone());
                queue.push_back(msg);
                seq += 1;
            }
            push.send_all(&mut queue).await.unwrap();
        }
        push
    });

    let receive = async {
        let mut batch = Vec::with_capacity(BATCH);
        let mut expected = 0u64;
        while expected < N {
            batch.clear();
            let n = pull.recv_batch(&mut batch, BATCH).await.unwrap();
            assert!((1..=BATCH).contains(&n) && n == batch.len());
            for msg in batch.drain(..) {
                assert_eq!(msg.len(), 2);
                let seq = u64::from_be_bytes(msg[0].as_ref().try_into().unwrap());
                assert_eq!(seq, expected, "lost or reordered message");
                expected += 1;
            }
        }
    };
    timeout(Duration::from_secs(120), receive)
        .await
        .expect("burst stalled");
    let _push = within(sender).await.unwrap();
    assert_eq!(pull.try_recv().unwrap(), None);
}

/// With a tiny HWM and a peer that does not read, `send` waits (without
/// dropping the message or blocking the runtime: this is a current-thread
/// runtime, so the timer firing proves the thread stayed free), and finishes
/// once the peer reads.
#[tokio::test(flavor = "current_thread")]
async fn hwm_backpressure_waits_then_completes() {
    let spec = inproc("hwm");
    let mut push = AsyncSocket::builder(SocketKind::Push, Hwm::both(1))
        .bind(spec.clone())
        .build()
        .unwrap();
    let mut pull = AsyncSocket::builder(SocketKind::Pull, Hwm::both(1))
        .connect(spec)
        .build()
        .unwrap();

    let msg = |i: u32| mp(&[&i.to_be_bytes()]);
    let mut queued = 0u32;
    loop {
        match push.try_send(msg(queued)) {
            Ok(()) => queued += 1,
            Err(TrySendError::Full(back)) => {
                assert_eq!(back, msg(queued), "full send hands the message back");
                break;
            }
            Err(TrySendError::Failed(e)) => panic!("{e}"),
        }
        assert!(queued < 1000, "HWM 1 never filled up");
    }
    assert!(queued >= 1);

    let mut queue = VecDeque::from([msg(queued)]);
    assert!(
        timeout(NEGATIVE_WAIT, push.send_batch(&mut queue, 8))
            .await
            .is_err(),
        "send completed although the peer reads nothing"
    );
    assert_eq!(queue.len(), 1, "cancelled send keeps its message");

    assert_eq!(within(pull.recv()).await.unwrap(), msg(0));
    assert_eq!(within(push.send_batch(&mut queue, 8)).await.unwrap(), 1);
    for i in 1..=queued {
        assert_eq!(within(pull.recv()).await.unwrap(), msg(i));
    }
    assert_eq!(pull.try_recv().unwrap(), None);
}

/// A ROUTER with `ROUTER_MANDATORY` reports writable while any peer has room,
/// yet a send to a full peer fails with `EAGAIN`. `send` must then wait for
/// the next notification (not spin), while other peers stay reachable.
#[tokio::test(flavor = "current_thread")]
async fn router_mandatory_waits_for_one_full_peer() {
    let spec = inproc("router-full-peer");
    let mut router = AsyncSocket::builder(SocketKind::Router, Hwm::both(1))
        .router_mandatory(true)
        .bind(spec.clone())
        .build()
        .unwrap();
    let peer = |id: &'static [u8]| {
        AsyncSocket::builder(SocketKind::Dealer, Hwm::both(1))
            .identity(id)
            .connect(spec.clone())
            .build()
            .unwrap()
    };
    let mut a = peer(b"a");
    let mut b = peer(b"b");
    for dealer in [&mut a, &mut b] {
        within(dealer.send(mp(&[b"", b"hello"]))).await.unwrap();
    }
    for _ in 0..2 {
        within(router.recv()).await.unwrap();
    }

    let to_a = |i: u8| mp(&[b"a", b"", &[i]]);
    let mut queued = 0u8;
    while router.try_send(to_a(queued)).is_ok() {
        queued += 1;
        assert!(queued < 100, "HWM 1 never filled up");
    }
    let ready = within(router.ready(Interest::WRITABLE)).await.unwrap();
    assert!(ready.is_writable(), "b still has room");

    let mut queue = VecDeque::from([to_a(queued)]);
    let mut polls = 0u32;
    {
        let fut = router.send_batch(&mut queue, 8);
        tokio::pin!(fut);
        let counted = std::future::poll_fn(|cx| {
            polls += 1;
            fut.as_mut().poll(cx)
        });
        assert!(
            timeout(NEGATIVE_WAIT, counted).await.is_err(),
            "send to a full peer completed"
        );
    }
    assert!(
        polls < 20,
        "waiting send was polled {polls} times: spinning"
    );
    assert_eq!(queue.len(), 1);

    // The other peer is unaffected.
    within(router.send(mp(&[b"b", b"", b"B"]))).await.unwrap();
    assert_eq!(within(b.recv()).await.unwrap(), mp(&[b"", b"B"]));

    // Once `a` reads, the waiting send goes through.
    assert_eq!(within(a.recv()).await.unwrap(), mp(&[b"", &[0]]));
    assert_eq!(within(router.send_batch(&mut queue, 8)).await.unwrap(), 1);
    for i in 1..=queued {
        assert_eq!(within(a.recv()).await.unwrap(), mp(&[b"", &[i]]));
    }
}
