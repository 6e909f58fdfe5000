//! The ready-to-run Amazon Athena (Trino SQL) query an issue offers: every
//! event of the alert's host in a window around the detection, oldest first,
//! in the style of `deploy/athena/hunts/07-host-timeline.sql`.
//!
//! Pure string building. Event data reaches the SQL only as a validated aid
//! (32 hex digits) or as a host name inside a single-quoted literal with its
//! quotes doubled, never in a comment or an identifier; the database name is
//! configuration and must match `[a-z0-9_]+`. When neither the aid nor the
//! host name is usable, there is no query rather than a guessed one.

use crate::sql;
use chrono::{DateTime, Days, Utc};
use std::fmt::Write as _;
use std::time::Duration;

/// The window is clamped to this range on each side of the detection.
pub const MIN_WINDOW: Duration = Duration::from_secs(60);
pub const MAX_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// How far back the host lookup in `aidmaster` reaches before the window:
/// a host's inventory row is only written when its sensor reports in.
pub const AIDMASTER_LOOKBACK_DAYS: u64 = 7;

/// Rows the query returns at most.
pub const ROW_LIMIT: u32 = 1000;

/// The query for `aid` (preferred when it is 32 hex digits) or else
/// `hostname`, from `window` before to `window` after `time_ms` (epoch ms,
/// UTC). `None` when the database name is invalid, the time is out of range,
/// or neither host id is usable.
pub fn host_window_query(
    database: &str,
    aid: Option<&str>,
    hostname: Option<&str>,
    time_ms: i64,
    window: Duration,
) -> Option<String> {
    if !sql::valid_database(database) {
        return None;
    }
    let host = match (
        aid.and_then(sql::valid_aid),
        hostname.and_then(|h| sql::safe_text(h, 255)),
    ) {
        (Some(aid), _) => HostFilter::Aid(aid),
        (None, Some(name)) => HostFilter::Name(name.to_owned()),
        (None, None) => return None,
    };
    let at = DateTime::<Utc>::from_timestamp_millis(time_ms)?;
    let window = window.clamp(MIN_WINDOW, MAX_WINDOW);
    let span = chrono::Duration::from_std(window).ok()?;
    let start = at.checked_sub_signed(span)?;
    let end = at.checked_add_signed(span)?;
    let (amount, unit) = interval(window);
    let moment = sql::timestamp(at, true);

    let mut q = String::with_capacity(1024);
    if let HostFilter::Name(name) = &host {
        let from = start
            .date_naive()
            .checked_sub_days(Days::new(AIDMASTER_LOOKBACK_DAYS))?;
        let _ = write!(
            q,
            "WITH host AS (\n  SELECT DISTINCT aid\n  FROM {database}.aidmaster\n  \
             WHERE {days}\n    \
             AND upper(computer_name) = upper({name})\n)\n",
            days = sql::day_range("", from, end.date_naive()),
            name = sql::literal(name),
        );
    }
    q.push_str(
        "SELECT\n  e.\"timestamp\",\n  e.event_simplename,\n  e.image_file_name,\n  \
         e.command_line,\n  e.domain_name,\n  e.target_file_name,\n  e.remote_address_ip4,\n  \
         e.remote_port,\n  e.user_name\n",
    );
    let _ = writeln!(q, "FROM {database}.events AS e");
    let _ = writeln!(q, "WHERE {}", partitions(start, end));
    match &host {
        HostFilter::Aid(aid) => {
            let _ = writeln!(q, "  AND e.aid = '{aid}'");
        }
        HostFilter::Name(_) => q.push_str("  AND e.aid IN (SELECT aid FROM host)\n"),
    }
    let _ = write!(
        q,
        "  AND e.\"timestamp\" BETWEEN {moment} - INTERVAL '{amount}' {unit}\n                        \
         AND {moment} + INTERVAL '{amount}' {unit}\n\
         ORDER BY e.\"timestamp\", e.event_simplename\n\
         LIMIT {ROW_LIMIT}",
    );
    Some(q)
}

enum HostFilter {
    Aid(String),
    Name(String),
}

/// Whole minutes when the window is some, else seconds (rounded up).
fn interval(window: Duration) -> (u64, &'static str) {
    let secs = window.as_secs() + u64::from(window.subsec_nanos() > 0);
    if secs.is_multiple_of(60) {
        (secs / 60, "MINUTE")
    } else {
        (secs, "SECOND")
    }
}

/// The `dt`/`hour` partitions from `start` to `end`: one disjunct per day,
/// with the hour range on the first and last day.
fn partitions(start: DateTime<Utc>, end: DateTime<Utc>) -> String {
    let days = sql::window_days(start, end);
    if let [one] = days.as_slice() {
        return format!(
            "e.dt = '{}' AND {}",
            one.day.format("%Y-%m-%d"),
            hours(one.from, one.to)
        );
    }
    let days: Vec<String> = days
        .iter()
        .map(|d| {
            let hours = hours(d.from, d.to);
            if hours.is_empty() {
                format!("e.dt = '{}'", d.day.format("%Y-%m-%d"))
            } else {
                format!("(e.dt = '{}' AND {hours})", d.day.format("%Y-%m-%d"))
            }
        })
        .collect();
    format!("(\n    {}\n  )", days.join("\n    OR "))
}

