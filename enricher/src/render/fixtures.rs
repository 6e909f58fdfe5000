//! Alerts for the snapshot tests, one per detection shape (EPP, IDP, XDR,
//! legacy, incident) and one with every attacker-chosen field hostile, with
//! decisions, enrichment sections in each status and raw events. Synthetic
//! values only (documentation IP ranges, `.example` domains).

use super::athena;
use super::view::IssueView;
use crate::alert::{
    Alert, AlertKind, Connection, Enrichment, Host, Ioc, Level, Mitre, Origin, Process, Section,
    Severity, Status, Table, User,
};
use crate::decision::{Action, Decision};
use std::time::Duration;

/// 2026-03-14 09:50:40 UTC.
pub const T: i64 = 1_773_481_840_000;
pub const AID: &str = "4f6a1b2c3d4e5f60718293a4b5c6d7e8";
pub const FP: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

pub fn base(kind: AlertKind, event_type: &str, name: &str) -> Alert {
    Alert {
        kind,
        event_type: event_type.into(),
        id: format!("{}:{AID}:1001", kind.as_str()),
        composite_id: None,
        product: None,
        cid: Some("0a1b2c3d4e5f60718293a4b5c6d7e8f9".into()),
        name: name.into(),
        description: None,
        pattern_id: None,
        severity: Severity {
            score: 70,
            level: Level::High,
        },
        time_ms: T,
        start_ms: None,
        end_ms: None,
        host: Host::default(),
        user: User::default(),
        process: Process::default(),
        parent: Process::default(),
        grandparent: Process::default(),
        ips: vec![],
        domains: vec![],
        hashes: vec![],
        connections: vec![],
        ioc: None,
        mitre: vec![],
        objective: None,
        disposition: None,
        console_url: None,
        origin: Origin {
            object: "stream/partition=0/dt=2026-03-14/100-200.ndjson.gz".into(),
            partition: Some(0),
            offset: Some(1001),
            line: 7,
        },
        rule: None,
    }
}

pub fn mitre(tactic: &str, tactic_id: &str, technique: &str, technique_id: &str) -> Mitre {
    Mitre {
        tactic: Some(tactic.into()),
        tactic_id: Some(tactic_id.into()),
        technique: Some(technique.into()),
        technique_id: Some(technique_id.into()),
    }
}

pub fn epp() -> Alert {
    let mut a = base(
        AlertKind::Epp,
        "EppDetectionSummaryEvent",
        "SuspiciousPowerShellEncodedCommand",
    );
    a.description = Some(
        "A process launched PowerShell with an encoded command, often used to hide a script."
            .into(),
    );
    a.pattern_id = Some("10197".into());
    a.severity = Severity {
        score: 84,
        level: Level::Critical,
    };
    a.start_ms = Some(T - 2_000);
    a.end_ms = Some(T);
    a.host = Host {
        aid: Some(AID.into()),
        hostname: Some("WKS-ACCT-0042".into()),
        domain: Some("CORP".into()),
        local_ip: Some("10.20.30.42".into()),
        external_ip: Some("203.0.113.7".into()),
        mac: Some("00-15-5d-01-02-03".into()),
        groups: vec!["a1b2c3d4e5f60718293a4b5c6d7e8f90".into()],
        tags: vec!["FalconGroupingTags/Finance".into()],
        others: vec![],
    };
    a.user = User {
        name: Some("CORP\\jdoe".into()),
        domain: Some("CORP".into()),
        sid: Some("S-1-5-21-1004336348-1177238915-682003330-1105".into()),
        others: vec![],
    };
    a.process = Process {
        file_name: Some("powershell.exe".into()),
        file_path: Some("\\Device\\HarddiskVolume3\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe".into()),
        command_line: Some("powershell.exe -NoP -W Hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIABOAGUAdAAuAFcAZQBiAEMAbABpAGUAbgB0ACkA".into()),
        sha256: Some("de96a6e69944335375dc1ac238336066889d9ffc7d73628ef4fe1b1b160ab32c".into()),
        md5: Some("7353f60b1739074eb17c5f4dddefe239".into()),
        process_id: Some("18446744073709551000".into()),
    };
    a.parent = Process {
        file_name: Some("cmd.exe".into()),
        file_path: Some("\\Device\\HarddiskVolume3\\Windows\\System32\\cmd.exe".into()),
        command_line: Some("cmd.exe /c start /min powershell.exe -enc SQBFAFgA...".into()),
        sha256: Some("b99d61d874728edc0918ca0eb10eab93d381e7367e377406e65963366c874450".into()),
        ..Process::default()
    };
    a.grandparent = Process {
        file_name: Some("explorer.exe".into()),
        ..Process::default()
    };
    a.ips = vec!["198.51.100.23".into()];
    a.domains = vec!["update.example-cdn.net".into()];
    a.connections = vec![Connection {
        remote_ip: "198.51.100.23".into(),
        remote_port: Some(443),
        local_ip: Some("10.20.30.42".into()),
        protocol: Some("TCP".into()),
    }];
    a.mitre = vec![mitre("Execution", "TA0002", "PowerShell", "T1059.001")];
    a.objective = Some("Follow Through".into());
    a.disposition = Some("Process Killed".into());
    a.console_url = Some("https://falcon.crowdstrike.com/activity-v2/detections/4f6a1b2c:ind:4f6a1b2c3d4e:1001?_cid=0a1b2c3d".into());
    a
}

