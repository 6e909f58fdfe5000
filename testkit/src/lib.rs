//! The stand-in servers falconry's integration tests run against, all on
//! 127.0.0.1 and speaking the real wire protocols: moto's S3/SQS (started by
//! `scripts/test.sh`; this crate gives clients and uuid-named buckets and
//! queues), and the project's own servers for the Falcon API (one server: OAuth2,
//! Event Streams, hosts), GitHub's REST API, Slack's incoming webhooks, the threat
//! intel services, Athena, and DNS. Each records what it saw and can be armed
//! with faults. Dev-only: no daemon depends on it.
//!
//! A test panics (`expect`) on set-up failures: that is the test failing.

// Test code: a panic is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// The Falcon hosts answer is one large json! literal.
#![recursion_limit = "256"]

pub mod admin;
pub mod athena;
pub mod dns;
pub mod falcon;
pub mod github;
pub mod intel;
pub mod moto;
pub mod samples;
pub mod slack;
pub mod taxii;
