//! ws-control packets (`spec/internal.md` §7.1–§7.3): `{"items": [...]}`,
//! one frame each way between proxy and handler for GRIP WebSocket sessions.
//!
//! Items are typed by `type`; each variant carries the fields that type uses.
//! An unknown `type` rejects the whole packet, as in 1.36. Empty `route`,
//! `channel-prefix`, `channel`, `content-type` and `keep-alive-mode` read as
//! absent; negative `ttl`/`timeout` read as 0.

use bytes::{Bytes, BytesMut};
use pushpin_grip::KeepAliveMode;
use pushpin_grip::WsMessageType;
use pushpin_tnetstring::{self as tnet, Limits};

use crate::{Error, field};

/// Most items the 1.36 proxy puts in one packet.
pub const MAX_ITEMS_PER_PACKET: usize = 128;

/// `ttl` the 1.36 proxy sends with `here` and `keep-alive`, in seconds.
pub const SESSION_TTL: u32 = 60;

/// A value that is one of a known set or kept as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Known<T> {
    /// A recognised value.
    Known(T),
    /// Anything else, as received.
    Other(Bytes),
}

/// What an item is, with the fields its type uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemKind {
    /// `here` (proxy → handler): the session exists.
    Here {
        /// The client's `ws://`/`wss://` URI.
        uri: Option<Bytes>,
        /// Seconds before the handler expires the session.
        ttl: Option<u32>,
        /// Route id.
        route: Option<Bytes>,
        /// Report stats per route.
        separate_stats: bool,
        /// Route `prefix=`.
        channel_prefix: Option<Bytes>,
    },
    /// `keep-alive` (proxy → handler): refresh.
    KeepAlive {
        /// Seconds before expiry.
        ttl: Option<u32>,
    },
    /// `gone` (proxy → handler): the client connection ended.
    Gone,
    /// `grip` (proxy → handler): a GRIP control message (JSON, `c:` removed).
    Grip {
        /// The JSON text (see [`GripControl`](crate::GripControl)).
        message: Bytes,
    },
    /// `subscribe` (proxy → handler): implicit subscription from `sub=`.
    Subscribe {
        /// The channel (no prefix added).
        channel: Option<Bytes>,
    },
    /// `need-keep-alive` (proxy → handler): the keep-alive timer fired.
    NeedKeepAlive,
    /// `ack` (both ways): acknowledges the item with the same `req-id`.
    Ack,
    /// `cancel` (both ways): unknown cid, or a request was not acked in time.
    Cancel,
    /// `send` (handler → proxy): write a message to the client.
    Send {
        /// Frame type (`text` when absent).
        content_type: Option<Known<WsMessageType>>,
        /// Payload.
        message: Bytes,
        /// Queue it and ack after writing (`send-delayed`).
        queue: bool,
    },
    /// `keep-alive-setup` (handler → proxy): start (timeout > 0) or stop the
    /// proxy's keep-alive timer.
    KeepAliveSetup {
        /// Seconds; absent = stop.
        timeout: Option<u32>,
        /// `idle` or `interval`.
        mode: Option<Known<KeepAliveMode>>,
    },
    /// `close` (handler → proxy): close the client WebSocket.
    Close {
        /// Close code.
        code: Option<u16>,
        /// Close reason.
        reason: Option<Bytes>,
    },
    /// `detach` (handler → proxy): close the origin side only.
    Detach,
}

impl ItemKind {
    /// The `type` spelling.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::Here { .. } => "here",
            Self::KeepAlive { .. } => "keep-alive",
            Self::Gone => "gone",
            Self::Grip { .. } => "grip",
            Self::Subscribe { .. } => "subscribe",
            Self::NeedKeepAlive => "need-keep-alive",
            Self::Ack => "ack",
            Self::Cancel => "cancel",
            Self::Send { .. } => "send",
            Self::KeepAliveSetup { .. } => "keep-alive-setup",
            Self::Close { .. } => "close",
            Self::Detach => "detach",
        }
    }
}

/// One ws-control item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Connection id (a UUID chosen by the proxy).
    pub cid: Bytes,
    /// Request id (decimal counter) for items that want an `ack`.
    pub req_id: Option<Bytes>,
    /// Type and fields.
    pub kind: ItemKind,
}

