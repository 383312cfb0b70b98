//! `inspect` args (`spec/internal.md` §4.1); the result is an
//! [`InspectInfo`](crate::InspectInfo).

use bytes::{Bytes, BytesMut};
use pushpin_tnetstring::{self as tnet, Frame, Limits};

use crate::shapes::RequestData;
use crate::{Error, field};

/// Most body bytes the 1.36 proxy sends in inspect args.
pub const MAX_INSPECT_BODY: usize = 10_000;

/// The args of an `inspect` call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InspectArgs {
    /// The client request; `body` is at most [`MAX_INSPECT_BODY`] bytes.
    pub request: RequestData,
    /// The body was longer than what was sent (or not yet complete).
    pub truncated: bool,
    /// The route has the `session` option.
    pub get_session: bool,
    /// Ask for an automatic sharing key (intreq passthrough `auto-share`).
    pub auto_share: bool,
}

impl InspectArgs {
    /// Decodes an encoded args dictionary.
    pub fn decode(src: &Bytes, limits: &Limits) -> Result<Self, Error> {
        let frame = field::root(src, limits)?;
        Self::decode_frame(src, &frame)
    }

    pub(crate) fn decode_frame(src: &Bytes, frame: &Frame<'_>) -> Result<Self, Error> {
        let names = RequestData::names("args");
        let mut out = Self::default();
        let mut seen = [false; 3];
        for entry in field::map(frame, "args")? {
            let (k, v) = entry?;
            if out.request.take_field(src, k, &v, &mut seen, &names)? {
                continue;
            }
            match k {
                b"truncated" => out.truncated = field::boolean(&v, "truncated")?,
                b"get-session" => out.get_session = field::boolean(&v, "get-session")?,
                b"auto-share" => out.auto_share = field::boolean(&v, "auto-share")?,
                _ => {}
            }
        }
        RequestData::check_seen(seen, &names)?;
        Ok(out)
    }

    /// Appends the args dictionary.
    pub fn encode(&self, buf: &mut BytesMut) {
        tnet::write_map(buf, |buf| {
            self.request.encode_fields(buf);
            field::put_flag(buf, "truncated", self.truncated);
            field::put_flag(buf, "get-session", self.get_session);
            field::put_flag(buf, "auto-share", self.auto_share);
        });
    }
}
