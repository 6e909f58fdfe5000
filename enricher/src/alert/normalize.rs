//! Falcon event → [`Alert`]: picks the alert events out of a stream batch and
//! maps every shape (EPP, the upper-case `EPP…` spelling, IDP, XDR, the legacy
//! `DetectionSummaryEvent`, incidents, configured others) onto one model:
//! `ComputerName`/`Hostname`, `SensorId`/`AgentId`, `DetectId`/`CompositeId`,
//! severity 1-5 or 0-100, epoch s/ms/ISO times, numbers sent as strings,
//! comma-joined lists or arrays.
//!
//! Pure and lenient: a missing optional field is `None`, never an error. Only
//! an event that cannot be an alert at all (not an object, no `event` body) is
//! a [`NormalizeError`], which the caller quarantines.

use super::model::*;
use serde_json::{Map, Value};

pub mod api;

/// Which event types become alerts.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Further event types to treat as alerts (`CustomerIOCEvent`, ...), exact names.
    pub extra: Vec<String>,
}

impl Selection {
    /// The alert kind of an event type, or `None` for events that are not alerts.
    pub fn kind(&self, event_type: &str) -> Option<AlertKind> {
        use falconry_common::event_types::{
            AUTOMATED_LEAD, DATA_PROTECTION, EPP, EPP_UPPER, IDP, INCIDENT, LEGACY, XDR,
        };
        match event_type {
            EPP | EPP_UPPER => Some(AlertKind::Epp),
            IDP => Some(AlertKind::Idp),
            XDR => Some(AlertKind::Xdr),
            LEGACY => Some(AlertKind::Legacy),
            INCIDENT => Some(AlertKind::Incident),
            DATA_PROTECTION => Some(AlertKind::DataProtection),
            AUTOMATED_LEAD => Some(AlertKind::Lead),
            t if self.extra.iter().any(|e| e == t) => Some(AlertKind::Other),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NormalizeError {
    #[error("line is not JSON: {0}")]
    NotJson(String),
    #[error("event is not a JSON object")]
    NotObject,
    #[error("event has no metadata.eventType")]
    NoEventType,
    #[error("Alerts API alert has no composite_id")]
    NoCompositeId,
    #[error("{event_type} event has no `event` object")]
    NoBody { event_type: String },
}

/// The event type of a stream line, cheaply, without building the alert.
pub fn event_type(event: &Value) -> Option<&str> {
    event.get("metadata")?.get("eventType")?.as_str()
}

/// Builds the alert for `event` when its type is selected; `Ok(None)` for
/// events that are not alerts.
pub fn normalize(
    event: &Value,
    selection: &Selection,
    mut origin: Origin,
) -> Result<Option<Alert>, NormalizeError> {
    let Value::Object(top) = event else {
        return Err(NormalizeError::NotObject);
    };
    let meta = top.get("metadata").and_then(Value::as_object);
    let event_type = meta
        .and_then(|m| m.get("eventType"))
        .and_then(Value::as_str)
        .ok_or(NormalizeError::NoEventType)?;
    let Some(kind) = selection.kind(event_type) else {
        return Ok(None);
    };
    let Some(e) = top.get("event").and_then(Value::as_object) else {
        return Err(NormalizeError::NoBody {
            event_type: event_type.to_owned(),
        });
    };
    let cid = meta.and_then(|m| string(m.get("customerIDString")));
    if origin.offset.is_none() {
        origin.offset = meta.and_then(|m| number_u64(m.get("offset")));
    }
    let created_ms = meta.and_then(|m| time_ms(m.get("eventCreationTime")));

    let id = first(
        e,
        &[
            "CompositeId",
            "DetectId",
            "IncidentID",
            "DetectionId",
            "LeadId",
            "Id",
        ],
    )
    .unwrap_or_else(|| {
        format!(
            "{event_type}:{}:{}",
            cid.as_deref().unwrap_or("-"),
            origin
                .offset
                .map_or_else(|| origin.line.to_string(), |o| o.to_string())
        )
    });
    let name = first(e, &["Name", "DetectName", "DisplayName", "DetectionName"])
        .unwrap_or_else(|| default_name(kind, event_type, e));
    let severity = severity(kind, e);

    let time_ms = first_time(e, &["Timestamp", "CreatedTimestamp", "UTCTimestamp"])
        .or(created_ms)
        .or_else(|| {
            first_time(
                e,
                &[
                    "ProcessStartTime",
                    "IncidentStartTime",
                    "StartTimeEpoch",
                    "StartTime",
                ],
            )
        })
        .unwrap_or(0);
    let start_ms = first_time(
        e,
        &[
            "StartTimeEpoch",
            "StartTime",
            "IncidentStartTime",
            "ProcessStartTime",
        ],
    );
    let end_ms = first_time(
        e,
        &[
            "EndTimeEpoch",
            "EndTime",
            "IncidentEndTime",
            "ProcessEndTime",
        ],
    );

    let mut host = Host {
        aid: first(
            e,
            &[
                "AgentId",
                "SensorId",
                "AgentIdString",
                "DeviceId",
                "HostID",
                "SourceEndpointSensorId",
            ],
        )
        .map(|a| a.to_ascii_lowercase()),
        hostname: first(
            e,
            &[
                "Hostname",
                "ComputerName",
                "HostName",
                "SourceEndpointHostName",
            ],
        ),
        domain: first(e, &["MachineDomain"]),
        local_ip: first(e, &["LocalIP", "SourceEndpointAddressIp4"]),
        external_ip: first(e, &["ExternalIP", "ExternalIp"]),
        mac: first(e, &["MACAddress"]),
        groups: list(e, &["HostGroups"]),
        tags: list(e, &["Tags", "SensorTags"]),
        others: Vec::new(),
    };
    // XDR, incidents and Signal's leads name several hosts.
    let mut names = list(e, &["HostNames", "SourceHosts", "HostName"]);
    let mut aids: Vec<String> = list(e, &["AgentIds", "LMHostIDs"])
        .into_iter()
        .map(|a| a.to_ascii_lowercase())
        .collect();
    if let Some(Value::Array(indicators)) = e.get("ThreatgraphIndicators") {
        for i in indicators.iter().filter_map(Value::as_object) {
            if let Some(h) = first(i, &["Hostname"]) {
                push_unique(&mut names, &h);
            }
            if let Some(a) = first(i, &["AgentId", "SensorId"]) {
                push_unique(&mut aids, &a.to_ascii_lowercase());
            }
        }
    }
    if host.hostname.is_none() && !names.is_empty() {
        host.hostname = Some(names.remove(0));
    }
    if host.aid.is_none() && !aids.is_empty() {
        host.aid = Some(aids.remove(0));
    }
    for other in names.into_iter().chain(aids) {
        if Some(&other) != host.hostname.as_ref()
            && Some(&other) != host.aid.as_ref()
            && !host.others.contains(&other)
        {
            host.others.push(other);
        }
    }

    let mut user = User {
        name: first(e, &["UserName", "SourceAccountName", "SourceAccountUpn"]),
        domain: first(e, &["LogonDomain", "SourceAccountDomain"]),
        sid: first(e, &["UserSid", "SourceAccountObjectSid"]),
        others: Vec::new(),
    };
    let mut users = list(e, &["Users", "UserNames"]);
    if user.name.is_none() && !users.is_empty() {
        user.name = Some(users.remove(0));
    }
    for u in users {
        if Some(&u) != user.name.as_ref() && !user.others.contains(&u) {
            user.others.push(u);
        }
    }

    let process = Process {
        file_name: first(e, &["FileName", "ImageFileName"]),
        file_path: first(e, &["FilePath", "ImageFilePath"]),
        command_line: first(e, &["CommandLine"]),
        sha256: hash(e, &["SHA256String", "Sha256"]),
        md5: hash(e, &["MD5String", "Md5"]),
        process_id: first(e, &["ProcessId", "TargetProcessId"]),
    };
    let parent = Process {
        file_name: first(e, &["ParentImageFileName"]),
        file_path: first(e, &["ParentImageFilePath"]),
        command_line: first(e, &["ParentCommandLine"]),
        sha256: hash(e, &["ParentSHA256String", "ParentSha256"]),
        md5: hash(e, &["ParentMD5String"]),
        process_id: first(e, &["ParentProcessId"]),
    };
    let grandparent = Process {
        file_name: first(e, &["GrandParentImageFileName", "GrandparentImageFileName"]),
        file_path: first(e, &["GrandParentImageFilePath", "GrandparentImageFilePath"]),
        command_line: first(e, &["GrandParentCommandLine", "GrandparentCommandLine"]),
        sha256: hash(e, &["GrandParentSHA256String"]),
        md5: None,
        process_id: first(e, &["GrandParentProcessId", "GrandparentProcessId"]),
    };

    let ioc = match (first(e, &["IOCType"]), first(e, &["IOCValue"])) {
        (Some(kind), Some(value)) => Some(Ioc { kind, value }),
        _ => None,
    };

    let mut connections = Vec::new();
    if let Some(Value::Array(accesses)) = e.get("NetworkAccesses") {
        for a in accesses.iter().filter_map(Value::as_object) {
            if let Some(remote_ip) = first(a, &["RemoteAddress"]) {
                connections.push(Connection {
                    remote_ip,
                    remote_port: number_u64(a.get("RemotePort"))
                        .and_then(|p| u16::try_from(p).ok()),
                    local_ip: first(a, &["LocalAddress"]),
                    protocol: first(a, &["Protocol"]),
                });
            }
        }
    }

    let mut ips = Vec::new();
    for c in &connections {
        push_unique(&mut ips, &c.remote_ip);
    }
    for ip in list(
        e,
        &[
            "SourceIps",
            "IPv4Addresses",
            "IPv6Addresses",
            "IPv4",
            "IPv6",
            "SourceEndpointAddressIp4",
        ],
    ) {
        push_unique(&mut ips, &ip);
    }
    let mut domains = Vec::new();
    // Where Data Protection saw data go (a URL's host).
    if let Some(d) = first(e, &["Destination", "DestinationUrl", "WebsiteUrl"])
        .as_deref()
        .and_then(|u| u.split_once("://"))
        .filter(|(scheme, _)| scheme.starts_with("http"))
        .and_then(|(_, rest)| rest.split(['/', ':', '?']).next().map(str::to_owned))
    {
        push_unique(&mut domains, &d);
    }
    if let Some(Value::Array(requests)) = e.get("DnsRequests") {
        for r in requests.iter().filter_map(Value::as_object) {
            if let Some(d) = first(r, &["DomainName"]) {
                push_unique(&mut domains, &d);
            }
        }
    }
    for d in list(e, &["DomainNames", "Domain", "DomainName"]) {
        push_unique(&mut domains, &d);
    }
    let mut hashes = Vec::new();
    for h in list(e, &["SHA256Hashes", "Sha256Hashes"]) {
        if is_hash(&h) && Some(&h) != process.sha256.as_ref() {
            push_unique(&mut hashes, &h.to_ascii_lowercase());
        }
    }
    if let Some(i) = &ioc {
        let v = i.value.trim();
        match i.kind.to_ascii_lowercase().as_str() {
            "ipv4" | "ipv6" => push_unique(&mut ips, v),
            "domain" => push_unique(&mut domains, v),
            "hash_sha256" | "sha256" if Some(v) != process.sha256.as_deref() => {
                push_unique(&mut hashes, &v.to_ascii_lowercase());
            }
            _ => {}
        }
    }

    // Data Protection names a file that left, not a process: the file goes
    // to the description, its hash to the alert's hashes.
    let (process, description) = if kind == AlertKind::DataProtection {
        if let Some(h) = &process.sha256 {
            push_unique(&mut hashes, h);
        }
        let file = process.file_path.clone().or(process.file_name.clone());
        let mut d = first(e, &["Description"]).unwrap_or_default();
        if let Some(f) = file {
            let size = first(e, &["FileSize"])
                .map(|s| format!(", {s} bytes"))
                .unwrap_or_default();
            let to = first(e, &["Destination", "DestinationUrl", "WebsiteUrl"])
                .map(|t| format!(" to {t}"))
                .unwrap_or_default();
            d = format!("{d} File: {f}{size}{to}.").trim().to_owned();
        }
        (Process::default(), (!d.is_empty()).then_some(d))
    } else {
        (process, first(e, &["Description", "DetectDescription"]))
    };
    Ok(Some(Alert {
        kind,
        event_type: event_type.to_owned(),
        id,
        composite_id: first(e, &["CompositeId"]),
        product: product_of(kind).map(str::to_owned),
        cid,
        name,
        description,
        pattern_id: first(e, &["PatternId", "PatternID"]),
        severity,
        time_ms,
        start_ms,
        end_ms,
        host,
        user,
        process,
        parent,
        grandparent,
        ips,
        domains,
        hashes,
        connections,
        ioc,
        mitre: mitre(e),
        objective: first(e, &["Objective"]).or_else(|| {
            // Data Protection: the policy and classification that matched.
            match (
                first(e, &["PolicyName"]),
                first(e, &["ClassificationNames"]),
            ) {
                (Some(p), Some(c)) => Some(format!("{p} ({c})")),
                (p, c) => p.or(c),
            }
        }),
        disposition: first(e, &["PatternDispositionDescription", "ResponseAction"]),
        console_url: first(e, &["FalconHostLink"]),
        origin,
        rule: None,
    }))
}

/// The Alerts API's product name of a stream detection's family.
fn product_of(kind: AlertKind) -> Option<&'static str> {
    match kind {
        AlertKind::Epp | AlertKind::Legacy => Some("epp"),
        AlertKind::Idp => Some("idp"),
        AlertKind::Xdr => Some("xdr"),
        AlertKind::DataProtection => Some("data-protection"),
        _ => None,
    }
}

fn default_name(kind: AlertKind, event_type: &str, e: &Map<String, Value>) -> String {
    match kind {
        AlertKind::Incident => match first(e, &["IncidentType"]).as_deref() {
            Some("1") | None => "Incident".into(),
            Some(t) => format!("Incident (type {t})"),
        },
        _ if event_type == falconry_common::event_types::CUSTOMER_IOC => {
            match first(e, &["IOCType", "Type"]) {
                Some(t) => format!("Custom IOC match ({t})"),
                None => "Custom IOC match".into(),
            }
        }
        _ => event_type.to_owned(),
    }
}

/// Falcon severities: 0-100 today; 1-5 in the legacy shape; incidents carry a
/// 0-10 `FineScore`. Missing → medium, so nothing is quietly downgraded.
fn severity(kind: AlertKind, e: &Map<String, Value>) -> Severity {
    let named = first(e, &["SeverityName"]).and_then(|n| Level::parse(&n));
    let raw = number_f64(e.get("Severity"));
    let score = match (kind, raw) {
        (AlertKind::Legacy, Some(s)) if (0.0..=5.0).contains(&s) => legacy_score(s),
        (_, Some(s)) if (1.0..=5.0).contains(&s) && named.is_some_and(|n| legacy_matches(s, n)) => {
            legacy_score(s)
        }
        (_, Some(s)) if (0.0..=100.0).contains(&s) => s.round() as u8,
        _ => match (named, number_f64(e.get("FineScore"))) {
            (Some(level), _) => level_score(level),
            (None, Some(f)) if (0.0..=10.0).contains(&f) => (f * 10.0).round() as u8,
            _ => 50,
        },
    };
    Severity {
        score,
        level: named.unwrap_or_else(|| Level::from_score(score)),
    }
}

fn legacy_score(s: f64) -> u8 {
    match s.round() as u8 {
        0 | 1 => 10,
        2 => 30,
        3 => 50,
        4 => 70,
        _ => 90,
    }
}

fn legacy_matches(s: f64, level: Level) -> bool {
    Level::from_score(legacy_score(s)) == level
}

pub(crate) fn level_score(level: Level) -> u8 {
    match level {
        Level::Informational => 10,
        Level::Low => 30,
        Level::Medium => 50,
        Level::High => 70,
        Level::Critical => 90,
    }
}

fn mitre(e: &Map<String, Value>) -> Vec<Mitre> {
    let mut out = Vec::new();
    if let Some(Value::Array(entries)) = e.get("MitreAttack") {
        for m in entries.iter().filter_map(Value::as_object) {
            let entry = Mitre {
                tactic: first(m, &["tactic", "Tactic"]),
                tactic_id: first(m, &["tactic_id", "TacticID", "TacticId"]),
                technique: first(m, &["technique", "Technique"]),
                technique_id: first(m, &["technique_id", "TechniqueID", "TechniqueId"]),
            };
            if entry != Mitre::default() && !out.contains(&entry) {
                out.push(entry);
            }
        }
    }
    if out.is_empty() {
        let tactics = list(e, &["Tactic", "Tactics"]);
        let techniques = list(e, &["Technique", "Techniques"]);
        for i in 0..tactics.len().max(techniques.len()) {
            out.push(Mitre {
                tactic: tactics.get(i).cloned(),
                technique: techniques.get(i).cloned(),
                ..Mitre::default()
            });
        }
    }
    let mut seen = Vec::with_capacity(out.len());
    for mut m in out {
        (m.tactic, m.tactic_id) = tactic(m.tactic.as_deref(), m.tactic_id.as_deref());
        if !seen.contains(&m) {
            seen.push(m);
        }
    }
    seen
}

/// MITRE ATT&CK's Enterprise tactics: id and name.
const TACTICS: [(&str, &str); 14] = [
    ("TA0043", "Reconnaissance"),
    ("TA0042", "Resource Development"),
    ("TA0001", "Initial Access"),
    ("TA0002", "Execution"),
    ("TA0003", "Persistence"),
    ("TA0004", "Privilege Escalation"),
    ("TA0005", "Defense Evasion"),
    ("TA0006", "Credential Access"),
    ("TA0007", "Discovery"),
    ("TA0008", "Lateral Movement"),
    ("TA0009", "Collection"),
    ("TA0011", "Command and Control"),
    ("TA0010", "Exfiltration"),
    ("TA0040", "Impact"),
];

/// One spelling per tactic: `CredentialAccess`, `credential_access` and
/// `Credential Access` (or only `TA0006`) all become MITRE's name and id, so
/// they make one label, one filter, one report row. Falcon's own tactics
/// (`Malware`, `Machine Learning`, ...) stay as written.
fn tactic(name: Option<&str>, id: Option<&str>) -> (Option<String>, Option<String>) {
    let squash = |s: &str| -> String {
        s.chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect()
    };
    let known = name
        .and_then(|n| TACTICS.iter().find(|(_, t)| squash(t) == squash(n)))
        .or_else(|| {
            id.and_then(|i| {
                TACTICS
                    .iter()
                    .find(|(t, _)| t.eq_ignore_ascii_case(i.trim()))
            })
        });
    match known {
        Some((tid, tname)) => (
            Some((*tname).to_owned()),
            Some(id.map_or_else(|| (*tid).to_owned(), |i| i.trim().to_ascii_uppercase())),
        ),
        None => (name.map(str::to_owned), id.map(str::to_owned)),
    }
}

pub(crate) fn push_unique(list: &mut Vec<String>, v: &str) {
    let v = v.trim();
    if !v.is_empty() && !list.iter().any(|x| x == v) {
        list.push(v.to_owned());
    }
}

/// A scalar as text: strings trimmed (empty → None), numbers and booleans as
/// written; arrays give their first scalar.
fn string(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => {
            let s = s.trim();
            (!s.is_empty()).then(|| s.to_owned())
        }
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Array(a) => a.iter().find_map(|x| string(Some(x))),
        _ => None,
    }
}

fn first(obj: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| string(obj.get(*k)))
}

