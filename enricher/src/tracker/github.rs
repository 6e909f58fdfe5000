//! The GitHub REST client of the tracker: create an issue, find one by its
//! hidden marker, read its state, comment, find a comment by marker. Works
//! with github.com and Enterprise Server (`https://HOST/api/v3`), with a
//! personal access token or as a GitHub App installation.
//!
//! Its promise is no duplicates: text is posted with a unique marker, and when
//! the outcome of a POST is unknown (5xx, timeout, connection lost after
//! sending) the client looks for the marker before it tries again. How a
//! single request is sent, paced, rate-limited and retried lives in
//! `github/transport.rs`; what the errors mean in `github/error.rs`. This file
//! must not render bodies, decide policy or log any body or token.

mod app;
mod error;
mod limits;
mod search;
mod transport;
mod watch;
mod wire;

pub use watch::{IssueComment, IssueEvent, IssueSnapshot, Updated};

pub use error::GitHubError;

use super::IssueRef;
use chrono::{DateTime, Utc};
use falconry_common::Secret;
use serde::Serialize;
use std::fmt;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use transport::{Auth, Call, Transport};

/// Content-creating requests per minute by default (GitHub's secondary limit is ~80).
pub const DEFAULT_CONTENT_PER_MINUTE: u32 = 60;
/// The longest rate-limit wait within one call before giving up (default).
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(15 * 60);
/// Per HTTP request (default).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How far before an attempt a marker search looks, for clock skew between us and GitHub.
const SEARCH_SKEW: chrono::TimeDelta = chrono::TimeDelta::minutes(2);

/// Where and how to reach GitHub.
#[derive(Debug, Clone)]
pub struct GitHubSettings {
    /// `https://api.github.com` or `https://HOST/api/v3` (a trailing slash is fine).
    pub api_url: String,
    pub auth: GitHubAuth,
    /// Our cap on content-creating requests (POST, PATCH, PUT, DELETE) per minute. Default 60.
    pub content_per_minute: u32,
    /// The longest we wait for rate limits within one call before failing
    /// with a retryable error. Default 15 minutes.
    pub max_wait: Duration,
    /// Per HTTP request. Default 30 s.
    pub request_timeout: Duration,
}

impl GitHubSettings {
    /// Settings with the defaults for everything but the URL and the credentials.
    pub fn new(api_url: impl Into<String>, auth: GitHubAuth) -> GitHubSettings {
        GitHubSettings {
            api_url: api_url.into(),
            auth,
            content_per_minute: DEFAULT_CONTENT_PER_MINUTE,
            max_wait: DEFAULT_MAX_WAIT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }
}

/// The credentials. `Debug` shows no secret.
#[derive(Debug, Clone)]
pub enum GitHubAuth {
    /// A personal access token (classic or fine-grained), sent as `Bearer`.
    Token(Secret),
    /// A GitHub App installation: `app_id` is the app id or its client id
    /// (the JWT's `iss`); the key is the app's PEM private key.
    App {
        app_id: String,
        installation_id: u64,
        private_key_pem: Secret,
    },
}

/// An issue to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIssue {
    pub title: String,
    /// Must contain the marker passed to [`GitHub::create_issue`].
    pub body: String,
    /// Labels, created by GitHub when missing (needs push access, else dropped).
    pub labels: Vec<String>,
    /// Logins; GitHub silently drops those who cannot be assigned.
    pub assignees: Vec<String>,
}

/// What the enricher needs to know about an existing issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueState {
    pub open: bool,
    pub number: u64,
    /// `html_url`.
    pub url: String,
    pub title: String,
}

/// The GitHub client; cheap to clone (one connection pool, one rate-limit state).
#[derive(Clone)]
pub struct GitHub {
    inner: Arc<Inner>,
}

struct Inner {
    transport: Transport,
    /// The login issues are created as, learned from our own creations (PAT
    /// only); narrows marker searches with `creator=`.
    login: Mutex<Option<String>>,
}

impl fmt::Debug for GitHub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitHub")
            .field("api_url", &self.inner.transport.base)
            .finish_non_exhaustive()
    }
}

