//! One ZHTTP request session, from its validated first packet to its last response packet
//! (spec/zhttp.md §6, §10.4). One task per session; the same code serves the stream
//! interface (ack, credits, streamed body both ways, keep-alives) and the req interface
//! (one reply, whole body), the difference being in [`Output`] and `Request::stream`.
//!
//! Transitions: `policy check` → `ack` (`credit` = buffer_size when the request body is
//! streamed, else `keep-alive`) → `connect` → `exchange` (write head and body, read head,
//! relay body within credits) → done, or `redirect` → `connect` again (≤ 8), or `error`.
//! At every step the task also serves the initiator's packets (credits, body, cancel) and
//! the timers (our keep-alive every 30 s, 60 s initiator silence, `timeout` inactivity,
//! the request's own `timeout`).
//!
//! Memory per session is bounded: at most `buffer_size` raw response bytes are read ahead
//! (reading stops until credits arrive), plus the decoded output of one
//! [`content::FEED`] of a compressed body, the request body in flight is bounded by the
//! credits we granted, and a non-streamed response is capped by `max-size` or
//! [`MAX_BUFFERED`].

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use pushpin_zhttp::session::{Credits, SeqState};
use pushpin_zhttp::{Condition, Header, Packet, PacketType};
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::mpsc;
use tracing::debug;

use crate::content::{self, Body, ContentDecoder};
use crate::ctx::{Ctx, Output};
use crate::http1::{self, BodyDecoder, BodyKind, Decoded, RequestFraming, ResponseHead};
use crate::request::{Request, Uri};
use crate::upstream::{self, Conn, Stream, Target};

mod ws;

/// Our keep-alive interval towards the initiator (zurl: 30 s).
pub const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(30);
/// The initiator's silence after which the session is dropped without a word.
pub const INITIATOR_TIMEOUT: Duration = Duration::from_secs(60);
/// Redirects followed with `follow-redirects` before `too-many-redirects`.
pub const MAX_REDIRECTS: usize = 8;
/// Largest non-streamed response body held without a `max-size` (the tnetstring cap).
pub const MAX_BUFFERED: u64 = 16 * 1024 * 1024;
/// Bytes read from the origin per read call at most.
const READ_CHUNK: usize = 64 * 1024;
/// First read buffer of a session: small, so requests waiting on a slow origin stay cheap;
/// it grows to [`READ_CHUNK`] while data keeps filling it.
const READ_START: usize = 1024;

/// How a session ends early.
#[derive(Debug)]
enum End {
    /// Send `error` with this condition.
    Error(Condition),
    /// Send `cancel` (protocol violation by the initiator).
    Cancel,
    /// Say nothing (initiator cancelled, went silent, or the output is gone).
    Silent,
}

/// What an exchange with one origin ended with.
enum Outcome {
    Done,
    Redirect {
        status: u16,
        location: Bytes,
    },
    /// A pooled connection failed before any response byte: try a fresh one.
    Retry,
}

/// State touched by the initiator's packets.
struct Flow {
    rx: Option<mpsc::Receiver<Box<Packet>>>,
    seq_in: SeqState,
    /// Request-body credits granted and not yet used by the initiator.
    granted: Credits,
    /// Response-body credits the initiator granted us.
    credits: Credits,
    /// Raw request body not yet framed.
    body: VecDeque<Bytes>,
    body_done: bool,
    last_in: Instant,
}

/// A session ready to run.
pub struct Session {
    ctx: Arc<Ctx>,
    out: Output,
    req: Request,
    flow: Flow,
    started: Instant,
}

impl Session {
    /// A session for `req`; `rx` carries follow-up packets (stream interface only).
    pub fn new(
        ctx: Arc<Ctx>,
        out: Output,
        req: Request,
        rx: Option<mpsc::Receiver<Box<Packet>>>,
    ) -> Self {
        let mut body = VecDeque::new();
        if !req.body.is_empty() {
            body.push_back(req.body.clone());
        }
        let flow = Flow {
            rx,
            seq_in: SeqState::resume(0, 1),
            granted: Credits::new(0),
            credits: Credits::new(req.credits),
            body,
            body_done: !req.more,
            last_in: Instant::now(),
        };
        Self {
            ctx,
            out,
            req,
            flow,
            started: Instant::now(),
        }
    }

