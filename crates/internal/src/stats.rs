//! Stats messages (`spec/internal.md` §8, `spec/publishing.md` §10): one PUB
//! frame `<type> T<tnetstring dict>` (or `<type> J<json>` with
//! `stats_format=json`, handler output only; the handler's reader accepts
//! only `T`, and so does [`StatsPacket::decode`]).

use bytes::{Bytes, BytesMut};
use pushpin_grip::publish::FormatKind;
use pushpin_tnetstring::{self as tnet, Limits, T_PREFIX};
use serde_json::Value as Json;

use crate::wscontrol::Known;
use crate::{Error, field};

/// Connection kind of a `conn` packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectionType {
    /// `http`.
    Http,
    /// `ws`.
    Ws,
}

impl ConnectionType {
    /// The wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Ws => "ws",
        }
    }
}

/// Subscription mode of a `sub` packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubscriptionMode {
    /// `response` holds.
    Response,
    /// `stream` holds.
    Stream,
    /// WebSocket sessions.
    Ws,
}

impl SubscriptionMode {
    /// The wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Response => "response",
            Self::Stream => "stream",
            Self::Ws => "ws",
        }
    }

    fn parse(b: Bytes) -> Known<Self> {
        match b.as_ref() {
            b"response" => Known::Known(Self::Response),
            b"stream" => Known::Known(Self::Stream),
            b"ws" => Known::Known(Self::Ws),
            _ => Known::Other(b),
        }
    }
}

macro_rules! report {
    ($($field:ident => $key:literal),* $(,)?) => {
        /// A `report` packet's counters; absent ones are not written.
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct Report {
            $(
                #[doc = concat!("`", $key, "`")]
                pub $field: Option<i64>,
            )*
        }

        impl Report {
            fn take(&mut self, key: &[u8], v: &tnet::Frame<'_>) -> Result<(), Error> {
                $(
                    if key == $key.as_bytes() {
                        self.$field = Some(field::int(v, concat!("report.", $key))?);
                    }
                )*
                Ok(())
            }

            fn entries(&self, out: &mut Vec<(&'static str, Val)>) {
                $(
                    if let Some(v) = self.$field {
                        out.push(($key, Val::Int(v)));
                    }
                )*
            }
        }
    };
}

report! {
    connections => "connections",
    minutes => "minutes",
    received => "received",
    sent => "sent",
    http_response_sent => "http-response-sent",
    blocks_received => "blocks-received",
    blocks_sent => "blocks-sent",
    duration => "duration",
    client_header_bytes_received => "client-header-bytes-received",
    client_header_bytes_sent => "client-header-bytes-sent",
    client_content_bytes_received => "client-content-bytes-received",
    client_content_bytes_sent => "client-content-bytes-sent",
    client_messages_received => "client-messages-received",
    client_messages_sent => "client-messages-sent",
    server_header_bytes_received => "server-header-bytes-received",
    server_header_bytes_sent => "server-header-bytes-sent",
    server_content_bytes_received => "server-content-bytes-received",
    server_content_bytes_sent => "server-content-bytes-sent",
    server_messages_received => "server-messages-received",
    server_messages_sent => "server-messages-sent",
}

/// The type-specific part of a stats packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatsBody {
    /// `activity`: activity units since the last flush.
    Activity {
        /// Units.
        count: u32,
    },
    /// `message`: one publish fanned out on one transport.
    Message {
        /// Channel.
        channel: Bytes,
        /// The item's id.
        item_id: Option<Bytes>,
        /// Receivers.
        count: u32,
        /// Blocks (with `message_block_size`).
        blocks: Option<i64>,
        /// `http-response`, `http-stream` or `ws-message`.
        transport: Known<FormatKind>,
    },
    /// `conn` (connected or refreshed).
    Connected {
        /// `<sender>:<id>` for HTTP, the cid for WebSockets.
        id: Bytes,
        /// `http` or `ws`.
        conn_type: ConnectionType,
        /// Client IP.
        peer_address: Option<Bytes>,
        /// TLS.
        ssl: bool,
        /// Seconds until the entry expires without a refresh.
        ttl: u32,
    },
    /// `conn` with `unavailable: true`.
    Disconnected {
        /// The connection id.
        id: Bytes,
    },
    /// `sub` (subscribed or refreshed).
    Subscribed {
        /// `response`, `stream` or `ws`.
        mode: Known<SubscriptionMode>,
        /// Channel.
        channel: Bytes,
        /// Seconds until expiry without a refresh.
        ttl: u32,
        /// Subscriber count.
        subscribers: Option<u32>,
    },
    /// `sub` with `unavailable: true`.
    Unsubscribed {
        /// Mode.
        mode: Known<SubscriptionMode>,
        /// Channel.
        channel: Bytes,
    },
    /// `report`: periodic counters.
    Report(Box<Report>),
    /// `counts`.
    Counts {
        /// Requests received (written only when > 0).
        requests_received: Option<u32>,
    },
}