/// Every value under the keys: arrays, or strings joined with commas.
fn list(obj: &Map<String, Value>, keys: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for k in keys {
        match obj.get(*k) {
            Some(Value::Array(a)) => {
                for x in a {
                    if let Some(s) = string(Some(x)) {
                        push_unique(&mut out, &s);
                    }
                }
            }
            Some(Value::String(s)) => {
                for part in s.split(',') {
                    push_unique(&mut out, part);
                }
            }
            Some(v @ Value::Number(_)) => {
                if let Some(s) = string(Some(v)) {
                    push_unique(&mut out, &s);
                }
            }
            _ => {}
        }
    }
    out
}

fn is_hash(s: &str) -> bool {
    matches!(s.len(), 32 | 40 | 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A hash, lower case; Falcon's all-zero placeholder is no hash.
fn hash(obj: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    let h = first(obj, keys)?;
    (is_hash(&h) && h.bytes().any(|b| b != b'0')).then(|| h.to_ascii_lowercase())
}

fn number_f64(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|f: &f64| f.is_finite())
}

fn number_u64(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn first_time(obj: &Map<String, Value>, keys: &[&str]) -> Option<i64> {
    keys.iter().find_map(|k| time_ms(obj.get(*k)))
}

/// A member's time in epoch ms, read as every daemon reads times
/// ([`falconry_common::time`]); zero is no time.
pub fn time_ms(v: Option<&Value>) -> Option<i64> {
    v.and_then(falconry_common::time::json_time_ms)
        .filter(|ms| *ms > 0)
}

#[cfg(test)]
mod tests;
