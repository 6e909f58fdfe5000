//! The Athena (Trino SQL) pieces the enricher's queries are built from: the
//! issue's ready-to-run host query (`render/athena.rs`) and the history
//! provider's queries (`context/history/sql.rs`) use these and nothing else to
//! put a value into SQL.
//!
//! The safety contract: a value reaches SQL only as a validated agent id (32
//! hex digits), a database name matching `[a-z0-9_]+`, a date or hour computed
//! from the clock, a number, or a single-quoted literal with its quotes
//! doubled, made of text that [`safe_text`] accepted (no control or invisible
//! characters). Pure: strings only.

use crate::text::is_hidden;
use chrono::{DateTime, NaiveDate, Timelike, Utc};

/// A database name safe as a bare identifier.
pub use falconry_common::athena::valid_database;

/// A Falcon agent id: 32 hex digits, lower-cased (the alert model's check).
pub use crate::alert::agent_id as valid_aid;

/// Text usable inside a string literal: trimmed, not blank, at most
/// `max_chars` characters, no control or invisible characters.
pub fn safe_text(s: &str, max_chars: usize) -> Option<&str> {
    let s = s.trim();
    let ok = !s.is_empty() && s.chars().count() <= max_chars && !s.chars().any(is_hidden);
    ok.then_some(s)
}

/// A single-quoted SQL string literal: quotes doubled, nothing else special
/// in Trino. Callers pass only text [`safe_text`] or a validator accepted.
pub fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `TIMESTAMP '2026-03-14 09:22:10.000'`; with `trim_millis`, the
/// milliseconds are written only when there are some.
pub fn timestamp(at: DateTime<Utc>, trim_millis: bool) -> String {
    if trim_millis && at.timestamp_subsec_millis() == 0 {
        format!("TIMESTAMP '{}'", at.format("%Y-%m-%d %H:%M:%S"))
    } else {
        format!("TIMESTAMP '{}'", at.format("%Y-%m-%d %H:%M:%S%.3f"))
    }
}

/// `dt BETWEEN '<first>' AND '<last>'` (with `alias.` before `dt` when given).
pub fn day_range(alias: &str, first: NaiveDate, last: NaiveDate) -> String {
    format!(
        "{alias}dt BETWEEN '{}' AND '{}'",
        first.format("%Y-%m-%d"),
        last.format("%Y-%m-%d")
    )
}

/// One day of a window's partitions: the hours it is cut to, when it is the
/// window's first (`from`) or last (`to`) day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayHours {
    pub day: NaiveDate,
    pub from: Option<u32>,
    pub to: Option<u32>,
}

/// The `dt` days from `start` to `end`, oldest first, with the hour bounds on
/// the first and the last day: the lake's partitions a window touches.
pub fn window_days(start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<DayHours> {
    let (first, last) = (start.date_naive(), end.date_naive());
    let mut days = Vec::new();
    let mut day = first;
    while day <= last {
        days.push(DayHours {
            day,
            from: (day == first).then(|| start.hour()),
            to: (day == last).then(|| end.hour()),
        });
        match day.succ_opt() {
            Some(next) => day = next,
            None => break,
        }
    }
    days
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_reach_sql_only_validated_and_quoted() {
        assert!(valid_database("falconry_lake"));
        assert!(!valid_database("falconry; DROP"));
        assert!(!valid_database(""));
        assert_eq!(
            valid_aid(" 67E393BBA98EC2EAF28CC40F087D3DC2 ").as_deref(),
            Some("67e393bba98ec2eaf28cc40f087d3dc2")
        );
        assert_eq!(valid_aid("67e393bb' OR '1'='1"), None);
        assert_eq!(safe_text("  o'brien ", 20), Some("o'brien"));
        assert_eq!(safe_text("a\u{202e}b", 20), None);
        assert_eq!(safe_text("abc", 2), None);
        assert_eq!(literal("o'brien"), "'o''brien'");
    }

    #[test]
    fn windows_cut_into_days_and_hours() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(
            window_days(t("2026-03-14T09:00:00Z"), t("2026-03-14T10:30:00Z")),
            [DayHours {
                day: d("2026-03-14"),
                from: Some(9),
                to: Some(10)
            }]
        );
        let days = window_days(t("2026-03-13T23:00:00Z"), t("2026-03-15T00:10:00Z"));
        assert_eq!(days.len(), 3);
        assert_eq!((days[1].from, days[1].to), (None, None));
        assert_eq!(
            days[2],
            DayHours {
                day: d("2026-03-15"),
                from: None,
                to: Some(0)
            }
        );
        assert_eq!(
            timestamp(t("2026-03-14T09:00:00Z"), true),
            "TIMESTAMP '2026-03-14 09:00:00'"
        );
        assert_eq!(
            timestamp(t("2026-03-14T09:00:00Z"), false),
            "TIMESTAMP '2026-03-14 09:00:00.000'"
        );
    }
}
