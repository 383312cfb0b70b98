//! [`SocketBuilder`]: creates a socket in the process-wide context, applies
//! options in the order libzmq needs (everything before the first
//! bind/connect), binds or connects, and registers `ZMQ_FD` with tokio.
//!
//! All sockets share one `zmq::Context` that lives for the whole process and
//! is never terminated. Terminating a context blocks until every socket has
//! closed and its linger has expired, which must never happen on a runtime
//! thread; with a static context, dropping a socket is just `zmq_close`
//! (non-blocking; libzmq's reaper thread finishes the job). `inproc://`
//! endpoints work between any two sockets built here.

use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;

use crate::options::{Hwm, SocketKind, TcpKeepalive};
use crate::spec::{Mode, SocketSpec};
use crate::{AsyncSocket, Error, ZmqError, ipc};

/// Default `ZMQ_LINGER`: a closed socket keeps trying to deliver what it
/// queued for up to half a second (Pushpin's longest shutdown wait,
/// `spec/zhttp.md` §2.3). Never zero by default: with linger 0, libzmq 4.3.4
/// aborts the process (`session_base.cpp:260`, libzmq issue #3442) when a
/// peer disconnects while a socket being closed is halfway through writing a
/// multipart message, which both ends closing together makes likely. The
/// context is never terminated, so linger does not delay process exit.
pub const DEFAULT_LINGER: Duration = Duration::from_millis(500);

fn context() -> &'static zmq::Context {
    static CONTEXT: OnceLock<zmq::Context> = OnceLock::new();
    CONTEXT.get_or_init(zmq::Context::new)
}

/// Options and endpoints for one socket; [`build`](Self::build) creates it.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until build() is called"]
pub struct SocketBuilder {
    kind: SocketKind,
    hwm: Hwm,
    linger: Duration,
    identity: Option<Bytes>,
    router_mandatory: bool,
    immediate: bool,
    probe_router: bool,
    xpub_verbose: bool,
    tcp_keepalive: Option<TcpKeepalive>,
    subscriptions: Vec<Bytes>,
    ipc_file_mode: Option<u32>,
    endpoints: Vec<(Mode, SocketSpec)>,
    empty_list: bool,
}

impl SocketBuilder {
    /// A builder for a `kind` socket with high-water marks `hwm`.
    pub fn new(kind: SocketKind, hwm: Hwm) -> Self {
        Self {
            kind,
            hwm,
            linger: DEFAULT_LINGER,
            identity: None,
            router_mandatory: false,
            immediate: false,
            probe_router: false,
            xpub_verbose: false,
            tcp_keepalive: None,
            subscriptions: Vec::new(),
            ipc_file_mode: None,
            endpoints: Vec::new(),
            empty_list: false,
        }
    }

    /// `ZMQ_LINGER` (default [`DEFAULT_LINGER`]). Note that the process does
    /// not wait for lingering messages when it exits.
    pub fn linger(mut self, linger: Duration) -> Self {
        self.linger = linger;
        self
    }

    /// `ZMQ_ROUTING_ID`: 1 to 255 bytes, not starting with a zero byte.
    /// Pushpin sets it to the instance id on its ZHTTP ROUTER sockets, zurl
    /// on its DEALER (`spec/zhttp.md` §2.4).
    pub fn identity(mut self, id: impl Into<Bytes>) -> Self {
        self.identity = Some(id.into());
        self
    }

    /// `ZMQ_ROUTER_MANDATORY` (ROUTER only): sending to an unknown identity
    /// fails with [`Error::is_host_unreachable`] instead of a silent drop,
    /// and a full peer makes `send` wait instead of dropping. condure sets it.
    pub fn router_mandatory(mut self, on: bool) -> Self {
        self.router_mandatory = on;
        self
    }

    /// `ZMQ_IMMEDIATE`: queue only to completed connections (Pushpin's
    /// client-side ROUTER sets it).
    pub fn immediate(mut self, on: bool) -> Self {
        self.immediate = on;
        self
    }

