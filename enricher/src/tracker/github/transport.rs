//! One GitHub REST call, done right: the headers GitHub asks for, the token
//! (a PAT, or an App installation token fetched and refreshed on demand), our
//! pace for content-creating requests, GitHub's primary and secondary rate
//! limits, and retries with jittered exponential backoff.
//!
//! This is the single retry owner for a call. Reads (GET) and PATCH are
//! retried on 5xx and broken connections; a POST is retried here only when
//! it never left (connection refused), because a POST whose outcome is
//! unknown may have created something: that case goes back to the caller,
//! who looks for its marker before trying again. Nothing here knows about
//! issues or comments, and nothing here logs a body, a token or a JWT.

use super::GitHubError;
use super::app::App;
use super::limits::{self, ContentLimiter, Hold, Limited, SECONDARY_MIN_WAIT};
use super::wire::{ErrorBody, InstallationToken, has_next_page};
use bytes::Bytes;
use falconry_common::{Secret, http};
use reqwest::header::{
    ACCEPT, AUTHORIZATION, CONTENT_TYPE, ETAG, HeaderMap, IF_NONE_MATCH, LINK, USER_AGENT,
};
use reqwest::{Method, StatusCode, Url};
use std::time::Duration;

/// Largest answer we read (a page of 100 issues with long bodies is ~7 MB).
const MAX_ANSWER_BYTES: usize = 32 << 20;
const API_VERSION: &str = "2022-11-28";
/// A rate-limit answer is waited out at least this long (even `retry-after: 0`).
const MIN_LIMIT_WAIT: Duration = Duration::from_secs(1);
/// Rate-limit answers one call accepts before leaving it for redelivery.
const MAX_LIMITED_ROUNDS: u32 = 8;
const USER_AGENT_VALUE: &str = concat!("falconry-enricher/", env!("CARGO_PKG_VERSION"));

/// Delays between tries of one call after 5xx or a broken connection.
pub(super) fn backoff() -> impl Iterator<Item = Duration> {
    http::backoff::api_call()
}

pub(super) enum Auth {
    Token(Secret),
    App(App),
}

/// How a call may be retried on 5xx and broken connections.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Retry {
    /// Safe to repeat (GET, PATCH with the same content, token exchange).
    Always,
    /// Repeat only what surely never arrived; the caller handles the rest.
    Unsent,
}

pub(super) struct Call {
    pub method: Method,
    /// The API path (`/repos/o/r/issues`), also what errors and logs show.
    pub path: String,
    pub query: Vec<(&'static str, String)>,
    pub body: Option<Vec<u8>>,
    pub retry: Retry,
    /// Authenticate with this JWT instead of the configured token.
    jwt: Option<Secret>,
    /// A conditional GET: the ETag of the answer we hold (a 304 costs no quota).
    pub if_none_match: Option<String>,
}

impl Call {
    pub fn get(path: String, query: Vec<(&'static str, String)>) -> Call {
        Call {
            method: Method::GET,
            path,
            query,
            body: None,
            retry: Retry::Always,
            jwt: None,
            if_none_match: None,
        }
    }

    /// A PATCH whose repetition changes nothing more (an issue's state).
    pub fn patch(path: String, body: Vec<u8>) -> Call {
        Call {
            method: Method::PATCH,
            path,
            query: Vec::new(),
            body: Some(body),
            retry: Retry::Always,
            jwt: None,
            if_none_match: None,
        }
    }

    pub fn post(path: String, body: Vec<u8>) -> Call {
        Call {
            method: Method::POST,
            path,
            query: Vec::new(),
            body: Some(body),
            retry: Retry::Unsent,
            jwt: None,
            if_none_match: None,
        }
    }

    /// Requests that create content count against our content pace
    /// (GitHub's token exchange does not create content).
    fn creates_content(&self) -> bool {
        self.jwt.is_none()
            && matches!(
                self.method,
                Method::POST | Method::PATCH | Method::PUT | Method::DELETE
            )
    }

    fn error_context(&self) -> (String, String) {
        (self.method.to_string(), self.path.clone())
    }
}

/// A 2xx answer, or a 304 to a conditional GET (`not_modified`, no body).
pub(super) struct Answer {
    pub body: Bytes,
    pub next_page: bool,
    pub etag: Option<String>,
    pub not_modified: bool,
}

impl Answer {
    pub fn json<T: serde::de::DeserializeOwned>(&self, call: &Call) -> Result<T, GitHubError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            let (method, path) = call.error_context();
            GitHubError::Decode {
                method,
                path,
                reason: format!("not the expected JSON ({e})"),
            }
        })
    }
}

pub(super) struct Transport {
    pub http: reqwest::Client,
    /// `https://api.github.com` or `https://host/api/v3`, without a trailing slash.
    pub base: String,
    pub auth: Auth,
    pub content: ContentLimiter,
    pub hold: Hold,
    pub max_wait: Duration,
    pub request_timeout: Duration,
}