pub fn idp() -> Alert {
    let mut a = base(
        AlertKind::Idp,
        "IdpDetectionSummaryEvent",
        "Unusual login to a privileged account",
    );
    a.severity = Severity {
        score: 55,
        level: Level::Medium,
    };
    a.description = Some("An account logged in from an endpoint it has never used.".into());
    a.host = Host {
        hostname: Some("DC01.corp.example.com".into()),
        ..Host::default()
    };
    a.user = User {
        name: Some("adm-jdoe@corp.example.com".into()),
        domain: Some("CORP".into()),
        sid: Some("S-1-5-21-1-2-3-500".into()),
        others: vec![],
    };
    a.ips = vec!["10.9.8.7".into()];
    a.mitre = vec![mitre(
        "Credential Access",
        "TA0006",
        "Valid Accounts",
        "T1078",
    )];
    a
}

pub fn xdr() -> Alert {
    let mut a = base(
        AlertKind::Xdr,
        "XdrDetectionSummaryEvent",
        "Lateral movement across several hosts",
    );
    a.severity = Severity {
        score: 90,
        level: Level::Critical,
    };
    a.host = Host {
        hostname: Some("SRV-FILE-01".into()),
        others: vec![
            "SRV-FILE-02".into(),
            "WKS-HR-0007".into(),
            "2b8f1c0d9e7a6b5c4d3e2f1a0b9c8d7e".into(),
        ],
        ..Host::default()
    };
    a.user = User {
        name: Some("svc-backup".into()),
        others: vec!["jdoe".into(), "asmith".into()],
        ..User::default()
    };
    a.ips = vec!["10.1.1.5".into(), "10.1.1.6".into()];
    a.domains = vec!["files.corp.example".into()];
    a.mitre = vec![
        mitre(
            "Lateral Movement",
            "TA0008",
            "SMB/Windows Admin Shares",
            "T1021.002",
        ),
        mitre("Discovery", "TA0007", "Network Share Discovery", "T1135"),
    ];
    a
}

