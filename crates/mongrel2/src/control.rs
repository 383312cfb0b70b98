//! The mongrel2 control port (`spec/mongrel2.md` §6): a REP socket taking a
//! tnetstring list `[command, {args}]` and answering with a tnetstring dictionary.
//! `m2adapter` only sends `status` `{what: "net"}` and reads columns 0 (id) and
//! 7 (`bytes_written`) of each row of the reply; errors come back as `{code, error}`.
//!
//! These are the payload frames only; the DEALER's empty delimiter frame is the
//! socket layer's business.

use bytes::{Bytes, BytesMut};
use pushpin_tnetstring::{Frame, Kind, Value, write_bytes, write_int, write_list, write_map};

use crate::wire::{element, share};
use crate::{ConnId, Error, Limits, Part};

/// A control-port request: `[command, {args}]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ControlRequest {
    /// The command (`status`, `kill`, `stop`, `reload`, `time`, ...).
    pub command: Bytes,
    /// Its arguments, in order.
    pub args: Vec<(Bytes, Value)>,
}

impl ControlRequest {
    /// `["status", {"what": "net"}]`, what `m2adapter` polls with.
    pub fn status_net() -> Self {
        Self {
            command: Bytes::from_static(b"status"),
            args: vec![(Bytes::from_static(b"what"), Value::str("net"))],
        }
    }

    /// Appends the request.
    pub fn encode(&self, buf: &mut BytesMut) {
        write_list(buf, |buf| {
            write_bytes(buf, &self.command);
            write_map(buf, |buf| {
                for (k, v) in &self.args {
                    write_bytes(buf, k);
                    v.encode(buf);
                }
            });
        });
    }

    /// Decodes a request frame (for test doubles of mongrel2).
    pub fn decode(msg: &Bytes, limits: &Limits) -> Result<Self, Error> {
        let part = Part::ControlRequest;
        let (list, _) = element(msg, 0, part, &limits.tnetstring())?;
        let malformed = |source| Error::Tnetstring {
            part,
            offset: 0,
            source,
        };
        expect_kind(&list, Kind::List, part)?;
        let mut items = list.list().map_err(malformed)?;
        let command = items.next().transpose().map_err(malformed)?;
        let args = items.next().transpose().map_err(malformed)?;
        let (Some(command), Some(args)) = (command, args) else {
            return Err(Error::Arity {
                part,
                len: usize::from(command.is_some()),
            });
        };
        let extra = items.count();
        if extra > 0 {
            return Err(Error::Arity {
                part,
                len: extra.saturating_add(2),
            });
        }
        expect_kind(&command, Kind::Bytes, part)?;
        expect_kind(&args, Kind::Map, part)?;
        let mut out = Vec::new();
        for entry in args.map().map_err(malformed)? {
            let (k, v) = entry.map_err(malformed)?;
            let v = Value::from_frame(msg, &v, limits.max_depth).map_err(malformed)?;
            out.push((share(msg, k), v));
        }
        Ok(Self {
            command: share(msg, command.data()),
            args: out,
        })
    }
}

/// A control-port reply.
#[derive(Debug, Clone, PartialEq)]
pub enum ControlReply {
    /// A table with `rows` (the `status net` answer).
    NetStatus(NetStatus),
    /// `{code, error}`.
    Error {
        /// The error code.
        code: i64,
        /// The message.
        error: Bytes,
    },
    /// Any other dictionary.
    Other(Value),
}

/// The `status net` table: one row per client connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetStatus {
    /// The `headers` (column names) as sent.
    pub columns: Vec<Bytes>,
    /// The rows.
    pub rows: Vec<ConnStatus>,
}

/// One `status net` row: `[id, fd, type, last_ping, last_read, last_write,
/// bytes_read, bytes_written]` (`last_*` in seconds ago).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnStatus {
    /// The connection id.
    pub id: ConnId,
    /// Its socket descriptor.
    pub fd: i64,
    /// mongrel2's connection type code.
    pub conn_type: i64,
    /// Seconds since the last ping (or `ctl keep-alive`).
    pub last_ping: i64,
    /// Seconds since the last read.
    pub last_read: i64,
    /// Seconds since the last write.
    pub last_write: i64,
    /// Bytes read from the client so far.
    pub bytes_read: i64,
    /// Bytes written to the client so far.
    pub bytes_written: i64,
}