fn hours(from: Option<u32>, to: Option<u32>) -> String {
    match (from, to) {
        (Some(a), Some(b)) if a == b => format!("e.hour = '{a:02}'"),
        (Some(a), Some(b)) => format!("e.hour BETWEEN '{a:02}' AND '{b:02}'"),
        (Some(a), None) => format!("e.hour >= '{a:02}'"),
        (None, Some(b)) => format!("e.hour <= '{b:02}'"),
        (None, None) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AID: &str = "0123456789ABCDEF0123456789abcdef";
    /// 2026-03-14 09:50:40 UTC.
    const T: i64 = 1_773_481_840_000;
    const FIVE: Duration = Duration::from_secs(300);

    #[test]
    fn by_aid_within_one_hour() {
        let q = host_window_query("falconry", Some(AID), Some("WKS-1"), T, FIVE);
        let expected = "\
SELECT
  e.\"timestamp\",
  e.event_simplename,
  e.image_file_name,
  e.command_line,
  e.domain_name,
  e.target_file_name,
  e.remote_address_ip4,
  e.remote_port,
  e.user_name
FROM falconry.events AS e
WHERE e.dt = '2026-03-14' AND e.hour = '09'
  AND e.aid = '0123456789abcdef0123456789abcdef'
  AND e.\"timestamp\" BETWEEN TIMESTAMP '2026-03-14 09:50:40' - INTERVAL '5' MINUTE
                        AND TIMESTAMP '2026-03-14 09:50:40' + INTERVAL '5' MINUTE
ORDER BY e.\"timestamp\", e.event_simplename
LIMIT 1000";
        assert_eq!(q.as_deref(), Some(expected));
    }

    #[test]
    fn by_hostname_across_midnight() {
        // 2026-03-14 23:58:00.250 UTC, ten minutes either side.
        let t = 1_773_532_680_250;
        let q = host_window_query(
            "lake_2",
            Some("not-an-aid"),
            Some("WKS'); DROP TABLE x; --"),
            t,
            Duration::from_secs(600),
        )
        .unwrap_or_default();
        assert!(
            q.starts_with(
                "WITH host AS (\n  SELECT DISTINCT aid\n  FROM lake_2.aidmaster\n  \
             WHERE dt BETWEEN '2026-03-07' AND '2026-03-15'\n    \
             AND upper(computer_name) = upper('WKS''); DROP TABLE x; --')\n)\n"
            ),
            "{q}"
        );
        assert!(q.contains(
            "WHERE (\n    (e.dt = '2026-03-14' AND e.hour >= '23')\n    OR (e.dt = '2026-03-15' AND e.hour <= '00')\n  )\n"
        ), "{q}");
        assert!(q.contains("AND e.aid IN (SELECT aid FROM host)"), "{q}");
        assert!(
            q.contains("TIMESTAMP '2026-03-14 23:58:00.250' - INTERVAL '10' MINUTE"),
            "{q}"
        );
    }

    #[test]
    fn a_full_day_window_lists_the_middle_day_whole() {
        let q = host_window_query(
            "falconry",
            Some(AID),
            None,
            T,
            Duration::from_secs(48 * 3600),
        )
        .unwrap_or_default();
        // Clamped to 24 hours: 03-13 09h to 03-15 09h.
        assert!(q.contains("(e.dt = '2026-03-13' AND e.hour >= '09')\n    OR e.dt = '2026-03-14'\n    OR (e.dt = '2026-03-15' AND e.hour <= '09')"), "{q}");
        assert!(q.contains("INTERVAL '1440' MINUTE"), "{q}");
    }

    #[test]
    fn odd_windows_use_seconds() {
        let q = host_window_query(
            "falconry",
            Some(AID),
            None,
            T,
            Duration::from_millis(90_500),
        )
        .unwrap_or_default();
        assert!(q.contains("INTERVAL '91' SECOND"), "{q}");
    }

    #[test]
    fn refuses_what_it_cannot_make_safe() {
        assert_eq!(
            host_window_query("Falconry", Some(AID), None, T, FIVE),
            None
        );
        assert_eq!(
            host_window_query("falconry.x", Some(AID), None, T, FIVE),
            None
        );
        assert_eq!(
            host_window_query("db; drop", Some(AID), None, T, FIVE),
            None
        );
        assert_eq!(host_window_query("", Some(AID), None, T, FIVE), None);
        assert_eq!(host_window_query("falconry", None, None, T, FIVE), None);
        assert_eq!(
            host_window_query("falconry", Some("x'--"), Some("  "), T, FIVE),
            None
        );
        assert_eq!(
            host_window_query("falconry", None, Some("a\nb"), T, FIVE),
            None
        );
        assert_eq!(
            host_window_query("falconry", None, Some("a\u{202E}b"), T, FIVE),
            None
        );
        assert_eq!(
            host_window_query("falconry", Some(AID), None, i64::MAX, FIVE),
            None
        );
    }

    proptest::proptest! {
        #[test]
        fn a_hostname_stays_inside_its_literal(name in "\\PC{1,40}") {
            if let Some(q) = host_window_query("falconry", None, Some(&name), T, FIVE) {
                let line = q.lines().find(|l| l.contains("upper(computer_name)")).unwrap_or_default();
                let literal = line
                    .strip_prefix("    AND upper(computer_name) = upper('")
                    .and_then(|r| r.strip_suffix("')"));
                let literal = literal.unwrap_or_else(|| panic!("literal not closed where expected: {line}"));
                // Inside the literal every quote is doubled: no way out of it.
                proptest::prop_assert_eq!(literal.replace("''", ""), literal.replace('\'', ""));
                proptest::prop_assert_eq!(literal.replace("''", "'"), name.trim());
                let plain = host_window_query("falconry", None, Some("WKS"), T, FIVE).unwrap_or_default();
                proptest::prop_assert_eq!(q.lines().count(), plain.lines().count());
            }
        }
    }
}
