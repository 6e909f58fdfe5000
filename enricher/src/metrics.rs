//! The enricher's Prometheus metrics. Labels are small closed sets: alert
//! kinds, outcomes, error kinds; never keys, names or error strings.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = [(&'static str, &'static str); 1];
type Labels2 = [(&'static str, &'static str); 2];

#[derive(Clone)]
pub struct Metrics {
    /// By kind and outcome (created, commented, duplicate, discarded, notified, failed).
    alerts: Family<Labels2, Counter>,
    /// By outcome (done, failed, nothing).
    batches: Family<Labels, Counter>,
    /// Tracker and Slack failures by kind.
    errors: Family<Labels, Counter>,
    pub quarantined_lines: Counter,
    pub policy_fallbacks: Counter,
    pub slack_sent: Counter,
    /// Seconds from detection to its outcome.
    pub latency_seconds: Histogram,
}

impl Metrics {
    pub fn new(registry: &mut Registry) -> Metrics {
        let m = Metrics {
            alerts: Family::default(),
            batches: Family::default(),
            errors: Family::default(),
            quarantined_lines: Counter::default(),
            policy_fallbacks: Counter::default(),
            slack_sent: Counter::default(),
            latency_seconds: Histogram::new(exponential_buckets(0.5, 2.0, 18)),
        };
        let r = registry.sub_registry_with_prefix("falconry_enricher");
        r.register(
            "alerts",
            "Alerts handled, by kind and outcome",
            m.alerts.clone(),
        );
        r.register(
            "batches",
            "Stream batches read, by outcome",
            m.batches.clone(),
        );
        r.register("errors", "Failures, by kind", m.errors.clone());
        r.register(
            "quarantined_lines",
            "Lines set aside as unreadable",
            m.quarantined_lines.clone(),
        );
        r.register(
            "policy_fallbacks",
            "Alerts decided by the fallback because the policy failed on them",
            m.policy_fallbacks.clone(),
        );
        r.register("slack_sent", "Slack notices sent", m.slack_sent.clone());
        r.register(
            "latency_seconds",
            "From the detection's time to its issue or comment",
            m.latency_seconds.clone(),
        );
        m
    }

    pub fn alert(&self, kind: &'static str, outcome: &'static str) {
        self.alerts
            .get_or_create(&[("kind", kind), ("outcome", outcome)])
            .inc();
    }

    pub fn batch(&self, outcome: &'static str) {
        self.batches.get_or_create(&[("outcome", outcome)]).inc();
    }

    pub fn error(&self, kind: &'static str) {
        self.errors.get_or_create(&[("kind", kind)]).inc();
    }
}
