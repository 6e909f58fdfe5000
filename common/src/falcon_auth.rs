//! The CrowdStrike Falcon API's OAuth2 client-credentials login, which the
//! streamer (Event Streams) and the enricher (host details) share: the cloud
//! base URLs, `POST /oauth2/token` with the client id and secret (and the
//! Flight Control `member_cid`), the bearer token cached and renewed two
//! minutes before it expires, a refused token dropped on request, the tenant's
//! cloud followed when the token answer's `X-CS-Region` names another one, and
//! the wait a 429 asks for (`X-RateLimit-RetryAfter`, else `Retry-After`).
//!
//! It must not know any API beyond the token: what a daemon calls with the
//! token, and what an answer means for it, is the daemon's business. The
//! client secret and the token leave this file only in request bodies and
//! headers: errors carry status codes and transport messages, never them.
//!
//! Expiry runs on tokio's clock, so tests pause and advance time.

use crate::Secret;
use reqwest::header::HeaderMap;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;

/// The Falcon clouds and their API base URLs.
pub const CLOUDS: [(&str, &str); 4] = [
    ("us-1", "https://api.crowdstrike.com"),
    ("us-2", "https://api.us-2.crowdstrike.com"),
    ("eu-1", "https://api.eu-1.crowdstrike.com"),
    ("us-gov-1", "https://api.laggar.gcw.crowdstrike.com"),
];

/// Base URL of a Falcon cloud by its name (`us-1`, `us-2`, `eu-1`, `us-gov-1`).
pub fn cloud_base_url(cloud: &str) -> Option<&'static str> {
    let cloud = cloud.to_ascii_lowercase();
    CLOUDS
        .iter()
        .find(|(name, _)| *name == cloud)
        .map(|(_, url)| *url)
}

/// Base URL of every region name `X-CS-Region` can carry.
pub fn region_urls() -> BTreeMap<String, String> {
    CLOUDS
        .iter()
        .map(|(name, url)| ((*name).to_owned(), (*url).to_owned()))
        .collect()
}

/// Where the API is, from a `cloud` setting and an optional `base_url` override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Without a trailing slash.
    pub base_url: String,
    /// `cloud = "auto"`: start at us-1 and follow the token answer's `X-CS-Region`.
    pub auto_region: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("{0:?} is not an http(s) URL")]
    NotHttp(String),
    #[error("{0:?} is not us-1, us-2, eu-1, us-gov-1 or auto")]
    UnknownCloud(String),
}

/// The endpoint of `cloud` (`us-1`, `us-2`, `eu-1`, `us-gov-1`, `auto`), or
/// `base_url` when set (proxies, tests).
pub fn endpoint(cloud: &str, base_url: Option<&str>) -> Result<Endpoint, EndpointError> {
    let auto_region = cloud.eq_ignore_ascii_case("auto");
    let named = cloud_base_url(if auto_region { "us-1" } else { cloud });
    let base_url = match (base_url, named) {
        (Some(u), _) if crate::http::http_url(u).is_ok() => u.trim_end_matches('/').to_owned(),
        (Some(u), _) => return Err(EndpointError::NotHttp(u.to_owned())),
        (None, Some(u)) => u.to_owned(),
        (None, None) => return Err(EndpointError::UnknownCloud(cloud.to_owned())),
    };
    Ok(Endpoint {
        base_url,
        auto_region,
    })
}

/// An API client's credentials.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub client_id: String,
    /// Never logged (`Secret`).
    pub client_secret: Secret,
    /// Child CID to act for (Flight Control parents).
    pub member_cid: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// 400, 401 or 403 from `/oauth2/token`: wrong id or secret, or a disabled client.
    #[error("the Falcon API refused the client credentials (HTTP {0})")]
    Rejected(u16),
    #[error("rate limited by the Falcon API token endpoint; retry in {0:?}")]
    RateLimited(Duration),
    /// Network trouble, a 5xx, an answer that is not a token.
    #[error("{0}")]
    Transient(String),
}

/// Renew the token this long before it expires.
const RENEW_BEFORE: Duration = Duration::from_secs(120);
/// When the token answer does not say (Falcon's tokens live 30 minutes).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(1799);

