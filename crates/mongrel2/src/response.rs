//! Response messages, handler → mongrel2 (`spec/mongrel2.md` §5):
//! `UUID SP SIZE:[X ]IDS, SP BODY`, one ZeroMQ frame published to mongrel2's SUB
//! socket.
//!
//! The body is written verbatim to every listed connection; an empty body closes
//! them; with the `X ` marker the body is a control message ([`Extended`]). The
//! `write_*` functions encode straight into a `BytesMut` (the hot path);
//! [`Response`] is the typed form for decoding and tests.

use bytes::{BufMut, Bytes, BytesMut};
use pushpin_tnetstring::Kind;

use crate::wire::{decimal_len, element, put_decimal, share, token};
use crate::{ConnId, Error, Limits, Part};

mod extended;

pub use extended::{Ctl, CtlArg, Extended};

/// One message from a handler to mongrel2.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The UUID: must equal mongrel2's `recv_ident` minus its trailing space
    /// (Pushpin: the `send_ident`), `[A-Za-z0-9-]+`.
    pub sender: Bytes,
    /// The connections addressed (1 to [`Limits::max_targets`]).
    pub targets: Vec<ConnId>,
    /// What to do with them.
    pub body: ResponseBody,
}

/// What a response does to its connections.
#[derive(Debug, Clone, PartialEq)]
pub enum ResponseBody {
    /// Write these bytes to each client. Empty data is written as [`ResponseBody::Close`].
    Data(Bytes),
    /// Close each connection (an empty body).
    Close,
    /// An `X` control message.
    Extended(Extended),
}

impl Response {
    /// Raw bytes for `targets`.
    pub fn data(sender: Bytes, targets: Vec<ConnId>, data: Bytes) -> Self {
        Self {
            sender,
            targets,
            body: ResponseBody::Data(data),
        }
    }

    /// Close `targets`.
    pub fn close(sender: Bytes, targets: Vec<ConnId>) -> Self {
        Self {
            sender,
            targets,
            body: ResponseBody::Close,
        }
    }

    /// A `ctl` message for `targets`.
    pub fn ctl(sender: Bytes, targets: Vec<ConnId>, ctl: Ctl) -> Self {
        Self {
            sender,
            targets,
            body: ResponseBody::Extended(Extended::Ctl(ctl)),
        }
    }

    /// Decodes one whole ZeroMQ frame, applying mongrel2's checks (§5.1): the
    /// UUID charset, the exact target netstring, 1..=`max_targets` ids, one space,
    /// and for `X` messages a single `[name, value]` list with nothing after it.
    ///
    /// A frame that stops before the body is [`Error::Truncated`]; a data body has
    /// no length, so any shorter frame that keeps the space is a valid response.
    pub fn decode(msg: &Bytes, limits: &Limits) -> Result<Self, Error> {
        let (sender, at) = token(msg, 0, Part::Sender)?;
        check_sender(sender)?;
        let (frame, after) = element(msg, at, Part::Targets, &limits.tnetstring())?;
        if frame.kind() != Kind::Bytes {
            return Err(Error::UnexpectedType {
                part: Part::Targets,
                found: frame.kind(),
                offset: at,
            });
        }
        let data_start = after.saturating_sub(1).saturating_sub(frame.data().len());
        let (extended, targets) = parse_targets(frame.data(), data_start, at, limits)?;
        match msg.get(after) {
            Some(b' ') => {}
            Some(_) => return Err(Error::ExpectedSpace { offset: after }),
            None => {
                return Err(Error::Truncated {
                    part: Part::Body,
                    offset: after,
                });
            }
        }
        let body_at = after.saturating_add(1);
        let body = if extended {
            ResponseBody::Extended(Extended::decode(msg, body_at, limits)?)
        } else {
            match msg.get(body_at..) {
                Some(data) if !data.is_empty() => ResponseBody::Data(share(msg, data)),
                _ => ResponseBody::Close,
            }
        };
        Ok(Self {
            sender: share(msg, sender),
            targets,
            body,
        })
    }

    /// Appends the frame.
    pub fn encode(&self, buf: &mut BytesMut) {
        match &self.body {
            ResponseBody::Data(data) => write_data(buf, &self.sender, &self.targets, data),
            ResponseBody::Close => write_close(buf, &self.sender, &self.targets),
            ResponseBody::Extended(ext) => write_extended(buf, &self.sender, &self.targets, ext),
        }
    }

