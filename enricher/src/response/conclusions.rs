//! What responders do in the issues, read back into the cases: the first
//! human response (an assignment, a label or a comment by anyone but
//! falconry), the close with its conclusion label (or none: `unspecified`,
//! never guessed), a reopen.
//!
//! GitHub: one conditional `GET /repos/{o}/{r}/issues?state=all&since=…`
//! per repository and round (a 304 when nothing changed costs no quota; see
//! `tracker/github/watch.rs` for why polling and not webhooks), then, for
//! the issues of a case that changed, their events and comments. The
//! `since` cursor and the ETag are kept per repository in the state store.
//!
//! The embedded default (`dir://`): the header of each open case's Markdown
//! file: `state: closed` and `conclusion: false-positive` (a conclusion
//! label in `labels` works too), optionally `closed:` and `closed_by:`.

use super::case::{Case, CaseStore, Closed, UNSPECIFIED, conclusion_name};
use super::config::ResponseSettings;
use super::{Responder, ResponseError, RoundSummary, now_ms};
use crate::tracker::github::{GitHub, IssueSnapshot};
use crate::tracker::{DirTracker, IssueRef, Tracker};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// A closing comment is the last human comment at most this long before the close.
const CLOSING_COMMENT_WINDOW_MS: i64 = 60 * 60 * 1000;
/// How far back the first look at a repository goes.
const FIRST_LOOK_MS: i64 = 30 * 24 * 3600 * 1000;

#[derive(Debug, Default, Serialize, Deserialize)]
struct RepoCursor {
    since_ms: Option<i64>,
    etag: Option<String>,
}

fn ms(t: Option<DateTime<Utc>>) -> Option<i64> {
    t.map(|t| t.timestamp_millis())
}

impl Responder {
    pub(super) async fn watch_issues(
        &self,
        summary: &mut RoundSummary,
    ) -> Result<(), ResponseError> {
        match self.tracker() {
            Tracker::GitHub(gh) => {
                for repo in self.case_repos().await? {
                    if let Err(e) = self.watch_repo(gh, &repo, summary).await {
                        summary.failures += 1;
                        self.metrics.error(e.kind());
                        tracing::warn!(repo, error = %e, "reading a repository's issues failed; trying again next round");
                    }
                }
            }
            Tracker::Dir(d) => {
                for (before, after) in sync_dir(self.cases(), d, &self.settings).await? {
                    self.observe(&before, &after);
                    summary.observed += 1;
                    self.write_back_now(&after, summary).await;
                }
            }
        }
        Ok(())
    }

    /// The repositories holding cases (from the case keys).
    async fn case_repos(&self) -> Result<BTreeSet<String>, ResponseError> {
        let prefix = self.keys.cases_prefix();
        let mut repos = BTreeSet::new();
        for o in self.state.list(&prefix).await? {
            let rest = o.key.strip_prefix(&prefix).unwrap_or(&o.key);
            let mut parts = rest.split('/');
            if let (Some(owner), Some(name), Some(_)) = (parts.next(), parts.next(), parts.next()) {
                repos.insert(format!("{owner}/{name}"));
            }
        }
        Ok(repos)
    }