impl StatsBody {
    /// The type prefix.
    pub const fn type_str(&self) -> &'static str {
        match self {
            Self::Activity { .. } => "activity",
            Self::Message { .. } => "message",
            Self::Connected { .. } | Self::Disconnected { .. } => "conn",
            Self::Subscribed { .. } | Self::Unsubscribed { .. } => "sub",
            Self::Report(_) => "report",
            Self::Counts { .. } => "counts",
        }
    }
}

/// A stats packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsPacket {
    /// Instance id of the sender (`pushpin-proxy_<pid>`).
    pub from: Option<Bytes>,
    /// Explicit route id, for per-route data.
    pub route: Option<Bytes>,
    /// Type and fields.
    pub body: StatsBody,
}

/// A field value for the encoders.
enum Val {
    Bytes(Bytes),
    Int(i64),
    Bool(bool),
}

fn transport(b: Bytes) -> Known<FormatKind> {
    FormatKind::ALL
        .into_iter()
        .find(|k| k.as_str().as_bytes() == b.as_ref())
        .map_or(Known::Other(b), Known::Known)
}

#[derive(Default)]
struct Raw {
    from: Option<Bytes>,
    route: Option<Bytes>,
    count: Option<u32>,
    channel: Option<Bytes>,
    item_id: Option<Bytes>,
    blocks: Option<i64>,
    transport: Option<Bytes>,
    id: Option<Bytes>,
    unavailable: bool,
    conn_type: Option<Bytes>,
    peer_address: Option<Bytes>,
    ssl: bool,
    ttl: Option<u32>,
    mode: Option<Bytes>,
    subscribers: Option<u32>,
    requests_received: Option<u32>,
    report: Report,
}

