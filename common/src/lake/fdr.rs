//! The FDR side of the lake, as the forwarder writes it and the enricher's
//! history reads it: `<raw>/<source key>` (byte-identical copies),
//! `<parquet>/<table>/dt=YYYY-MM-DD/hour=HH/<stem>.parquet` (Hive-style
//! partitions Athena projects), `<quarantine>/<source key>.quarantine.ndjson.gz`,
//! and `<state>/manifests/…`, `<state>/failures/…`; the table names and the
//! columns other daemons read by name.

use crate::store::join;
use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};

/// The kinds of FDR lookup ("secondary") data under `fdrv2/`, each its own table.
pub const LOOKUP_KINDS: [&str; 5] = [
    "aidmaster",
    "managedassets",
    "notmanaged",
    "appinfo",
    "userinfo",
];

/// Table for `fdrv2/<kind>` folders we do not know yet: converted losslessly all the same.
pub const OTHER_LOOKUP: &str = "lookup_other";

/// The Parquet tables other daemons read by name.
pub mod table {
    /// Sensor events (`data/…`).
    pub const EVENTS: &str = "events";
    /// Host details (`fdrv2/aidmaster/…`).
    pub const AIDMASTER: &str = "aidmaster";
    /// User details (`fdrv2/userinfo/…`).
    pub const USERINFO: &str = "userinfo";
}

/// Columns other daemons read by name (the schema in `forwarder/src/schema/`
/// defines them all; a test there checks these exist).
pub mod column {
    pub const TIMESTAMP: &str = "timestamp";
    pub const EVENT_SIMPLENAME: &str = "event_simplename";
    pub const AID: &str = "aid";
    pub const TIME: &str = "time";
    pub const IMAGE_FILE_NAME: &str = "image_file_name";
    pub const COMMAND_LINE: &str = "command_line";
    pub const DOMAIN_NAME: &str = "domain_name";
    pub const REMOTE_ADDRESS_IP4: &str = "remote_address_ip4";
    pub const REMOTE_ADDRESS_IP6: &str = "remote_address_ip6";
    pub const REMOTE_PORT: &str = "remote_port";
    pub const USER_NAME: &str = "user_name";
    pub const USER_SID_READABLE: &str = "user_sid_readable";

    /// The `events` columns the enricher's history summary reads.
    pub const HISTORY_EVENTS: [&str; 9] = [
        TIMESTAMP,
        EVENT_SIMPLENAME,
        AID,
        IMAGE_FILE_NAME,
        COMMAND_LINE,
        DOMAIN_NAME,
        REMOTE_ADDRESS_IP4,
        REMOTE_ADDRESS_IP6,
        REMOTE_PORT,
    ];
}

/// The destination prefixes inside the destination location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub raw: String,
    pub parquet: String,
    pub quarantine: String,
    pub state: String,
    /// What the organisation's rules found (see [`super::findings`]).
    pub findings: String,
}

impl Default for Layout {
    fn default() -> Self {
        Layout {
            raw: "raw".into(),
            parquet: "parquet".into(),
            quarantine: "quarantine".into(),
            state: "state".into(),
            findings: "findings".into(),
        }
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
            findings: join(base, &self.findings),
        }
    }

    /// `<raw>/<original key>`: the byte-identical copy.
    pub fn raw_key(&self, source_key: &str) -> String {
        join(&self.raw, source_key)
    }

    /// The listing prefix of the raw copies whose source keys start with `source_prefix`.
    pub fn raw_listing(&self, source_prefix: &str) -> String {
        let p = source_prefix.trim_start_matches('/');
        if self.raw.is_empty() {
            p.to_owned()
        } else {
            format!("{}/{p}", self.raw)
        }
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
            "{}/dt={}/hour={:02}",
            join(&self.parquet, table),
            hour.date(),
            hour.hour()
        )
    }

    /// The listing prefix of one hour partition (with its trailing `/`).
    pub fn hour_prefix(&self, table: &str, hour: Hour) -> String {
        format!("{}/", self.partition(table, hour))
    }

    /// The listing prefix of one day of a table: `<parquet>/<table>/dt=YYYY-MM-DD/`.
    pub fn day_prefix(&self, table: &str, day: NaiveDate) -> String {
        format!(
            "{}/dt={}/",
            join(&self.parquet, table),
            day.format("%Y-%m-%d")
        )
    }

    /// One Parquet file of `source_key` in a partition; `seq` > 0 when the
    /// source's rows for that hour span more than one file (`<stem>(<seq>)`:
    /// parentheses never occur in a stem, so no two files share a name).
    pub fn parquet_key(&self, table: &str, hour: Hour, source_key: &str, seq: u32) -> String {
        let stem = file_stem(source_key);
        if seq == 0 {
            format!("{}/{stem}.parquet", self.partition(table, hour))
        } else {
            format!("{}/{stem}({seq}).parquet", self.partition(table, hour))
        }
    }

    /// Lines of `source_key` that could not be converted, as NDJSON records.
    pub fn quarantine_key(&self, source_key: &str) -> String {
        format!(
            "{}.quarantine.ndjson.gz",
            join(&self.quarantine, source_key)
        )
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

/// A file name derived from the whole source key, injectively (two source
/// keys never share a name, so one source can never overwrite another's
/// rows) and still readable: `data/<uuid>/part-00000.gz` →
/// `data_<uuid>_part-00000.gz`. Letters, digits, `-`, `.` and `=` stay; `/`
/// becomes `_`; every other byte (`_` itself included) becomes `!XX` (its hex),
/// as does a leading `.` or `/` (Athena skips files whose names start with `.`
/// or `_`). Only characters S3 calls safe are produced.
pub fn file_stem(source_key: &str) -> String {
    if source_key.is_empty() {
        // `!` is otherwise always followed by two hex digits.
        return "!".to_owned();
    }
    let mut out = String::with_capacity(source_key.len() + 8);
    for (i, b) in source_key.bytes().enumerate() {
        match b {
            b'.' | b'/' if i == 0 => escape(&mut out, b),
            b'/' => out.push('_'),
            b if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'=') => {
                out.push(char::from(b));
            }
            b => escape(&mut out, b),
        }
    }
    out
}

