//! An alert as Falcon's Alerts API holds it (`/alerts/combined/alerts/v1`,
//! `/alerts/entities/alerts/v2`: snake_case members, the host under
//! `device`, the parent under `parent_details`) → [`Alert`]. The same
//! detection read from the stream gives the same fingerprint (pattern id,
//! host aid, process hash) and the same composite id, so it joins the same
//! case.
//!
//! Pure and lenient like the stream's normaliser; an alert without a
//! `composite_id` is a [`NormalizeError`].

use super::*;

/// The `event_type` of alerts read from the Alerts API.
pub const EVENT_TYPE: &str = "AlertsApi";

/// The alert family of an Alerts API `product`.
pub fn kind_of(product: &str) -> AlertKind {
    match product {
        "epp" => AlertKind::Epp,
        "idp" => AlertKind::Idp,
        "xdr" => AlertKind::Xdr,
        "data-protection" => AlertKind::DataProtection,
        _ => AlertKind::Other,
    }
}

pub fn normalize_api(v: &Value) -> Result<Alert, NormalizeError> {
    let e = v.as_object().ok_or(NormalizeError::NotObject)?;
    let composite = first(e, &["composite_id"]).ok_or(NormalizeError::NoCompositeId)?;
    let product = first(e, &["product"]).unwrap_or_else(|| "unknown".into());
    let kind = kind_of(&product);
    let empty = Map::new();
    let device = e.get("device").and_then(Value::as_object).unwrap_or(&empty);
    let parent = e
        .get("parent_details")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let grandparent = e
        .get("grandparent_details")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let named = first(e, &["severity_name"]).and_then(|n| Level::parse(&n));
    let score = number_f64(e.get("severity"))
        .filter(|s| (0.0..=100.0).contains(s))
        .map(|s| s.round() as u8)
        .or(named.map(level_score))
        .unwrap_or(50);
    let time_ms =
        first_time(e, &["timestamp", "created_timestamp", "updated_timestamp"]).unwrap_or(0);
    let process = Process {
        file_name: first(e, &["filename"]),
        file_path: first(e, &["filepath"]),
        command_line: first(e, &["cmdline"]),
        sha256: hash(e, &["sha256"]),
        md5: hash(e, &["md5"]),
        process_id: first(e, &["local_process_id", "process_id"]),
    };
    let mut mitre = Vec::new();
    let m = Mitre {
        tactic: first(e, &["tactic"]),
        tactic_id: first(e, &["tactic_id"]),
        technique: first(e, &["technique"]),
        technique_id: first(e, &["technique_id"]),
    };
    if m != Mitre::default() {
        let (tactic, tactic_id) = tactic(m.tactic.as_deref(), m.tactic_id.as_deref());
        mitre.push(Mitre {
            tactic,
            tactic_id,
            ..m
        });
    }
    let mut ips = Vec::new();
    for ip in list(e, &["source_endpoint_address_ip4", "source_ips"]) {
        push_unique(&mut ips, &ip);
    }
    Ok(Alert {
        kind,
        event_type: EVENT_TYPE.to_owned(),
        id: composite.clone(),
        composite_id: Some(composite),
        product: Some(product),
        cid: first(e, &["cid"]),
        name: first(e, &["display_name", "name", "scenario"])
            .unwrap_or_else(|| "Falcon alert".into()),
        description: first(e, &["description"]),
        pattern_id: first(e, &["pattern_id"]),
        severity: Severity {
            score,
            level: named.unwrap_or_else(|| Level::from_score(score)),
        },
        time_ms,
        start_ms: first_time(e, &["start_time", "first_behavior"]),
        end_ms: first_time(e, &["end_time", "last_behavior"]),
        host: Host {
            aid: first(device, &["device_id"])
                .or_else(|| first(e, &["agent_id"]))
                .map(|a| a.to_ascii_lowercase()),
            hostname: first(device, &["hostname"])
                .or_else(|| first(e, &["source_endpoint_host_name", "hostname"])),
            domain: first(device, &["machine_domain"]),
            local_ip: first(device, &["local_ip"]),
            external_ip: first(device, &["external_ip"]),
            mac: first(device, &["mac_address"]),
            groups: list(device, &["groups"]),
            tags: list(device, &["tags"]),
            others: Vec::new(),
        },
        user: User {
            name: first(e, &["user_name", "source_account_name", "user_principal"]),
            domain: first(e, &["logon_domain", "source_account_domain"]),
            sid: first(e, &["user_id", "source_account_object_sid"]),
            others: Vec::new(),
        },
        process,
        parent: Process {
            file_name: first(parent, &["filename"]),
            file_path: first(parent, &["filepath"]),
            command_line: first(parent, &["cmdline"]),
            sha256: hash(parent, &["sha256"]),
            md5: hash(parent, &["md5"]),
            process_id: first(parent, &["local_process_id", "process_id"]),
        },
        grandparent: Process {
            file_name: first(grandparent, &["filename"]),
            file_path: first(grandparent, &["filepath"]),
            command_line: first(grandparent, &["cmdline"]),
            sha256: hash(grandparent, &["sha256"]),
            md5: hash(grandparent, &["md5"]),
            process_id: first(grandparent, &["local_process_id", "process_id"]),
        },
        ips,
        domains: Vec::new(),
        hashes: Vec::new(),
        connections: Vec::new(),
        ioc: match (first(e, &["ioc_type"]), first(e, &["ioc_value"])) {
            (Some(kind), Some(value)) => Some(Ioc { kind, value }),
            _ => None,
        },
        mitre,
        objective: first(e, &["objective"]),
        disposition: first(e, &["pattern_disposition_description"]),
        console_url: first(e, &["falcon_host_link"]),
        origin: Origin {
            object: "alerts-api".into(),
            partition: None,
            offset: None,
            line: 0,
        },
        rule: None,
    })
}

/// The alert's status in Falcon (`new`, `in_progress`, `closed`, `reopened`).
pub fn status(v: &Value) -> Option<&str> {
    v.get("status").and_then(Value::as_str)
}

/// When Falcon last changed the alert (as written, RFC 3339).
pub fn updated(v: &Value) -> Option<&str> {
    v.get("updated_timestamp").and_then(Value::as_str)
}

/// The alert's tags.
pub fn tags(v: &Value) -> Vec<String> {
    v.as_object()
        .map(|o| list(o, &["tags"]))
        .unwrap_or_default()
}