/// All fields an item may carry, before its type picks the ones it uses.
#[derive(Default)]
struct Raw {
    cid: Option<Bytes>,
    kind: Option<Bytes>,
    req_id: Option<Bytes>,
    uri: Option<Bytes>,
    content_type: Option<Bytes>,
    message: Option<Bytes>,
    queue: bool,
    code: Option<u16>,
    reason: Option<Bytes>,
    route: Option<Bytes>,
    separate_stats: bool,
    channel_prefix: Option<Bytes>,
    channel: Option<Bytes>,
    ttl: Option<u32>,
    timeout: Option<u32>,
    keep_alive_mode: Option<Bytes>,
}

impl Item {
    fn decode(src: &Bytes, frame: &tnet::Frame<'_>) -> Result<Self, Error> {
        let mut r = Raw::default();
        for entry in field::map(frame, "items")? {
            let (k, v) = entry?;
            match k {
                b"cid" => r.cid = Some(field::bytes(src, &v, "items.cid")?),
                b"type" => r.kind = Some(field::bytes(src, &v, "items.type")?),
                b"req-id" => r.req_id = Some(field::bytes(src, &v, "items.req-id")?),
                b"uri" => r.uri = Some(field::bytes(src, &v, "items.uri")?),
                b"content-type" => {
                    r.content_type = field::opt_bytes(src, &v, "items.content-type")?;
                }
                b"message" => r.message = Some(field::bytes(src, &v, "items.message")?),
                b"queue" => r.queue = field::boolean(&v, "items.queue")?,
                b"code" => {
                    // a negative code means "no code", as in 1.36
                    let c = field::int(&v, "items.code")?;
                    r.code = if c < 0 {
                        None
                    } else {
                        Some(u16::try_from(c).map_err(|_| Error::OutOfRange {
                            field: "items.code",
                            value: c,
                        })?)
                    };
                }
                b"reason" => r.reason = Some(field::bytes(src, &v, "items.reason")?),
                b"route" => r.route = field::opt_bytes(src, &v, "items.route")?,
                b"separate-stats" => r.separate_stats = field::boolean(&v, "items.separate-stats")?,
                b"channel-prefix" => {
                    r.channel_prefix = field::opt_bytes(src, &v, "items.channel-prefix")?;
                }
                b"channel" => r.channel = field::opt_bytes(src, &v, "items.channel")?,
                b"ttl" => r.ttl = Some(field::clamped_uint(&v, "items.ttl")?),
                b"timeout" => r.timeout = Some(field::clamped_uint(&v, "items.timeout")?),
                b"keep-alive-mode" => {
                    r.keep_alive_mode = field::opt_bytes(src, &v, "items.keep-alive-mode")?;
                }
                _ => {}
            }
        }
        let cid = field::required(r.cid, "items.cid")?;
        let kind_str = field::required(r.kind, "items.type")?;
        let kind = match kind_str.as_ref() {
            b"here" => ItemKind::Here {
                uri: r.uri,
                ttl: r.ttl,
                route: r.route,
                separate_stats: r.separate_stats,
                channel_prefix: r.channel_prefix,
            },
            b"keep-alive" => ItemKind::KeepAlive { ttl: r.ttl },
            b"gone" => ItemKind::Gone,
            b"grip" => ItemKind::Grip {
                message: r.message.unwrap_or_default(),
            },
            b"subscribe" => ItemKind::Subscribe { channel: r.channel },
            b"need-keep-alive" => ItemKind::NeedKeepAlive,
            b"ack" => ItemKind::Ack,
            b"cancel" => ItemKind::Cancel,
            b"send" => ItemKind::Send {
                content_type: r.content_type.map(|c| match WsMessageType::from_bytes(&c) {
                    Some(t) => Known::Known(t),
                    None => Known::Other(c),
                }),
                message: r.message.unwrap_or_default(),
                queue: r.queue,
            },
            b"keep-alive-setup" => ItemKind::KeepAliveSetup {
                timeout: r.timeout,
                mode: r.keep_alive_mode.map(|m| match m.as_ref() {
                    b"idle" => Known::Known(KeepAliveMode::Idle),
                    b"interval" => Known::Known(KeepAliveMode::Interval),
                    _ => Known::Other(m),
                }),
            },
            b"close" => ItemKind::Close {
                code: r.code,
                reason: r.reason,
            },
            b"detach" => ItemKind::Detach,
            _ => {
                return Err(Error::UnknownType {
                    field: "items.type",
                    value: kind_str,
                });
            }
        };
        Ok(Self {
            cid,
            req_id: r.req_id.filter(|id| !id.is_empty()),
            kind,
        })
    }

