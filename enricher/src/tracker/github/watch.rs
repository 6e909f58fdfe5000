//! What the response loop reads and changes on GitHub: the issues of a
//! repository updated since a time (a conditional request first, so a quiet
//! minute costs no quota), an issue's events (who closed, labelled, assigned
//! it, and when) and comments (who answered), and an issue's state (closed or
//! reopened from Falcon).
//!
//! Polling rather than webhooks: falconry runs in the user's private
//! subnets with no inbound endpoint to expose, and a missed webhook is a
//! missed conclusion, while a poll with a durable `since` cursor catches up
//! after any outage. Each poll is one request per repository, and a 304
//! answer does not count against GitHub's rate limit.

use super::transport::Call;
use super::{GitHub, GitHubError, encode, split_repo, wire};
use chrono::{DateTime, Utc};

/// Pages read per listing (100 items each) before the rest waits for the next poll.
const MAX_PAGES: u32 = 10;

/// An issue as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueSnapshot {
    pub number: u64,
    pub url: String,
    pub open: bool,
    /// `completed`, `not_planned`, `reopened`, ...
    pub state_reason: Option<String>,
    pub labels: Vec<String>,
    pub assignees: Vec<String>,
    /// Who opened it (falconry's own login for its issues).
    pub author: Option<String>,
    pub updated_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub comments: u64,
}

/// What changed since a time.
#[derive(Debug, Clone, Default)]
pub struct Updated {
    /// Oldest update first.
    pub issues: Vec<IssueSnapshot>,
    /// The first page's ETag, for the next poll.
    pub etag: Option<String>,
    /// Nothing changed (a 304).
    pub not_modified: bool,
    /// More pages were left for the next poll.
    pub truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueEvent {
    /// `closed`, `reopened`, `assigned`, `labeled`, ...
    pub event: String,
    pub actor: Option<String>,
    pub at: Option<DateTime<Utc>>,
    pub state_reason: Option<String>,
    pub label: Option<String>,
    pub assignee: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueComment {
    pub author: Option<String>,
    pub body: String,
    pub at: Option<DateTime<Utc>>,
}

fn snapshot(i: wire::Issue) -> IssueSnapshot {
    IssueSnapshot {
        number: i.number,
        url: i.html_url,
        open: i.state == "open",
        state_reason: i.state_reason,
        labels: i.labels.into_iter().map(|l| l.name).collect(),
        assignees: i.assignees.into_iter().map(|u| u.login).collect(),
        author: i.user.map(|u| u.login),
        updated_at: i.updated_at.as_deref().and_then(wire::timestamp),
        closed_at: i.closed_at.as_deref().and_then(wire::timestamp),
        comments: i.comments,
    }
}

impl GitHub {
    /// Issues and pull requests updated at or after `since`, oldest update
    /// first (pull requests left out). `etag`: the last poll's, sent as
    /// `If-None-Match` on the first page.
    pub async fn updated_issues(
        &self,
        repo: &str,
        since: DateTime<Utc>,
        etag: Option<&str>,
    ) -> Result<Updated, GitHubError> {
        let (owner, name) = split_repo(repo)?;
        let path = format!("/repos/{owner}/{name}/issues");
        let mut out = Updated::default();
        for page in 1..=MAX_PAGES {
            let mut call = Call::get(
                path.clone(),
                vec![
                    ("state", "all".to_owned()),
                    ("sort", "updated".to_owned()),
                    ("direction", "asc".to_owned()),
                    ("since", wire::format_timestamp(since)),
                    ("per_page", "100".to_owned()),
                    ("page", page.to_string()),
                ],
            );
            if page == 1 {
                call.if_none_match = etag.map(str::to_owned);
            }
            let answer = self.inner.transport.call(&call).await?;
            if page == 1 {
                out.etag = answer.etag.clone();
            }
            if answer.not_modified {
                out.not_modified = true;
                return Ok(out);
            }
            let issues: Vec<wire::Issue> = answer.json(&call)?;
            out.issues.extend(
                issues
                    .into_iter()
                    .filter(|i| i.pull_request.is_none())
                    .map(snapshot),
            );
            if !answer.next_page {
                return Ok(out);
            }
        }
        out.truncated = true;
        Ok(out)
    }

    /// An issue's events, oldest first (at most 1,000).
    pub async fn issue_events(
        &self,
        repo: &str,
        number: u64,
    ) -> Result<Vec<IssueEvent>, GitHubError> {
        let events: Vec<wire::Event> = self.all_pages(repo, number, "events").await?;
        Ok(events
            .into_iter()
            .map(|e| IssueEvent {
                event: e.event,
                actor: e.actor.map(|u| u.login),
                at: wire::timestamp(&e.created_at),
                state_reason: e.state_reason,
                label: e.label.map(|l| l.name),
                assignee: e.assignee.map(|u| u.login),
            })
            .collect())
    }

    /// An issue's comments, oldest first (at most 1,000).
    pub async fn issue_comments(
        &self,
        repo: &str,
        number: u64,
    ) -> Result<Vec<IssueComment>, GitHubError> {
        let comments: Vec<wire::Comment> = self.all_pages(repo, number, "comments").await?;
        Ok(comments
            .into_iter()
            .map(|c| IssueComment {
                author: c.user.map(|u| u.login),
                body: c.body.unwrap_or_default(),
                at: wire::timestamp(&c.created_at),
            })
            .collect())
    }

    /// Every page (up to [`MAX_PAGES`]) of `/repos/{o}/{r}/issues/{n}/{what}`.
    async fn all_pages<T: serde::de::DeserializeOwned>(
        &self,
        repo: &str,
        number: u64,
        what: &str,
    ) -> Result<Vec<T>, GitHubError> {
        let (owner, name) = split_repo(repo)?;
        let path = format!("/repos/{owner}/{name}/issues/{number}/{what}");
        let mut out = Vec::new();
        for page in 1..=MAX_PAGES {
            let call = Call::get(
                path.clone(),
                vec![("per_page", "100".to_owned()), ("page", page.to_string())],
            );
            let answer = self.inner.transport.call(&call).await?;
            let items: Vec<T> = answer.json(&call)?;
            out.extend(items);
            if !answer.next_page {
                break;
            }
        }
        Ok(out)
    }

    /// Closes (with `reason`: `completed` / `not_planned`) or reopens an issue.
    pub async fn set_state(
        &self,
        repo: &str,
        number: u64,
        open: bool,
        reason: Option<&str>,
    ) -> Result<(), GitHubError> {
        let (owner, name) = split_repo(repo)?;
        let path = format!("/repos/{owner}/{name}/issues/{number}");
        let body = encode(
            &wire::SetState {
                state: if open { "open" } else { "closed" },
                state_reason: reason,
            },
            &path,
        )?;
        let call = Call::patch(path, body);
        self.inner.transport.call(&call).await?;
        tracing::info!(repo, number, open, "GitHub issue state set");
        Ok(())
    }
}
