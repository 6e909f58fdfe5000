//! The forwarder's Prometheus metrics. Labels are small closed sets (outcome,
//! kind); never keys, ids or error text. Counted per notice and per file, not
//! per line.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = [(&'static str, &'static str); 1];

#[derive(Clone)]
pub struct Metrics {
    notices: Family<Labels, Counter>,
    files: Family<Labels, Counter>,
    bytes: Family<Labels, Counter>,
    lines: Family<Labels, Counter>,
    failures: Family<Labels, Counter>,
    pub misfit_values: Counter,
    pub duplicate_values: Counter,
    pub clamped_rows: Counter,
    pub poison_notices: Counter,
    pub conversion_seconds: Histogram,
    pub notice_age_seconds: Histogram,
    pub in_flight: Gauge,
}

impl Metrics {
    pub fn new(registry: &mut Registry) -> Self {
        let m = Metrics {
            notices: Family::default(),
            files: Family::default(),
            bytes: Family::default(),
            lines: Family::default(),
            failures: Family::default(),
            misfit_values: Counter::default(),
            duplicate_values: Counter::default(),
            clamped_rows: Counter::default(),
            poison_notices: Counter::default(),
            conversion_seconds: Histogram::new(exponential_buckets(0.05, 2.0, 14)),
            notice_age_seconds: Histogram::new(exponential_buckets(1.0, 2.0, 20)),
            in_flight: Gauge::default(),
        };
        let r = registry.sub_registry_with_prefix("falconry_forwarder");
        r.register(
            "notices",
            "Notices handled, by outcome (done, failed, rejected, ignored)",
            m.notices.clone(),
        );
        r.register(
            "files",
            "Files handled, by outcome (converted, skipped, failed)",
            m.files.clone(),
        );
        r.register(
            "bytes",
            "Bytes, by kind (raw: copied as stored; json: uncompressed; parquet: written)",
            m.bytes.clone(),
        );
        r.register(
            "lines",
            "Lines, by outcome (converted, quarantined, quarantine_omitted: past the per-file quarantine budget)",
            m.lines.clone(),
        );
        r.register("failures", "Failures, by kind", m.failures.clone());
        r.register(
            "misfit_values",
            "Values that did not fit their typed column (kept in the catch-all)",
            m.misfit_values.clone(),
        );
        r.register(
            "duplicate_values",
            "Earlier values of keys a line repeats (kept in fields_json under falconry:duplicates)",
            m.duplicate_values.clone(),
        );
        r.register(
            "clamped_rows",
            "Rows partitioned by the notice time because their own time was implausible",
            m.clamped_rows.clone(),
        );
        r.register(
            "poison_notices",
            "Notices that failed report_after_receives times or more (see state/failures/)",
            m.poison_notices.clone(),
        );
        r.register(
            "conversion_seconds",
            "Seconds to copy and convert one file",
            m.conversion_seconds.clone(),
        );
        r.register(
            "notice_age_seconds",
            "Age of a notice when received (queue lag)",
            m.notice_age_seconds.clone(),
        );
        r.register("in_flight", "Notices being processed", m.in_flight.clone());
        m
    }

    pub fn notice(&self, outcome: &'static str) {
        self.notices.get_or_create(&[("outcome", outcome)]).inc();
    }

    pub fn file(&self, outcome: &'static str) {
        self.files.get_or_create(&[("outcome", outcome)]).inc();
    }

    pub fn bytes(&self, kind: &'static str, n: u64) {
        self.bytes.get_or_create(&[("kind", kind)]).inc_by(n);
    }

    pub fn lines(&self, outcome: &'static str, n: u64) {
        self.lines.get_or_create(&[("outcome", outcome)]).inc_by(n);
    }

    pub fn failure(&self, kind: &'static str) {
        self.failures.get_or_create(&[("kind", kind)]).inc();
    }
}
