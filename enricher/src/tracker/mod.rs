//! Where issues go: GitHub (github.com or Enterprise Server, `github.rs`) or,
//! on the embedded default, a directory of Markdown files (`dir.rs`). Both
//! keep one contract: create with a hidden marker in the body, find an issue
//! by its marker (recovery after a lost answer or a crash), tell whether an
//! issue is open, comment (also with a marker), and find a comment by it.

pub mod dir;
pub mod github;

pub use dir::{DirError, DirTracker};
pub use github::{GitHub, GitHubError, NewIssue};

use serde::{Deserialize, Serialize};

/// A repository name as every part of the enricher takes it (the
/// configuration, the policy's output, GitHub's API paths, the issue folders):
/// `owner/name`, each at most 100 of the characters GitHub allows
/// (`A-Za-z0-9-_.`), not starting with a dot (so neither is `.` or `..`, and
/// neither can change an API path or a folder). The one check there is.
pub fn split_repo(repo: &str) -> Option<(&str, &str)> {
    let part_ok = |p: &str| {
        !p.is_empty()
            && p.len() <= 100
            && !p.starts_with('.')
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    };
    repo.split_once('/')
        .filter(|(owner, name)| part_ok(owner) && part_ok(name))
}

/// An issue a tracker holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueRef {
    /// `owner/name`.
    pub repo: String,
    pub number: u64,
    /// Web link (GitHub `html_url`) or the file path.
    pub url: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TrackerError {
    #[error(transparent)]
    GitHub(#[from] GitHubError),
    #[error(transparent)]
    Dir(#[from] DirError),
}

impl TrackerError {
    /// Transient: leave the work for a retry or redelivery.
    pub fn is_retryable(&self) -> bool {
        match self {
            TrackerError::GitHub(e) => e.is_retryable(),
            TrackerError::Dir(_) => true,
        }
    }

    /// A small closed set for metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            TrackerError::GitHub(e) if e.is_retryable() => "github_transient",
            TrackerError::GitHub(_) => "github_rejected",
            TrackerError::Dir(_) => "dir",
        }
    }
}

/// GitHub or a directory.
#[derive(Debug, Clone)]
pub enum Tracker {
    GitHub(GitHub),
    Dir(DirTracker),
}

fn since(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

impl Tracker {
    /// The tracker the settings name (no network call; a GitHub App key must sign).
    pub fn open(
        issues: &crate::config::Issues,
        http: reqwest::Client,
    ) -> Result<Tracker, GitHubError> {
        Ok(match issues {
            crate::config::Issues::Dir(path) => Tracker::Dir(DirTracker::new(path)),
            crate::config::Issues::GitHub(g) => Tracker::GitHub(GitHub::new(g.clone(), http)?),
        })
    }

    pub fn name(&self) -> String {
        match self {
            Tracker::GitHub(_) => "github".into(),
            Tracker::Dir(d) => d.name(),
        }
    }

    pub async fn create(
        &self,
        repo: &str,
        issue: &NewIssue,
        marker: &str,
    ) -> Result<IssueRef, TrackerError> {
        Ok(match self {
            Tracker::GitHub(g) => g.create_issue(repo, issue, marker).await?,
            Tracker::Dir(d) => d.create(repo, issue).await?,
        })
    }

    /// An issue of `repo` whose body holds `marker`, created since `since_ms`.
    pub async fn find(
        &self,
        repo: &str,
        marker: &str,
        since_ms: i64,
    ) -> Result<Option<IssueRef>, TrackerError> {
        Ok(match self {
            Tracker::GitHub(g) => g.find_issue(repo, marker, since(since_ms)).await?,
            Tracker::Dir(d) => d.find(repo, marker).await?,
        })
    }

    /// Whether repeats may still go to `issue`: it exists and is open.
    pub async fn is_open(&self, issue: &IssueRef) -> Result<bool, TrackerError> {
        match self {
            Tracker::GitHub(g) => match g.get_issue(&issue.repo, issue.number).await {
                Ok(state) => Ok(state.open),
                Err(GitHubError::NotFound { .. }) => Ok(false),
                Err(e) => Err(e.into()),
            },
            Tracker::Dir(d) => Ok(d.is_open(issue).await?),
        }
    }

    pub async fn comment(
        &self,
        issue: &IssueRef,
        body: &str,
        marker: &str,
    ) -> Result<(), TrackerError> {
        match self {
            Tracker::GitHub(g) => g.comment(&issue.repo, issue.number, body, marker).await?,
            Tracker::Dir(d) => d.comment(issue, body).await?,
        }
        Ok(())
    }

    /// Closes (`reason`: GitHub's `completed` / `not_planned`) or reopens an issue.
    pub async fn set_state(
        &self,
        issue: &IssueRef,
        open: bool,
        reason: Option<&str>,
    ) -> Result<(), TrackerError> {
        match self {
            Tracker::GitHub(g) => {
                g.set_state(&issue.repo, issue.number, open, reason).await?;
            }
            Tracker::Dir(d) => d.set_state(issue, open).await?,
        }
        Ok(())
    }

    pub async fn has_comment(
        &self,
        issue: &IssueRef,
        marker: &str,
        since_ms: i64,
    ) -> Result<bool, TrackerError> {
        Ok(match self {
            Tracker::GitHub(g) => {
                g.has_comment(&issue.repo, issue.number, marker, since(since_ms))
                    .await?
            }
            Tracker::Dir(d) => d.has(issue, marker).await?,
        })
    }
}
