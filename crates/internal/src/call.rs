//! Typed ZRPC calls: the methods of the inspect/accept sockets (§4, §5), the
//! proxy command socket (§9) and the handler's publisher-facing command
//! socket (`spec/publishing.md` §6), with their result values.

use bytes::{Bytes, BytesMut};
use pushpin_tnetstring::{self as tnet, Frame, Limits};

use crate::accept::AcceptArgs;
use crate::inspect::InspectArgs;
use crate::{Error, field};

/// A method call with typed args.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    /// `inspect` (proxy → handler).
    Inspect(InspectArgs),
    /// `accept` (proxy → handler).
    Accept(Box<AcceptArgs>),
    /// `conncheck {ids}` (handler → proxy, publisher → handler): connection ids.
    Conncheck(Vec<Bytes>),
    /// `refresh {cid | channel}`.
    Refresh(RefreshArgs),
    /// `report {stats}` (handler → proxy): the encoded stats dictionary
    /// (always `{}` from 1.36), if present.
    Report(Option<Bytes>),
    /// `get-zmq-uris` (publisher → handler).
    GetZmqUris,
    /// `recover` (publisher → handler).
    Recover,
    /// `publish {items}` (publisher → handler): the encoded args dictionary,
    /// for `pushpin_grip::publish::parse_command_args`.
    Publish(Bytes),
    /// Any other method: answer `method-not-found`.
    Unknown(Bytes),
}

/// `refresh` args: a WebSocket connection id or a channel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefreshArgs {
    /// The connection id (`cid`).
    pub cid: Option<Bytes>,
    /// A channel (handler command socket only).
    pub channel: Option<Bytes>,
}

impl Call {
    /// The method name.
    pub fn method(&self) -> &[u8] {
        match self {
            Self::Inspect(_) => b"inspect",
            Self::Accept(_) => b"accept",
            Self::Conncheck(_) => b"conncheck",
            Self::Refresh(_) => b"refresh",
            Self::Report(_) => b"report",
            Self::GetZmqUris => b"get-zmq-uris",
            Self::Recover => b"recover",
            Self::Publish(_) => b"publish",
            Self::Unknown(m) => m,
        }
    }

    /// Decodes the args of `method`. `args` is the encoded dictionary (absent
    /// = empty).
    pub fn decode(method: &[u8], args: Option<&Bytes>, limits: &Limits) -> Result<Self, Error> {
        let empty = Bytes::from_static(b"0:}");
        let src = args.unwrap_or(&empty);
        let frame = field::root(src, limits)?;
        Ok(match method {
            b"inspect" => Self::Inspect(InspectArgs::decode_frame(src, &frame)?),
            b"accept" => Self::Accept(Box::new(AcceptArgs::decode_frame(src, &frame, limits)?)),
            b"conncheck" => Self::Conncheck(decode_conncheck(src, &frame)?),
            b"refresh" => {
                let mut out = RefreshArgs::default();
                for entry in frame.map()? {
                    let (k, v) = entry?;
                    match k {
                        b"cid" => out.cid = Some(field::bytes(src, &v, "cid")?),
                        b"channel" => out.channel = Some(field::bytes(src, &v, "channel")?),
                        _ => {}
                    }
                }
                Self::Refresh(out)
            }
            b"report" => Self::Report(frame.get(b"stats")?.map(|v| field::raw(src, &v))),
            b"get-zmq-uris" => Self::GetZmqUris,
            b"recover" => Self::Recover,
            b"publish" => Self::Publish(src.clone()),
            other => Self::Unknown(Bytes::copy_from_slice(other)),
        })
    }

    /// Writes the args dictionary; returns `false` (writing nothing) for
    /// calls without args.
    pub fn encode_args(&self, buf: &mut BytesMut) -> bool {
        match self {
            Self::Inspect(a) => a.encode(buf),
            Self::Accept(a) => a.encode(buf),
            Self::Conncheck(ids) => {
                tnet::write_map(buf, |buf| field::put_bytes_list(buf, "ids", ids));
            }
            Self::Refresh(r) => tnet::write_map(buf, |buf| {
                if let Some(cid) = &r.cid {
                    field::put_bytes(buf, "cid", cid);
                }
                if let Some(channel) = &r.channel {
                    field::put_bytes(buf, "channel", channel);
                }
            }),
            Self::Report(stats) => tnet::write_map(buf, |buf| {
                field::put_raw(buf, "stats", stats.as_deref().unwrap_or(b"0:}"));
            }),
            Self::Publish(args) => buf.extend_from_slice(args),
            Self::GetZmqUris | Self::Recover | Self::Unknown(_) => return false,
        }
        true
    }
}

fn decode_conncheck(src: &Bytes, frame: &Frame<'_>) -> Result<Vec<Bytes>, Error> {
    let ids = field::required(frame.get(b"ids")?, "ids")?;
    field::bytes_list(src, &ids, "ids")
}

/// Decodes a `conncheck` result value: the list of ids still known.
pub fn decode_id_list(src: &Bytes, limits: &Limits) -> Result<Vec<Bytes>, Error> {
    match tnet::parse_frame(src, limits)? {
        Some((frame, _)) => field::bytes_list(src, &frame, "value"),
        None => Err(Error::Incomplete),
    }
}

/// Encodes a `conncheck` result value.
pub fn encode_id_list(ids: &[Bytes], buf: &mut BytesMut) {
    tnet::write_list(buf, |buf| {
        for id in ids {
            tnet::write_bytes(buf, id);
        }
    });
}

/// The `get-zmq-uris` result: each present only if configured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZmqUris {
    /// The command socket spec.
    pub command: Option<Bytes>,
    /// The PULL publish socket spec.
    pub publish_pull: Option<Bytes>,
    /// The first SUB publish spec, only when bound.
    pub publish_sub: Option<Bytes>,
}

impl ZmqUris {
    /// Decodes the result value.
    pub fn decode(src: &Bytes, limits: &Limits) -> Result<Self, Error> {
        let frame = field::root(src, limits)?;
        let mut out = Self::default();
        for entry in frame.map()? {
            let (k, v) = entry?;
            match k {
                b"command" => out.command = Some(field::bytes(src, &v, "command")?),
                b"publish-pull" => out.publish_pull = Some(field::bytes(src, &v, "publish-pull")?),
                b"publish-sub" => out.publish_sub = Some(field::bytes(src, &v, "publish-sub")?),
                _ => {}
            }
        }
        Ok(out)
    }

    /// Encodes the result value.
    pub fn encode(&self, buf: &mut BytesMut) {
        tnet::write_map(buf, |buf| {
            for (key, v) in [
                ("command", &self.command),
                ("publish-pull", &self.publish_pull),
                ("publish-sub", &self.publish_sub),
            ] {
                if let Some(v) = v {
                    field::put_bytes(buf, key, v);
                }
            }
        });
    }
}