impl NetStatus {
    /// The column names mongrel2 sends, in order.
    pub const COLUMNS: [&'static str; 8] = [
        "id",
        "fd",
        "type",
        "last_ping",
        "last_read",
        "last_write",
        "bytes_read",
        "bytes_written",
    ];

    /// A table with mongrel2's column names.
    pub fn new(rows: Vec<ConnStatus>) -> Self {
        Self {
            columns: Self::COLUMNS
                .iter()
                .map(|c| Bytes::from_static(c.as_bytes()))
                .collect(),
            rows,
        }
    }
}

impl ControlReply {
    /// Appends the reply dictionary (`headers` before `rows`, as mongrel2 writes it).
    pub fn encode(&self, buf: &mut BytesMut) {
        match self {
            Self::NetStatus(status) => write_map(buf, |buf| {
                write_bytes(buf, b"headers");
                write_list(buf, |buf| {
                    for c in &status.columns {
                        write_bytes(buf, c);
                    }
                });
                write_bytes(buf, b"rows");
                write_list(buf, |buf| {
                    for r in &status.rows {
                        write_list(buf, |buf| {
                            let id = i64::try_from(r.id.get()).unwrap_or(i64::MAX);
                            for n in [
                                id,
                                r.fd,
                                r.conn_type,
                                r.last_ping,
                                r.last_read,
                                r.last_write,
                                r.bytes_read,
                                r.bytes_written,
                            ] {
                                write_int(buf, n);
                            }
                        });
                    }
                });
            }),
            Self::Error { code, error } => write_map(buf, |buf| {
                write_bytes(buf, b"code");
                write_int(buf, *code);
                write_bytes(buf, b"error");
                write_bytes(buf, error);
            }),
            Self::Other(value) => value.encode(buf),
        }
    }

    /// Decodes a reply frame. A dictionary with `rows` is a [`NetStatus`]
    /// (checked as `m2adapter` reads it: each row a list whose first eight
    /// elements are integers); one with an integer `code` and a string `error`
    /// is an error; anything else is kept as a value.
    pub fn decode(msg: &Bytes, limits: &Limits) -> Result<Self, Error> {
        let part = Part::ControlReply;
        let (frame, _) = element(msg, 0, part, &limits.tnetstring())?;
        expect_kind(&frame, Kind::Map, part)?;
        let value = Value::from_frame(msg, &frame, limits.max_depth).map_err(|source| {
            Error::Tnetstring {
                part,
                offset: 0,
                source,
            }
        })?;
        if let Some(rows) = value.get(b"rows") {
            return decode_net_status(&value, rows).map(Self::NetStatus);
        }
        if let (Some(Value::Int(code)), Some(Value::Bytes(error))) =
            (value.get(b"code"), value.get(b"error"))
        {
            return Ok(Self::Error {
                code: *code,
                error: error.clone(),
            });
        }
        Ok(Self::Other(value))
    }
}

fn decode_net_status(value: &Value, rows: &Value) -> Result<NetStatus, Error> {
    let unexpected = |found: Kind| Error::UnexpectedType {
        part: Part::ControlReply,
        found,
        offset: 0,
    };
    let columns = match value.get(b"headers") {
        Some(Value::List(items)) => items
            .iter()
            .map(|c| c.as_bytes().cloned().ok_or(unexpected(c.kind())))
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(unexpected(other.kind())),
        None => Vec::new(),
    };
    let Value::List(rows) = rows else {
        return Err(unexpected(rows.kind()));
    };
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let Value::List(cells) = row else {
            return Err(unexpected(row.kind()));
        };
        let mut ints = [0i64; 8];
        if cells.len() < ints.len() {
            return Err(Error::ShortStatusRow { len: cells.len() });
        }
        for (slot, cell) in ints.iter_mut().zip(cells) {
            *slot = cell.as_int().ok_or(unexpected(cell.kind()))?;
        }
        let [
            id,
            fd,
            conn_type,
            last_ping,
            last_read,
            last_write,
            bytes_read,
            bytes_written,
        ] = ints;
        out.push(ConnStatus {
            id: ConnId(u64::try_from(id).map_err(|_| Error::InvalidConnId { offset: 0 })?),
            fd,
            conn_type,
            last_ping,
            last_read,
            last_write,
            bytes_read,
            bytes_written,
        });
    }
    Ok(NetStatus { columns, rows: out })
}