    /// Runs the session to its end.
    pub async fn run(mut self) {
        debug!(
            method = %String::from_utf8_lossy(&self.req.method),
            uri = %format_args!(
                "{}://{}{}",
                self.req.uri.scheme.as_str(),
                self.req.uri.authority,
                String::from_utf8_lossy(&self.req.uri.target)
            ),
            "request"
        );
        match self.drive().await {
            Ok(()) | Err(End::Silent) => {}
            Err(End::Error(condition)) => {
                debug!(condition = %condition, "request failed");
                self.out.error(condition).await;
            }
            Err(End::Cancel) => {
                self.out.send(Packet::new(PacketType::Cancel)).await;
            }
        }
    }

    async fn drive(&mut self) -> Result<(), End> {
        let policy = &self.ctx.policy;
        if !self.req.ignore_policies
            && (!policy.allows_host(&self.req.uri.host)
                || self
                    .req
                    .connect_host
                    .as_deref()
                    .is_some_and(|h| !policy.allows_host(h)))
        {
            return Err(End::Error(Condition::PolicyViolation));
        }
        if self.req.uri.scheme.is_ws() {
            // Boxed: keeps the HTTP session's task small.
            return Box::pin(self.websocket()).await;
        }
        let grant = self.req.more.then(|| clamp_u32(self.ctx.buffer_size));
        if let Some(g) = grant {
            self.flow.granted.grant(g);
        }
        if !self.out.ack(grant, self.req.multi).await {
            return Err(End::Silent);
        }
        let mut uri = self.req.uri.clone();
        let mut method = self.req.method.clone();
        let mut redirects = 0;
        let mut retried = false;
        loop {
            let target = self.target(&uri);
            // After a failed reuse, open a fresh connection.
            let conn = self.connect(&target, !retried).await?;
            let reused = conn.reused;
            match self.exchange(conn, &target, &uri, &method).await? {
                Outcome::Done => return Ok(()),
                Outcome::Retry if reused && !retried => retried = true,
                Outcome::Retry => return Err(End::Error(Condition::RemoteConnectionFailed)),
                Outcome::Redirect { status, location } => {
                    redirects += 1;
                    if redirects > MAX_REDIRECTS {
                        return Err(End::Error(Condition::TooManyRedirects));
                    }
                    uri = uri
                        .join(&location)
                        .map_err(|_| End::Error(Condition::BadRequest))?;
                    if uri.scheme.is_ws() {
                        return Err(End::Error(Condition::BadRequest));
                    }
                    if !self.req.ignore_policies && !self.ctx.policy.allows_host(&uri.host) {
                        return Err(End::Error(Condition::PolicyViolation));
                    }
                    // curl's default: POST becomes GET (without body) after 301/302/303;
                    // 307/308 repeat the request with its body.
                    self.flow.body.clear();
                    if matches!(status, 307 | 308) {
                        if !self.req.body.is_empty() {
                            self.flow.body.push_back(self.req.body.clone());
                        }
                    } else if method.as_ref() != b"GET" && method.as_ref() != b"HEAD" {
                        method = Bytes::from_static(b"GET");
                        self.req
                            .headers
                            .retain(|h| !h.is(b"content-length") && !h.is(b"content-type"));
                    }
                    self.req.connect_host = None;
                    self.req.connect_port = None;
                }
            }
        }
    }

    fn target(&self, uri: &Uri) -> Target {
        // After a redirect the connect host no longer applies.
        let same = *uri == self.req.uri;
        let (host, port) = if same {
            (self.req.connect_host().to_owned(), self.req.connect_port())
        } else {
            (uri.host.clone(), uri.port)
        };
        let tls = uri.scheme.is_tls();
        let tls_also = (tls && same && self.req.trust_connect_host)
            .then(|| self.req.connect_host.clone())
            .flatten();
        Target {
            host,
            port,
            tls_name: tls.then(|| uri.host.clone()),
            tls_also,
            insecure: self.req.ignore_tls_errors,
        }
    }

