//! Detection metrics, under `falconry_detect_`. Rule ids are labels: a
//! closed set the operator controls. Unknown event types are labels too, at
//! most [`MAX_TYPE_LABELS`] of them (the rest count as `other`): a hostile
//! file cannot grow the metrics without end.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

pub const MAX_TYPE_LABELS: usize = 200;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuleLabel {
    pub rule: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TypeLabel {
    pub event_simplename: String,
}

#[derive(Clone)]
pub struct DetectMetrics {
    pub rules_loaded: Gauge,
    pub load_errors: Counter,
    pub reloads: Counter,
    pub evaluations: Family<RuleLabel, Counter>,
    pub hits: Family<RuleLabel, Counter>,
    pub findings_omitted: Counter,
    pub evaluation_seconds: Histogram,
    pub unseen_events: Family<TypeLabel, Counter>,
    /// Unknown types already logged (and given labels).
    seen_unknown: Arc<Mutex<HashSet<String>>>,
}

impl DetectMetrics {
    pub fn new(registry: &mut Registry) -> DetectMetrics {
        let m = DetectMetrics {
            rules_loaded: Gauge::default(),
            load_errors: Counter::default(),
            reloads: Counter::default(),
            evaluations: Family::default(),
            hits: Family::default(),
            findings_omitted: Counter::default(),
            evaluation_seconds: Histogram::new(exponential_buckets(0.0001, 4.0, 12)),
            unseen_events: Family::default(),
            seen_unknown: Arc::default(),
        };
        let r = registry.sub_registry_with_prefix("falconry_detect");
        r.register("rules_loaded", "Rules in force", m.rules_loaded.clone());
        r.register(
            "load_errors",
            "Rule files or rules refused at a load (each is logged with its file)",
            m.load_errors.clone(),
        );
        r.register(
            "reloads",
            "Rule sets reloaded after a change",
            m.reloads.clone(),
        );
        r.register(
            "evaluations",
            "Events a rule was evaluated on, by rule id",
            m.evaluations.clone(),
        );
        r.register("hits", "Events a rule matched, by rule id", m.hits.clone());
        r.register(
            "findings_omitted",
            "Hits past the per-rule, per-file cap (counted in a capped record)",
            m.findings_omitted.clone(),
        );
        r.register(
            "evaluation_seconds",
            "Seconds spent evaluating rules, per file",
            m.evaluation_seconds.clone(),
        );
        r.register(
            "unseen_events",
            "Events of types neither the mapping nor any rule knows, by type",
            m.unseen_events.clone(),
        );
        m
    }

    /// Counts `n` events of an unknown type; logs the first of each type once.
    pub fn unseen(&self, event_simplename: &str, n: u64) {
        let label = {
            let Ok(mut seen) = self.seen_unknown.lock() else {
                return;
            };
            if seen.contains(event_simplename) {
                event_simplename.to_owned()
            } else if seen.len() < MAX_TYPE_LABELS {
                seen.insert(event_simplename.to_owned());
                tracing::warn!(
                    event_simplename,
                    "events of a type neither the Sigma mapping nor any rule knows: nobody watches them (see docs/detections.md)"
                );
                event_simplename.to_owned()
            } else {
                "other".to_owned()
            }
        };
        self.unseen_events
            .get_or_create(&TypeLabel {
                event_simplename: label,
            })
            .inc_by(n);
    }
}
