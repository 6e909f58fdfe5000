//! One alert's way through: context → policy → dedup → issue or comment →
//! Slack. Returns only once the outcome is durable (the issue exists and the
//! dedup record says so, or the policy discarded it), so the caller may then
//! acknowledge the batch.
//!
//! The dedup rules are in `dedup/record.rs`; this file does the I/O they call
//! for, in the order that keeps one issue per fingerprint when replicas race
//! and when a process dies half-way: claim (compare-and-swap) → create (with
//! the marker) → record the issue; repeat: record the occurrence as pending →
//! comment (with its own marker) → clear pending.

use crate::alert::{Alert, Enrichment};
use crate::context::Context;
use crate::decision::{Action, Decision};
use crate::dedup::{
    DedupError, DedupStore, Fingerprinter, Loaded, Next, Record, next, occurrence_key,
};
use crate::metrics::Metrics;
use crate::policy::Policy;
use crate::render::{self, CommentView, IssueView, Renderer};
use crate::response::case::{Case, CaseError, CaseStore};
use crate::slack::{Slack, SlackError, SlackNotice};
use crate::tracker::{IssueRef, NewIssue, Tracker, TrackerError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::{debug, info, warn};

/// Compare-and-swap rounds before giving up on one alert (each round is a
/// read and a conditional write; losing many in a row means heavy contention).
const MAX_ROUNDS: usize = 40;
/// Pause between looks at a claim another replica holds.
const WAIT_STEP: Duration = Duration::from_millis(250);

/// What became of an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Discarded,
    Notified,
    Created(IssueRef),
    Commented(IssueRef),
    /// This occurrence was handled before (redelivery, or the same event twice).
    Duplicate,
}