impl StatsPacket {
    /// Decodes one stats frame (`<type> T<tnetstring>`). An unknown type is
    /// [`Error::UnknownType`] (1.36 drops it).
    pub fn decode(msg: &Bytes, limits: &Limits) -> Result<Self, Error> {
        let space = msg
            .iter()
            .position(|&b| b == b' ')
            .ok_or(Error::StatsFraming)?;
        let kind = msg.slice(..space);
        let start = space.saturating_add(1);
        if msg.get(start) != Some(&T_PREFIX) {
            return Err(Error::StatsFraming);
        }
        let src = msg.slice(start.saturating_add(1)..);
        let frame = field::root(&src, limits)?;
        let mut r = Raw::default();
        for entry in frame.map()? {
            let (k, v) = entry?;
            match k {
                b"from" => r.from = field::opt_bytes(&src, &v, "from")?,
                b"route" => r.route = field::opt_bytes(&src, &v, "route")?,
                b"count" => r.count = Some(field::uint(&v, "count")?),
                b"channel" => r.channel = Some(field::bytes(&src, &v, "channel")?),
                b"item-id" => r.item_id = Some(field::bytes(&src, &v, "item-id")?),
                b"blocks" => r.blocks = Some(field::int(&v, "blocks")?).filter(|b| *b >= 0),
                b"transport" => r.transport = Some(field::bytes(&src, &v, "transport")?),
                b"id" => r.id = Some(field::bytes(&src, &v, "id")?),
                b"unavailable" => r.unavailable = field::boolean(&v, "unavailable")?,
                b"type" => r.conn_type = Some(field::bytes(&src, &v, "type")?),
                b"peer-address" => r.peer_address = Some(field::bytes(&src, &v, "peer-address")?),
                b"ssl" => r.ssl = field::boolean(&v, "ssl")?,
                b"ttl" => r.ttl = Some(field::uint(&v, "ttl")?),
                b"mode" => r.mode = Some(field::bytes(&src, &v, "mode")?),
                b"subscribers" => r.subscribers = Some(field::uint(&v, "subscribers")?),
                b"requests-received" => {
                    // 0 is the same as absent: 1.36 writes it only when > 0
                    r.requests_received =
                        Some(field::uint(&v, "requests-received")?).filter(|n| *n > 0);
                }
                other => r.report.take(other, &v)?,
            }
        }
        let body = match kind.as_ref() {
            b"activity" => StatsBody::Activity {
                count: field::required(r.count, "count")?,
            },
            b"message" => StatsBody::Message {
                channel: field::required(r.channel, "channel")?,
                item_id: r.item_id,
                count: field::required(r.count, "count")?,
                blocks: r.blocks,
                transport: transport(field::required(r.transport, "transport")?),
            },
            b"conn" => {
                let id = field::required(r.id, "id")?;
                if r.unavailable {
                    StatsBody::Disconnected { id }
                } else {
                    let t = field::required(r.conn_type, "type")?;
                    let conn_type = match t.as_ref() {
                        b"http" => ConnectionType::Http,
                        b"ws" => ConnectionType::Ws,
                        _ => {
                            return Err(Error::UnknownType {
                                field: "type",
                                value: t,
                            });
                        }
                    };
                    StatsBody::Connected {
                        id,
                        conn_type,
                        peer_address: r.peer_address,
                        ssl: r.ssl,
                        ttl: field::required(r.ttl, "ttl")?,
                    }
                }
            }
            b"sub" => {
                let mode = SubscriptionMode::parse(field::required(r.mode, "mode")?);
                let channel = field::required(r.channel, "channel")?;
                if r.unavailable {
                    StatsBody::Unsubscribed { mode, channel }
                } else {
                    StatsBody::Subscribed {
                        mode,
                        channel,
                        ttl: field::required(r.ttl, "ttl")?,
                        subscribers: r.subscribers,
                    }
                }
            }
            b"report" => StatsBody::Report(Box::new(r.report)),
            b"counts" => StatsBody::Counts {
                requests_received: r.requests_received,
            },
            _ => {
                return Err(Error::UnknownType {
                    field: "type",
                    value: kind,
                });
            }
        };
        Ok(Self {
            from: r.from,
            route: r.route,
            body,
        })
    }

