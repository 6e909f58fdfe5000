//! The one alert model every detection shape is normalised into, and the
//! entities it names. It is the policy's `input.alert`, the dedup
//! fingerprint's source and the issue template's context, so its field names
//! are a public contract (documented in `deploy/policies/README.md`).
//!
//! Pure data: no parsing here (that is `normalize.rs`), no I/O.

use serde::{Deserialize, Serialize};

/// Which family of Falcon event the alert came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// `EppDetectionSummaryEvent` / `EPPDetectionSummaryEvent` (endpoint).
    Epp,
    /// `IdpDetectionSummaryEvent` (identity protection).
    Idp,
    /// `XdrDetectionSummaryEvent` (cross-domain).
    Xdr,
    /// `DetectionSummaryEvent` (legacy endpoint detections, retired in 2025).
    Legacy,
    /// `IncidentSummaryEvent`.
    Incident,
    /// `DataProtectionDetectionSummaryEvent` (Falcon Data Protection: data leaving).
    DataProtection,
    /// `AutomatedLeadSummaryEvent` (CrowdStrike Signal's automated leads).
    Lead,
    /// A configured extra type (`CustomerIOCEvent`, `OverwatchGenericDetectionSummaryEvent`, ...).
    Other,
    /// One of the organisation's own Sigma rules matched an FDR event (a finding).
    Rule,
    /// An indicator of compromise matched an FDR event (a finding of
    /// `falconry hunt` or of the forwarder's live matching).
    Ioc,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Epp => "epp",
            AlertKind::Idp => "idp",
            AlertKind::Xdr => "xdr",
            AlertKind::Legacy => "legacy",
            AlertKind::Incident => "incident",
            AlertKind::DataProtection => "data_protection",
            AlertKind::Lead => "lead",
            AlertKind::Other => "other",
            AlertKind::Rule => "rule",
            AlertKind::Ioc => "ioc",
        }
    }
}

/// Severity on one scale: Falcon's 0-100 score (legacy 1-5 values are mapped:
/// 1→10, 2→30, 3→50, 4→70, 5→90) and the level name derived from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl Level {
    /// Every level, most severe first.
    pub const ALL: [Level; 5] = [
        Level::Critical,
        Level::High,
        Level::Medium,
        Level::Low,
        Level::Informational,
    ];

    /// Falcon's bands: <20 informational, <40 low, <60 medium, <80 high, else critical.
    pub fn from_score(score: u8) -> Level {
        match score {
            0..=19 => Level::Informational,
            20..=39 => Level::Low,
            40..=59 => Level::Medium,
            60..=79 => Level::High,
            _ => Level::Critical,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Informational => "informational",
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
            Level::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Level> {
        match s.trim().to_ascii_lowercase().as_str() {
            "informational" | "info" => Some(Level::Informational),
            "low" => Some(Level::Low),
            "medium" => Some(Level::Medium),
            "high" => Some(Level::High),
            "critical" => Some(Level::Critical),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Severity {
    /// 0-100.
    pub score: u8,
    pub level: Level,
}

/// The host the alert is about.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Host {
    /// Falcon agent id (32 hex, lower case).
    pub aid: Option<String>,
    pub hostname: Option<String>,
    pub domain: Option<String>,
    pub local_ip: Option<String>,
    pub external_ip: Option<String>,
    pub mac: Option<String>,
    /// Host group ids.
    pub groups: Vec<String>,
    /// Sensor grouping tags (`FalconGroupingTags/...`).
    pub tags: Vec<String>,
    /// Further hosts the alert names (XDR, incidents): hostnames or aids.
    pub others: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// As Falcon reports it (`jdoe`, `jdoe@corp.example.com`, `CORP\jdoe`).
    pub name: Option<String>,
    pub domain: Option<String>,
    pub sid: Option<String>,
    /// Further users the alert names.
    pub others: Vec<String>,
}

/// A process in the alert's tree.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Process {
    pub file_name: Option<String>,
    pub file_path: Option<String>,
    pub command_line: Option<String>,
    pub sha256: Option<String>,
    pub md5: Option<String>,
    /// Falcon's process id (`TargetProcessId`), kept as a string: it can pass i64.
    pub process_id: Option<String>,
}

impl Process {
    pub fn is_empty(&self) -> bool {
        *self == Process::default()
    }
}

/// A network connection the alert carries (`NetworkAccesses`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    pub remote_ip: String,
    pub remote_port: Option<u16>,
    pub local_ip: Option<String>,
    pub protocol: Option<String>,
}

/// A MITRE ATT&CK entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mitre {
    pub tactic: Option<String>,
    pub tactic_id: Option<String>,
    pub technique: Option<String>,
    pub technique_id: Option<String>,
}

