//! The Falcon API calls the streamer makes: OAuth2 token (cached, renewed
//! before expiry), discover, session refresh, and opening a partition's
//! stream. Each answer is classified once here: credentials refused (a
//! configuration error), rate limited (wait as told), session gone (discover
//! again), or transient (back off and retry). Secrets never leave this file
//! except in request headers.

use crate::config::{Live, Start, StartName};
use crate::discover::{self, Partition};
use falconry_common::Secret;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(
        "the Falcon API refused the client credentials (HTTP {0}): check streamer.client_id, streamer.client_secret and the \"Event streams: Read\" scope"
    )]
    Rejected(u16),
    #[error("rate limited by the Falcon API; retrying in {0:?}")]
    RateLimited(Duration),
    #[error("the stream session is gone (HTTP {0}); discovering again")]
    SessionGone(u16),
    #[error("{0}")]
    Transient(String),
}

/// Renew the token this long before it expires.
const RENEW_BEFORE: Duration = Duration::from_secs(120);

pub struct Api {
    http: reqwest::Client,
    live: Live,
    /// The API base; moves to the tenant's cloud when `X-CS-Region` says so.
    base_url: std::sync::Mutex<String>,
    token: tokio::sync::Mutex<Option<(Secret, Instant)>>,
}

#[derive(serde::Deserialize)]
struct TokenAnswer {
    access_token: Secret,
    expires_in: Option<u64>,
}

impl Api {
    pub fn new(live: Live) -> Result<Api, ApiError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("falconry/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ApiError::Transient(format!("HTTP client: {e}")))?;
        let base_url = std::sync::Mutex::new(live.base_url.clone());
        Ok(Api {
            http,
            live,
            base_url,
            token: tokio::sync::Mutex::new(None),
        })
    }

    fn url(&self, path: &str) -> String {
        let base = self
            .base_url
            .lock()
            .map(|b| b.clone())
            .unwrap_or_else(|p| p.into_inner().clone());
        format!("{base}{path}")
    }

    /// Where the token answer says the tenant lives, when that is another cloud than ours.
    fn other_region(&self, resp: &reqwest::Response) -> Option<String> {
        if !self.live.auto_region {
            return None;
        }
        let region = resp
            .headers()
            .get("X-CS-Region")?
            .to_str()
            .ok()?
            .trim()
            .to_ascii_lowercase();
        let url = self.live.region_urls.get(&region)?;
        let current = self.base_url.lock().ok()?.clone();
        (*url != current).then(|| url.clone())
    }

    /// A valid bearer token, from the cache or a new `POST /oauth2/token`.
    async fn token(&self) -> Result<Secret, ApiError> {
        let mut cached = self.token.lock().await;
        if let Some((t, expires)) = cached.as_ref() {
            if Instant::now() + RENEW_BEFORE < *expires {
                return Ok(t.clone());
            }
        }
        let mut form = vec![
            ("client_id", self.live.client_id.clone()),
            ("client_secret", self.live.client_secret.expose().to_owned()),
        ];
        if let Some(m) = &self.live.member_cid {
            form.push(("member_cid", m.clone()));
        }
        let mut resp = self
            .http
            .post(self.url("/oauth2/token"))
            .form(&form)
            .send()
            .await
            .map_err(transient)?;
        if resp.status().is_success() {
            if let Some(url) = self.other_region(&resp) {
                tracing::info!(base = %url, "X-CS-Region: the tenant lives in another cloud; moving there");
                if let Ok(mut b) = self.base_url.lock() {
                    *b = url;
                }
                resp = self
                    .http
                    .post(self.url("/oauth2/token"))
                    .form(&form)
                    .send()
                    .await
                    .map_err(transient)?;
            }
        }
        let status = resp.status().as_u16();
        match status {
            200 | 201 => {
                let body = resp.bytes().await.map_err(transient)?;
                let answer: TokenAnswer = serde_json::from_slice(&body)
                    .map_err(|e| ApiError::Transient(format!("token answer: {e}")))?;
                let expires =
                    Instant::now() + Duration::from_secs(answer.expires_in.unwrap_or(1799));
                *cached = Some((answer.access_token.clone(), expires));
                tracing::debug!(expires_in = ?answer.expires_in, "OAuth2 token obtained");
                Ok(answer.access_token)
            }
            400 | 401 | 403 => Err(ApiError::Rejected(status)),
            _ => Err(classify(status, &resp)),
        }
    }

