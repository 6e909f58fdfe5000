//! Making one file's conversion durable in the destination: its Parquet part
//! files, its quarantine object, and its manifest. The manifest lists what the
//! last conversion of a source wrote, so a re-conversion (redelivery, replay
//! with a newer schema) removes outputs it no longer produces and a source's
//! rows never exist twice. Order: new outputs, then stale ones deleted, then
//! the new manifest; a crash anywhere repeats safely.

use crate::convert::Converted;
use crate::error::FileError;
use crate::layout::Layout;
use crate::schema::SCHEMA_VERSION;
use bytes::Bytes;
use falconry_common::Store;
use falconry_common::store::Written;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    pub source_key: String,
    pub raw_key: String,
    pub raw_size: u64,
    pub raw_md5: String,
    pub table: String,
    pub schema_version: u32,
    pub lines: u64,
    pub rows: u64,
    pub parquet: Vec<PartEntry>,
    pub quarantine: Option<PartEntry>,
    /// The notice's time (epoch ms): the partition of rows without a time of
    /// their own, kept so a replay partitions them the same way.
    #[serde(default)]
    pub notice_time_ms: Option<i64>,
    /// The bucket the source was read from. Every output key derives from
    /// the source key alone, so the same key in another bucket would land on
    /// these outputs: that is refused (see [`check_owner`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_bucket: Option<String>,
    /// What the rules found in this file (findings written), if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub findings: Option<PartEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PartEntry {
    pub key: String,
    /// Rows (Parquet) or lines (quarantine).
    pub rows: u64,
    pub size: u64,
}

impl Manifest {
    fn keys(&self) -> impl Iterator<Item = &str> {
        self.parquet
            .iter()
            .chain(self.quarantine.iter())
            .chain(self.findings.iter())
            .map(|p| p.key.as_str())
    }
}

/// The manifest of the last conversion of `source_key`, if any (an unreadable one counts as none).
pub async fn previous_manifest(
    dest: &Store,
    layout: &Layout,
    source_key: &str,
) -> Result<Option<Manifest>, FileError> {
    let manifest_key = layout.manifest_key(source_key);
    match dest.get_bytes(&manifest_key).await {
        Ok(bytes) => match serde_json::from_slice::<Manifest>(&bytes) {
            Ok(m) => Ok(Some(m)),
            Err(e) => {
                tracing::warn!(key = %manifest_key, error = %e, "unreadable manifest ignored");
                Ok(None)
            }
        },
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(FileError::Dest(e)),
    }
}

/// Refuses to write the outputs of `source_key` read from `bucket` when the
/// last conversion of that key came from another bucket: its raw copy,
/// Parquet and quarantine would be overwritten by a different object's.
pub fn check_owner(
    previous: Option<&Manifest>,
    source_key: &str,
    bucket: Option<&str>,
) -> Result<(), FileError> {
    match (previous.and_then(|m| m.source_bucket.as_deref()), bucket) {
        (Some(owner), Some(b)) if owner != b => Err(FileError::Conflict {
            key: source_key.to_owned(),
            owner: owner.to_owned(),
            bucket: b.to_owned(),
        }),
        _ => Ok(()),
    }
}

/// Where one file's outputs go, and what was there before.
pub struct Target<'a> {
    pub dest: &'a Store,
    pub layout: &'a Layout,
    pub source_key: &'a str,
    /// The bucket the source was read from (`None` for a local source).
    pub source_bucket: Option<&'a str>,
    /// The manifest of the last conversion of this key.
    pub previous: Option<Manifest>,
    pub part_size: usize,
    pub notice_time_ms: i64,
}

pub async fn publish(
    target: Target<'_>,
    raw: &Written,
    converted: Converted,
) -> Result<Manifest, FileError> {
    let Target {
        dest,
        layout,
        source_key,
        source_bucket,
        previous,
        part_size,
        notice_time_ms,
    } = target;
    let manifest_key = layout.manifest_key(source_key);
    let mut parquet = Vec::with_capacity(converted.parts.len());
    for part in &converted.parts {
        let key = layout.parquet_key(converted.table, part.hour, source_key, part.seq);
        let w = dest
            .put_file(&key, part.file.path(), part_size)
            .await
            .map_err(FileError::Dest)?;
        parquet.push(PartEntry {
            key,
            rows: part.rows,
            size: w.size,
        });
    }
    let quarantine = match &converted.quarantine {
        Some(q) => {
            let key = layout.quarantine_key(source_key);
            let w = dest
                .put_file(&key, q.file.path(), part_size)
                .await
                .map_err(FileError::Dest)?;
            Some(PartEntry {
                key,
                rows: q.lines,
                size: w.size,
            })
        }
        None => None,
    };
    // Findings are written before the notice can be deleted, under a key
    // derived from the source key and the notice's day: a redelivery
    // overwrites them.
    let findings = match &converted.findings {
        Some(f) => {
            let day = crate::layout::Hour::from_ms(notice_time_ms).date();
            let key = layout.findings_key(source_key, &day);
            let w = dest
                .put_file(&key, f.file.path(), part_size)
                .await
                .map_err(FileError::Dest)?;
            Some(PartEntry {
                key,
                rows: f.written,
                size: w.size,
            })
        }
        // No rules ran this time: the findings of the last conversion stand
        // (a replay or a forwarder without `[detect]` must not erase them).
        None if !converted.detected => previous.as_ref().and_then(|p| p.findings.clone()),
        None => None,
    };
    let manifest = Manifest {
        source_key: source_key.to_owned(),
        raw_key: raw.key.clone(),
        raw_size: raw.size,
        raw_md5: raw.md5_hex(),
        table: converted.table.to_owned(),
        schema_version: SCHEMA_VERSION,
        lines: converted.lines,
        rows: converted.rows,
        parquet,
        quarantine,
        notice_time_ms: Some(notice_time_ms),
        source_bucket: source_bucket.map(str::to_owned),
        findings,
    };
    if let Some(prev) = previous {
        let current: std::collections::HashSet<&str> = manifest.keys().collect();
        for stale in prev.keys().filter(|k| !current.contains(k)) {
            dest.delete(stale).await.map_err(FileError::Dest)?;
            tracing::info!(
                key = stale,
                "removed output the re-conversion no longer produces"
            );
        }
    }
    let body = serde_json::to_vec_pretty(&manifest).map_err(|e| FileError::Internal {
        key: source_key.to_owned(),
        message: format!("manifest: {e}"),
    })?;
    dest.put_bytes(&manifest_key, Bytes::from(body))
        .await
        .map_err(FileError::Dest)?;
    Ok(manifest)
}
