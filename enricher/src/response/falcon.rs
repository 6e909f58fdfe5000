//! Falcon's Alerts API, the source of truth for every product's alerts
//! (epp, idp, xdr, ngsiem, data-protection, overwatch, thirdparty) since the
//! Detects and Incidents APIs were retired: read
//! (`POST /alerts/combined/alerts/v1`, scope "Alerts: Read") and written
//! (`PATCH /alerts/entities/alerts/v3`, scope "Alerts: Write"), with the
//! OAuth2 login of `falconry_common::falcon_auth`.
//!
//! Answers: 401 drops the token and retries once; 403 is a missing scope (a
//! clear, permanent failure); 429 waits as `X-RateLimit-RetryAfter` /
//! `Retry-After` say (at most `max_wait`, else the call fails and the caller
//! tries on its next round); 5xx and connection failures are retried on the
//! shared API backoff, except for a write whose outcome is unknown (the
//! write-back checks Falcon before it writes again). The client secret and the token never reach a log line
//! or an error.

use falconry_common::falcon_auth::{AuthError, FalconAuth, retry_wait};
use falconry_common::http::{backoff, ratelimit_remaining};
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;

/// The most alerts one combined query answers.
pub const PAGE_MAX: usize = 1000;
/// The most composite ids one PATCH or entities call names.
pub const IDS_MAX: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum AlertsError {
    #[error(
        "the Falcon API refused the client credentials (HTTP {0}): check {1}.client_id and client_secret"
    )]
    Rejected(u16, &'static str),
    #[error(
        "the Falcon API client lacks the \"{scope}\" scope (HTTP 403): add it to the API client of {section}.client_id"
    )]
    Scope {
        scope: &'static str,
        section: &'static str,
    },
    #[error("rate limited by the Falcon API; retry in {} s", .0.as_secs().max(1))]
    RateLimited(Duration),
    #[error("Falcon Alerts API: {0}")]
    Transient(String),
    #[error("Falcon Alerts API refused the request (HTTP {status}): {message}")]
    Refused { status: u16, message: String },
}

impl AlertsError {
    /// Worth another try later (not a configuration problem).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            AlertsError::RateLimited(_) | AlertsError::Transient(_)
        )
    }

    pub fn kind(&self) -> &'static str {
        match self {
            AlertsError::Rejected(..) => "falcon_credentials",
            AlertsError::Scope { .. } => "falcon_scope",
            AlertsError::RateLimited(_) => "falcon_rate_limited",
            AlertsError::Transient(_) => "falcon_transient",
            AlertsError::Refused { .. } => "falcon_refused",
        }
    }
}

/// One page of a combined query.
#[derive(Debug, Clone)]
pub struct Page {
    pub alerts: Vec<Value>,
    /// The next page's token; `None` on the last page.
    pub after: Option<String>,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    meta: Meta,
    #[serde(default)]
    resources: Option<Vec<Value>>,
    #[serde(default)]
    errors: Option<Vec<ApiError>>,
}

#[derive(Deserialize, Default)]
struct Meta {
    #[serde(default)]
    pagination: Option<Pagination>,
}

#[derive(Deserialize, Default)]
struct Pagination {
    #[serde(default)]
    after: Option<String>,
}

#[derive(Deserialize)]
struct ApiError {
    #[serde(default)]
    code: Option<u16>,
    #[serde(default)]
    message: Option<String>,
}

/// The Alerts API client.
pub struct AlertsApi {
    http: reqwest::Client,
    auth: FalconAuth,
    section: &'static str,
    max_wait: Duration,
}

impl AlertsApi {
    pub fn new(
        http: reqwest::Client,
        auth: FalconAuth,
        section: &'static str,
        max_wait: Duration,
    ) -> AlertsApi {
        AlertsApi {
            http,
            auth,
            section,
            max_wait,
        }
    }

    /// Alerts updated at or after `from` (RFC 3339), oldest update first;
    /// `after`: the previous page's token.
    pub async fn updated_since(
        &self,
        from: &str,
        products: &[String],
        limit: usize,
        after: Option<&str>,
    ) -> Result<Page, AlertsError> {
        let mut filter = format!("updated_timestamp:>='{from}'");
        if !products.is_empty() {
            let list: Vec<String> = products.iter().map(|p| format!("'{p}'")).collect();
            filter.push_str(&format!("+product:[{}]", list.join(",")));
        }
        let mut body = json!({
            "filter": filter,
            "sort": "updated_timestamp|asc",
            "limit": limit.clamp(1, PAGE_MAX),
        });
        if let Some(a) = after {
            body["after"] = Value::String(a.to_owned());
        }
        let env = self
            .call(
                reqwest::Method::POST,
                "/alerts/combined/alerts/v1",
                &body,
                "Alerts: Read",
                true,
            )
            .await?;
        Ok(Page {
            alerts: env.resources.unwrap_or_default(),
            after: env
                .meta
                .pagination
                .and_then(|p| p.after)
                .filter(|a| !a.is_empty()),
        })
    }

