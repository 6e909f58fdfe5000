//! Falcon's Alerts API as a second source. Each round asks for the alerts
//! updated since the newest update already handled, less `overlap` (a strict
//! `>` would skip alerts that share a timestamp, and Falcon may commit an
//! update late), oldest first, page by page, and remembers the
//! `(composite_id, updated_timestamp)` pairs inside the overlap so they are
//! not handled twice. The cursor is written after every page, so a crash
//! repeats at most a page, and a repeat is harmless: an alert already on an
//! issue is a duplicate occurrence for the dedup records.
//!
//! An alert that is not closed goes through the enricher's pipeline like a
//! stream detection (one case per fingerprint, one occurrence per composite
//! id: the stream's copy and the API's make one issue). A status change made
//! in the console reaches the case's issue: closed → a comment saying who
//! closed it with which tags, and the issue closed (`close_issues`); opened
//! again → the issue reopened.

use super::case::{Case, Closed, UNSPECIFIED, conclusion_name};
use super::falcon::AlertsApi;
use super::{Responder, ResponseError, RoundSummary, now_ms};
use crate::alert::normalize::api;
use crate::pipeline::Outcome;
use crate::render;
use crate::tracker::IssueRef;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashSet;

/// Pages one round reads at most; the rest waits for the next round.
const MAX_PAGES: usize = 50;

