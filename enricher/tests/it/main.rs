//! The enricher's integration tests, one test binary: the pipeline, the
//! trackers, Slack and every context provider against the stand-in servers of
//! `falconry-testkit` and moto's S3/SQS.

// Test code: a panic is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![recursion_limit = "256"]

mod context_history;
mod context_local;
mod context_remote;
mod falcon_alerts_api;
mod github_api;
mod github_issues;
mod local_issues;
mod real_samples;
mod response_loop;
mod rule_findings;
mod slack_webhook;
