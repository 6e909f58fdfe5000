//! The Athena (Trino SQL) side of the history provider, as pure strings:
//! the window summary query (one scan of the host's partitions, counted by
//! `GROUPING SETS` and cut to the top lines in SQL), the `aidmaster` and
//! `userinfo` lookups, and reading their answers back into the shapes of
//! `summary.rs`.
//!
//! Input reaches the SQL only as a validated aid (32 hex), dates and hours
//! computed from the clock, numbers, or a string literal with its quotes
//! doubled after control and invisible characters were refused; the database
//! name is configuration checked against `[a-z0-9_]+`. No I/O here.

use super::summary::{
    Activity, CONNECT_TYPES, Command, Counted, DNS_TYPE, PROCESS_TYPES, Record, Window,
    sort_counted,
};
use crate::sql;
use chrono::{DateTime, Days, Utc};
use std::fmt::Write as _;

/// Event types shown at most (the rest still count in `events`).
pub const MAX_TYPES: usize = 100;

pub use crate::sql::{literal, valid_aid, valid_database};

/// A Windows SID (`S-1-5-21-...`): `S-`, then digits and dashes.
pub fn valid_sid(sid: &str) -> Option<String> {
    let sid = sid.trim();
    let ok = sid.len() <= 200
        && sid.strip_prefix("S-").is_some_and(|rest| {
            !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit() || b == b'-')
        });
    ok.then(|| sid.to_owned())
}

/// The account name as `userinfo.user_name` holds it: `CORP\jdoe` and
/// `jdoe@corp.example.com` become `jdoe`, lower case. `None` when blank,
/// too long, or holding control or invisible characters.
pub fn bare_user(name: &str) -> Option<String> {
    let name = name.trim();
    let name = name.rsplit_once('\\').map_or(name, |(_, n)| n);
    let name = name.split_once('@').map_or(name, |(n, _)| n).trim();
    sql::safe_text(name, 256).map(str::to_lowercase)
}

fn list(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| literal(s))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `TIMESTAMP '2026-03-14 09:22:10.000'`.
fn timestamp(ms: i64) -> Option<String> {
    DateTime::<Utc>::from_timestamp_millis(ms).map(|t| sql::timestamp(t, false))
}

/// The `dt`/`hour` partitions of the window: one disjunct per day with its
/// hour range (`hour` is a two-digit string, so ranges compare as text).
fn partitions(window: Window) -> Option<String> {
    let start = DateTime::<Utc>::from_timestamp_millis(window.from_ms)?;
    let end = DateTime::<Utc>::from_timestamp_millis(window.to_ms)?;
    let mut days: Vec<String> = sql::window_days(start, end)
        .into_iter()
        .map(|d| {
            let (from, to) = (d.from.unwrap_or(0), d.to.unwrap_or(23));
            let hours = if from == to {
                format!("hour = '{from:02}'")
            } else {
                format!("hour BETWEEN '{from:02}' AND '{to:02}'")
            };
            format!("(dt = '{}' AND {hours})", d.day.format("%Y-%m-%d"))
        })
        .collect();
    Some(if days.len() == 1 {
        days.remove(0)
    } else {
        format!("({})", days.join(" OR "))
    })
}

/// `dt BETWEEN '<window end - days>' AND '<window end>'`.
fn lookup_days(window: Window, days: u32) -> Option<String> {
    let last = DateTime::<Utc>::from_timestamp_millis(window.to_ms)?.date_naive();
    let first = last.checked_sub_days(Days::new(u64::from(days)))?;
    Some(sql::day_range("", first, last))
}

