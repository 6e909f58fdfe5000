//! Where things go: which table a source object feeds, whether it is skipped,
//! and the deterministic destination keys of its raw copy, Parquet files,
//! quarantine object and manifest. Every output key is a function of the
//! source key (and, for Parquet, the event hour), so a redelivered notice
//! overwrites instead of duplicating.
//!
//! Pure: string functions only.

use chrono::{DateTime, Datelike, Timelike, Utc};

/// The kinds of FDR lookup ("secondary") data under `fdrv2/`.
pub const LOOKUP_KINDS: [&str; 5] = [
    "aidmaster",
    "managedassets",
    "notmanaged",
    "appinfo",
    "userinfo",
];

/// Table for `fdrv2/<kind>` folders we do not know yet: converted losslessly all the same.
pub const OTHER_LOOKUP: &str = "lookup_other";

/// The Parquet table a source object feeds, or why it is skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Table(&'static str),
    Skip(&'static str),
}

/// Routes a source key: `data/...` and Hive-like batch folders go to `events`,
/// `[tenant/]fdrv2/<kind>/...` to the lookup table of that kind, and `_SUCCESS`
/// markers and folder placeholders are skipped.
pub fn route(key: &str, size: Option<u64>) -> Route {
    let last = key.rsplit('/').next().unwrap_or(key);
    if last == "_SUCCESS" {
        return Route::Skip("_SUCCESS marker");
    }
    if last.is_empty() {
        return Route::Skip("folder placeholder");
    }
    if size == Some(0) {
        return Route::Skip("empty object");
    }
    let segments: Vec<&str> = key.split('/').collect();
    if let Some(i) = segments.iter().position(|s| *s == "fdrv2") {
        let kind = segments.get(i + 1).copied().unwrap_or("");
        return Route::Table(
            LOOKUP_KINDS
                .iter()
                .find(|k| **k == kind)
                .copied()
                .unwrap_or(OTHER_LOOKUP),
        );
    }
    Route::Table("events")
}

/// The destination prefixes inside the destination location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub raw: String,
    pub parquet: String,
    pub quarantine: String,
    pub state: String,
}

impl Default for Layout {
    fn default() -> Self {
        Layout {
            raw: "raw".into(),
            parquet: "parquet".into(),
            quarantine: "quarantine".into(),
            state: "state".into(),
        }
    }
}

fn join(a: &str, b: &str) -> String {
    if a.is_empty() {
        b.to_owned()
    } else {
        format!("{a}/{b}")
    }
}

impl Layout {
    /// Applies the destination location's own prefix (`s3://bucket/<prefix>`).
    pub fn under(&self, base: &str) -> Layout {
        Layout {
            raw: join(base, &self.raw),
            parquet: join(base, &self.parquet),
            quarantine: join(base, &self.quarantine),
            state: join(base, &self.state),
        }
    }

    /// `<raw>/<original key>`: the byte-identical copy.
    pub fn raw_key(&self, source_key: &str) -> String {
        join(&self.raw, source_key)
    }

    /// The source key a raw key was copied from (for replay), if it is one.
    pub fn source_key_of_raw<'a>(&self, raw_key: &'a str) -> Option<&'a str> {
        if self.raw.is_empty() {
            return Some(raw_key);
        }
        raw_key.strip_prefix(self.raw.as_str())?.strip_prefix('/')
    }

    /// The folder of one table partition: `<parquet>/<table>/dt=YYYY-MM-DD/hour=HH`.
    pub fn partition(&self, table: &str, hour: Hour) -> String {
        format!(
            "{}/{table}/dt={}/hour={:02}",
            self.parquet,
            hour.date(),
            hour.hour()
        )
    }

    /// One Parquet file of `source_key` in a partition; `seq` > 0 when the
    /// source's rows for that hour span more than one file.
    pub fn parquet_key(&self, table: &str, hour: Hour, source_key: &str, seq: u32) -> String {
        let stem = file_stem(source_key);
        if seq == 0 {
            format!("{}/{stem}.parquet", self.partition(table, hour))
        } else {
            format!("{}/{stem}.{seq}.parquet", self.partition(table, hour))
        }
    }

    /// Lines of `source_key` that could not be converted, as NDJSON records.
    pub fn quarantine_key(&self, source_key: &str) -> String {
        format!("{}.quarantine.ndjson", join(&self.quarantine, source_key))
    }

    /// What the last conversion of `source_key` wrote (to clean up after re-conversions).
    pub fn manifest_key(&self, source_key: &str) -> String {
        format!("{}.json", join(&join(&self.state, "manifests"), source_key))
    }

    /// The record of a notice that keeps failing (on queues without a DLQ).
    pub fn failure_key(&self, message_id: &str) -> String {
        let safe: String = message_id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        format!("{}.json", join(&join(&self.state, "failures"), &safe))
    }
}