/// The indicator the detection matched, when it says (`IOCType`/`IOCValue`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ioc {
    pub kind: String,
    pub value: String,
}

/// Where the alert was read from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// Object key of the stream batch.
    pub object: String,
    /// Stream partition and offset (`metadata.offset`), when present.
    pub partition: Option<u32>,
    pub offset: Option<u64>,
    /// 1-based line in the batch.
    pub line: u64,
}

/// One detection, normalised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub kind: AlertKind,
    /// `metadata.eventType` as received.
    pub event_type: String,
    /// Stable id of the detection: `CompositeId`, else `DetectId`, `IncidentID`, ...;
    /// else `<eventType>:<cid>:<offset>`.
    pub id: String,
    /// Falcon's composite id of the alert (`CompositeId`; the Alerts API's
    /// `composite_id`): one alert seen on the stream and by the Alerts API
    /// poller is one occurrence. `None` for shapes without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub composite_id: Option<String>,
    /// The Falcon product that raised it, as the Alerts API names it (`epp`,
    /// `idp`, `xdr`, `ngsiem`, `data-protection`, `overwatch`, `thirdparty`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// Customer id (`metadata.customerIDString`).
    pub cid: Option<String>,
    /// Detection name (`Name`, `DetectName`, `DisplayName`, ...).
    pub name: String,
    pub description: Option<String>,
    pub pattern_id: Option<String>,
    pub severity: Severity,
    /// When the detection happened (epoch ms, UTC).
    pub time_ms: i64,
    /// First and last activity the detection covers, when it says (epoch ms).
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    pub host: Host,
    pub user: User,
    /// The process that triggered it; empty for identity/XDR/incident alerts.
    pub process: Process,
    pub parent: Process,
    pub grandparent: Process,
    /// IPs the alert names (remote addresses, IOC, source IPs), de-duplicated, in order.
    pub ips: Vec<String>,
    /// Domains the alert names (DNS requests, IOC), de-duplicated, in order.
    pub domains: Vec<String>,
    /// SHA-256 hashes the alert names beyond the process's own.
    pub hashes: Vec<String>,
    pub connections: Vec<Connection>,
    pub ioc: Option<Ioc>,
    pub mitre: Vec<Mitre>,
    /// Falcon's own objective/disposition text, when present.
    pub objective: Option<String>,
    pub disposition: Option<String>,
    /// Link to the detection in the Falcon console (`FalconHostLink`).
    pub console_url: Option<String>,
    pub origin: Origin,
    /// For `rule` alerts: the rule and what it matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<RuleMatch>,
}

/// What a `rule` alert says of its rule and the event it matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleMatch {
    pub id: String,
    pub title: String,
    /// Sigma's level, as the rule wrote it.
    pub level: String,
    pub status: Option<String>,
    pub tags: Vec<String>,
    pub falsepositives: Vec<String>,
    /// The rules file it came from.
    pub file: String,
    /// The FDR file (`bucket`, `key`) and line of the matched event.
    pub source_bucket: Option<String>,
    pub source_key: String,
    pub source_line: u64,
    pub event_simplename: Option<String>,
    /// The members that made it match: `(member, value)` (a string's
    /// content, else the exact JSON text).
    pub matched: Vec<(String, String)>,
    /// Set for an indicator-of-compromise finding: the indicator, its feed,
    /// when it was learned, how the match was found.
    pub indicator: Option<falconry_common::lake::findings::FindingIndicator>,
}

impl Alert {
    /// The first tactic, for titles and labels.
    pub fn tactic(&self) -> Option<&str> {
        self.mitre.iter().find_map(|m| m.tactic.as_deref())
    }

    pub fn technique(&self) -> Option<&str> {
        self.mitre.iter().find_map(|m| m.technique.as_deref())
    }

    /// Host name for titles: hostname, else aid, else `unknown host`.
    pub fn host_label(&self) -> &str {
        self.host
            .hostname
            .as_deref()
            .or(self.host.aid.as_deref())
            .unwrap_or("unknown host")
    }

    pub fn user_label(&self) -> &str {
        self.user.name.as_deref().unwrap_or("unknown user")
    }
}