/// The window summary of host `aid` (validated): rows `kind, key, n,
/// processes, first_seen` with kind `total`, `type`, `image`, `command`,
/// `domain` or `remote`.
pub fn activity_query(database: &str, aid: &str, window: Window, top: usize) -> Option<String> {
    let aid = valid_aid(aid)?;
    if !valid_database(database) {
        return None;
    }
    let parts = partitions(window)?;
    let (from, to) = (timestamp(window.from_ms)?, timestamp(window.to_ms)?);
    let process = list(&PROCESS_TYPES);
    let (ip4, ip6) = (literal(CONNECT_TYPES[0]), literal(CONNECT_TYPES[1]));
    let mut q = String::with_capacity(2048);
    let _ = write!(
        q,
        "WITH w AS (
  SELECT
    event_simplename AS event_type,
    event_simplename IN ({process}) AS is_process,
    CASE WHEN event_simplename IN ({process}) THEN image_file_name END AS image,
    CASE WHEN event_simplename IN ({process}) THEN command_line END AS command,
    CASE WHEN event_simplename = {dns} THEN regexp_replace(lower(domain_name), '\\.$', '') END AS domain,
    CASE
      WHEN event_simplename = {ip4} THEN remote_address_ip4 || coalesce(':' || CAST(remote_port AS varchar), '')
      WHEN event_simplename = {ip6} THEN '[' || remote_address_ip6 || ']' || coalesce(':' || CAST(remote_port AS varchar), '')
    END AS remote,
    \"timestamp\" AS ts
  FROM {database}.events
  WHERE {parts}
    AND aid = '{aid}'
    AND \"timestamp\" BETWEEN {from} AND {to}
),
g AS (
  SELECT
    CASE grouping(event_type, image, command, domain, remote)
      WHEN 31 THEN 'total' WHEN 15 THEN 'type' WHEN 23 THEN 'image'
      WHEN 27 THEN 'command' WHEN 29 THEN 'domain' ELSE 'remote'
    END AS kind,
    coalesce(event_type, image, command, domain, remote) AS key,
    count(*) AS n,
    count_if(is_process) AS processes,
    min(ts) AS first_seen
  FROM w
  GROUP BY GROUPING SETS ((), (event_type), (image), (command), (domain), (remote))
),
r AS (
  SELECT kind, key, n, processes, first_seen,
    row_number() OVER (PARTITION BY kind ORDER BY n DESC, key) AS by_count,
    row_number() OVER (PARTITION BY kind ORDER BY first_seen, key) AS by_time
  FROM g
  WHERE kind = 'total' OR key IS NOT NULL
)
SELECT kind, key, n, processes, first_seen
FROM r
WHERE kind = 'total'
   OR (kind = 'type' AND by_count <= {MAX_TYPES})
   OR (kind = 'command' AND by_time <= {top})
   OR (kind IN ('image', 'domain', 'remote') AND by_count <= {top})
ORDER BY kind, by_count",
        dns = literal(DNS_TYPE),
    );
    Some(q)
}

/// The newest `aidmaster` row of host `aid` in the lookup days.
pub fn host_query(
    database: &str,
    aid: &str,
    window: Window,
    days: u32,
    fields: &[&str],
) -> Option<String> {
    let aid = valid_aid(aid)?;
    if !valid_database(database) {
        return None;
    }
    Some(format!(
        "SELECT {}\nFROM {database}.aidmaster\nWHERE {}\n  AND aid = '{aid}'\nORDER BY \"time\" DESC\nLIMIT 1",
        columns(fields),
        lookup_days(window, days)?
    ))
}

/// The newest `userinfo` row of the account (bare name and/or SID, both validated).
pub fn user_query(
    database: &str,
    name: Option<&str>,
    sid: Option<&str>,
    window: Window,
    days: u32,
    fields: &[&str],
) -> Option<String> {
    if !valid_database(database) {
        return None;
    }
    let mut by = Vec::new();
    if let Some(n) = name.and_then(bare_user) {
        by.push(format!("lower(user_name) = {}", literal(&n)));
    }
    if let Some(s) = sid.and_then(valid_sid) {
        by.push(format!("user_sid_readable = {}", literal(&s)));
    }
    if by.is_empty() {
        return None;
    }
    Some(format!(
        "SELECT {}\nFROM {database}.userinfo\nWHERE {}\n  AND ({})\nORDER BY \"time\" DESC\nLIMIT 1",
        columns(fields),
        lookup_days(window, days)?,
        by.join(" OR ")
    ))
}

