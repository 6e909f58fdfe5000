//! The enricher daemon: takes stream batches (from S3 event notifications on
//! a queue, or by scanning the streamer's destination), reads their alerts,
//! hands each to the pipeline, and acknowledges a batch (deletes the message,
//! or moves the scan cursor) only when every alert in it has a durable
//! outcome and its unreadable lines are in the quarantine. A batch with a
//! failed alert is retried (redelivery, or the next scan); alerts already
//! handled are recognised by the dedup records and skipped.
//!
//! SIGTERM stops intake; alerts in flight finish (their issue calls are
//! bounded by the tracker's own timeouts) or stay unacknowledged.

use crate::alert::normalize::Selection;
use crate::config::{Input, Settings};
use crate::dedup::{DedupStore, Fingerprinter};
use crate::input::batch::{BadLine, read_batch};
use crate::input::findings::read_findings;
use crate::input::notice::{self, Notice};
use crate::input::{FindingsScanner, Scanner};
use crate::metrics::Metrics;
use crate::pipeline::{Outcome, Pipeline, PipelineError, Rules, Services};
use crate::policy::Policy;
use crate::render::Renderer;
use crate::response::case::CaseStore;
use crate::response::config::ALERTS_KEY;
use crate::response::falcon::AlertsApi;
use crate::response::{Responder, RoundSummary};
use crate::slack::{Slack, SlackSettings};
use crate::tracker::Tracker;
use bytes::Bytes;
use falconry_common::config::ConfigError;
use falconry_common::lake::state::EnricherState;
use falconry_common::queue::consumer::{self, Disposition, Event, Handled, Handler};
use falconry_common::queue::{Message, Queue, SqsQueue};
use falconry_common::telemetry::{Health, Registry, Telemetry};
use falconry_common::{Store, aws};
use futures::StreamExt;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// Counts of one run.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub batches: u64,
    pub alerts: u64,
    pub created: u64,
    pub commented: u64,
    pub duplicates: u64,
    pub discarded: u64,
    pub notified: u64,
    pub failed: u64,
    /// Of the failed: alerts whose only outcome, a Slack notice, was not sent.
    pub notify_failed: u64,
    pub quarantined_lines: u64,
    /// What the response loop did.
    pub response: RoundSummary,
}

