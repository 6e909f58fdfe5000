//! Where a partition resumes: the store is the source of truth. After every
//! durable batch a checkpoint object records its last offset; a crash between
//! the batch and its checkpoint is recovered by listing the partition's batches
//! from the day before the checkpointed one's and taking the highest offset
//! their keys name (offsets compared as numbers, never keys as strings: the
//! day before covers batches this project's older versions dated by event
//! time). With no checkpoint at all, the whole partition prefix is listed once.

use crate::batch::Durable;
use crate::writer::Checkpoint;
use falconry_common::lake::{BatchKey, StreamLayout};
use falconry_common::{Store, StoreError};

/// The last offset durable in the store for `partition`, and its batch's day.
pub async fn durable_offset(
    store: &Store,
    layout: &StreamLayout,
    partition: u32,
) -> Result<Durable, StoreError> {
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
    let after = checkpoint
        .as_ref()
        .and_then(|c| day_of(&c.key))
        .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .and_then(|d| d.pred_opt())
        .map(|d| format!("{prefix}dt={}", d.format("%Y-%m-%d")))
        .unwrap_or_default();
    let newest = store
        .list_after(&prefix, &after)
        .await?
        .into_iter()
        .filter_map(|o| BatchKey::parse(&o.key).map(|k| (k.last, o.key)))
        .max_by_key(|(last, _)| *last);
    let from_checkpoint = checkpoint.map(|c| (c.last_offset, c.key));
    let last = match (from_checkpoint, newest) {
        (Some(a), Some(b)) => Some(if b.0 > a.0 { b } else { a }),
        (a, b) => a.or(b),
    };
    // The floor for the next batch's day: the latest day any durable batch has.
    let day = last
        .as_ref()
        .and_then(|(_, key)| day_of(key).map(str::to_owned));
    Ok(Durable {
        offset: last.map(|(offset, _)| offset),
        day,
    })
}

/// The `YYYY-MM-DD` of a batch key's `dt=` folder.
fn day_of(key: &str) -> Option<&str> {
    key.split('/')
        .find_map(|s| s.strip_prefix("dt="))
        .filter(|d| d.len() == 10)
}
