//! GreyNoise's community API, as data: `GET /v3/community/{ip}` (IPv4), with
//! the `key` header when a key is configured (the community API also answers
//! without one, with a lower limit), and what an answer means:
//! `classification` (benign / malicious / unknown), `noise` (seen scanning
//! the internet), `riot` (a known business service), `name`; 404 = not seen
//! by GreyNoise (an answer, not an error); 401/403 = key refused; 429 = limit
//! reached.
//!
//! Verdict: `malicious` → `malicious`; `benign`, or in RIOT → `safe`; else
//! `info` (noise of unknown intent is not rated).
//!
//! Pure: the HTTP call is `mod.rs`'s.

use super::verdict::{Failure, Report, Verdict};
use reqwest::header::HeaderMap;
use serde::Deserialize;
use std::time::Duration;

pub const ID: &str = "greynoise";
pub const LABEL: &str = "GreyNoise";
pub const KEY_HEADER: &str = "key";
pub const DEFAULT_URL: &str = "https://api.greynoise.io";

/// After a 429 that says nothing about when to come back.
const LIMIT_BACKOFF: Duration = Duration::from_secs(600);

/// `ip` is a parsed IPv4 address: nothing to escape.
pub fn path(ip: &str) -> String {
    format!("/v3/community/{ip}")
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Answer {
    noise: Option<bool>,
    riot: Option<bool>,
    classification: Option<String>,
    name: Option<String>,
    link: Option<String>,
    last_seen: Option<String>,
}

pub fn verdict(classification: Option<&str>, riot: bool) -> Verdict {
    match classification.map(str::to_ascii_lowercase).as_deref() {
        Some("malicious") => Verdict::Malicious,
        Some("benign") => Verdict::Safe,
        _ if riot => Verdict::Safe,
        _ => Verdict::Info,
    }
}

pub fn answer(status: u16, headers: &HeaderMap, body: &[u8]) -> Result<Option<Report>, Failure> {
    match status {
        200 => {
            let a: Answer = serde_json::from_slice(body)
                .map_err(|e| Failure::Other(format!("answer is not the expected JSON: {e}")))?;
            let riot = a.riot == Some(true);
            let noise = a.noise == Some(true);
            let verdict = verdict(a.classification.as_deref(), riot);
            let mut summary = a
                .classification
                .clone()
                .unwrap_or_else(|| "unclassified".into());
            if let Some(n) = &a.name
                && !n.is_empty()
                && n != "unknown"
            {
                summary.push_str(&format!(" ({n})"));
            }
            if noise {
                summary.push_str("; scanning the internet");
            }
            if riot {
                summary.push_str("; known business service (RIOT)");
            }
            let mut data = serde_json::Map::new();
            data.insert("classification".into(), a.classification.into());
            data.insert("noise".into(), noise.into());
            data.insert("riot".into(), riot.into());
            data.insert("name".into(), a.name.into());
            data.insert("last_seen".into(), a.last_seen.into());
            data.insert("link".into(), a.link.into());
            Ok(Some(Report {
                verdict,
                data,
                summary,
                abuse_score: None,
            }))
        }
        404 => Ok(None),
        401 | 403 => Err(Failure::KeyRefused { status, code: None }),
        429 => Err(Failure::RateLimited {
            wait: super::retry_after_secs(headers).unwrap_or(LIMIT_BACKOFF),
            detail: "the plan's limit is reached".into(),
        }),
        400 => Err(Failure::Other("the address was refused (HTTP 400)".into())),
        _ => Err(Failure::Other(format!("HTTP {status}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_and_answers() {
        assert_eq!(verdict(Some("malicious"), false), Verdict::Malicious);
        assert_eq!(verdict(Some("benign"), false), Verdict::Safe);
        assert_eq!(verdict(Some("unknown"), true), Verdict::Safe);
        assert_eq!(verdict(Some("unknown"), false), Verdict::Info);
        let body = br#"{"ip":"8.8.8.8","noise":false,"riot":true,"classification":"benign",
            "name":"Google Public DNS","link":"https://viz.greynoise.io/riot/8.8.8.8",
            "last_seen":"2026-03-13","message":"Success"}"#;
        let r = answer(200, &HeaderMap::new(), body).unwrap().unwrap();
        assert_eq!(r.verdict, Verdict::Safe);
        assert_eq!(
            r.summary,
            "benign (Google Public DNS); known business service (RIOT)"
        );
        let unseen = br#"{"ip":"81.2.69.160","noise":false,"riot":false,"message":"IP not observed scanning the internet or contained in RIOT data set."}"#;
        assert_eq!(answer(404, &HeaderMap::new(), unseen), Ok(None));
    }
}
