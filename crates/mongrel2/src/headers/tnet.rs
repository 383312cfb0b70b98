//! The tnetstring headers dictionary (`protocol=tnetstring`, `spec/mongrel2.md`
//! §2.2): byte-string keys, each value a byte string or a list of byte strings.
//! Values are zero-copy slices of the frame.

use bytes::{Bytes, BytesMut};
use pushpin_tnetstring::{Frame, Kind, write_bytes, write_list, write_map};

use crate::wire::share;
use crate::{Error, HeaderValue, Headers, Limits, Part};

/// Reads the headers dictionary `frame`, which starts at `base` in `msg`.
pub(crate) fn decode(
    msg: &Bytes,
    frame: &Frame<'_>,
    base: usize,
    limits: &Limits,
) -> Result<Headers, Error> {
    let malformed = |source| Error::Tnetstring {
        part: Part::Headers,
        offset: base,
        source,
    };
    let mut headers = Headers::new();
    let mut count = 0usize;
    for entry in frame.map().map_err(malformed)? {
        let (key, value) = entry.map_err(malformed)?;
        let name = share(msg, key);
        let value = match value.kind() {
            Kind::Bytes => HeaderValue::One(share(msg, value.data())),
            Kind::List => {
                let mut items = Vec::new();
                for item in value.list().map_err(malformed)? {
                    let item = item.map_err(malformed)?;
                    if item.kind() != Kind::Bytes {
                        return Err(Error::HeaderType {
                            name,
                            found: item.kind().as_str(),
                        });
                    }
                    items.push(share(msg, item.data()));
                }
                if items.is_empty() {
                    return Err(Error::EmptyHeaderList { name });
                }
                HeaderValue::Many(items)
            }
            other => {
                return Err(Error::HeaderType {
                    name,
                    found: other.as_str(),
                });
            }
        };
        count = count.saturating_add(value.len());
        if count > limits.max_headers {
            return Err(Error::TooManyHeaders {
                max: limits.max_headers,
            });
        }
        headers.0.push((name, value));
    }
    Ok(headers)
}

/// Appends `headers` as a tnetstring dictionary, in their order.
pub(crate) fn encode(buf: &mut BytesMut, headers: &Headers) {
    write_map(buf, |buf| {
        for (name, value) in headers {
            write_bytes(buf, name);
            match value {
                HeaderValue::One(v) => write_bytes(buf, v),
                HeaderValue::Many(vs) => write_list(buf, |buf| {
                    for v in vs {
                        write_bytes(buf, v);
                    }
                }),
            }
        }
    });
}
