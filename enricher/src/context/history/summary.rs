//! What the history provider reports, whichever back end found it: the
//! host's activity in the window ([`Activity`]: event counts by type, top
//! process images, first command lines, top domains and connections), its
//! `aidmaster` row and the user's `userinfo` row ([`Record`]), turned into the
//! issue's table and notes and the policy's `data` by [`found`]. The Parquet
//! back end counts rows into a [`Tally`] first; Athena counts in SQL.
//!
//! Pure: no I/O, no clock. Every string here came from the lake (an attacker
//! can choose command lines and domains): it is shortened, never interpreted,
//! and the renderer escapes it.

use super::super::Found;
use crate::alert::Table;
use chrono::{DateTime, SecondsFormat};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};

/// Event types that start a process.
pub const PROCESS_TYPES: [&str; 2] = ["ProcessRollup2", "SyntheticProcessRollup2"];
/// The DNS request event type.
pub const DNS_TYPE: &str = "DnsRequest";
/// Outbound connection event types (IPv4, IPv6).
pub const CONNECT_TYPES: [&str; 2] = ["NetworkConnectIP4", "NetworkConnectIP6"];

/// Distinct values one counter keeps; later new values only count as dropped.
const MAX_DISTINCT: usize = 20_000;
/// Characters of a value shown in a note or the table (command lines run to kilobytes).
const SHOWN_CHARS: usize = 300;
/// Characters of a value kept in the policy data.
const DATA_CHARS: usize = 2048;

/// The window around the detection: `from_ms..=to_ms`, epoch ms, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Window {
    pub from_ms: i64,
    pub to_ms: i64,
}

impl Window {
    /// `window_ms` either side of `at_ms`; `None` when that leaves the clock's range.
    pub fn around(at_ms: i64, window_ms: i64) -> Option<Window> {
        let from_ms = at_ms.checked_sub(window_ms)?;
        let to_ms = at_ms.checked_add(window_ms)?;
        // Both ends must be representable as dates (chrono's range).
        DateTime::from_timestamp_millis(from_ms)?;
        DateTime::from_timestamp_millis(to_ms)?;
        Some(Window { from_ms, to_ms })
    }

    pub fn contains(&self, ms: i64) -> bool {
        (self.from_ms..=self.to_ms).contains(&ms)
    }
}

/// A value with how often it was seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted {
    pub value: String,
    pub count: u64,
}

/// A command line and when it was first seen in the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub command_line: String,
    /// Epoch ms, when known.
    pub first_ms: Option<i64>,
    pub count: u64,
}

/// The host's activity in the window, already cut to the top lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Activity {
    pub events: u64,
    /// Process starts (`ProcessRollup2`, `SyntheticProcessRollup2`).
    pub processes: u64,
    /// Events per `event_simplename`, most frequent first.
    pub by_type: Vec<Counted>,
    /// Process images (`image_file_name` of process starts), most frequent first.
    pub images: Vec<Counted>,
    /// Distinct command lines of process starts, earliest first.
    pub commands: Vec<Command>,
    /// Domains asked for (`DnsRequest`), most frequent first.
    pub dns: Vec<Counted>,
    /// Remote `ip:port` of outbound connections, most frequent first.
    pub connections: Vec<Counted>,
}

/// Exact counts over the rows scanned so far (the Parquet back end).
#[derive(Debug, Default)]
pub struct Tally {
    events: u64,
    processes: u64,
    by_type: HashMap<String, u64>,
    images: HashMap<String, u64>,
    commands: HashMap<String, (i64, u64)>,
    dns: HashMap<String, u64>,
    connections: HashMap<String, u64>,
    /// New distinct values not kept because a counter was full.
    pub dropped: u64,
}

/// The columns of one event row the tally needs.
#[derive(Debug, Default, Clone, Copy)]
pub struct EventRow<'a> {
    pub timestamp_ms: i64,
    pub event_type: Option<&'a str>,
    pub image: Option<&'a str>,
    pub command_line: Option<&'a str>,
    pub domain: Option<&'a str>,
    pub remote_ip4: Option<&'a str>,
    pub remote_ip6: Option<&'a str>,
    pub remote_port: Option<i64>,
}

