//! One HTTP request as a ZHTTP stream-mode session, condure's way
//! (`spec/zhttp.md` §6, §9, §11.2).
//!
//! Transitions:
//!
//! ```text
//! start ──first packet (PUSH)──▶ waiting for responder
//!   any responder packet: learn/refresh its address (`from`), check `seq`, take credits
//!   request body: sent as data packets within the responder's credits (after an
//!                 optional `100 Continue`), `more` on all but the last
//!   first data packet (`code`): write the head ─▶ body; later packets: body
//!   body bytes written to the client ─▶ `credit` packets back to the responder
//!   packet without `more` ─▶ done (connection kept if both sides allow it)
//!   `handoff-start` ─▶ flush, `handoff-proceed`, send nothing until the new owner speaks
//!   `cancel`/`error` from the responder ─▶ close the client connection, no answer
//!   client EOF / I/O error / shutdown ─▶ `cancel` to the responder, close
//!   60 s without a responder packet ─▶ close, nothing sent (as condure)
//!   idle for 45 s ─▶ `keep-alive`
//! ```

use std::sync::Arc;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use pushpin_zhttp::session::Credits;
use pushpin_zhttp::{Header, Packet, PacketType};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tracing::debug;

use super::link::{End, Link};
use super::{Next, Peer, Shared};
use crate::http1::{BodyKind, ChunkedDecoder, RequestHead, RespFraming, write_response_head};
use crate::zio::{Inbound, Receiver};

/// An empty read buffer with more capacity than this is released.
pub(crate) const RELEASE_ABOVE: usize = 256;

enum ReqBody {
    Length(u64),
    Chunked(ChunkedDecoder),
    Done,
}

enum Resp {
    Waiting,
    Body(RespFraming),
    Done,
}

struct Session<'a> {
    link: Link<'a>,
    /// Request-body credits the responder granted us.
    out_credits: Credits,
    /// Response-body credits we granted the responder.
    in_credits: Credits,
    minor: u8,
    head_request: bool,
    keep_alive: bool,
    expect_continue: bool,
    sent_continue: bool,
    body: ReqBody,
    resp: Resp,
    persistent: bool,
    wbuf: BytesMut,
    /// Response body bytes written (or queued) but not yet credited back.
    unacked: u32,
    eof: bool,
}

/// Runs one request's session to its end and says what the connection does next.
///
/// The set-up (registration, first packet) runs before the future is returned, so
/// the request head and the packet built from it are not part of the state a held
/// session keeps.
pub(crate) fn run<'a, R, W>(
    r: &'a mut R,
    w: &'a mut W,
    rbuf: &'a mut BytesMut,
    head: RequestHead,
    id: Bytes,
    peer: &Peer,
    shared: &'a Arc<Shared>,
) -> impl Future<Output = Next> + use<'a, R, W>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let config = &shared.config;
    let (registration, mut rx) = shared.registry.register(id.clone());
    let mut s = Session {
        link: Link::new(shared, id),
        out_credits: Credits::new(0),
        in_credits: Credits::new(u32::try_from(config.buffer_size).unwrap_or(u32::MAX)),
        minor: head.minor,
        head_request: head.is_head(),
        keep_alive: head.keep_alive,
        expect_continue: head.expect_continue && head.minor >= 1,
        sent_continue: false,
        body: match head.body {
            BodyKind::None => ReqBody::Done,
            BodyKind::Length(n) => ReqBody::Length(n),
            BodyKind::Chunked => ReqBody::Chunked(ChunkedDecoder::default()),
        },
        resp: Resp::Waiting,
        persistent: false,
        wbuf: BytesMut::new(),
        unacked: 0,
        eof: false,
    };
    let first = s.first_packet(&head, peer);
    drop(head);
    let first = s.link.encode_first(first);
    async move {
        let _registration = &registration;
        if !s.link.send_first(first).await {
            debug!("could not queue the first packet");
            return Next::Close;
        }
        s.finish(r, w, rbuf, &mut rx).await
    }
}

impl Session<'_> {
    /// Drives the session and maps how it ended to what the connection does next.
    async fn finish<R, W>(
        &mut self,
        r: &mut R,
        w: &mut W,
        rbuf: &mut BytesMut,
        rx: &mut Receiver,
    ) -> Next
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let s = self;
        match s.drive(r, w, rbuf, rx).await {
            Ok(()) => {
                if s.persistent && matches!(s.body, ReqBody::Done) {
                    Next::KeepAlive
                } else {
                    Next::Close
                }
            }
            Err(End::Silent) => Next::Close,
            Err(End::Cancel) => {
                s.link.cancel().await;
                Next::Close
            }
        }
    }
}

