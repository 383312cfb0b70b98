//! Response content decoding, as zurl 1.11's libcurl does it (`CURLOPT_ACCEPT_ENCODING`
//! set to `""`): every request advertises [`ACCEPT_ENCODING`], and a response body with a
//! `Content-Encoding` of `gzip`/`x-gzip`, `deflate` (zlib-wrapped or raw), `br`, `zstd`,
//! `identity`/`none`, or a list of them, is delivered decoded. zurl keeps the
//! `Content-Encoding` header and drops `Content-Length` unless the value is exactly
//! `identity` ([`strip_length`]).
//!
//! Observed with zurl 1.11.1 and libcurl 7.88: an unknown coding or a corrupt body ends the
//! request with `undefined-condition` (before the response head when the body came with
//! it); a truncated stream (missing gzip trailer) is not an error; more than
//! [`MAX_CODINGS`] codings are refused.

use std::io::Write;

use bytes::{Bytes, BytesMut};

use crate::http1::{self, BodyDecoder, Decoded};

/// The `Accept-Encoding` zurl's libcurl sends on every HTTP request (the client's own
/// `Accept-Encoding` is dropped).
pub const ACCEPT_ENCODING: &[u8] = b"deflate, gzip, br, zstd";
/// Most codings libcurl accepts in one response.
pub const MAX_CODINGS: usize = 5;
/// Compressed bytes fed to the decoders at once, bounding the output of one step.
pub const FEED: usize = 4096;

/// A body that cannot be decoded.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A coding libcurl does not know.
    #[error("unrecognized content encoding {0:?}")]
    Unknown(String),
    /// More than [`MAX_CODINGS`] codings.
    #[error("more than {MAX_CODINGS} content encodings")]
    TooMany,
    /// Corrupt compressed data.
    #[error("content decoding failed: {0}")]
    Corrupt(std::io::Error),
}

/// Whether zurl drops `Content-Length` from a response with these headers: any
/// `Content-Encoding` other than exactly `identity` (zurl's own test, case-sensitive).
pub fn strip_length(headers: &[pushpin_zhttp::Header]) -> bool {
    headers
        .iter()
        .find(|h| h.is(b"content-encoding"))
        .is_some_and(|h| !h.value.is_empty() && h.value.as_ref() != b"identity")
}

/// One coding's decoder.
enum Stage {
    Identity,
    Gzip(flate2::write::GzDecoder<Vec<u8>>),
    /// `deflate` before its first two bytes tell zlib from raw deflate.
    DeflateStart(Vec<u8>),
    Zlib(flate2::write::ZlibDecoder<Vec<u8>>),
    RawDeflate(flate2::write::DeflateDecoder<Vec<u8>>),
    Brotli(Box<brotli_decompressor::DecompressorWriter<Vec<u8>>>),
    Zstd(zstd::stream::write::Decoder<'static, Vec<u8>>),
    /// A coding libcurl does not know: fails on the first byte.
    Unknown(String),
}

impl Stage {
    fn new(name: &str) -> Result<Self, Error> {
        Ok(match name.to_ascii_lowercase().as_str() {
            "identity" | "none" => Self::Identity,
            "gzip" | "x-gzip" => Self::Gzip(flate2::write::GzDecoder::new(Vec::new())),
            "deflate" => Self::DeflateStart(Vec::new()),
            "br" => Self::Brotli(Box::new(brotli_decompressor::DecompressorWriter::new(
                Vec::new(),
                FEED,
            ))),
            "zstd" => {
                Self::Zstd(zstd::stream::write::Decoder::new(Vec::new()).map_err(Error::Corrupt)?)
            }
            _ => Self::Unknown(name.to_owned()),
        })
    }

