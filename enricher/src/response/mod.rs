//! The response loop: what happens to a case after its issue is opened.
//!
//! - `case.rs`: the case record (one per issue): detected → opened → first
//!   human response → closed, the conclusion, the Falcon alerts it stands
//!   for, the write-backs made.
//! - `falcon.rs`: Falcon's Alerts API client (read and write).
//! - `poller.rs`: the Alerts API as a second source: what a stream gap
//!   missed, products that never reach the stream, and status changes made in
//!   the Falcon console (which reach the issue).
//! - `conclusions.rs`: what responders do in the issues (GitHub, or the
//!   Markdown files of the embedded default): the first response, the close
//!   and its conclusion label, a reopen.
//! - `writeback.rs`: conclusions and progress written back to Falcon, each
//!   once across replicas and restarts.
//! - `report.rs`: the time-to-respond report (`falconry report`) and its charts.
//!
//! [`Responder::round`] does one pass of all of it; the enricher daemon runs
//! it every `[enricher.response] interval` beside its input.

pub mod case;
mod conclusions;
pub mod config;
pub mod falcon;
mod poller;
pub mod report;
mod svg;
mod writeback;

use crate::alert::AlertKind;
use crate::metrics::Metrics;
use crate::pipeline::Pipeline;
use crate::render;
use crate::tracker::Tracker;
use case::{Case, CaseError, CaseStore};
use config::ResponseSettings;
use falcon::{AlertsApi, AlertsError};
use falconry_common::lake::state::EnricherState;
use falconry_common::{Store, StoreError};
use std::sync::Arc;

/// What one round did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RoundSummary {
    /// Alerts read from the Alerts API.
    pub falcon_alerts: u64,
    /// Console status changes brought to issues.
    pub synced: u64,
    /// Cases whose issue changed (responded, closed, reopened).
    pub observed: u64,
    /// Write-backs made to Falcon.
    pub written_back: u64,
    /// Reminders posted.
    pub reminded: u64,
    pub failures: u64,
}

