//! The `falcon_host` provider: what Falcon knows about the alert's host, from
//! `GET /devices/entities/devices/v2?ids=<aid>` (scope "Hosts: Read") with the
//! OAuth2 login the streamer shares (`falconry_common::falcon_auth`; use the
//! streamer's API client with "Hosts: Read" added). It shows hostname, OS,
//! sensor version, last user, addresses, tags, groups, first/last seen and the
//! network containment state, and gives the policy
//! `{hostname, platform, os_version, product_type, agent_version,
//! last_login_user, local_ip, external_ip, tags, groups, first_seen, last_seen,
//! containment, aid, others}`.
//!
//! Answers: 401 drops the token and retries once; 403 is a missing scope (a
//! clear failure); 404 or no resource is "not found"; 429 waits as
//! `X-RateLimit-RetryAfter` / `Retry-After` say when that is short, else fails
//! and holds further calls until then. It must not act on hosts (no
//! containment, no tags): read only. The client secret and the token never
//! reach a log line or a failure reason.

use super::cache::LookupCache;
use super::{Found, LookupError, Provider};
use crate::alert::{Alert, Table};
use falconry_common::Secret;
use falconry_common::falcon_auth::{self, AuthError, FalconAuth, retry_wait};
use falconry_common::http::Hold;
use futures::FutureExt;
use futures::future::BoxFuture;
use prometheus_client::registry::Registry;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// `GET /devices/entities/devices/v2` takes at most this many ids a call.
pub const MAX_IDS: usize = 100;

/// `[enricher.context.falcon_host]`: Falcon host details.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FalconHostConfig {
    /// Look hosts up in the Falcon API. Default `false`.
    pub enabled: bool,
    /// Falcon cloud: `us-1`, `us-2`, `eu-1`, `us-gov-1`, or `auto` (start at us-1 and follow
    /// the token answer's `X-CS-Region`). Default `us-1`.
    pub cloud: String,
    /// Base URL of the Falcon API instead of the cloud's (proxies, tests). Default: none.
    pub base_url: Option<String>,
    /// API client id; the streamer's client with the "Hosts: Read" scope added. Required when enabled.
    pub client_id: Option<String>,
    /// API client secret (never logged; prefer `FALCONRY__ENRICHER__CONTEXT__FALCON_HOST__CLIENT_SECRET`).
    /// Required when enabled.
    pub client_secret: Option<Secret>,
    /// Child CID to act for (Flight Control parents). Default: none.
    pub member_cid: Option<String>,
    /// How long a host's details are reused. Default `15m` (containment changes).
    #[serde(with = "humantime_serde")]
    pub found_ttl: Duration,
    /// How long "Falcon does not know this host" is reused. Default `5m`.
    #[serde(with = "humantime_serde")]
    pub missing_ttl: Duration,
    /// Hosts kept in the cache. Default 10000.
    pub cache_capacity: u64,
    /// The longest a lookup waits when the API answers 429 before it gives up; keep it below
    /// the context deadline. Default `2s`.
    #[serde(with = "humantime_serde")]
    pub max_wait: Duration,
}

impl Default for FalconHostConfig {
    fn default() -> Self {
        FalconHostConfig {
            enabled: false,
            cloud: "us-1".into(),
            base_url: None,
            client_id: None,
            client_secret: None,
            member_cid: None,
            found_ttl: Duration::from_secs(15 * 60),
            missing_ttl: Duration::from_secs(5 * 60),
            cache_capacity: 10_000,
            max_wait: Duration::from_secs(2),
        }
    }
}

const KEY: &str = "enricher.context.falcon_host";

/// The provider, or `None` when switched off. Every problem of the section at once.
pub fn build(
    config: &FalconHostConfig,
    http: reqwest::Client,
    _registry: &mut Registry,
) -> Result<Option<Arc<dyn Provider>>, String> {
    if !config.enabled {
        return Ok(None);
    }
    let mut problems = Vec::new();
    let auth = falcon_auth::Login {
        section: KEY,
        cloud: &config.cloud,
        base_url: config.base_url.as_deref(),
        client_id: config.client_id.as_deref(),
        client_secret: config.client_secret.as_ref(),
        member_cid: config.member_cid.as_deref(),
    }
    .auth(http.clone())
    .map_err(|p| problems.extend(p))
    .ok();
    if config.cache_capacity == 0 {
        problems.push(format!("{KEY}.cache_capacity: must be at least 1"));
    }
    if config.max_wait > Duration::from_secs(600) {
        problems.push(format!("{KEY}.max_wait: must be at most 10m"));
    }
    let (Some(auth), true) = (auth, problems.is_empty()) else {
        return Err(problems.join("; "));
    };
    Ok(Some(Arc::new(FalconHost {
        http,
        auth,
        cache: LookupCache::new(config.cache_capacity, config.found_ttl, config.missing_ttl),
        max_wait: config.max_wait,
        hold: Hold::default(),
    })))
}