    async fn connect(&mut self, target: &Target, pooled: bool) -> Result<Conn, End> {
        if let Some(conn) = pooled.then(|| self.ctx.pool.take(target)).flatten() {
            return Ok(conn);
        }
        let ctx = Arc::clone(&self.ctx);
        let policy = (!self.req.ignore_policies).then_some(&ctx.policy);
        // Boxed: the DNS and TLS handshake state only exists while connecting.
        let mut fut = Box::pin(upstream::connect(
            target,
            policy,
            &ctx.tls,
            ctx.connect_timeout,
        ));
        // zurl's activity timer runs while connecting too.
        let since = Instant::now();
        loop {
            if Instant::now() >= since + self.ctx.activity_timeout {
                return Err(End::Error(Condition::SessionTimeout));
            }
            let deadline = self.deadline(since);
            tokio::select! {
                r = &mut fut => {
                    return match r {
                        Ok(stream) => Ok(Conn { stream, opened: Instant::now(), reused: false }),
                        Err(e) => {
                            debug!(error = %e, "connect failed");
                            Err(End::Error(e.condition()))
                        }
                    };
                }
                p = recv(&mut self.flow.rx) => self.on_packet(p)?,
                () = tokio::time::sleep_until(deadline.into()) => self.on_timer().await?,
            }
        }
    }

    /// The next timer deadline.
    fn deadline(&self, last_activity: Instant) -> Instant {
        let mut at = last_activity + self.ctx.activity_timeout;
        if let Some(t) = self.req.timeout {
            at = at.min(self.started + t);
        }
        if self.flow.rx.is_some() && !self.out.is_silent() {
            at = at
                .min(self.out.last_sent + KEEP_ALIVE_INTERVAL)
                .min(self.flow.last_in + INITIATOR_TIMEOUT);
        }
        at
    }

    /// Handles whichever timer fired (activity timeouts are checked by the caller).
    async fn on_timer(&mut self) -> Result<(), End> {
        let now = Instant::now();
        if self.req.timeout.is_some_and(|t| now >= self.started + t) {
            return Err(End::Error(Condition::SessionTimeout));
        }
        if self.flow.rx.is_some() && !self.out.is_silent() {
            if now >= self.flow.last_in + INITIATOR_TIMEOUT {
                debug!("initiator silent, dropping session");
                return Err(End::Silent);
            }
            if now >= self.out.last_sent + KEEP_ALIVE_INTERVAL
                && !self.out.send(Packet::new(PacketType::KeepAlive)).await
            {
                return Err(End::Silent);
            }
        }
        Ok(())
    }

    /// Applies one packet from the initiator (`None`: its queue closed).
    fn on_packet(&mut self, p: Option<Packet>) -> Result<(), End> {
        let Some(p) = p else {
            return Err(End::Silent);
        };
        let flow = &mut self.flow;
        flow.last_in = Instant::now();
        if matches!(p.ptype, PacketType::Cancel | PacketType::Error) {
            return Err(End::Silent);
        }
        if flow.seq_in.receive(p.seq).is_err() {
            return Err(End::Cancel);
        }
        if p.user_data.is_some() {
            self.out.user_data = p.user_data.clone();
        }
        if let Some(c) = p.credits {
            flow.credits.grant(c);
        }
        match p.ptype {
            PacketType::Data => {
                let body = p.body.unwrap_or_default();
                if flow.body_done && (!body.is_empty() || p.more) {
                    return Err(End::Error(Condition::BadRequest));
                }
                if flow.granted.spend(body.len()).is_err() {
                    return Err(End::Error(Condition::BadRequest));
                }
                if !body.is_empty() {
                    flow.body.push_back(body);
                }
                if !p.more {
                    flow.body_done = true;
                }
                Ok(())
            }
            PacketType::Credit | PacketType::KeepAlive => Ok(()),
            _ => Err(End::Error(Condition::BadRequest)),
        }
    }