fn bump(map: &mut HashMap<String, u64>, key: &str, by: u64, dropped: &mut u64) {
    if let Some(n) = map.get_mut(key) {
        *n += by;
    } else if map.len() < MAX_DISTINCT {
        map.insert(key.to_owned(), by);
    } else {
        *dropped += 1;
    }
}

impl Tally {
    pub fn add(&mut self, row: &EventRow<'_>) {
        self.events += 1;
        let Some(kind) = row.event_type else {
            return;
        };
        bump(&mut self.by_type, kind, 1, &mut self.dropped);
        if PROCESS_TYPES.contains(&kind) {
            self.processes += 1;
            if let Some(image) = row.image.filter(|s| !s.is_empty()) {
                bump(&mut self.images, image, 1, &mut self.dropped);
            }
            if let Some(cmd) = row.command_line.filter(|s| !s.is_empty()) {
                if let Some((first, n)) = self.commands.get_mut(cmd) {
                    *first = (*first).min(row.timestamp_ms);
                    *n += 1;
                } else if self.commands.len() < MAX_DISTINCT {
                    self.commands.insert(cmd.to_owned(), (row.timestamp_ms, 1));
                } else {
                    self.dropped += 1;
                }
            }
        } else if kind == DNS_TYPE {
            if let Some(domain) = row.domain.map(normal_domain).filter(|d| !d.is_empty()) {
                bump(&mut self.dns, &domain, 1, &mut self.dropped);
            }
        } else if CONNECT_TYPES.contains(&kind) {
            let ip4 = row.remote_ip4.filter(|s| !s.is_empty());
            let remote = match (ip4, row.remote_ip6.filter(|s| !s.is_empty())) {
                (Some(ip), _) => remote(ip, false, row.remote_port),
                (None, Some(ip)) => remote(ip, true, row.remote_port),
                (None, None) => return,
            };
            bump(&mut self.connections, &remote, 1, &mut self.dropped);
        }
    }

    /// Adds another file's counts.
    pub fn merge(&mut self, other: Tally) {
        self.events += other.events;
        self.processes += other.processes;
        self.dropped += other.dropped;
        for (map, theirs) in [
            (&mut self.by_type, other.by_type),
            (&mut self.images, other.images),
            (&mut self.dns, other.dns),
            (&mut self.connections, other.connections),
        ] {
            for (k, n) in theirs {
                bump(map, &k, n, &mut self.dropped);
            }
        }
        for (cmd, (first, n)) in other.commands {
            if let Some((f, m)) = self.commands.get_mut(&cmd) {
                *f = (*f).min(first);
                *m += n;
            } else if self.commands.len() < MAX_DISTINCT {
                self.commands.insert(cmd, (first, n));
            } else {
                self.dropped += 1;
            }
        }
    }

    /// The top `top` lines of each list (event types: all of them).
    pub fn into_activity(self, top: usize) -> Activity {
        let mut commands: Vec<Command> = self
            .commands
            .into_iter()
            .map(|(command_line, (first, count))| Command {
                command_line,
                first_ms: Some(first),
                count,
            })
            .collect();
        commands.sort_by(|a, b| (a.first_ms, &a.command_line).cmp(&(b.first_ms, &b.command_line)));
        commands.truncate(top);
        Activity {
            events: self.events,
            processes: self.processes,
            by_type: most(self.by_type, usize::MAX),
            images: most(self.images, top),
            commands,
            dns: most(self.dns, top),
            connections: most(self.connections, top),
        }
    }
}

/// The `n` most frequent values, ties by value.
fn most(map: HashMap<String, u64>, n: usize) -> Vec<Counted> {
    let mut v: Vec<Counted> = map
        .into_iter()
        .map(|(value, count)| Counted { value, count })
        .collect();
    sort_counted(&mut v);
    v.truncate(n);
    v
}

/// Most frequent first, ties by value.
pub fn sort_counted(v: &mut [Counted]) {
    v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
}

