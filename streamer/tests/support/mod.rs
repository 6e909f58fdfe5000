//! Test servers for the streamer's integration tests.

pub mod falcon;