/// A Falcon API login: the current base URL and a cached bearer token.
pub struct FalconAuth {
    http: reqwest::Client,
    credentials: Credentials,
    /// The API base; moves to the tenant's cloud when `X-CS-Region` says so.
    base_url: std::sync::Mutex<String>,
    auto_region: bool,
    region_urls: BTreeMap<String, String>,
    token: tokio::sync::Mutex<Option<(Secret, Instant)>>,
}

#[derive(serde::Deserialize)]
struct TokenAnswer {
    access_token: Secret,
    expires_in: Option<u64>,
}

impl FalconAuth {
    /// `region_urls`: where each `X-CS-Region` name leads (usually [`region_urls()`];
    /// tests point them at their own servers). Only used with `auto_region`.
    pub fn new(
        http: reqwest::Client,
        credentials: Credentials,
        endpoint: Endpoint,
        region_urls: BTreeMap<String, String>,
    ) -> FalconAuth {
        FalconAuth {
            http,
            credentials,
            base_url: std::sync::Mutex::new(endpoint.base_url),
            auto_region: endpoint.auto_region,
            region_urls,
            token: tokio::sync::Mutex::new(None),
        }
    }

    /// The current API base URL (the tenant's cloud once `X-CS-Region` moved it).
    pub fn base_url(&self) -> String {
        self.base_url
            .lock()
            .map(|b| b.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// `path` (starting with `/`) on the current base URL.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    /// Where the token answer says the tenant lives, when that is another cloud than ours.
    fn other_region(&self, resp: &reqwest::Response) -> Option<String> {
        if !self.auto_region {
            return None;
        }
        let region = resp
            .headers()
            .get("X-CS-Region")?
            .to_str()
            .ok()?
            .trim()
            .to_ascii_lowercase();
        let url = self.region_urls.get(&region)?;
        (*url != self.base_url()).then(|| url.clone())
    }

    async fn request_token(&self, form: &[(&str, String)]) -> Result<reqwest::Response, AuthError> {
        self.http
            .post(self.url("/oauth2/token"))
            .header("Accept", "application/json")
            .form(form)
            .send()
            .await
            .map_err(transient)
    }

    /// A valid bearer token, from the cache or a new `POST /oauth2/token`.
    /// Concurrent callers wait for one token request.
    pub async fn token(&self) -> Result<Secret, AuthError> {
        let mut cached = self.token.lock().await;
        if let Some((t, expires)) = cached.as_ref()
            && Instant::now() + RENEW_BEFORE < *expires
        {
            return Ok(t.clone());
        }
        let c = &self.credentials;
        let mut form = vec![
            ("client_id", c.client_id.clone()),
            ("client_secret", c.client_secret.expose().to_owned()),
        ];
        if let Some(m) = &c.member_cid {
            form.push(("member_cid", m.clone()));
        }
        let mut resp = self.request_token(&form).await?;
        if resp.status().is_success()
            && let Some(url) = self.other_region(&resp)
        {
            tracing::info!(base = %url, "X-CS-Region: the tenant lives in another cloud; moving there");
            if let Ok(mut b) = self.base_url.lock() {
                *b = url;
            }
            resp = self.request_token(&form).await?;
        }
        let status = resp.status().as_u16();
        match status {
            200 | 201 => {
                let body = resp.bytes().await.map_err(transient)?;
                let answer: TokenAnswer = serde_json::from_slice(&body)
                    .map_err(|e| AuthError::Transient(format!("token answer: {e}")))?;
                let lifetime = answer
                    .expires_in
                    .map(Duration::from_secs)
                    .unwrap_or(DEFAULT_LIFETIME);
                *cached = Some((answer.access_token.clone(), Instant::now() + lifetime));
                tracing::debug!(expires_in = ?answer.expires_in, "OAuth2 token obtained");
                Ok(answer.access_token)
            }
            400 | 401 | 403 => Err(AuthError::Rejected(status)),
            429 => Err(AuthError::RateLimited(
                retry_wait(resp.headers()).unwrap_or(Duration::from_secs(5)),
            )),
            _ => Err(AuthError::Transient(format!(
                "HTTP {status} from the Falcon API token endpoint"
            ))),
        }
    }

    /// Drops the cached token (after the API said it is no longer valid).
    pub async fn forget_token(&self) {
        *self.token.lock().await = None;
    }

    /// Drops the cached token if it is still `refused`: of many callers refused
    /// at once, only the first makes the next one ask for a new token.
    pub async fn refused(&self, refused: &Secret) {
        let mut cached = self.token.lock().await;
        if cached.as_ref().is_some_and(|(t, _)| t == refused) {
            *cached = None;
        }
    }
}

fn transient(e: reqwest::Error) -> AuthError {
    // reqwest errors carry the URL, which carries no secret (the secret is in the body).
    AuthError::Transient(e.to_string())
}

/// The login of one Falcon API client as a configuration section gives it,
/// checked: every problem named with its field under `section`. The one place
/// an API client's settings become a [`FalconAuth`] (the enricher's host
/// lookups and its Alerts API poller both come here).
pub struct Login<'a> {
    pub section: &'a str,
    pub cloud: &'a str,
    pub base_url: Option<&'a str>,
    pub client_id: Option<&'a str>,
    pub client_secret: Option<&'a Secret>,
    pub member_cid: Option<&'a str>,
}

impl Login<'_> {
    pub fn auth(&self, http: reqwest::Client) -> Result<FalconAuth, Vec<String>> {
        let key = self.section;
        let mut problems = Vec::new();
        let client_id = self.client_id.filter(|s| !s.trim().is_empty());
        let client_secret = self.client_secret.filter(|s| !s.is_empty());
        if client_id.is_none() {
            problems.push(format!("{key}.client_id: required when enabled"));
        }
        if client_secret.is_none() {
            problems.push(format!("{key}.client_secret: required when enabled"));
        }
        let endpoint = endpoint(self.cloud, self.base_url)
            .map_err(|e| {
                let field = match e {
                    EndpointError::NotHttp(_) => "base_url",
                    EndpointError::UnknownCloud(_) => "cloud",
                };
                problems.push(format!("{key}.{field}: {e}"));
            })
            .ok();
        match (client_id, client_secret, endpoint) {
            (Some(id), Some(secret), Some(endpoint)) if problems.is_empty() => Ok(FalconAuth::new(
                http,
                Credentials {
                    client_id: id.to_owned(),
                    client_secret: secret.clone(),
                    member_cid: self.member_cid.map(str::to_owned),
                },
                endpoint,
                region_urls(),
            )),
            _ => Err(problems),
        }
    }
}

