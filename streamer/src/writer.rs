//! Writing a partition's batches: the destination store (opened once, with
//! what a killed streamer left half-written swept), each batch gzipped off the
//! async runtime and made durable, then the partition's checkpoint moved. The
//! one way a batch is written, live or replayed; `position.rs` reads back what
//! this leaves.

use crate::batch::Batch;
use crate::config::Settings;
use crate::error::StreamerError;
use bytes::Bytes;
use falconry_common::lake::StreamLayout;
use falconry_common::{Store, StoreError};
use serde::{Deserialize, Serialize};
use std::io::Write;

/// A partition's checkpoint: its last durable offset and the batch holding it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Checkpoint {
    pub last_offset: u64,
    /// Key of the batch that ends at `last_offset`.
    pub key: String,
}

/// The destination store of `settings`.
pub async fn open(settings: &Settings) -> Store {
    let store = Store::open(&settings.dest).await;
    // What a killed streamer left half-written.
    if let Err(e) = store.sweep_temporaries().await {
        tracing::warn!(error = %e, "could not sweep the destination's temporaries");
    }
    store
}

/// Gzips `batch` off the async runtime and commits it: the one way a batch is written.
pub async fn write(
    store: &Store,
    layout: &StreamLayout,
    batch: Batch,
) -> Result<String, StreamerError> {
    let (batch, gz) = tokio::task::spawn_blocking(move || {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let gz = e.write_all(&batch.ndjson).and_then(|_| e.finish());
        (batch, gz)
    })
    .await
    .map_err(|e| StreamerError::Gzip(std::io::Error::other(e)))?;
    let gz = gz.map_err(StreamerError::Gzip)?;
    let key = commit(store, layout, &batch, Bytes::from(gz)).await?;
    tracing::info!(
        key,
        first = batch.first_offset,
        last = batch.last_offset,
        events = batch.events,
        "batch durable"
    );
    Ok(key)
}

/// Makes `ndjson_gz` (the gzip of `batch`) durable, then moves the checkpoint.
pub async fn commit(
    store: &Store,
    layout: &StreamLayout,
    batch: &Batch,
    ndjson_gz: Bytes,
) -> Result<String, StoreError> {
    let key = batch.key(layout);
    store.put_bytes(&key, ndjson_gz).await?;
    let checkpoint = Checkpoint {
        last_offset: batch.last_offset,
        key: key.clone(),
    };
    let body = serde_json::to_vec(&checkpoint).unwrap_or_default();
    store
        .put_bytes(&layout.checkpoint_key(batch.partition), Bytes::from(body))
        .await?;
    Ok(key)
}