impl GitHub {
    /// Validates the settings (URL, limits, credentials; the App key must
    /// sign) without any network call.
    pub fn new(settings: GitHubSettings, http: reqwest::Client) -> Result<GitHub, GitHubError> {
        let base = Transport::base_url(&settings.api_url)?;
        let per_minute = NonZeroU32::new(settings.content_per_minute)
            .ok_or_else(|| GitHubError::Settings("content_per_minute must be at least 1".into()))?;
        if settings.request_timeout.is_zero() {
            return Err(GitHubError::Settings(
                "request_timeout must be more than zero".into(),
            ));
        }
        let auth = match settings.auth {
            GitHubAuth::Token(token) => {
                let printable = token.expose().bytes().all(|b| b.is_ascii_graphic());
                if token.is_empty() || !printable {
                    return Err(GitHubError::Settings(
                        "the GitHub token is empty or contains spaces or control characters".into(),
                    ));
                }
                Auth::Token(token)
            }
            GitHubAuth::App {
                app_id,
                installation_id,
                private_key_pem,
            } => Auth::App(app::App::new(&app_id, installation_id, &private_key_pem)?),
        };
        Ok(GitHub {
            inner: Arc::new(Inner {
                transport: Transport {
                    http,
                    base,
                    auth,
                    content: limits::ContentLimiter::per_minute(per_minute),
                    hold: limits::Hold::default(),
                    max_wait: settings.max_wait,
                    request_timeout: settings.request_timeout,
                },
                login: Mutex::new(None),
            }),
        })
    }

