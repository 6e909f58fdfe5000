//! Replay: re-convert raw files already in the destination's raw prefix into
//! Parquet with the current schema. This is how users upgrade their history
//! after a schema change, and how they load FDR data they copied before
//! running falconry. Idempotent like the daemon (same keys, manifests remove
//! stale outputs), with the same bounded concurrency; progress is reported
//! through a watch channel the caller renders.

use crate::config::Settings;
use crate::copy::reconvert;
use crate::error::{FileError, ForwarderError};
use crate::layout::{Route, route};
use crate::outputs::{Target, previous_manifest, publish};
use falconry_common::{ObjectInfo, Store};
use futures::StreamExt;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Which raw files to replay.
#[derive(Debug, Clone, Default)]
pub struct ReplayOptions {
    /// Key prefix under the raw prefix, e.g. `data/` or `fdrv2/aidmaster/` (default: everything).
    pub prefix: String,
    /// Only raw objects last modified at or after this time (epoch ms).
    pub since_ms: Option<i64>,
    /// Only raw objects last modified before this time (epoch ms).
    pub until_ms: Option<i64>,
}

/// Where a replay stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    pub files_total: u64,
    pub bytes_total: u64,
    pub files_done: u64,
    pub bytes_done: u64,
    pub failed: u64,
    pub rows: u64,
}

/// Replays what `opts` selects; `progress` is updated after every file.
pub async fn replay(
    settings: &Settings,
    opts: &ReplayOptions,
    progress: watch::Sender<Progress>,
    shutdown: CancellationToken,
) -> Result<Progress, ForwarderError> {
    let dest = Store::open(&settings.dest).await;
    let layout = &settings.layout;
    // `[detect]`: the rules run over the replayed events too.
    let detector = match &settings.detect {
        Some(d) => {
            let store = Store::open(&d.source.location).await;
            let (loaded, _) = falconry_detect::source::load(&store, &d.source)
                .await
                .map_err(|e| ForwarderError::Rules(e.to_string()))?;
            falconry_detect::live::report(&loaded, &d.source.text);
            Some(std::sync::Arc::new(falconry_detect::Detector::new(
                &loaded.rules,
            )))
        }
        None => None,
    };
    let detector = detector.as_ref();
    let prefix = layout.raw_listing(&opts.prefix);
    let listed = dest.list(&prefix).await.map_err(ForwarderError::Store)?;
    let selected: Vec<(ObjectInfo, String, &'static str)> = listed
        .into_iter()
        .filter(|o| {
            opts.since_ms
                .is_none_or(|s| o.modified_ms.is_some_and(|m| m >= s))
        })
        .filter(|o| {
            opts.until_ms
                .is_none_or(|u| o.modified_ms.is_some_and(|m| m < u))
        })
        .filter_map(|o| {
            let source_key = layout.source_key_of_raw(&o.key)?.to_owned();
            match route(&source_key, Some(o.size)) {
                Route::Table(t) => Some((o, source_key, t)),
                Route::Skip(_) => None,
            }
        })
        .collect();
    progress.send_modify(|p| {
        p.files_total = selected.len() as u64;
        p.bytes_total = selected.iter().map(|(o, _, _)| o.size).sum();
    });
    tracing::info!(prefix, files = selected.len(), "replay started");
    let dest = &dest;
    let mut results = futures::stream::iter(selected)
        .take_while(|_| std::future::ready(!shutdown.is_cancelled()))
        .map(|(info, source_key, table)| async move {
            let r = replay_one(settings, detector, dest, &info, &source_key, table).await;
            (info, source_key, r)
        })
        .buffer_unordered(settings.files_in_flight.get());
    while let Some((info, source_key, result)) = results.next().await {
        match result {
            Ok(rows) => progress.send_modify(|p| {
                p.files_done += 1;
                p.bytes_done += info.size;
                p.rows += rows;
            }),
            Err(e) => {
                tracing::error!(key = %source_key, kind = e.kind(), error = %e, "replay of a file failed");
                progress.send_modify(|p| {
                    p.files_done += 1;
                    p.bytes_done += info.size;
                    p.failed += 1;
                });
            }
        }
    }
    let last = progress.borrow().clone();
    tracing::info!(?last, "replay finished");
    if last.failed > 0 {
        return Err(ForwarderError::NoticesFailed {
            failed: last.failed,
        });
    }
    Ok(last)
}

async fn replay_one(
    settings: &Settings,
    detector: Option<&std::sync::Arc<falconry_detect::Detector>>,
    dest: &Store,
    info: &ObjectInfo,
    source_key: &str,
    table: &'static str,
) -> Result<u64, FileError> {
    let layout = &settings.layout;
    // Rows without a time of their own go where the first conversion put them.
    let previous = previous_manifest(dest, layout, source_key).await?;
    let fallback_ms = previous
        .as_ref()
        .and_then(|m| m.notice_time_ms)
        .or(info.modified_ms)
        .unwrap_or_else(|| chrono::Utc::now().timestamp_millis());
    let mut convert = settings.convert.clone();
    convert.fallback_ms = fallback_ms;
    convert.detect = detector.map(|d| crate::convert::Detect {
        detector: d.clone(),
        indicators: None,
        source_bucket: previous.as_ref().and_then(|m| m.source_bucket.clone()),
    });
    let copied = reconvert(dest, &info.key, source_key, table, convert).await?;
    let rows = copied.converted.rows;
    // The raw copy is the source now; the bucket it first came from stays on record.
    let source_bucket = previous.as_ref().and_then(|m| m.source_bucket.clone());
    let target = Target {
        dest,
        layout,
        source_key,
        source_bucket: source_bucket.as_deref(),
        previous,
        part_size: settings.part_size,
        notice_time_ms: fallback_ms,
    };
    publish(target, &copied.raw, copied.converted).await?;
    Ok(rows)
}