    /// Drops the cached token (after the API said it is no longer valid).
    pub async fn forget_token(&self) {
        *self.token.lock().await = None;
    }

    /// The partitions of this appId; empty while another (or a dead) session holds it.
    pub async fn discover(&self) -> Result<Vec<Partition>, ApiError> {
        let token = self.token().await?;
        let resp = self
            .http
            // app_id is validated as letters and digits: no escaping needed.
            .get(self.url(&format!(
                "/sensors/entities/datafeed/v2?appId={}&format=json",
                self.live.app_id
            )))
            .bearer_auth(token.expose())
            .send()
            .await
            .map_err(transient)?;
        let status = resp.status().as_u16();
        match status {
            200 => {
                let body = resp.bytes().await.map_err(transient)?;
                discover::partitions(&body).map_err(|e| ApiError::Transient(e.to_string()))
            }
            401 => {
                self.forget_token().await;
                Err(ApiError::Transient(
                    "discover: token refused; renewing it".into(),
                ))
            }
            403 => Err(ApiError::Rejected(status)),
            _ => Err(classify(status, &resp)),
        }
    }

    /// Keeps a partition's session alive.
    pub async fn refresh(&self, p: &Partition) -> Result<(), ApiError> {
        let token = self.token().await?;
        let resp = self
            .http
            .post(&p.refresh_url)
            .bearer_auth(token.expose())
            .send()
            .await
            .map_err(transient)?;
        let status = resp.status().as_u16();
        match status {
            200..=299 => Ok(()),
            404 => Err(ApiError::SessionGone(404)),
            401 => {
                self.forget_token().await;
                Err(ApiError::Transient(
                    "refresh: token refused; renewing it".into(),
                ))
            }
            _ => Err(classify(status, &resp)),
        }
    }

    /// Opens the stream of `p` at `offset` (inclusive), or where `start` says when there is none.
    pub async fn open(
        &self,
        p: &Partition,
        offset: Option<u64>,
        start: Start,
    ) -> Result<reqwest::Response, ApiError> {
        let mut url = p.data_feed_url.clone();
        let sep = if url.contains('?') { '&' } else { '?' };
        match (offset, start) {
            (Some(o), _) | (None, Start::Offset(o)) => url.push_str(&format!("{sep}offset={o}")),
            (None, Start::Named(StartName::Newest)) => url.push_str(&format!("{sep}whence=2")),
            (None, _) => {}
        }
        if !self.live.event_types.is_empty() {
            let sep = if url.contains('?') { '&' } else { '?' };
            url.push_str(&format!(
                "{sep}eventType={}",
                self.live.event_types.join(",")
            ));
        }
        let resp = self
            .http
            .get(&url)
            .header("Authorization", format!("Token {}", p.session_token))
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(transient)?;
        let status = resp.status().as_u16();
        match status {
            200 => Ok(resp),
            401 | 404 => Err(ApiError::SessionGone(status)),
            _ => Err(classify(status, &resp)),
        }
    }
}

fn transient(e: reqwest::Error) -> ApiError {
    // reqwest errors carry the URL, which carries no secret (tokens go in headers).
    ApiError::Transient(e.to_string())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn classify(status: u16, resp: &reqwest::Response) -> ApiError {
    if status == 429 {
        let wait = resp
            .headers()
            .get("X-RateLimit-RetryAfter")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| discover::retry_after(v, now_ms()))
            .unwrap_or(Duration::from_secs(5));
        return ApiError::RateLimited(wait);
    }
    ApiError::Transient(format!("HTTP {status} from the Falcon API"))
}