    /// Creates an issue whose body contains `marker`. Never creates a
    /// duplicate: when a POST's outcome is unknown, it first looks for an
    /// issue with the marker created since just before the first attempt,
    /// returns it if found, and only then tries again.
    pub async fn create_issue(
        &self,
        repo: &str,
        issue: &NewIssue,
        marker: &str,
    ) -> Result<IssueRef, GitHubError> {
        let (owner, name) = split_repo(repo)?;
        check_marker(repo, &issue.body, marker, "the issue body")?;
        let path = format!("/repos/{owner}/{name}/issues");
        let body = encode(
            &wire::CreateIssue {
                title: &issue.title,
                body: &issue.body,
                labels: &issue.labels,
                assignees: &issue.assignees,
            },
            &path,
        )?;
        let call = Call::post(path, body);
        let first_try = Utc::now();
        let mut backoff = transport::backoff();
        loop {
            match self.inner.transport.call(&call).await {
                Ok(answer) => {
                    let created: wire::Issue = answer.json(&call)?;
                    self.learn_login(created.user.as_ref());
                    tracing::info!(repo, number = created.number, "GitHub issue created");
                    return Ok(IssueRef {
                        repo: repo.to_owned(),
                        number: created.number,
                        url: created.html_url,
                    });
                }
                Err(err) if err.outcome_unknown() => {
                    let Some(delay) = backoff.next() else {
                        return Err(err);
                    };
                    tracing::warn!(repo, error = %err, delay_ms = delay.as_millis() as u64, "issue creation outcome unknown; looking for its marker before trying again");
                    // Waiting first also gives GitHub time to list what it created.
                    tokio::time::sleep(delay).await;
                    if let Some(found) = self
                        .search_issues(repo, owner, name, marker, first_try - SEARCH_SKEW)
                        .await?
                    {
                        tracing::info!(
                            repo,
                            number = found.number,
                            "the issue was created after all"
                        );
                        return Ok(found);
                    }
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// Finds an issue (open or closed) whose body contains `marker`, created
    /// at or after `since`: recovery after a crash between create and record.
    pub async fn find_issue(
        &self,
        repo: &str,
        marker: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<IssueRef>, GitHubError> {
        let (owner, name) = split_repo(repo)?;
        self.search_issues(repo, owner, name, marker, since).await
    }

    /// Reads an issue. 404 and 410 (deleted, transferred away) are [`GitHubError::NotFound`].
    pub async fn get_issue(&self, repo: &str, number: u64) -> Result<IssueState, GitHubError> {
        let (owner, name) = split_repo(repo)?;
        let call = Call::get(format!("/repos/{owner}/{name}/issues/{number}"), Vec::new());
        let issue: wire::Issue = self.inner.transport.call(&call).await?.json(&call)?;
        Ok(IssueState {
            open: issue.state == "open",
            number: issue.number,
            url: issue.html_url,
            title: issue.title,
        })
    }

    /// Adds a comment whose body contains `marker`; as with issues, a lost
    /// answer is followed by a look for the marker, never by a blind repeat.
    pub async fn comment(
        &self,
        repo: &str,
        number: u64,
        body: &str,
        marker: &str,
    ) -> Result<(), GitHubError> {
        let (owner, name) = split_repo(repo)?;
        check_marker(repo, body, marker, "the comment")?;
        let path = format!("/repos/{owner}/{name}/issues/{number}/comments");
        let call = Call::post(path.clone(), encode(&wire::CreateComment { body }, &path)?);
        let first_try = Utc::now();
        let mut backoff = transport::backoff();
        loop {
            match self.inner.transport.call(&call).await {
                Ok(_) => {
                    tracing::info!(repo, number, "GitHub comment added");
                    return Ok(());
                }
                Err(err) if err.outcome_unknown() => {
                    let Some(delay) = backoff.next() else {
                        return Err(err);
                    };
                    tracing::warn!(repo, number, error = %err, delay_ms = delay.as_millis() as u64, "comment outcome unknown; looking for its marker before trying again");
                    tokio::time::sleep(delay).await;
                    if self
                        .search_comments(repo, owner, name, number, marker, first_try - SEARCH_SKEW)
                        .await?
                    {
                        tracing::info!(repo, number, "the comment was added after all");
                        return Ok(());
                    }
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// Whether the issue has a comment containing `marker`, created at or after `since`.
    pub async fn has_comment(
        &self,
        repo: &str,
        number: u64,
        marker: &str,
        since: DateTime<Utc>,
    ) -> Result<bool, GitHubError> {
        let (owner, name) = split_repo(repo)?;
        self.search_comments(repo, owner, name, number, marker, since)
            .await
    }

    fn learn_login(&self, user: Option<&wire::User>) {
        // App installations create as `name[bot]`, which `creator=` may not
        // match on every GitHub version: only narrow searches for PATs.
        if let (Auth::Token(_), Some(user)) = (&self.inner.transport.auth, user) {
            let mut login = self
                .inner
                .login
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            *login = Some(user.login.clone());
        }
    }

    fn login(&self) -> Option<String> {
        self.inner
            .login
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// `owner/name` (see [`super::split_repo`]), or the error that says it is not.
fn split_repo(repo: &str) -> Result<(&str, &str), GitHubError> {
    super::split_repo(repo).ok_or_else(|| GitHubError::Repo {
        repo: repo.to_owned(),
    })
}

fn check_marker(
    repo: &str,
    text: &str,
    marker: &str,
    what: &'static str,
) -> Result<(), GitHubError> {
    if marker.trim().is_empty() || !text.contains(marker) {
        return Err(GitHubError::MarkerMissing {
            repo: repo.to_owned(),
            what,
        });
    }
    Ok(())
}

fn encode<T: Serialize>(value: &T, path: &str) -> Result<Vec<u8>, GitHubError> {
    serde_json::to_vec(value)
        .map_err(|e| GitHubError::Settings(format!("cannot encode the request to {path}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repos_must_be_owner_slash_name() {
        assert_eq!(
            split_repo("octo-org/sec.alerts_1").unwrap(),
            ("octo-org", "sec.alerts_1")
        );
        for bad in [
            "", "octo", "octo/", "/x", "a/b/c", "a/..", "a/b?x=1", "a/b#c", "a b/c", "a/%2e%2e",
        ] {
            assert!(split_repo(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn settings_are_checked_before_any_call() {
        let http = reqwest::Client::new();
        let token = || GitHubAuth::Token(Secret::new("ghp_x"));
        for url in [
            "ftp://x",
            "not a url",
            "http://github.example.com",
            "https://x/api/v3?a=b",
            "https://user:pw@x",
        ] {
            let err = GitHub::new(GitHubSettings::new(url, token()), http.clone()).unwrap_err();
            assert!(matches!(err, GitHubError::Settings(_)), "{url}: {err}");
            assert!(!err.is_retryable());
        }
        let mut s = GitHubSettings::new("https://api.github.com", token());
        s.content_per_minute = 0;
        assert!(GitHub::new(s, http.clone()).is_err());
        let s = GitHubSettings::new(
            "https://api.github.com",
            GitHubAuth::Token(Secret::new("ghp secret\n")),
        );
        let err = GitHub::new(s, http.clone()).unwrap_err();
        assert!(!err.to_string().contains("secret"));
        let gh = GitHub::new(
            GitHubSettings::new("https://ghe.example.com/api/v3/", token()),
            http,
        )
        .unwrap();
        assert_eq!(gh.inner.transport.base, "https://ghe.example.com/api/v3");
        assert!(!format!("{gh:?}").contains("ghp_x"));
    }

    #[test]
    fn the_marker_must_be_in_the_text() {
        assert!(check_marker("o/r", "body <!-- m:1 -->", "m:1", "x").is_ok());
        assert!(check_marker("o/r", "body", "m:1", "x").is_err());
        assert!(check_marker("o/r", "body", " ", "x").is_err());
    }
}
