//! ROUTER/DEALER envelopes: `[id..., "", content...]`.
//!
//! A ROUTER prepends the sender's routing id to every message it receives,
//! and routes a message it sends by its first frame. A DEALER or REQ peer
//! puts an empty delimiter frame between the ids and the content
//! (`spec/zhttp.md` §3). These helpers split and join that shape; they know
//! nothing about what the content means.

use bytes::Bytes;

use crate::Multipart;

/// A message that does not have the envelope shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// No empty delimiter frame.
    #[error("message of {parts} parts has no empty delimiter frame")]
    MissingDelimiter {
        /// Number of frames in the message.
        parts: usize,
    },
    /// The content after the delimiter is not exactly one frame.
    #[error("envelope content has {parts} parts, expected 1")]
    ContentParts {
        /// Number of content frames.
        parts: usize,
    },
}

/// A message split at its first empty frame.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Envelope {
    /// Routing ids, outermost first (for a message received on a ROUTER,
    /// `ids[0]` is the peer that sent it). May be empty (DEALER side).
    pub ids: Multipart,
    /// Frames after the delimiter.
    pub content: Multipart,
}

impl Envelope {
    /// An envelope addressed to one peer.
    pub fn to_peer(id: impl Into<Bytes>, content: impl Into<Multipart>) -> Self {
        Self {
            ids: Multipart::from(id.into()),
            content: content.into(),
        }
    }

    /// Splits `msg` at its first empty frame.
    pub fn split(msg: Multipart) -> Result<Self, EnvelopeError> {
        let parts = msg.len();
        let Some(delim) = msg.iter().position(Bytes::is_empty) else {
            return Err(EnvelopeError::MissingDelimiter { parts });
        };
        let mut ids = Multipart::with_capacity(delim);
        let mut content = Multipart::with_capacity(parts - delim - 1);
        for (i, frame) in msg.into_iter().enumerate() {
            if i < delim {
                ids.push(frame);
            } else if i > delim {
                content.push(frame);
            }
        }
        Ok(Self { ids, content })
    }

    /// Splits `msg` and requires exactly one content frame, the shape every
    /// ZHTTP and ZRPC hop uses.
    pub fn split_single(msg: Multipart) -> Result<(Multipart, Bytes), EnvelopeError> {
        let Self { ids, mut content } = Self::split(msg)?;
        match content.len() {
            1 => match content.pop() {
                Some(body) => Ok((ids, body)),
                None => Err(EnvelopeError::ContentParts { parts: 0 }),
            },
            parts => Err(EnvelopeError::ContentParts { parts }),
        }
    }

    /// Joins ids, an empty delimiter and the content back into one message.
    pub fn join(self) -> Multipart {
        let mut msg = Multipart::with_capacity(self.ids.len() + 1 + self.content.len());
        msg.extend(self.ids);
        msg.push(Bytes::new());
        msg.extend(self.content);
        msg
    }
}

impl From<Envelope> for Multipart {
    fn from(e: Envelope) -> Self {
        e.join()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mp(frames: &[&'static [u8]]) -> Multipart {
        frames.iter().map(|f| Bytes::from_static(f)).collect()
    }

    #[test]
    fn splits_router_message() {
        let e = Envelope::split(mp(&[b"\x00k\x8bEg", b"", b"T96:..."])).unwrap();
        assert_eq!(e.ids, mp(&[b"\x00k\x8bEg"]));
        assert_eq!(e.content, mp(&[b"T96:..."]));
        assert_eq!(e.join(), mp(&[b"\x00k\x8bEg", b"", b"T96:..."]));
    }

    #[test]
    fn splits_dealer_message_and_multi_hop() {
        let e = Envelope::split(mp(&[b"", b"body"])).unwrap();
        assert!(e.ids.is_empty());
        assert_eq!(e.content, mp(&[b"body"]));

        let e = Envelope::split(mp(&[b"a", b"b", b"", b"x", b"", b"y"])).unwrap();
        assert_eq!(e.ids, mp(&[b"a", b"b"]));
        assert_eq!(e.content, mp(&[b"x", b"", b"y"]));
        assert_eq!(e.join(), mp(&[b"a", b"b", b"", b"x", b"", b"y"]));
    }

    #[test]
    fn missing_delimiter_is_an_error() {
        assert_eq!(
            Envelope::split(mp(&[b"a", b"b"])),
            Err(EnvelopeError::MissingDelimiter { parts: 2 })
        );
        assert_eq!(
            Envelope::split(Multipart::new()),
            Err(EnvelopeError::MissingDelimiter { parts: 0 })
        );
    }

    #[test]
    fn split_single_checks_content_count() {
        let (ids, body) = Envelope::split_single(mp(&[b"id", b"", b"T0:}"])).unwrap();
        assert_eq!(ids, mp(&[b"id"]));
        assert_eq!(body, Bytes::from_static(b"T0:}"));
        assert_eq!(
            Envelope::split_single(mp(&[b"id", b""])),
            Err(EnvelopeError::ContentParts { parts: 0 })
        );
        assert_eq!(
            Envelope::split_single(mp(&[b"id", b"", b"a", b"b"])),
            Err(EnvelopeError::ContentParts { parts: 2 })
        );
    }

    #[test]
    fn to_peer_builds_three_frames() {
        let msg: Multipart =
            Envelope::to_peer(Bytes::from_static(b"zurl_1"), Bytes::from_static(b"T...")).into();
        assert_eq!(msg, mp(&[b"zurl_1", b"", b"T..."]));
    }
}