    /// The encoding as a fresh buffer.
    pub fn to_bytes(&self) -> Bytes {
        let mut buf = BytesMut::new();
        self.encode(&mut buf);
        buf.freeze()
    }
}

/// Checks a response UUID against mongrel2's grammar, `[A-Za-z0-9-]+`; other
/// bytes make mongrel2 drop the message. Use it on configured idents at startup.
pub fn check_sender(sender: &[u8]) -> Result<(), Error> {
    if sender.is_empty() {
        return Err(Error::EmptyField {
            part: Part::Sender,
            offset: 0,
        });
    }
    match sender
        .iter()
        .position(|&b| !(b.is_ascii_alphanumeric() || b == b'-'))
    {
        Some(offset) => Err(Error::InvalidSender {
            offset,
            byte: sender.get(offset).copied().unwrap_or_default(),
        }),
        None => Ok(()),
    }
}

/// Reads `[X ]ID( ID)*[ ]` (mongrel2's `IdentList`) from the target netstring's
/// DATA, which starts at `base` in the frame; the netstring itself starts at `at`.
fn parse_targets(
    data: &[u8],
    base: usize,
    at: usize,
    limits: &Limits,
) -> Result<(bool, Vec<ConnId>), Error> {
    let (extended, mut rest, mut pos) = match data.strip_prefix(b"X ") {
        Some(rest) => (true, rest, base.saturating_add(2)),
        None => (false, data, base),
    };
    let mut targets = Vec::new();
    while !rest.is_empty() {
        let n = rest
            .iter()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(rest.len());
        let (digits, tail) = rest.split_at_checked(n).unwrap_or((rest, &[]));
        if digits.is_empty() {
            return Err(Error::InvalidTargets { offset: pos });
        }
        let id = ConnId::parse(digits).ok_or(Error::InvalidConnId { offset: pos })?;
        if targets.len() >= limits.max_targets {
            return Err(Error::TooManyTargets {
                max: limits.max_targets,
            });
        }
        targets.push(id);
        pos = pos.saturating_add(n);
        rest = match tail.split_first() {
            None => tail,
            Some((b' ', after_space)) => {
                pos = pos.saturating_add(1);
                after_space
            }
            Some(_) => return Err(Error::InvalidTargets { offset: pos }),
        };
    }
    if targets.is_empty() {
        return Err(Error::NoTargets { offset: at });
    }
    Ok((extended, targets))
}

/// Writes `sender SP SIZE:[X ]ids, SP`, ids separated by single spaces as
/// `m2adapter` writes them.
fn write_head(buf: &mut BytesMut, sender: &[u8], targets: &[ConnId], extended: bool) {
    let ids_len = targets
        .iter()
        .map(|id| decimal_len(id.get()))
        .fold(targets.len().saturating_sub(1), usize::saturating_add);
    let len = if extended {
        ids_len.saturating_add(2)
    } else {
        ids_len
    };
    buf.reserve(sender.len().saturating_add(len).saturating_add(16));
    buf.put_slice(sender);
    buf.put_u8(b' ');
    put_decimal(buf, len as u64);
    buf.put_u8(b':');
    if extended {
        buf.put_slice(b"X ");
    }
    for (i, id) in targets.iter().enumerate() {
        if i > 0 {
            buf.put_u8(b' ');
        }
        put_decimal(buf, id.get());
    }
    buf.put_slice(b", ");
}

/// Appends a response writing `data` to every target (empty `data` closes them).
pub fn write_data(buf: &mut BytesMut, sender: &[u8], targets: &[ConnId], data: &[u8]) {
    write_head(buf, sender, targets, false);
    buf.put_slice(data);
}

/// Appends a response closing every target: `sender SP SIZE:ids, SP` (note the
/// trailing space).
pub fn write_close(buf: &mut BytesMut, sender: &[u8], targets: &[ConnId]) {
    write_head(buf, sender, targets, false);
}

/// Appends a `["ctl", {args}]` extended message for every target.
pub fn write_ctl(buf: &mut BytesMut, sender: &[u8], targets: &[ConnId], args: &[CtlArg]) {
    write_head(buf, sender, targets, true);
    extended::encode_ctl(buf, args);
}

/// Appends any extended message for every target.
pub fn write_extended(buf: &mut BytesMut, sender: &[u8], targets: &[ConnId], ext: &Extended) {
    write_head(buf, sender, targets, true);
    ext.encode(buf);
}

#[cfg(test)]
mod tests;
