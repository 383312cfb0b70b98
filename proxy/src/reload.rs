//! Route reloads (`spec/config.md` §8.7): the routes file is checked once a second and
//! re-read when its modification time or size changes (1.36 watches it and re-reads 1 s
//! after a change); SIGHUP reloads at once. The new table replaces the old one
//! atomically; sessions in progress keep the route they started with.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use pushpin_config::Routes;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tracing::info;

use crate::settings::{self, RouteSource};

/// How often the routes file is checked.
const POLL: Duration = Duration::from_secs(1);

async fn stamp(source: &RouteSource) -> Option<(SystemTime, u64)> {
    let path = settings::watched_file(source)?.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let meta = std::fs::metadata(path).ok()?;
        Some((meta.modified().ok()?, meta.len()))
    })
    .await
    .ok()
    .flatten()
}

async fn reload(source: &RouteSource, tx: &watch::Sender<Arc<Routes>>) {
    let s = source.clone();
    if let Ok(routes) = tokio::task::spawn_blocking(move || settings::load_routes(&s)).await {
        let _ = tx.send(Arc::new(routes));
    }
}

/// Runs until `stop` fires.
pub(crate) async fn run(
    source: RouteSource,
    tx: watch::Sender<Arc<Routes>>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let mut hup = signal(SignalKind::hangup())?;
    let mut last = stamp(&source).await;
    let mut tick = tokio::time::interval(POLL);
    loop {
        tokio::select! {
            _ = hup.recv() => {
                info!("reloading");
                match &source {
                    RouteSource::File(_) => reload(&source, &tx).await,
                    RouteSource::Lines(_) | RouteSource::None => {
                        tracing::error!("unable to open routes file: ");
                    }
                }
                last = stamp(&source).await;
            }
            _ = tick.tick(), if settings::watched_file(&source).is_some() => {
                let now = stamp(&source).await;
                if now.is_some() && now != last {
                    info!("routes file changed, reloading");
                    last = now;
                    reload(&source, &tx).await;
                }
            }
            _ = stop.changed() => return Ok(()),
        }
    }
}