    async fn exchange(
        &mut self,
        conn: Conn,
        target: &Target,
        uri: &Uri,
        method: &Bytes,
    ) -> Result<Outcome, End> {
        let Conn {
            stream,
            opened,
            reused,
        } = conn;
        let (mut rd, mut wr) = tokio::io::split(stream);
        let framing = self.framing();
        let mut head_buf = BytesMut::new();
        let has_client_length = matches!(framing, RequestFraming::Length(_))
            && self.req.headers.iter().any(|h| h.is(b"content-length"));
        http1::write_head(
            &mut head_buf,
            method,
            &uri.target,
            uri.authority.as_bytes(),
            &self.req.headers,
            framing,
            has_client_length,
        );
        let chunked = framing == RequestFraming::Chunked;
        // Framed bytes to write, each with the body bytes to report as credit once written.
        let mut wq: VecDeque<(Bytes, usize)> = VecDeque::from([(head_buf.freeze(), 0)]);
        let mut woff = 0usize;
        let mut last_queued = false;
        let mut rbuf = BytesMut::new();
        let mut eof = false;
        let mut got_bytes = false;
        let mut resp = Response::default();
        let mut decoder: Option<Body> = None;
        let mut last_activity = Instant::now();
        let buffer_size = self.ctx.buffer_size.max(1);
        // With a Content-Length the body must have exactly that many bytes.
        let declared = match framing {
            RequestFraming::Length(n) => Some(n),
            RequestFraming::None => Some(0),
            RequestFraming::Chunked => None,
        };
        let mut queued: u64 = 0;
        loop {
            // Frame newly arrived request body.
            while let Some(data) = self.flow.body.pop_front() {
                let len = data.len();
                queued += len as u64;
                if declared.is_some_and(|n| queued > n) {
                    debug!("request body longer than its Content-Length");
                    return Err(End::Error(Condition::BadRequest));
                }
                let framed = if chunked { http1::chunk(&data) } else { data };
                wq.push_back((framed, len));
            }
            if self.flow.body_done && !last_queued {
                if declared.is_some_and(|n| queued != n) {
                    debug!("request body shorter than its Content-Length");
                    return Err(End::Error(Condition::BadRequest));
                }
                last_queued = true;
                if chunked {
                    wq.push_back((Bytes::from_static(http1::LAST_CHUNK), 0));
                }
            }
            // Relay what the origin sent. Boxed so that a session waiting on its origin
            // does not carry the larger state of relaying a response: memory per held
            // request stays small (one small allocation per origin event instead).
            let pumped = Box::pin(self.pump(&mut resp, &mut decoder, &mut rbuf, eof, method)).await;
            match pumped {
                Ok(Some(step)) => {
                    let clean = decoder.as_ref().is_some_and(Body::is_done);
                    if matches!(step, Outcome::Done)
                        && clean
                        && wq.is_empty()
                        && self.flow.body_done
                        && resp.keep_alive
                        && rbuf.is_empty()
                    {
                        let stream = rd.unsplit(wr);
                        self.ctx.pool.put(
                            target.clone(),
                            Conn {
                                stream,
                                opened,
                                reused: true,
                            },
                        );
                    }
                    return Ok(step);
                }
                Ok(None) => {}
                Err(End::Error(c)) if reused && !got_bytes && eof => {
                    debug!(condition = %c, "pooled connection closed, retrying");
                    return Ok(Outcome::Retry);
                }
                Err(e) => return Err(e),
            }
            let want_read = !eof && rbuf.len() < buffer_size;
            let front = wq.front().map(|(b, _)| b.clone());
            let deadline = self.deadline(last_activity);
            if Instant::now() >= last_activity + self.ctx.activity_timeout {
                return Err(End::Error(Condition::SessionTimeout));
            }
            tokio::select! {
                r = write_some(&mut wr, front.as_ref(), woff), if front.is_some() => {
                    match r {
                        Ok(n) => {
                            last_activity = Instant::now();
                            woff += n;
                            if front.as_ref().is_some_and(|f| woff >= f.len()) {
                                woff = 0;
                                let written = wq.pop_front().map_or(0, |(_, c)| c);
                                self.credit_back(written).await?;
                            }
                        }
                        Err(e) => {
                            if reused && !got_bytes {
                                return Ok(Outcome::Retry);
                            }
                            // The origin may have answered and closed; keep reading.
                            debug!(error = %e, "upstream write failed");
                            wq.clear();
                            self.flow.body.clear();
                            self.flow.body_done = true;
                            last_queued = true;
                        }
                    }
                }
                r = read_some(&mut rd, &mut rbuf, buffer_size), if want_read => {
                    match r {
                        Ok(0) => eof = true,
                        Ok(_) => {
                            got_bytes = true;
                            last_activity = Instant::now();
                        }
                        Err(e) => {
                            debug!(error = %e, "upstream read failed");
                            if reused && !got_bytes {
                                return Ok(Outcome::Retry);
                            }
                            eof = true;
                        }
                    }
                }
                p = recv(&mut self.flow.rx) => self.on_packet(p)?,
                () = tokio::time::sleep_until(deadline.into()) => self.on_timer().await?,
            }
        }
    }

