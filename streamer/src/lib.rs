//! The streamer: Falcon Event Streams → gzip NDJSON batches in S3, each offset
//! exactly once.
//!
//! Where an event travels: `daemon.rs` (discover the partitions through
//! `api.rs`/`discover.rs`, hold one `session.rs` per partition, refreshed as `refresh.rs` says) → `wire.rs`
//! (classify the line) → `batch.rs` (cut batches, drop duplicates) →
//! `position.rs` (commit batch then checkpoint under the lake's stream layout;
//! find where to resume). `replay.rs` feeds recorded stream files through the
//! same path.

pub mod api;
pub mod batch;
pub mod config;
pub mod daemon;
pub mod discover;
pub mod error;
pub mod metrics;
pub mod position;
pub mod refresh;
pub mod replay;
pub mod session;
pub mod wire;

pub use config::{Settings, StreamerConfig};
pub use daemon::{Report, run};
pub use replay::{Summary, replay_file};
