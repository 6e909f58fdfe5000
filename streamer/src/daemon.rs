//! The streamer daemon: discover the appId's partitions (waiting while another
//! session still holds it), hold every partition's stream concurrently, and
//! discover again when a session is gone; each partition resumes after its
//! last durable offset, so nothing is lost or written twice. SIGTERM flushes
//! every open batch and stops.

use crate::api::{Api, ApiError};
use crate::config::Settings;
use crate::error::StreamerError;
use crate::intake::Intake;
use crate::metrics::Metrics;
use crate::position;
use crate::session::{Counts, End, Partner, backoff};
use crate::writer;
use falconry_common::lake::StreamLayout;
use falconry_common::telemetry::{Health, Registry, Telemetry};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Per-partition counters of a run.
pub type Report = BTreeMap<u32, Counts>;

/// The streamer's seam, called by the binary and the tests alike: registers
/// its metrics and health on `telemetry`'s admin port and holds the live
/// stream until `shutdown`.
pub async fn run(
    settings: Settings,
    telemetry: Telemetry,
    shutdown: CancellationToken,
) -> Result<Report, StreamerError> {
    let mut registry = Registry::default();
    let streamer = Streamer::new(settings, &mut registry);
    telemetry
        .serve(registry, streamer.health.clone(), &shutdown)
        .await?;
    streamer.run(shutdown).await
}

/// The streamer, with its metrics registered, not yet running.
struct Streamer {
    settings: Settings,
    metrics: Metrics,
    /// Live while some partition has been connected within `unhealthy_after`.
    health: Arc<Health>,
}

impl Streamer {
    fn new(settings: Settings, registry: &mut Registry) -> Streamer {
        let metrics = Metrics::new(registry);
        let health = Arc::new(Health::new(settings.unhealthy_after));
        Streamer {
            settings,
            metrics,
            health,
        }
    }

    async fn run(self, shutdown: CancellationToken) -> Result<Report, StreamerError> {
        let result = hold(&self.settings, &self.metrics, &self.health, shutdown).await;
        self.health.set_ready(false);
        result
    }
}

async fn hold(
    settings: &Settings,
    metrics: &Metrics,
    health: &Health,
    shutdown: CancellationToken,
) -> Result<Report, StreamerError> {
    let live = settings.live.as_ref().ok_or_else(|| {
        StreamerError::Config(falconry_common::config::ConfigError::Invalid(vec![
            "streamer: the live stream needs streamer.app_id, client_id and client_secret".into(),
        ]))
    })?;
    let api = Api::new(live.clone())?;
    let store = writer::open(settings).await;
    let layout = StreamLayout::under(settings.dest.prefix());
    let mut report = Report::new();
    let mut waits = backoff();
    tracing::info!(app_id = %live.app_id, base = %live.base_url, "streamer started");
    while !shutdown.is_cancelled() {
        metrics.discovers.inc();
        let partitions = match api.discover().await {
            Ok(p) if p.is_empty() => {
                let wait = waits.next().unwrap_or(Duration::from_secs(60));
                tracing::warn!(
                    ?wait,
                    "discover returned no partition: the appId is still held by another session"
                );
                sleep(wait, &shutdown).await;
                continue;
            }
            Ok(p) => p,
            Err(ApiError::Rejected(status)) => {
                return Err(StreamerError::Config(
                    falconry_common::config::ConfigError::Invalid(vec![
                        ApiError::Rejected(status).to_string(),
                    ]),
                ));
            }
            Err(ApiError::RateLimited(wait)) => {
                tracing::warn!(?wait, "discover rate limited");
                sleep(wait, &shutdown).await;
                continue;
            }
            Err(e) => {
                let wait = waits.next().unwrap_or(Duration::from_secs(60));
                tracing::warn!(error = %e, ?wait, "discover failed");
                sleep(wait, &shutdown).await;
                continue;
            }
        };
        waits = backoff();
        health.set_ready(true);
        tracing::info!(partitions = partitions.len(), "discovered");
        // One partition whose session is gone makes all of them discover again
        // (new session tokens come from one discover call).
        let rediscover = shutdown.child_token();
        let runs = partitions.iter().map(|p| {
            let (api, store, layout, rediscover) = (&api, &store, &layout, rediscover.clone());
            async move {
                let durable = position::durable_offset(store, layout, p.number).await?;
                let mut partner = Partner {
                    api,
                    metrics,
                    health,
                    live,
                    intake: Intake::new(
                        store.clone(),
                        layout.clone(),
                        p.number,
                        settings.limits,
                        durable,
                    ),
                    counts: Counts::default(),
                };
                let end = partner.run(p, &rediscover).await;
                if matches!(end, Ok(End::Rediscover)) {
                    rediscover.cancel();
                }
                Ok::<_, StreamerError>((p.number, partner.counts, end?))
            }
        });
        for result in futures::future::join_all(runs).await {
            let (number, counts, _) = result?;
            let total = report.entry(number).or_default();
            total.events += counts.events;
            total.batches += counts.batches;
            total.duplicates += counts.duplicates;
            total.junk += counts.junk;
            total.reconnects += counts.reconnects;
            total.refreshes += counts.refreshes;
        }
        if !shutdown.is_cancelled() {
            // A gone session is released by the server shortly; do not hammer discover.
            sleep(Duration::from_millis(200), &shutdown).await;
        }
    }
    tracing::info!(?report, "streamer stopped");
    Ok(report)
}

async fn sleep(wait: Duration, shutdown: &CancellationToken) {
    tokio::select! { _ = tokio::time::sleep(wait) => {}, _ = shutdown.cancelled() => {} }
}