/// A domain as counted: lower case, without the root dot.
pub fn normal_domain(d: &str) -> String {
    d.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// `ip:port` (`[ip6]:port`), or the address alone without a port.
pub fn remote(ip: &str, v6: bool, port: Option<i64>) -> String {
    match (v6, port) {
        (false, Some(p)) => format!("{ip}:{p}"),
        (true, Some(p)) => format!("[{ip}]:{p}"),
        (_, None) => ip.to_owned(),
    }
}

/// An ISO-8601 UTC time (`2026-03-14T09:52:10Z`, milliseconds only when some).
pub fn iso(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
        .unwrap_or_else(|| ms.to_string())
}

/// One row of a lookup table (`aidmaster`, `userinfo`): column → text, for
/// the columns the provider shows, times as [`iso`].
pub type Record = BTreeMap<String, String>;

/// The `aidmaster` columns shown, with their labels, in order.
pub const HOST_FIELDS: [(&str, &str); 14] = [
    ("computer_name", "host"),
    ("version", "OS"),
    ("product_type", "product type"),
    ("agent_version", "sensor"),
    ("first_seen", "first seen"),
    ("machine_domain", "domain"),
    ("ou", "OU"),
    ("site_name", "site"),
    ("system_manufacturer", "manufacturer"),
    ("system_product_name", "model"),
    ("country", "country"),
    ("city", "city"),
    ("timezone", "time zone"),
    ("time", "row time"),
];

/// The `userinfo` columns shown, with their labels, in order.
pub const USER_FIELDS: [(&str, &str); 11] = [
    ("user_name", "user"),
    ("user", "account"),
    ("user_sid_readable", "SID"),
    ("account_type", "type"),
    ("local_admin_access", "local admin"),
    ("user_is_admin", "admin"),
    ("last_logged_on_host", "last logon host"),
    ("logon_time", "last logon"),
    ("logon_type", "logon type"),
    ("password_last_set", "password last set"),
    ("time", "row time"),
];

/// How the back end got its answer: shown as a note, kept in `data.scanned`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Provenance {
    /// One line: `5 files, 4 of 6 row groups read, 1.2 MB` or `Athena scanned 12 MB`.
    pub line: String,
    /// Why the counts may be incomplete (a cap was reached), if they may.
    pub partial: Option<String>,
    pub data: Value,
}

/// What the provider shows: nothing known (`Found::default()`) when the
/// window has no events and neither lookup row was found.
pub fn found(
    aid: &str,
    window: Window,
    activity: &Activity,
    host: Option<&Record>,
    user: Option<&Record>,
    how: &Provenance,
) -> Found {
    if activity.events == 0 && host.is_none() && user.is_none() {
        return Found::default();
    }
    let mut table = Table {
        columns: vec!["Kind".into(), "Value".into(), "Count".into()],
        rows: Vec::new(),
    };
    let mut push = |kind: &str, list: &[Counted]| {
        for c in list {
            table.rows.push(vec![
                kind.to_owned(),
                shorten(&c.value, SHOWN_CHARS),
                c.count.to_string(),
            ]);
        }
    };
    push("process", &activity.images);
    push("dns", &activity.dns);
    push("connection", &activity.connections);
    push("event type", &activity.by_type);

    let mut notes = vec![format!(
        "{} events of host {aid} from {} to {} ({} process starts); {}.",
        activity.events,
        iso(window.from_ms),
        iso(window.to_ms),
        activity.processes,
        how.line
    )];
    if let Some(why) = &how.partial {
        notes.push(format!("Counts are partial: {why}."));
    }
    for c in &activity.commands {
        let when = c.first_ms.map(iso).unwrap_or_else(|| "?".into());
        let times = if c.count > 1 {
            format!(" (×{})", c.count)
        } else {
            String::new()
        };
        notes.push(format!(
            "Command line, first at {when}{times}: {}",
            shorten(&c.command_line, SHOWN_CHARS)
        ));
    }
    if let Some(h) = host {
        notes.push(format!("Host (aidmaster): {}", describe(h, &HOST_FIELDS)));
    }
    if let Some(u) = user {
        notes.push(format!("User (userinfo): {}", describe(u, &USER_FIELDS)));
    }

    let counted = |list: &[Counted], key: &str| -> Value {
        list.iter()
            .map(|c| json!({ key: shorten(&c.value, DATA_CHARS), "count": c.count }))
            .collect()
    };
    let by_type: serde_json::Map<String, Value> = activity
        .by_type
        .iter()
        .map(|c| (c.value.clone(), json!(c.count)))
        .collect();
    let commands: Value = activity
        .commands
        .iter()
        .map(|c| {
            json!({
                "command_line": shorten(&c.command_line, DATA_CHARS),
                "first_seen": c.first_ms.map(iso),
                "count": c.count,
            })
        })
        .collect();
    let data = json!({
        "aid": aid,
        "window": { "from": iso(window.from_ms), "to": iso(window.to_ms) },
        "events": activity.events,
        "processes": activity.processes,
        "images": counted(&activity.images, "image"),
        "commands": commands,
        "dns": counted(&activity.dns, "domain"),
        "connections": counted(&activity.connections, "remote"),
        "by_type": by_type,
        "host": host,
        "user": user,
        "partial": how.partial.is_some(),
        "scanned": how.data,
    });
    Found { table, notes, data }
}

