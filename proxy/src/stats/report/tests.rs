use super::*;

fn id(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn route(s: &str) -> Option<Bytes> {
    Some(id(s))
}

fn find(out: &[(Option<Bytes>, Report)], r: &Option<Bytes>) -> Report {
    out.iter()
        .find(|(k, _)| k == r)
        .map(|(_, v)| v.clone())
        .expect("report for route")
}

#[test]
fn header_estimates_match_1_36() {
    let h: [(&[u8], &[u8]); 2] = [(b"Host", b"example.com"), (b"Accept", b"*/*")];
    // "GET" + "/path?x=1" + 4+11 + 6+3
    assert_eq!(request_head_bytes(b"GET", b"/path?x=1", h), 3 + 9 + 15 + 9);
    assert_eq!(
        response_head_bytes(200, b"OK", [(&b"Content-Length"[..], &b"5"[..])]),
        3 + 2 + 15
    );
    // the status code counts as its decimal text
    for code in [0_u16, 9, 10, 99, 100, 999, 1000, 9999, 10_000, u16::MAX] {
        let empty: [(&[u8], &[u8]); 0] = [];
        assert_eq!(
            response_head_bytes(code, b"", empty),
            code.to_string().len()
        );
    }
    assert_eq!(path_and_query(b"http://example.com/a/b?c=d"), b"/a/b?c=d");
    assert_eq!(path_and_query(b"http://example.com"), b"");
    assert_eq!(path_and_query(b"http://example.com?q"), b"?q");
    assert_eq!(path_and_query(b"/rel"), b"/rel");
}

#[test]
fn tally_drains_to_zero() {
    let t = Tally::default();
    t.add(Counter::ClientHeaderBytesSent, 10);
    t.add(Counter::ClientHeaderBytesSent, 5);
    t.add(Counter::ServerMessagesSent, 1);
    let c = t.drain();
    assert_eq!(c.get(Counter::ClientHeaderBytesSent), 15);
    assert_eq!(c.get(Counter::ServerMessagesSent), 1);
    assert!(t.drain().is_empty());
}

#[test]
fn one_report_per_route_with_counters_minutes_and_peak() {
    let t0 = Instant::now();
    let mut r = Reports::new();
    let a = Arc::new(Tally::default());
    let b = Arc::new(Tally::default());
    r.add(id("c:1"), None, Some(a.clone()), t0);
    r.add(id("c:2"), route("main"), Some(b.clone()), t0);
    r.add(id("c:3"), route("main"), None, t0);
    a.add(Counter::ClientHeaderBytesReceived, 40);
    b.add(Counter::ServerContentBytesReceived, 7);
    r.remove(&id("c:3"), false, t0 + Duration::from_secs(1));
    let out = r.take(t0 + Duration::from_secs(10));
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].0, None, "global first");
    let g = find(&out, &None);
    assert_eq!(g.connections, Some(1));
    assert_eq!(g.minutes, Some(1));
    assert_eq!(g.duration, Some(10_000));
    assert_eq!(g.client_header_bytes_received, Some(40));
    assert_eq!(g.received, Some(0));
    assert_eq!(g.blocks_received, None);
    let m = find(&out, &route("main"));
    // peak of two, though one already ended
    assert_eq!(m.connections, Some(2));
    assert_eq!(m.minutes, Some(2));
    assert_eq!(m.server_content_bytes_received, Some(7));
    assert_eq!(m.client_header_bytes_received, Some(0));

    // next interval: counters reset, peak is the current count
    b.add(Counter::ClientContentBytesSent, 3);
    let out = r.take(t0 + Duration::from_secs(20));
    let m = find(&out, &route("main"));
    assert_eq!(m.connections, Some(1));
    assert_eq!(m.minutes, Some(0));
    assert_eq!(m.server_content_bytes_received, Some(0));
    assert_eq!(m.client_content_bytes_sent, Some(3));
    assert_eq!(m.duration, Some(10_000));
}

#[test]
fn empty_report_is_sent_once_then_dropped() {
    let t0 = Instant::now();
    let mut r = Reports::new();
    r.add(id("c:1"), route("x"), None, t0);
    r.remove(&id("c:1"), false, t0);
    let out = r.take(t0 + Duration::from_secs(10));
    // the interval had a connection
    assert_eq!(find(&out, &route("x")).connections, Some(1));
    let out = r.take(t0 + Duration::from_secs(20));
    assert_eq!(find(&out, &route("x")).connections, Some(0));
    assert!(r.take(t0 + Duration::from_secs(30)).is_empty());
}

#[test]
fn counters_alone_make_a_report() {
    let t0 = Instant::now();
    let mut r = Reports::new();
    let mut c = Counters::default();
    c.inc(Counter::ServerHeaderBytesSent, 99);
    r.add_counters(&route("i"), &c, t0);
    let out = r.take(t0);
    assert_eq!(out.len(), 1);
    assert_eq!(find(&out, &route("i")).server_header_bytes_sent, Some(99));
    assert!(r.take(t0).is_empty());
}

#[test]
fn whole_minutes_are_counted_on_end() {
    let t0 = Instant::now();
    let mut r = Reports::new();
    r.add(id("c:1"), None, None, t0);
    let _ = r.take(t0);
    r.remove(&id("c:1"), false, t0 + Duration::from_secs(150));
    let out = r.take(t0 + Duration::from_secs(150));
    assert_eq!(find(&out, &None).minutes, Some(2));
}

#[test]
fn handed_off_connection_lingers_and_retry_replaces_it() {
    let t0 = Instant::now();
    let mut r = Reports::new();
    let t = Arc::new(Tally::default());
    r.add(id("c:1"), route("main"), Some(t.clone()), t0);
    t.add(Counter::ServerHeaderBytesReceived, 12);
    r.remove(&id("c:1"), true, t0 + Duration::from_secs(1));
    assert!(r.contains(b"c:1"));
    // counted at hand-off
    assert!(t.drain().is_empty());
    // retry: no new minute
    assert!(r.add(id("c:1"), route("main"), None, t0 + Duration::from_secs(2)));
    let out = r.take(t0 + Duration::from_secs(10));
    let m = find(&out, &route("main"));
    assert_eq!(m.minutes, Some(1));
    assert_eq!(m.connections, Some(1));
    assert_eq!(m.server_header_bytes_received, Some(12));
    // hand-off again; the entry goes after the linger time
    r.remove(&id("c:1"), true, t0 + Duration::from_secs(11));
    let out = r.take(t0 + Duration::from_secs(20));
    assert_eq!(find(&out, &route("main")).connections, Some(1));
    let out = r.take(t0 + Duration::from_secs(11) + LINGER);
    assert!(!r.contains(b"c:1"));
    assert_eq!(find(&out, &route("main")).connections, Some(0));
}
