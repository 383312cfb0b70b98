//! Custom ZHTTP peers (`zhttp/<base spec>` route targets, `spec/config.md` §8.2), as 1.36's
//! `ZRoutes`: one ZHTTP client socket set per distinct base, spoken to exactly as zurl is
//! (stream mode, [`crate::client`]). As in 1.36 the proxy **binds** the three sockets
//! (PUSH `<base>-out`, ROUTER `<base>-out-stream`, SUB `<base>-in`; for `tcp://host:port`
//! ports +0, +1, +2), chmods ipc files to the target's `ipc_file_mode`, and does it when
//! the routes are loaded, so the peer connects; a base met only later is set up on first
//! use.
//!
//! On a reload, bases no longer routed are released: the registry drops its handle and the
//! client task closes the sockets once the last session using them ends (1.36 keeps such
//! a manager until its references reach zero). A base routed again while the old set is
//! still in use gets that set back.
//!
//! A `zhttpreq/<spec>` target gets one DEALER bound on the spec itself (req mode: whole
//! requests and responses, [`client::build_req`]). As in 1.36 the set is keyed by the
//! base alone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use pushpin_config::ZmqSpec;
use pushpin_config::routes::{Routes, Target, TargetKind};
use pushpin_zmq::Mode;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tracing::{debug, error};

use crate::client::{self, ClientCmd, ClientHandle};

/// A client task of either mode.
type ClientTask = std::pin::Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;

/// The registry of custom ZHTTP client socket sets.
pub(crate) struct ZRoutes {
    instance: String,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Bases of the current routes (and ones met since), with their client.
    active: HashMap<ZmqSpec, ClientHandle>,
    /// Released bases whose sockets may still be in use by sessions.
    released: HashMap<ZmqSpec, mpsc::WeakSender<ClientCmd>>,
    /// The client tasks; dropping the registry aborts them.
    tasks: JoinSet<anyhow::Result<()>>,
}

impl ZRoutes {
    /// An empty registry for the proxy instance `instance`.
    pub(crate) fn new(instance: String) -> Self {
        Self {
            instance,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The client for a custom `zhttp/` or `zhttpreq/` target, its sockets created on
    /// first use; `None` for other targets and when the sockets cannot be created.
    pub(crate) fn client(&self, target: &Target) -> Option<ClientHandle> {
        let TargetKind::Zhttp { base, .. } = &target.kind else {
            return None;
        };
        let mut inner = self.lock();
        inner.reap();
        if let Some(h) = inner.active.get(base).filter(|h| !h.tx.is_closed()) {
            return Some(h.clone());
        }
        inner.ensure(&self.instance, target)
    }

    /// Brings the sets in line with `routes`: new bases get their sockets, bases no
    /// longer routed are released.
    pub(crate) fn setup(&self, routes: &Routes) {
        let targets = routes.zhttp_targets();
        let mut inner = self.lock();
        inner.reap();
        let wanted: Vec<&ZmqSpec> = targets
            .iter()
            .filter_map(|t| match &t.kind {
                TargetKind::Zhttp { base, .. } => Some(base),
                _ => None,
            })
            .collect();
        let gone: Vec<ZmqSpec> = inner
            .active
            .keys()
            .filter(|b| !wanted.contains(b))
            .cloned()
            .collect();
        for base in gone {
            if let Some(h) = inner.active.remove(&base) {
                debug!("zroutes: removing {base}");
                inner.released.insert(base, h.tx.downgrade());
            }
        }
        for t in targets {
            if let TargetKind::Zhttp { base, .. } = &t.kind {
                if inner.active.get(base).is_none_or(|h| h.tx.is_closed()) {
                    inner.ensure(&self.instance, t);
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // a panic while holding the lock leaves the maps consistent (no partial updates)
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Inner {
    /// Logs and forgets client tasks that ended, and released sets no longer used.
    fn reap(&mut self) {
        while let Some(res) = self.tasks.try_join_next() {
            match res {
                Ok(Ok(())) => {}
                Ok(Err(e)) => error!(error = %e, "zhttp target client failed"),
                Err(e) => error!(error = %e, "zhttp target client panicked"),
            }
        }
        self.released.retain(|_, w| w.strong_count() > 0);
    }

    /// The client for `target`'s base: a released set still in use, or new sockets.
    fn ensure(&mut self, instance: &str, target: &Target) -> Option<ClientHandle> {
        let TargetKind::Zhttp { base, req } = &target.kind else {
            return None;
        };
        if let Some(tx) = self.released.remove(base).and_then(|w| w.upgrade()) {
            let h = ClientHandle { tx };
            self.active.insert(base.clone(), h.clone());
            return Some(h);
        }
        let name = target.kind.to_string();
        let built = if *req {
            client::build_req(&name, base, target.ipc_file_mode)
                .map(|(h, task)| (h, Box::pin(task) as ClientTask))
        } else {
            let Some((push, router, sub)) = target.kind.zhttp_specs() else {
                error!("zhttp target {name} has no valid socket specs");
                return None;
            };
            client::build(
                &client::ClientSockets {
                    names: [&name, &name, &name],
                    push: std::slice::from_ref(&push),
                    router: std::slice::from_ref(&router),
                    sub: std::slice::from_ref(&sub),
                    mode: Mode::Bind,
                    ipc_file_mode: target.ipc_file_mode,
                },
                instance,
            )
            .map(|(h, task)| (h, Box::pin(task) as ClientTask))
        };
        match built {
            Ok((h, task)) => {
                debug!("zroutes: adding {base}");
                self.tasks.spawn(task);
                self.active.insert(base.clone(), h.clone());
                Some(h)
            }
            Err(e) => {
                error!("{e:#}");
                None
            }
        }
    }
}

/// Sets the sockets up again after every route reload; runs until the proxy stops.
pub(crate) async fn run(
    zroutes: Arc<ZRoutes>,
    mut routes: watch::Receiver<Arc<Routes>>,
) -> anyhow::Result<()> {
    while routes.changed().await.is_ok() {
        let current = routes.borrow_and_update().clone();
        zroutes.setup(&current);
    }
    // the reload task owns the sender; it ending is reported by the proxy's task set
    std::future::pending::<()>().await;
    Ok(())
}
