//! Hunt metrics, under `falconry_hunt_`: indicators in force by type and
//! source (the sources the operator configured: a closed set), hunts run,
//! rows scanned, matches new and already known, seconds spent.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct IndicatorLabel {
    pub kind: String,
    pub source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EngineLabel {
    pub engine: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MatchLabel {
    /// `new`, `known` (a hunt found it again), or `live` (an event as it was
    /// converted).
    pub state: String,
}

#[derive(Clone)]
pub struct HuntMetrics {
    pub indicators: Family<IndicatorLabel, Gauge>,
    pub load_problems: Counter,
    pub reloads: Counter,
    pub hunts: Family<EngineLabel, Counter>,
    pub rows_scanned: Counter,
    pub bytes_scanned: Counter,
    pub matches: Family<MatchLabel, Counter>,
    pub seconds: Counter<f64, std::sync::atomic::AtomicU64>,
    pub failures: Counter,
}

impl HuntMetrics {
    pub fn new(registry: &mut Registry) -> HuntMetrics {
        let m = HuntMetrics {
            indicators: Family::default(),
            load_problems: Counter::default(),
            reloads: Counter::default(),
            hunts: Family::default(),
            rows_scanned: Counter::default(),
            bytes_scanned: Counter::default(),
            matches: Family::default(),
            seconds: Counter::default(),
            failures: Counter::default(),
        };
        let r = registry.sub_registry_with_prefix("falconry_hunt");
        r.register(
            "indicators",
            "Indicators in force, by type and source",
            m.indicators.clone(),
        );
        r.register(
            "load_problems",
            "Indicator entries or documents refused at a load (each is logged)",
            m.load_problems.clone(),
        );
        r.register(
            "reloads",
            "Indicator sets reloaded after a change",
            m.reloads.clone(),
        );
        r.register("runs", "Hunts run, by engine", m.hunts.clone());
        r.register(
            "failures",
            "Hunts or TAXII pulls that failed (retried next round; each is logged)",
            m.failures.clone(),
        );
        r.register(
            "rows_scanned",
            "Lake rows read by hunts (scan engine)",
            m.rows_scanned.clone(),
        );
        r.register(
            "bytes_scanned",
            "Bytes read by hunts (Parquet files read, or Athena's DataScannedInBytes)",
            m.bytes_scanned.clone(),
        );
        r.register(
            "matches",
            "Indicator matches, by state: new, known (found again), live (at conversion)",
            m.matches.clone(),
        );
        r.register("seconds", "Seconds spent hunting", m.seconds.clone());
        m
    }

    /// Sets the indicators gauge from a load's counts (by source, type).
    pub fn loaded(&self, counts: &std::collections::BTreeMap<(String, super::Kind), u64>) {
        self.indicators.clear();
        for ((source, kind), n) in counts {
            self.indicators
                .get_or_create(&IndicatorLabel {
                    kind: kind.to_string(),
                    source: source.clone(),
                })
                .set(i64::try_from(*n).unwrap_or(i64::MAX));
        }
    }

    pub fn matched(&self, state: &str, n: u64) {
        self.matches
            .get_or_create(&MatchLabel {
                state: state.to_owned(),
            })
            .inc_by(n);
    }
}
