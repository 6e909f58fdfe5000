//! Which stream batches to read and what is in them: `batch.rs` reads one
//! batch object and keeps its alert events (pure over the bytes);
//! `scan.rs` finds batches not read yet under a store prefix (the embedded
//! default, and backfills); `notice.rs` turns queue messages (S3 event
//! notifications) into batch objects.

pub mod batch;
pub mod notice;
pub mod scan;

pub use scan::Scanner;
