//! The case: one issue falconry opened, followed to its end. It keeps what
//! time-to-respond needs (detected → opened → first human response →
//! closed), how the case ended (the conclusion), the Falcon alerts it stands
//! for (composite ids), and every write-back to Falcon, so each happens once
//! across replicas and restarts. One small JSON object per issue under the
//! state prefix (`<state>/cases/<owner>/<name>/<number>.json`), changed only
//! by compare-and-swap.
//!
//! The record's rules are pure (the caller passes the clock and its replica
//! id); `CaseStore` is the I/O.

use crate::alert::{Alert, AlertKind, Level};
use crate::tracker::IssueRef;
use falconry_common::lake::state::EnricherState;
use falconry_common::store::Tag;
use falconry_common::{Store, StoreError};
use serde::{Deserialize, Serialize};

/// Falcon alerts remembered per case (a case past this keeps its first ones;
/// a write-back names at most this many).
pub const ALERTS_MAX: usize = 500;
/// Longest closing comment kept (it is written back to Falcon).
const COMMENT_MAX: usize = 2000;

/// The conclusion of a case closed without a conclusion label.
pub const UNSPECIFIED: &str = "unspecified";

/// The conclusions falconry knows, as the report and Falcon's tags name them.
pub const CONCLUSIONS: [&str; 5] = [
    "true_positive",
    "false_positive",
    "benign",
    "duplicate",
    "test",
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Case {
    pub issue: IssueRef,
    pub fingerprint: String,
    pub title: String,
    pub kind: AlertKind,
    /// Where the case comes from, for the report's grouping: the Falcon
    /// product (`epp`, `idp`, ...), `rule:<rule id>` or `ioc:<feed>`.
    pub source: String,
    pub severity: Level,
    /// When the first alert of the case happened (its event time, epoch ms).
    pub detected_ms: i64,
    /// When falconry opened the issue.
    pub opened_ms: i64,
    #[serde(default)]
    pub first_response: Option<Response>,
    #[serde(default)]
    pub closed: Option<Closed>,
    /// Times the issue was reopened (each close after a reopen is a new round
    /// of write-backs).
    #[serde(default)]
    pub reopened: u32,
    /// Falcon alerts of the case (composite ids), first seen first.
    #[serde(default)]
    pub alerts: Vec<String>,
    /// Alerts that joined the case (the first and every repeat).
    #[serde(default)]
    pub hits: u64,
    /// The status Falcon last reported for the case's alerts (the poller).
    #[serde(default)]
    pub falcon_status: Option<String>,
    /// When Falcon's status last changed, as far as the case knows (its
    /// `updated_timestamp`, or our clock when we wrote it): older views of an
    /// alert are not taken for changes.
    #[serde(default)]
    pub falcon_updated_ms: Option<i64>,
    #[serde(default)]
    pub writebacks: Vec<WriteBack>,
    /// When the SLA reminder was posted.
    #[serde(default)]
    pub reminded_ms: Option<i64>,
}

/// The first response of someone other than falconry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    pub at_ms: i64,
    pub by: String,
    /// `comment`, `assigned`, `labeled` or `closed`.
    pub how: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Closed {
    pub at_ms: i64,
    pub by: Option<String>,
    /// One of [`CONCLUSIONS`], a configured extra, or [`UNSPECIFIED`].
    pub conclusion: String,
    /// GitHub's `state_reason` (`completed`, `not_planned`, ...), when given.
    pub reason: Option<String>,
    /// The responder's closing comment, cut.
    pub comment: Option<String>,
    /// `github` / `dir`: closed by a responder; `falcon`: closed in the console.
    pub from: String,
}

/// A status falconry writes to Falcon for the case's alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    InProgress,
    Closed,
    Reopened,
}

impl Action {
    /// Falcon's `update_status` value.
    pub fn status(self) -> &'static str {
        match self {
            Action::InProgress => "in_progress",
            Action::Closed => "closed",
            Action::Reopened => "reopened",
        }
    }
}