    /// `ZMQ_PROBE_ROUTER` (ROUTER, DEALER, REQ): send an empty message to
    /// each new peer, so a ROUTER learns the peer's identity on connect.
    /// Only a connecting socket sends the probe (observed with the bundled
    /// libzmq 4.3; a binding DEALER sends nothing).
    pub fn probe_router(mut self, on: bool) -> Self {
        self.probe_router = on;
        self
    }

    /// `ZMQ_XPUB_VERBOSE` (XPUB only): pass on duplicate subscriptions.
    pub fn xpub_verbose(mut self, on: bool) -> Self {
        self.xpub_verbose = on;
        self
    }

    /// TCP keep-alive on this socket's tcp connections.
    pub fn tcp_keepalive(mut self, keepalive: TcpKeepalive) -> Self {
        self.tcp_keepalive = Some(keepalive);
        self
    }

    /// `ZMQ_SUBSCRIBE` (SUB only); may be repeated. An empty prefix
    /// subscribes to everything.
    pub fn subscribe(mut self, prefix: impl Into<Bytes>) -> Self {
        self.subscriptions.push(prefix.into());
        self
    }

    /// Mode applied (permission bits only) to every ipc path this socket
    /// binds: Pushpin's `ipc_file_mode`.
    pub fn ipc_file_mode(mut self, mode: u32) -> Self {
        self.ipc_file_mode = Some(mode);
        self
    }

    /// Binds `spec` (may be repeated).
    pub fn bind(mut self, spec: SocketSpec) -> Self {
        self.endpoints.push((Mode::Bind, spec));
        self
    }

    /// Connects `spec` (may be repeated).
    pub fn connect(mut self, spec: SocketSpec) -> Self {
        self.endpoints.push((Mode::Connect, spec));
        self
    }

    /// Pushpin's `setupSocket` rule for a spec list: [`Mode::Bind`] binds
    /// only the first spec (the rest are ignored, with a debug log),
    /// [`Mode::Connect`] connects all of them. An empty list is
    /// [`Error::NoSpec`] at build time.
    pub fn attach(mut self, mode: Mode, specs: &[SocketSpec]) -> Self {
        match (mode, specs) {
            (_, []) => self.empty_list = true,
            (Mode::Bind, [first, rest @ ..]) => {
                if !rest.is_empty() {
                    tracing::debug!(
                        kind = %self.kind,
                        ignored = rest.len(),
                        "binding only the first spec of the list"
                    );
                }
                self.endpoints.push((Mode::Bind, first.clone()));
            }
            (Mode::Connect, specs) => self
                .endpoints
                .extend(specs.iter().map(|s| (Mode::Connect, s.clone()))),
        }
        self
    }

