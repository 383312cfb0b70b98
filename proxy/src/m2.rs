//! The built-in mongrel2 adapter (`pushpin-m2adapter`): our replacement for Pushpin
//! 1.36's `m2adapter`. It reads mongrel2 1.12's handler sockets directly (PULL from
//! each handler's `send_spec`, PUB to its `recv_spec`, `spec/mongrel2.md` §1) and
//! serves the ZHTTP initiator side (`spec/zhttp.md` §2.1) to the proxy and the
//! handler, exactly where the real `m2adapter` would, reading the same
//! `m2adapter.conf` (§7.3). The proxy and the handler keep their `m2a_*` specs and
//! do not notice the swap; held sessions work because the handler takes them over
//! through the usual ZHTTP hand-off.
//!
//! Layout: [`Config`] (the `[General]` keys), `core` (the sans-IO translation of
//! §7.4: sessions, upload streaming with `ctl credits`, download credits, keep-alives,
//! WebSocket frames), and `run`, which owns the sockets and feeds `core`.
//!
//! Not done (as in 1.36 only needed without `download.flow_control`, which Pushpin's
//! mongrel2 config always sets): polling mongrel2's control port for written bytes.
//! Without `DOWNLOAD_CREDITS` the adapter writes responses unthrottled and credits
//! the responder at once.

mod core;

use std::collections::VecDeque;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use bytes::Bytes;
use pushpin_mongrel2::Request;
use pushpin_zhttp::{Packet, framing};
use pushpin_zmq::{AsyncSocket, Hwm, Multipart, SocketKind, SocketSpec};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tracing::{debug, error, info, trace, warn};

use self::core::{Core, Mode, Output, Settings, split_ids};

/// m2adapter's `DEFAULT_HWM`.
const HWM: u32 = 101_000;

/// Inbound messages queued from the socket readers to the core. When full, the
/// readers wait (backpressure onto the sockets' HWMs).
const EVENT_QUEUE: usize = 4096;

/// Outbound messages queued per socket writer. When full, the core waits.
const OUT_QUEUE: usize = 4096;

/// How long shutdown waits for the writers to flush.
const FLUSH_GRACE: Duration = Duration::from_secs(1);

/// m2adapter's default `m2_client_buffer`.
pub const DEFAULT_CLIENT_BUFFER: u32 = 200_000;

/// The `[General]` keys of `m2adapter.conf` (`spec/mongrel2.md` §7.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `m2_in_specs`: PULL, connected to each handler's `send_spec`.
    pub m2_in_specs: Vec<SocketSpec>,
    /// `m2_out_specs`: PUB, connected to each handler's `recv_spec`.
    pub m2_out_specs: Vec<SocketSpec>,
    /// `m2_send_idents`: the `send_ident` of each handler, same order.
    pub m2_send_idents: Vec<Bytes>,
    /// `zhttp_in_specs` (SUB), `zhttp_out_specs` (PUSH), `zhttp_out_stream_specs` (ROUTER).
    pub zhttp: ZhttpSpecs,
    /// The same for WebSocket sessions (`zws_*`).
    pub zws: ZhttpSpecs,
    /// `m2_client_buffer`.
    pub client_buffer: u32,
    /// `max_open_requests` (negative or absent: unlimited).
    pub max_open_requests: Option<usize>,
}

/// One ZHTTP socket set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ZhttpSpecs {
    /// SUB: responder packets.
    pub inbound: Vec<SocketSpec>,
    /// PUSH: first packets.
    pub out: Vec<SocketSpec>,
    /// ROUTER: later packets.
    pub out_stream: Vec<SocketSpec>,
    /// Connect instead of bind (`zhttp_connect` / `zws_connect`).
    pub connect: bool,
}

