//! The packet model: one struct holding every field of `spec/zhttp.md` §4–§5, for
//! both directions, like the reference codecs (the C++ `ZhttpRequestPacket` /
//! `ZhttpResponsePacket` pair share almost every field, and which one applies depends
//! on the socket, not on the bytes).
//!
//! Presence is kept where a peer distinguishes "absent" from "empty" (`body`, the
//! C++ `reason`/`headers` of a response) by using `Option`; flags that the peers only
//! ever send as `true` are plain `bool`s and are written only when set.

use bytes::{Bytes, BytesMut};
use pushpin_tnetstring::Value;

use crate::ids::Targets;
use crate::{Condition, ContentType, Error, Ext, Header, Id, Ids, Limits, PacketType};

/// The payload format, from the first byte of the content frame (§3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Format {
    /// `T` + tnetstring dictionary: every peer.
    #[default]
    Tnet,
    /// `J` + JSON object: accepted (and answered in kind) by zurl only.
    Json,
}

impl Format {
    /// The format of a payload, from its first byte.
    pub fn detect(payload: &[u8]) -> Result<Self, Error> {
        match payload.first() {
            None => Err(Error::Empty),
            Some(b'T') => Ok(Self::Tnet),
            Some(b'J') => Ok(Self::Json),
            Some(&byte) => Err(Error::UnknownFormat { byte }),
        }
    }

    /// The marker byte that starts a payload in this format.
    pub const fn prefix(self) -> u8 {
        match self {
            Self::Tnet => b'T',
            Self::Json => b'J',
        }
    }
}

/// One ZHTTP packet (§5), in either direction.
///
/// Field names follow the wire keys (`peer-port` → `peer_port`; `type` → `ptype`).
/// Build one with struct-update syntax:
///
/// ```
/// use pushpin_zhttp::{Ext, Id, Ids, Packet, PacketType};
///
/// let ack = Packet {
///     from: "pushpin-proxy_1".into(),
///     ids: Ids::One(Id::from("0-1-2")),
///     seq: Some(0),
///     ext: Ext { multi: true, quiet: false },
///     ptype: PacketType::KeepAlive,
///     ..Packet::default()
/// };
/// let mut buf = bytes::BytesMut::new();
/// ack.encode(&mut buf);
/// assert!(buf.starts_with(b"T"));
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Packet {
    // --- addressing (§4) ---
    /// `from`: the sender's instance address (its PUB topic / ROUTER identity).
    /// Empty means absent: both condure and the C++ peers omit an empty `from`.
    pub from: Bytes,
    /// `id`: one session id, or a list of `{id, seq}` entries.
    pub ids: Ids,
    /// `seq`: this packet's sequence number within the session (§6.6). With a
    /// list-form id it is normally absent; see [`Packet::targets`].
    pub seq: Option<u32>,
    /// `ext`: extension flags.
    pub ext: Ext,
    /// `type`: the packet's kind; [`PacketType::Data`] when absent.
    pub ptype: PacketType,
    /// `condition`: why an `error` packet ended the session (§7).
    pub condition: Option<Condition>,

    // --- both directions ---
    /// `credits`: bytes of body (or WebSocket payload) the sender grants the peer
    /// now, additive (§6.2, §6.3).
    pub credits: Option<u32>,
    /// `more`: more body follows in later data packets.
    pub more: bool,
    /// `code`: HTTP status (responses, WebSocket accept, `rejected` errors) or
    /// WebSocket close code (`close` packets).
    pub code: Option<u16>,
    /// `reason`: HTTP reason phrase. The C++ encoder always writes it (possibly
    /// empty) with `code` in a data packet.
    pub reason: Option<Bytes>,
    /// `headers`: ordered `[name, value]` pairs, duplicates and case kept.
    pub headers: Option<Vec<Header>>,
    /// `body`: body bytes, WebSocket payload, or close reason. Absent and empty
    /// mean the same to receivers, but zurl writes an empty one (`4:body,0:,`).
    pub body: Option<Bytes>,
    /// `content-type`: WebSocket message type (§8.2).
    pub content_type: Option<ContentType>,
    /// `user-data`: opaque; zurl echoes the latest value in every response packet.
    pub user_data: Option<Value>,

    // --- initiator → responder ---
    /// `method`: HTTP method of the first request packet.
    pub method: Option<Bytes>,
    /// `uri`: absolute request URI; the scheme (`http(s)`/`ws(s)`) tells HTTP from
    /// WebSocket.
    pub uri: Option<Bytes>,
    /// `stream`: the initiator wants a streamed, credit-controlled response.
    pub stream: bool,
    /// `router-resp` (post-1.36): answer over the ROUTER path instead of PUB.
    pub router_resp: bool,
    /// `max-size`: the responder must fail with `max-size-exceeded` beyond this.
    pub max_size: Option<u32>,
    /// `timeout`: zurl's total time limit for the request, in milliseconds.
    pub timeout: Option<u32>,
    /// `peer-address`: the client's IP address as text.
    pub peer_address: Option<Bytes>,
    /// `peer-port`: the client's TCP port. condure sends an integer, the C++ codec a
    /// decimal string; both decode here, and it is written as an integer.
    pub peer_port: Option<u16>,
    /// `connect-host`: connect here instead of the URI host.
    pub connect_host: Option<Bytes>,
    /// `connect-port`: connect to this port.
    pub connect_port: Option<u16>,
    /// `ignore-policies`: zurl skips its allow/deny rules.
    pub ignore_policies: bool,
    /// `trust-connect-host`: validate TLS against `connect-host`.
    pub trust_connect_host: bool,
    /// `ignore-tls-errors`: don't verify the server certificate.
    pub ignore_tls_errors: bool,
    /// `follow-redirects`: follow up to 8 redirects.
    pub follow_redirects: bool,
    /// `client-cert` (post-1.36): client TLS certificate for outbound requests.
    pub client_cert: Option<Bytes>,
    /// `client-key` (post-1.36): client TLS key for outbound requests.
    pub client_key: Option<Bytes>,
    /// `passthrough`: Pushpin-internal routing/signing info (handler → proxy intreq).
    pub passthrough: Option<Value>,
    /// `old-from`: RFC 33 initiator-side handoff (unused by 1.36 components).
    pub old_from: Option<Bytes>,
}

