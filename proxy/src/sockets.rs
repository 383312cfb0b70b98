//! Building the proxy's ZeroMQ sockets with 1.36's types, modes and options
//! (`spec/zhttp.md` §2.3, `spec/internal.md` §1). Every failure names the config key.

use anyhow::Context as _;
use pushpin_config::ZmqSpec;
use pushpin_zmq::{AsyncSocket, Hwm, Mode, SocketKind, SocketSpec};

/// Converts config specs to socket specs.
pub(crate) fn specs(key: &str, list: &[ZmqSpec]) -> anyhow::Result<Vec<SocketSpec>> {
    list.iter()
        .map(|s| {
            SocketSpec::parse(&s.to_string()).with_context(|| format!("invalid spec in {key}"))
        })
        .collect()
}

/// Options of one socket.
pub(crate) struct Opts<'a> {
    pub(crate) key: &'a str,
    pub(crate) kind: SocketKind,
    pub(crate) mode: Mode,
    pub(crate) hwm: Hwm,
    pub(crate) identity: Option<&'a str>,
    pub(crate) subscribe: Option<String>,
    pub(crate) immediate: bool,
    pub(crate) ipc_file_mode: Option<u32>,
}

impl<'a> Opts<'a> {
    pub(crate) fn new(key: &'a str, kind: SocketKind, mode: Mode, hwm: u32) -> Self {
        Self {
            key,
            kind,
            mode,
            hwm: Hwm::both(hwm),
            identity: None,
            subscribe: None,
            immediate: false,
            ipc_file_mode: None,
        }
    }
}

/// Builds the socket for `list`.
pub(crate) fn build(opts: Opts<'_>, list: &[ZmqSpec]) -> anyhow::Result<AsyncSocket> {
    let specs = specs(opts.key, list)?;
    let mut b = AsyncSocket::builder(opts.kind, opts.hwm).attach(opts.mode, &specs);
    if let Some(id) = opts.identity {
        b = b.identity(id.as_bytes().to_vec());
    }
    if let Some(sub) = opts.subscribe {
        b = b.subscribe(sub.into_bytes());
    }
    if opts.immediate {
        b = b.immediate(true);
    }
    if let (Some(mode), Mode::Bind) = (opts.ipc_file_mode, opts.mode) {
        b = b.ipc_file_mode(mode);
    }
    let verb = match opts.mode {
        Mode::Bind => "bind",
        Mode::Connect => "connect",
    };
    b.build().with_context(|| {
        format!(
            "unable to {verb} {} ({})",
            opts.key,
            pushpin_config::spec::format_list(list)
        )
    })
}
