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
    /// The Falcon API client could not be built.
    #[error("{0}")]
    Api(#[from] crate::api::ApiError),
    /// Found only at start, but a configuration problem all the same
    /// (refused credentials): the binary exits 64, not 1.
    #[error("the streamer cannot start")]
    Config(#[source] falconry_common::config::ConfigError),
    #[error(transparent)]
    Admin(#[from] falconry_common::telemetry::AdminError),
}