/// One exchange's result before we decide what it means.
struct Raw {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Transport {
    /// Checks and normalises the API base URL: http(s), a host, no query;
    /// plain http only for loopback (test servers), so a token never crosses
    /// a network in clear text.
    pub fn base_url(api_url: &str) -> Result<String, GitHubError> {
        let bad = |why: &str| GitHubError::Settings(format!("api_url {api_url:?}: {why}"));
        let url = Url::parse(api_url.trim()).map_err(|e| bad(&e.to_string()))?;
        let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            "http" => {
                return Err(bad(
                    "https is required (http only for loopback test servers)",
                ));
            }
            other => return Err(bad(&format!("unsupported scheme {other:?}"))),
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad("no host"));
        }
        if url.query().is_some()
            || url.fragment().is_some()
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return Err(bad("must not carry a query, fragment or credentials"));
        }
        Ok(url.as_str().trim_end_matches('/').to_owned())
    }

    /// Does `call`, waiting out rate limits and retrying transient failures
    /// as the call's [`Retry`] allows. A non-2xx answer becomes an error.
    pub async fn call(&self, call: &Call) -> Result<Answer, GitHubError> {
        let url = self.url(call)?;
        let mut backoff = backoff();
        let mut waited = Duration::ZERO;
        let mut limited_rounds = 0u32;
        let mut reauthenticated = false;
        loop {
            self.wait_out_hold(call, &mut waited).await?;
            if call.creates_content() {
                // Take a slot; if a limit was hit while we queued for it, wait
                // that out and queue again, so a hold never ends in a burst.
                loop {
                    self.content.acquire().await;
                    if !self.wait_out_hold(call, &mut waited).await? {
                        break;
                    }
                }
            }
            let credential = self.credential(call).await?;
            let raw = match self.send(call, &url, &credential).await {
                Ok(raw) => raw,
                Err(source) => {
                    let unsent = source.is_connect();
                    let (method, path) = call.error_context();
                    let err = GitHubError::Transport {
                        method,
                        path,
                        source,
                    };
                    if (call.retry == Retry::Always || unsent)
                        && let Some(delay) = backoff.next()
                    {
                        tracing::warn!(method = %call.method, path = %call.path, delay_ms = delay.as_millis() as u64, error = %err, "GitHub request failed; retrying");
                        tokio::time::sleep(delay).await;
                        continue;
                    }
                    return Err(err);
                }
            };
            if limits::remaining(&raw.headers) == Some(0)
                && let Some(reset) = limits::until_reset(&raw.headers)
            {
                // The primary quota is spent: nothing more until it resets.
                self.hold.extend(reset, "primary rate limit spent");
            }
            let etag = raw
                .headers
                .get(ETAG)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            if raw.status == StatusCode::NOT_MODIFIED && call.if_none_match.is_some() {
                return Ok(Answer {
                    next_page: false,
                    body: Bytes::new(),
                    etag: etag.or_else(|| call.if_none_match.clone()),
                    not_modified: true,
                });
            }
            if raw.status.is_success() {
                return Ok(Answer {
                    next_page: has_next_page(raw.headers.get(LINK).and_then(|v| v.to_str().ok())),
                    body: raw.body,
                    etag,
                    not_modified: false,
                });
            }
            let error_body = ErrorBody::parse(&raw.body);
            match limits::limit_wait(raw.status, &raw.headers, error_body.mentions_rate_limit()) {
                Limited::No => {}
                limited => {
                    let wait = match limited {
                        Limited::For(wait) => wait.max(MIN_LIMIT_WAIT),
                        _ => SECONDARY_MIN_WAIT * 2u32.saturating_pow(limited_rounds.min(16)),
                    };
                    limited_rounds += 1;
                    // Everyone waits, not just this call, and also when this
                    // call gives up: GitHub asks that no requests be made
                    // while limited.
                    self.hold.extend(wait, "rate limited");
                    if limited_rounds > MAX_LIMITED_ROUNDS {
                        // Limited again and again: leave it for redelivery.
                        return Err(self.rate_limited(call, wait));
                    }
                    self.admit_wait(call, waited, wait)?;
                    tracing::warn!(method = %call.method, path = %call.path, status = raw.status.as_u16(), wait_ms = wait.as_millis() as u64, "GitHub rate limit; holding requests");
                    continue;
                }
            }
            if raw.status == StatusCode::UNAUTHORIZED
                && call.jwt.is_none()
                && !reauthenticated
                && let Auth::App(app) = &self.auth
            {
                tracing::info!(method = %call.method, path = %call.path, "GitHub refused the installation token; fetching a new one");
                app.forget(&credential).await;
                reauthenticated = true;
                continue;
            }
            let err = status_error(call, raw.status, &error_body, raw.body.len());
            if raw.status.is_server_error()
                && call.retry == Retry::Always
                && let Some(delay) = backoff.next()
            {
                tracing::warn!(method = %call.method, path = %call.path, status = raw.status.as_u16(), delay_ms = delay.as_millis() as u64, "GitHub server error; retrying");
                tokio::time::sleep(delay).await;
                continue;
            }
            return Err(err);
        }
    }

    /// Sleeps through a hold, if there is one (and it fits in `max_wait`).
    async fn wait_out_hold(&self, call: &Call, waited: &mut Duration) -> Result<bool, GitHubError> {
        let Some((hold, _)) = self.hold.remaining() else {
            return Ok(false);
        };
        self.admit_wait(call, *waited, hold)?;
        tracing::info!(method = %call.method, path = %call.path, wait_ms = hold.as_millis() as u64, "holding GitHub request for a rate limit");
        tokio::time::sleep(hold).await;
        *waited += hold;
        Ok(true)
    }

    /// Refuses a wait that would take this call past `max_wait`.
    fn admit_wait(&self, call: &Call, waited: Duration, wait: Duration) -> Result<(), GitHubError> {
        if waited + wait > self.max_wait {
            return Err(self.rate_limited(call, wait));
        }
        Ok(())
    }

    fn rate_limited(&self, call: &Call, wait: Duration) -> GitHubError {
        let (method, path) = call.error_context();
        tracing::warn!(method = %method, path = %path, wait_ms = wait.as_millis() as u64, "GitHub rate limit outlasts what one call may wait; giving up for now");
        GitHubError::RateLimited {
            method,
            path,
            wait,
            max_wait: self.max_wait,
        }
    }

    async fn credential(&self, call: &Call) -> Result<Secret, GitHubError> {
        if let Some(jwt) = &call.jwt {
            return Ok(jwt.clone());
        }
        match &self.auth {
            Auth::Token(token) => Ok(token.clone()),
            Auth::App(app) => {
                app.token(|jwt| Box::pin(self.exchange(app.token_path(), jwt)))
                    .await
            }
        }
    }

    /// `POST /app/installations/{id}/access_tokens` with the app's JWT.
    async fn exchange(
        &self,
        path: String,
        jwt: Secret,
    ) -> Result<(InstallationToken, String), GitHubError> {
        let call = Call {
            method: Method::POST,
            path,
            query: Vec::new(),
            body: None,
            // A second token is harmless: the exchange is safe to repeat.
            retry: Retry::Always,
            jwt: Some(jwt),
            if_none_match: None,
        };
        let answer = self.call(&call).await?;
        Ok((answer.json(&call)?, call.path))
    }

    /// The full URL of a call. The base was validated and paths are built
    /// from checked parts, so this fails only on a bug.
    fn url(&self, call: &Call) -> Result<Url, GitHubError> {
        let mut url = Url::parse(&format!("{}{}", self.base, call.path)).map_err(|e| {
            GitHubError::Settings(format!("cannot form a URL for {}: {e}", call.path))
        })?;
        if !call.query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(call.query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        Ok(url)
    }

    async fn send(
        &self,
        call: &Call,
        url: &Url,
        credential: &Secret,
    ) -> Result<Raw, reqwest::Error> {
        let mut request = self
            .http
            .request(call.method.clone(), url.clone())
            .timeout(self.request_timeout)
            .header(ACCEPT, "application/vnd.github+json")
            .header("x-github-api-version", API_VERSION)
            .header(USER_AGENT, USER_AGENT_VALUE)
            .header(AUTHORIZATION, format!("Bearer {}", credential.expose()));
        if let Some(tag) = &call.if_none_match {
            request = request.header(IF_NONE_MATCH, tag.as_str());
        }
        match &call.body {
            Some(body) => {
                request = request
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.clone());
            }
            None if call.method != Method::GET => request = http::bodyless(request),
            None => {}
        }
        let mut response = request.send().await?;
        let status = response.status();
        let headers = response.headers().clone();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                // Keep what fits: a 2xx this large fails to parse and is reported as such.
                break;
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Raw {
            status,
            headers,
            body: Bytes::from(body),
        })
    }
}

/// What a non-2xx, non-rate-limit answer means.
fn status_error(call: &Call, status: StatusCode, body: &ErrorBody, body_len: usize) -> GitHubError {
    let (method, path) = call.error_context();
    let message = body.message(body_len);
    match status.as_u16() {
        401 => GitHubError::Unauthorized {
            method,
            path,
            message,
        },
        403 => GitHubError::Forbidden {
            method,
            path,
            message,
        },
        404 | 410 => GitHubError::NotFound {
            method,
            path,
            status: status.as_u16(),
        },
        400 | 422 => GitHubError::Rejected {
            method,
            path,
            status: status.as_u16(),
            message,
            errors: body.details(),
        },
        code => GitHubError::Status {
            method,
            path,
            status: code,
            message,
        },
    }
}
