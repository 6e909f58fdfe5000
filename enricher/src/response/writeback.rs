//! What the issues say, written back to Falcon's alerts
//! (`PATCH /alerts/entities/alerts/v3`): a first human response sets
//! `in_progress`; a close sets `closed`, adds the conclusion as a tag and
//! appends the closing comment and the issue's link as a comment; a reopen
//! sets `reopened`.
//!
//! Once across replicas and restarts: the write-back is claimed in the case
//! record (compare-and-swap) before the PATCH and marked done after it. A
//! claim left behind by a crash (or a lost answer) is taken over after the
//! claim TTL, and Falcon is asked first whether the change is already there
//! (status, and the tag for a close); only if it is not is the PATCH made
//! again. Rule and indicator cases have no Falcon alert: their conclusion
//! stays in the case for the rule's statistics.

use super::case::{Action, Case};
use super::falcon::AlertsApi;
use super::{Responder, ResponseError, now_ms};
use crate::alert::normalize::api;
use crate::tracker::IssueRef;

impl Responder {
    /// Makes the write-backs due on the case of `issue`; how many were made.
    pub(super) async fn write_back(&self, issue: &IssueRef) -> Result<u64, ResponseError> {
        let Some(api) = &self.falcon else {
            return Ok(0);
        };
        let mut made = 0;
        // At most one action per state: in_progress, then closed or reopened.
        for _ in 0..3 {
            let Some(l) = self.cases().load(issue).await? else {
                return Ok(made);
            };
            let Some(action) = l.case.due() else {
                return Ok(made);
            };
            let mut claimed = l.case.clone();
            let Some(resumed) = claimed.claim(action, &self.me, now_ms(), self.claim_ttl_ms) else {
                // Another replica is at it (or it is done).
                return Ok(made);
            };
            if self.cases().swap(&claimed, Some(&l.tag)).await?.is_none() {
                // Someone changed the case first: look again next round.
                return Ok(made);
            }
            let ids = claimed.alerts.clone();
            let already = resumed && self.already_there(api, &claimed, action, &ids).await?;
            if already {
                self.metrics.writeback(action.status(), "confirmed");
                tracing::info!(issue = %issue.url, action = action.status(), "the write-back was made before a restart; recorded");
            } else {
                let actions = self.actions(&claimed, action);
                match api.update(&ids, &actions).await {
                    Ok(()) => {
                        self.metrics.writeback(action.status(), "written");
                        tracing::info!(issue = %issue.url, action = action.status(), alerts = ids.len(), "written back to Falcon");
                    }
                    Err(e) => {
                        self.metrics.writeback(action.status(), "failed");
                        // The claim stays; it is retried after its TTL, checked first.
                        return Err(e.into());
                    }
                }
            }
            let now = now_ms();
            self.cases()
                .update(issue, |c| {
                    if c.writeback(action).is_some_and(|w| w.done) {
                        return false;
                    }
                    c.written(action, now);
                    true
                })
                .await?;
            made += 1;
        }
        Ok(made)
    }

    /// Whether Falcon already shows the change (after a crash between the PATCH and its record).
    async fn already_there(
        &self,
        api: &AlertsApi,
        case: &Case,
        action: Action,
        ids: &[String],
    ) -> Result<bool, ResponseError> {
        let alerts = api.get(ids).await?;
        if alerts.len() < ids.len() {
            return Ok(false);
        }
        let tag = case
            .closed
            .as_ref()
            .map(|c| c.conclusion.clone())
            .filter(|_| action == Action::Closed);
        Ok(alerts.iter().all(|a| {
            api::status(a) == Some(action.status())
                && tag
                    .as_ref()
                    .is_none_or(|t| api::tags(a).iter().any(|x| x == t))
        }))
    }

    /// The PATCH's action parameters for `action` on `case`.
    fn actions(&self, case: &Case, action: Action) -> Vec<(&'static str, String)> {
        let mut out = vec![("update_status", action.status().to_owned())];
        let url = &case.issue.url;
        match action {
            Action::InProgress => {
                let by = case
                    .first_response
                    .as_ref()
                    .map_or("a responder", |r| r.by.as_str());
                out.push((
                    "append_comment",
                    format!("Picked up by {by} in {url} (falconry)."),
                ));
            }
            Action::Closed => {
                if let Some(c) = &case.closed {
                    out.push(("add_tag", c.conclusion.clone()));
                    let by = c.by.as_deref().unwrap_or("a responder");
                    let mut text = format!("Concluded {} by {by} in {url}", c.conclusion);
                    if let Some(comment) = &c.comment {
                        text.push_str(": ");
                        text.push_str(comment);
                    } else {
                        text.push('.');
                    }
                    text.push_str(" (falconry)");
                    out.push(("append_comment", text));
                }
            }
            Action::Reopened => {
                out.push(("append_comment", format!("Reopened in {url} (falconry).")));
            }
        }
        out
    }
}