impl Session<'_> {
    fn first_packet(&self, head: &RequestHead, peer: &Peer) -> Packet {
        let host = head
            .header(b"host")
            .cloned()
            .unwrap_or_else(|| peer.local_host.clone());
        let uri = if head.target.starts_with(b"http://") || head.target.starts_with(b"https://") {
            head.target.clone()
        } else {
            let scheme: &[u8] = if peer.secure { b"https://" } else { b"http://" };
            let mut u = BytesMut::with_capacity(8 + host.len() + head.target.len());
            u.put_slice(scheme);
            u.put_slice(&host);
            u.put_slice(&head.target);
            u.freeze()
        };
        Packet {
            method: Some(head.method.clone()),
            uri: Some(uri),
            headers: Some(
                head.headers
                    .iter()
                    .map(|(n, v)| Header::new(n.clone(), v.clone()))
                    .collect(),
            ),
            credits: Some(self.in_credits.available()),
            more: !matches!(self.body, ReqBody::Done),
            stream: true,
            peer_address: peer.addr.map(|a| Bytes::from(a.ip().to_string())),
            peer_port: peer.addr.map(|a| a.port()),
            ..Packet::default()
        }
    }

    async fn drive<R, W>(
        &mut self,
        r: &mut R,
        w: &mut W,
        rbuf: &mut BytesMut,
        rx: &mut Receiver,
    ) -> Result<(), End>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let limit = self.link.shared.config.buffer_size;
        // One timer for the whole session, instead of a new timer-wheel entry per
        // loop turn (the hot path of a fan-out). Shutdown arrives as the end of
        // `rx` (`Registry::close`).
        let timer = tokio::time::sleep_until(self.link.deadline());
        tokio::pin!(timer);
        loop {
            self.pump_body(rbuf).await?;
            if rbuf.is_empty() && rbuf.capacity() > RELEASE_ABOVE {
                *rbuf = BytesMut::new();
            }
            if self.wbuf.is_empty() {
                if matches!(self.resp, Resp::Done) {
                    return Ok(());
                }
                self.return_credits().await?;
            }
            let want_read = !self.eof && rbuf.len() < limit;
            // While a request body is coming, read in large pieces; otherwise the
            // read only watches for disconnects and pipelined requests, and
            // `read_buf` allocates a minimal buffer when bytes actually arrive.
            if want_read && !matches!(self.body, ReqBody::Done) && rbuf.capacity() == rbuf.len() {
                rbuf.reserve(limit.saturating_sub(rbuf.len()).min(4096));
            }
            // The timer may fire early (the deadline only moves later as packets
            // flow); `on_timer` then finds nothing due and the timer is re-armed.
            let deadline = self.link.deadline();
            if deadline < timer.deadline() {
                timer.as_mut().reset(deadline);
            }
            tokio::select! {
                packet = rx.recv() => match packet {
                    Some(p) => self.handle(p, w).await?,
                    None => {
                        debug!("session ended by the packet router (stopping, or stuck)");
                        return Err(End::Cancel);
                    }
                },
                res = w.write(&self.wbuf), if !self.wbuf.is_empty() => match res {
                    Ok(0) | Err(_) => {
                        debug!("client write failed");
                        return Err(End::Cancel);
                    }
                    Ok(n) => {
                        self.wbuf.advance(n);
                        if self.wbuf.is_empty() {
                            self.wbuf = BytesMut::new();
                        }
                    }
                },
                res = r.read_buf(rbuf), if want_read => match res {
                    Ok(0) => {
                        debug!("client closed");
                        self.eof = true;
                        return Err(End::Cancel);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        debug!(error = %e, "client read failed");
                        return Err(End::Cancel);
                    }
                },
                () = &mut timer => {
                    self.link.on_timer().await?;
                    timer.as_mut().reset(self.link.deadline());
                }
            }
        }
    }

    /// Returns credits for response bytes the client has taken, while the
    /// response is still streaming.
    async fn return_credits(&mut self) -> Result<(), End> {
        if self.unacked == 0 || !self.link.can_send() {
            return Ok(());
        }
        if !matches!(self.resp, Resp::Body(_)) {
            self.unacked = 0;
            return Ok(());
        }
        let n = std::mem::take(&mut self.unacked);
        self.in_credits.grant(n);
        self.link.send_credit(n).await
    }

    async fn handle<W: AsyncWrite + Unpin>(&mut self, p: Inbound, w: &mut W) -> Result<(), End> {
        self.link.receive(&p)?;
        if let Some(c) = p.credits {
            self.out_credits.grant(c);
        }
        match p.ptype {
            PacketType::Data => self.on_data(*p),
            PacketType::Credit | PacketType::KeepAlive | PacketType::HandoffProceed => Ok(()),
            PacketType::Cancel | PacketType::Error => {
                debug!(ptype = %p.ptype, "responder ended the session");
                Err(End::Silent)
            }
            PacketType::HandoffStart => {
                // Flush what is already queued for the client, then let go.
                if !self.wbuf.is_empty() {
                    if w.write_all(&self.wbuf).await.is_err() {
                        return Err(End::Cancel);
                    }
                    self.wbuf = BytesMut::new();
                }
                self.link.handoff().await
            }
            other => {
                debug!(ptype = %other, "unexpected packet type in an http session");
                Err(End::Cancel)
            }
        }
    }

    fn on_data(&mut self, p: Packet) -> Result<(), End> {
        let body = p.body.clone().unwrap_or_default();
        if let Err(e) = self.in_credits.spend(body.len()) {
            debug!(error = %e, "responder exceeded its credits");
            return Err(End::Cancel);
        }
        match self.resp {
            Resp::Waiting => {
                let Some(code) = p.code else {
                    debug!("first response packet without a code");
                    return Err(End::Cancel);
                };
                let complete = (!p.more).then_some(body.len());
                let (framing, persistent) = write_response_head(
                    &mut self.wbuf,
                    self.minor,
                    self.head_request,
                    self.keep_alive,
                    code,
                    p.reason.as_deref().unwrap_or_default(),
                    p.header_list(),
                    complete,
                );
                self.persistent = persistent;
                self.resp = Resp::Body(framing);
            }
            Resp::Body(_) => {}
            Resp::Done => {
                debug!("response data after the end");
                return Err(End::Cancel);
            }
        }
        self.write_body(&body)?;
        if !p.more {
            self.finish_body();
        }
        Ok(())
    }

    fn write_body(&mut self, body: &[u8]) -> Result<(), End> {
        let Resp::Body(framing) = &mut self.resp else {
            return Ok(());
        };
        let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
        self.unacked = self.unacked.saturating_add(len);
        if body.is_empty() {
            return Ok(());
        }
        match framing {
            RespFraming::NoBody => {}
            RespFraming::Length(left) => {
                let Some(rest) = left.checked_sub(body.len() as u64) else {
                    debug!("response body longer than its content-length");
                    return Err(End::Cancel);
                };
                *left = rest;
                self.wbuf.extend_from_slice(body);
            }
            RespFraming::Chunked => {
                self.wbuf.reserve(body.len() + 20);
                put_hex(&mut self.wbuf, body.len());
                self.wbuf.put_slice(b"\r\n");
                self.wbuf.put_slice(body);
                self.wbuf.put_slice(b"\r\n");
            }
            RespFraming::Close => self.wbuf.extend_from_slice(body),
        }
        Ok(())
    }

    fn finish_body(&mut self) {
        match self.resp {
            Resp::Body(RespFraming::Chunked) => self.wbuf.put_slice(b"0\r\n\r\n"),
            Resp::Body(RespFraming::Length(left)) if left > 0 => {
                debug!(missing = left, "response shorter than its content-length");
                self.persistent = false;
            }
            _ => {}
        }
        self.resp = Resp::Done;
    }

    /// Sends request body already buffered, within the responder's credits.
    async fn pump_body(&mut self, rbuf: &mut BytesMut) -> Result<(), End> {
        if matches!(self.body, ReqBody::Done) || !self.link.can_send() {
            return Ok(());
        }
        if self.expect_continue
            && !self.sent_continue
            && matches!(self.resp, Resp::Waiting)
            && self.out_credits.available() > 0
        {
            self.wbuf.put_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
            self.sent_continue = true;
        }
        let max = self.link.shared.config.buffer_size;
        loop {
            let avail = (self.out_credits.available() as usize).min(max);
            if avail == 0 {
                return Ok(());
            }
            let (data, done) = match &mut self.body {
                ReqBody::Done => return Ok(()),
                ReqBody::Length(left) => {
                    let n = usize::try_from(*left)
                        .unwrap_or(usize::MAX)
                        .min(rbuf.len())
                        .min(avail);
                    let data = rbuf.split_to(n).freeze();
                    *left -= n as u64;
                    (data, *left == 0)
                }
                ReqBody::Chunked(dec) => match dec.decode(rbuf, avail) {
                    Ok(data) => (data, dec.is_done()),
                    Err(e) => {
                        debug!(error = %e, "bad chunked request body");
                        return Err(End::Cancel);
                    }
                },
            };
            if data.is_empty() && !done {
                return Ok(());
            }
            self.out_credits.take(data.len());
            let sending = {
                let mut p = Packet::new(PacketType::Data);
                p.more = !done;
                if !data.is_empty() {
                    p.body = Some(data);
                }
                self.link.send(p)
            };
            sending.await?;
            if done {
                self.body = ReqBody::Done;
                return Ok(());
            }
        }
    }
}

/// Appends `n` in lower-case hex (a chunk size line) without allocating.
fn put_hex(buf: &mut BytesMut, n: usize) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut tmp = [0u8; 16];
    let mut at = tmp.len();
    let mut n = n;
    loop {
        at -= 1;
        tmp[at] = DIGITS[n & 0xf];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    buf.put_slice(&tmp[at..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_hex_matches_format() {
        for n in [
            0,
            1,
            9,
            10,
            15,
            16,
            255,
            4096,
            8192,
            0xdead_beef,
            usize::MAX,
        ] {
            let mut buf = BytesMut::new();
            put_hex(&mut buf, n);
            assert_eq!(&buf[..], format!("{n:x}").as_bytes());
        }
    }
}
