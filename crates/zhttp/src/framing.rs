//! Multipart framing of each ZeroMQ hop (`spec/zhttp.md` §3), as pure functions over
//! frames (`Bytes`), with no socket dependency.
//!
//! | Hop | Sent | Received |
//! |-----|------|----------|
//! | PUSH → PULL | `[T…]` | `[T…]` ([`single`]) |
//! | PUB → SUB | `[<addr> SP T…]` ([`pub_frame`]) | same ([`parse_pub`]) |
//! | ROUTER → ROUTER | `[<responder id>, "", T…]` ([`router_frames`]) | `[<sender id>, "", T…]` ([`parse_router`]) |
//! | ROUTER → DEALER | `[<dealer id>, "", T…]` ([`router_frames`]) | `["", T…]` ([`parse_dealer`]) |
//! | DEALER → ROUTER (req mode) | `["", T…]` ([`dealer_frames`]) | `[<ids>…, "", T…]` ([`parse_router`]) |
//! | ROUTER → DEALER (req reply) | `[<ids>…, "", T…]` ([`reply_frames`]) | `["", T…]` ([`parse_dealer`]) |
//!
//! A REQ socket adds and strips the empty delimiter itself, so a REQ client of zurl's
//! req interface sends and receives a bare `[T…]` ([`single`]).
//!
//! Routing ids are never empty (ZeroMQ requires that), so the first empty frame is
//! the delimiter.

use bytes::{BufMut, Bytes, BytesMut};

use crate::Packet;

/// A multipart message that does not have the shape its hop requires.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The message has the wrong number of frames.
    #[error("expected {expected} frames, found {found}")]
    FrameCount {
        /// Frames the hop carries.
        expected: usize,
        /// Frames received.
        found: usize,
    },
    /// A routed message has no empty delimiter frame.
    #[error("no empty delimiter frame in {frames} frames")]
    MissingDelimiter {
        /// Frames received.
        frames: usize,
    },
    /// A routed message has no routing id before the delimiter.
    #[error("no routing id before the delimiter")]
    MissingRoutingId,
    /// A message received on a DEALER does not start with an empty frame.
    #[error("expected an empty delimiter frame, found {len} bytes")]
    NonEmptyDelimiter {
        /// The first frame's length.
        len: usize,
    },
    /// A routed message does not have exactly one frame after the delimiter.
    #[error("expected 1 content frame after the delimiter, found {found}")]
    ContentFrames {
        /// Frames after the delimiter.
        found: usize,
    },
    /// A PUB frame has no space between the address and the payload.
    #[error("no space after the address in a {len}-byte PUB frame")]
    MissingAddress {
        /// The frame's length.
        len: usize,
    },
}

/// The content of a one-frame message (PUSH/PULL, or a REQ socket's view).
pub fn single(frames: &[Bytes]) -> Result<&Bytes, Error> {
    match frames {
        [payload] => Ok(payload),
        _ => Err(Error::FrameCount {
            expected: 1,
            found: frames.len(),
        }),
    }
}

/// A PUB/SUB frame split at its first space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PubMessage {
    /// The receiver's address (its `from`), i.e. the subscription topic.
    pub address: Bytes,
    /// The packet payload (`T…`).
    pub payload: Bytes,
}

/// Splits a PUB frame `<addr> SP T…` at the first space (zero copy). Receivers
/// should then drop packets whose address is not their own id, as condure does.
pub fn parse_pub(frame: &Bytes) -> Result<PubMessage, Error> {
    let at = frame
        .iter()
        .position(|&b| b == b' ')
        .ok_or(Error::MissingAddress { len: frame.len() })?;
    Ok(PubMessage {
        address: frame.slice(..at),
        payload: frame.slice(at.saturating_add(1)..),
    })
}

/// Appends the PUB prefix `<addr> SP`; the payload is encoded after it.
pub fn write_pub_prefix(buf: &mut BytesMut, address: &[u8]) {
    buf.reserve(address.len().saturating_add(1));
    buf.put_slice(address);
    buf.put_u8(b' ');
}

/// The PUB frame that sends `packet` to the initiator whose `from` is `address`.
pub fn pub_frame(address: &[u8], packet: &Packet) -> Bytes {
    let mut buf = BytesMut::new();
    write_pub_prefix(&mut buf, address);
    packet.encode(&mut buf);
    buf.freeze()
}

/// A message received on a ROUTER: its envelope (routing ids) and payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Routed<'a> {
    /// The routing id frames before the delimiter (one for a direct peer; more
    /// behind intermediate ROUTER/DEALER hops). Pass them to [`reply_frames`].
    pub envelope: &'a [Bytes],
    /// The packet payload.
    pub payload: &'a Bytes,
}

/// Splits `[<ids>…, "", payload]` as received on a ROUTER. Pushpin's server ROUTER
/// accepts only one routing id (3 frames), zurl's req ROUTER any number; both need
/// exactly one frame after the delimiter.
pub fn parse_router(frames: &[Bytes]) -> Result<Routed<'_>, Error> {
    let at = frames
        .iter()
        .position(Bytes::is_empty)
        .ok_or(Error::MissingDelimiter {
            frames: frames.len(),
        })?;
    let (envelope, rest) = frames.split_at(at);
    if envelope.is_empty() {
        return Err(Error::MissingRoutingId);
    }
    match rest {
        [_delimiter, payload] => Ok(Routed { envelope, payload }),
        _ => Err(Error::ContentFrames {
            found: rest.len().saturating_sub(1),
        }),
    }
}

/// The payload of `["", payload]` as received on a DEALER (zurl's stream input, a
/// req-mode client's reply).
pub fn parse_dealer(frames: &[Bytes]) -> Result<&Bytes, Error> {
    match frames {
        [delimiter, payload] if delimiter.is_empty() => Ok(payload),
        [delimiter, _] => Err(Error::NonEmptyDelimiter {
            len: delimiter.len(),
        }),
        _ => Err(Error::FrameCount {
            expected: 2,
            found: frames.len(),
        }),
    }
}

/// `[identity, "", payload]`: a ROUTER sending to the peer whose identity (its
/// `from`) is `identity`.
pub fn router_frames(identity: Bytes, payload: Bytes) -> Vec<Bytes> {
    vec![identity, Bytes::new(), payload]
}

/// `["", payload]`: a DEALER sending a req-mode request.
pub fn dealer_frames(payload: Bytes) -> Vec<Bytes> {
    vec![Bytes::new(), payload]
}

/// `[envelope…, "", payload]`: a ROUTER answering a req-mode request on the envelope
/// it arrived with.
pub fn reply_frames(envelope: &[Bytes], payload: Bytes) -> Vec<Bytes> {
    let mut frames = Vec::with_capacity(envelope.len().saturating_add(2));
    frames.extend_from_slice(envelope);
    frames.push(Bytes::new());
    frames.push(payload);
    frames
}

#[cfg(test)]
mod tests;