    /// Request body framing: the client's Content-Length, the first packet's whole body, or
    /// chunked for a streamed body of unknown length.
    fn framing(&self) -> RequestFraming {
        let client = self
            .req
            .headers
            .iter()
            .find(|h| h.is(b"content-length"))
            .and_then(|h| {
                std::str::from_utf8(&h.value)
                    .ok()?
                    .trim()
                    .parse::<u64>()
                    .ok()
            });
        if let Some(n) = client {
            return RequestFraming::Length(n);
        }
        if self.req.more {
            return RequestFraming::Chunked;
        }
        let len = self.flow.body.iter().map(Bytes::len).sum::<usize>() as u64;
        let bodyless = matches!(
            self.req.method.as_ref(),
            b"GET" | b"HEAD" | b"DELETE" | b"OPTIONS"
        );
        if len == 0 && bodyless {
            RequestFraming::None
        } else {
            RequestFraming::Length(len)
        }
    }

    /// Reports request body bytes written upstream as credits, while more may come.
    async fn credit_back(&mut self, written: usize) -> Result<(), End> {
        if written == 0 || self.flow.body_done {
            return Ok(());
        }
        let n = clamp_u32(written);
        self.flow.granted.grant(n);
        let p = Packet {
            ptype: PacketType::Credit,
            credits: Some(n),
            ..Packet::default()
        };
        if self.out.send(p).await {
            Ok(())
        } else {
            Err(End::Silent)
        }
    }

    /// Parses the head and relays body within credits. `Some` when the exchange is over.
    async fn pump(
        &mut self,
        resp: &mut Response,
        decoder: &mut Option<Body>,
        rbuf: &mut BytesMut,
        eof: bool,
        method: &Bytes,
    ) -> Result<Option<Outcome>, End> {
        while decoder.is_none() {
            let Some(head) = http1::parse_head(rbuf).map_err(undefined)? else {
                if eof {
                    return Err(End::Error(Condition::UndefinedCondition));
                }
                return Ok(None);
            };
            if (100..200).contains(&head.code) && head.code != 101 {
                // Interim response (100 Continue): wait for the real one.
                continue;
            }
            // Only a request whose whole body came in the first packet can be replayed.
            if self.req.follow_redirects
                && !self.req.more
                && matches!(head.code, 301 | 302 | 303 | 307 | 308)
            {
                if let Some(loc) = head.header(b"location") {
                    return Ok(Some(Outcome::Redirect {
                        status: head.code,
                        location: loc.clone(),
                    }));
                }
            }
            let kind = BodyKind::of(method, &head).map_err(undefined)?;
            let coding = ContentDecoder::for_headers(&head.headers).map_err(undefined)?;
            if let Some(name) = coding.as_ref().and_then(ContentDecoder::unknown) {
                // libcurl fails on the first body byte, before zurl sends the head.
                if !matches!(kind, BodyKind::Empty | BodyKind::Length(0)) {
                    return Err(undefined(format!("unknown content coding {name:?}")));
                }
            }
            let limit = self.body_limit();
            if let (BodyKind::Length(n), Some(max), None) = (kind, limit, &coding) {
                if n > max {
                    return Err(End::Error(Condition::MaxSizeExceeded));
                }
            }
            resp.keep_alive = head.keep_alive() && kind != BodyKind::Close;
            *decoder = Some(Body::new(BodyDecoder::new(kind), coding));
            resp.head = Some(head);
        }
        let Some(decoder) = decoder.as_mut() else {
            return Ok(None);
        };
        let limit = self.body_limit();
        loop {
            let room = if self.req.stream {
                self.flow.credits.available() as usize
            } else {
                usize::MAX
            };
            // With no credits, decode(.., 0) only advances framing (detects the end).
            let piece = decoder
                .decode(rbuf, room.min(READ_CHUNK * 4))
                .map_err(undefined)?;
            let data = match piece {
                Decoded::Data(d) => d,
                Decoded::NeedMore if room == 0 => break,
                Decoded::Done => {
                    return self.finish(resp).await.map(Some);
                }
                Decoded::NeedMore => {
                    if eof && !decoder.is_done() {
                        // Decoded bytes may remain: the next round hands them out.
                        decoder.eof().map_err(undefined)?;
                        continue;
                    }
                    if eof {
                        return self.finish(resp).await.map(Some);
                    }
                    break;
                }
            };
            resp.total += data.len() as u64;
            if limit.is_some_and(|max| resp.total > max) {
                return Err(End::Error(Condition::MaxSizeExceeded));
            }
            if self.req.stream {
                self.flow.credits.take(data.len());
                // Finish the framing if it is already buffered, to set `more` right.
                let done = decoder.is_done()
                    || matches!(decoder.decode(rbuf, 0), Ok(Decoded::Done))
                    || (eof && rbuf.is_empty() && decoder.is_close_delimited());
                self.send_body(resp, data, !done).await?;
                if done {
                    return Ok(Some(Outcome::Done));
                }
            } else {
                resp.collected.extend_from_slice(&data);
            }
        }
        if self.req.stream && !resp.head_sent {
            self.send_body(resp, Bytes::new(), true).await?;
        }
        Ok(None)
    }