/// Column names quoted as identifiers (`time` and `user` are keywords).
fn columns(fields: &[&str]) -> String {
    fields
        .iter()
        .map(|f| format!("\"{f}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

pub use falconry_common::athena::Rows;

pub use falconry_common::time::athena_ms;

/// The summary query's answer.
pub fn read_activity(rows: &Rows) -> Result<Activity, String> {
    let col = |name| {
        rows.index(name)
            .ok_or_else(|| format!("no column {name} in the answer"))
    };
    let (kind, key, n, processes, first) = (
        col("kind")?,
        col("key")?,
        col("n")?,
        col("processes")?,
        col("first_seen")?,
    );
    let mut a = Activity::default();
    for row in &rows.rows {
        let cell = |i: usize| row.get(i).and_then(|c| c.as_deref());
        let count = |i| -> Result<u64, String> {
            cell(i)
                .unwrap_or("0")
                .parse()
                .map_err(|_| format!("not a count: {:?}", cell(i)))
        };
        let value = || cell(key).unwrap_or_default().to_owned();
        let counted = || -> Result<Counted, String> {
            Ok(Counted {
                value: value(),
                count: count(n)?,
            })
        };
        match cell(kind) {
            Some("total") => {
                a.events = count(n)?;
                a.processes = count(processes)?;
            }
            Some("type") => a.by_type.push(counted()?),
            Some("image") => a.images.push(counted()?),
            Some("domain") => a.dns.push(counted()?),
            Some("remote") => a.connections.push(counted()?),
            Some("command") => a.commands.push(Command {
                command_line: value(),
                first_ms: cell(first).and_then(athena_ms),
                count: count(n)?,
            }),
            other => return Err(format!("unknown row kind {other:?}")),
        }
    }
    for list in [
        &mut a.by_type,
        &mut a.images,
        &mut a.dns,
        &mut a.connections,
    ] {
        sort_counted(list);
    }
    a.commands
        .sort_by(|x, y| (x.first_ms, &x.command_line).cmp(&(y.first_ms, &y.command_line)));
    Ok(a)
}

/// The first row of a lookup answer as a [`Record`] (times as ISO-8601).
pub fn read_record(rows: &Rows, time_fields: &[&str]) -> Option<Record> {
    let row = rows.rows.first()?;
    let mut r = Record::new();
    for (name, cell) in rows.header.iter().zip(row) {
        if let Some(v) = cell {
            let v = if time_fields.contains(&name.as_str()) {
                athena_ms(v)
                    .map(super::summary::iso)
                    .unwrap_or_else(|| v.clone())
            } else {
                v.clone()
            };
            r.insert(name.clone(), v);
        }
    }
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    const AID: &str = "67E393BBA98EC2EAF28CC40F087D3DC2";

    fn window() -> Window {
        // 2026-03-14 09:52:10 UTC ± 30 min.
        Window::around(1_773_481_930_000, 1_800_000).unwrap()
    }

    #[test]
    fn the_summary_restricts_partitions_host_and_time() {
        let q = activity_query("falconry", AID, window(), 10).unwrap();
        assert!(q.contains("FROM falconry.events\n  WHERE (dt = '2026-03-14' AND hour BETWEEN '09' AND '10')\n    AND aid = '67e393bba98ec2eaf28cc40f087d3dc2'\n    AND \"timestamp\" BETWEEN TIMESTAMP '2026-03-14 09:22:10.000' AND TIMESTAMP '2026-03-14 10:22:10.000'"), "{q}");
        assert!(q.contains("by_count <= 10"), "{q}");
        assert!(
            q.contains(r"regexp_replace(lower(domain_name), '\.$', '')"),
            "{q}"
        );
        assert_eq!(
            activity_query("falconry", "x' OR 1=1 --", window(), 10),
            None
        );
        assert_eq!(activity_query("Falconry", AID, window(), 10), None);
    }

    #[test]
    fn partitions_across_midnight() {
        // 2026-03-14 23:58 ± 10 min.
        let w = Window::around(1_773_532_680_000, 600_000).unwrap();
        assert_eq!(
            partitions(w).unwrap(),
            "((dt = '2026-03-14' AND hour = '23') OR (dt = '2026-03-15' AND hour = '00'))"
        );
        assert_eq!(
            lookup_days(w, 7).unwrap(),
            "dt BETWEEN '2026-03-08' AND '2026-03-15'"
        );
    }

    #[test]
    fn user_names_and_sids() {
        assert_eq!(bare_user("CORP\\T.Ferreira").as_deref(), Some("t.ferreira"));
        assert_eq!(bare_user("jdoe@corp.example.com").as_deref(), Some("jdoe"));
        assert_eq!(bare_user("a\nb"), None);
        assert_eq!(bare_user("  "), None);
        assert_eq!(valid_sid("S-1-5-21-1-2"), Some("S-1-5-21-1-2".into()));
        assert_eq!(valid_sid("S-1' OR '1"), None);
        let q = user_query(
            "falconry",
            Some("O'Brien"),
            Some("S-1-5-18"),
            window(),
            7,
            &["user_name", "time"],
        )
        .unwrap();
        assert!(
            q.contains("AND (lower(user_name) = 'o''brien' OR user_sid_readable = 'S-1-5-18')"),
            "{q}"
        );
        assert!(q.starts_with("SELECT \"user_name\", \"time\"\nFROM falconry.userinfo\nWHERE dt BETWEEN '2026-03-07' AND '2026-03-14'"), "{q}");
        assert_eq!(
            user_query("falconry", None, Some("x"), window(), 7, &["a"]),
            None
        );
    }

    #[test]
    fn reads_the_summary_rows() {
        let s = |v: &str| Some(v.to_owned());
        let rows = Rows {
            header: ["kind", "key", "n", "processes", "first_seen"]
                .map(String::from)
                .to_vec(),
            rows: vec![
                vec![
                    s("total"),
                    None,
                    s("12"),
                    s("3"),
                    s("2026-03-14 09:30:00.000"),
                ],
                vec![s("domain"), s("a.example"), s("1"), s("0"), None],
                vec![s("domain"), s("b.example"), s("4"), s("0"), None],
                vec![
                    s("command"),
                    s("cmd /c x"),
                    s("1"),
                    s("1"),
                    s("2026-03-14 09:52:10.250"),
                ],
            ],
        };
        let a = read_activity(&rows).unwrap();
        assert_eq!((a.events, a.processes), (12, 3));
        assert_eq!(a.dns[0].value, "b.example");
        assert_eq!(a.commands[0].first_ms, Some(1_773_481_930_250));
        let bad = Rows {
            rows: vec![vec![s("total"), None, s("many"), s("0"), None]],
            ..rows
        };
        assert!(read_activity(&bad).is_err());
    }

    proptest::proptest! {
        #[test]
        fn a_user_name_stays_inside_its_literal(name in "\\PC{1,40}") {
            if let Some(q) = user_query("falconry", Some(&name), None, window(), 7, &["user_name"]) {
                let line = q.lines().find(|l| l.contains("lower(user_name) = ")).unwrap_or_default();
                let lit = line
                    .strip_prefix("  AND (lower(user_name) = '")
                    .and_then(|r| r.strip_suffix("')"));
                let lit = lit.unwrap_or_else(|| panic!("literal not closed where expected: {line}"));
                // Inside the literal every quote is doubled: no way out of it.
                proptest::prop_assert_eq!(lit.replace("''", ""), lit.replace('\'', ""));
                proptest::prop_assert_eq!(Some(lit.replace("''", "'")), bare_user(&name));
                proptest::prop_assert_eq!(q.lines().count(), 6);
            }
        }
    }
}
