//! The `falconry` binary's integration tests, one test binary: the real
//! binary under signals, the demo, the configuration reference and the
//! deployment files.

// Test code: a panic is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod config_reference;
mod demo;
mod deploy;
mod exit_codes;
mod hostile;
mod rules_cli;
mod signals;