fn escape(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('!');
    out.push(char::from(HEX[usize::from(b >> 4)]));
    out.push(char::from(HEX[usize::from(b & 0xF)]));
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

    /// `YYYY-MM-DD`, the `dt=` partition.
    pub fn date(self) -> String {
        let t = self.time();
        format!("{:04}-{:02}-{:02}", t.year(), t.month(), t.day())
    }

    /// 0-23, the `hour=` partition.
    pub fn hour(self) -> u32 {
        self.time().hour()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_deterministic_and_partitioned() {
        let l = Layout::default().under("falconry");
        let h = Hour::from_ms(1_773_480_000_000); // 2026-03-14T09:20:00Z
        assert_eq!(
            l.raw_key("data/u/part-00000.gz"),
            "falconry/raw/data/u/part-00000.gz"
        );
        assert_eq!(l.raw_listing(""), "falconry/raw/");
        assert_eq!(l.raw_listing("/fdrv2/"), "falconry/raw/fdrv2/");
        assert_eq!(
            l.source_key_of_raw("falconry/raw/data/u/part-00000.gz"),
            Some("data/u/part-00000.gz")
        );
        assert_eq!(
            l.parquet_key("events", h, "data/u/part-00000.gz", 0),
            "falconry/parquet/events/dt=2026-03-14/hour=09/data_u_part-00000.gz.parquet"
        );
        assert_eq!(
            l.parquet_key("events", h, "data/u/part-00000.gz", 2),
            "falconry/parquet/events/dt=2026-03-14/hour=09/data_u_part-00000.gz(2).parquet"
        );
        assert_eq!(
            l.hour_prefix(table::EVENTS, h),
            "falconry/parquet/events/dt=2026-03-14/hour=09/"
        );
        assert_eq!(
            l.day_prefix(
                table::AIDMASTER,
                NaiveDate::from_ymd_opt(2026, 3, 14).unwrap()
            ),
            "falconry/parquet/aidmaster/dt=2026-03-14/"
        );
        assert_eq!(
            l.quarantine_key("data/u/p.gz"),
            "falconry/quarantine/data/u/p.gz.quarantine.ndjson.gz"
        );
        assert_eq!(
            l.manifest_key("data/u/p.gz"),
            "falconry/state/manifests/data/u/p.gz.json"
        );
        assert_eq!(l.failure_key("a/b:c"), "falconry/state/failures/a_b_c.json");
        assert_eq!(file_stem("_x/y.gz"), "!5Fx_y.gz");
        assert_eq!(Hour::from_ms(-1).date(), "1969-12-31");
    }

    /// The inverse of [`file_stem`], for the tests: a stem names one source key.
    fn source_of_stem(stem: &str) -> Option<String> {
        if stem == "!" {
            return Some(String::new());
        }
        let mut bytes = Vec::new();
        let mut it = stem.bytes();
        while let Some(b) = it.next() {
            match b {
                b'_' => bytes.push(b'/'),
                b'!' => {
                    let hex = [it.next()?, it.next()?];
                    bytes.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
                }
                b => bytes.push(b),
            }
        }
        String::from_utf8(bytes).ok()
    }

    /// Keys that used to share a Parquet object (issue #12): now each has its own.
    #[test]
    fn keys_that_once_collided_get_their_own_files() {
        let l = Layout::default();
        let h = Hour::from_ms(0);
        for (a, b) in [
            ("data/a_b/part.gz", "data/a/b_part.gz"),
            ("p.gz", "p.gzip"),
            ("p.gz", "p"),
            ("data/x y/p.gz", "data/x_y/p.gz"),
            ("data/é/p.gz", "data/__/p.gz"),
            (".x", "fx"),
            ("x.1", "x"),
        ] {
            assert_ne!(file_stem(a), file_stem(b), "{a} / {b}");
            for (sa, sb) in [(0, 0), (0, 1), (1, 0), (1, 2)] {
                assert_ne!(
                    l.parquet_key("events", h, a, sa),
                    l.parquet_key("events", h, b, sb),
                    "{a}#{sa} / {b}#{sb}"
                );
            }
        }
        assert!(!file_stem(".hidden").starts_with(['.', '_']));
        assert!(!file_stem("/abs").starts_with(['.', '_']));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// Injective: the stem gives its source key back, whatever the key.
        #[test]
        fn stems_name_exactly_one_source(key in "\\PC{0,40}") {
            let stem = file_stem(&key);
            proptest::prop_assert_eq!(source_of_stem(&stem), Some(key));
            proptest::prop_assert!(stem.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.=_!".contains(&b)));
        }
    }
}
