//! The forwarder: FDR notices from SQS (or a directory) → verified raw copies
//! in our bucket → lossless, partitioned Parquet for Athena.
//!
//! Where a notice travels: `falconry_common::queue` (receive) → `notice.rs` (decode) →
//! `process.rs` (per file) → `copy.rs` (verified raw copy, feeding
//! `convert/`) → `outputs.rs` (Parquet, quarantine, manifest) → `daemon.rs`
//! (delete once durable).

pub mod backtest;
pub mod config;
pub mod convert;
mod copy;
mod daemon;
pub mod error;
pub mod hunt;
pub mod lake;
pub mod layout;
pub mod local;
mod metrics;
pub mod notice;
pub mod outputs;
mod process;
pub mod replay;
pub mod schema;

pub use config::{ForwarderConfig, Settings};
pub use daemon::Summary;
pub use error::ForwarderError;
pub use outputs::Manifest;

use falconry_common::telemetry::{Registry, Telemetry};
use tokio_util::sync::CancellationToken;

/// The forwarder's seam, called by the binary and the tests alike: builds the
/// clients, registers its metrics and health on `telemetry`'s admin port, and
/// runs until `shutdown` (or, with `until_empty`, until the queue is drained).
///
/// Temporary files go to a folder of this process's own under `tmp_dir`
/// (`falconry-forwarder/<host>_<pid>_<start>-<n>-work/`), removed at the end; the
/// folders of forwarders that were killed are removed at start, as are a
/// local destination's half-written objects.
pub async fn run(
    mut settings: Settings,
    telemetry: Telemetry,
    shutdown: CancellationToken,
) -> Result<Summary, ForwarderError> {
    let parent = settings.convert.tmp_dir.clone();
    let work = falconry_common::process::work_dir(&parent, "falconry-forwarder").map_err(|e| {
        ForwarderError::Config(falconry_common::config::ConfigError::Invalid(vec![
            format!("forwarder.tmp_dir: cannot use {}: {e}", parent.display()),
        ]))
    })?;
    settings.convert.tmp_dir = work.clone();
    let result = async {
        let mut registry = Registry::default();
        let forwarder = daemon::Forwarder::new(settings, &mut registry).await?;
        telemetry
            .serve(registry, forwarder.health.clone(), &shutdown)
            .await?;
        forwarder.run(shutdown).await
    }
    .await;
    let _ = std::fs::remove_dir_all(&work);
    result
}