/// One host, as `devices/v2` describes it (the fields shown; others ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Device {
    pub device_id: Option<String>,
    pub hostname: Option<String>,
    pub platform_name: Option<String>,
    pub os_version: Option<String>,
    pub product_type_desc: Option<String>,
    pub agent_version: Option<String>,
    pub last_login_user: Option<String>,
    pub local_ip: Option<String>,
    pub external_ip: Option<String>,
    pub tags: Option<Vec<String>>,
    pub groups: Option<Vec<String>>,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    /// Containment: `normal`, `containment_pending`, `contained`, `lift_containment_pending`.
    pub status: Option<String>,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    resources: Option<Vec<serde_json::Value>>,
}

/// The devices of a `devices/v2` answer by lower-case id. A resource that is
/// not a device object is skipped.
pub fn devices(body: &[u8]) -> Result<HashMap<String, Device>, String> {
    let envelope: Envelope = serde_json::from_slice(body)
        .map_err(|e| format!("the Falcon API answer is not the expected JSON: {e}"))?;
    Ok(envelope
        .resources
        .unwrap_or_default()
        .into_iter()
        .filter_map(|r| serde_json::from_value::<Device>(r).ok())
        .filter_map(|d| Some((d.device_id.clone()?.to_ascii_lowercase(), d)))
        .collect())
}

/// The agent ids an alert names: its host's first, then further hosts that
/// are aids (XDR, incidents), de-duplicated, at most [`MAX_IDS`].
pub fn host_ids(alert: &Alert) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    let named = alert.host.aid.iter().chain(alert.host.others.iter());
    for id in named.filter_map(|s| crate::alert::agent_id(s)) {
        if !ids.contains(&id) && ids.len() < MAX_IDS {
            ids.push(id);
        }
    }
    ids
}