impl Summary {
    fn add(&mut self, other: &Summary) {
        self.batches += other.batches;
        self.alerts += other.alerts;
        self.created += other.created;
        self.commented += other.commented;
        self.duplicates += other.duplicates;
        self.discarded += other.discarded;
        self.notified += other.notified;
        self.notify_failed += other.notify_failed;
        self.failed += other.failed;
        self.quarantined_lines += other.quarantined_lines;
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EnricherError {
    /// A configuration problem, found by `check-config` or at start (exit 64).
    #[error("the enricher cannot start")]
    Config(#[from] ConfigError),
    #[error("the HTTP client: {0}")]
    Http(#[source] reqwest::Error),
    #[error("state store: {0}")]
    State(#[from] falconry_common::StoreError),
    #[error("queue: {0}")]
    Queue(#[from] falconry_common::queue::QueueError),
    #[error(transparent)]
    Admin(#[from] falconry_common::telemetry::AdminError),
}

/// The enricher's seam, called by the binary and the tests alike: loads the
/// policy and templates, builds the clients, registers its metrics and health
/// on `telemetry`'s admin port, and runs until `shutdown` (or, with
/// `until_empty`, until there is nothing left).
pub async fn run(
    settings: Settings,
    telemetry: Telemetry,
    shutdown: CancellationToken,
) -> Result<Summary, EnricherError> {
    let mut registry = Registry::default();
    let enricher = Enricher::new(settings, &mut registry).await?;
    telemetry
        .serve(registry, enricher.health.clone(), &shutdown)
        .await?;
    // On the heap: the daemon future is large, and tests run it on small stacks.
    Box::pin(enricher.run(shutdown)).await
}

enum Source {
    Queue(Queue),
    Scan(Scanner, Option<FindingsScanner>),
}

/// The enricher, built and checked, not yet running.
struct Enricher {
    settings: Settings,
    pipeline: Arc<Pipeline>,
    source: Source,
    /// Object store for batches announced on the queue (any bucket).
    batch_store: Option<Store>,
    state: Store,
    state_keys: EnricherState,
    selection: Selection,
    metrics: Metrics,
    health: Arc<Health>,
    /// The response loop (cases, Falcon's Alerts API, conclusions), beside the input.
    responder: Option<Arc<Responder>>,
}

/// What the enricher builds from its settings before it runs: each part
/// checks its own configuration (the policy compiles, the templates parse,
/// the GitHub key and the Slack URL are usable, every context provider is
/// configured well). Every problem of every part is reported at once.
impl Services {
    /// `online`: whether remote services may be asked (not from `check-config`).
    async fn build(
        settings: &Settings,
        registry: &mut Registry,
        online: bool,
    ) -> Result<Services, EnricherError> {
        let http = falconry_common::http::client_builder()
            .build()
            .map_err(EnricherError::Http)?;
        let mut problems = Vec::new();
        let mut check = |section: &str, e: String| problems.push(format!("{section}: {e}"));
        let policy = Policy::load(&settings.policy, &settings.policy_data)
            .map_err(|e| check("enricher.policy", e.to_string()))
            .ok();
        let renderer = Renderer::new(settings.templates.as_deref())
            .map_err(|e| check("enricher.templates", e.to_string()))
            .ok();
        let tracker = Tracker::open(&settings.issues, http.clone())
            .map_err(|e| check("enricher.github", e.to_string()))
            .ok();
        let slack = match &settings.slack_webhook {
            Some(url) => Slack::new(
                SlackSettings {
                    webhook_url: url.clone(),
                    timeout: Duration::from_secs(10),
                },
                http.clone(),
            )
            .map(Some)
            .map_err(|e| check("enricher.slack", e.to_string()))
            .ok(),
            None => Some(None),
        };
        let context = match settings.context.build(http, registry, online).await {
            Ok(c) => Some(c),
            Err(p) => {
                problems.extend(p);
                None
            }
        };
        match (policy, renderer, tracker, slack, context) {
            (Some(policy), Some(renderer), Some(tracker), Some(slack), Some(context))
                if problems.is_empty() =>
            {
                Ok(Services {
                    policy,
                    renderer,
                    tracker,
                    slack,
                    context,
                })
            }
            _ => Err(ConfigError::Invalid(problems).into()),
        }
    }
}

/// Everything `run` would refuse at start for a configuration reason, found
/// without starting: what `falconry check-config` runs for `[enricher]`. No
/// network call.
pub async fn preflight(settings: &Settings) -> Result<(), ConfigError> {
    Services::build(settings, &mut Registry::default(), false)
        .await
        .map(|_| ())
        .map_err(as_config)
}

/// What building the parts finds wrong is the configuration's fault (no
/// network call is made): one problem list, exit 64 at start as in check-config.
fn as_config(e: EnricherError) -> ConfigError {
    match e {
        EnricherError::Config(c) => c,
        other => ConfigError::Invalid(vec![format!("enricher: {other}")]),
    }
}

impl Enricher {
    /// Loads the policy and templates (a bad one is a configuration error),
    /// builds the clients. No network call.
    async fn new(settings: Settings, registry: &mut Registry) -> Result<Enricher, EnricherError> {
        let metrics = Metrics::new(registry);
        let services = Services::build(&settings, registry, true)
            .await
            .map_err(|e| EnricherError::Config(as_config(e)))?;
        let state = Store::open(&settings.state).await;
        // What a killed enricher left half-written.
        if let Err(e) = state.sweep_temporaries().await {
            warn!(error = %e, "could not sweep the state store's temporaries");
        }
        if let Tracker::Dir(d) = &services.tracker {
            match d.sweep_temporaries() {
                Ok(0) => {}
                Ok(n) => tracing::info!(removed = n, "removed issue files left half-written"),
                Err(e) => warn!(error = %e, "could not sweep the issues folder's temporaries"),
            }
        }
        let state_keys = EnricherState::new(settings.state.prefix());
        let dedup = DedupStore::new(state.clone(), state_keys.clone());
        let (source, batch_store) = match &settings.input {
            Input::Scan(from) => {
                let store = Store::open(from).await;
                let findings = match &settings.findings_from {
                    Some(f) => Some(FindingsScanner::new(
                        Store::open(f).await,
                        f.prefix(),
                        state.clone(),
                        state_keys.clone(),
                    )),
                    None => None,
                };
                (
                    Source::Scan(
                        Scanner::new(store, from.prefix(), state.clone(), state_keys.clone()),
                        findings,
                    ),
                    None,
                )
            }
            Input::Queue(q) => {
                let aws_settings = aws::AwsSettings {
                    region: aws::region_from_queue_url(q),
                    ..Default::default()
                };
                let conf = aws::sdk_config(&aws_settings).await;
                let s3 = aws::s3_client(&aws::sdk_config(&Default::default()).await);
                (
                    Source::Queue(Queue::Sqs(SqsQueue::new(aws::sqs_client(&conf), q.clone()))),
                    Some(Store::s3(s3, "announced-bucket")),
                )
            }
        };
        let rules = Rules {
            fingerprinter: Fingerprinter::new(settings.dedup_fields.clone()),
            default_repo: settings.repo.clone(),
            window: settings.dedup_window,
            claim_ttl: settings.claim_ttl,
            athena_database: settings.athena_database.clone(),
            history_window: settings.history_window,
        };
        let cases = CaseStore::new(state.clone(), state_keys.clone());
        let pipeline = Arc::new(Pipeline::new(
            services,
            dedup,
            cases,
            rules,
            metrics.clone(),
        ));
        let response = &settings.response;
        let falcon = if response.alerts.enabled {
            let http = falconry_common::http::client_builder()
                .build()
                .map_err(EnricherError::Http)?;
            let auth = falconry_common::falcon_auth::Login {
                section: ALERTS_KEY,
                cloud: &response.alerts.cloud,
                base_url: response.alerts.base_url.as_deref(),
                client_id: response.alerts.client_id.as_deref(),
                client_secret: response.alerts.client_secret.as_ref(),
                member_cid: response.alerts.member_cid.as_deref(),
            }
            .auth(http.clone())
            .map_err(|p| EnricherError::Config(ConfigError::Invalid(p)))?;
            Some(AlertsApi::new(
                http,
                auth,
                ALERTS_KEY,
                response.alerts.max_wait,
            ))
        } else {
            None
        };
        let responder = (response.enabled || falcon.is_some()).then(|| {
            Arc::new(Responder::new(
                pipeline.clone(),
                response.clone(),
                falcon,
                state.clone(),
                state_keys.clone(),
                metrics.clone(),
                settings.claim_ttl,
            ))
        });
        let health = Arc::new(Health::new(
            settings.poll_interval.max(Duration::from_secs(20)) * 6 + settings.visibility_timeout,
        ));
        Ok(Enricher {
            selection: Selection {
                extra: settings.event_types.clone(),
            },
            settings,
            pipeline,
            responder,
            source,
            batch_store,
            state,
            state_keys,
            metrics,
            health,
        })
    }

    async fn run(self, shutdown: CancellationToken) -> Result<Summary, EnricherError> {
        info!(tracker = %self.pipeline.tracker.name(), "enricher started");
        self.health.set_ready(true);
        let this = Arc::new(self);
        // The response loop runs beside the input until the input ends.
        let input_done = shutdown.child_token();
        let responding = this.responder.clone().map(|r| {
            let stop = input_done.clone();
            let every = this.settings.response.interval.min(
                this.settings
                    .response
                    .alerts
                    .interval
                    .max(Duration::from_secs(1)),
            );
            tokio::spawn(async move {
                let mut total = RoundSummary::default();
                while !stop.is_cancelled() {
                    let r = r.round(false).await;
                    total.add(&r);
                    sleep(every, &stop).await;
                }
                total
            })
        });
        let mut result = match &this.source {
            Source::Scan(scanner, findings) => {
                this.scan(scanner, findings.as_ref(), &shutdown).await
            }
            Source::Queue(queue) => Ok(this.consume(queue, &shutdown).await),
        };
        input_done.cancel();
        if let Some(task) = responding {
            let mut total = task.await.unwrap_or_default();
            // A batch run ends with one full round over what it just opened.
            if this.settings.until_empty
                && !shutdown.is_cancelled()
                && let Some(r) = &this.responder
            {
                total.add(&r.round(true).await);
            }
            if let Ok(s) = &mut result {
                s.response = total;
            }
        }
        this.health.set_ready(false);
        if let Ok(s) = &result {
            info!(?s, "enricher stopped");
        }
        result
    }

    async fn scan(
        &self,
        scanner: &Scanner,
        findings: Option<&FindingsScanner>,
        shutdown: &CancellationToken,
    ) -> Result<Summary, EnricherError> {
        let mut total = Summary::default();
        while !shutdown.is_cancelled() {
            self.health.beat();
            let pending = match scanner.pending().await {
                Ok(p) => p,
                Err(e) if !self.settings.until_empty => {
                    warn!(error = %e, "listing stream batches failed; trying again");
                    sleep(self.settings.poll_interval, shutdown).await;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let mut failed = false;
            // Partitions are independent; within one, batches go in order so
            // the cursor only ever moves past finished work.
            for (_, batches) in pending {
                for o in batches {
                    if shutdown.is_cancelled() {
                        break;
                    }
                    let (summary, ok) = self.batch(scanner.store(), &o.key, shutdown).await;
                    total.add(&summary);
                    if !ok {
                        failed = true;
                        break;
                    }
                    scanner.done(&o.key).await?;
                }
            }
            // What the organisation's rules found: each object once.
            if let Some(f) = findings {
                match f.pending().await {
                    Ok(objects) => {
                        for o in objects {
                            if shutdown.is_cancelled() {
                                break;
                            }
                            let (summary, ok) = self.batch(f.store(), &o.key, shutdown).await;
                            total.add(&summary);
                            if !ok {
                                failed = true;
                                continue;
                            }
                            f.done(&o).await?;
                        }
                    }
                    Err(e) if !self.settings.until_empty => {
                        warn!(error = %e, "listing findings failed; trying again");
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            if self.settings.until_empty && !failed {
                break;
            }
            if self.settings.until_empty && failed {
                // Nothing is lost (the cursor did not move); say so and stop.
                warn!(
                    failed = total.failed,
                    "some alerts failed; their batches will be read again on the next run"
                );
                break;
            }
            sleep(self.settings.poll_interval, shutdown).await;
        }
        Ok(total)
    }

    /// Queue mode: S3 event notifications of new batches, through the one queue loop.
    async fn consume(self: &Arc<Self>, queue: &Queue, shutdown: &CancellationToken) -> Summary {
        let policy = consumer::Policy {
            concurrency: MESSAGES_IN_FLIGHT,
            wait: if self.settings.until_empty {
                Duration::from_secs(1)
            } else {
                Duration::from_secs(20)
            },
            visibility: self.settings.visibility_timeout,
            grace: GRACE_PERIOD,
            until_empty: self.settings.until_empty,
        };
        let batches = Arc::new(Batches {
            enricher: self.clone(),
            shutdown: shutdown.clone(),
        });
        let mut total = Summary::default();
        consumer::consume(
            queue,
            batches,
            &policy,
            &self.health,
            shutdown,
            |event| match event {
                Event::Handled(s) => total.add(&s),
                Event::Panicked => total.failed += 1,
                Event::ReceiveFailed { .. } => self.metrics.error("queue_receive"),
                Event::LeftClaimed(_) => {}
            },
        )
        .await;
        total
    }

    /// Reads one batch and handles its alerts. `true` when every alert has a
    /// durable outcome and bad lines are quarantined.
    #[tracing::instrument(skip_all, fields(batch = %key))]
    async fn batch(
        &self,
        store: &Store,
        key: &str,
        shutdown: &CancellationToken,
    ) -> (Summary, bool) {
        let mut summary = Summary {
            batches: 1,
            ..Summary::default()
        };
        let bytes = match store.get_bytes(key).await {
            Ok(b) => b,
            Err(e) if e.is_not_found() => {
                warn!(error = %e, "batch is gone; nothing to read");
                self.metrics.batch("missing");
                return (summary, true);
            }
            Err(e) => {
                warn!(error = %e, "reading the batch failed");
                self.metrics.batch("failed");
                return (summary, false);
            }
        };
        let selection = self.selection.clone();
        let key_owned = key.to_owned();
        let read = tokio::task::spawn_blocking(move || {
            if falconry_common::lake::findings::is_findings_key(&key_owned) {
                read_findings(&key_owned, &bytes)
            } else {
                read_batch(&key_owned, &bytes, &selection)
            }
        })
        .await;
        let contents = match read {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                // A batch that cannot be opened at all: quarantine it whole.
                warn!(error = %e, "batch unreadable; quarantined");
                let bad = vec![BadLine {
                    line: 0,
                    reason: e.to_string(),
                    text: String::new(),
                }];
                let ok = self.quarantine(key, &bad).await;
                self.metrics
                    .batch(if ok { "quarantined" } else { "failed" });
                return (summary, ok);
            }
            Err(e) => {
                warn!(error = %e, "batch reader panicked");
                return (summary, false);
            }
        };
        summary.quarantined_lines = contents.bad.len() as u64;
        if !contents.bad.is_empty() {
            self.metrics
                .quarantined_lines
                .inc_by(contents.bad.len() as u64);
            if !self.quarantine(key, &contents.bad).await {
                return (summary, false);
            }
        }
        summary.alerts = contents.alerts.len() as u64;
        let pipeline = &self.pipeline;
        let alerts = &contents.alerts;
        // By index: a closure over borrowed items is not general enough for a Send future.
        let results: Vec<Result<Outcome, PipelineError>> = futures::stream::iter(0..alerts.len())
            .map(|i| async move {
                let (alert, raw) = &alerts[i];
                if shutdown.is_cancelled() {
                    return Err(PipelineError::Busy {
                        fingerprint: "shutting down".into(),
                    });
                }
                pipeline.handle(alert, raw).await
            })
            .buffered(self.settings.concurrency)
            .collect()
            .await;
        let mut ok = true;
        for (r, (alert, _)) in results.into_iter().zip(&contents.alerts) {
            match r {
                Ok(Outcome::Created(_)) => summary.created += 1,
                Ok(Outcome::Commented(_)) => summary.commented += 1,
                Ok(Outcome::Duplicate) => summary.duplicates += 1,
                Ok(Outcome::Discarded) => summary.discarded += 1,
                Ok(Outcome::Notified) => summary.notified += 1,
                Err(e) => {
                    ok = false;
                    summary.failed += 1;
                    if matches!(e, PipelineError::Notify(_)) {
                        summary.notify_failed += 1;
                    }
                    self.metrics.error(e.kind());
                    self.metrics.alert(alert.kind.as_str(), "failed");
                    warn!(alert = %alert.id, error = %e, "alert not handled; the batch will be read again");
                }
            }
        }
        self.metrics.batch(if ok { "done" } else { "failed" });
        (summary, ok)
    }

    /// Writes the unreadable lines of `key` beside the state: one JSON object
    /// per line with its number, the reason and the text. Idempotent (the
    /// object name derives from the batch key).
    async fn quarantine(&self, key: &str, bad: &[BadLine]) -> bool {
        let qkey = self.state_keys.quarantine_key(key);
        let mut body = String::new();
        for b in bad {
            body.push_str(
                &serde_json::json!({"batch": key, "line": b.line, "reason": b.reason, "text": b.text}).to_string(),
            );
            body.push('\n');
        }
        match self.state.put_bytes(&qkey, Bytes::from(body)).await {
            Ok(_) => {
                warn!(lines = bad.len(), quarantine = %qkey, "unreadable lines set aside");
                true
            }
            Err(e) => {
                warn!(error = %e, "writing the quarantine failed; the batch will be read again");
                false
            }
        }
    }
}

async fn sleep(wait: Duration, shutdown: &CancellationToken) {
    tokio::select! { _ = tokio::time::sleep(wait) => {}, _ = shutdown.cancelled() => {} }
}

/// Messages handled at once in queue mode.
const MESSAGES_IN_FLIGHT: NonZeroUsize = NonZeroUsize::MIN.saturating_add(1);
/// How long messages in flight may finish after SIGTERM (ECS waits 30 s).
const GRACE_PERIOD: Duration = Duration::from_secs(25);

/// The enricher's part of the queue loop: one notification, its batches read
/// and their alerts handled.
struct Batches {
    enricher: Arc<Enricher>,
    shutdown: CancellationToken,
}

impl Handler for Batches {
    type Report = Summary;

    async fn handle(&self, m: Message) -> Handled<Summary> {
        let e = &self.enricher;
        let mut summary = Summary::default();
        let objects = match notice::decode(&m.body) {
            Ok(Notice::Batches(b)) => b,
            Ok(Notice::Nothing(why)) => {
                info!(why, "message without work");
                return Handled {
                    disposition: Disposition::Ack,
                    report: summary,
                };
            }
            Err(err) => {
                // Not ours to read: leave it for the DLQ (released, not deleted).
                warn!(error = %err, "unreadable message");
                e.metrics.batch("unreadable_message");
                return Handled {
                    disposition: Disposition::Release {
                        reason: err.to_string(),
                        retry_after: Duration::from_secs(60),
                    },
                    report: summary,
                };
            }
        };
        let mut ok = true;
        for o in objects {
            let store = match &e.batch_store {
                Some(s) => s.with_bucket(&o.bucket),
                None => continue,
            };
            let (s, done) = e.batch(&store, &o.key, &self.shutdown).await;
            summary.add(&s);
            ok &= done;
        }
        let disposition = if ok {
            Disposition::Ack
        } else {
            Disposition::Release {
                reason: "some alerts failed".into(),
                retry_after: Duration::from_secs(30),
            }
        };
        Handled {
            disposition,
            report: summary,
        }
    }
}