/// One write-back: pending while a replica makes it (a pending entry left by
/// a crash is checked against Falcon before it is made again), then done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteBack {
    pub action: Action,
    /// The case's `reopened` count when it was due: a close after a reopen is another write-back.
    pub round: u32,
    pub owner: String,
    pub at_ms: i64,
    pub done: bool,
}

impl Case {
    /// The case of an issue just opened for `alert`.
    pub fn opened(issue: IssueRef, fingerprint: &str, alert: &Alert, now_ms: i64) -> Case {
        let mut case = Case {
            issue,
            fingerprint: fingerprint.to_owned(),
            title: alert.name.clone(),
            kind: alert.kind,
            source: source_of(alert),
            severity: alert.severity.level,
            detected_ms: alert.time_ms,
            opened_ms: now_ms,
            first_response: None,
            closed: None,
            reopened: 0,
            alerts: Vec::new(),
            hits: 0,
            falcon_status: None,
            falcon_updated_ms: None,
            writebacks: Vec::new(),
            reminded_ms: None,
        };
        case.joined(alert);
        case
    }

    /// An alert joined the case (its first, or a repeat).
    pub fn joined(&mut self, alert: &Alert) {
        self.hits += 1;
        self.detected_ms = self.detected_ms.min(alert.time_ms);
        if let Some(id) = &alert.composite_id
            && self.alerts.len() < ALERTS_MAX
            && !self.alerts.contains(id)
        {
            self.alerts.push(id.clone());
        }
    }

    pub fn is_open(&self) -> bool {
        self.closed.is_none()
    }

    /// Whether the case has Falcon alerts to write back to.
    pub fn writes_back(&self) -> bool {
        !self.alerts.is_empty() && !matches!(self.kind, AlertKind::Rule | AlertKind::Ioc)
    }

    /// Records the first human response, if it is the first.
    pub fn responded(&mut self, at_ms: i64, by: &str, how: &str) -> bool {
        match &self.first_response {
            Some(r) if r.at_ms <= at_ms => false,
            _ => {
                self.first_response = Some(Response {
                    at_ms,
                    by: by.to_owned(),
                    how: how.to_owned(),
                });
                true
            }
        }
    }

    /// The issue was closed.
    pub fn close(&mut self, mut closed: Closed) {
        if let Some(c) = &mut closed.comment {
            cut(c, COMMENT_MAX);
        }
        if closed.from != "falcon" {
            let by = closed.by.clone().unwrap_or_else(|| "someone".into());
            self.responded(closed.at_ms, &by, "closed");
        }
        self.closed = Some(closed);
    }

    /// The issue was reopened.
    pub fn reopen(&mut self) {
        if self.closed.take().is_some() {
            self.reopened += 1;
        }
    }

    /// The write-back of `action` in this round, if one was started.
    pub fn writeback(&self, action: Action) -> Option<&WriteBack> {
        let round = self.reopened;
        self.writebacks
            .iter()
            .find(|w| w.action == action && w.round == round)
    }

    /// What Falcon should be told now, in order: at most one action.
    pub fn due(&self) -> Option<Action> {
        if !self.writes_back() {
            return None;
        }
        let falcon_closed = self.falcon_status.as_deref() == Some("closed");
        match &self.closed {
            Some(c) if c.from != "falcon" => {
                let done = self.writeback(Action::Closed).is_some_and(|w| w.done);
                (!done).then_some(Action::Closed)
            }
            Some(_) => None,
            None if self.reopened > 0 && falcon_closed => {
                let done = self.writeback(Action::Reopened).is_some_and(|w| w.done);
                (!done).then_some(Action::Reopened)
            }
            None => {
                let untouched = matches!(self.falcon_status.as_deref(), None | Some("new"));
                let done = self
                    .writebacks
                    .iter()
                    .any(|w| w.action == Action::InProgress && w.done);
                (self.first_response.is_some() && untouched && !done).then_some(Action::InProgress)
            }
        }
    }