/// A file name derived from the whole source key, so distinct sources never
/// collide in one partition: `data/<uuid>/part-00000.gz` → `data_<uuid>_part-00000`.
pub fn file_stem(source_key: &str) -> String {
    let trimmed = source_key
        .strip_suffix(".gz")
        .or_else(|| source_key.strip_suffix(".gzip"))
        .unwrap_or(source_key);
    let s: String = trimmed
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '=') {
                c
            } else {
                '_'
            }
        })
        .collect();
    // Athena skips files whose names start with '_' or '.'.
    match s.chars().next() {
        Some('_') | Some('.') | None => format!("f{s}"),
        _ => s,
    }
}

/// One UTC hour: the partition unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hour(i64);

impl Hour {
    pub fn from_ms(ms: i64) -> Hour {
        Hour(ms.div_euclid(3_600_000))
    }

    pub fn start_ms(self) -> i64 {
        self.0 * 3_600_000
    }

    fn time(self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.start_ms()).unwrap_or_default()
    }

    pub fn date(self) -> String {
        let t = self.time();
        format!("{:04}-{:02}-{:02}", t.year(), t.month(), t.day())
    }

    pub fn hour(self) -> u32 {
        self.time().hour()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(
            route("data/abc/part-00000.gz", Some(10)),
            Route::Table("events")
        );
        assert_eq!(
            route("tenant1/data/abc/part-00000.gz", None),
            Route::Table("events")
        );
        assert_eq!(
            route(
                "batch=abc/year=2026/month=03/day=14/platform=Win/part-00000.c000.txt.gz",
                None
            ),
            Route::Table("events")
        );
        assert_eq!(
            route("fdrv2/aidmaster/abc/part-00000.gz", None),
            Route::Table("aidmaster")
        );
        assert_eq!(
            route("t/fdrv2/userinfo/abc/part-00000.gz", None),
            Route::Table("userinfo")
        );
        assert_eq!(
            route("fdrv2/brandnew/abc/part-00000.gz", None),
            Route::Table(OTHER_LOOKUP)
        );
        assert!(matches!(
            route("data/abc/_SUCCESS", Some(0)),
            Route::Skip(_)
        ));
        assert!(matches!(route("data/abc/", None), Route::Skip(_)));
        assert!(matches!(
            route("data/abc/part-1.gz", Some(0)),
            Route::Skip(_)
        ));
    }

    #[test]
    fn keys_are_deterministic_and_partitioned() {
        let l = Layout::default().under("falconry");
        let h = Hour::from_ms(1_773_480_000_000); // 2026-03-14T09:20:00Z
        assert_eq!(
            l.raw_key("data/u/part-00000.gz"),
            "falconry/raw/data/u/part-00000.gz"
        );
        assert_eq!(
            l.source_key_of_raw("falconry/raw/data/u/part-00000.gz"),
            Some("data/u/part-00000.gz")
        );
        assert_eq!(
            l.parquet_key("events", h, "data/u/part-00000.gz", 0),
            "falconry/parquet/events/dt=2026-03-14/hour=09/data_u_part-00000.parquet"
        );
        assert_eq!(
            l.parquet_key("events", h, "data/u/part-00000.gz", 2),
            "falconry/parquet/events/dt=2026-03-14/hour=09/data_u_part-00000.2.parquet"
        );
        assert_eq!(
            l.quarantine_key("data/u/p.gz"),
            "falconry/quarantine/data/u/p.gz.quarantine.ndjson"
        );
        assert_eq!(
            l.manifest_key("data/u/p.gz"),
            "falconry/state/manifests/data/u/p.gz.json"
        );
        assert_eq!(l.failure_key("a/b:c"), "falconry/state/failures/a_b_c.json");
        assert_eq!(file_stem("_x/y.gz"), "f_x_y");
        assert_eq!(Hour::from_ms(-1).date(), "1969-12-31");
    }
}
