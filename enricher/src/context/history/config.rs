//! The configuration of the history provider (`[enricher.context.history]`
//! and its `athena` table), with defaults and validation that collects every
//! problem at once before any network call.
//!
//! Pure: no I/O, no clients built here (that is `build` in `history.rs`).

use falconry_common::Location;
use falconry_common::athena::AthenaConfig;
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
                for p in self.athena.problems("athena") {
                    check(false, &p);
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}
