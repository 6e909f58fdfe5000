//! Test servers for the enricher's integration tests: GitHub's REST API
//! (issues, comments, App tokens, rate limits) and a Slack incoming webhook,
//! both on 127.0.0.1 with state the tests can inspect and faults they can arm.

pub mod github;
pub mod moto;
pub mod slack;