    fn entries(&self) -> Vec<(&'static str, Val)> {
        let mut out = Vec::new();
        if let Some(from) = self.from.as_ref().filter(|f| !f.is_empty()) {
            out.push(("from", Val::Bytes(from.clone())));
        }
        if let Some(route) = self.route.as_ref().filter(|r| !r.is_empty()) {
            out.push(("route", Val::Bytes(route.clone())));
        }
        let b = |v: &Bytes| Val::Bytes(v.clone());
        let s = |v: &'static str| Val::Bytes(Bytes::from_static(v.as_bytes()));
        match &self.body {
            StatsBody::Activity { count } => out.push(("count", Val::Int(i64::from(*count)))),
            StatsBody::Message {
                channel,
                item_id,
                count,
                blocks,
                transport,
            } => {
                out.push(("channel", b(channel)));
                if let Some(id) = item_id {
                    out.push(("item-id", b(id)));
                }
                out.push(("count", Val::Int(i64::from(*count))));
                if let Some(blocks) = blocks.filter(|b| *b >= 0) {
                    out.push(("blocks", Val::Int(blocks)));
                }
                out.push((
                    "transport",
                    match transport {
                        Known::Known(k) => s(k.as_str()),
                        Known::Other(o) => b(o),
                    },
                ));
            }
            StatsBody::Connected {
                id,
                conn_type,
                peer_address,
                ssl,
                ttl,
            } => {
                out.push(("id", b(id)));
                out.push(("type", s(conn_type.as_str())));
                if let Some(p) = peer_address {
                    out.push(("peer-address", b(p)));
                }
                if *ssl {
                    out.push(("ssl", Val::Bool(true)));
                }
                out.push(("ttl", Val::Int(i64::from(*ttl))));
            }
            StatsBody::Disconnected { id } => {
                out.push(("id", b(id)));
                out.push(("unavailable", Val::Bool(true)));
            }
            StatsBody::Subscribed {
                mode,
                channel,
                ttl,
                subscribers,
            } => {
                out.push(("mode", mode_val(mode)));
                out.push(("channel", b(channel)));
                out.push(("ttl", Val::Int(i64::from(*ttl))));
                if let Some(n) = subscribers {
                    out.push(("subscribers", Val::Int(i64::from(*n))));
                }
            }
            StatsBody::Unsubscribed { mode, channel } => {
                out.push(("mode", mode_val(mode)));
                out.push(("channel", b(channel)));
                out.push(("unavailable", Val::Bool(true)));
            }
            StatsBody::Report(report) => report.entries(&mut out),
            StatsBody::Counts { requests_received } => {
                if let Some(n) = requests_received.filter(|n| *n > 0) {
                    out.push(("requests-received", Val::Int(i64::from(n))));
                }
            }
        }
        out
    }

    /// Appends the frame `<type> T<tnetstring>`.
    pub fn encode(&self, buf: &mut BytesMut) {
        buf.extend_from_slice(self.body.type_str().as_bytes());
        buf.extend_from_slice(b" ");
        tnet::write_t_message(buf, |buf| {
            for (key, val) in self.entries() {
                tnet::write_bytes(buf, key.as_bytes());
                match val {
                    Val::Bytes(v) => tnet::write_bytes(buf, &v),
                    Val::Int(v) => tnet::write_int(buf, v),
                    Val::Bool(v) => tnet::write_bool(buf, v),
                }
            }
        });
    }

    /// Appends the `stats_format=json` frame `<type> J<compact JSON>` with
    /// keys sorted as Qt writes them (byte strings as UTF-8 text).
    pub fn encode_json(&self, buf: &mut BytesMut) {
        let mut entries = self.entries();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        buf.extend_from_slice(self.body.type_str().as_bytes());
        buf.extend_from_slice(b" J{");
        for (i, (key, val)) in entries.into_iter().enumerate() {
            if i > 0 {
                buf.extend_from_slice(b",");
            }
            buf.extend_from_slice(Json::from(key).to_string().as_bytes());
            buf.extend_from_slice(b":");
            let v = match val {
                Val::Bytes(v) => Json::from(String::from_utf8_lossy(&v).into_owned()),
                Val::Int(v) => Json::from(v),
                Val::Bool(v) => Json::from(v),
            };
            buf.extend_from_slice(v.to_string().as_bytes());
        }
        buf.extend_from_slice(b"}");
    }
}

fn mode_val(mode: &Known<SubscriptionMode>) -> Val {
    match mode {
        Known::Known(m) => Val::Bytes(Bytes::from_static(m.as_str().as_bytes())),
        Known::Other(o) => Val::Bytes(o.clone()),
    }
}
