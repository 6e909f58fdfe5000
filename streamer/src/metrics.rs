//! The streamer's Prometheus metrics. Labels are small closed sets: known
//! event types (others count as `other`), reconnect reasons, refresh outcomes,
//! partition numbers.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartitionLabel {
    pub partition: u32,
}

type Labels = [(&'static str, &'static str); 1];

#[derive(Clone)]
pub struct Metrics {
    events: Family<Labels, Counter>,
    reconnects: Family<Labels, Counter>,
    refreshes: Family<Labels, Counter>,
    pub bytes: Counter,
    pub batches: Counter,
    pub duplicates: Counter,
    pub junk_lines: Counter,
    pub discovers: Counter,
    pub lag_seconds: Histogram,
    pub offset: Family<PartitionLabel, Gauge>,
    pub connected: Family<PartitionLabel, Gauge>,
}

impl Metrics {
    pub fn new(registry: &mut Registry) -> Self {
        let m = Metrics {
            events: Family::default(),
            reconnects: Family::default(),
            refreshes: Family::default(),
            bytes: Counter::default(),
            batches: Counter::default(),
            duplicates: Counter::default(),
            junk_lines: Counter::default(),
            discovers: Counter::default(),
            lag_seconds: Histogram::new(exponential_buckets(0.25, 2.0, 16)),
            offset: Family::default(),
            connected: Family::default(),
        };
        let r = registry.sub_registry_with_prefix("falconry_streamer");
        r.register("events", "Events taken, by event type", m.events.clone());
        r.register(
            "reconnects",
            "Stream reconnects, by reason (cut, junk, idle, closed, error)",
            m.reconnects.clone(),
        );
        r.register(
            "refreshes",
            "Session refreshes, by outcome (ok, gone, error)",
            m.refreshes.clone(),
        );
        r.register("bytes", "Bytes of event lines taken", m.bytes.clone());
        r.register("batches", "Batches made durable", m.batches.clone());
        r.register(
            "duplicates",
            "Events at or below the durable offset, dropped",
            m.duplicates.clone(),
        );
        r.register(
            "junk_lines",
            "Lines that were not events (never written)",
            m.junk_lines.clone(),
        );
        r.register("discovers", "Discover calls", m.discovers.clone());
        r.register(
            "lag_seconds",
            "Now minus eventCreationTime of events taken",
            m.lag_seconds.clone(),
        );
        r.register(
            "offset",
            "Last offset taken, by partition",
            m.offset.clone(),
        );
        r.register(
            "connected",
            "1 while the partition's stream is connected",
            m.connected.clone(),
        );
        m
    }

    pub fn event(&self, event_type: &str) {
        let label = falconry_common::event_types::metric_label(event_type);
        self.events.get_or_create(&[("event_type", label)]).inc();
    }

    pub fn reconnect(&self, reason: &'static str) {
        self.reconnects.get_or_create(&[("reason", reason)]).inc();
    }

    pub fn refresh(&self, outcome: &'static str) {
        self.refreshes.get_or_create(&[("outcome", outcome)]).inc();
    }
}
