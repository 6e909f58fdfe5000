//! The rules in force in a running forwarder: loaded at start, checked for
//! changes every `reload_interval`, swapped whole when they change. A bad
//! file is reported and skipped; if the source cannot be read, or lists no
//! rule file at all, the rules in force stay.

use crate::config::DetectSettings;
use crate::detector::Detector;
use crate::metrics::DetectMetrics;
use crate::rules::{Loaded, Severity};
use crate::source::{self, Fingerprint, SourceError};
use falconry_common::Store;
use std::sync::{Arc, Mutex, RwLock};
use tokio_util::sync::CancellationToken;

pub struct LiveRules {
    settings: DetectSettings,
    store: Store,
    current: RwLock<Arc<Detector>>,
    fingerprint: Mutex<Fingerprint>,
    pub metrics: DetectMetrics,
}

impl LiveRules {
    /// Loads the rules. An unreadable source is an error (the forwarder
    /// refuses to start without the rules it was told to run).
    pub async fn start(
        settings: DetectSettings,
        metrics: DetectMetrics,
    ) -> Result<Arc<LiveRules>, SourceError> {
        let store = Store::open(&settings.source.location).await;
        let (loaded, fingerprint) = source::load(&store, &settings.source).await?;
        let live = LiveRules {
            current: RwLock::new(Arc::new(Detector::default())),
            fingerprint: Mutex::new(fingerprint),
            settings,
            store,
            metrics,
        };
        live.install(&loaded);
        Ok(Arc::new(live))
    }

    /// The rules in force now.
    pub fn current(&self) -> Arc<Detector> {
        match self.current.read() {
            Ok(d) => d.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn install(&self, loaded: &Loaded) {
        report(loaded, &self.settings.source.text);
        self.metrics.load_errors.inc_by(loaded.errors() as u64);
        let detector = Arc::new(Detector::new(&loaded.rules));
        self.metrics.rules_loaded.set(detector.rule_count() as i64);
        tracing::info!(
            rules = detector.rule_count(),
            errors = loaded.errors(),
            source = %self.settings.source.text,
            "rules loaded"
        );
        match self.current.write() {
            Ok(mut d) => *d = detector,
            Err(poisoned) => *poisoned.into_inner() = detector,
        }
    }

    /// Reloads when the listing differs from the last load's. `true` if it did.
    pub async fn reload_if_changed(&self) -> Result<bool, SourceError> {
        let now = source::fingerprint(&self.store, &self.settings.source).await?;
        let same = self.fingerprint.lock().is_ok_and(|f| *f == now);
        if same {
            return Ok(false);
        }
        // A folder unmounted or a prefix emptied by mistake must not switch
        // detection off: an empty source keeps the rules in force (remove
        // `[detect] rules` and restart to run none).
        let has_rules = now.iter().any(|(k, _, _)| crate::rules::is_rule_file(k));
        let in_force = self.current().rule_count();
        if !has_rules && in_force > 0 {
            tracing::warn!(
                source = %self.settings.source.text,
                rules = in_force,
                "the rules source lists no rule files; the rules in force stay"
            );
            return Ok(false);
        }
        let (loaded, fingerprint) = source::load(&self.store, &self.settings.source).await?;
        self.install(&loaded);
        if let Ok(mut f) = self.fingerprint.lock() {
            *f = fingerprint;
        }
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
                tracing::warn!(error = %e, "could not check the rules for changes; the rules in force stay");
            }
        }
    }
}

/// Logs every load problem with its file (and rule).
pub fn report(loaded: &Loaded, source: &str) {
    for p in &loaded.problems {
        match p.severity {
            Severity::Error => tracing::error!(
                source,
                file = %p.file,
                rule = p.rule.as_deref().unwrap_or(""),
                problem = %p.message,
                "rule skipped"
            ),
            Severity::Warning => tracing::warn!(
                source,
                file = %p.file,
                rule = p.rule.as_deref().unwrap_or(""),
                problem = %p.message,
                "rule loaded with a warning"
            ),
        }
    }
}
