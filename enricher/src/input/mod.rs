//! Which stream batches to read and what is in them: `batch.rs` reads one
//! batch object and keeps its alert events (pure over the bytes);
//! `scan.rs` finds batches not read yet under a store prefix (the embedded
//! default, and backfills); `notice.rs` turns queue messages (S3 event
//! notifications) into batch and findings objects; `findings.rs` reads one
//! findings object (what the organisation's rules found, from the forwarder).

pub mod batch;
pub mod findings;
pub mod notice;
pub mod scan;

pub use scan::{FindingsScanner, Scanner};
