//! AbuseIPDB API v2, as data: `GET /api/v2/check?ipAddress=<ip>&maxAgeInDays=<n>`
//! with the `Key` and `Accept: application/json` headers, and what an answer
//! means: `data.abuseConfidenceScore` (0-100), `countryCode`, `isp`,
//! `totalReports`; 401/403 = key refused; 429 = limit reached (`Retry-After`
//! seconds, `X-RateLimit-Remaining` 0 when the daily budget is spent: 1,000
//! checks a day on the free plan). Addresses only.
//!
//! Verdict: confidence ≥ 75 → `malicious`; ≥ 25 → `suspicious`; an address
//! AbuseIPDB allow-lists (`isWhitelisted`) → `safe`; else `info`.
//!
//! Pure: the HTTP call is `mod.rs`'s.

use super::verdict::{Failure, Report, Verdict};
use reqwest::header::HeaderMap;
use serde::Deserialize;
use std::time::Duration;

pub const ID: &str = "abuseipdb";
pub const LABEL: &str = "AbuseIPDB";
pub const KEY_HEADER: &str = "Key";
pub const DEFAULT_URL: &str = "https://api.abuseipdb.com";

pub const MALICIOUS_FROM: u8 = 75;
pub const SUSPICIOUS_FROM: u8 = 25;

/// After a 429 that says nothing about when to come back.
const LIMIT_BACKOFF: Duration = Duration::from_secs(600);

/// `ip` is a parsed address: nothing to escape.
pub fn path(ip: &str, max_age_days: u16) -> String {
    format!("/api/v2/check?ipAddress={ip}&maxAgeInDays={max_age_days}")
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Check {
    abuse_confidence_score: Option<u8>,
    country_code: Option<String>,
    isp: Option<String>,
    usage_type: Option<String>,
    domain: Option<String>,
    is_tor: Option<bool>,
    is_whitelisted: Option<bool>,
    total_reports: Option<u64>,
    num_distinct_users: Option<u64>,
    last_reported_at: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Answer {
    data: Check,
}

pub fn verdict(score: u8, allow_listed: bool) -> Verdict {
    if score >= MALICIOUS_FROM {
        Verdict::Malicious
    } else if score >= SUSPICIOUS_FROM {
        Verdict::Suspicious
    } else if allow_listed {
        Verdict::Safe
    } else {
        Verdict::Info
    }
}

pub fn answer(status: u16, headers: &HeaderMap, body: &[u8]) -> Result<Option<Report>, Failure> {
    match status {
        200 => {
            let a: Answer = serde_json::from_slice(body)
                .map_err(|e| Failure::Other(format!("answer is not the expected JSON: {e}")))?;
            let c = a.data;
            let Some(score) = c.abuse_confidence_score else {
                return Ok(None);
            };
            let allow_listed = c.is_whitelisted == Some(true);
            let mut data = serde_json::Map::new();
            data.insert("score".into(), score.into());
            data.insert("country_code".into(), c.country_code.clone().into());
            data.insert("isp".into(), c.isp.clone().into());
            data.insert("usage_type".into(), c.usage_type.into());
            data.insert("domain".into(), c.domain.into());
            data.insert("is_tor".into(), c.is_tor.into());
            data.insert("is_whitelisted".into(), c.is_whitelisted.into());
            data.insert("total_reports".into(), c.total_reports.into());
            data.insert("distinct_reporters".into(), c.num_distinct_users.into());
            data.insert("last_reported_at".into(), c.last_reported_at.into());
            let mut summary = format!(
                "confidence {score}%, {} report(s)",
                c.total_reports.unwrap_or(0)
            );
            for part in [&c.country_code, &c.isp].into_iter().flatten() {
                summary.push_str(&format!("; {part}"));
            }
            if c.is_tor == Some(true) {
                summary.push_str("; Tor exit");
            }
            if allow_listed {
                summary.push_str("; allow-listed");
            }
            Ok(Some(Report {
                verdict: verdict(score, allow_listed),
                data,
                summary,
                abuse_score: Some(score),
            }))
        }
        401 | 403 => Err(Failure::KeyRefused { status, code: None }),
        429 => {
            let spent = headers
                .get("X-RateLimit-Remaining")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.trim() == "0");
            Err(Failure::RateLimited {
                wait: super::retry_after_secs(headers).unwrap_or(LIMIT_BACKOFF),
                detail: if spent {
                    "the daily limit is spent (X-RateLimit-Remaining: 0)".into()
                } else {
                    "too many requests".into()
                },
            })
        }
        404 => Ok(None),
        422 => Err(Failure::Other("the address was refused (HTTP 422)".into())),
        _ => Err(Failure::Other(format!("HTTP {status}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_and_answers() {
        assert_eq!(verdict(75, false), Verdict::Malicious);
        assert_eq!(verdict(74, true), Verdict::Suspicious);
        assert_eq!(verdict(25, false), Verdict::Suspicious);
        assert_eq!(verdict(0, true), Verdict::Safe);
        assert_eq!(verdict(24, false), Verdict::Info);
        let body = br#"{"data":{"ipAddress":"185.220.101.1","isPublic":true,"ipVersion":4,"isWhitelisted":false,
            "abuseConfidenceScore":100,"countryCode":"DE","usageType":"Reserved","isp":"Zwiebelfreunde e.V.",
            "domain":"torservers.net","hostnames":[],"isTor":true,"totalReports":2345,"numDistinctUsers":321,
            "lastReportedAt":"2026-03-14T09:00:00+00:00"}}"#;
        let r = answer(200, &HeaderMap::new(), body).unwrap().unwrap();
        assert_eq!(r.abuse_score, Some(100));
        assert_eq!(r.verdict, Verdict::Malicious);
        assert_eq!(r.data["country_code"], "DE");
        assert_eq!(
            r.summary,
            "confidence 100%, 2345 report(s); DE; Zwiebelfreunde e.V.; Tor exit"
        );
        let mut h = HeaderMap::new();
        h.insert("Retry-After", "3600".parse().unwrap());
        h.insert("X-RateLimit-Remaining", "0".parse().unwrap());
        let limited = br#"{"errors":[{"detail":"Daily rate limit of 1000 requests exceeded for this endpoint.","status":429}]}"#;
        assert_eq!(
            answer(429, &h, limited),
            Err(Failure::RateLimited {
                wait: Duration::from_secs(3600),
                detail: "the daily limit is spent (X-RateLimit-Remaining: 0)".into()
            })
        );
        assert_eq!(
            answer(401, &HeaderMap::new(), b"{}"),
            Err(Failure::KeyRefused {
                status: 401,
                code: None
            })
        );
    }
}
