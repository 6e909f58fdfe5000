//! The Parquet back end: the forwarder's lake read directly through a
//! [`Store`] (S3 or a local directory). Only the partitions the window
//! covers are listed (`<parquet>/events/dt=YYYY-MM-DD/hour=HH/`; for the
//! lookup tables the days from the window's end back `lookup_days`, newest
//! first), each file is fetched whole and decoded off the async runtime
//! (`decode.rs`), and every alert is bounded: at most `max_files` files and
//! `max_bytes` bytes per table. Past a bound the counts say they are partial.
//!
//! This file must not decode Parquet itself, nor decide what is shown.

use super::HistoryError;
use super::decode::{self, Groups, Want};
use super::summary::{HOST_FIELDS, Provenance, Record, Tally, USER_FIELDS, Window};
use chrono::{DateTime, Days};
use falconry_common::lake::fdr::table;
use falconry_common::lake::{Hour, Layout};
use falconry_common::{ObjectInfo, Store};
use serde_json::json;

/// Caps and place of one lake.
#[derive(Debug, Clone)]
pub struct LakeScan {
    pub store: Store,
    /// The lake's layout (its `parquet` prefix: where the table folders are).
    pub lake: Layout,
    pub max_files: usize,
    pub max_bytes: u64,
    pub lookup_days: u32,
}

/// What one table scan read.
#[derive(Debug, Clone, Default)]
pub struct Scanned {
    pub files: u64,
    pub bytes: u64,
    pub groups: Groups,
    /// Why the scan stopped early, if it did.
    pub partial: Option<String>,
}

impl Scanned {
    /// The note and data of the events scan.
    pub fn provenance(&self) -> Provenance {
        Provenance {
            line: format!(
                "Parquet: {} file(s), {} of {} row group(s) read, {} bytes",
                self.files, self.groups.read, self.groups.total, self.bytes
            ),
            partial: self.partial.clone(),
            data: json!({
                "backend": "parquet",
                "files": self.files,
                "bytes": self.bytes,
                "row_groups_total": self.groups.total,
                "row_groups_read": self.groups.read,
            }),
        }
    }

    /// Whether `object` may still be read; notes why not otherwise.
    fn admit(&mut self, object: &ObjectInfo, max_files: usize, max_bytes: u64) -> bool {
        if self.files >= max_files as u64 {
            self.partial = Some(format!("stopped at max_files ({max_files})"));
            return false;
        }
        if self.bytes.saturating_add(object.size) > max_bytes {
            self.partial = Some(format!(
                "stopped at max_bytes ({max_bytes}) before {}",
                object.key
            ));
            return false;
        }
        true
    }
}

/// `dt=YYYY-MM-DD` of an instant.
fn day_of(ms: i64) -> Option<chrono::NaiveDate> {
    DateTime::from_timestamp_millis(ms).map(|t| t.date_naive())
}

impl LakeScan {
    /// The listing prefix of one hour of `table`, in the lake's layout.
    fn hour_prefix(&self, table: &str, hour_start_ms: i64) -> Option<String> {
        DateTime::from_timestamp_millis(hour_start_ms)?;
        Some(self.lake.hour_prefix(table, Hour::from_ms(hour_start_ms)))
    }

    async fn parquet_files(&self, prefix: &str) -> Result<Vec<ObjectInfo>, HistoryError> {
        let mut files: Vec<ObjectInfo> = self
            .store
            .list(prefix)
            .await?
            .into_iter()
            .filter(|o| o.key.ends_with(".parquet"))
            .collect();
        files.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(files)
    }