impl Packet {
    /// A packet of the given type with every other field absent.
    pub fn new(ptype: PacketType) -> Self {
        Self {
            ptype,
            ..Self::default()
        }
    }

    /// Decodes a `T` or `J` payload (the content frame after any envelope or PUB
    /// address). For `T`, byte-string fields are zero-copy slices of `payload`.
    pub fn decode(payload: &Bytes, limits: &Limits) -> Result<Self, Error> {
        match Format::detect(payload)? {
            Format::Tnet => crate::decode::decode_tnet(payload, limits),
            Format::Json => crate::json::decode_json(payload, limits),
        }
    }

    /// Like [`Packet::decode`], also saying which format the payload used, so a
    /// responder can answer in kind (zurl does for `J`).
    pub fn decode_with_format(payload: &Bytes, limits: &Limits) -> Result<(Self, Format), Error> {
        match Format::detect(payload)? {
            Format::Tnet => Ok((crate::decode::decode_tnet(payload, limits)?, Format::Tnet)),
            Format::Json => Ok((crate::json::decode_json(payload, limits)?, Format::Json)),
        }
    }

    /// Appends `T` + the tnetstring dictionary to `buf`, keys in condure's order
    /// (§5.4); absent fields and `false` flags are omitted.
    pub fn encode(&self, buf: &mut BytesMut) {
        crate::encode::encode_tnet(self, buf);
    }

    /// Appends `J` + compact JSON with sorted keys, as zurl answers a `J` request.
    /// Byte strings that are not UTF-8 are converted lossily (JSON cannot carry them).
    pub fn encode_json(&self, buf: &mut BytesMut) {
        crate::json::encode_json(self, buf);
    }

    /// Appends the packet in `format`.
    pub fn encode_as(&self, format: Format, buf: &mut BytesMut) {
        match format {
            Format::Tnet => self.encode(buf),
            Format::Json => self.encode_json(buf),
        }
    }

    /// The `T` encoding as a fresh buffer.
    pub fn to_bytes(&self) -> Bytes {
        let mut buf = BytesMut::new();
        self.encode(&mut buf);
        buf.freeze()
    }

    /// The single session id, when `id` is a string.
    pub fn id(&self) -> Option<&Id> {
        match &self.ids {
            Ids::One(id) => Some(id),
            _ => None,
        }
    }

    /// Every `(id, seq)` pair the packet addresses: one for a string `id`, one per
    /// entry of a list-form `id`. A top-level `seq` applies to the first pair and
    /// overrides that entry's own, as both reference decoders do.
    pub fn targets(&self) -> Targets<'_> {
        Targets::new(&self.ids, self.seq)
    }

    /// The headers, or an empty slice when absent.
    pub fn header_list(&self) -> &[Header] {
        self.headers.as_deref().unwrap_or_default()
    }

    /// The body, or an empty slice when absent (receivers treat both alike).
    pub fn body_bytes(&self) -> &[u8] {
        self.body.as_deref().unwrap_or_default()
    }

    /// Whether this is a WebSocket binary message (`content-type: binary`).
    pub fn is_binary(&self) -> bool {
        self.content_type
            .as_ref()
            .is_some_and(ContentType::is_binary)
    }
}
