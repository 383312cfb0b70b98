//! Unit tests of the session bookkeeping, on a virtual clock.

use std::time::{Duration, Instant};

use super::*;

#[test]
fn sequence_numbers_count_up_per_direction() {
    let mut seq = SeqState::new();
    assert_eq!(seq.next_out(), 0);
    assert_eq!(seq.next_out(), 1);
    assert_eq!(seq.peek_out(), 2);
    assert_eq!(seq.receive(Some(0)), Ok(()));
    assert_eq!(seq.receive(None), Ok(()));
    assert_eq!(seq.expected_in(), 1);
    assert_eq!(
        seq.receive(Some(3)),
        Err(Error::OutOfSequence {
            expected: 1,
            got: 3
        })
    );
    assert_eq!(seq.expected_in(), 1);
    assert_eq!(seq.receive(Some(1)), Ok(()));
}

#[test]
fn handoff_resumes_counters() {
    // condure/handoff.jsonl: the second handler continues with seq 2.
    let mut seq = SeqState::resume(2, 2);
    assert_eq!(seq.next_out(), 2);
    assert_eq!(seq.receive(Some(2)), Ok(()));
}

#[test]
fn credits_are_additive_and_spent() {
    let mut c = Credits::new(8192);
    assert_eq!(c.take(10_000), 8192);
    assert_eq!(c.available(), 0);
    assert_eq!(c.take(1), 0);
    c.grant(10);
    c.grant(u32::MAX);
    assert_eq!(c.available(), u32::MAX);

    let mut granted = Credits::new(5);
    assert_eq!(granted.spend(3), Ok(()));
    assert_eq!(
        granted.spend(3),
        Err(Error::CreditsExceeded {
            len: 3,
            available: 2
        })
    );
    assert_eq!(granted.available(), 2);
    assert_eq!(
        granted.spend(usize::MAX).unwrap_err().to_string(),
        format!("{} bytes exceed the 2 credits granted", usize::MAX)
    );
}

#[test]
fn liveness_deadlines() {
    let t0 = Instant::now();
    let mut l = Liveness::new(t0);
    assert_eq!(l.next_deadline(), t0 + KEEP_ALIVE_INTERVAL);
    assert!(!l.keep_alive_due(t0 + Duration::from_secs(44)));
    assert!(l.keep_alive_due(t0 + KEEP_ALIVE_INTERVAL));
    l.sent(t0 + KEEP_ALIVE_INTERVAL);
    assert_eq!(l.next_deadline(), t0 + SESSION_TIMEOUT);
    assert!(l.expired(t0 + SESSION_TIMEOUT));
    l.received(t0 + Duration::from_secs(50));
    assert!(!l.expired(t0 + SESSION_TIMEOUT));
    assert_eq!(l.expires_at(), t0 + Duration::from_secs(110));

    let l = Liveness::with_intervals(t0, Duration::MAX, Duration::MAX);
    assert_eq!(l.next_deadline(), t0);
}