fn expect_kind(frame: &Frame<'_>, kind: Kind, part: Part) -> Result<(), Error> {
    if frame.kind() == kind {
        Ok(())
    } else {
        Err(Error::UnexpectedType {
            part,
            found: frame.kind(),
            offset: frame.offset(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS_REQUEST: &[u8] = b"26:6:status,13:4:what,3:net,}]";
    const STATUS_REPLY: &[u8] = b"155:7:headers,86:2:id,2:fd,4:type,9:last_ping,9:last_read,\
        10:last_write,10:bytes_read,13:bytes_written,]4:rows,44:40:1:5#2:28#1:1#2:11#2:11#2:11#\
        4:8260#2:76#]]}";

    #[test]
    fn status_net_request_matches_the_vector() {
        // mongrel2/download-credits-ctl.jsonl seq 24.
        let mut buf = BytesMut::new();
        ControlRequest::status_net().encode(&mut buf);
        assert_eq!(&buf[..], STATUS_REQUEST);
        let req = ControlRequest::decode(&Bytes::from_static(STATUS_REQUEST), &Limits::default())
            .unwrap();
        assert_eq!(req, ControlRequest::status_net());
    }

    #[test]
    fn status_net_reply_matches_the_vector() {
        // mongrel2/download-credits-ctl.jsonl seq 25.
        let reply =
            ControlReply::decode(&Bytes::from_static(STATUS_REPLY), &Limits::default()).unwrap();
        let row = ConnStatus {
            id: ConnId(5),
            fd: 28,
            conn_type: 1,
            last_ping: 11,
            last_read: 11,
            last_write: 11,
            bytes_read: 8260,
            bytes_written: 76,
        };
        assert_eq!(reply, ControlReply::NetStatus(NetStatus::new(vec![row])));
        let mut buf = BytesMut::new();
        reply.encode(&mut buf);
        assert_eq!(&buf[..], STATUS_REPLY);
    }

    #[test]
    fn error_and_other_replies() {
        let limits = Limits::default();
        let err = ControlReply::Error {
            code: 1,
            error: Bytes::from_static(b"no such command"),
        };
        let mut buf = BytesMut::new();
        err.encode(&mut buf);
        assert_eq!(ControlReply::decode(&buf.freeze(), &limits).unwrap(), err);
        let other = ControlReply::decode(&Bytes::from_static(b"11:4:time,1:5#}"), &limits).unwrap();
        assert!(matches!(other, ControlReply::Other(_)));
    }

    #[test]
    fn bad_replies() {
        let limits = Limits::default();
        let decode = |s: &'static [u8]| ControlReply::decode(&Bytes::from_static(s), &limits);
        assert!(matches!(
            decode(b"3:abc,"),
            Err(Error::UnexpectedType {
                part: Part::ControlReply,
                found: Kind::Bytes,
                ..
            })
        ));
        assert_eq!(
            decode(b"17:4:rows,7:4:1:1#]]}"),
            Err(Error::ShortStatusRow { len: 1 })
        );
        assert!(decode(b"17:4:rows,7:4:1:1#]]").unwrap_err().is_truncated());
        assert_eq!(
            decode(b"48:4:rows,37:33:2:-1#1:0#1:0#1:0#1:0#1:0#1:0#1:0#]]}"),
            Err(Error::InvalidConnId { offset: 0 })
        );
    }

    #[test]
    fn bad_requests() {
        let limits = Limits::default();
        let decode = |s: &'static [u8]| ControlRequest::decode(&Bytes::from_static(s), &limits);
        assert_eq!(
            decode(b"9:6:status,]"),
            Err(Error::Arity {
                part: Part::ControlRequest,
                len: 1
            })
        );
        assert!(matches!(
            decode(b"13:6:status,1:x,]"),
            Err(Error::UnexpectedType {
                found: Kind::Bytes,
                ..
            })
        ));
    }
}
