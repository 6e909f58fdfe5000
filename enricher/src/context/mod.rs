//! The context of an alert: every configured provider (DNS, GeoIP/ASN, Falcon
//! host details, threat intel, the user and asset directory, lake history)
//! looked up at once, each bounded by the same deadline, each giving one
//! [`Section`] of the issue and one entry of the policy's `input.enrichment`.
//! A slow or failed provider shows as "lookup failed (reason)"; it never holds
//! the issue back past the deadline, and never fails the alert.
//!
//! `cache.rs` (found / not-found expiry, one lookup for concurrent askers) and
//! `limit.rs` (per-minute rate and daily budget) are shared by the providers;
//! `config.rs` turns `[enricher.context]` into a [`Context`].

mod cache;
pub mod config;
pub mod directory;
pub mod dns;
pub mod falcon_host;
pub mod geoip;
pub mod history;
pub mod intel;
mod limit;

use crate::alert::{Alert, Enrichment, Section, Status, Table};
use futures::future::BoxFuture;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a provider found for one alert.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Found {
    pub table: Table,
    pub notes: Vec<String>,
    /// Structured result for the policy (`input.enrichment.<id>.data`).
    pub data: serde_json::Value,
}

impl Found {
    fn is_empty(&self) -> bool {
        self.table.rows.is_empty() && self.notes.is_empty()
    }
}

/// Why a lookup failed; the text is shown in the issue, so it never carries a
/// secret (API keys are in headers, never in URLs or messages).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LookupError(pub String);

/// One source of context. Implementations: `dns`, `geoip`, `falcon_host`,
/// `intel`, `directory`, `history`.
pub trait Provider: Send + Sync {
    /// Short id: the policy's `input.enrichment` key and the metrics label.
    fn id(&self) -> &'static str;
    /// Heading of the issue section.
    fn title(&self) -> &'static str;
    /// Looks up what the alert names. `Ok(Found::default())` = nothing known.
    fn lookup<'a>(&'a self, alert: &'a Alert) -> BoxFuture<'a, Result<Found, LookupError>>;
}

/// Per-provider metrics: lookups by outcome, latency.
#[derive(Clone)]
pub struct ContextMetrics {
    lookups: Family<[(&'static str, &'static str); 2], Counter>,
    latency: Family<[(&'static str, &'static str); 1], Histogram>,
}

impl ContextMetrics {
    pub fn new(registry: &mut Registry) -> ContextMetrics {
        let m = ContextMetrics {
            lookups: Family::default(),
            latency: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.005, 2.0, 14))
            }),
        };
        let r = registry.sub_registry_with_prefix("falconry_enricher_context");
        r.register(
            "lookups",
            "Context lookups per alert, by provider and outcome (hit, miss, error, timeout)",
            m.lookups.clone(),
        );
        r.register(
            "latency_seconds",
            "Context lookup time per alert, by provider",
            m.latency.clone(),
        );
        m
    }

    fn record(&self, provider: &'static str, outcome: &'static str, took: Duration) {
        self.lookups
            .get_or_create(&[("provider", provider), ("outcome", outcome)])
            .inc();
        self.latency
            .get_or_create(&[("provider", provider)])
            .observe(took.as_secs_f64());
    }
}

/// The providers of one enricher and the deadline they share.
pub struct Context {
    providers: Vec<Arc<dyn Provider>>,
    /// Providers switched off, shown as "not available: off".
    off: Vec<(&'static str, &'static str)>,
    deadline: Duration,
    metrics: Option<ContextMetrics>,
}

impl Context {
    pub fn new(deadline: Duration) -> Context {
        Context {
            providers: Vec::new(),
            off: Vec::new(),
            deadline,
            metrics: None,
        }
    }

    /// No providers at all: every alert gets an empty enrichment.
    pub fn none() -> Context {
        Context::new(Duration::from_secs(1))
    }

    pub fn with_metrics(mut self, metrics: ContextMetrics) -> Context {
        self.metrics = Some(metrics);
        self
    }

    pub fn add(&mut self, provider: Arc<dyn Provider>) {
        self.providers.push(provider);
    }

    /// A provider the configuration switched off: its section says so.
    pub fn add_off(&mut self, id: &'static str, title: &'static str) {
        self.off.push((id, title));
    }

    /// Every provider at once, each cut off at the deadline.
    pub async fn gather(&self, alert: &Alert) -> Enrichment {
        let lookups = self.providers.iter().map(|p| async move {
            let started = Instant::now();
            let result = tokio::time::timeout(self.deadline, p.lookup(alert)).await;
            let took = started.elapsed();
            let (status, found, outcome) = match result {
                Ok(Ok(found)) if found.is_empty() => (Status::NotFound, found, "miss"),
                Ok(Ok(found)) => (Status::Available, found, "hit"),
                Ok(Err(e)) => (Status::Failed(e.0), Found::default(), "error"),
                Err(_) => (
                    Status::Failed(format!("no answer within {} ms", self.deadline.as_millis())),
                    Found::default(),
                    "timeout",
                ),
            };
            if let Some(m) = &self.metrics {
                m.record(p.id(), outcome, took);
            }
            Section {
                provider: p.id().to_owned(),
                title: p.title().to_owned(),
                status,
                table: found.table,
                notes: found.notes,
                data: found.data,
            }
        });
        let mut sections = futures::future::join_all(lookups).await;
        for (id, title) in &self.off {
            sections.push(Section {
                provider: (*id).to_owned(),
                title: (*title).to_owned(),
                status: Status::Off,
                table: Table::default(),
                notes: Vec::new(),
                data: serde_json::Value::Null,
            });
        }
        Enrichment { sections }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(&'static str, Duration, Result<Found, LookupError>);

    impl Provider for Fixed {
        fn id(&self) -> &'static str {
            self.0
        }
        fn title(&self) -> &'static str {
            self.0
        }
        fn lookup<'a>(&'a self, _: &'a Alert) -> BoxFuture<'a, Result<Found, LookupError>> {
            Box::pin(async move {
                tokio::time::sleep(self.1).await;
                self.2.clone()
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_dead_provider_costs_at_most_the_deadline() {
        let mut c = Context::new(Duration::from_secs(3));
        let hit = Found {
            notes: vec!["x".into()],
            ..Found::default()
        };
        c.add(Arc::new(Fixed("fast", Duration::from_millis(10), Ok(hit))));
        c.add(Arc::new(Fixed(
            "empty",
            Duration::ZERO,
            Ok(Found::default()),
        )));
        c.add(Arc::new(Fixed(
            "broken",
            Duration::ZERO,
            Err(LookupError("HTTP 500".into())),
        )));
        c.add(Arc::new(Fixed(
            "dead",
            Duration::from_secs(3600),
            Ok(Found::default()),
        )));
        c.add_off("dns", "DNS");
        let event = serde_json::json!({"metadata": {"eventType": "EppDetectionSummaryEvent"}, "event": {"Name": "x"}});
        let alert =
            crate::alert::normalize::normalize(&event, &Default::default(), Default::default())
                .unwrap()
                .unwrap();
        let started = tokio::time::Instant::now();
        let e = c.gather(&alert).await;
        assert_eq!(started.elapsed(), Duration::from_secs(3));
        let status: Vec<_> = e
            .sections
            .iter()
            .map(|s| (s.provider.as_str(), s.status.as_str()))
            .collect();
        assert_eq!(
            status,
            [
                ("fast", "available"),
                ("empty", "not_found"),
                ("broken", "failed"),
                ("dead", "failed"),
                ("dns", "off")
            ]
        );
        assert_eq!(e.policy_input()["broken"]["reason"], "HTTP 500");
    }
}
