//! Detections: the organisation's own Sigma rules over FDR events.
//!
//! - `mapping.rs`: the one mapping from Sigma (logsource categories, field
//!   names) to FDR (`event_simpleName`s, members), documented in
//!   `docs/detections.md`.
//! - `rules.rs`: rule files → rules checked against the mapping (a bad file
//!   or rule is reported and skipped).
//! - `event.rs`: one FDR event as the rules read it, from the members the
//!   forwarder already parsed (no second parse).
//! - `detector.rs`: the rules compiled once, indexed by event type.
//! - `source.rs`: reading rules from a directory or an S3 prefix.
//! - `testing.rs`: `falconry rules test`.
//! - `config.rs`, `live.rs`, `metrics.rs`: `[detect]`, the rules in force in
//!   a running forwarder (reloaded on change), and their metrics.
//! - `ioc/`: indicators of compromise (feeds, normal forms, matching), for
//!   the forwarder's live matching and `falconry hunt`.
//!
//! The engine is rsigma (`rsigma-parser`, `rsigma-eval`, MIT).

pub mod config;
pub mod detector;
pub mod event;
pub mod ioc;
pub mod live;
pub mod mapping;
pub mod metrics;
mod prefilter;
pub mod rules;
pub mod source;
pub mod starter;
pub mod testing;

#[cfg(test)]
mod tests;

pub use config::{DetectConfig, DetectSettings};
pub use detector::{Detector, Hit};
pub use live::LiveRules;
pub use metrics::DetectMetrics;
pub use rules::{Loaded, Problem, RuleFile, RuleMeta, Severity};
pub use source::RulesSource;