    /// Claims the write-back of `action`: `None` when another replica holds a
    /// fresh claim or it is done. `Some(resumed)`: we may make it; `resumed`
    /// when a claim was left behind (check Falcon before writing again).
    pub fn claim(&mut self, action: Action, me: &str, now_ms: i64, ttl_ms: i64) -> Option<bool> {
        let round = self.reopened;
        match self
            .writebacks
            .iter_mut()
            .find(|w| w.action == action && w.round == round)
        {
            Some(w) if w.done => None,
            Some(w) if w.owner != me && now_ms.saturating_sub(w.at_ms) <= ttl_ms => None,
            Some(w) => {
                w.owner = me.to_owned();
                w.at_ms = now_ms;
                Some(true)
            }
            None => {
                self.writebacks.push(WriteBack {
                    action,
                    round,
                    owner: me.to_owned(),
                    at_ms: now_ms,
                    done: false,
                });
                Some(false)
            }
        }
    }

    /// The write-back of `action` in this round is made.
    pub fn written(&mut self, action: Action, now_ms: i64) {
        let round = self.reopened;
        if let Some(w) = self
            .writebacks
            .iter_mut()
            .find(|w| w.action == action && w.round == round)
        {
            w.done = true;
        }
        self.falcon_status = Some(action.status().to_owned());
        self.falcon_updated_ms = Some(self.falcon_updated_ms.unwrap_or(0).max(now_ms));
    }
}

/// The report's source of an alert.
pub fn source_of(alert: &Alert) -> String {
    match (&alert.kind, &alert.rule) {
        (AlertKind::Ioc, Some(r)) => match &r.indicator {
            Some(i) => format!("ioc:{}", i.source),
            None => "ioc".into(),
        },
        (AlertKind::Rule, Some(r)) => format!("rule:{}", r.id),
        (k, _) => alert
            .product
            .clone()
            .unwrap_or_else(|| k.as_str().to_owned()),
    }
}

fn cut(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

/// A conclusion name as the report and Falcon's tags write it: lower case,
/// `-` and spaces as `_`.
pub fn conclusion_name(s: &str) -> String {
    s.trim()
        .to_lowercase()
        .chars()
        .map(|c| if c == '-' || c == ' ' { '_' } else { c })
        .collect()
}

/// Where cases live.
#[derive(Debug, Clone)]
pub struct CaseStore {
    store: Store,
    keys: EnricherState,
}

/// A case as read, with the version a write must match.
#[derive(Debug, Clone)]
pub struct LoadedCase {
    pub case: Case,
    pub tag: Tag,
}

#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("case {key}: changed by other writers {rounds} times in a row")]
    Contended { key: String, rounds: usize },
}

impl CaseStore {
    pub fn new(store: Store, keys: EnricherState) -> CaseStore {
        CaseStore { store, keys }
    }

    pub fn key(&self, issue: &IssueRef) -> String {
        self.keys.case_key(&issue.repo, issue.number)
    }

    pub async fn load(&self, issue: &IssueRef) -> Result<Option<LoadedCase>, CaseError> {
        self.load_key(&self.key(issue)).await
    }

    async fn load_key(&self, key: &str) -> Result<Option<LoadedCase>, CaseError> {
        Ok(self
            .store
            .get_json(key)
            .await?
            .map(|(case, tag)| LoadedCase { case, tag }))
    }

    /// Writes `case` if the stored one is still `expected` (`None`: absent).
    /// `Ok(None)` when another writer won; read again.
    pub async fn swap(
        &self,
        case: &Case,
        expected: Option<&Tag>,
    ) -> Result<Option<Tag>, CaseError> {
        Ok(self
            .store
            .swap_json(&self.key(&case.issue), case, expected)
            .await?)
    }

    /// Applies `change` to the case of `issue` until the write wins (a few
    /// rounds). `change` returns `false` when there is nothing to write.
    /// `Ok(None)`: no such case.
    pub async fn update(
        &self,
        issue: &IssueRef,
        mut change: impl FnMut(&mut Case) -> bool,
    ) -> Result<Option<Case>, CaseError> {
        for _ in 0..16 {
            let Some(mut l) = self.load(issue).await? else {
                return Ok(None);
            };
            if !change(&mut l.case) {
                return Ok(Some(l.case));
            }
            if self.swap(&l.case, Some(&l.tag)).await?.is_some() {
                return Ok(Some(l.case));
            }
        }
        Err(CaseError::Contended {
            key: self.key(issue),
            rounds: 16,
        })
    }