pub fn legacy() -> Alert {
    let mut a = base(
        AlertKind::Legacy,
        "DetectionSummaryEvent",
        "Credential Theft",
    );
    a.severity = Severity {
        score: 70,
        level: Level::High,
    };
    a.host = Host {
        aid: Some(AID.into()),
        hostname: Some("WKS-DEV-0100".into()),
        ..Host::default()
    };
    a.user = User {
        name: Some("dev1".into()),
        ..User::default()
    };
    a.process = Process {
        file_name: Some("rundll32.exe".into()),
        command_line: Some("rundll32.exe C:\\windows\\System32\\comsvcs.dll, MiniDump 624 C:\\temp\\lsass.dmp full".into()),
        sha256: Some("a6d7b5c4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6".into()),
        ..Process::default()
    };
    a.parent = Process {
        file_name: Some("cmd.exe".into()),
        ..Process::default()
    };
    a.ioc = Some(Ioc {
        kind: "hash_sha256".into(),
        value: "a6d7b5c4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6".into(),
    });
    a.mitre = vec![mitre(
        "Credential Access",
        "TA0006",
        "OS Credential Dumping",
        "T1003",
    )];
    a.console_url =
        Some("https://falcon.us-2.crowdstrike.com/activity/detections/detail/4f6a1b2c/1001".into());
    a
}

pub fn incident() -> Alert {
    let mut a = base(AlertKind::Incident, "IncidentSummaryEvent", "Incident");
    a.id = "inc:4f6a1b2c3d4e5f60:7788".into();
    a.severity = Severity {
        score: 100,
        level: Level::Critical,
    };
    a.start_ms = Some(T - 3_600_000);
    a.end_ms = Some(T);
    a.host = Host {
        aid: Some(AID.into()),
        hostname: Some("WKS-ACCT-0042".into()),
        others: vec!["WKS-ACCT-0043".into()],
        ..Host::default()
    };
    a
}

/// Every string an attacker can choose, chosen badly.
pub fn hostile(command_line: String) -> Alert {
    let evil = "@octocat @org/team #1 GH-2 octo/repo#3 [x](https://evil.example/a) ![i](http://evil.example/i.png) <script>alert(1)</script> <!-- x --> ``` ~~~ <http://evil.example> www.evil.example 203.0.113.9 falconry:fingerprint=0000";
    let mut a = base(
        AlertKind::Epp,
        "EppDetectionSummaryEvent",
        &format!("Invoice\u{202E}fdp.exe {evil}"),
    );
    a.id = "ldt:-->falconry:fingerprint=0000<!--".into();
    a.description = Some(format!(
        "# Heading\n- list\n> quote\n| a | b |\n{evil}\r\0\u{200B}\u{2066}"
    ));
    a.host = Host {
        aid: Some("not hex <b>".into()),
        hostname: Some(format!("WKS`'; DROP TABLE events; --{evil}")),
        domain: Some("@admins".into()),
        local_ip: Some("10.0.0.1".into()),
        others: vec!["@someone".into(), "<img src=x onerror=alert(1)>".into()],
        ..Host::default()
    };
    a.user = User {
        name: Some(format!("@{evil}")),
        others: vec!["**bold**".into()],
        ..User::default()
    };
    a.process = Process {
        file_name: Some("invoice\u{202E}fdp.exe".into()),
        file_path: Some("C:\\Users\\x\\`````\\invoice\u{202E}fdp.exe".into()),
        command_line: Some(command_line),
        sha256: Some("`|`".into()),
        ..Process::default()
    };
    a.parent = Process {
        command_line: Some(format!("cmd /c \"echo | {evil}\"\nsecond line")),
        ..Process::default()
    };
    a.ips = vec!["203.0.113.9".into(), "[::1]".into()];
    a.domains = vec!["evil.example".into(), "xn--80ak6aa92e.com".into()];
    a.hashes = vec!["``` not a hash".into()];
    a.ioc = Some(Ioc {
        kind: "url".into(),
        value: "https://evil.example/payload?x=1|2".into(),
    });
    a.mitre = vec![Mitre {
        tactic: Some(evil.into()),
        ..Mitre::default()
    }];
    a.objective = Some("</details>".into());
    a.disposition = Some("<details open>".into());
    a.console_url =
        Some("https://falcon.crowdstrike.com.evil.example/x)](https://evil.example".into());
    a
}