/// `label value, label value, ...` in the fields' order, skipping empty ones.
fn describe(r: &Record, fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .filter_map(|(col, label)| {
            r.get(*col)
                .filter(|v| !v.is_empty())
                .map(|v| format!("{label} {}", shorten(v, SHOWN_CHARS)))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// At most `max` characters, with `…` when cut.
pub fn shorten(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row<'a>(ts: i64, kind: &'a str) -> EventRow<'a> {
        EventRow {
            timestamp_ms: ts,
            event_type: Some(kind),
            ..EventRow::default()
        }
    }

    #[test]
    fn counts_processes_dns_and_connections() {
        let mut a = Tally::default();
        let mut b = Tally::default();
        for (t, ts) in [(&mut a, 5), (&mut b, 3)] {
            t.add(&EventRow {
                image: Some("C:\\x\\powershell.exe"),
                command_line: Some("powershell -enc AAA"),
                ..row(ts, "ProcessRollup2")
            });
            t.add(&EventRow {
                domain: Some("Evil.Example."),
                ..row(ts, "DnsRequest")
            });
            t.add(&EventRow {
                remote_ip4: Some("203.0.113.66"),
                remote_port: Some(443),
                ..row(ts, "NetworkConnectIP4")
            });
        }
        b.add(&EventRow {
            remote_ip6: Some("2001:db8::1"),
            remote_port: Some(53),
            ..row(9, "NetworkConnectIP6")
        });
        b.add(&row(9, "EndOfProcess"));
        b.add(&EventRow::default());
        a.merge(b);
        let act = a.into_activity(10);
        assert_eq!((act.events, act.processes), (9, 2));
        assert_eq!(
            act.dns,
            [Counted {
                value: "evil.example".into(),
                count: 2
            }]
        );
        assert_eq!(act.connections[0].value, "203.0.113.66:443");
        assert_eq!(act.connections[1].value, "[2001:db8::1]:53");
        assert_eq!(
            act.commands,
            [Command {
                command_line: "powershell -enc AAA".into(),
                first_ms: Some(3),
                count: 2
            }]
        );
        assert_eq!(act.by_type.len(), 5);
    }

    #[test]
    fn an_empty_window_without_rows_is_not_found() {
        let w = Window::around(1_000_000, 10).unwrap();
        let f = found(
            "a",
            w,
            &Activity::default(),
            None,
            None,
            &Provenance::default(),
        );
        assert_eq!(f, Found::default());
        let host = Record::from([("computer_name".into(), "WKS-1".into())]);
        let f = found(
            "a",
            w,
            &Activity::default(),
            Some(&host),
            None,
            &Provenance::default(),
        );
        assert!(
            f.notes.iter().any(|n| n == "Host (aidmaster): host WKS-1"),
            "{:?}",
            f.notes
        );
        assert_eq!(f.data["host"]["computer_name"], "WKS-1");
        assert_eq!(f.data["user"], Value::Null);
    }

    #[test]
    fn shortens_by_characters() {
        assert_eq!(shorten("ééé", 2), "éé…");
        assert_eq!(shorten("ab", 2), "ab");
        assert_eq!(iso(1_773_481_930_000), "2026-03-14T09:52:10Z");
        assert_eq!(iso(1_773_481_930_250), "2026-03-14T09:52:10.250Z");
        assert_eq!(Window::around(i64::MAX, 1), None);
    }
}
