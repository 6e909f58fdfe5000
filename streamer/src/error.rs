//! The streamer's errors: reading a recorded stream, the store, set-up
//! (configuration, credentials refused), and compressing a batch.

use falconry_common::StoreError;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StreamerError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("compressing a batch: {0}")]
    Gzip(#[source] std::io::Error),
    #[error("{0}")]
    Setup(String),
    #[error(transparent)]
    Admin(#[from] falconry_common::telemetry::AdminError),
}
