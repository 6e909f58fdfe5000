//! The enricher's Prometheus metrics. Labels are small closed sets: alert
//! kinds, outcomes, error kinds; never keys, names or error strings.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = [(&'static str, &'static str); 1];
type Labels2 = [(&'static str, &'static str); 2];
type Histograms = Family<Labels2, Histogram, fn() -> Histogram>;

/// Response times: 1 minute to about 45 days.
fn response_histogram() -> Histogram {
    Histogram::new(exponential_buckets(60.0, 2.0, 17))
}

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
    /// Seconds from the opening to the first human response, by severity and source.
    time_to_respond: Histograms,
    /// Seconds from the opening to its close, by severity and source.
    time_to_close: Histograms,
    /// Open cases, and those past their SLA, by severity (set each round).
    open_cases: Family<Labels, Gauge>,
    past_sla: Family<Labels, Gauge>,
    /// Write-backs to Falcon by action and outcome (written, confirmed, failed).
    writebacks: Family<Labels2, Counter>,
    /// Alerts read from the Alerts API by what became of them.
    falcon_alerts: Family<Labels, Counter>,
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
            time_to_respond: Family::new_with_constructor(response_histogram),
            time_to_close: Family::new_with_constructor(response_histogram),
            open_cases: Family::default(),
            past_sla: Family::default(),
            writebacks: Family::default(),
            falcon_alerts: Family::default(),
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
        r.register(
            "time_to_respond_seconds",
            "From the issue's opening to the first human response, by severity and source",
            m.time_to_respond.clone(),
        );
        r.register(
            "time_to_close_seconds",
            "From the issue's opening to its close, by severity and source",
            m.time_to_close.clone(),
        );
        r.register(
            "open_cases",
            "Cases whose issue is open, by severity",
            m.open_cases.clone(),
        );
        r.register(
            "open_cases_past_sla",
            "Open cases past their response or close SLA, by severity",
            m.past_sla.clone(),
        );
        r.register(
            "falcon_writebacks",
            "Status changes written to Falcon's Alerts API, by action and outcome",
            m.writebacks.clone(),
        );
        r.register(
            "falcon_alerts",
            "Alerts read from Falcon's Alerts API, by what became of them",
            m.falcon_alerts.clone(),
        );
        m
    }

    pub fn responded(&self, severity: &'static str, source: &'static str, seconds: f64) {
        self.time_to_respond
            .get_or_create(&[("severity", severity), ("source", source)])
            .observe(seconds.max(0.0));
    }

    pub fn closed(&self, severity: &'static str, source: &'static str, seconds: f64) {
        self.time_to_close
            .get_or_create(&[("severity", severity), ("source", source)])
            .observe(seconds.max(0.0));
    }

    /// The open and past-SLA counts of one round, by severity.
    pub fn open_cases(&self, severity: &'static str, open: i64, past_sla: i64) {
        self.open_cases
            .get_or_create(&[("severity", severity)])
            .set(open);
        self.past_sla
            .get_or_create(&[("severity", severity)])
            .set(past_sla);
    }

    pub fn writeback(&self, action: &'static str, outcome: &'static str) {
        self.writebacks
            .get_or_create(&[("action", action), ("outcome", outcome)])
            .inc();
    }

    pub fn falcon_alert(&self, outcome: &'static str) {
        self.falcon_alerts
            .get_or_create(&[("outcome", outcome)])
            .inc();
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
