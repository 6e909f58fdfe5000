//! Finding our own text again by its marker: the issues of a repository
//! created since a time (newest first, stopping at the first older one), or
//! the comments of an issue updated since a time. This is how a lost answer
//! or a crash between posting and recording is told apart from a failure.
//!
//! Read-only: nothing here posts, retries (the transport does) or decides
//! what to do with what it finds.

use super::transport::Call;
use super::{GitHub, GitHubError, wire};
use crate::tracker::IssueRef;
use chrono::{DateTime, Utc};

/// Marker searches page at most this far (100 items a page).
const MAX_SEARCH_PAGES: u32 = 30;

impl GitHub {
    /// Lists the repository's issues newest first (`since` narrows by update
    /// time, which is never before creation) until one is older than `since`.
    pub(super) async fn search_issues(
        &self,
        repo: &str,
        owner: &str,
        name: &str,
        marker: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<IssueRef>, GitHubError> {
        let path = format!("/repos/{owner}/{name}/issues");
        let creator = self.login();
        for page in 1..=MAX_SEARCH_PAGES {
            let mut query = vec![
                ("state", "all".to_owned()),
                ("sort", "created".to_owned()),
                ("direction", "desc".to_owned()),
                ("since", wire::format_timestamp(since)),
                ("per_page", "100".to_owned()),
                ("page", page.to_string()),
            ];
            if let Some(login) = &creator {
                query.push(("creator", login.clone()));
            }
            let call = Call::get(path.clone(), query);
            let answer = self.inner.transport.call(&call).await?;
            let issues: Vec<wire::Issue> = answer.json(&call)?;
            let mut reached_older = false;
            for issue in issues.iter().filter(|i| i.pull_request.is_none()) {
                // An unreadable time counts as inside the window: better to
                // look at one issue too many than to miss ours.
                if wire::timestamp(&issue.created_at).is_some_and(|t| t < since) {
                    reached_older = true;
                    continue;
                }
                if issue.body.as_deref().is_some_and(|b| b.contains(marker)) {
                    return Ok(Some(IssueRef {
                        repo: repo.to_owned(),
                        number: issue.number,
                        url: issue.html_url.clone(),
                    }));
                }
            }
            if reached_older || issues.is_empty() || !answer.next_page {
                return Ok(None);
            }
        }
        Err(GitHubError::SearchTooLong {
            repo: repo.to_owned(),
            what: "issues",
            pages: MAX_SEARCH_PAGES,
        })
    }

    /// Lists an issue's comments updated since `since` (oldest first, all pages).
    pub(super) async fn search_comments(
        &self,
        repo: &str,
        owner: &str,
        name: &str,
        number: u64,
        marker: &str,
        since: DateTime<Utc>,
    ) -> Result<bool, GitHubError> {
        let path = format!("/repos/{owner}/{name}/issues/{number}/comments");
        for page in 1..=MAX_SEARCH_PAGES {
            let call = Call::get(
                path.clone(),
                vec![
                    ("since", wire::format_timestamp(since)),
                    ("per_page", "100".to_owned()),
                    ("page", page.to_string()),
                ],
            );
            let answer = self.inner.transport.call(&call).await?;
            let comments: Vec<wire::Comment> = answer.json(&call)?;
            let found = comments.iter().any(|c| {
                wire::timestamp(&c.created_at).is_none_or(|t| t >= since)
                    && c.body.as_deref().is_some_and(|b| b.contains(marker))
            });
            if found {
                return Ok(true);
            }
            if comments.is_empty() || !answer.next_page {
                return Ok(false);
            }
        }
        Err(GitHubError::SearchTooLong {
            repo: repo.to_owned(),
            what: "comments",
            pages: MAX_SEARCH_PAGES,
        })
    }
}
