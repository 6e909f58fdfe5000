//! The streamer's integration tests, one test binary: the live stream against
//! the project's Falcon API test server, and replay through the commit path.

// Test code: a panic is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod live_stream;
mod replay_exactly_once;
