//! The handshake's accept key (RFC 6455 §4.2.2), the only handshake piece both
//! ends compute the same way: connmgr sends it, zurl checks it.

use base64::Engine as _;
use sha1::{Digest, Sha1};

/// The GUID RFC 6455 appends to `Sec-WebSocket-Key`.
pub const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` of `key`.
pub fn accept_key(key: &[u8]) -> String {
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}
