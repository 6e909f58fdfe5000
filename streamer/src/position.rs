//! Where a partition resumes: the store is the source of truth. After every
//! durable batch a checkpoint object records its last offset; a crash between
//! the batch and its checkpoint is recovered by listing the batch keys that
//! sort after the checkpointed one (keys sort by day, then offset). With no
//! checkpoint at all, the whole partition prefix is listed once.

use crate::batch::Batch;
use crate::error::StreamerError;
use bytes::Bytes;
use falconry_common::lake::{BatchKey, StreamLayout};
use falconry_common::{Store, StoreError};
use serde::{Deserialize, Serialize};
use std::io::Write;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Checkpoint {
    pub last_offset: u64,
    /// Key of the batch that ends at `last_offset`.
    pub key: String,
}

/// The last offset durable in the store for `partition`, if any.
pub async fn durable_offset(
    store: &Store,
    layout: &StreamLayout,
    partition: u32,
) -> Result<Option<u64>, StoreError> {
    let checkpoint = match store.get_bytes(&layout.checkpoint_key(partition)).await {
        Ok(bytes) => match serde_json::from_slice::<Checkpoint>(&bytes) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(partition, error = %e, "unreadable checkpoint: listing the partition instead");
                None
            }
        },
        Err(e) if e.is_not_found() => None,
        Err(e) => return Err(e),
    };
    let prefix = layout.partition_prefix(partition);
    let after = checkpoint.as_ref().map(|c| c.key.as_str()).unwrap_or("");
    let newer = store.list_after(&prefix, after).await?;
    let listed = newer
        .iter()
        .filter_map(|o| BatchKey::parse(&o.key))
        .map(|k| k.last)
        .max();
    Ok(match (checkpoint.map(|c| c.last_offset), listed) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    })
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
    .map_err(|e| StreamerError::Setup(format!("gzip task: {e}")))?;
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