impl Config {
    /// Reads `m2adapter.conf`.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        Self::parse(&text, path)
    }

    /// Parses the text of `m2adapter.conf`.
    pub fn parse(text: &str, origin: &Path) -> anyhow::Result<Self> {
        let raw = pushpin_config::ini::parse(text, origin);
        let list = |key: &str| -> Vec<String> {
            raw.get("", key)
                .map(|e| e.value.to_list())
                .unwrap_or_default()
                .into_iter()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        };
        let specs = |key: &str| -> anyhow::Result<Vec<SocketSpec>> {
            list(key)
                .iter()
                .map(|s| SocketSpec::parse(s).map_err(|e| anyhow!("{key}: {e}")))
                .collect()
        };
        let flag = |key: &str| {
            raw.get("", key)
                .is_some_and(|e| e.value.to_qstring().trim() == "true")
        };
        let m2_in_specs = specs("m2_in_specs")?;
        let m2_out_specs = specs("m2_out_specs")?;
        let m2_send_idents: Vec<Bytes> = list("m2_send_idents")
            .into_iter()
            .map(Bytes::from)
            .collect();
        if m2_in_specs.is_empty() || m2_out_specs.is_empty() {
            return Err(anyhow!("must set m2_in_specs and m2_out_specs"));
        }
        if m2_send_idents.len() != m2_in_specs.len() || m2_out_specs.len() != m2_in_specs.len() {
            return Err(anyhow!(
                "m2_in_specs, m2_out_specs and m2_send_idents must have the same length"
            ));
        }
        let zhttp = ZhttpSpecs {
            inbound: specs("zhttp_in_specs")?,
            out: specs("zhttp_out_specs")?,
            out_stream: specs("zhttp_out_stream_specs")?,
            connect: flag("zhttp_connect"),
        };
        let zws = ZhttpSpecs {
            inbound: specs("zws_in_specs")?,
            out: specs("zws_out_specs")?,
            out_stream: specs("zws_out_stream_specs")?,
            connect: flag("zws_connect"),
        };
        let number = |key: &str| -> anyhow::Result<Option<i64>> {
            raw.get("", key)
                .map(|e| e.value.to_qstring())
                .filter(|s| !s.trim().is_empty())
                .map(|s| {
                    s.trim()
                        .parse::<i64>()
                        .map_err(|_| anyhow!("{key}: not a number: {s}"))
                })
                .transpose()
        };
        let client_buffer = number("m2_client_buffer")?.map_or(DEFAULT_CLIENT_BUFFER, |n| {
            u32::try_from(n.max(0)).unwrap_or(u32::MAX)
        });
        let max_open_requests = number("max_open_requests")?.and_then(|n| usize::try_from(n).ok());
        Ok(Self {
            m2_in_specs,
            m2_out_specs,
            m2_send_idents,
            zhttp,
            zws,
            client_buffer,
            max_open_requests,
        })
    }
}

enum Event {
    M2(usize, Bytes),
    Zhttp(Mode, Bytes),
}