impl Outcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Discarded => "discarded",
            Outcome::Notified => "notified",
            Outcome::Created(_) => "created",
            Outcome::Commented(_) => "commented",
            Outcome::Duplicate => "duplicate",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Tracker(#[from] TrackerError),
    #[error(transparent)]
    Dedup(#[from] DedupError),
    #[error(transparent)]
    Case(#[from] CaseError),
    #[error("alert {alert_id}: rendering failed: {message}")]
    Render { alert_id: String, message: String },
    #[error("fingerprint {fingerprint}: another replica is still creating its issue")]
    Busy { fingerprint: String },
    #[error("fingerprint {fingerprint}: gave up after {MAX_ROUNDS} conflicting updates")]
    Contended { fingerprint: String },
    /// The alert's only outcome is a Slack notice, and it was not sent.
    #[error("Slack notice (the alert's only outcome) not sent: {0}")]
    Notify(#[source] SlackError),
}

impl PipelineError {
    pub fn kind(&self) -> &'static str {
        match self {
            PipelineError::Tracker(e) => e.kind(),
            PipelineError::Dedup(_) => "dedup_store",
            PipelineError::Case(_) => "case_store",
            PipelineError::Render { .. } => "render",
            PipelineError::Busy { .. } => "busy",
            PipelineError::Contended { .. } => "contended",
            PipelineError::Notify(_) => "slack_only",
        }
    }
}

/// One alert on its way through `issue`.
#[derive(Clone, Copy)]
struct Job<'a> {
    alert: &'a Alert,
    raw: &'a str,
    decision: &'a Decision,
    enrichment: &'a Enrichment,
    fp: &'a str,
    key: &'a str,
}

/// What an alert is taken through: context providers, the policy, the
/// renderer, the tracker and Slack (each built and checked from the settings).
pub struct Services {
    pub policy: Policy,
    pub renderer: Renderer,
    pub tracker: Tracker,
    pub slack: Option<Slack>,
    pub context: Context,
}

/// What the settings say about issues: how alerts are grouped, how long an
/// issue takes repeats, where unrouted issues go, what history links show.
pub struct Rules {
    pub fingerprinter: Fingerprinter,
    /// Repository when the policy names none.
    pub default_repo: String,
    pub window: Duration,
    pub claim_ttl: Duration,
    pub athena_database: String,
    pub history_window: Duration,
}

/// Everything an alert needs, shared by the tasks of one enricher.
pub struct Pipeline {
    /// Context providers, looked up before the policy decides.
    pub context: Context,
    pub policy: Policy,
    pub renderer: Renderer,
    pub tracker: Tracker,
    pub dedup: DedupStore,
    /// One record per issue opened, followed to its end by `response/`.
    pub cases: CaseStore,
    pub fingerprinter: Fingerprinter,
    pub slack: Option<Slack>,
    /// Repository when the policy names none.
    pub default_repo: String,
    /// This replica's id in claims.
    pub me: String,
    pub window: Duration,
    pub claim_ttl: Duration,
    pub athena_database: String,
    pub history_window: Duration,
    pub metrics: Metrics,
    /// One task per fingerprint at a time within this process.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Pipeline {
    pub fn new(
        services: Services,
        dedup: DedupStore,
        cases: CaseStore,
        rules: Rules,
        metrics: Metrics,
    ) -> Pipeline {
        let Services {
            policy,
            renderer,
            tracker,
            slack,
            context,
        } = services;
        let Rules {
            fingerprinter,
            default_repo,
            window,
            claim_ttl,
            athena_database,
            history_window,
        } = rules;
        Pipeline {
            context,
            policy,
            renderer,
            tracker,
            dedup,
            cases,
            fingerprinter,
            slack,
            default_repo,
            me: uuid::Uuid::new_v4().to_string(),
            window,
            claim_ttl,
            athena_database,
            history_window,
            metrics,
            locks: Mutex::new(HashMap::new()),
        }
    }

    /// Handles one alert to a durable outcome.
    #[tracing::instrument(skip_all, fields(alert = %alert.id, kind = alert.kind.as_str()))]
    pub async fn handle(&self, alert: &Alert, raw: &str) -> Result<Outcome, PipelineError> {
        let enrichment = self.context.gather(alert).await;
        let decision = self.policy.decide(alert, &enrichment);
        if decision.policy_error.is_some() {
            self.metrics.policy_fallbacks.inc();
        }
        let outcome = match decision.action {
            Action::Discard => {
                debug!(reasons = ?decision.reasons, "discarded by policy");
                Outcome::Discarded
            }
            Action::Notify => {
                // Slack is this alert's only outcome: a failed post fails the alert.
                self.notify(alert, &decision, None)
                    .await
                    .map_err(PipelineError::Notify)?;
                Outcome::Notified
            }
            Action::Issue => self.issue(alert, raw, &decision, &enrichment).await?,
        };
        self.metrics.alert(alert.kind.as_str(), outcome.as_str());
        if matches!(outcome, Outcome::Created(_) | Outcome::Commented(_)) {
            let lag = (now_ms() - alert.time_ms).max(0) as f64 / 1000.0;
            self.metrics.latency_seconds.observe(lag);
        }
        Ok(outcome)
    }

    fn repo(&self, decision: &Decision) -> String {
        match decision.repo.as_deref() {
            Some(r) if crate::tracker::split_repo(r).is_some() => r.to_owned(),
            Some(r) => {
                warn!(
                    repo = r,
                    "policy named a repository that is not owner/name; using the default"
                );
                self.default_repo.clone()
            }
            None => self.default_repo.clone(),
        }
    }

    fn lock(&self, fingerprint: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self
            .locks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Drop locks nobody holds, so the map stays small.
        if locks.len() > 1024 {
            locks.retain(|_, l| Arc::strong_count(l) > 1);
        }
        locks.entry(fingerprint.to_owned()).or_default().clone()
    }

    async fn issue(
        &self,
        alert: &Alert,
        raw: &str,
        decision: &Decision,
        enrichment: &Enrichment,
    ) -> Result<Outcome, PipelineError> {
        let fp = self.fingerprinter.of(alert);
        let key = occurrence_key(alert);
        let job = Job {
            alert,
            raw,
            decision,
            enrichment,
            fp: &fp,
            key: &key,
        };
        let lock = self.lock(&fp);
        let _held = lock.lock().await;
        let started = std::time::Instant::now();
        for _ in 0..MAX_ROUNDS {
            let loaded = self.dedup.load(&fp).await?;
            let now = now_ms();
            let rec = loaded.as_ref().map(|l| &l.record);
            let tag = loaded.as_ref().map(|l| &l.tag);
            let step = next(
                rec,
                &key,
                alert.time_ms,
                now,
                &self.me,
                ms(self.window),
                ms(self.claim_ttl),
            );
            debug!(fingerprint = %fp, step = ?step, "dedup");
            match step {
                Next::Done => return Ok(Outcome::Duplicate),
                Next::Wait => {
                    if started.elapsed() > self.claim_ttl {
                        return Err(PipelineError::Busy { fingerprint: fp });
                    }
                    tokio::time::sleep(WAIT_STEP).await;
                }
                Next::Create { previous } => {
                    if let Some(done) = self.claim(&job, rec, tag, previous, None, now).await? {
                        return Ok(done);
                    }
                }
                Next::Expired { previous } => {
                    if let Some(done) = self
                        .claim(&job, rec, tag, Some(previous), None, now)
                        .await?
                    {
                        return Ok(done);
                    }
                }
                Next::TakeOver => {
                    // The claim's owner may have created the issue before it
                    // died: look for the marker from just before its claim.
                    let since =
                        rec.and_then(|r| r.claim.as_ref()).map_or(now, |c| c.at_ms) - 60_000;
                    if let Some(done) = self.claim(&job, rec, tag, None, Some(since), now).await? {
                        return Ok(done);
                    }
                }
                Next::Repeat { issue } => {
                    let Some(l) = &loaded else { continue };
                    if !self.tracker.is_open(&issue).await? {
                        // Closed since: a new issue that links this one.
                        if let Some(done) =
                            self.claim(&job, rec, tag, Some(issue), None, now).await?
                        {
                            return Ok(done);
                        }
                        continue;
                    }
                    let updated = l.record.repeated(&key, alert, &self.me, now);
                    if let Some(tag) = self.dedup.swap(&updated, tag).await? {
                        #[allow(
                            clippy::redundant_closure_for_method_calls,
                            reason = "the method's path is private"
                        )]
                        let before = l.record.last.as_ref().and_then(|s| s.alert());
                        self.comment(
                            alert,
                            decision,
                            &fp,
                            &key,
                            &issue,
                            &updated,
                            before.as_ref(),
                        )
                        .await?;
                        self.posted(
                            &fp,
                            &key,
                            Loaded {
                                record: updated,
                                tag,
                            },
                        )
                        .await?;
                        self.case_joined(&issue, alert).await?;
                        return Ok(Outcome::Commented(issue));
                    }
                }
                Next::Resume { issue } => {
                    let Some(l) = loaded else { continue };
                    let since = l
                        .record
                        .pending
                        .iter()
                        .find(|p| p.key == key)
                        .map_or(now, |p| p.at_ms)
                        - 60_000;
                    let marker = render::occurrence_marker(&key);
                    if !self.tracker.has_comment(&issue, &marker, since).await? {
                        self.comment(alert, decision, &fp, &key, &issue, &l.record, None)
                            .await?;
                    }
                    self.posted(&fp, &key, l).await?;
                    self.case_joined(&issue, alert).await?;
                    return Ok(Outcome::Commented(issue));
                }
            }
        }
        Err(PipelineError::Contended { fingerprint: fp })
    }

    /// Claims creation of the fingerprint's issue (retiring `retired` to the
    /// record's history) and, if the claim wins, opens it. `None`: another
    /// writer changed the record first; decide again.
    async fn claim(
        &self,
        job: &Job<'_>,
        rec: Option<&Record>,
        tag: Option<&falconry_common::store::Tag>,
        retired: Option<IssueRef>,
        recover_since: Option<i64>,
        now: i64,
    ) -> Result<Option<Outcome>, PipelineError> {
        let claimed = Record::claimed(job.fp, rec, retired, &self.me, now);
        match self.dedup.swap(&claimed, tag).await? {
            Some(tag) => {
                let loaded = Loaded {
                    record: claimed,
                    tag,
                };
                let Job {
                    alert,
                    raw,
                    decision,
                    enrichment,
                    fp,
                    key,
                } = *job;
                self.open(
                    alert,
                    raw,
                    decision,
                    enrichment,
                    fp,
                    key,
                    loaded,
                    recover_since,
                )
                .await
                .map(Some)
            }
            None => Ok(None),
        }
    }

    /// Creates the issue under our claim (or finds the one a dead owner
    /// created), then records it.
    #[allow(clippy::too_many_arguments)]
    async fn open(
        &self,
        alert: &Alert,
        raw: &str,
        decision: &Decision,
        enrichment: &Enrichment,
        fp: &str,
        key: &str,
        mut claimed: Loaded,
        recover_since: Option<i64>,
    ) -> Result<Outcome, PipelineError> {
        let repo = self.repo(decision);
        let marker = render::marker(fp);
        let found = match recover_since {
            Some(since) => self.tracker.find(&repo, &marker, since).await?,
            None => None,
        };
        let issue = match found {
            Some(issue) => {
                info!(
                    fingerprint = fp,
                    issue = issue.number,
                    "recovered the issue a previous attempt created"
                );
                issue
            }
            None => {
                let athena_query = render::athena::host_window_query(
                    &self.athena_database,
                    alert.host.aid.as_deref(),
                    alert.host.hostname.as_deref(),
                    alert.time_ms,
                    self.history_window,
                );
                let view = IssueView {
                    alert,
                    decision,
                    enrichment,
                    occurrences: 1,
                    first_seen_ms: alert.time_ms,
                    last_seen_ms: alert.time_ms,
                    fingerprint: fp,
                    previous: claimed.record.previous.last(),
                    athena_query,
                    raw_event: raw,
                    version: env!("CARGO_PKG_VERSION"),
                };
                let title = self.renderer.title(&view);
                let body = self
                    .renderer
                    .issue_body(&view)
                    .map_err(|e| PipelineError::Render {
                        alert_id: alert.id.clone(),
                        message: e.to_string(),
                    })?;
                let new = NewIssue {
                    title,
                    body,
                    labels: decision.labels.clone(),
                    assignees: decision.assignees.clone(),
                };
                let issue = self.tracker.create(&repo, &new, &marker).await?;
                info!(fingerprint = fp, repo = %issue.repo, issue = issue.number, "issue opened");
                if let Err(e) = self.notify(alert, decision, Some(&issue)).await {
                    warn!(error = %e, "Slack notice failed; the issue is unaffected");
                }
                issue
            }
        };
        self.case_opened(&issue, fp, alert).await?;
        for _ in 0..MAX_ROUNDS {
            let opened = claimed.record.opened(issue.clone(), key, alert);
            if self
                .dedup
                .swap(&opened, Some(&claimed.tag))
                .await?
                .is_some()
            {
                return Ok(Outcome::Created(issue));
            }
            // Someone touched the record while we created (a stale-claim
            // takeover); write our issue over what is there now.
            match self.dedup.load(fp).await? {
                Some(l) => claimed = l,
                None => {
                    let fresh = Record::claimed(fp, None, None, &self.me, now_ms());
                    if let Some(tag) = self.dedup.swap(&fresh, None).await? {
                        claimed = Loaded { record: fresh, tag };
                    }
                }
            }
        }
        Err(PipelineError::Contended {
            fingerprint: fp.to_owned(),
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn comment(
        &self,
        alert: &Alert,
        decision: &Decision,
        fp: &str,
        key: &str,
        issue: &IssueRef,
        record: &Record,
        before: Option<&Alert>,
    ) -> Result<(), PipelineError> {
        let view = CommentView {
            alert,
            decision,
            occurrences: record.occurrences,
            first_seen_ms: record.first_seen_ms,
            last_seen_ms: record.last_seen_ms,
            fingerprint: fp,
            changes: before
                .map(|b| render::changes(b, alert))
                .unwrap_or_default(),
            occurrence_key: key,
        };
        let body = self
            .renderer
            .comment_body(&view)
            .map_err(|e| PipelineError::Render {
                alert_id: alert.id.clone(),
                message: e.to_string(),
            })?;
        self.tracker
            .comment(issue, &body, &render::occurrence_marker(key))
            .await?;
        info!(
            fingerprint = fp,
            issue = issue.number,
            occurrences = record.occurrences,
            "repeat commented"
        );
        Ok(())
    }

    /// Starts the case of an issue just opened (or recovered after a crash:
    /// a case already there is kept).
    async fn case_opened(
        &self,
        issue: &IssueRef,
        fp: &str,
        alert: &Alert,
    ) -> Result<(), PipelineError> {
        if self.cases.load(issue).await?.is_some() {
            return Ok(());
        }
        let case = Case::opened(issue.clone(), fp, alert, now_ms());
        // Absent → written, or another writer made it first: either way it exists.
        self.cases.swap(&case, None).await?;
        Ok(())
    }

    /// A repeat joined the case (a case from before cases were kept is left alone).
    async fn case_joined(&self, issue: &IssueRef, alert: &Alert) -> Result<(), PipelineError> {
        self.cases
            .update(issue, |c| {
                c.joined(alert);
                true
            })
            .await?;
        Ok(())
    }

    async fn posted(&self, fp: &str, key: &str, mut l: Loaded) -> Result<(), PipelineError> {
        for _ in 0..MAX_ROUNDS {
            if !l.record.pending_for(key) {
                return Ok(());
            }
            let done = l.record.posted(key);
            if self.dedup.swap(&done, Some(&l.tag)).await?.is_some() {
                return Ok(());
            }
            match self.dedup.load(fp).await? {
                Some(fresh) => l = fresh,
                None => return Ok(()),
            }
        }
        Err(PipelineError::Contended {
            fingerprint: fp.to_owned(),
        })
    }

    /// Posts the Slack notice (when Slack is configured); a failure is
    /// counted here and decided by the caller: it never blocks an issue, and
    /// it fails an alert whose only outcome it is.
    async fn notify(
        &self,
        alert: &Alert,
        decision: &Decision,
        issue: Option<&IssueRef>,
    ) -> Result<(), SlackError> {
        let Some(slack) = &self.slack else {
            return Ok(());
        };
        let notice = SlackNotice {
            severity: decision.severity.as_str().to_owned(),
            title: alert.name.clone(),
            host: alert.host_label().to_owned(),
            user: alert.user_label().to_owned(),
            issue_url: issue.map(|i| i.url.clone()),
            channel: decision.slack_channel.clone(),
            reasons: decision.reasons.clone(),
        };
        match slack.send(&notice).await {
            Ok(()) => {
                self.metrics.slack_sent.inc();
                Ok(())
            }
            Err(e) => {
                self.metrics.error(e.kind());
                Err(e)
            }
        }
    }
}
