//! The Falcon API calls the streamer makes: discover, session refresh, and
//! opening a partition's stream, with the OAuth2 token from the login the
//! enricher shares (`falconry_common::falcon_auth`: cached, renewed before
//! expiry, following `X-CS-Region`). Each answer is classified once here:
//! credentials refused (a configuration error), rate limited (wait as told),
//! session gone (discover again), or transient (back off and retry). Secrets
//! never leave this file except in request headers.

use crate::config::{Live, Start, StartName};
use crate::discover::{self, Partition};
use falconry_common::Secret;
use falconry_common::falcon_auth::{AuthError, Credentials, Endpoint, FalconAuth, retry_wait};
use falconry_common::http;
use std::time::Duration;

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

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> ApiError {
        match e {
            AuthError::Rejected(status) => ApiError::Rejected(status),
            AuthError::RateLimited(wait) => ApiError::RateLimited(wait),
            AuthError::Transient(m) => ApiError::Transient(m),
        }
    }
}

pub struct Api {
    http: reqwest::Client,
    live: Live,
    auth: FalconAuth,
}

impl Api {
    pub fn new(live: Live) -> Result<Api, ApiError> {
        let http = falconry_common::http::client_builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| ApiError::Transient(format!("HTTP client: {e}")))?;
        let auth = FalconAuth::new(
            http.clone(),
            Credentials {
                client_id: live.client_id.clone(),
                client_secret: live.client_secret.clone(),
                member_cid: live.member_cid.clone(),
            },
            Endpoint {
                base_url: live.base_url.clone(),
                auto_region: live.auto_region,
            },
            live.region_urls.clone(),
        );
        Ok(Api { http, live, auth })
    }

    fn url(&self, path: &str) -> String {
        self.auth.url(path)
    }

    /// A valid bearer token, from the cache or a new `POST /oauth2/token`.
    async fn token(&self) -> Result<Secret, ApiError> {
        Ok(self.auth.token().await?)
    }

    /// Drops the cached token (after the API said it is no longer valid).
    pub async fn forget_token(&self) {
        self.auth.forget_token().await;
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
        let resp = http::bodyless(self.http.post(&p.refresh_url))
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

fn classify(status: u16, resp: &reqwest::Response) -> ApiError {
    if status == 429 {
        let wait = retry_wait(resp.headers()).unwrap_or(Duration::from_secs(5));
        return ApiError::RateLimited(wait);
    }
    ApiError::Transient(format!("HTTP {status} from the Falcon API"))
}
