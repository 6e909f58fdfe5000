//! The context gathered for one alert, one section per provider (DNS, GeoIP,
//! Falcon host, intel, directory, lake history). Providers fill it (issue #6);
//! the policy reads `data`, the renderer shows `table` and `notes`.
//!
//! Pure data. Every string in a section may come from the attacker (a PTR
//! record, a WHOIS name): the renderer escapes all of it.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Enrichment {
    pub sections: Vec<Section>,
}

impl Enrichment {
    /// The policy's `input.enrichment`: `{<provider>: {status, reason, data}}`.
    pub fn policy_input(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        for s in &self.sections {
            map.insert(
                s.provider.clone(),
                serde_json::json!({
                    "status": s.status.as_str(),
                    "reason": s.status.reason(),
                    "data": s.data,
                }),
            );
        }
        serde_json::Value::Object(map)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Section {
    /// Short id: `dns`, `geoip`, `falcon_host`, `intel`, `directory`, `history`.
    pub provider: String,
    /// Heading in the issue: `DNS`, `GeoIP / ASN`, ...
    pub title: String,
    pub status: Status,
    pub table: Table,
    /// Free lines under the table (summaries, counts).
    pub notes: Vec<String>,
    /// Structured result for the policy.
    pub data: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", content = "reason", rename_all = "snake_case")]
pub enum Status {
    Available,
    /// Provider switched off in the configuration.
    Off,
    /// Looked up, nothing known.
    NotFound,
    /// Lookup failed or timed out (the reason, never a secret).
    Failed(String),
}

impl Status {
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Available => "available",
            Status::Off => "off",
            Status::NotFound => "not_found",
            Status::Failed(_) => "failed",
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            Status::Failed(r) => Some(r),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}