/// Runs the adapter until `shutdown` resolves.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let pid = std::process::id();
    let settings = Settings {
        idents: config.m2_send_idents.clone(),
        from_http: Bytes::from(format!("m2zhttp_{pid}")),
        from_ws: Bytes::from(format!("m2zws_{pid}")),
        client_buffer: config.client_buffer,
        max_sessions: config.max_open_requests,
    };
    let (ev_tx, mut ev_rx) = mpsc::channel::<Event>(EVENT_QUEUE);
    let mut readers = JoinSet::new();
    let mut writers = JoinSet::new();

    let mut m2_out = Vec::new();
    for (i, (inp, outp)) in config
        .m2_in_specs
        .iter()
        .zip(&config.m2_out_specs)
        .enumerate()
    {
        let pull = AsyncSocket::builder(SocketKind::Pull, Hwm::both(HWM))
            .connect(inp.clone())
            .build()
            .with_context(|| format!("connecting m2 in socket {inp}"))?;
        let publ = AsyncSocket::builder(SocketKind::Pub, Hwm::both(HWM))
            .connect(outp.clone())
            .build()
            .with_context(|| format!("connecting m2 out socket {outp}"))?;
        let tx = ev_tx.clone();
        readers.spawn(read_loop(pull, move |frame| Some(Event::M2(i, frame)), tx));
        let (otx, orx) = mpsc::channel::<Multipart>(OUT_QUEUE);
        writers.spawn(write_loop(publ, orx, "m2 out"));
        m2_out.push(otx);
    }

    let mut zsocks = Vec::new();
    for (mode, specs, from) in [
        (Mode::Http, &config.zhttp, settings.from_http.clone()),
        (Mode::Ws, &config.zws, settings.from_ws.clone()),
    ] {
        if specs.out.is_empty() && specs.out_stream.is_empty() && specs.inbound.is_empty() {
            zsocks.push(None);
            continue;
        }
        let attach = |b: pushpin_zmq::SocketBuilder, list: &[SocketSpec]| {
            list.iter().fold(b, |b, s| {
                if specs.connect {
                    b.connect(s.clone())
                } else {
                    b.bind(s.clone())
                }
            })
        };
        let push = attach(
            AsyncSocket::builder(SocketKind::Push, Hwm::both(HWM)),
            &specs.out,
        )
        .build()
        .context("zhttp out socket")?;
        let router = attach(
            AsyncSocket::builder(SocketKind::Router, Hwm::both(HWM)),
            &specs.out_stream,
        )
        .router_mandatory(true)
        .build()
        .context("zhttp out stream socket")?;
        let mut topic = from.to_vec();
        topic.push(b' ');
        let sub = attach(
            AsyncSocket::builder(SocketKind::Sub, Hwm::both(HWM)),
            &specs.inbound,
        )
        .subscribe(Bytes::from(topic))
        .build()
        .context("zhttp in socket")?;
        let tx = ev_tx.clone();
        readers.spawn(read_loop(
            sub,
            move |frame| Some(Event::Zhttp(mode, frame)),
            tx,
        ));
        let (ptx, prx) = mpsc::channel::<Multipart>(OUT_QUEUE);
        writers.spawn(write_loop(push, prx, "zhttp out"));
        let (rtx, rrx) = mpsc::channel::<Multipart>(OUT_QUEUE);
        writers.spawn(write_loop(router, rrx, "zhttp out stream"));
        zsocks.push(Some((ptx, rtx, from)));
    }
    drop(ev_tx);
    info!("started");

    let mut core = Core::new(settings);
    let limits_m2 = pushpin_mongrel2::Limits::default();
    let limits_z = pushpin_zhttp::Limits::default();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut shutdown = std::pin::pin!(shutdown);
    // The runner forwards SIGHUP (a reload) to us; there is nothing to reload (the
    // service scaffolding reopens the log file), but it must not end the process.
    let mut hups = pushpin_service::signal::hup_signals()
        .map_err(|e| warn!(error = %e, "cannot install the SIGHUP handler"))
        .ok();
    loop {
        tokio::select! {
            ev = ev_rx.recv() => match ev {
                Some(Event::M2(i, frame)) => {
                    trace!(frame = %String::from_utf8_lossy(&frame[..frame.len().min(1000)]), "m2: IN");
                    match Request::decode(&frame, &limits_m2) {
                        Ok(req) => core.on_m2(i, req, std::time::Instant::now()),
                        Err(e) => warn!(error = %e, "m2: received message with invalid format, skipping"),
                    }
                }
                Some(Event::Zhttp(mode, frame)) => {
                    let own = match zsocks.get(mode_index(mode)) {
                        Some(Some((_, _, from))) => from.clone(),
                        _ => continue,
                    };
                    let Ok(parsed) = framing::parse_pub(&frame) else {
                        warn!("zhttp: bad message on in socket");
                        continue;
                    };
                    if parsed.address != own {
                        continue;
                    }
                    match Packet::decode(&parsed.payload, &limits_z) {
                        Ok(p) => {
                            trace!(packet = ?p, "zhttp: IN");
                            for one in split_ids(p) {
                                core.on_zhttp(mode, one, std::time::Instant::now());
                            }
                        }
                        Err(e) => warn!(error = %e, "zhttp: undecodable packet dropped"),
                    }
                }
                None => return Err(anyhow!("socket readers ended")),
            },
            _ = tick.tick() => core.tick(std::time::Instant::now()),
            Some(()) = async {
                match hups.as_mut() {
                    Some(h) => h.recv().await,
                    None => std::future::pending().await,
                }
            } => debug!("SIGHUP: nothing to reload"),
            () = &mut shutdown => break,
        }
        if !flush(&mut core, &m2_out, &zsocks).await {
            return Err(anyhow!("socket writers ended"));
        }
    }
    debug!(sessions = core.session_count(), "stopping");
    core.shutdown();
    let _ = flush(&mut core, &m2_out, &zsocks).await;
    // Closing every socket inside the runtime lets libzmq unlink our bound ipc files.
    readers.abort_all();
    while readers.join_next().await.is_some() {}
    drop(m2_out);
    drop(zsocks);
    let flushed = tokio::time::timeout(FLUSH_GRACE, async {
        while let Some(r) = writers.join_next().await {
            if let Err(e) = r {
                error!(error = %e, "writer task failed");
            }
        }
    })
    .await;
    if flushed.is_err() {
        debug!("writers not flushed in time");
        writers.abort_all();
        while writers.join_next().await.is_some() {}
    }
    Ok(())
}

type ZSocks = Vec<Option<(mpsc::Sender<Multipart>, mpsc::Sender<Multipart>, Bytes)>>;

const fn mode_index(mode: Mode) -> usize {
    match mode {
        Mode::Http => 0,
        Mode::Ws => 1,
    }
}