fn text(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// What the policy reads of one host.
pub fn policy_data(d: &Device) -> serde_json::Value {
    serde_json::json!({
        "aid": d.device_id,
        "hostname": d.hostname,
        "platform": d.platform_name,
        "os_version": d.os_version,
        "product_type": d.product_type_desc,
        "agent_version": d.agent_version,
        "last_login_user": d.last_login_user,
        "local_ip": d.local_ip,
        "external_ip": d.external_ip,
        "tags": d.tags.clone().unwrap_or_default(),
        "groups": d.groups.clone().unwrap_or_default(),
        "first_seen": d.first_seen,
        "last_seen": d.last_seen,
        "containment": d.status,
    })
}

fn containment_text(status: &str) -> &str {
    match status {
        "normal" => "normal (not contained)",
        "containment_pending" => "containment pending",
        "contained" => "contained",
        "lift_containment_pending" => "lifting containment (pending)",
        other => other,
    }
}

/// The section for the alert's host (`main`, when Falcon knows it) and the
/// further hosts it names that Falcon knows.
pub fn render(main: Option<&Device>, others: &[&Device], main_aid: Option<&str>) -> Found {
    let mut table = Table {
        columns: vec!["Field".into(), "Value".into()],
        rows: Vec::new(),
    };
    let mut notes = Vec::new();
    let mut data = serde_json::Map::new();
    if let Some(d) = main {
        let platform = match (text(&d.platform_name), text(&d.os_version)) {
            (Some(p), Some(v)) if !v.contains(p) => Some(format!("{p} ({v})")),
            (_, Some(v)) => Some(v.to_owned()),
            (Some(p), None) => Some(p.to_owned()),
            (None, None) => None,
        };
        let list = |v: &Option<Vec<String>>| {
            let v = v.clone().unwrap_or_default();
            (!v.is_empty()).then(|| v.join(", "))
        };
        let rows = [
            ("Hostname", text(&d.hostname).map(str::to_owned)),
            ("Platform", platform),
            ("Type", text(&d.product_type_desc).map(str::to_owned)),
            ("Sensor version", text(&d.agent_version).map(str::to_owned)),
            (
                "Last login user",
                text(&d.last_login_user).map(str::to_owned),
            ),
            ("Local IP", text(&d.local_ip).map(str::to_owned)),
            ("External IP", text(&d.external_ip).map(str::to_owned)),
            (
                "Containment",
                text(&d.status).map(|s| containment_text(s).to_owned()),
            ),
            ("Tags", list(&d.tags)),
            ("Host groups", list(&d.groups)),
            ("First seen", text(&d.first_seen).map(str::to_owned)),
            ("Last seen", text(&d.last_seen).map(str::to_owned)),
        ];
        for (field, value) in rows {
            if let Some(v) = value {
                table.rows.push(vec![field.to_owned(), v]);
            }
        }
        match text(&d.status) {
            Some("contained") => notes.push("The host is network-contained.".to_owned()),
            Some("containment_pending") => {
                notes.push("Network containment was requested and is pending.".to_owned());
            }
            Some("lift_containment_pending") => {
                notes.push("Lifting network containment is pending.".to_owned());
            }
            _ => {}
        }
        if let serde_json::Value::Object(m) = policy_data(d) {
            data = m;
        }
    } else if let Some(aid) = main_aid {
        notes.push(format!(
            "Falcon does not know the alert's host (aid {aid})."
        ));
    }
    for o in others {
        let name = text(&o.hostname).unwrap_or("unnamed host");
        let aid = text(&o.device_id).unwrap_or("?");
        let os = text(&o.os_version)
            .or(text(&o.platform_name))
            .unwrap_or("unknown OS");
        let state = text(&o.status).map(containment_text).unwrap_or("unknown");
        notes.push(format!(
            "Also named: {name} (aid {aid}, {os}, containment {state})."
        ));
    }
    data.insert(
        "others".into(),
        serde_json::Value::Array(others.iter().map(|d| policy_data(d)).collect()),
    );
    Found {
        table,
        notes,
        data: serde_json::Value::Object(data),
    }
}

struct FalconHost {
    http: reqwest::Client,
    auth: FalconAuth,
    cache: LookupCache<String, Device>,
    max_wait: Duration,
    /// After a long 429: no calls before then.
    hold: Hold,
}

fn auth_failure(e: AuthError) -> LookupError {
    LookupError(match e {
        AuthError::Rejected(status) => format!(
            "the Falcon API refused the client credentials (HTTP {status}): check {KEY}.client_id and client_secret"
        ),
        AuthError::RateLimited(wait) => format!(
            "rate limited by the Falcon API token endpoint; retry in {} s",
            wait.as_secs().max(1)
        ),
        AuthError::Transient(m) => format!("Falcon API token: {m}"),
    })
}

impl FalconHost {
    /// One `devices/v2` call for `ids` (at most [`MAX_IDS`], validated aids).
    async fn fetch(&self, ids: &[String]) -> Result<Arc<HashMap<String, Device>>, LookupError> {
        if let Some((left, _)) = self.hold.remaining() {
            return Err(LookupError(format!(
                "rate limited by the Falcon API; retry in {} s",
                left.as_secs().max(1)
            )));
        }
        let query: Vec<String> = ids
            .iter()
            .take(MAX_IDS)
            .map(|id| format!("ids={id}"))
            .collect();
        let (mut renewed, mut waited) = (false, false);
        loop {
            let token = self.auth.token().await.map_err(auth_failure)?;
            // The ids are validated as hex: nothing to escape.
            let url = self
                .auth
                .url(&format!("/devices/entities/devices/v2?{}", query.join("&")));
            let resp = self
                .http
                .get(url)
                .bearer_auth(token.expose())
                .header("Accept", "application/json")
                .send()
                .await
                .map_err(|e| LookupError(format!("Falcon API: {e}")))?;
            let status = resp.status().as_u16();
            match status {
                200 | 404 => {
                    let body = resp
                        .bytes()
                        .await
                        .map_err(|e| LookupError(format!("Falcon API: {e}")))?;
                    return match devices(&body) {
                        Ok(d) => Ok(Arc::new(d)),
                        // A 404 may come without the envelope: nothing known.
                        Err(_) if status == 404 => Ok(Arc::new(HashMap::new())),
                        Err(e) => Err(LookupError(e)),
                    };
                }
                401 if !renewed => {
                    renewed = true;
                    self.auth.refused(&token).await;
                }
                401 => {
                    return Err(LookupError(
                        "the Falcon API refused a fresh token (HTTP 401)".into(),
                    ));
                }
                403 => {
                    return Err(LookupError(format!(
                        "the Falcon API client lacks the \"Hosts: Read\" scope (HTTP 403): add it to the API client of {KEY}.client_id"
                    )));
                }
                429 => {
                    let wait = retry_wait(resp.headers()).unwrap_or(Duration::from_secs(5));
                    if waited || wait > self.max_wait {
                        self.hold.extend(wait, "rate limited by the Falcon API");
                        return Err(LookupError(format!(
                            "rate limited by the Falcon API; retry in {} s",
                            wait.as_secs().max(1)
                        )));
                    }
                    waited = true;
                    tokio::time::sleep(wait).await;
                }
                _ => {
                    return Err(LookupError(format!("HTTP {status} from the Falcon API")));
                }
            }
        }
    }
}

impl Provider for FalconHost {
    fn id(&self) -> &'static str {
        "falcon_host"
    }

    fn title(&self) -> &'static str {
        "Falcon host"
    }

    fn lookup<'a>(&'a self, alert: &'a Alert) -> BoxFuture<'a, Result<Found, LookupError>> {
        Box::pin(async move {
            let ids = host_ids(alert);
            if ids.is_empty() {
                return Ok(Found::default());
            }
            // One call for every id of the alert that is not cached; each id
            // is cached (and shared with concurrent askers) on its own.
            let call = {
                let ids = ids.clone();
                async move { self.fetch(&ids).await }.boxed().shared()
            };
            let answers = futures::future::join_all(ids.iter().map(|id| {
                let call = call.clone();
                self.cache.get(id.clone(), async move {
                    call.await.map(|found| found.get(id).cloned())
                })
            }))
            .await;
            let mut first_error = None;
            let mut known: Vec<Option<Device>> = Vec::with_capacity(answers.len());
            for answer in answers {
                match answer {
                    Ok(d) => known.push(d),
                    Err(e) => {
                        first_error.get_or_insert(e);
                        known.push(None);
                    }
                }
            }
            if known.iter().all(Option::is_none) {
                return match first_error {
                    Some(e) => Err(e),
                    None => Ok(Found::default()),
                };
            }
            let main_aid = alert.host.aid.as_deref().and_then(crate::alert::agent_id);
            let (main, rest) = match main_aid {
                Some(_) => (known[0].as_ref(), &known[1..]),
                None => (None, &known[..]),
            };
            let others: Vec<&Device> = rest.iter().flatten().collect();
            let mut found = render(main, &others, main_aid.as_deref());
            if let Some(e) = first_error {
                found
                    .notes
                    .push(format!("Some hosts could not be looked up: {e}"));
            }
            Ok(found)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_of_an_answer_and_what_they_render() {
        let body = br#"{"meta":{"query_time":0.01,"powered_by":"device-api","trace_id":"t"},
          "resources":[{"device_id":"0123456789ABCDEF0123456789abcdef","hostname":"FIN-WS-042",
            "platform_name":"Windows","os_version":"Windows 11","product_type_desc":"Workstation",
            "agent_version":"7.18.18309.0","last_login_user":"jdoe","local_ip":"10.1.2.3",
            "external_ip":"81.2.69.160","tags":["FalconGroupingTags/Finance"],"groups":["5c7f"],
            "first_seen":"2024-01-10T12:00:00Z","last_seen":"2026-03-14T09:59:00Z","status":"contained"},
            "not a device"],
          "errors":[]}"#;
        let d = devices(body).unwrap();
        let host = &d["0123456789abcdef0123456789abcdef"];
        assert_eq!(host.hostname.as_deref(), Some("FIN-WS-042"));
        let found = render(Some(host), &[], Some("0123456789abcdef0123456789abcdef"));
        assert_eq!(found.data["containment"], "contained");
        assert_eq!(found.data["tags"][0], "FalconGroupingTags/Finance");
        assert_eq!(found.data["others"], serde_json::json!([]));
        assert!(
            found
                .table
                .rows
                .contains(&vec!["Platform".to_owned(), "Windows 11".to_owned()])
        );
        assert_eq!(found.notes, ["The host is network-contained."]);
        assert!(devices(b"<html>").is_err());
        assert!(
            devices(br#"{"resources":null,"errors":[{"code":404}]}"#)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn config_problems_are_listed_together_without_the_secret() {
        let mut r = Registry::default();
        let off = build(&FalconHostConfig::default(), reqwest::Client::new(), &mut r);
        assert!(matches!(off, Ok(None)));
        let err = build(
            &FalconHostConfig {
                enabled: true,
                cloud: "mars-1".into(),
                client_secret: Some(Secret::new("very-secret-value")),
                cache_capacity: 0,
                ..FalconHostConfig::default()
            },
            reqwest::Client::new(),
            &mut r,
        )
        .err()
        .unwrap();
        assert!(err.contains("falcon_host.client_id: required"), "{err}");
        assert!(err.contains("falcon_host.cloud"), "{err}");
        assert!(err.contains("cache_capacity"), "{err}");
        assert!(!err.contains("very-secret"));
        let cfg: FalconHostConfig = serde_json::from_str(
            r#"{"enabled": true, "client_id": "x", "client_secret": "y", "max_wait": "1s"}"#,
        )
        .unwrap();
        assert_eq!(cfg.max_wait, Duration::from_secs(1));
        assert_eq!(cfg.found_ttl, Duration::from_secs(900));
        assert!(serde_json::from_str::<FalconHostConfig>(r#"{"clientid": "x"}"#).is_err());
    }
}