    /// Decodes `input`, returning what came out.
    fn push(&mut self, input: &[u8]) -> Result<Vec<u8>, Error> {
        if input.is_empty() {
            return Ok(Vec::new());
        }
        if let Self::DeflateStart(pending) = self {
            pending.extend_from_slice(input);
            if pending.len() < 2 {
                return Ok(Vec::new());
            }
            let first = std::mem::take(pending);
            *self = if is_zlib_header(first[0], first[1]) {
                Self::Zlib(flate2::write::ZlibDecoder::new(Vec::new()))
            } else {
                Self::RawDeflate(flate2::write::DeflateDecoder::new(Vec::new()))
            };
            return self.push(&first);
        }
        let out = match self {
            Self::Identity => return Ok(input.to_vec()),
            Self::Unknown(name) => return Err(Error::Unknown(name.clone())),
            Self::DeflateStart(_) => return Ok(Vec::new()),
            Self::Gzip(d) => write_all(d, input).map(|()| d.get_mut()),
            Self::Zlib(d) => write_all(d, input).map(|()| d.get_mut()),
            Self::RawDeflate(d) => write_all(d, input).map(|()| d.get_mut()),
            Self::Brotli(d) => write_all(d.as_mut(), input).map(|()| d.get_mut()),
            Self::Zstd(d) => write_all(d, input).map(|()| d.get_mut()),
        };
        out.map(std::mem::take).map_err(Error::Corrupt)
    }

    /// The end of the input: whatever the decoder still holds. Like libcurl, an incomplete
    /// stream is not an error.
    fn finish(&mut self) -> Vec<u8> {
        match self {
            Self::DeflateStart(pending) if !pending.is_empty() => {
                let one = std::mem::take(pending);
                *self = Self::RawDeflate(flate2::write::DeflateDecoder::new(Vec::new()));
                let mut out = self.push(&one).unwrap_or_default();
                out.extend(self.finish());
                out
            }
            Self::Gzip(d) => {
                let _ = d.try_finish();
                std::mem::take(d.get_mut())
            }
            Self::Zlib(d) => {
                let _ = d.try_finish();
                std::mem::take(d.get_mut())
            }
            Self::RawDeflate(d) => {
                let _ = d.try_finish();
                std::mem::take(d.get_mut())
            }
            Self::Brotli(d) => {
                let _ = d.flush();
                std::mem::take(d.get_mut())
            }
            Self::Zstd(d) => {
                let _ = d.flush();
                std::mem::take(d.get_mut())
            }
            Self::Identity | Self::Unknown(_) | Self::DeflateStart(_) => Vec::new(),
        }
    }
}

fn write_all(w: &mut impl Write, input: &[u8]) -> std::io::Result<()> {
    w.write_all(input)?;
    w.flush()
}

/// RFC 1950: compression method 8 and a header checksum that divides by 31.
fn is_zlib_header(cmf: u8, flg: u8) -> bool {
    cmf & 0x0f == 8 && (u16::from(cmf) << 8 | u16::from(flg)) % 31 == 0
}

/// The decoders for one response body, outermost coding last.
pub struct ContentDecoder {
    stages: Vec<Stage>,
}

impl std::fmt::Debug for ContentDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContentDecoder")
            .field("stages", &self.stages.len())
            .finish()
    }
}

impl ContentDecoder {
    /// The decoder for a response with these headers (every `Content-Encoding` header, in
    /// order; their comma-separated codings). `Ok(None)`: nothing to decode.
    pub fn for_headers(headers: &[pushpin_zhttp::Header]) -> Result<Option<Self>, Error> {
        let mut stages = Vec::new();
        for h in headers.iter().filter(|h| h.is(b"content-encoding")) {
            let value = String::from_utf8_lossy(&h.value);
            for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                if stages.len() == MAX_CODINGS {
                    return Err(Error::TooMany);
                }
                stages.push(Stage::new(name)?);
            }
        }
        Ok((!stages.is_empty()).then_some(Self { stages }))
    }

    /// Whether a non-empty body cannot be decoded at all (an unknown coding).
    pub fn unknown(&self) -> Option<&str> {
        self.stages.iter().find_map(|s| match s {
            Stage::Unknown(name) => Some(name.as_str()),
            _ => None,
        })
    }

    /// Decodes a piece of the body.
    pub fn push(&mut self, input: &[u8]) -> Result<Bytes, Error> {
        let mut data = input.to_vec();
        for stage in self.stages.iter_mut().rev() {
            data = stage.push(&data)?;
        }
        Ok(Bytes::from(data))
    }

    /// The end of the body: the rest of the decoded data.
    pub fn finish(&mut self) -> Result<Bytes, Error> {
        let mut out = BytesMut::new();
        let n = self.stages.len();
        for i in (0..n).rev() {
            let mut data = self.stages[i].finish();
            // What an outer stage flushed still passes through the inner ones.
            for stage in self.stages[..i].iter_mut().rev() {
                data = stage.push(&data)?;
            }
            out.extend_from_slice(&data);
        }
        Ok(out.freeze())
    }
}