impl RoundSummary {
    pub fn add(&mut self, o: &RoundSummary) {
        self.falcon_alerts += o.falcon_alerts;
        self.synced += o.synced;
        self.observed += o.observed;
        self.written_back += o.written_back;
        self.reminded += o.reminded;
        self.failures += o.failures;
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ResponseError {
    #[error(transparent)]
    Case(#[from] CaseError),
    #[error("state store: {0}")]
    State(#[from] StoreError),
    #[error(transparent)]
    Tracker(#[from] crate::tracker::TrackerError),
    #[error(transparent)]
    Falcon(#[from] AlertsError),
    #[error(transparent)]
    Pipeline(#[from] crate::pipeline::PipelineError),
    #[error(transparent)]
    Dedup(#[from] crate::dedup::DedupError),
}

impl From<crate::tracker::DirError> for ResponseError {
    fn from(e: crate::tracker::DirError) -> Self {
        ResponseError::Tracker(e.into())
    }
}

impl ResponseError {
    pub fn kind(&self) -> &'static str {
        match self {
            ResponseError::Case(_) => "case_store",
            ResponseError::State(_) => "state_store",
            ResponseError::Tracker(e) => e.kind(),
            ResponseError::Falcon(e) => e.kind(),
            ResponseError::Pipeline(e) => e.kind(),
            ResponseError::Dedup(_) => "dedup_store",
        }
    }
}

/// The response loop of one enricher.
pub struct Responder {
    pipeline: Arc<Pipeline>,
    settings: ResponseSettings,
    falcon: Option<AlertsApi>,
    state: Store,
    keys: EnricherState,
    metrics: Metrics,
    /// This replica's id in write-back claims.
    me: String,
    /// A write-back claim older than this is taken over.
    claim_ttl_ms: i64,
    /// When every case was last read (write-backs left to retry, reminders, gauges).
    last_sweep: std::sync::Mutex<Option<std::time::Instant>>,
}

/// How often every case is read: each costs one GET of the state store, so
/// not every round. Write-backs are made as soon as their change is seen;
/// the sweep retries those that failed and posts the SLA reminders.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(300);

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A case's source family, a closed set for metrics labels.
fn source_label(case: &Case) -> &'static str {
    case.kind.as_str()
}

impl Responder {
    pub fn new(
        pipeline: Arc<Pipeline>,
        settings: ResponseSettings,
        falcon: Option<AlertsApi>,
        state: Store,
        keys: EnricherState,
        metrics: Metrics,
        claim_ttl: std::time::Duration,
    ) -> Responder {
        Responder {
            pipeline,
            settings,
            falcon,
            state,
            keys,
            metrics,
            me: uuid::Uuid::new_v4().to_string(),
            claim_ttl_ms: i64::try_from(claim_ttl.as_millis()).unwrap_or(i64::MAX),
            last_sweep: std::sync::Mutex::new(None),
        }
    }

    fn cases(&self) -> &CaseStore {
        &self.pipeline.cases
    }

    fn tracker(&self) -> &Tracker {
        &self.pipeline.tracker
    }

    /// One pass: the Alerts API, the issues, the write-backs; every case
    /// (write-backs to retry, reminders, gauges) on the first round, every
    /// [`SWEEP_EVERY`], and when `sweep` says so (a batch run's last round).
    /// A failing part is counted and logged; the others still run, and the
    /// failed work is found again on a later round.
    pub async fn round(&self, sweep: bool) -> RoundSummary {
        let mut summary = RoundSummary::default();
        if let Some(api) = &self.falcon {
            match self.poll_alerts(api, &mut summary).await {
                Ok(()) => {}
                Err(e) => {
                    summary.failures += 1;
                    self.metrics.error(e.kind());
                    tracing::warn!(error = %e, "polling Falcon's Alerts API failed; trying again next round");
                }
            }
        }
        if self.settings.enabled {
            if let Err(e) = self.watch_issues(&mut summary).await {
                summary.failures += 1;
                self.metrics.error(e.kind());
                tracing::warn!(error = %e, "reading the issues failed; trying again next round");
            }
            let due = {
                let mut last = self
                    .last_sweep
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let due = sweep || last.is_none_or(|t| t.elapsed() >= SWEEP_EVERY);
                if due {
                    *last = Some(std::time::Instant::now());
                }
                due
            };
            if due && let Err(e) = self.sweep(&mut summary).await {
                summary.failures += 1;
                self.metrics.error(e.kind());
                tracing::warn!(error = %e, "the case sweep failed; trying again next round");
            }
        }
        summary
    }

    /// Makes the write-backs a change just made due (the sweep retries failures).
    async fn write_back_now(&self, case: &Case, summary: &mut RoundSummary) {
        if self.falcon.is_none() || !self.settings.alerts.write_back || case.due().is_none() {
            return;
        }
        match self.write_back(&case.issue).await {
            Ok(n) => summary.written_back += n,
            Err(e) => {
                summary.failures += 1;
                self.metrics.error(e.kind());
                tracing::warn!(issue = %case.issue.url, error = %e, "write-back to Falcon failed; trying again later");
            }
        }
    }

    /// Every case: write-backs still due, SLA reminders, the gauges.
    async fn sweep(&self, summary: &mut RoundSummary) -> Result<(), ResponseError> {
        let now = now_ms();
        let mut open: std::collections::BTreeMap<&'static str, (i64, i64)> =
            crate::alert::Level::ALL
                .iter()
                .map(|l| (l.as_str(), (0, 0)))
                .collect();
        for loaded in self.cases().all().await? {
            let case = loaded.case;
            if self.falcon.is_some() && self.settings.alerts.write_back && case.due().is_some() {
                match self.write_back(&case.issue).await {
                    Ok(n) => summary.written_back += n,
                    Err(e) => {
                        summary.failures += 1;
                        self.metrics.error(e.kind());
                        tracing::warn!(issue = %case.issue.url, error = %e, "write-back to Falcon failed; trying again next round");
                    }
                }
            }
            if !case.is_open() {
                continue;
            }
            let past = report::past_sla(&case, now, &self.settings.slas);
            let entry = open.entry(case.severity.as_str()).or_default();
            entry.0 += 1;
            if past.is_some() {
                entry.1 += 1;
            }
            if let (Some(which), true, None) = (past, self.settings.reminders, case.reminded_ms) {
                match self.remind(&case, which).await {
                    Ok(()) => summary.reminded += 1,
                    Err(e) => {
                        summary.failures += 1;
                        self.metrics.error(e.kind());
                        tracing::warn!(issue = %case.issue.url, error = %e, "SLA reminder failed; trying again next round");
                    }
                }
            }
        }
        for (severity, (n, past)) in open {
            self.metrics.open_cases(severity, n, past);
        }
        Ok(())
    }

    /// One reminder comment on a case past its SLA.
    async fn remind(&self, case: &Case, which: &str) -> Result<(), ResponseError> {
        let what = format!("reminder:{}#{}", case.issue.repo, case.issue.number);
        let marker = render::response_marker(&what);
        if !self
            .tracker()
            .has_comment(&case.issue, &marker, case.opened_ms - 60_000)
            .await?
        {
            let sla = self.settings.slas.0.get(&case.severity);
            let limit = sla.map(|s| {
                if which == "respond" {
                    s.respond
                } else {
                    s.close
                }
            });
            let mention = self
                .settings
                .mention
                .as_deref()
                .map(|m| format!("{m} "))
                .unwrap_or_default();
            let body = format!(
                "{mention}This {} case is past its SLA to {} ({}).\n\n{}",
                case.severity.as_str(),
                if which == "respond" {
                    "respond"
                } else {
                    "close"
                },
                limit.map_or_else(
                    || "none".into(),
                    |d| humantime_serde::re::humantime::format_duration(d).to_string()
                ),
                render::response_block(&what)
            );
            self.tracker().comment(&case.issue, &body, &marker).await?;
        }
        let now = now_ms();
        self.cases()
            .update(&case.issue, |c| {
                if c.reminded_ms.is_some() {
                    return false;
                }
                c.reminded_ms = Some(now);
                true
            })
            .await?;
        tracing::info!(issue = %case.issue.url, which, "SLA reminder posted");
        Ok(())
    }

    /// Counts the first response and the close of a case once, when first recorded.
    fn observe(&self, before: &Case, after: &Case) {
        let severity = after.severity.as_str();
        let source = source_label(after);
        if before.first_response.is_none()
            && let Some(r) = &after.first_response
        {
            self.metrics.responded(
                severity,
                source,
                (r.at_ms - after.opened_ms) as f64 / 1000.0,
            );
        }
        if before.closed.is_none()
            && let Some(c) = &after.closed
        {
            self.metrics.closed(
                severity,
                source,
                (c.at_ms - after.opened_ms) as f64 / 1000.0,
            );
        }
    }
}

/// Whether a case's alerts come from Falcon (and so have a status there).
pub fn is_falcon(kind: AlertKind) -> bool {
    !matches!(kind, AlertKind::Rule | AlertKind::Ioc)
}

/// What `falconry report` asks for.
#[derive(Debug, Clone)]
pub struct ReportRequest {
    pub since_ms: i64,
    pub now_ms: i64,
}

/// The report of the cases in the enricher's state store. On the embedded
/// default the issue files are read into their cases first, so conclusions
/// just written in them count. Reads only: no network call.
pub async fn report(
    settings: &crate::config::ReportSettings,
    request: &ReportRequest,
) -> Result<report::Report, ResponseError> {
    let state = Store::open(&settings.state).await;
    let keys = EnricherState::new(settings.state.prefix());
    let cases = CaseStore::new(state.clone(), keys.clone());
    if let crate::config::Issues::Dir(path) = &settings.issues {
        let dir = crate::tracker::DirTracker::new(path);
        conclusions::sync_dir(&cases, &dir, &settings.response).await?;
    }
    let all: Vec<Case> = cases.all().await?.into_iter().map(|l| l.case).collect();
    let in_window = |c: &Case| c.opened_ms >= request.since_ms && c.opened_ms < request.now_ms;
    let mut health = report::Health::default();
    for c in all.iter().filter(|c| in_window(c)) {
        if is_falcon(c.kind) {
            health.alerts += c.hits;
        } else {
            health.findings += c.hits;
        }
    }
    health.pending_writebacks = all
        .iter()
        .filter(|c| c.due().is_some() && settings.response.alerts.enabled)
        .count() as u64;
    health.failures = state
        .list(&keys.quarantine_prefix())
        .await?
        .into_iter()
        .filter(|o| o.modified_ms.is_none_or(|m| m >= request.since_ms))
        .count() as u64;
    Ok(report::build(
        &all,
        request.since_ms,
        request.now_ms,
        &settings.response.slas,
        health,
    ))
}

/// Posts a report as an issue in `[enricher.response] report_repo` (once
/// per window: a second post of the same window finds the first).
pub async fn post_report(
    settings: &crate::config::ReportSettings,
    report: &report::Report,
    body: &str,
) -> Result<Option<crate::tracker::IssueRef>, ResponseError> {
    let Some(repo) = &settings.response.report_repo else {
        return Ok(None);
    };
    let http = falconry_common::http::client_builder()
        .build()
        .map_err(|e| {
            ResponseError::Tracker(crate::tracker::GitHubError::Settings(e.to_string()).into())
        })?;
    let tracker = Tracker::open(&settings.issues, http.clone())
        .map_err(|e| ResponseError::Tracker(e.into()))?;
    let day = |s: &str| s.get(..10).unwrap_or(s).to_owned();
    let what = format!("report:{}:{}", day(&report.since), day(&report.until));
    let marker = render::response_marker(&what);
    let since = report
        .until
        .parse::<chrono::DateTime<chrono::Utc>>()
        .map_or(0, |t| t.timestamp_millis())
        - 7 * 24 * 3600 * 1000;
    if let Some(found) = tracker.find(repo, &marker, since).await? {
        // Posted before (and summarised then, unless Slack failed: the
        // summary is best effort, like every Slack notice).
        return Ok(Some(found));
    }
    let issue = crate::tracker::NewIssue {
        title: format!(
            "falconry response report, {} – {}",
            day(&report.since),
            day(&report.until)
        ),
        body: format!("{body}\n\n{}", render::response_block(&what)),
        labels: vec!["falconry-report".into()],
        assignees: Vec::new(),
    };
    let posted = tracker.create(repo, &issue, &marker).await?;
    if let Some(webhook) = &settings.slack_webhook {
        let slack = crate::slack::Slack::new(
            crate::slack::SlackSettings {
                webhook_url: webhook.clone(),
                timeout: crate::slack::DEFAULT_TIMEOUT,
            },
            http,
        );
        let sent = match slack {
            Ok(s) => {
                s.send_summary(&issue.title, &summary_lines(report), Some(&posted.url))
                    .await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = sent {
            tracing::warn!(error = %e, "the report's Slack summary was not sent; the report is posted");
        }
    }
    Ok(Some(posted))
}

/// The report's headline figures, one line each, for a chat summary.
pub fn summary_lines(r: &report::Report) -> Vec<String> {
    let t = &r.totals;
    let mut lines = vec![format!(
        "{} cases opened, {} closed, {} open ({} past SLA)",
        t.opened, t.closed, t.open, t.past_sla
    )];
    let o = &r.response.overall;
    if let Some(p50) = o.time_to_first_response.p50_seconds {
        lines.push(format!(
            "time to first response: p50 {}, p90 {}",
            report::human(p50),
            report::human(o.time_to_first_response.p90_seconds.unwrap_or(p50))
        ));
    }
    if let Some(p50) = o.time_to_close.p50_seconds {
        lines.push(format!(
            "time to close: p50 {}, p90 {}",
            report::human(p50),
            report::human(o.time_to_close.p90_seconds.unwrap_or(p50))
        ));
    }
    if let Some(all) = r.conclusions.iter().find(|c| c.source == report::ALL) {
        lines.push(format!(
            "conclusions: {} true positive, {} false positive, {} benign, {} unspecified",
            all.true_positive, all.false_positive, all.benign, all.unspecified
        ));
    }
    if let Some(rule) = r.rules.first()
        && rule.false_positive > 0
    {
        let name = if rule.title.is_empty() {
            &rule.source
        } else {
            &rule.title
        };
        lines.push(format!(
            "rule to tune first: {name} ({} false positives of {} closed)",
            rule.false_positive, rule.closed
        ));
    }
    lines
}