    async fn watch_repo(
        &self,
        gh: &GitHub,
        repo: &str,
        summary: &mut RoundSummary,
    ) -> Result<(), ResponseError> {
        let key = self.keys.issues_cursor_key(repo);
        let cursor: RepoCursor = match self.state.get_tagged(&key).await? {
            Some((body, _)) => serde_json::from_slice(&body).unwrap_or_default(),
            None => RepoCursor::default(),
        };
        let since_ms = cursor.since_ms.unwrap_or_else(|| now_ms() - FIRST_LOOK_MS);
        let since = DateTime::from_timestamp_millis(since_ms).unwrap_or_default();
        let updated = gh
            .updated_issues(repo, since, cursor.etag.as_deref())
            .await
            .map_err(|e| ResponseError::Tracker(e.into()))?;
        if updated.not_modified {
            return Ok(());
        }
        let mut newest = since_ms;
        for snap in &updated.issues {
            let issue = IssueRef {
                repo: repo.to_owned(),
                number: snap.number,
                url: snap.url.clone(),
            };
            if let Some(l) = self.cases().load(&issue).await? {
                let observed = self.observe_github(gh, &l.case, snap).await?;
                if let Some(o) = observed
                    && let Some(after) = self.apply(&l.case, &o).await?
                {
                    summary.observed += 1;
                    self.write_back_now(&after, summary).await;
                }
            }
            if let Some(t) = ms(snap.updated_at) {
                newest = newest.max(t);
            }
        }
        // `since` is inclusive: the newest issue is listed again next time
        // (and changes nothing), so an update in the same second is not missed.
        let body = serde_json::to_vec(&RepoCursor {
            since_ms: Some(newest),
            etag: if updated.truncated {
                None
            } else {
                updated.etag
            },
        })
        .unwrap_or_default();
        self.state.put_bytes(&key, Bytes::from(body)).await?;
        Ok(())
    }

    /// What an updated GitHub issue says about its case; `None` when there
    /// is nothing new to learn.
    async fn observe_github(
        &self,
        gh: &GitHub,
        case: &Case,
        snap: &IssueSnapshot,
    ) -> Result<Option<Observed>, ResponseError> {
        let changed_state = snap.open != case.is_open();
        let may_have_response = case.first_response.is_none()
            && (snap.comments > 0 || !snap.assignees.is_empty() || !snap.labels.is_empty());
        if !changed_state && !may_have_response {
            return Ok(None);
        }
        let tracker_err = |e| ResponseError::Tracker(crate::tracker::TrackerError::GitHub(e));
        let events = gh
            .issue_events(&case.issue.repo, snap.number)
            .await
            .map_err(tracker_err)?;
        let comments = if snap.comments > 0 {
            gh.issue_comments(&case.issue.repo, snap.number)
                .await
                .map_err(tracker_err)?
        } else {
            Vec::new()
        };
        // falconry is whoever opened the issue.
        let us = snap.author.as_deref();
        let human = |who: Option<&str>| who.is_some_and(|w| Some(w) != us);
        let mut first: Option<(i64, String, &'static str)> = None;
        let mut consider = |at: Option<i64>, by: &str, how: &'static str| {
            if let Some(at) = at
                && at >= case.opened_ms - 60_000
                && first.as_ref().is_none_or(|(t, _, _)| at < *t)
            {
                first = Some((at, by.to_owned(), how));
            }
        };
        for e in &events {
            let how = match e.event.as_str() {
                "assigned" => "assigned",
                "labeled" => "labeled",
                "commented" => "comment",
                _ => continue,
            };
            if human(e.actor.as_deref()) {
                consider(ms(e.at), e.actor.as_deref().unwrap_or(""), how);
            }
        }
        for c in &comments {
            if human(c.author.as_deref()) && !c.body.contains("falconry:") {
                consider(ms(c.at), c.author.as_deref().unwrap_or(""), "comment");
            }
        }
        let close = events.iter().rev().find(|e| e.event == "closed");
        let closed_ms = close.and_then(|e| ms(e.at)).or(ms(snap.closed_at));
        let closing_comment = closed_ms.and_then(|at| {
            comments
                .iter()
                .rev()
                .filter(|c| human(c.author.as_deref()))
                .find(|c| {
                    ms(c.at)
                        .is_some_and(|t| t <= at + 60_000 && t >= at - CLOSING_COMMENT_WINDOW_MS)
                })
                .map(|c| c.body.clone())
        });
        Ok(Some(Observed {
            open: snap.open,
            closed_ms,
            closed_by: close.and_then(|e| e.actor.clone()),
            reason: close
                .and_then(|e| e.state_reason.clone())
                .or_else(|| snap.state_reason.clone()),
            conclusion: conclusion_of_labels(&self.settings, &snap.labels),
            first_response: first,
            closing_comment,
            from: "github",
        }))
    }