    fn body_limit(&self) -> Option<u64> {
        match (self.req.max_size, self.req.stream) {
            (Some(m), _) => Some(m),
            (None, false) => Some(MAX_BUFFERED),
            (None, true) => None,
        }
    }

    /// Sends the last packet of the response.
    async fn finish(&mut self, resp: &mut Response) -> Result<Outcome, End> {
        if self.req.stream {
            if !resp.head_sent || resp.pending_more {
                self.send_body(resp, Bytes::new(), false).await?;
            }
        } else {
            let body = std::mem::take(&mut resp.collected).freeze();
            self.send_body(resp, body, false).await?;
        }
        Ok(Outcome::Done)
    }

    /// Sends the head (first time) and/or a body piece.
    async fn send_body(&mut self, resp: &mut Response, body: Bytes, more: bool) -> Result<(), End> {
        if resp.head_sent && body.is_empty() && more {
            return Ok(());
        }
        let mut p = Packet {
            more,
            ..Packet::default()
        };
        if !resp.head_sent {
            if let Some(head) = &resp.head {
                p.code = Some(head.code);
                p.reason = Some(head.reason.clone());
                p.headers = Some(response_headers(head));
            }
            resp.head_sent = true;
        }
        if !body.is_empty() {
            p.body = Some(body);
        }
        resp.pending_more = more;
        if self.out.send(p).await {
            Ok(())
        } else {
            Err(End::Silent)
        }
    }
}

/// Response progress of one exchange.
#[derive(Default)]
struct Response {
    head: Option<ResponseHead>,
    keep_alive: bool,
    head_sent: bool,
    pending_more: bool,
    total: u64,
    collected: BytesMut,
}

/// The headers passed to the initiator: as received (zurl keeps even
/// `Transfer-Encoding: chunked` and `Content-Encoding`, though the body is delivered
/// decoded), less `Content-Length` when a coding was applied ([`content::strip_length`]).
fn response_headers(head: &ResponseHead) -> Vec<Header> {
    let mut headers = head.headers.clone();
    if content::strip_length(&headers) {
        headers.retain(|h| !h.is(b"content-length"));
    }
    headers
}

/// A bad response from the origin: `undefined-condition`.
fn undefined(e: impl std::fmt::Display) -> End {
    debug!(error = %e, "bad response from origin");
    End::Error(Condition::UndefinedCondition)
}

fn clamp_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

async fn recv(rx: &mut Option<mpsc::Receiver<Box<Packet>>>) -> Option<Packet> {
    match rx {
        Some(rx) => rx.recv().await.map(|p| *p),
        None => std::future::pending().await,
    }
}

/// One write call (cancel-safe: a dropped call wrote nothing).
async fn write_some(
    wr: &mut WriteHalf<Stream>,
    front: Option<&Bytes>,
    off: usize,
) -> std::io::Result<usize> {
    let Some(data) = front.and_then(|f| f.get(off..)) else {
        return Ok(0);
    };
    let n = wr.write(data).await?;
    if n == 0 {
        return Err(std::io::ErrorKind::WriteZero.into());
    }
    wr.flush().await?;
    Ok(n)
}

/// One read call into `buf`, never growing it past `limit` (cancel-safe).
async fn read_some(
    rd: &mut ReadHalf<Stream>,
    buf: &mut BytesMut,
    limit: usize,
) -> std::io::Result<usize> {
    let room = limit.saturating_sub(buf.len()).clamp(1, READ_CHUNK);
    let spare = buf.capacity() - buf.len();
    if spare == 0 {
        // Grow with the data: the reservation doubles while reads keep filling it.
        buf.reserve(buf.capacity().clamp(READ_START, READ_CHUNK).min(room));
    }
    let room = room.min(buf.capacity() - buf.len()).max(1);
    let mut limited = (&mut *rd).take(room as u64);
    limited.read_buf(buf).await
}
