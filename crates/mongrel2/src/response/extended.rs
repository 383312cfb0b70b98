//! The body of an `X` (extended) response: exactly one tnetstring list
//! `[name, value]` with nothing after it (`spec/mongrel2.md` §5.3). mongrel2
//! handles `name = "ctl"` itself ([`Ctl`]: `keep-alive`, `credits`, `cancel`) and
//! hands other names to its filters ([`Extended::Other`]).

use bytes::{Bytes, BytesMut};
use pushpin_tnetstring::{
    Frame, Kind, Value, write_bool, write_bytes, write_int, write_list, write_map,
};

use crate::wire::{element, share};
use crate::{Error, Limits, Part};

/// The `ctl` name of control messages.
const CTL: &[u8] = b"ctl";
const KEEP_ALIVE: &[u8] = b"keep-alive";
const CREDITS: &[u8] = b"credits";
const CANCEL: &[u8] = b"cancel";

/// An extended message.
#[derive(Debug, Clone, PartialEq)]
pub enum Extended {
    /// `["ctl", {args}]`.
    Ctl(Ctl),
    /// `[name, value]` for any other name (mongrel2 filters).
    Other {
        /// The list's first element.
        name: Bytes,
        /// The list's second element.
        value: Value,
    },
}

/// The arguments of a `ctl` message, in wire order. mongrel2 looks each known
/// key up in the dictionary, so several may be combined (§5.3).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Ctl {
    /// The arguments.
    pub args: Vec<CtlArg>,
}

/// One `ctl` argument.
#[derive(Debug, Clone, PartialEq)]
pub enum CtlArg {
    /// `keep-alive`: refresh the connection's ping time. mongrel2 only checks
    /// that the key is present; it is written as `true`, as Pushpin does.
    KeepAlive,
    /// `credits`: let mongrel2 read and forward this many more upload bytes.
    Credits(u32),
    /// `cancel`: disconnect the client. Written as `true`.
    Cancel,
    /// Any other key, kept as read.
    Other {
        /// The key.
        name: Bytes,
        /// Its value.
        value: Value,
    },
}

impl Ctl {
    /// `{"keep-alive": true}`.
    pub fn keep_alive() -> Self {
        Self {
            args: vec![CtlArg::KeepAlive],
        }
    }

    /// `{"credits": n}`.
    pub fn credits(n: u32) -> Self {
        Self {
            args: vec![CtlArg::Credits(n)],
        }
    }

    /// `{"cancel": true}`.
    pub fn cancel() -> Self {
        Self {
            args: vec![CtlArg::Cancel],
        }
    }

    /// True if `keep-alive` is present.
    pub fn has_keep_alive(&self) -> bool {
        self.args.iter().any(|a| matches!(a, CtlArg::KeepAlive))
    }

    /// The `credits` value mongrel2 would use (the last one).
    pub fn credit_amount(&self) -> Option<u32> {
        self.args.iter().rev().find_map(|a| match a {
            CtlArg::Credits(n) => Some(*n),
            _ => None,
        })
    }

    /// True if `cancel` is present.
    pub fn has_cancel(&self) -> bool {
        self.args.iter().any(|a| matches!(a, CtlArg::Cancel))
    }

    /// Appends `["ctl", {args}]`.
    pub fn encode(&self, buf: &mut BytesMut) {
        encode_ctl(buf, &self.args);
    }
}

/// Appends `["ctl", {args}]` from a slice (no `Ctl` needed).
pub(crate) fn encode_ctl(buf: &mut BytesMut, args: &[CtlArg]) {
    write_list(buf, |buf| {
        write_bytes(buf, CTL);
        write_map(buf, |buf| {
            for arg in args {
                match arg {
                    CtlArg::KeepAlive => {
                        write_bytes(buf, KEEP_ALIVE);
                        write_bool(buf, true);
                    }
                    CtlArg::Credits(n) => {
                        write_bytes(buf, CREDITS);
                        write_int(buf, i64::from(*n));
                    }
                    CtlArg::Cancel => {
                        write_bytes(buf, CANCEL);
                        write_bool(buf, true);
                    }
                    CtlArg::Other { name, value } => {
                        write_bytes(buf, name);
                        value.encode(buf);
                    }
                }
            }
        });
    });
}

