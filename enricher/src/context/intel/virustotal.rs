//! VirusTotal API v3, as data: the request for a file (`/api/v3/files/{sha256}`),
//! an address (`/api/v3/ip_addresses/{ip}`) or a domain
//! (`/api/v3/domains/{domain}`), authenticated by the `x-apikey` header, and
//! what an answer means: `data.attributes.last_analysis_stats` and
//! `reputation`; 404 `NotFoundError` = not known; 401/403 = key refused; 429
//! `QuotaExceededError` = back off (the public tier allows 4 requests a
//! minute and 500 a day).
//!
//! Verdict: 3 or more engines say malicious → `malicious`; at least one says
//! malicious or suspicious → `suspicious`; else `info` (VirusTotal never
//! vouches: "undetected" is not "safe"). The reputation is shown, not rated.
//!
//! Pure: the HTTP call is `mod.rs`'s.

use super::indicator::{Indicator, Kind};
use super::verdict::{Failure, Report, Verdict};
use reqwest::header::HeaderMap;
use serde::Deserialize;
use std::time::Duration;

pub const ID: &str = "virustotal";
pub const LABEL: &str = "VirusTotal";
pub const KEY_HEADER: &str = "x-apikey";
pub const DEFAULT_URL: &str = "https://www.virustotal.com";

/// Engines that must say malicious for a `malicious` verdict.
pub const MALICIOUS_ENGINES: u32 = 3;

/// After a 429 without `Retry-After`: the per-minute window.
const QUOTA_BACKOFF: Duration = Duration::from_secs(60);

pub fn path(i: &Indicator) -> String {
    match i.kind {
        Kind::File => format!("/api/v3/files/{}", i.value),
        Kind::Ip => format!("/api/v3/ip_addresses/{}", i.value),
        Kind::Domain => format!("/api/v3/domains/{}", i.value),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Stats {
    malicious: u32,
    suspicious: u32,
    harmless: u32,
    undetected: u32,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ThreatClassification {
    suggested_threat_label: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Attributes {
    last_analysis_stats: Option<Stats>,
    reputation: Option<i64>,
    popular_threat_classification: Option<ThreatClassification>,
    meaningful_name: Option<String>,
    as_owner: Option<String>,
    country: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Object {
    attributes: Attributes,
}

#[derive(Debug, Deserialize)]
struct Answer {
    data: Object,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Debug, Deserialize)]
struct ErrorDetail {
    code: String,
}

/// The service's error code (`WrongCredentialsError`, ...), when the body has a plausible one.
fn error_code(body: &[u8]) -> Option<String> {
    let e: ErrorBody = serde_json::from_slice(body).ok()?;
    let code = e.error.code;
    (!code.is_empty() && code.len() <= 64 && code.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then_some(code)
}

pub fn verdict(malicious: u32, suspicious: u32) -> Verdict {
    if malicious >= MALICIOUS_ENGINES {
        Verdict::Malicious
    } else if malicious > 0 || suspicious > 0 {
        Verdict::Suspicious
    } else {
        Verdict::Info
    }
}

pub fn answer(status: u16, headers: &HeaderMap, body: &[u8]) -> Result<Option<Report>, Failure> {
    match status {
        200 => {
            let a: Answer = serde_json::from_slice(body)
                .map_err(|e| Failure::Other(format!("answer is not the expected JSON: {e}")))?;
            let a = a.data.attributes;
            let s = a.last_analysis_stats.unwrap_or_default();
            let engines = s.malicious + s.suspicious + s.harmless + s.undetected;
            let label = a
                .popular_threat_classification
                .and_then(|c| c.suggested_threat_label);
            let mut data = serde_json::Map::new();
            data.insert("malicious".into(), s.malicious.into());
            data.insert("suspicious".into(), s.suspicious.into());
            data.insert("harmless".into(), s.harmless.into());
            data.insert("undetected".into(), s.undetected.into());
            data.insert("reputation".into(), a.reputation.into());
            for (k, v) in [
                ("threat_label", &label),
                ("name", &a.meaningful_name),
                ("as_owner", &a.as_owner),
                ("country", &a.country),
            ] {
                if let Some(v) = v {
                    data.insert(k.into(), v.clone().into());
                }
            }
            let mut summary = format!(
                "{} malicious, {} suspicious of {engines} engines",
                s.malicious, s.suspicious
            );
            if let Some(r) = a.reputation {
                summary.push_str(&format!("; reputation {r}"));
            }
            if let Some(l) = &label {
                summary.push_str(&format!("; {l}"));
            }
            Ok(Some(Report {
                verdict: verdict(s.malicious, s.suspicious),
                data,
                summary,
                abuse_score: None,
            }))
        }
        404 => Ok(None),
        401 | 403 => Err(Failure::KeyRefused {
            status,
            code: error_code(body),
        }),
        429 => Err(Failure::RateLimited {
            wait: super::retry_after_secs(headers).unwrap_or(QUOTA_BACKOFF),
            detail: error_code(body).unwrap_or_else(|| "QuotaExceededError".into()),
        }),
        _ => Err(Failure::Other(match error_code(body) {
            Some(code) => format!("HTTP {status} {code}"),
            None => format!("HTTP {status}"),
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_and_answers() {
        assert_eq!(verdict(3, 0), Verdict::Malicious);
        assert_eq!(verdict(2, 0), Verdict::Suspicious);
        assert_eq!(verdict(0, 1), Verdict::Suspicious);
        assert_eq!(verdict(0, 0), Verdict::Info);
        let body = br#"{"data":{"id":"x","type":"file","links":{"self":"u"},"attributes":{
            "last_analysis_stats":{"harmless":0,"type-unsupported":4,"suspicious":0,"confirmed-timeout":0,"timeout":0,"failure":0,"malicious":52,"undetected":14},
            "reputation":-37,"meaningful_name":"mimikatz.exe",
            "popular_threat_classification":{"suggested_threat_label":"hacktool.mimikatz/marte"}}}}"#;
        let r = answer(200, &HeaderMap::new(), body).unwrap().unwrap();
        assert_eq!(r.verdict, Verdict::Malicious);
        assert_eq!(r.data["malicious"], 52);
        assert_eq!(
            r.summary,
            "52 malicious, 0 suspicious of 66 engines; reputation -37; hacktool.mimikatz/marte"
        );
        assert_eq!(answer(404, &HeaderMap::new(), b"{}"), Ok(None));
        let refused = br#"{"error":{"code":"WrongCredentialsError","message":"Wrong API key"}}"#;
        assert_eq!(
            answer(401, &HeaderMap::new(), refused),
            Err(Failure::KeyRefused {
                status: 401,
                code: Some("WrongCredentialsError".into())
            })
        );
        let quota = br#"{"error":{"code":"QuotaExceededError","message":"Quota exceeded"}}"#;
        assert_eq!(
            answer(429, &HeaderMap::new(), quota),
            Err(Failure::RateLimited {
                wait: QUOTA_BACKOFF,
                detail: "QuotaExceededError".into()
            })
        );
        assert!(matches!(
            answer(200, &HeaderMap::new(), b"<html>"),
            Err(Failure::Other(_))
        ));
    }
}