    /// Creates the socket, applies the options, binds/connects and registers
    /// it with the current tokio runtime. Must be called inside a runtime.
    ///
    /// This does blocking setup work (a `stat`, a probe `connect` and a
    /// `chmod` per ipc bind); it is meant for startup.
    ///
    /// # Panics
    ///
    /// Tokio panics if the current runtime was built without I/O
    /// (`enable_io`); `#[tokio::main]` and `#[tokio::test]` enable it.
    pub fn build(self) -> Result<AsyncSocket, Error> {
        if self.empty_list {
            return Err(Error::NoSpec { kind: self.kind });
        }
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::NoRuntime);
        }
        let sock = context()
            .socket(self.kind.to_zmq())
            .map_err(|e| Error::Create {
                kind: self.kind,
                source: e.into(),
            })?;
        self.apply_options(&sock)?;
        for (mode, spec) in &self.endpoints {
            match mode {
                Mode::Bind => self.bind_one(&sock, spec)?,
                Mode::Connect => connect_one(self.kind, &sock, spec)?,
            }
        }
        AsyncSocket::from_zmq(sock, self.kind)
    }

    fn apply_options(&self, sock: &zmq::Socket) -> Result<(), Error> {
        sock.set_sndhwm(hwm_value("ZMQ_SNDHWM", self.hwm.send)?)
            .map_err(opt_err("ZMQ_SNDHWM"))?;
        sock.set_rcvhwm(hwm_value("ZMQ_RCVHWM", self.hwm.recv)?)
            .map_err(opt_err("ZMQ_RCVHWM"))?;
        sock.set_linger(millis(self.linger))
            .map_err(opt_err("ZMQ_LINGER"))?;
        if let Some(id) = &self.identity {
            if id.is_empty() || id.len() > 255 || id.first() == Some(&0) {
                return Err(Error::InvalidOption {
                    option: "ZMQ_ROUTING_ID",
                    value: i64::try_from(id.len()).unwrap_or(i64::MAX),
                });
            }
            sock.set_identity(id).map_err(opt_err("ZMQ_ROUTING_ID"))?;
        }
        if self.router_mandatory {
            sock.set_router_mandatory(true)
                .map_err(opt_err("ZMQ_ROUTER_MANDATORY"))?;
        }
        if self.immediate {
            sock.set_immediate(true).map_err(opt_err("ZMQ_IMMEDIATE"))?;
        }
        if self.probe_router {
            sock.set_probe_router(true)
                .map_err(opt_err("ZMQ_PROBE_ROUTER"))?;
        }
        if self.xpub_verbose {
            sock.set_xpub_verbose(true)
                .map_err(opt_err("ZMQ_XPUB_VERBOSE"))?;
        }
        if let Some(ka) = self.tcp_keepalive {
            sock.set_tcp_keepalive(1)
                .map_err(opt_err("ZMQ_TCP_KEEPALIVE"))?;
            sock.set_tcp_keepalive_idle(secs(ka.idle))
                .map_err(opt_err("ZMQ_TCP_KEEPALIVE_IDLE"))?;
            sock.set_tcp_keepalive_intvl(secs(ka.interval))
                .map_err(opt_err("ZMQ_TCP_KEEPALIVE_INTVL"))?;
            sock.set_tcp_keepalive_cnt(i32::try_from(ka.count).unwrap_or(i32::MAX))
                .map_err(opt_err("ZMQ_TCP_KEEPALIVE_CNT"))?;
        }
        for prefix in &self.subscriptions {
            sock.set_subscribe(prefix)
                .map_err(opt_err("ZMQ_SUBSCRIBE"))?;
        }
        Ok(())
    }

    fn bind_one(&self, sock: &zmq::Socket, spec: &SocketSpec) -> Result<(), Error> {
        if let Some(path) = spec.ipc_path() {
            ipc::prepare_bind(path)?;
        }
        sock.bind(&spec.endpoint()).map_err(|e| Error::Bind {
            spec: spec.clone(),
            source: e.into(),
        })?;
        if let (Some(path), Some(mode)) = (spec.ipc_path(), self.ipc_file_mode) {
            ipc::set_mode(path, mode)?;
        }
        tracing::debug!(kind = %self.kind, spec = %spec, "zmq socket bound");
        Ok(())
    }
}

pub(crate) fn connect_one(
    kind: SocketKind,
    sock: &zmq::Socket,
    spec: &SocketSpec,
) -> Result<(), Error> {
    sock.connect(&spec.endpoint()).map_err(|e| Error::Connect {
        spec: spec.clone(),
        source: e.into(),
    })?;
    tracing::debug!(kind = %kind, spec = %spec, "zmq socket connecting");
    Ok(())
}

fn opt_err(option: &'static str) -> impl Fn(zmq::Error) -> Error {
    move |e| Error::SetOption {
        option,
        source: ZmqError::from(e),
    }
}

fn hwm_value(option: &'static str, n: u32) -> Result<i32, Error> {
    match i32::try_from(n) {
        Ok(v) if v > 0 => Ok(v),
        _ => Err(Error::InvalidOption {
            option,
            value: i64::from(n),
        }),
    }
}

fn millis(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

fn secs(d: Duration) -> i32 {
    i32::try_from(d.as_secs()).unwrap_or(i32::MAX)
}
