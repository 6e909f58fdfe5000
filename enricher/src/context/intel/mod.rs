//! The `intel` provider ("Threat intel"): every configured service —
//! VirusTotal (`virustotal.rs`), AbuseIPDB (`abuseipdb.rs`), GreyNoise
//! (`greynoise.rs`) — asked at once about the alert's public indicators, and
//! their answers merged into one section on one verdict scale
//! (`verdict.rs`); `indicator.rs` decides what may be sent out. The policy
//! reads `{verdict, abuseipdb_score, indicators: {<value>: {kind, verdict,
//! virustotal, abuseipdb, greynoise}}}`.
//!
//! This file does the I/O, once for all services: each service has its own
//! cache (answers and "not known" kept, errors not), its own per-minute rate
//! and daily budget (`Limiter`, a `budget_left` gauge), its own time limit (a
//! dead service costs its column, not the section), and holds further calls
//! after a 429 (as long as the service asks) or a refused key (5 minutes).
//! It must not send anything internal (private or reserved addresses, the
//! host's names; `indicator::pick` decides), and an API key never reaches a
//! URL, a log line or a failure reason: keys go in headers only.

mod abuseipdb;
mod greynoise;
mod indicator;
mod verdict;
mod virustotal;

pub use indicator::{Indicator, Kind, Picked, external_domain, is_public, pick};
pub use verdict::Verdict;

use super::cache::LookupCache;
use super::limit::Limiter;
use super::{Found, LookupError, Provider};
use crate::alert::Alert;
use falconry_common::Secret;
use falconry_common::http::Hold;
use futures::future::BoxFuture;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use reqwest::header::HeaderMap;
use serde::Deserialize;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;
use verdict::{Column, Failure, Outcome, Report};

/// `[enricher.context.intel]`: threat intelligence. A service is asked when
/// its key is set (GreyNoise also without one, when `greynoise_without_key`).
/// Keys are best set in the environment, e.g.
/// `FALCONRY__ENRICHER__CONTEXT__INTEL__VIRUSTOTAL_KEY`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntelConfig {
    /// Ask threat-intel services at all. Default `true` (a service without a key is not asked).
    pub enabled: bool,
    /// VirusTotal API key (`x-apikey`; never logged). Default: none (VirusTotal not asked).
    pub virustotal_key: Option<Secret>,
    /// VirusTotal base URL (proxies, tests). Default `https://www.virustotal.com`.
    pub virustotal_url: String,
    /// VirusTotal requests in any 60 s. Default 4 (the public API).
    pub virustotal_per_minute: u32,
    /// VirusTotal requests a UTC day; 0 = no daily budget. Default 500 (the public API).
    pub virustotal_per_day: u32,
    /// AbuseIPDB API v2 key (`Key`; never logged). Default: none (AbuseIPDB not asked).
    pub abuseipdb_key: Option<Secret>,
    /// AbuseIPDB base URL. Default `https://api.abuseipdb.com`.
    pub abuseipdb_url: String,
    /// AbuseIPDB checks in any 60 s. Default 60.
    pub abuseipdb_per_minute: u32,
    /// AbuseIPDB checks a UTC day; 0 = no daily budget. Default 1000 (the free plan).
    pub abuseipdb_per_day: u32,
    /// Reports older than this many days are not counted (1-365). Default 90.
    pub abuseipdb_max_age_days: u16,
    /// GreyNoise API key (`key`; never logged). Default: none.
    pub greynoise_key: Option<Secret>,
    /// Ask GreyNoise's community API without a key (lower limits). Default `false`.
    pub greynoise_without_key: bool,
    /// GreyNoise base URL. Default `https://api.greynoise.io`.
    pub greynoise_url: String,
    /// GreyNoise lookups in any 60 s. Default 10.
    pub greynoise_per_minute: u32,
    /// GreyNoise lookups a UTC day; 0 = no daily budget. Default 50 (set your plan's).
    pub greynoise_per_day: u32,
    /// The longest one service may take for one indicator, waiting for a rate-limit slot
    /// included; keep it below the context deadline. Default `4s`.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// How long an answer is reused. Default `6h`.
    #[serde(with = "humantime_serde")]
    pub found_ttl: Duration,
    /// How long "not known" (404) is reused. Default `1h`.
    #[serde(with = "humantime_serde")]
    pub missing_ttl: Duration,
    /// Answers kept per service. Default 10000.
    pub cache_capacity: u64,
    /// Indicators looked up per alert (1-100). Default 20.
    pub max_indicators: usize,
    /// Domain suffixes never sent (`corp.example.com`), besides the host's own domain and
    /// internal top-level names (`.local`, `.corp`, `.internal`, ...). Default: none.
    pub internal_domains: Vec<String>,
}