/// How long a 429 asks to wait ([`crate::http::retry_after`]), at most an hour.
pub fn retry_wait(headers: &HeaderMap) -> Option<Duration> {
    crate::http::retry_after(headers).map(|d| d.min(Duration::from_secs(3600)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_wait_prefers_falcons_header() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_wait(&h), None);
        h.insert("Retry-After", "7".parse().unwrap());
        assert_eq!(retry_wait(&h), Some(Duration::from_secs(7)));
        h.insert("X-RateLimit-RetryAfter", "2".parse().unwrap());
        assert_eq!(retry_wait(&h), Some(Duration::from_secs(2)));
        h.insert("X-RateLimit-RetryAfter", "86400".parse().unwrap());
        assert_eq!(retry_wait(&h), Some(Duration::from_secs(3600)));
    }

    #[test]
    fn clouds_and_endpoints() {
        assert_eq!(
            cloud_base_url("EU-1"),
            Some("https://api.eu-1.crowdstrike.com")
        );
        assert_eq!(cloud_base_url("mars-1"), None);
        assert_eq!(
            endpoint("us-2", None),
            Ok(Endpoint {
                base_url: "https://api.us-2.crowdstrike.com".into(),
                auto_region: false
            })
        );
        assert_eq!(
            endpoint("auto", None),
            Ok(Endpoint {
                base_url: "https://api.crowdstrike.com".into(),
                auto_region: true
            })
        );
        assert_eq!(
            endpoint("mars-1", Some("http://127.0.0.1:9/")).map(|e| e.base_url),
            Ok("http://127.0.0.1:9".into())
        );
        assert_eq!(
            endpoint("us-1", Some("ftp://x")),
            Err(EndpointError::NotHttp("ftp://x".into()))
        );
        assert_eq!(
            endpoint("mars-1", None),
            Err(EndpointError::UnknownCloud("mars-1".into()))
        );
        assert_eq!(region_urls()["us-gov-1"], CLOUDS[3].1);
    }
}