/// Hands the core's outputs to the writers; `false` if one is gone.
async fn flush(core: &mut Core, m2_out: &[mpsc::Sender<Multipart>], zsocks: &ZSocks) -> bool {
    let outs: Vec<Output> = core.drain().collect();
    for o in outs {
        let sent = match o {
            Output::M2 { index, frame } => {
                trace!(frame = %String::from_utf8_lossy(&frame[..frame.len().min(1000)]), "m2: OUT");
                match m2_out.get(index) {
                    Some(tx) => tx.send(Multipart::from(vec![frame])).await.is_ok(),
                    None => true,
                }
            }
            Output::Zhttp { mode, to, payload } => {
                let Some(Some((push, router, _))) = zsocks.get(mode_index(mode)) else {
                    continue;
                };
                match to {
                    None => push.send(Multipart::from(vec![payload])).await.is_ok(),
                    Some(to) => router
                        .send(Multipart::from(framing::router_frames(to, payload)))
                        .await
                        .is_ok(),
                }
            }
        };
        if !sent {
            return false;
        }
    }
    true
}

async fn read_loop(
    mut sock: AsyncSocket,
    wrap: impl Fn(Bytes) -> Option<Event>,
    tx: mpsc::Sender<Event>,
) {
    loop {
        match sock.recv().await {
            Ok(msg) => {
                let frames = msg.into_vec();
                let [frame] = <[Bytes; 1]>::try_from(frames).unwrap_or_else(|f| {
                    warn!(
                        parts = f.len(),
                        "received message with parts != 1, skipping"
                    );
                    [Bytes::new()]
                });
                if frame.is_empty() {
                    continue;
                }
                if let Some(ev) = wrap(frame)
                    && tx.send(ev).await.is_err()
                {
                    return;
                }
            }
            Err(e) => {
                error!(error = %e, "receive failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn write_loop(mut sock: AsyncSocket, mut rx: mpsc::Receiver<Multipart>, name: &'static str) {
    let mut batch = Vec::with_capacity(pushpin_zmq::DEFAULT_BATCH);
    let mut queue: VecDeque<Multipart> = VecDeque::new();
    while rx.recv_many(&mut batch, pushpin_zmq::DEFAULT_BATCH).await > 0 {
        queue.extend(batch.drain(..));
        while !queue.is_empty() {
            if let Err(e) = sock.send_all(&mut queue).await {
                debug!(error = %e, socket = name, "send failed; message dropped");
                queue.pop_front();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_runners_m2adapter_conf() {
        let text = "[General]\n\
            m2_in_specs=ipc:///r/m2-out-7999,ipc:///r/m2-out-8000\n\
            m2_out_specs=ipc:///r/m2-in-7999,ipc:///r/m2-in-8000\n\
            m2_send_idents=pushpin-m2-7999,pushpin-m2-8000\n\
            m2_control_specs=ipc:///r/m2-control-7999,ipc:///r/m2-control-8000\n\
            zhttp_in_specs=ipc:///r/m2zhttp-in\nzhttp_out_specs=ipc:///r/m2zhttp-out\n\
            zhttp_out_stream_specs=ipc:///r/m2zhttp-out-stream\n\
            zws_in_specs=ipc:///r/m2zws-in\nzws_out_specs=ipc:///r/m2zws-out\n\
            zws_out_stream_specs=ipc:///r/m2zws-out-stream\n\
            m2_client_buffer=150000\nmax_open_requests=-1\n";
        let c = Config::parse(text, Path::new("m2adapter.conf")).unwrap();
        assert_eq!(c.m2_in_specs.len(), 2);
        assert_eq!(c.m2_send_idents[1].as_ref(), b"pushpin-m2-8000");
        assert_eq!(c.zhttp.out_stream.len(), 1);
        assert!(!c.zhttp.connect);
        assert_eq!(c.zws.inbound.len(), 1);
        assert_eq!(c.client_buffer, 150_000);
        assert_eq!(c.max_open_requests, None);
    }

    #[test]
    fn rejects_mismatched_lists_and_bad_numbers() {
        let base = "m2_in_specs=tcp://127.0.0.1:1,tcp://127.0.0.1:2\n\
                    m2_out_specs=tcp://127.0.0.1:3,tcp://127.0.0.1:4\n";
        assert!(Config::parse(&format!("{base}m2_send_idents=a\n"), Path::new("x")).is_err());
        assert!(
            Config::parse(
                &format!("{base}m2_send_idents=a,b\nm2_client_buffer=lots\n"),
                Path::new("x")
            )
            .is_err()
        );
        assert!(Config::parse("m2_send_idents=a\n", Path::new("x")).is_err());
        let ok = Config::parse(&format!("{base}m2_send_idents=a,b\n"), Path::new("x")).unwrap();
        assert_eq!(ok.client_buffer, DEFAULT_CLIENT_BUFFER);
    }
}
