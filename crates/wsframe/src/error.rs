//! Why some bytes are not an acceptable WebSocket frame.

/// A frame refused by [`Header::decode`](crate::Header::decode): too large for
/// the [`Limits`](crate::Limits), or (under
/// [`Validation::ClientFrame`](crate::Validation::ClientFrame)) against RFC 6455.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// RSV bits set without a negotiated extension.
    #[error("reserved bits set")]
    Reserved,
    /// An opcode RFC 6455 does not define.
    #[error("unknown opcode {0:#x}")]
    Opcode(u8),
    /// Client frames must be masked.
    #[error("unmasked client frame")]
    Unmasked,
    /// Payload larger than the frame size limit.
    #[error("frame payload of {len} bytes exceeds {max}")]
    TooLarge {
        /// Declared payload length.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// A control frame that is fragmented or longer than 125 bytes.
    #[error("invalid control frame")]
    Control,
}

impl Error {
    /// The close code to answer with (1009 for size, 1002 otherwise).
    pub fn close_code(self) -> u16 {
        match self {
            Self::TooLarge { .. } => 1009,
            _ => 1002,
        }
    }
}
