//! The ZHTTP half of one session, shared by HTTP and WebSocket sessions: our
//! sequence numbers, the responder's address (refreshed from every packet, which is
//! how a handoff re-targets us, `spec/zhttp.md` §9), keep-alives and the session
//! timeout (§6.4).

use bytes::Bytes;
use pushpin_zhttp::session::{Liveness, SeqState};
use pushpin_zhttp::{Ext, Id, Ids, Packet, PacketType};
use tokio::time::Instant;
use tracing::{debug, trace};

use super::Shared;
use crate::zio::{Queued, ToResponder};

/// What [`Link::send`] left to do after trying to queue at once.
enum Step {
    Done(Result<(), End>),
    Wait(ToResponder),
}

/// Why a session ended early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// Close the client connection; send `cancel` to the responder if known.
    Cancel,
    /// Close the client connection without telling the responder.
    Silent,
}

/// Addressing and liveness of one session.
pub(crate) struct Link<'a> {
    pub(crate) shared: &'a Shared,
    pub(crate) id: Bytes,
    seq: SeqState,
    /// The responder's address, from the most recent packet.
    pub(crate) to: Option<Bytes>,
    live: Liveness,
    /// After `handoff-proceed`: send nothing until the (new) owner speaks.
    pub(crate) handoff_wait: bool,
}

impl<'a> Link<'a> {
    pub(crate) fn new(shared: &'a Shared, id: Bytes) -> Self {
        let config = &shared.config;
        Self {
            shared,
            id,
            seq: SeqState::new(),
            to: None,
            live: Liveness::with_intervals(
                Instant::now().into_std(),
                config.keep_alive_interval,
                config.session_timeout,
            ),
            handoff_wait: false,
        }
    }

    fn address(&mut self, p: &mut Packet) {
        p.from = self.shared.from.clone();
        p.ids = Ids::One(Id(self.id.clone()));
        p.seq = Some(self.seq.next_out());
        p.ext = Ext {
            multi: true,
            quiet: false,
        };
    }

    /// Addresses and encodes the session's first packet, for
    /// [`send_first`](Self::send_first). Synchronous, so that neither the request
    /// head nor the (large) [`Packet`] ends up in a suspended session's state.
    pub(crate) fn encode_first(&mut self, mut p: Packet) -> Bytes {
        self.address(&mut p);
        trace!(packet = ?p, "zhttp out (first)");
        p.to_bytes()
    }

    /// Queues the first packet over PUSH (waiting at most the session timeout for
    /// queue space). `false` if it could not be queued.
    pub(crate) async fn send_first(&self, payload: Bytes) -> bool {
        let payload = match self.shared.outbound.try_first(payload) {
            Queued::Yes => return true,
            Queued::Closed => return false,
            Queued::Full(payload) => payload,
        };
        let timeout = self.shared.config.session_timeout;
        // Boxed: the waiting send is large and rare; inline it would grow every
        // session's state.
        let wait = Box::pin(tokio::time::timeout(
            timeout,
            self.shared.outbound.first(payload),
        ));
        matches!(wait.await, Ok(true))
    }

    /// Sends a later packet to the responder over ROUTER. The packet is encoded
    /// and, when the queue has room (the usual case), queued before this returns;
    /// the future only waits when the queue is full.
    pub(crate) fn send(
        &mut self,
        p: Packet,
    ) -> impl Future<Output = Result<(), End>> + use<'_, 'a> {
        let msg = self
            .encode(p)
            .map(|(to, payload)| ToResponder::Packet { to, payload });
        self.queue(msg)
    }

    /// Sends a `credit` packet; the ROUTER task may merge it with other sessions'
    /// (see `zio`). Queued like [`send`](Self::send).
    pub(crate) fn send_credit(
        &mut self,
        credits: u32,
    ) -> impl Future<Output = Result<(), End>> + use<'_, 'a> {
        let msg = self.to.clone().map(|to| ToResponder::Credit {
            to,
            id: self.id.clone(),
            seq: self.seq.next_out(),
            credits,
        });
        self.queue(msg)
    }

    /// Queues `msg` (`None`: no responder known, the session ends).
    fn queue(
        &mut self,
        msg: Option<ToResponder>,
    ) -> impl Future<Output = Result<(), End>> + use<'_, 'a> {
        let step = match msg {
            None => Step::Done(Err(End::Silent)),
            Some(msg) => match self.shared.outbound.try_to(msg) {
                Queued::Yes => {
                    self.live.sent(Instant::now().into_std());
                    Step::Done(Ok(()))
                }
                Queued::Closed => Step::Done(Err(End::Silent)),
                Queued::Full(msg) => Step::Wait(msg),
            },
        };
        async move {
            match step {
                Step::Done(res) => res,
                Step::Wait(msg) => {
                    if !Box::pin(self.shared.outbound.to(msg)).await {
                        return Err(End::Silent);
                    }
                    self.live.sent(Instant::now().into_std());
                    Ok(())
                }
            }
        }
    }

    /// Sends a packet that has only a type (plus our addressing).
    pub(crate) fn send_type(
        &mut self,
        ptype: PacketType,
    ) -> impl Future<Output = Result<(), End>> + use<'_, 'a> {
        self.send(Packet::new(ptype))
    }

    /// Addresses and encodes a later packet: `(responder, payload)`, or `None`
    /// when no responder is known yet.
    fn encode(&mut self, mut p: Packet) -> Option<(Bytes, Bytes)> {
        let to = self.to.clone()?;
        self.address(&mut p);
        trace!(packet = ?p, "zhttp out");
        Some((to, p.to_bytes()))
    }

    /// Best-effort `cancel` when the responder is known.
    pub(crate) async fn cancel(&mut self) {
        if self.to.is_some() {
            let _ = self.send_type(PacketType::Cancel).await;
        }
    }

    /// Books an incoming packet: sequence check, liveness, responder address.
    pub(crate) fn receive(&mut self, p: &Packet) -> Result<(), End> {
        trace!(packet = ?p, "zhttp in");
        if let Err(e) = self.seq.receive(p.seq) {
            debug!(error = %e, "responder packet out of sequence");
            return Err(End::Cancel);
        }
        self.live.received(Instant::now().into_std());
        if !p.from.is_empty() {
            self.to = Some(p.from.clone());
        }
        if p.ptype != PacketType::HandoffStart {
            self.handoff_wait = false;
        }
        Ok(())
    }

    /// Whether packets other than the first may be sent now.
    pub(crate) fn can_send(&self) -> bool {
        self.to.is_some() && !self.handoff_wait
    }

    /// Answers `handoff-start` (the caller has flushed the client side).
    pub(crate) async fn handoff(&mut self) -> Result<(), End> {
        self.send_type(PacketType::HandoffProceed).await?;
        self.handoff_wait = true;
        Ok(())
    }

    /// When [`on_timer`](Self::on_timer) must run next.
    pub(crate) fn deadline(&self) -> Instant {
        Instant::from_std(if self.can_send() {
            self.live.next_deadline()
        } else {
            self.live.expires_at()
        })
    }

    /// Sends a due keep-alive, or ends a session whose responder went silent
    /// (without telling it, as condure).
    pub(crate) async fn on_timer(&mut self) -> Result<(), End> {
        let now = Instant::now().into_std();
        if self.live.expired(now) {
            debug!("session timed out");
            return Err(End::Silent);
        }
        if self.can_send() && self.live.keep_alive_due(now) {
            self.send_type(PacketType::KeepAlive).await?;
        }
        Ok(())
    }
}
