//! Sans-IO bookkeeping for one ZHTTP session: sequence numbers (§6.6), credits
//! (§6.2, §6.3) and keep-alive / timeout deadlines (§6.4). Time is always an `Instant`
//! argument; nothing here reads a clock or does I/O.
//!
//! A session owns one [`SeqState`], one [`Credits`] for what the peer let it send,
//! and one [`Liveness`]. Across a handoff (§9) the new owner rebuilds them with
//! [`SeqState::resume`] and [`Credits::new`] from the values passed along.

use std::time::{Duration, Instant};

/// How often each side sends something per session when otherwise idle (§6.4).
pub const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(45);

/// How long a side waits without any packet from its peer before giving up (§6.4).
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(60);

/// A session-level protocol violation by the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A packet's `seq` is not the next one expected (§6.6). condure ends the
    /// connection; pushpin answers `cancel`.
    #[error("expected seq {expected}, got {got}")]
    OutOfSequence {
        /// The seq that was due.
        expected: u32,
        /// The seq received.
        got: u32,
    },
    /// The peer sent more body bytes than it had credits for (§6.3); condure treats
    /// it as a protocol error.
    #[error("{len} bytes exceed the {available} credits granted")]
    CreditsExceeded {
        /// Bytes received.
        len: usize,
        /// Credits that were available.
        available: u32,
    },
}

/// Sequence numbers of both directions of one session. Every packet type consumes
/// one, including `keep-alive` and `cancel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SeqState {
    next_out: u32,
    next_in: u32,
}

impl SeqState {
    /// A new session: both directions start at 0.
    pub const fn new() -> Self {
        Self {
            next_out: 0,
            next_in: 0,
        }
    }

    /// Continues counters handed over by a previous owner (§9).
    pub const fn resume(next_out: u32, next_in: u32) -> Self {
        Self { next_out, next_in }
    }

    /// The seq of the next packet to send, consuming it.
    pub const fn next_out(&mut self) -> u32 {
        let seq = self.next_out;
        self.next_out = seq.wrapping_add(1);
        seq
    }

    /// The seq the next outgoing packet will get, without consuming it.
    pub const fn peek_out(&self) -> u32 {
        self.next_out
    }

    /// The seq expected on the next incoming packet.
    pub const fn expected_in(&self) -> u32 {
        self.next_in
    }

    /// Checks an incoming packet's `seq` and advances. A packet without `seq` is
    /// accepted without advancing, as condure does.
    pub fn receive(&mut self, seq: Option<u32>) -> Result<(), Error> {
        let Some(got) = seq else {
            return Ok(());
        };
        if got != self.next_in {
            return Err(Error::OutOfSequence {
                expected: self.next_in,
                got,
            });
        }
        self.next_in = got.wrapping_add(1);
        Ok(())
    }
}

/// A credit window: bytes one side may still send (§6.2, §6.3). Grants are additive;
/// sending spends them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Credits {
    available: u32,
}

impl Credits {
    /// A window holding `available` credits (e.g. the `credits` of a first packet).
    pub const fn new(available: u32) -> Self {
        Self { available }
    }

    /// Credits left.
    pub const fn available(&self) -> u32 {
        self.available
    }

    /// Adds credits granted by the peer (a `credit` packet or `credits` on any
    /// packet). Saturates rather than wrapping.
    pub const fn grant(&mut self, credits: u32) {
        self.available = self.available.saturating_add(credits);
    }

    /// How many of `want` bytes may be sent now, spending them.
    pub fn take(&mut self, want: usize) -> usize {
        let n = u32::try_from(want).unwrap_or(u32::MAX).min(self.available);
        self.available -= n;
        n as usize
    }

    /// Spends exactly `len` bytes the peer sent us against the credits we granted;
    /// an error (and no change) if it sent more than it was allowed.
    pub fn spend(&mut self, len: usize) -> Result<(), Error> {
        let exceeded = Error::CreditsExceeded {
            len,
            available: self.available,
        };
        let n = u32::try_from(len).map_err(|_| exceeded)?;
        self.available = self.available.checked_sub(n).ok_or(exceeded)?;
        Ok(())
    }
}

/// Keep-alive and timeout deadlines of one session (§6.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Liveness {
    last_sent: Instant,
    last_received: Instant,
    interval: Duration,
    timeout: Duration,
}

impl Liveness {
    /// Starts the timers at `now` with the standard 45 s / 60 s intervals.
    pub fn new(now: Instant) -> Self {
        Self::with_intervals(now, KEEP_ALIVE_INTERVAL, SESSION_TIMEOUT)
    }

    /// Starts the timers at `now` with custom intervals (tests, tuning).
    pub const fn with_intervals(now: Instant, interval: Duration, timeout: Duration) -> Self {
        Self {
            last_sent: now,
            last_received: now,
            interval,
            timeout,
        }
    }

    /// Records that a packet for this session was sent at `now`.
    pub const fn sent(&mut self, now: Instant) {
        self.last_sent = now;
    }

    /// Records that a packet for this session arrived at `now`.
    pub const fn received(&mut self, now: Instant) {
        self.last_received = now;
    }

    /// When a `keep-alive` is due if nothing else is sent before then.
    pub fn keep_alive_at(&self) -> Instant {
        // Only an absurd custom interval overflows; then it is due at once.
        self.last_sent
            .checked_add(self.interval)
            .unwrap_or(self.last_sent)
    }

    /// When the session expires if nothing arrives before then.
    pub fn expires_at(&self) -> Instant {
        self.last_received
            .checked_add(self.timeout)
            .unwrap_or(self.last_received)
    }

    /// Whether a `keep-alive` should be sent at `now`.
    pub fn keep_alive_due(&self, now: Instant) -> bool {
        now >= self.keep_alive_at()
    }

    /// Whether the peer has been silent too long at `now`.
    pub fn expired(&self, now: Instant) -> bool {
        now >= self.expires_at()
    }

    /// The earlier of the two deadlines: when to wake up next.
    pub fn next_deadline(&self) -> Instant {
        self.keep_alive_at().min(self.expires_at())
    }
}

#[cfg(test)]
mod tests;
