//! What the renderer is given: everything one issue body or one repeat
//! comment shows, borrowed from the pipeline, and the comparison that says
//! what changed between the alert an issue was opened for and a repeat.
//!
//! Pure data and a pure function; no escaping here (that happens when the
//! values are written into a template), no I/O.

use crate::alert::{Alert, Enrichment, Process};
use crate::decision::Decision;
use crate::tracker::IssueRef;

/// Everything a new issue shows.
#[derive(Debug, Clone)]
pub struct IssueView<'a> {
    pub alert: &'a Alert,
    pub decision: &'a Decision,
    pub enrichment: &'a Enrichment,
    /// How many times this fingerprint has been seen, this one included.
    pub occurrences: u64,
    /// First and last sighting (epoch ms, UTC).
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    /// The dedup fingerprint (hex); goes into the hidden marker.
    pub fingerprint: &'a str,
    /// The closed issue this one follows, when it was reopened after close.
    pub previous: Option<&'a IssueRef>,
    /// A ready query for the host's events (`athena::host_window_query`).
    pub athena_query: Option<String>,
    /// The event line as received (JSON); shown pretty-printed, collapsed.
    pub raw_event: &'a str,
    /// falconry's version, for the machine block.
    pub version: &'a str,
}

/// Everything a repeat comment shows.
#[derive(Debug, Clone)]
pub struct CommentView<'a> {
    pub alert: &'a Alert,
    pub decision: &'a Decision,
    pub occurrences: u64,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    pub fingerprint: &'a str,
    /// What is new compared with the issue's alert ([`changes`]).
    pub changes: Vec<String>,
    /// Identifies this occurrence (hex); goes into the comment's hidden marker.
    pub occurrence_key: &'a str,
}

/// Changes listed at most; the rest are counted.
pub const MAX_CHANGES: usize = 20;
/// New items listed per kind (IPs, domains, ...); the rest are counted.
const MAX_NEW_ITEMS: usize = 10;

/// What `current` shows that `previous` (the alert the issue was opened
/// for) did not, in reading order: severity, host, user, each process of the
/// tree, new IPs, domains, hashes, connections, techniques, IOC. Plain
/// sentences with raw values (the template escapes them).
pub fn changes(previous: &Alert, current: &Alert) -> Vec<String> {
    let mut out = Vec::new();
    if previous.severity != current.severity {
        out.push(format!(
            "Falcon severity: {} ({}) → {} ({})",
            previous.severity.level.as_str(),
            previous.severity.score,
            current.severity.level.as_str(),
            current.severity.score
        ));
    }
    if previous.name != current.name {
        out.push(format!("Detection name: {}", current.name));
    }
    changed(
        &mut out,
        "Host",
        previous.host.hostname.as_deref(),
        current.host.hostname.as_deref(),
    );
    changed(
        &mut out,
        "Agent id",
        previous.host.aid.as_deref(),
        current.host.aid.as_deref(),
    );
    changed(
        &mut out,
        "User",
        previous.user.name.as_deref(),
        current.user.name.as_deref(),
    );
    for (label, before, now) in [
        ("Process", &previous.process, &current.process),
        ("Parent process", &previous.parent, &current.parent),
        (
            "Grandparent process",
            &previous.grandparent,
            &current.grandparent,
        ),
    ] {
        process_changes(&mut out, label, before, now);
    }
    new_items(&mut out, "New IPs", &previous.ips, &current.ips);
    new_items(&mut out, "New domains", &previous.domains, &current.domains);
    new_items(&mut out, "New hashes", &previous.hashes, &current.hashes);
    let remote = |a: &Alert| -> Vec<String> {
        a.connections
            .iter()
            .map(|c| match c.remote_port {
                Some(port) => format!("{}:{port}", c.remote_ip),
                None => c.remote_ip.clone(),
            })
            .collect()
    };
    new_items(
        &mut out,
        "New connections",
        &remote(previous),
        &remote(current),
    );
    let techniques = |a: &Alert| -> Vec<String> {
        a.mitre
            .iter()
            .filter_map(|m| match (&m.technique_id, &m.technique) {
                (Some(id), Some(name)) => Some(format!("{id} {name}")),
                (Some(id), None) => Some(id.clone()),
                (None, name) => name.clone(),
            })
            .collect()
    };
    new_items(
        &mut out,
        "New techniques",
        &techniques(previous),
        &techniques(current),
    );
    new_items(
        &mut out,
        "New hosts named",
        &previous.host.others,
        &current.host.others,
    );
    new_items(
        &mut out,
        "New users named",
        &previous.user.others,
        &current.user.others,
    );
    if previous.ioc != current.ioc
        && let Some(ioc) = &current.ioc
    {
        out.push(format!("IOC: {} {}", ioc.kind, ioc.value));
    }
    changed(
        &mut out,
        "Disposition",
        previous.disposition.as_deref(),
        current.disposition.as_deref(),
    );
    if out.len() > MAX_CHANGES {
        let more = out.len() - (MAX_CHANGES - 1);
        out.truncate(MAX_CHANGES - 1);
        out.push(format!("… and {more} more changes"));
    }
    out
}

