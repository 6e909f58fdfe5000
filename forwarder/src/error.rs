//! The forwarder's errors, and the one place that decides what each means for
//! the notice: every [`FileError`] leaves the notice undeleted (SQS redelivers
//! it; the directory queue sets it aside with the reason), and is counted under
//! a closed set of kinds.

use crate::convert::ConvertError;
use falconry_common::StoreError;
use falconry_common::queue::QueueError;
use falconry_common::telemetry::AdminError;

/// Why one file of a notice could not be made durable.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("reading the source failed: {0}")]
    Source(#[source] StoreError),
    #[error("{key}: MD5 {actual} differs from the notice's checksum {expected}")]
    Checksum {
        key: String,
        expected: String,
        actual: String,
    },
    #[error("{key}: read {actual} bytes, the notice says {expected}")]
    Size {
        key: String,
        expected: u64,
        actual: u64,
    },
    #[error("{key}: conversion failed: {source}")]
    Convert {
        key: String,
        #[source]
        source: ConvertError,
    },
    #[error("writing the destination failed: {0}")]
    Dest(#[source] StoreError),
    #[error(
        "{key}: refused: the lake already holds this key from bucket {owner:?}, and this notice names bucket {bucket:?} (the outputs would overwrite another object's; forward each bucket to its own destination prefix)"
    )]
    Conflict {
        key: String,
        owner: String,
        bucket: String,
    },
    #[error("{key}: {message}")]
    Internal { key: String, message: String },
}

impl FileError {
    /// Metric label: a closed set.
    pub fn kind(&self) -> &'static str {
        match self {
            FileError::Source(_) => "source_read",
            FileError::Checksum { .. } => "checksum",
            FileError::Size { .. } => "size",
            FileError::Convert {
                source: ConvertError::Input { .. },
                ..
            } => "decompress",
            FileError::Convert { .. } => "convert",
            FileError::Dest(_) => "dest_write",
            FileError::Conflict { .. } => "conflict",
            FileError::Internal { .. } => "internal",
        }
    }
}

/// Why the forwarder could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum ForwarderError {
    #[error(transparent)]
    Admin(#[from] AdminError),
    #[error("{0}")]
    Queue(#[from] QueueError),
    #[error("{failed} notice(s) failed (see the log and the failed/ or state/failures/ records)")]
    NoticesFailed { failed: u64 },
    #[error("{0}")]
    Store(#[from] StoreError),
    /// A configuration problem found only at start (exit 64).
    #[error("the forwarder cannot start")]
    Config(#[source] falconry_common::config::ConfigError),
    #[error(
        "the queue is empty but {claimed} notice(s) are still claimed (in flight with another forwarder, or abandoned by one that crashed); run again once they are back"
    )]
    NoticesClaimed { claimed: u64 },
    #[error("backtest: {0}")]
    Backtest(String),
    #[error("the rules: {0}")]
    Rules(String),
}