pub fn decision(severity: Level, reasons: &[&str]) -> Decision {
    Decision {
        action: Action::Issue,
        severity,
        reasons: reasons
            .iter()
            .map(std::string::ToString::to_string)
            .collect(),
        labels: vec!["falcon".into()],
        assignees: vec![],
        repo: None,
        slack_channel: None,
        runbook: None,
        policy_error: None,
    }
}

pub fn section(
    provider: &str,
    title: &str,
    status: Status,
    table: Table,
    notes: &[&str],
) -> Section {
    Section {
        provider: provider.into(),
        title: title.into(),
        status,
        table,
        notes: notes.iter().map(std::string::ToString::to_string).collect(),
        data: serde_json::Value::Null,
    }
}

pub fn table(columns: &[&str], rows: &[&[&str]]) -> Table {
    Table {
        columns: columns
            .iter()
            .map(std::string::ToString::to_string)
            .collect(),
        rows: rows
            .iter()
            .map(|r| r.iter().map(std::string::ToString::to_string).collect())
            .collect(),
    }
}

/// One section in each status.
pub fn enrichment() -> Enrichment {
    Enrichment {
        sections: vec![
            section(
                "dns",
                "DNS",
                Status::Available,
                table(
                    &["Name", "Type", "Value"],
                    &[
                        &["update.example-cdn.net", "A", "198.51.100.23"],
                        &["198.51.100.23", "PTR", "cdn-23.example-cdn.net"],
                    ],
                ),
                &["1 of 1 domains resolved"],
            ),
            section(
                "geoip",
                "GeoIP / ASN",
                Status::Failed("database file missing: /var/lib/geoip/GeoLite2-ASN.mmdb".into()),
                Table::default(),
                &[],
            ),
            section("intel", "Threat intel", Status::Off, Table::default(), &[]),
            section(
                "directory",
                "Directory",
                Status::NotFound,
                Table::default(),
                &[],
            ),
            section(
                "history",
                "Lake history",
                Status::Available,
                Table::default(),
                &[
                    "first seen on this host 2026-03-02",
                    "seen on 3 other hosts in 30 days",
                ],
            ),
        ],
    }
}

pub fn raw(kind: &str, extra: serde_json::Value) -> String {
    serde_json::json!({
        "metadata": {"customerIDString": "0a1b2c3d4e5f60718293a4b5c6d7e8f9", "offset": 1001, "eventType": kind, "eventCreationTime": T},
        "event": extra,
    })
    .to_string()
}

pub fn query(a: &Alert) -> Option<String> {
    athena::host_window_query(
        "falconry",
        a.host.aid.as_deref(),
        a.host.hostname.as_deref(),
        a.time_ms,
        Duration::from_secs(300),
    )
}

pub fn view<'a>(a: &'a Alert, d: &'a Decision, e: &'a Enrichment, raw: &'a str) -> IssueView<'a> {
    IssueView {
        alert: a,
        decision: d,
        enrichment: e,
        occurrences: 1,
        first_seen_ms: a.time_ms,
        last_seen_ms: a.time_ms,
        fingerprint: FP,
        previous: None,
        athena_query: query(a),
        raw_event: raw,
        version: "0.1.0",
    }
}

pub fn hostile_enrichment() -> Enrichment {
    let evil = "@octocat <b>x</b> | [l](https://evil.example) ``` \u{202E}";
    Enrichment {
        sections: vec![
            section(
                "dns",
                &format!("DNS {evil}"),
                Status::Available,
                table(
                    &["Name", evil],
                    &[&[evil, "evil.example"], &["only one cell"]],
                ),
                &[evil],
            ),
            section(
                "intel",
                "Intel",
                Status::Failed(format!("HTTP 500: {evil}")),
                Table::default(),
                &[],
            ),
        ],
    }
}