    /// The alerts of `ids` as Falcon holds them now (missing ids are left out).
    pub async fn get(&self, ids: &[String]) -> Result<Vec<Value>, AlertsError> {
        let mut out = Vec::new();
        for chunk in ids.chunks(IDS_MAX) {
            let body = json!({"composite_ids": chunk, "include_hidden": true});
            match self
                .call(
                    reqwest::Method::POST,
                    "/alerts/entities/alerts/v2",
                    &body,
                    "Alerts: Read",
                    true,
                )
                .await
            {
                Ok(env) => out.extend(env.resources.unwrap_or_default()),
                // None of the ids is known.
                Err(AlertsError::Refused { status: 404, .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Applies `actions` (`(name, value)`: `update_status`, `add_tag`,
    /// `append_comment`, ...) to the alerts of `ids`.
    pub async fn update(
        &self,
        ids: &[String],
        actions: &[(&str, String)],
    ) -> Result<(), AlertsError> {
        let params: Vec<Value> = actions
            .iter()
            .map(|(n, v)| json!({"name": n, "value": v}))
            .collect();
        for chunk in ids.chunks(IDS_MAX) {
            let body = json!({"composite_ids": chunk, "action_parameters": params});
            self.call(
                reqwest::Method::PATCH,
                "/alerts/entities/alerts/v3",
                &body,
                "Alerts: Write",
                false,
            )
            .await?;
        }
        Ok(())
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
        scope: &'static str,
        repeatable: bool,
    ) -> Result<Envelope, AlertsError> {
        let mut retries = backoff::api_call();
        let (mut renewed, mut waited) = (false, Duration::ZERO);
        loop {
            let token = self.auth.token().await.map_err(|e| self.auth_failure(e))?;
            let sent = self
                .http
                .request(method.clone(), self.auth.url(path))
                .bearer_auth(token.expose())
                .header("Accept", "application/json")
                .header("Content-Type", "application/json")
                .body(body.to_string())
                .timeout(Duration::from_secs(60))
                .send()
                .await;
            let resp = match sent {
                Ok(r) => r,
                // A write whose outcome is unknown is not repeated here: the
                // caller checks Falcon before writing again.
                Err(e) if !repeatable && !e.is_connect() => {
                    return Err(AlertsError::Transient(e.to_string()));
                }
                Err(e) => match retries.next() {
                    // reqwest's errors carry the URL, never the token.
                    Some(d) => {
                        tracing::debug!(error = %e, "Falcon Alerts API call failed; retrying");
                        tokio::time::sleep(d).await;
                        continue;
                    }
                    None => return Err(AlertsError::Transient(e.to_string())),
                },
            };
            let status = resp.status().as_u16();
            if ratelimit_remaining(resp.headers()) == Some(0) {
                tracing::debug!(path, "Falcon API rate limit reached");
            }
            match status {
                200..=299 => {
                    let bytes = resp
                        .bytes()
                        .await
                        .map_err(|e| AlertsError::Transient(e.to_string()))?;
                    let env: Envelope = serde_json::from_slice(&bytes).map_err(|e| {
                        AlertsError::Transient(format!("answer is not the API's envelope: {e}"))
                    })?;
                    return Ok(env);
                }
                401 if !renewed => {
                    renewed = true;
                    self.auth.refused(&token).await;
                }
                401 => return Err(AlertsError::Rejected(401, self.section)),
                403 => {
                    return Err(AlertsError::Scope {
                        scope,
                        section: self.section,
                    });
                }
                429 => {
                    let wait = retry_wait(resp.headers()).unwrap_or(Duration::from_secs(5));
                    if waited + wait > self.max_wait {
                        return Err(AlertsError::RateLimited(wait));
                    }
                    waited += wait;
                    tracing::info!(
                        wait_s = wait.as_secs_f64(),
                        "Falcon API answered 429; waiting"
                    );
                    tokio::time::sleep(wait).await;
                }
                500..=599 if !repeatable => {
                    return Err(AlertsError::Transient(format!(
                        "HTTP {status} from the Falcon API; the write's outcome is unknown"
                    )));
                }
                500..=599 => match retries.next() {
                    Some(d) => tokio::time::sleep(d).await,
                    None => {
                        return Err(AlertsError::Transient(format!(
                            "HTTP {status} from the Falcon API"
                        )));
                    }
                },
                _ => {
                    let bytes = resp.bytes().await.unwrap_or_default();
                    let message = serde_json::from_slice::<Envelope>(&bytes)
                        .ok()
                        .and_then(|e| e.errors)
                        .and_then(|e| {
                            e.into_iter()
                                .find_map(|x| x.message.map(|m| (x.code, m)))
                                .map(|(_, m)| m)
                        })
                        .unwrap_or_else(|| "no error message".into());
                    return Err(AlertsError::Refused {
                        status,
                        message: message.chars().take(300).collect(),
                    });
                }
            }
        }
    }

    fn auth_failure(&self, e: AuthError) -> AlertsError {
        match e {
            AuthError::Rejected(status) => AlertsError::Rejected(status, self.section),
            AuthError::RateLimited(wait) => AlertsError::RateLimited(wait),
            AuthError::Transient(m) => AlertsError::Transient(format!("token: {m}")),
        }
    }
}