impl Default for IntelConfig {
    fn default() -> Self {
        IntelConfig {
            enabled: true,
            virustotal_key: None,
            virustotal_url: virustotal::DEFAULT_URL.into(),
            virustotal_per_minute: 4,
            virustotal_per_day: 500,
            abuseipdb_key: None,
            abuseipdb_url: abuseipdb::DEFAULT_URL.into(),
            abuseipdb_per_minute: 60,
            abuseipdb_per_day: 1000,
            abuseipdb_max_age_days: 90,
            greynoise_key: None,
            greynoise_without_key: false,
            greynoise_url: greynoise::DEFAULT_URL.into(),
            greynoise_per_minute: 10,
            greynoise_per_day: 50,
            timeout: Duration::from_secs(4),
            found_ttl: Duration::from_secs(6 * 3600),
            missing_ttl: Duration::from_secs(3600),
            cache_capacity: 10_000,
            max_indicators: 20,
            internal_domains: Vec::new(),
        }
    }
}

const KEY: &str = "enricher.context.intel";

/// After a refused key, calls to that service stop for this long.
const KEY_PAUSE: Duration = Duration::from_secs(300);

/// The provider, or `None` when switched off or no service is configured.
/// Registers `falconry_enricher_context_intel_budget_left{service}`.
pub fn build(
    config: &IntelConfig,
    http: reqwest::Client,
    registry: &mut Registry,
) -> Result<Option<Arc<dyn Provider>>, String> {
    if !config.enabled {
        return Ok(None);
    }
    let c = config;
    let mut problems = Vec::new();
    let key = |k: &Option<Secret>| k.clone().filter(|s| !s.expose().trim().is_empty());
    // (service, key, asked without a key, base URL, per minute, per day, config prefix)
    let wanted = [
        (
            Api::VirusTotal,
            key(&c.virustotal_key),
            false,
            &c.virustotal_url,
            c.virustotal_per_minute,
            c.virustotal_per_day,
            "virustotal",
        ),
        (
            Api::AbuseIpdb {
                max_age_days: c.abuseipdb_max_age_days,
            },
            key(&c.abuseipdb_key),
            false,
            &c.abuseipdb_url,
            c.abuseipdb_per_minute,
            c.abuseipdb_per_day,
            "abuseipdb",
        ),
        (
            Api::GreyNoise,
            key(&c.greynoise_key),
            c.greynoise_without_key,
            &c.greynoise_url,
            c.greynoise_per_minute,
            c.greynoise_per_day,
            "greynoise",
        ),
    ];
    for (_, _, _, url, per_minute, _, name) in &wanted {
        if let Err(e) = falconry_common::http::http_url(url) {
            problems.push(format!("{KEY}.{name}_url: {e}"));
        }
        if *per_minute == 0 {
            problems.push(format!("{KEY}.{name}_per_minute: must be at least 1"));
        }
    }
    if !(1..=365).contains(&c.abuseipdb_max_age_days) {
        problems.push(format!("{KEY}.abuseipdb_max_age_days: must be 1 to 365"));
    }
    if c.timeout.is_zero() || c.timeout > Duration::from_secs(600) {
        problems.push(format!(
            "{KEY}.timeout: must be more than 0 and at most 10m"
        ));
    }
    if !(1..=100).contains(&c.max_indicators) {
        problems.push(format!("{KEY}.max_indicators: must be 1 to 100"));
    }
    if c.cache_capacity == 0 {
        problems.push(format!("{KEY}.cache_capacity: must be at least 1"));
    }
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    let budget_left = Family::<[(&'static str, &'static str); 1], Gauge>::default();
    let mut services = Vec::new();
    for (api, key, without_key, url, per_minute, per_day, _) in wanted {
        if key.is_none() && !without_key {
            continue;
        }
        let per_day = (per_day > 0).then_some(per_day);
        let gauge = per_day.map(|d| {
            let g = budget_left
                .get_or_create(&[("service", api.column().id)])
                .clone();
            g.set(i64::from(d));
            g
        });
        services.push(Service {
            api,
            base_url: url.trim_end_matches('/').to_owned(),
            key,
            limiter: Limiter::new(per_minute, per_day),
            cache: LookupCache::new(c.cache_capacity, c.found_ttl, c.missing_ttl),
            hold: Hold::default(),
            budget_left: gauge,
            timeout: c.timeout,
        });
    }
    if services.is_empty() {
        return Ok(None);
    }
    registry
        .sub_registry_with_prefix("falconry_enricher_context_intel")
        .register(
            "budget_left",
            "Requests left today in each threat-intel service's daily budget",
            budget_left,
        );
    Ok(Some(Arc::new(Intel {
        services,
        http,
        internal_domains: c.internal_domains.clone(),
        max_indicators: c.max_indicators,
    })))
}

