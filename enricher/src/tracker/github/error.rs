//! What can go wrong talking to GitHub, and the one place that decides what
//! each failure means: transient (leave the message for redelivery) or
//! permanent (a bad token, a missing repository, a rejected body).
//!
//! Errors name the method and API path, the status and GitHub's own
//! `message`; they never carry a token, a private key, a JWT or a request
//! body, and never quote a non-JSON answer (an HTML error page) verbatim.

use std::time::Duration;

/// A failure of a GitHub call. See [`GitHubError::is_retryable`].
#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    /// The settings cannot work (checked before any network call).
    #[error("GitHub settings: {0}")]
    Settings(String),

    /// The App private key is not a usable RSA PEM key. The key itself is never quoted.
    #[error("GitHub App {app_id}: the private key is not a usable RSA PEM key ({reason})")]
    PrivateKey { app_id: String, reason: String },

    /// `repo` is not `owner/name`.
    #[error("invalid GitHub repository {repo:?}: expected owner/name")]
    Repo { repo: String },

    /// The text to post does not contain its deduplication marker, so a lost
    /// answer could not be told apart from a failure.
    #[error(
        "{what} for {repo} does not contain its marker; refusing to post without a way to find it again"
    )]
    MarkerMissing { repo: String, what: &'static str },

    /// 401: the token, JWT or installation is not accepted.
    #[error("{method} {path}: GitHub rejected the credentials (401: {message})")]
    Unauthorized {
        method: String,
        path: String,
        message: String,
    },

    /// 403 that is not a rate limit: the token lacks a permission, issues are
    /// disabled, the request was refused.
    #[error("{method} {path}: forbidden (403: {message})")]
    Forbidden {
        method: String,
        path: String,
        message: String,
    },

    /// 404 or 410: the repository or issue does not exist (or the token cannot see it).
    #[error("{method} {path}: not found ({status})")]
    NotFound {
        method: String,
        path: String,
        status: u16,
    },

    /// 422 (or 400): GitHub refused the content, e.g. a body over 65,536 characters.
    #[error(
        "{method} {path}: GitHub rejected the request ({status}: {message}{})",
        details(errors)
    )]
    Rejected {
        method: String,
        path: String,
        status: u16,
        message: String,
        /// `errors[]` of GitHub's answer, each as `field code: message`.
        errors: Vec<String>,
    },

    /// A rate limit outlasts what one call may wait (`max_wait`, or limited
    /// again and again): leave the work for later. All requests stay held
    /// for `wait` meanwhile.
    #[error(
        "{method} {path}: rate limited by GitHub (asked to wait {wait:?}); more than one call may wait (max_wait {max_wait:?}), left for later"
    )]
    RateLimited {
        method: String,
        path: String,
        wait: Duration,
        max_wait: Duration,
    },

    /// Any other status (5xx after the retries, or an unexpected 4xx).
    #[error("{method} {path}: GitHub answered {status}: {message}")]
    Status {
        method: String,
        path: String,
        status: u16,
        message: String,
    },

    /// No answer: connection refused or reset, timeout, a body cut off.
    #[error("{method} {path}: request failed: {}", describe(source))]
    Transport {
        method: String,
        path: String,
        #[source]
        source: reqwest::Error,
    },

    /// A 2xx answer we cannot read.
    #[error("{method} {path}: unreadable answer from GitHub: {reason}")]
    Decode {
        method: String,
        path: String,
        reason: String,
    },

    /// Looking for a marker went through more issues than we are willing to page.
    #[error(
        "searching {repo} for a marker stopped after {pages} pages of {what} without reaching the start of the window"
    )]
    SearchTooLong {
        repo: String,
        what: &'static str,
        pages: u32,
    },
}

/// The error and its innermost cause ("error sending request …: connection refused").
fn describe(e: &reqwest::Error) -> String {
    let mut innermost: Option<&dyn std::error::Error> = None;
    let mut next = std::error::Error::source(e);
    while let Some(s) = next {
        innermost = Some(s);
        next = s.source();
    }
    match innermost {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

fn details(errors: &[String]) -> String {
    if errors.is_empty() {
        String::new()
    } else {
        format!("; {}", errors.join("; "))
    }
}

impl GitHubError {
    /// Transient: the same call may well succeed later, so the caller leaves
    /// the message for redelivery. Everything else is permanent (dead letter,
    /// fix the configuration or the content).
    pub fn is_retryable(&self) -> bool {
        match self {
            GitHubError::RateLimited { .. } | GitHubError::Transport { .. } => true,
            GitHubError::Status { status, .. } => *status >= 500 || *status == 408,
            GitHubError::Settings(_)
            | GitHubError::PrivateKey { .. }
            | GitHubError::Repo { .. }
            | GitHubError::MarkerMissing { .. }
            | GitHubError::Unauthorized { .. }
            | GitHubError::Forbidden { .. }
            | GitHubError::NotFound { .. }
            | GitHubError::Rejected { .. }
            | GitHubError::Decode { .. }
            | GitHubError::SearchTooLong { .. } => false,
        }
    }

    /// A short, closed label for metrics (`error kind`).
    pub fn kind(&self) -> &'static str {
        match self {
            GitHubError::Settings(_) | GitHubError::PrivateKey { .. } => "settings",
            GitHubError::Repo { .. } | GitHubError::MarkerMissing { .. } => "input",
            GitHubError::Unauthorized { .. } => "unauthorized",
            GitHubError::Forbidden { .. } => "forbidden",
            GitHubError::NotFound { .. } => "not_found",
            GitHubError::Rejected { .. } => "rejected",
            GitHubError::RateLimited { .. } => "rate_limited",
            GitHubError::Status { .. } => "status",
            GitHubError::Transport { .. } => "transport",
            GitHubError::Decode { .. } => "decode",
            GitHubError::SearchTooLong { .. } => "search_too_long",
        }
    }

    /// Did the request perhaps take effect although we have no success answer?
    /// (A 5xx or a connection that broke after the request was sent.) Only
    /// such failures of a POST need the marker check before a retry.
    pub(super) fn outcome_unknown(&self) -> bool {
        match self {
            GitHubError::Transport { source, .. } => !source.is_connect(),
            GitHubError::Status { status, .. } => *status >= 500,
            _ => false,
        }
    }
}
