//! The configuration of the history provider (`[enricher.context.history]`
//! and its `athena` table), with defaults and validation that collects every
//! problem at once before any network call.
//!
//! Pure: no I/O, no clients built here (that is `build` in `history.rs`).

use super::sql;
use falconry_common::Location;
use serde::Deserialize;
use std::time::Duration;

/// Where the history comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HistoryBackend {
    /// No history section ("not available: off").
    #[default]
    Off,
    /// The lake's Parquet files, read directly.
    Parquet,
    /// Amazon Athena over the lake's tables.
    Athena,
}

/// `[enricher.context.history]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HistoryConfig {
    /// `off`, `parquet` (read the lake's files; the embedded default and small
    /// deployments) or `athena`. Default `off`.
    pub backend: HistoryBackend,
    /// The forwarder's destination (its `dest`): `s3://bucket[/prefix]` or
    /// `file://root`. Required with `parquet`.
    pub lake: Option<String>,
    /// Key prefix of the Parquet tables under `lake` (the forwarder's
    /// `parquet_prefix`). Default `parquet`.
    pub parquet_prefix: String,
    /// Time on each side of the detection, 1m to 24h. Default `30m`.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// Lines per list (process images, command lines, domains, connections), 1-100. Default 10.
    pub top: usize,
    /// `parquet`: files read per alert and table at most. Default 48.
    pub max_files: usize,
    /// `parquet`: bytes read per alert and table at most (files are read
    /// whole). Default 268435456 (256 MiB).
    pub max_bytes: u64,
    /// Days before the window's end searched for the host's `aidmaster` and
    /// the user's `userinfo` rows (lookup data is delivered about daily). Default 7.
    pub lookup_days: u32,
    /// `[enricher.context.history.athena]`, used with `athena`.
    pub athena: AthenaConfig,
}

/// `[enricher.context.history.athena]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AthenaConfig {
    /// Workgroup the queries run in. Default `primary`.
    pub workgroup: String,
    /// Database of the lake's tables (`deploy/athena/tables.sql`). Default `falconry`.
    pub database: String,
    /// `s3://bucket/prefix/` for query results. Default: the workgroup's.
    pub output_location: Option<String>,
    /// A query that has scanned more than this many bytes is stopped. Required
    /// unless the workgroup has a per-query bytes-scanned cutoff (checked at
    /// start-up). Default: none.
    pub max_bytes_scanned: Option<u64>,
    /// First wait between status polls; it grows ×1.5 up to 8 times this. Default `500ms`.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// A query still running after this is stopped (StopQueryExecution); keep
    /// it below the context deadline. Default `20s`.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig {
            backend: HistoryBackend::Off,
            lake: None,
            parquet_prefix: "parquet".into(),
            window: Duration::from_secs(30 * 60),
            top: 10,
            max_files: 48,
            max_bytes: 256 * 1024 * 1024,
            lookup_days: 7,
            athena: AthenaConfig::default(),
        }
    }
}

impl Default for AthenaConfig {
    fn default() -> Self {
        AthenaConfig {
            workgroup: "primary".into(),
            database: "falconry".into(),
            output_location: None,
            max_bytes_scanned: None,
            poll_interval: Duration::from_millis(500),
            timeout: Duration::from_secs(20),
        }
    }
}

impl HistoryConfig {
    /// Every problem at once, before any network call.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut errors = Vec::new();
        let mut check = |ok: bool, msg: &str| {
            if !ok {
                errors.push(format!("history.{msg}"));
            }
        };
        check(
            (Duration::from_secs(60)..=Duration::from_secs(86_400)).contains(&self.window),
            "window must be between 1m and 24h",
        );
        check((1..=100).contains(&self.top), "top must be 1 to 100");
        check(self.lookup_days <= 366, "lookup_days must be at most 366");
        match self.backend {
            HistoryBackend::Off => {}
            HistoryBackend::Parquet => {
                check(self.max_files > 0, "max_files must be at least 1");
                check(self.max_bytes > 0, "max_bytes must be at least 1");
                check(
                    !self.parquet_prefix.is_empty() && !self.parquet_prefix.contains(".."),
                    "parquet_prefix must be a plain key prefix",
                );
                match &self.lake {
                    None => check(false, "lake is required with backend = \"parquet\""),
                    Some(l) => {
                        if let Err(e) = Location::parse(l) {
                            check(false, &format!("lake: {e}"));
                        }
                    }
                }
            }
            HistoryBackend::Athena => {
                let a = &self.athena;
                check(
                    sql::valid_database(&a.database),
                    "athena.database must match [a-z0-9_]+",
                );
                check(
                    !a.workgroup.is_empty()
                        && a.workgroup.len() <= 128
                        && a.workgroup
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)),
                    "athena.workgroup must be 1-128 of [A-Za-z0-9._-]",
                );
                check(
                    a.output_location
                        .as_deref()
                        .is_none_or(|o| o.starts_with("s3://")),
                    "athena.output_location must be an s3:// URL",
                );
                check(
                    a.max_bytes_scanned != Some(0),
                    "athena.max_bytes_scanned must be above 0",
                );
                check(
                    a.poll_interval >= Duration::from_millis(10)
                        && a.poll_interval <= Duration::from_secs(60),
                    "athena.poll_interval must be between 10ms and 60s",
                );
                check(!a.timeout.is_zero(), "athena.timeout must be above 0");
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}
