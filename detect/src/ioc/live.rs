//! The indicators in force in a running forwarder or hunt daemon: loaded at
//! start, listed for changes every `reload_interval`, swapped whole when
//! they change. A bad entry is reported and skipped; if a source cannot be
//! read, or lists nothing at all, the indicators in force stay.

use super::metrics::HuntMetrics;
use super::set::IndicatorSet;
use super::source::{self, Fingerprint, IocSource, IocSourceError, Loaded};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Validated indicator settings (`[detect] indicators`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IocSettings {
    pub sources: Vec<IocSource>,
    pub command_line_urls: bool,
    pub reload_interval: Duration,
}

pub struct LiveIndicators {
    settings: IocSettings,
    current: RwLock<Arc<IndicatorSet>>,
    fingerprint: Mutex<Fingerprint>,
    pub metrics: HuntMetrics,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl LiveIndicators {
    /// Loads the indicators. An unreadable source is an error: a daemon told
    /// to watch for indicators refuses to start without them.
    pub async fn start(
        settings: IocSettings,
        metrics: HuntMetrics,
    ) -> Result<Arc<LiveIndicators>, IocSourceError> {
        let loaded = source::load(&settings.sources, now_ms()).await?;
        let live = LiveIndicators {
            current: RwLock::new(Arc::new(IndicatorSet::default())),
            fingerprint: Mutex::new(loaded.fingerprint.clone()),
            settings,
            metrics,
        };
        live.install(loaded);
        Ok(Arc::new(live))
    }

    pub fn settings(&self) -> &IocSettings {
        &self.settings
    }

    /// The indicators in force now.
    pub fn current(&self) -> Arc<IndicatorSet> {
        match self.current.read() {
            Ok(d) => d.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn install(&self, loaded: Loaded) {
        let problems = loaded.report();
        for p in &problems {
            tracing::warn!(problem = %p, "indicator entry skipped");
        }
        self.metrics.load_problems.inc_by(problems.len() as u64);
        self.metrics.loaded(&loaded.counts);
        let set = Arc::new(IndicatorSet::new(
            loaded.indicators,
            self.settings.command_line_urls,
        ));
        tracing::info!(
            indicators = set.len(),
            duplicates = set.duplicates,
            skipped = loaded.skipped,
            problems = problems.len(),
            "indicators loaded"
        );
        match self.current.write() {
            Ok(mut d) => *d = set,
            Err(poisoned) => *poisoned.into_inner() = set,
        }
    }

    /// Reloads when any listing differs from the last load's. `true` if it did.
    pub async fn reload_if_changed(&self) -> Result<bool, IocSourceError> {
        let mut now: Fingerprint = Vec::new();
        for s in &self.settings.sources {
            now.extend(source::fingerprint(s).await?);
        }
        if self.fingerprint.lock().is_ok_and(|f| *f == now) {
            return Ok(false);
        }
        let in_force = self.current().len();
        if now.is_empty() && in_force > 0 {
            tracing::warn!(
                indicators = in_force,
                "the indicator sources list nothing; the indicators in force stay"
            );
            return Ok(false);
        }
        let loaded = source::load(&self.settings.sources, now_ms()).await?;
        if let Ok(mut f) = self.fingerprint.lock() {
            f.clone_from(&loaded.fingerprint);
        }
        self.install(loaded);
        self.metrics.reloads.inc();
        Ok(true)
    }

    /// Checks for changes every `reload_interval` until `shutdown`.
    pub async fn watch(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(self.settings.reload_interval) => {}
            }
            if let Err(e) = self.reload_if_changed().await {
                tracing::warn!(error = %e, "could not check the indicators for changes; the indicators in force stay");
            }
        }
    }
}
