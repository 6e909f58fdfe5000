//! `falconry stream --from FILE`: recorded stream lines (one partition; the
//! offsets come from the lines' metadata) written through the same batching
//! and commit path as the live stream, then exit. Rerunning it, or running it
//! after a crash, resumes after the last durable offset: every offset lands in
//! exactly one object.

use crate::batch::{Batch, Batcher, Pushed};
use crate::config::Settings;
pub use crate::error::StreamerError;
use crate::position;
use crate::wire::{self, Line};
use falconry_common::lake::StreamLayout;
use falconry_common::{Location, Store, aws};
use std::path::Path;
use std::time::Instant;
use tokio::io::AsyncBufReadExt;
use tokio_util::sync::CancellationToken;

/// What a replay did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Events written.
    pub events: u64,
    pub batches: u64,
    /// Events at or below the durable offset (already written) or out of order.
    pub skipped: u64,
    /// Lines that are not stream events (never written).
    pub junk: u64,
    /// Where the partition resumed (the first offset it would take).
    pub resumed_at: Option<u64>,
}

/// The destination store of `settings`.
pub async fn store(settings: &Settings) -> Result<Store, StreamerError> {
    let client = match settings.dest {
        Location::S3 { .. } => Some(aws::s3_client(&aws::sdk_config(&Default::default()).await)),
        Location::Local { .. } => None,
    };
    let store = Store::new(&settings.dest, client).map_err(StreamerError::Setup)?;
    // What a killed streamer left half-written.
    if let Err(e) = store.sweep_temporaries().await {
        tracing::warn!(error = %e, "could not sweep the destination's temporaries");
    }
    Ok(store)
}

pub async fn replay_file(
    settings: &Settings,
    path: &Path,
    partition: u32,
    shutdown: CancellationToken,
) -> Result<Summary, StreamerError> {
    let read_err = |source| StreamerError::Read {
        path: path.to_owned(),
        source,
    };
    let store = store(settings).await?;
    let layout = StreamLayout::under(settings.dest.prefix());
    let durable = position::durable_offset(&store, &layout, partition).await?;
    let resume_after = durable.offset;
    let mut batcher = Batcher::new(partition, settings.limits, durable);
    let mut summary = Summary {
        resumed_at: batcher.next_offset(),
        ..Summary::default()
    };
    tracing::info!(partition, resume_after = ?resume_after, file = %path.display(), "replaying a recorded stream");
    let file = tokio::fs::File::open(path).await.map_err(read_err)?;
    let mut lines = tokio::io::BufReader::new(file).split(b'\n');
    let mut number = 0u64;
    while let Some(line) = lines.next_segment().await.map_err(read_err)? {
        number += 1;
        if shutdown.is_cancelled() {
            break;
        }
        let line = line.strip_suffix(b"\r").unwrap_or(&line);
        match wire::parse(line) {
            Line::Event(meta) => {
                let wall_ms = chrono::Utc::now().timestamp_millis();
                match batcher.push(meta.offset, line, Instant::now(), wall_ms) {
                    Pushed::Duplicate => summary.skipped += 1,
                    Pushed::Taken(batch) => {
                        summary.events += 1;
                        if let Some(batch) = batch {
                            write(&store, &layout, batch, &mut summary).await?;
                        }
                    }
                }
            }
            Line::KeepAlive => {}
            Line::Junk(reason) => {
                summary.junk += 1;
                tracing::warn!(line = number, reason, "not a stream event: skipped");
            }
        }
    }
    // The open batch is flushed on a clean end and on shutdown alike.
    if let Some(batch) = batcher.take() {
        write(&store, &layout, batch, &mut summary).await?;
    }
    tracing::info!(?summary, "replay finished");
    Ok(summary)
}

async fn write(
    store: &Store,
    layout: &StreamLayout,
    batch: Batch,
    summary: &mut Summary,
) -> Result<(), StreamerError> {
    position::write(store, layout, batch).await?;
    summary.batches += 1;
    Ok(())
}