impl Extended {
    /// Appends the tnetstring list.
    pub fn encode(&self, buf: &mut BytesMut) {
        match self {
            Self::Ctl(ctl) => ctl.encode(buf),
            Self::Other { name, value } => write_list(buf, |buf| {
                write_bytes(buf, name);
                value.encode(buf);
            }),
        }
    }

    /// Reads the `X` body that fills `msg` from `at` to its end.
    pub(crate) fn decode(msg: &Bytes, at: usize, limits: &Limits) -> Result<Self, Error> {
        let tn = limits.tnetstring();
        let (list, end) = element(msg, at, Part::Extended, &tn)?;
        if end != msg.len() {
            return Err(Error::TrailingBytes {
                part: Part::Extended,
                offset: end,
            });
        }
        let malformed = |source| Error::Tnetstring {
            part: Part::Extended,
            offset: at,
            source,
        };
        if list.kind() != Kind::List {
            return Err(Error::UnexpectedType {
                part: Part::Extended,
                found: list.kind(),
                offset: at,
            });
        }
        let mut items = list.list().map_err(malformed)?;
        let name = items.next().transpose().map_err(malformed)?;
        let value = items.next().transpose().map_err(malformed)?;
        let (Some(name), Some(value)) = (name, value) else {
            let len = usize::from(name.is_some());
            return Err(Error::Arity {
                part: Part::Extended,
                len,
            });
        };
        let extra = items.count();
        if extra > 0 {
            return Err(Error::Arity {
                part: Part::Extended,
                len: extra.saturating_add(2),
            });
        }
        if name.kind() != Kind::Bytes {
            return Err(Error::UnexpectedType {
                part: Part::Extended,
                found: name.kind(),
                offset: at.saturating_add(name.offset()),
            });
        }
        if name.data() == CTL {
            return decode_ctl(msg, &value, at, limits).map(Self::Ctl);
        }
        Ok(Self::Other {
            name: share(msg, name.data()),
            value: Value::from_frame(msg, &value, limits.max_depth).map_err(malformed)?,
        })
    }
}

/// Reads the argument dictionary of a `ctl` message; frame offsets are relative to `at`.
fn decode_ctl(msg: &Bytes, args: &Frame<'_>, at: usize, limits: &Limits) -> Result<Ctl, Error> {
    let malformed = |source| Error::Tnetstring {
        part: Part::CtlArgs,
        offset: at.saturating_add(args.offset()),
        source,
    };
    if args.kind() != Kind::Map {
        return Err(Error::UnexpectedType {
            part: Part::CtlArgs,
            found: args.kind(),
            offset: at.saturating_add(args.offset()),
        });
    }
    let mut out = Vec::new();
    for entry in args.map().map_err(malformed)? {
        let (key, value) = entry.map_err(malformed)?;
        out.push(match key {
            KEEP_ALIVE => CtlArg::KeepAlive,
            CANCEL => CtlArg::Cancel,
            CREDITS => {
                if value.kind() != Kind::Int {
                    return Err(Error::UnexpectedType {
                        part: Part::Credits,
                        found: value.kind(),
                        offset: at.saturating_add(value.offset()),
                    });
                }
                let n = value.as_int().map_err(|source| Error::Tnetstring {
                    part: Part::Credits,
                    offset: at.saturating_add(value.offset()),
                    source,
                })?;
                CtlArg::Credits(u32::try_from(n).map_err(|_| Error::InvalidCredits { value: n })?)
            }
            _ => CtlArg::Other {
                name: share(msg, key),
                value: Value::from_frame(msg, &value, limits.max_depth).map_err(malformed)?,
            },
        });
    }
    Ok(Ctl { args: out })
}
