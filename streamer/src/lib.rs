//! The streamer: Falcon Event Streams → gzip NDJSON batches in S3, each offset
//! exactly once.
//!
//! Where an event travels: `daemon.rs` (discover the partitions through
//! `api.rs`/`discover.rs`, hold one `session.rs` per partition: a state
//! machine, refreshed as `refresh.rs` says) → `intake.rs` (one line:
//! `wire.rs` classifies it, `batch.rs` cuts batches and drops duplicates) →
//! `writer.rs` (gzip, commit the batch, then the checkpoint, under the lake's
//! stream layout); `position.rs` finds where a partition resumes.
//! `replay.rs` feeds recorded stream files through the same intake.

pub mod api;
pub mod batch;
pub mod config;
pub mod daemon;
pub mod discover;
pub mod error;
pub mod intake;
pub mod metrics;
pub mod position;
pub mod refresh;
pub mod replay;
pub mod session;
pub mod wire;
pub mod writer;

pub use config::{Settings, StreamerConfig};
pub use daemon::{Report, run};
pub use replay::{Summary, replay_file};
