//! The enricher: stream batches → detections → context → Rego policy →
//! deduplicated GitHub issues and Slack notices.
//!
//! Where an alert travels: `input/` (which batches, from a queue or a scan;
//! read the lines, keep the detections) → `alert/` (one model for every shape)
//! → `context/` (what the providers know: DNS, GeoIP, the directory, Falcon's
//! host details, threat intel, the lake's history) → `policy/` (what to do)
//! → `dedup/` (new issue, repeat, or already done) → `render/` (a safe
//! Markdown body, with the Athena query of `sql.rs`) → `tracker/` (GitHub or a
//! directory of Markdown files) and `slack.rs`. `pipeline.rs` drives one alert
//! through it; `daemon.rs` builds the parts and runs the scan, or the queue
//! through `falconry_common::queue::consumer`.
//!
//! After the issue: `response/` follows each case to its end (the case
//! record, Falcon's Alerts API polled as a second source and written back,
//! conclusions read from the issues, SLA reminders, the time-to-respond
//! report).
//!
//! Public: what the binary and the tests use (the configuration, the alert
//! model, the context providers, the policy, the renderer, the trackers,
//! Slack, `run` and `preflight`); the daemon, the input, the pipeline and
//! the metrics are the crate's own.

pub mod alert;
pub mod config;
pub mod context;
mod daemon;
pub mod decision;
pub mod dedup;
mod input;
mod metrics;
mod pipeline;
pub mod policy;
pub mod render;
pub mod response;
pub mod slack;
mod sql;
mod text;
pub mod tracker;

pub use config::{EnricherConfig, Settings};
pub use daemon::{EnricherError, Summary, preflight, run};