fn changed(out: &mut Vec<String>, label: &str, before: Option<&str>, now: Option<&str>) {
    if let Some(now) = now
        && before != Some(now)
    {
        out.push(format!("{label}: {now}"));
    }
}

fn process_changes(out: &mut Vec<String>, label: &str, before: &Process, now: &Process) {
    let path = |p: &Process| p.file_path.clone().or_else(|| p.file_name.clone());
    if let Some(now_path) = path(now)
        && path(before).as_deref() != Some(now_path.as_str())
    {
        out.push(format!("{label} image: {now_path}"));
    }
    changed(
        out,
        &format!("{label} command line"),
        before.command_line.as_deref(),
        now.command_line.as_deref(),
    );
    changed(
        out,
        &format!("{label} SHA-256"),
        before.sha256.as_deref(),
        now.sha256.as_deref(),
    );
}

fn new_items(out: &mut Vec<String>, label: &str, before: &[String], now: &[String]) {
    let new: Vec<&str> = now
        .iter()
        .filter(|item| !before.contains(item))
        .map(String::as_str)
        .collect();
    if new.is_empty() {
        return;
    }
    let shown = new.len().min(MAX_NEW_ITEMS);
    let mut line = format!("{label}: {}", new[..shown].join(", "));
    if new.len() > shown {
        line.push_str(&format!(" and {} more", new.len() - shown));
    }
    out.push(line);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{AlertKind, Connection, Host, Level, Mitre, Origin, Severity, User};

    fn alert() -> Alert {
        Alert {
            kind: AlertKind::Epp,
            event_type: "EppDetectionSummaryEvent".into(),
            id: "ldt:1:2".into(),
            composite_id: None,
            product: None,
            cid: None,
            name: "Suspicious PowerShell".into(),
            description: None,
            pattern_id: None,
            severity: Severity {
                score: 70,
                level: Level::High,
            },
            time_ms: 0,
            start_ms: None,
            end_ms: None,
            host: Host {
                hostname: Some("WKS-1".into()),
                ..Host::default()
            },
            user: User {
                name: Some("jdoe".into()),
                ..User::default()
            },
            process: Process {
                file_name: Some("powershell.exe".into()),
                command_line: Some("powershell -enc AAA".into()),
                sha256: Some("aa".repeat(32)),
                ..Process::default()
            },
            parent: Process::default(),
            grandparent: Process::default(),
            ips: vec!["10.0.0.1".into()],
            domains: vec![],
            hashes: vec![],
            connections: vec![],
            ioc: None,
            mitre: vec![],
            objective: None,
            disposition: None,
            console_url: None,
            origin: Origin::default(),
            rule: None,
        }
    }

    #[test]
    fn nothing_new() {
        assert!(changes(&alert(), &alert()).is_empty());
    }

    #[test]
    fn lists_what_is_new() {
        let before = alert();
        let mut now = alert();
        now.severity = Severity {
            score: 90,
            level: Level::Critical,
        };
        now.process.command_line = Some("powershell -enc BBB".into());
        now.process.sha256 = Some("bb".repeat(32));
        now.ips = vec!["10.0.0.1".into(), "10.0.0.2".into()];
        now.connections = vec![Connection {
            remote_ip: "10.0.0.2".into(),
            remote_port: Some(443),
            local_ip: None,
            protocol: None,
        }];
        now.mitre = vec![Mitre {
            technique_id: Some("T1059.001".into()),
            technique: Some("PowerShell".into()),
            ..Mitre::default()
        }];
        assert_eq!(
            changes(&before, &now),
            vec![
                "Falcon severity: high (70) → critical (90)".to_owned(),
                "Process command line: powershell -enc BBB".to_owned(),
                format!("Process SHA-256: {}", "bb".repeat(32)),
                "New IPs: 10.0.0.2".to_owned(),
                "New connections: 10.0.0.2:443".to_owned(),
                "New techniques: T1059.001 PowerShell".to_owned(),
            ]
        );
    }

    #[test]
    fn long_lists_are_counted() {
        let before = alert();
        let mut now = alert();
        now.domains = (0..25).map(|i| format!("d{i}.example")).collect();
        let out = changes(&before, &now);
        assert_eq!(out.len(), 1);
        assert!(out[0].ends_with("d9.example and 15 more"), "{}", out[0]);
        now.host.others = (0..30).map(|i| format!("h{i}")).collect();
        now.user.others = (0..30).map(|i| format!("u{i}")).collect();
        now.hashes = vec!["x".into()];
        now.name = "other".into();
        now.host.hostname = Some("WKS-2".into());
        now.user.name = Some("root".into());
        now.parent.command_line = Some("cmd".into());
        now.grandparent.command_line = Some("explorer".into());
        now.disposition = Some("blocked".into());
        assert_eq!(changes(&before, &now).len(), 10);
    }
}
