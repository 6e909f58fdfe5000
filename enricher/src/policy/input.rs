//! The policy's input: `{alert, enrichment}` for an alert, what `falconry
//! policy eval` reads from a file, and the sample alert every policy must
//! decide on at load.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::PolicyError;
use crate::alert::normalize::{Selection, event_type, normalize};
use crate::alert::{
    Alert, AlertKind, Enrichment, Host, Level, Mitre, Origin, Process, Severity, User,
};

/// The policy's input: `{"alert": <Alert as JSON>, "enrichment": {<provider>:
/// {status, reason, data}}}`.
pub fn input(alert: &Alert, enrichment: &Enrichment) -> Value {
    // Serialising the model cannot fail (derived, string keys only); a null
    // alert would make the policy fail and `decide` fall back.
    let alert = serde_json::to_value(alert).unwrap_or(Value::Null);
    serde_json::json!({ "alert": alert, "enrichment": enrichment.policy_input() })
}

/// The policy input for `falconry policy eval --input FILE`, from what the
/// file holds: a Falcon event (one stream line; `event_types` are the
/// configured extra alert types), a normalised alert, or a whole input
/// `{alert, enrichment}`. A hand-written alert is read with the model's serde
/// (unknown keys ignored, a missing optional field is null, a missing
/// required one is an error) and written back, so the policy sees exactly
/// what the daemon would give it.
pub fn eval_input(value: &Value, event_types: &[String]) -> Result<Value, PolicyError> {
    let not_an_alert = |message: String| PolicyError::NotAnAlert { message };
    let Some(obj) = value.as_object() else {
        return Err(not_an_alert("the input is not a JSON object".into()));
    };
    if let Some(alert) = obj.get("alert") {
        let alert = Alert::deserialize(alert).map_err(|e| not_an_alert(format!("alert: {e}")))?;
        let enrichment = match obj.get("enrichment") {
            None => Value::Object(Map::new()),
            Some(e @ Value::Object(_)) => e.clone(),
            Some(other) => {
                return Err(not_an_alert(format!(
                    "enrichment: must be an object ({{<provider>: {{status, reason, data}}}}), got {}",
                    type_name(other)
                )));
            }
        };
        let alert = serde_json::to_value(&alert).map_err(|e| not_an_alert(e.to_string()))?;
        return Ok(serde_json::json!({ "alert": alert, "enrichment": enrichment }));
    }
    if obj.contains_key("metadata") {
        let selection = Selection {
            extra: event_types.to_vec(),
        };
        let origin = Origin {
            object: "<input>".into(),
            line: 1,
            ..Origin::default()
        };
        return match normalize(value, &selection, origin) {
            Ok(Some(alert)) => Ok(input(&alert, &Enrichment::default())),
            Ok(None) => Err(not_an_alert(format!(
                "event type {:?} is not an alert type (extra types go in enricher.event_types)",
                event_type(value).unwrap_or_default()
            ))),
            Err(e) => Err(not_an_alert(e.to_string())),
        };
    }
    let alert = Alert::deserialize(value).map_err(|e| {
        not_an_alert(format!(
            "neither a Falcon event (no metadata), nor {{alert, enrichment}}, nor an alert ({e})"
        ))
    })?;
    Ok(input(&alert, &Enrichment::default()))
}

/// The input every policy must decide on at load: an ordinary EPP detection
/// with no enrichment.
pub(super) fn sample_input() -> Value {
    input(&sample_alert(), &Enrichment::default())
}

pub(super) fn sample_alert() -> Alert {
    Alert {
        kind: AlertKind::Epp,
        event_type: "EppDetectionSummaryEvent".into(),
        id: "ldt:00000000000000000000000000000000:1".into(),
        composite_id: None,
        product: None,
        cid: Some("00000000000000000000000000000000".into()),
        name: "Sample detection".into(),
        description: Some("The sample alert the policy is checked against at load.".into()),
        pattern_id: Some("10000".into()),
        severity: Severity {
            score: 50,
            level: Level::Medium,
        },
        time_ms: 1_700_000_000_000,
        start_ms: None,
        end_ms: None,
        host: Host {
            aid: Some("00000000000000000000000000000000".into()),
            hostname: Some("sample-host".into()),
            ..Host::default()
        },
        user: User {
            name: Some("sample-user".into()),
            ..User::default()
        },
        process: Process {
            file_name: Some("sample.exe".into()),
            ..Process::default()
        },
        parent: Process::default(),
        grandparent: Process::default(),
        ips: Vec::new(),
        domains: Vec::new(),
        hashes: Vec::new(),
        connections: Vec::new(),
        ioc: None,
        mitre: vec![Mitre {
            tactic: Some("Execution".into()),
            tactic_id: Some("TA0002".into()),
            technique: Some("Command and Scripting Interpreter".into()),
            technique_id: Some("T1059".into()),
        }],
        objective: None,
        disposition: None,
        console_url: None,
        origin: Origin::default(),
        rule: None,
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