    /// Counts the events of `aid` in `window`: the hour partitions the
    /// window touches, oldest first.
    pub async fn events(
        &self,
        aid: &str,
        window: Window,
    ) -> Result<(Tally, Scanned), HistoryError> {
        let mut tally = Tally::default();
        let mut scanned = Scanned::default();
        let first_hour = window.from_ms.div_euclid(3_600_000);
        let last_hour = window.to_ms.div_euclid(3_600_000);
        'hours: for hour in first_hour..=last_hour {
            let Some(prefix) = self.hour_prefix(table::EVENTS, hour * 3_600_000) else {
                continue;
            };
            for object in self.parquet_files(&prefix).await? {
                if !scanned.admit(&object, self.max_files, self.max_bytes) {
                    break 'hours;
                }
                let bytes = self.store.get_bytes(&object.key).await?;
                scanned.files += 1;
                scanned.bytes += bytes.len() as u64;
                let owned = aid.to_owned();
                let (part, groups) =
                    blocking(&object.key, move || decode::events(bytes, &owned, window)).await?;
                scanned.groups.add(groups);
                tally.merge(part);
            }
        }
        if tally.dropped > 0 && scanned.partial.is_none() {
            scanned.partial = Some(format!(
                "{} distinct values over the counters' limit",
                tally.dropped
            ));
        }
        Ok((tally, scanned))
    }

    /// The host's newest `aidmaster` row.
    pub async fn host(
        &self,
        aid: &str,
        window: Window,
    ) -> Result<(Option<Record>, Scanned), HistoryError> {
        let want = Want::Host {
            aid: aid.to_owned(),
        };
        self.latest(
            table::AIDMASTER,
            want,
            HOST_FIELDS.map(|f| f.0).to_vec(),
            window,
        )
        .await
    }

    /// The account's newest `userinfo` row.
    pub async fn user(
        &self,
        name: Option<String>,
        sid: Option<String>,
        window: Window,
    ) -> Result<(Option<Record>, Scanned), HistoryError> {
        if name.is_none() && sid.is_none() {
            return Ok((None, Scanned::default()));
        }
        let want = Want::User { name, sid };
        self.latest(
            table::USERINFO,
            want,
            USER_FIELDS.map(|f| f.0).to_vec(),
            window,
        )
        .await
    }

    /// The newest matching row of a lookup table: partitions newest first,
    /// stopping at the first hour partition that has one.
    async fn latest(
        &self,
        table: &'static str,
        want: Want,
        fields: Vec<&'static str>,
        window: Window,
    ) -> Result<(Option<Record>, Scanned), HistoryError> {
        let mut scanned = Scanned::default();
        let Some(last_day) = day_of(window.to_ms) else {
            return Ok((None, scanned));
        };
        for back in 0..=u64::from(self.lookup_days) {
            let Some(day) = last_day.checked_sub_days(Days::new(back)) else {
                break;
            };
            let mut files = self
                .parquet_files(&self.lake.day_prefix(table, day))
                .await?;
            files.reverse();
            // Files of one hour partition form one snapshot: read all of them.
            let mut best: Option<(i64, Record)> = None;
            let mut hour_of_best: Option<String> = None;
            for object in files {
                let hour = object.key.rsplit_once('/').map(|(h, _)| h.to_owned());
                if best.is_some() && hour != hour_of_best {
                    break;
                }
                if !scanned.admit(&object, self.max_files, self.max_bytes) {
                    return Ok((best.map(|b| b.1), scanned));
                }
                let bytes = self.store.get_bytes(&object.key).await?;
                scanned.files += 1;
                scanned.bytes += bytes.len() as u64;
                let (w, f) = (want.clone(), fields.clone());
                let (found, groups) =
                    blocking(&object.key, move || decode::latest(bytes, &w, &f)).await?;
                scanned.groups.add(groups);
                if let Some((t, record)) = found
                    && best.as_ref().is_none_or(|(b, _)| t > *b)
                {
                    best = Some((t, record));
                    hour_of_best = hour;
                }
            }
            if let Some((_, record)) = best {
                return Ok((Some(record), scanned));
            }
        }
        Ok((None, scanned))
    }
}

/// Runs a decoding step on the blocking pool.
async fn blocking<T: Send + 'static>(
    key: &str,
    f: impl FnOnce() -> Result<T, decode::DecodeError> + Send + 'static,
) -> Result<T, HistoryError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(source)) => Err(HistoryError::Decode {
            key: key.to_owned(),
            source,
        }),
        Err(e) => Err(HistoryError::Task {
            key: key.to_owned(),
            message: e.to_string(),
        }),
    }
}