#[derive(Debug, Default, Serialize, Deserialize)]
struct Cursor {
    /// The newest `updated_timestamp` handled (epoch ms).
    newest_ms: Option<i64>,
    /// `(composite_id, updated_timestamp)` handled within the overlap.
    #[serde(default)]
    seen: Vec<(String, String)>,
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn ms_of(v: Option<&str>) -> Option<i64> {
    v.and_then(falconry_common::time::iso_ms)
}

impl Responder {
    pub(super) async fn poll_alerts(
        &self,
        api: &AlertsApi,
        summary: &mut RoundSummary,
    ) -> Result<(), ResponseError> {
        let key = self.keys.alerts_cursor_key();
        let mut cursor: Cursor = match self.state.get_tagged(&key).await? {
            Some((body, _)) => serde_json::from_slice(&body).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "the Alerts API cursor is unreadable; starting over from `start`");
                Cursor::default()
            }),
            None => Cursor::default(),
        };
        let alerts = &self.settings.alerts;
        let overlap = i64::try_from(alerts.overlap.as_millis()).unwrap_or(0);
        let start = i64::try_from(alerts.start.as_millis()).unwrap_or(0);
        let mut newest = cursor.newest_ms.unwrap_or_else(|| now_ms() - start);
        let from = rfc3339(newest - overlap);
        let mut seen: HashSet<(String, String)> = cursor.seen.drain(..).collect();
        let mut after: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = api
                .updated_since(&from, &alerts.products, alerts.page_size, after.as_deref())
                .await?;
            for v in &page.alerts {
                let (Some(id), Some(updated)) = (
                    v.get("composite_id").and_then(Value::as_str),
                    api::updated(v),
                ) else {
                    self.metrics.falcon_alert("invalid");
                    tracing::warn!(
                        "an Alerts API alert without composite_id or updated_timestamp was skipped"
                    );
                    continue;
                };
                let pair = (id.to_owned(), updated.to_owned());
                if seen.contains(&pair) {
                    continue;
                }
                summary.falcon_alerts += 1;
                if let Err(e) = self.take(v, summary).await {
                    // Stop here: the cursor keeps this alert ahead of it.
                    self.save_cursor(&key, newest, &seen, overlap).await?;
                    return Err(e);
                }
                if let Some(ms) = ms_of(Some(updated)) {
                    newest = newest.max(ms);
                }
                seen.insert(pair);
            }
            self.save_cursor(&key, newest, &seen, overlap).await?;
            match page.after {
                Some(a) if !page.alerts.is_empty() => after = Some(a),
                _ => break,
            }
        }
        Ok(())
    }

    async fn save_cursor(
        &self,
        key: &str,
        newest: i64,
        seen: &HashSet<(String, String)>,
        overlap: i64,
    ) -> Result<(), ResponseError> {
        let keep: Vec<(String, String)> = seen
            .iter()
            .filter(|(_, u)| ms_of(Some(u)).is_some_and(|ms| ms >= newest - overlap))
            .cloned()
            .collect();
        let body = serde_json::to_vec(&Cursor {
            newest_ms: Some(newest),
            seen: keep,
        })
        .unwrap_or_default();
        self.state.put_bytes(key, Bytes::from(body)).await?;
        Ok(())
    }

    /// One alert from the API: to the pipeline when it is live, and its
    /// status to the case it belongs to.
    async fn take(&self, v: &Value, summary: &mut RoundSummary) -> Result<(), ResponseError> {
        let alert = match api::normalize_api(v) {
            Ok(a) => a,
            Err(e) => {
                self.metrics.falcon_alert("invalid");
                tracing::warn!(error = %e, "an Alerts API alert could not be read; skipped");
                return Ok(());
            }
        };
        let status = api::status(v).unwrap_or("new");
        let updated_ms = ms_of(api::updated(v)).unwrap_or_else(now_ms);
        let fp = self.pipeline.fingerprinter.of(&alert);
        // An alert already on its case (an update in Falcon, or the stream's
        // copy) is not taken through the context lookups and the policy again.
        let key = crate::dedup::occurrence_key(&alert);
        let known = self
            .pipeline
            .dedup
            .load(&fp)
            .await?
            .is_some_and(|l| l.record.seen.contains(&key));
        if known {
            self.metrics.falcon_alert("known");
        } else if status != "closed" {
            let raw = serde_json::to_string(v).unwrap_or_default();
            let outcome = self.pipeline.handle(&alert, &raw).await?;
            self.metrics.falcon_alert(match outcome {
                Outcome::Created(_) => "created",
                Outcome::Commented(_) => "commented",
                Outcome::Duplicate => "known",
                Outcome::Discarded => "discarded",
                Outcome::Notified => "notified",
            });
        } else {
            self.metrics.falcon_alert("closed");
        }
        // The case this alert is part of, if it has one.
        let Some(record) = self.pipeline.dedup.load(&fp).await? else {
            return Ok(());
        };
        let Some(composite) = alert.composite_id.as_deref() else {
            return Ok(());
        };
        for issue in record
            .record
            .issue
            .iter()
            .chain(record.record.previous.iter().rev())
        {
            let Some(l) = self.cases().load(issue).await? else {
                continue;
            };
            if !l.case.alerts.iter().any(|a| a == composite) {
                continue;
            }
            if self.sync_status(&l.case, v, status, updated_ms).await? {
                summary.synced += 1;
            }
            break;
        }
        Ok(())
    }

    /// Brings a status change made in Falcon to the case and its issue.
    /// `true` when something changed.
    async fn sync_status(
        &self,
        case: &Case,
        v: &Value,
        status: &str,
        updated_ms: i64,
    ) -> Result<bool, ResponseError> {
        if case
            .falcon_updated_ms
            .is_some_and(|seen| updated_ms <= seen)
        {
            // Older than what the case already knows (or what we wrote).
            return Ok(false);
        }
        let was_closed = case.falcon_status.as_deref() == Some("closed");
        let issue = &case.issue;
        let what = format!(
            "falcon:{}:{status}:{updated_ms}",
            v.get("composite_id").and_then(Value::as_str).unwrap_or("")
        );
        let mut reopen = false;
        let mut closed = None;
        if status == "closed" && !was_closed && case.is_open() {
            let by = v
                .get("assigned_to_name")
                .or_else(|| v.get("assigned_to_uid"))
                .and_then(Value::as_str)
                .filter(|s| !s.trim().is_empty())
                .unwrap_or("someone in the Falcon console")
                .to_owned();
            let tags = api::tags(v);
            let known: Vec<String> = super::case::CONCLUSIONS
                .iter()
                .map(|c| (*c).to_owned())
                .chain(self.settings.labels.values().cloned())
                .collect();
            let conclusion = tags
                .iter()
                .map(|t| conclusion_name(t))
                .find(|t| known.contains(t))
                .unwrap_or_else(|| UNSPECIFIED.to_owned());
            let tag_text = if tags.is_empty() {
                "no tag".to_owned()
            } else {
                tags.iter()
                    .map(|t| render::sanitize::code_span(t, 100))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let body = format!(
                "Closed in the Falcon console by {} with {} (conclusion: {}).\n\n{}",
                render::sanitize::text(&by, 200),
                tag_text,
                conclusion,
                render::response_block(&what)
            );
            self.comment_once(issue, &body, &what, case.opened_ms)
                .await?;
            if self.settings.alerts.close_issues {
                let reason = if conclusion == "false_positive" || conclusion == "benign" {
                    "not_planned"
                } else {
                    "completed"
                };
                self.tracker().set_state(issue, false, Some(reason)).await?;
            }
            closed = Some(Closed {
                at_ms: updated_ms,
                by: Some(by),
                conclusion,
                reason: None,
                comment: None,
                from: "falcon".into(),
            });
        } else if status != "closed"
            && was_closed
            && case.closed.as_ref().is_some_and(|c| c.from == "falcon")
        {
            let body = format!(
                "Opened again in the Falcon console (status `{status}`).\n\n{}",
                render::response_block(&what)
            );
            self.comment_once(issue, &body, &what, case.opened_ms)
                .await?;
            self.tracker()
                .set_state(issue, true, Some("reopened"))
                .await?;
            reopen = true;
        }
        let before = case.clone();
        let after = self
            .cases()
            .update(issue, |c| {
                if c.falcon_updated_ms.is_some_and(|seen| updated_ms <= seen) {
                    return false;
                }
                c.falcon_updated_ms = Some(updated_ms);
                c.falcon_status = Some(status.to_owned());
                if let Some(cl) = &closed
                    && c.is_open()
                {
                    c.close(cl.clone());
                }
                if reopen {
                    c.reopen();
                }
                true
            })
            .await?;
        if let Some(after) = &after {
            self.observe(&before, after);
        }
        Ok(closed.is_some() || reopen)
    }

    /// A comment of the response loop, posted once (its marker is looked for first).
    pub(super) async fn comment_once(
        &self,
        issue: &IssueRef,
        body: &str,
        what: &str,
        since_ms: i64,
    ) -> Result<(), ResponseError> {
        let marker = render::response_marker(what);
        if !self
            .tracker()
            .has_comment(issue, &marker, since_ms - 60_000)
            .await?
        {
            self.tracker().comment(issue, body, &marker).await?;
        }
        Ok(())
    }
}