/// What a rate-limited answer asks to wait ([`falconry_common::http::retry_after`]), at most a day.
fn retry_after_secs(headers: &HeaderMap) -> Option<Duration> {
    falconry_common::http::retry_after(headers).map(|d| d.min(Duration::from_secs(86_400)))
}

#[derive(Debug, Clone, Copy)]
enum Api {
    VirusTotal,
    AbuseIpdb { max_age_days: u16 },
    GreyNoise,
}

impl Api {
    fn column(self) -> Column {
        let (id, label) = match self {
            Api::VirusTotal => (virustotal::ID, virustotal::LABEL),
            Api::AbuseIpdb { .. } => (abuseipdb::ID, abuseipdb::LABEL),
            Api::GreyNoise => (greynoise::ID, greynoise::LABEL),
        };
        Column { id, label }
    }

    fn key_header(self) -> &'static str {
        match self {
            Api::VirusTotal => virustotal::KEY_HEADER,
            Api::AbuseIpdb { .. } => abuseipdb::KEY_HEADER,
            Api::GreyNoise => greynoise::KEY_HEADER,
        }
    }

    /// The request path for `i`, or `None` when the service does not take its kind.
    fn path(self, i: &Indicator) -> Option<String> {
        match (self, i.kind) {
            (Api::VirusTotal, _) => Some(virustotal::path(i)),
            (Api::AbuseIpdb { max_age_days }, Kind::Ip) => {
                Some(abuseipdb::path(&i.value, max_age_days))
            }
            (Api::GreyNoise, Kind::Ip) if i.value.parse::<Ipv4Addr>().is_ok() => {
                Some(greynoise::path(&i.value))
            }
            _ => None,
        }
    }

    fn answer(
        self,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Option<Report>, Failure> {
        match self {
            Api::VirusTotal => virustotal::answer(status, headers, body),
            Api::AbuseIpdb { .. } => abuseipdb::answer(status, headers, body),
            Api::GreyNoise => greynoise::answer(status, headers, body),
        }
    }
}

struct Service {
    api: Api,
    base_url: String,
    key: Option<Secret>,
    limiter: Limiter,
    cache: LookupCache<Indicator, Report>,
    /// Held after a 429 or a refused key, with why.
    hold: Hold,
    budget_left: Option<Gauge>,
    timeout: Duration,
}