    /// Writes what was observed into the case: the case after, when it changed.
    async fn apply(&self, case: &Case, o: &Observed) -> Result<Option<Case>, ResponseError> {
        let (after, changed) = apply_observed(self.cases(), case, o).await?;
        if let Some(after) = &after {
            self.observe(case, after);
        }
        Ok(after.filter(|_| changed))
    }
}

/// A conclusion as written in a header (`false-positive`, a label, ...).
fn conclusion_of(settings: &ResponseSettings, text: &str) -> String {
    settings
        .conclusion_of_label(text)
        .map(str::to_owned)
        .unwrap_or_else(|| conclusion_name(text.trim_start_matches("conclusion:")))
}

/// The conclusion the issue's labels name, if one does.
fn conclusion_of_labels(settings: &ResponseSettings, labels: &[String]) -> Option<String> {
    labels
        .iter()
        .find_map(|l| settings.conclusion_of_label(l))
        .map(str::to_owned)
}

/// The embedded default's issues read into their cases: `(before, after)`
/// of each case that changed. Also what `falconry report --issues dir://`
/// runs first, so a report shows the conclusions just written.
pub async fn sync_dir(
    cases: &CaseStore,
    dir: &DirTracker,
    settings: &ResponseSettings,
) -> Result<Vec<(Case, Case)>, ResponseError> {
    let mut out = Vec::new();
    for l in cases.all().await? {
        let closed_here = l.case.closed.as_ref().is_some_and(|c| c.from == "dir");
        if !l.case.is_open() && !closed_here {
            continue;
        }
        let Some(file) = dir.read(&l.case.issue).await? else {
            continue;
        };
        let conclusion = file
            .conclusion
            .as_deref()
            .map(|c| conclusion_of(settings, c))
            .or_else(|| conclusion_of_labels(settings, &file.labels));
        let o = Observed {
            open: file.open,
            closed_ms: ms(file.closed).or(ms(file.modified)),
            closed_by: file.closed_by.clone(),
            reason: None,
            conclusion,
            first_response: None,
            closing_comment: None,
            from: "dir",
        };
        if let (Some(after), true) = apply_observed(cases, &l.case, &o).await? {
            out.push((l.case, after));
        }
    }
    Ok(out)
}

/// Writes what was observed into the case: the case after, and whether it changed.
async fn apply_observed(
    cases: &CaseStore,
    case: &Case,
    o: &Observed,
) -> Result<(Option<Case>, bool), ResponseError> {
    {
        let now = now_ms();
        let mut changed = false;
        let after = cases
            .update(&case.issue, |c| {
                changed = false;
                if let Some((at, by, how)) = &o.first_response {
                    changed |= c.responded(*at, by, how);
                }
                if !o.open && c.is_open() {
                    c.close(Closed {
                        at_ms: o.closed_ms.unwrap_or(now),
                        by: o.closed_by.clone(),
                        conclusion: o
                            .conclusion
                            .clone()
                            .unwrap_or_else(|| UNSPECIFIED.to_owned()),
                        reason: o.reason.clone(),
                        comment: o.closing_comment.clone(),
                        from: o.from.into(),
                    });
                    changed = true;
                } else if o.open && !c.is_open() {
                    c.reopen();
                    changed = true;
                } else if !o.open
                    && let Some(cl) = &mut c.closed
                    && cl.from == o.from
                    && let Some(conclusion) = &o.conclusion
                    && cl.conclusion == UNSPECIFIED
                {
                    // A conclusion label added after the close.
                    cl.conclusion = conclusion.clone();
                    changed = true;
                }
                changed
            })
            .await?;
        if let Some(after) = &after
            && changed
        {
            tracing::info!(
                issue = %after.issue.url,
                open = after.is_open(),
                conclusion = after.closed.as_ref().map(|c| c.conclusion.as_str()),
                "case updated from its issue"
            );
        }
        Ok((after, changed))
    }
}

/// One look at an issue.
struct Observed {
    open: bool,
    closed_ms: Option<i64>,
    closed_by: Option<String>,
    reason: Option<String>,
    conclusion: Option<String>,
    first_response: Option<(i64, String, &'static str)>,
    closing_comment: Option<String>,
    from: &'static str,
}
