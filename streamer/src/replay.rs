//! `falconry stream --from FILE`: recorded stream lines (one partition; the
//! offsets come from the lines' metadata) fed through the same intake as the
//! live stream (`intake.rs`), then exit. Rerunning it, or running it
//! after a crash, resumes after the last durable offset: every offset lands in
//! exactly one object.

use crate::config::Settings;
pub use crate::error::StreamerError;
use crate::intake::{Intake, Took};
use crate::{position, writer};
use falconry_common::lake::StreamLayout;
use std::path::Path;
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
    let store = writer::open(settings).await;
    let layout = StreamLayout::under(settings.dest.prefix());
    let durable = position::durable_offset(&store, &layout, partition).await?;
    let resume_after = durable.offset;
    let mut intake = Intake::new(store, layout, partition, settings.limits, durable);
    let mut summary = Summary {
        resumed_at: intake.next_offset(),
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
        match intake.line(line).await? {
            Took::Event(_) => summary.events += 1,
            Took::Duplicate => summary.skipped += 1,
            Took::KeepAlive => {}
            Took::Junk(reason) => {
                summary.junk += 1;
                tracing::warn!(line = number, reason, "not a stream event: skipped");
            }
        }
    }
    // The open batch is flushed on a clean end and on shutdown alike.
    intake.flush().await?;
    summary.batches = intake.batches;
    tracing::info!(?summary, "replay finished");
    Ok(summary)
}