impl Service {
    fn label(&self) -> &'static str {
        self.api.column().label
    }

    /// This service's outcome for `i`: cached, or asked within the time limit.
    async fn lookup(&self, http: &reqwest::Client, i: &Indicator) -> Outcome {
        let path = self.api.path(i)?;
        let asked = tokio::time::timeout(
            self.timeout,
            self.cache.get(i.clone(), self.fetch(http, &path)),
        )
        .await;
        Some(asked.unwrap_or_else(|_| {
            Err(format!(
                "{}: no answer within {} ms",
                self.label(),
                self.timeout.as_millis()
            ))
        }))
    }

    async fn fetch(&self, http: &reqwest::Client, path: &str) -> Result<Option<Report>, String> {
        let label = self.label();
        if let Some((left, why)) = self.hold.remaining() {
            return Err(format!("{why}; calls held for {} s", left.as_secs().max(1)));
        }
        let slot = self.limiter.acquire(self.timeout).await;
        if let (Some(g), Some(left)) = (&self.budget_left, self.limiter.remaining_today()) {
            g.set(i64::from(left));
        }
        slot.map_err(|denied| format!("{label}: {denied}"))?;
        let mut request = http
            .get(format!("{}{path}", self.base_url))
            .header("Accept", "application/json");
        if let Some(key) = &self.key {
            request = request.header(self.api.key_header(), key.expose());
        }
        // reqwest's errors name the URL, which carries no key (keys are headers).
        let resp = request.send().await.map_err(|e| format!("{label}: {e}"))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.map_err(|e| format!("{label}: {e}"))?;
        match self.api.answer(status, &headers, &body) {
            Ok(report) => Ok(report),
            Err(Failure::KeyRefused { status, code }) => {
                let code = code.map(|c| format!(" {c}")).unwrap_or_default();
                let why = format!("{label} refused the API key (HTTP {status}{code})");
                self.hold.extend(KEY_PAUSE, why.clone());
                Err(why)
            }
            Err(Failure::RateLimited { wait, detail }) => {
                let why = format!("{label} rate limit reached ({detail})");
                self.hold.extend(wait, why.clone());
                Err(format!("{why}; calls held for {} s", wait.as_secs().max(1)))
            }
            Err(Failure::Other(m)) => Err(format!("{label}: {m}")),
        }
    }
}

struct Intel {
    services: Vec<Service>,
    http: reqwest::Client,
    internal_domains: Vec<String>,
    max_indicators: usize,
}

impl Provider for Intel {
    fn id(&self) -> &'static str {
        "intel"
    }

    fn title(&self) -> &'static str {
        "Threat intel"
    }

    fn lookup<'a>(&'a self, alert: &'a Alert) -> BoxFuture<'a, Result<Found, LookupError>> {
        Box::pin(async move {
            let picked = pick(alert, &self.internal_domains, self.max_indicators);
            if picked.indicators.is_empty() {
                return Ok(Found::default());
            }
            let outcomes = futures::future::join_all(picked.indicators.iter().map(|i| {
                futures::future::join_all(self.services.iter().map(|s| s.lookup(&self.http, i)))
            }))
            .await;
            let columns: Vec<Column> = self.services.iter().map(|s| s.api.column()).collect();
            verdict::merge(&columns, &picked, &outcomes)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_come_with_their_keys_and_problems_are_listed_together() {
        let mut r = Registry::default();
        let http = reqwest::Client::new();
        assert!(matches!(
            build(&IntelConfig::default(), http.clone(), &mut r),
            Ok(None)
        ));
        let blank = IntelConfig {
            virustotal_key: Some(Secret::new("  ")),
            ..IntelConfig::default()
        };
        assert!(matches!(build(&blank, http.clone(), &mut r), Ok(None)));
        let anonymous = IntelConfig {
            greynoise_without_key: true,
            ..IntelConfig::default()
        };
        assert!(matches!(
            build(&anonymous, http.clone(), &mut r),
            Ok(Some(_))
        ));
        let bad = IntelConfig {
            virustotal_key: Some(Secret::new("vt-secret-value")),
            virustotal_url: "ftp://vt".into(),
            abuseipdb_per_minute: 0,
            abuseipdb_max_age_days: 400,
            max_indicators: 0,
            ..IntelConfig::default()
        };
        let err = build(&bad, http, &mut r).err().unwrap_or_default();
        for field in [
            "intel.virustotal_url",
            "intel.abuseipdb_per_minute",
            "intel.abuseipdb_max_age_days",
            "intel.max_indicators",
        ] {
            assert!(err.contains(field), "{err}");
        }
        assert!(!err.contains("vt-secret") && !format!("{bad:?}").contains("vt-secret"));
        let cfg: IntelConfig = serde_json::from_str(
            r#"{"virustotal_key": "k", "timeout": "2s", "internal_domains": ["corp.example.com"]}"#,
        )
        .unwrap_or_default();
        assert_eq!(
            (
                cfg.timeout,
                cfg.virustotal_per_day,
                cfg.internal_domains.len()
            ),
            (Duration::from_secs(2), 500, 1)
        );
        assert!(serde_json::from_str::<IntelConfig>(r#"{"virustotal": "k"}"#).is_err());
    }
}
