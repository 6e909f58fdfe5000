//! A synthetic alert with every field set, used to try the templates once
//! when the renderer starts (so an operator template's mistakes show at
//! start, not on the first real detection).
//!
//! Pure data; not a test fixture and never sent anywhere.

use super::view::{CommentView, IssueView};
use crate::alert::{
    Alert, AlertKind, Connection, Enrichment, Host, Ioc, Level, Mitre, Origin, Process, Section,
    Severity, Status, Table, User,
};
use crate::decision::{Action, Decision};
use crate::tracker::IssueRef;

pub struct Sample {
    alert: Alert,
    decision: Decision,
    enrichment: Enrichment,
    previous: IssueRef,
}

impl Sample {
    pub fn new() -> Sample {
        let process = Process {
            file_name: Some("sample.exe".into()),
            file_path: Some("C:\\sample\\sample.exe".into()),
            command_line: Some("sample.exe --check".into()),
            sha256: Some("0".repeat(64)),
            md5: Some("0".repeat(32)),
            process_id: Some("1".into()),
        };
        let alert = Alert {
            kind: AlertKind::Epp,
            event_type: "EppDetectionSummaryEvent".into(),
            id: "sample".into(),
            composite_id: None,
            product: None,
            cid: Some("0".repeat(32)),
            name: "Template check".into(),
            description: Some("A synthetic alert.".into()),
            pattern_id: Some("1".into()),
            severity: Severity {
                score: 50,
                level: Level::Medium,
            },
            time_ms: 0,
            start_ms: Some(0),
            end_ms: Some(0),
            host: Host {
                aid: Some("0".repeat(32)),
                hostname: Some("sample-host".into()),
                domain: Some("sample".into()),
                local_ip: Some("192.0.2.1".into()),
                external_ip: Some("198.51.100.1".into()),
                mac: Some("00-00-00-00-00-00".into()),
                groups: vec!["g".into()],
                tags: vec!["t".into()],
                others: vec!["other-host".into()],
            },
            user: User {
                name: Some("sample-user".into()),
                domain: Some("sample".into()),
                sid: Some("S-1-0-0".into()),
                others: vec!["other-user".into()],
            },
            process: process.clone(),
            parent: process.clone(),
            grandparent: process,
            ips: vec!["192.0.2.2".into()],
            domains: vec!["sample.invalid".into()],
            hashes: vec!["1".repeat(64)],
            connections: vec![Connection {
                remote_ip: "192.0.2.2".into(),
                remote_port: Some(443),
                local_ip: Some("192.0.2.1".into()),
                protocol: Some("TCP".into()),
            }],
            ioc: Some(Ioc {
                kind: "domain".into(),
                value: "sample.invalid".into(),
            }),
            mitre: vec![Mitre {
                tactic: Some("Execution".into()),
                tactic_id: Some("TA0002".into()),
                technique: Some("Command and Scripting Interpreter".into()),
                technique_id: Some("T1059".into()),
            }],
            objective: Some("Sample".into()),
            disposition: Some("Sample".into()),
            console_url: Some("https://falcon.crowdstrike.com/".into()),
            origin: Origin {
                object: "sample".into(),
                partition: Some(0),
                offset: Some(0),
                line: 1,
            },
            rule: None,
        };
        let section = |status: Status| Section {
            provider: "sample".into(),
            title: "Sample".into(),
            status,
            table: Table {
                columns: vec!["a".into()],
                rows: vec![vec!["b".into()]],
            },
            notes: vec!["note".into()],
            data: serde_json::Value::Null,
        };
        Sample {
            alert,
            decision: Decision {
                action: Action::Issue,
                severity: Level::Medium,
                reasons: vec!["sample".into()],
                labels: vec![],
                assignees: vec![],
                repo: None,
                slack_channel: None,
                runbook: Some("https://runbook.invalid/".into()),
                policy_error: Some("sample".into()),
            },
            enrichment: Enrichment {
                sections: vec![
                    section(Status::Available),
                    section(Status::Off),
                    section(Status::NotFound),
                    section(Status::Failed("sample".into())),
                ],
            },
            previous: IssueRef {
                repo: "o/r".into(),
                number: 1,
                url: "https://github.com/o/r/issues/1".into(),
            },
        }
    }

    pub fn issue_view(&self) -> IssueView<'_> {
        IssueView {
            alert: &self.alert,
            decision: &self.decision,
            enrichment: &self.enrichment,
            occurrences: 2,
            first_seen_ms: 0,
            last_seen_ms: 0,
            fingerprint: "0",
            previous: Some(&self.previous),
            athena_query: Some("SELECT 1".into()),
            raw_event: "{}",
            version: "0",
        }
    }

    pub fn comment_view(&self) -> CommentView<'_> {
        CommentView {
            alert: &self.alert,
            decision: &self.decision,
            occurrences: 2,
            first_seen_ms: 0,
            last_seen_ms: 0,
            fingerprint: "0",
            changes: vec!["sample".into()],
            occurrence_key: "0",
        }
    }
}