    fn encode(&self, buf: &mut BytesMut) {
        tnet::write_map(buf, |buf| {
            field::put_bytes(buf, "cid", &self.cid);
            field::put_bytes(buf, "type", self.kind.as_str().as_bytes());
            if let Some(id) = self.req_id.as_ref().filter(|id| !id.is_empty()) {
                field::put_bytes(buf, "req-id", id);
            }
            let opt = |buf: &mut BytesMut, key: &str, v: &Option<Bytes>| {
                if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
                    field::put_bytes(buf, key, v);
                }
            };
            match &self.kind {
                ItemKind::Here {
                    uri,
                    ttl,
                    route,
                    separate_stats,
                    channel_prefix,
                } => {
                    opt(buf, "uri", uri);
                    if let Some(ttl) = ttl {
                        field::put_int(buf, "ttl", i64::from(*ttl));
                    }
                    opt(buf, "route", route);
                    field::put_flag(buf, "separate-stats", *separate_stats);
                    opt(buf, "channel-prefix", channel_prefix);
                }
                ItemKind::KeepAlive { ttl } => {
                    if let Some(ttl) = ttl {
                        field::put_int(buf, "ttl", i64::from(*ttl));
                    }
                }
                ItemKind::Grip { message } => field::put_bytes(buf, "message", message),
                ItemKind::Subscribe { channel } => opt(buf, "channel", channel),
                ItemKind::Send {
                    content_type,
                    message,
                    queue,
                } => {
                    match content_type {
                        Some(Known::Known(t)) => {
                            field::put_bytes(buf, "content-type", t.as_str().as_bytes())
                        }
                        Some(Known::Other(t)) => opt(buf, "content-type", &Some(t.clone())),
                        None => {}
                    }
                    field::put_bytes(buf, "message", message);
                    field::put_flag(buf, "queue", *queue);
                }
                ItemKind::KeepAliveSetup { timeout, mode } => {
                    if let Some(t) = timeout {
                        field::put_int(buf, "timeout", i64::from(*t));
                    }
                    match mode {
                        Some(Known::Known(m)) => {
                            field::put_bytes(buf, "keep-alive-mode", m.as_str().as_bytes());
                        }
                        Some(Known::Other(m)) => opt(buf, "keep-alive-mode", &Some(m.clone())),
                        None => {}
                    }
                }
                ItemKind::Close { code, reason } => {
                    if let Some(code) = code {
                        field::put_int(buf, "code", i64::from(*code));
                    }
                    opt(buf, "reason", reason);
                }
                ItemKind::Gone
                | ItemKind::NeedKeepAlive
                | ItemKind::Ack
                | ItemKind::Cancel
                | ItemKind::Detach => {}
            }
        });
    }
}

/// A ws-control packet: independent items.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WsControlPacket {
    /// The items, in order.
    pub items: Vec<Item>,
}

impl WsControlPacket {
    /// Decodes one frame. Any malformed or unknown item rejects the packet.
    pub fn decode(src: &Bytes, limits: &Limits) -> Result<Self, Error> {
        let frame = field::root(src, limits)?;
        let items = field::required(frame.get(b"items")?, "items")?;
        let items = field::list(&items, "items")?
            .map(|i| Item::decode(src, &i?))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { items })
    }

    /// Appends the encoding (the whole frame).
    pub fn encode(&self, buf: &mut BytesMut) {
        tnet::write_map(buf, |buf| {
            tnet::write_bytes(buf, b"items");
            tnet::write_list(buf, |buf| {
                for item in &self.items {
                    item.encode(buf);
                }
            });
        });
    }
}