    /// Every case of the state store (for the report and the reminders).
    pub async fn all(&self) -> Result<Vec<LoadedCase>, CaseError> {
        let mut out = Vec::new();
        for o in self.store.list(&self.keys.cases_prefix()).await? {
            if o.key.ends_with(".json")
                && let Some(l) = self.load_key(&o.key).await?
            {
                out.push(l);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case() -> Case {
        let alert = crate::render::fixtures::epp();
        let mut alert = alert;
        alert.composite_id = Some("cid:ind:aid:1".into());
        Case::opened(
            IssueRef {
                repo: "acme/soc".into(),
                number: 7,
                url: "u".into(),
            },
            "fp",
            &alert,
            1_000,
        )
    }

    #[test]
    fn a_close_is_written_back_once_per_round_and_a_reopen_after_falcon_closed() {
        let mut c = case();
        assert_eq!(c.due(), None, "nobody has responded yet");
        c.responded(2_000, "alice", "comment");
        assert_eq!(c.due(), Some(Action::InProgress));
        assert_eq!(c.claim(Action::InProgress, "a", 2_000, 60_000), Some(false));
        assert_eq!(
            c.claim(Action::InProgress, "b", 2_001, 60_000),
            None,
            "a's claim is fresh"
        );
        assert_eq!(
            c.claim(Action::InProgress, "b", 70_000, 60_000),
            Some(true),
            "stale: resumed"
        );
        c.written(Action::InProgress, 2_000);
        assert_eq!(c.due(), None);
        c.close(Closed {
            at_ms: 5_000,
            by: Some("alice".into()),
            conclusion: "false_positive".into(),
            reason: Some("completed".into()),
            comment: Some("x".repeat(5000)),
            from: "github".into(),
        });
        assert_eq!(
            c.closed.as_ref().unwrap().comment.as_ref().unwrap().len(),
            2000
        );
        assert_eq!(
            c.first_response.as_ref().unwrap().at_ms,
            2_000,
            "the first response stays"
        );
        assert_eq!(c.due(), Some(Action::Closed));
        c.claim(Action::Closed, "a", 5_000, 60_000);
        c.written(Action::Closed, 5_000);
        assert_eq!(c.due(), None);
        c.reopen();
        assert_eq!(c.reopened, 1);
        assert_eq!(c.due(), Some(Action::Reopened));
        c.claim(Action::Reopened, "a", 6_000, 60_000);
        c.written(Action::Reopened, 6_000);
        assert_eq!(c.due(), None);
        c.close(Closed {
            at_ms: 7_000,
            by: None,
            conclusion: UNSPECIFIED.into(),
            reason: Some("not_planned".into()),
            comment: None,
            from: "github".into(),
        });
        assert_eq!(
            c.due(),
            Some(Action::Closed),
            "a close in a new round is written again"
        );
    }

    #[test]
    fn a_console_close_is_not_written_back_and_rules_never_are() {
        let mut c = case();
        c.falcon_status = Some("closed".into());
        c.close(Closed {
            at_ms: 5_000,
            by: Some("analyst@corp".into()),
            conclusion: "true_positive".into(),
            reason: None,
            comment: None,
            from: "falcon".into(),
        });
        assert_eq!(c.due(), None);
        assert!(
            c.first_response.is_none(),
            "a console close is not a GitHub response"
        );
        let mut r = case();
        r.kind = AlertKind::Rule;
        r.responded(2_000, "alice", "comment");
        assert_eq!(r.due(), None);
    }

    #[test]
    fn conclusion_names_are_one_spelling() {
        assert_eq!(conclusion_name(" False-Positive "), "false_positive");
        assert_eq!(conclusion_name("true positive"), "true_positive");
    }
}