/// Why a response body cannot be delivered.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// Bad framing.
    #[error(transparent)]
    Framing(#[from] http1::Error),
    /// Bad coding.
    #[error(transparent)]
    Content(#[from] Error),
    /// An earlier error already ended the body.
    #[error("body decoding failed earlier")]
    Failed,
}

/// A response body: its framing ([`BodyDecoder`]) and then its content codings. Decoded
/// bytes wait in a buffer until the caller may send them; it holds the output of at most
/// one [`FEED`] of compressed input beyond what was taken.
#[derive(Debug)]
pub struct Body {
    framing: BodyDecoder,
    content: Option<ContentDecoder>,
    decoded: BytesMut,
    finished: bool,
    failed: bool,
}

impl Body {
    /// A body framed by `framing`, decoded by `content` when given.
    pub fn new(framing: BodyDecoder, content: Option<ContentDecoder>) -> Self {
        Self {
            framing,
            content,
            decoded: BytesMut::new(),
            finished: false,
            failed: false,
        }
    }

    /// Like [`BodyDecoder::decode`], with decoded bytes. `max == 0` only advances the body
    /// (to detect its end).
    pub fn decode(&mut self, buf: &mut BytesMut, max: usize) -> Result<Decoded, BodyError> {
        if self.failed {
            return Err(BodyError::Failed);
        }
        let r = self.decode_inner(buf, max);
        self.failed = r.is_err();
        r
    }

    fn decode_inner(&mut self, buf: &mut BytesMut, max: usize) -> Result<Decoded, BodyError> {
        let Some(content) = self.content.as_mut() else {
            return Ok(self.framing.decode(buf, max)?);
        };
        loop {
            if !self.decoded.is_empty() {
                if max == 0 {
                    return Ok(Decoded::NeedMore);
                }
                let n = self.decoded.len().min(max);
                return Ok(Decoded::Data(self.decoded.split_to(n).freeze()));
            }
            if self.finished {
                return Ok(Decoded::Done);
            }
            match self.framing.decode(buf, FEED)? {
                Decoded::Data(d) => self.decoded.extend_from_slice(&content.push(&d)?),
                Decoded::NeedMore => return Ok(Decoded::NeedMore),
                Decoded::Done => {
                    self.decoded.extend_from_slice(&content.finish()?);
                    self.finished = true;
                }
            }
        }
    }

    /// Whether the whole body was read and handed out.
    pub fn is_done(&self) -> bool {
        self.framing.is_done()
            && (self.content.is_none() || (self.finished && self.decoded.is_empty()))
    }

    /// Whether the body ends when the connection closes and nothing is left to hand out
    /// once the read buffer is empty.
    pub fn is_close_delimited(&self) -> bool {
        self.framing.is_close_delimited() && self.content.is_none()
    }

    /// The connection reached EOF (see [`BodyDecoder::eof`]); decoded bytes may remain.
    pub fn eof(&mut self) -> Result<(), BodyError> {
        Ok(self.framing.eof()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pushpin_zhttp::Header;

    fn ce(v: &str) -> Vec<Header> {
        vec![Header::new(
            Bytes::from_static(b"Content-Encoding"),
            Bytes::from(v.to_owned()),
        )]
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn decode_all(headers: &[Header], body: &[u8], step: usize) -> Result<Vec<u8>, Error> {
        let mut d = ContentDecoder::for_headers(headers)?.unwrap();
        let mut out = Vec::new();
        for piece in body.chunks(step) {
            out.extend_from_slice(&d.push(piece)?);
        }
        out.extend_from_slice(&d.finish()?);
        Ok(out)
    }

    const TEXT: &[u8] = b"hello gzip hello gzip\nhello gzip hello gzip\nhello gzip hello gzip\n";

    #[test]
    fn gzip_in_any_pieces() {
        let z = gzip(TEXT);
        for step in [1, 2, 7, 4096] {
            assert_eq!(decode_all(&ce("gzip"), &z, step).unwrap(), TEXT);
            assert_eq!(decode_all(&ce("X-GZIP"), &z, step).unwrap(), TEXT);
        }
    }

    #[test]
    fn deflate_zlib_and_raw() {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(TEXT).unwrap();
        let zlib = e.finish().unwrap();
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(TEXT).unwrap();
        let raw = e.finish().unwrap();
        for step in [1, 3, 4096] {
            assert_eq!(decode_all(&ce("deflate"), &zlib, step).unwrap(), TEXT);
            assert_eq!(decode_all(&ce("deflate"), &raw, step).unwrap(), TEXT);
        }
    }

    #[test]
    fn brotli_and_zstd() {
        let z = zstd::stream::encode_all(TEXT, 3).unwrap();
        assert_eq!(decode_all(&ce("zstd"), &z, 5).unwrap(), TEXT);
        // A brotli stream holding TEXT as one uncompressed meta-block (window 16, MLEN 66).
        let br = [&[0x10, 0x04, 0x10][..], TEXT, &[0x03]].concat();
        assert_eq!(decode_all(&ce("br"), &br, 4).unwrap(), TEXT);
    }

    #[test]
    fn stacked_codings_decode_outermost_first() {
        let z = gzip(&gzip(TEXT));
        assert_eq!(decode_all(&ce("gzip, gzip"), &z, 10).unwrap(), TEXT);
        let two = [ce("gzip"), ce("identity")].concat();
        assert_eq!(decode_all(&two, &gzip(TEXT), 10).unwrap(), TEXT);
        assert!(matches!(
            ContentDecoder::for_headers(&ce("identity,identity,identity,identity,identity,gzip")),
            Err(Error::TooMany)
        ));
    }

    #[test]
    fn unknown_and_corrupt() {
        let d = ContentDecoder::for_headers(&ce("foo")).unwrap().unwrap();
        assert_eq!(d.unknown(), Some("foo"));
        assert!(matches!(
            decode_all(&ce("foo"), b"x", 1),
            Err(Error::Unknown(_))
        ));
        assert!(matches!(
            decode_all(&ce("gzip"), b"this is not gzip at all", 4096),
            Err(Error::Corrupt(_))
        ));
        assert!(ContentDecoder::for_headers(&ce("")).unwrap().is_none());
    }

    #[test]
    fn truncated_trailer_is_not_an_error() {
        let z = gzip(TEXT);
        assert_eq!(
            decode_all(&ce("gzip"), &z[..z.len() - 4], 4096).unwrap(),
            TEXT
        );
    }

    #[test]
    fn body_hands_out_decoded_bytes_within_max() {
        let z = gzip(&vec![b'x'; 50_000]);
        let mut raw = BytesMut::from(&z[..]);
        let framing = BodyDecoder::new(http1::BodyKind::Length(z.len() as u64));
        let mut body = Body::new(framing, ContentDecoder::for_headers(&ce("gzip")).unwrap());
        let mut got = 0;
        loop {
            match body.decode(&mut raw, 1000).unwrap() {
                Decoded::Data(d) => {
                    assert!(d.len() <= 1000);
                    got += d.len();
                }
                Decoded::Done => break,
                Decoded::NeedMore => panic!("all input is buffered"),
            }
        }
        assert_eq!(got, 50_000);
        assert!(body.is_done());
        let mut bad = BytesMut::from(&b"this is not gzip at all"[..]);
        let framing = BodyDecoder::new(http1::BodyKind::Length(23));
        let mut body = Body::new(framing, ContentDecoder::for_headers(&ce("gzip")).unwrap());
        assert!(body.decode(&mut bad, 0).is_err());
        assert!(matches!(body.decode(&mut bad, 10), Err(BodyError::Failed)));
    }

    #[test]
    fn content_length_dropped_unless_identity() {
        assert!(strip_length(&ce("gzip")));
        assert!(strip_length(&ce("Identity")));
        assert!(!strip_length(&ce("identity")));
        assert!(!strip_length(&[]));
    }
}
