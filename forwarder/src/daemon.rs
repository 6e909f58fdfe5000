//! The forwarder daemon: receive notices, process each under a visibility
//! heartbeat with bounded concurrency, delete a notice only once all its
//! outputs are durable, and on shutdown stop receiving and let work in flight
//! finish within the grace period (what does not finish stays undeleted and is
//! redelivered).

use crate::config::{QueueSpec, Settings};
use crate::error::ForwarderError;
use crate::metrics::Metrics;
use crate::process::{Context, Outcome, process};
use bytes::Bytes;
use falconry_common::queue::{DirQueue, Message, Queue, SqsQueue};
use falconry_common::telemetry::{Health, Registry};
use falconry_common::{Location, Store, aws};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Totals of one run (what `--until-empty` reports).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub done: u64,
    pub failed: u64,
    pub rejected: u64,
    pub ignored: u64,
    pub files: u64,
    pub rows: u64,
    pub quarantined: u64,
}

/// The forwarder, built (clients, metrics) but not yet running.
pub(crate) struct Forwarder {
    ctx: Arc<Context>,
    queue: Queue,
    pub(crate) health: Arc<Health>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Forwarder {
    /// Builds clients and registers metrics into `registry`. No network call is made.
    pub async fn new(
        settings: Settings,
        registry: &mut Registry,
    ) -> Result<Forwarder, ForwarderError> {
        let needs_source_aws = settings
            .source
            .as_ref()
            .is_none_or(|l| matches!(l, Location::S3 { .. }))
            || matches!(settings.queue, Some(QueueSpec::Sqs { .. }));
        let source_conf = if needs_source_aws {
            Some(aws::sdk_config(&settings.source_aws).await)
        } else {
            None
        };
        let dest_client = match settings.dest {
            Location::S3 { .. } => {
                Some(aws::s3_client(&aws::sdk_config(&Default::default()).await))
            }
            Location::Local { .. } => None,
        };
        let dest = Store::new(&settings.dest, dest_client).map_err(ForwarderError::Setup)?;
        let source = match (&settings.source, &source_conf) {
            (Some(Location::Local { root, .. }), _) => Store::local(root.clone()),
            (Some(Location::S3 { bucket, .. }), Some(c)) => {
                Store::s3(aws::s3_client(c), bucket.clone())
            }
            (None, Some(c)) => Store::s3(aws::s3_client(c), "bucket-named-in-each-notice"),
            _ => return Err(ForwarderError::Setup("no source configured".into())),
        };
        let queue = match (&settings.queue, &source_conf) {
            (Some(QueueSpec::Dir { path }), _) => Queue::Dir(DirQueue::new(path.clone())),
            (Some(QueueSpec::Sqs { url }), Some(c)) => {
                Queue::Sqs(SqsQueue::new(aws::sqs_client(c), url.clone()))
            }
            (Some(QueueSpec::Sqs { .. }), None) => {
                return Err(ForwarderError::Setup("no AWS config for the queue".into()));
            }
            (None, _) => return Err(ForwarderError::Setup("no queue configured".into())),
        };
        let metrics = Metrics::new(registry);
        let files = Arc::new(Semaphore::new(settings.files_in_flight.get()));
        // Live while the receive loop turns: one long-poll plus processing headroom.
        let health = Arc::new(Health::new(
            settings.wait_time * 3 + Duration::from_secs(60),
        ));
        Ok(Forwarder {
            ctx: Arc::new(Context {
                settings,
                source,
                dest,
                metrics,
                files,
            }),
            queue,
            health,
        })
    }

    /// Runs until `shutdown` is cancelled (or, with `until_empty`, the queue is drained).
    pub async fn run(self, shutdown: CancellationToken) -> Result<Summary, ForwarderError> {
        let s = &self.ctx.settings;
        let slots = Arc::new(Semaphore::new(s.notices_in_flight.get()));
        let mut tasks: JoinSet<Outcome> = JoinSet::new();
        let mut summary = Summary::default();
        let mut backoff = backoff();
        // With --until-empty a short wait is enough: we only need to see the queue empty.
        let wait = if s.until_empty {
            s.wait_time.min(Duration::from_secs(2))
        } else {
            s.wait_time
        };
        self.health.set_ready(true);
        tracing::info!(queue = %self.queue.name(), dest = %s.dest, "forwarder started");
        loop {
            self.health.beat();
            while let Some(done) = tasks.try_join_next() {
                record(&mut summary, done);
            }
            let first = tokio::select! {
                p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
                _ = shutdown.cancelled() => break,
            };
            let room = 1 + slots.available_permits();
            let received = tokio::select! {
                r = self.queue.receive(room.min(10), wait, s.visibility_timeout) => r,
                _ = shutdown.cancelled() => break,
            };
            let messages = match received {
                Ok(m) => {
                    backoff = self::backoff();
                    m
                }
                Err(e) => {
                    self.ctx.metrics.failure("queue_receive");
                    let delay = backoff.next().unwrap_or(Duration::from_secs(30));
                    tracing::error!(error = %e, retry_in = ?delay, "receive failed");
                    tokio::select! { _ = tokio::time::sleep(delay) => {}, _ = shutdown.cancelled() => break }
                    continue;
                }
            };
            if messages.is_empty() {
                drop(first);
                if s.until_empty {
                    if tasks.is_empty() {
                        break;
                    }
                    // Wait for one task so the loop does not spin.
                    if let Some(done) = tasks.join_next().await {
                        record(&mut summary, done);
                    }
                }
                continue;
            }
            let mut permit = Some(first);
            for m in messages {
                let permit = match permit.take() {
                    Some(p) => p,
                    None => match slots.clone().try_acquire_owned() {
                        Ok(p) => p,
                        Err(_) => match slots.clone().acquire_owned().await {
                            Ok(p) => p,
                            Err(_) => break,
                        },
                    },
                };
                let ctx = self.ctx.clone();
                let queue = self.queue.clone();
                let span = tracing::info_span!("notice", id = %m.id, receives = m.receive_count);
                tasks.spawn(
                    async move {
                        let _permit = permit;
                        handle(&ctx, &queue, m).await
                    }
                    .instrument(span),
                );
            }
        }
        self.health.set_ready(false);
        let in_flight = tasks.len();
        if in_flight > 0 {
            tracing::info!(in_flight, grace = ?s.grace_period, "draining notices in flight");
        }
        let drained = tokio::time::timeout(s.grace_period, async {
            while let Some(done) = tasks.join_next().await {
                record(&mut summary, done);
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                left = tasks.len(),
                "grace period over: unfinished notices stay on the queue for redelivery"
            );
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        }
        tracing::info!(?summary, "forwarder stopped");
        if s.until_empty && summary.failed + summary.rejected > 0 {
            return Err(ForwarderError::NoticesFailed {
                failed: summary.failed + summary.rejected,
            });
        }
        Ok(summary)
    }
}

fn backoff() -> impl Iterator<Item = Duration> {
    use backon::BackoffBuilder;
    backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(500))
        .with_max_delay(Duration::from_secs(60))
        .with_jitter()
        .without_max_times()
        .build()
}

fn record(summary: &mut Summary, done: Result<Outcome, tokio::task::JoinError>) {
    match done {
        Ok(Outcome::Done {
            files,
            rows,
            quarantined,
        }) => {
            summary.done += 1;
            summary.files += files as u64;
            summary.rows += rows;
            summary.quarantined += quarantined;
        }
        Ok(Outcome::Nothing(_)) => summary.ignored += 1,
        Ok(Outcome::Rejected(_)) => summary.rejected += 1,
        Ok(Outcome::Failed(_)) => summary.failed += 1,
        Err(e) if e.is_cancelled() => {}
        Err(e) => {
            tracing::error!(error = %e, "notice task panicked");
            summary.failed += 1;
        }
    }
}

/// One message: heartbeat while processing, then delete or release.
async fn handle(ctx: &Context, queue: &Queue, m: Message) -> Outcome {
    let s = &ctx.settings;
    ctx.metrics.in_flight.inc();
    let now = now_ms();
    if let Some(sent) = m.sent_ms {
        tracing::debug!(age_ms = now - sent, "received");
    }
    let beat_stop = CancellationToken::new();
    // If this task is aborted (grace period over), the heartbeat stops with it
    // and the message reappears after its visibility timeout.
    let _stop_on_drop = beat_stop.clone().drop_guard();
    let heartbeat = {
        let (queue, m, stop, vis) = (
            queue.clone(),
            m.clone(),
            beat_stop.clone(),
            s.visibility_timeout,
        );
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(vis / 3);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tick.tick() => {
                        if let Err(e) = queue.extend(&m, vis).await {
                            tracing::warn!(error = %e, "visibility heartbeat failed");
                        }
                    }
                }
            }
        })
    };
    let outcome = process(ctx, &m.body, now).await;
    beat_stop.cancel();
    let _ = heartbeat.await;
    ctx.metrics.notice(outcome.label());
    match &outcome {
        Outcome::Done {
            files,
            rows,
            quarantined,
        } => {
            match queue.delete(&m).await {
                Ok(()) => tracing::info!(files, rows, quarantined, "notice done"),
                // Outputs are durable and idempotent: a redelivery only rewrites them.
                Err(e) => {
                    tracing::warn!(error = %e, "notice done but delete failed; it will be redelivered");
                }
            }
        }
        Outcome::Nothing(why) => {
            tracing::info!(reason = why, "message carries no work; deleted");
            if let Err(e) = queue.delete(&m).await {
                tracing::warn!(error = %e, "delete failed");
            }
        }
        Outcome::Rejected(e) => {
            ctx.metrics.failure("notice");
            tracing::error!(error = %e, "message rejected: not a notice this forwarder understands");
            give_up(ctx, queue, &m, &e.to_string()).await;
        }
        Outcome::Failed(errors) => {
            let reason = errors
                .iter()
                .map(std::string::ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ");
            give_up(ctx, queue, &m, &reason).await;
        }
    }
    ctx.metrics.in_flight.dec();
    outcome
}

/// Leaves a failed message for redelivery and, once it has failed often
/// enough, writes a failure record (CrowdStrike's queue has no DLQ of ours).
async fn give_up(ctx: &Context, queue: &Queue, m: &Message, reason: &str) {
    let s = &ctx.settings;
    if let Err(e) = queue.release(m, reason, s.retry_delay).await {
        tracing::warn!(error = %e, "release failed; the message reappears after its visibility timeout");
    }
    if queue.redelivers() && m.receive_count >= s.report_after_receives {
        ctx.metrics.poison_notices.inc();
        let key = s.layout.failure_key(&m.id);
        let record = serde_json::json!({
            "message_id": m.id,
            "queue": queue.name(),
            "receive_count": m.receive_count,
            "last_error": reason,
            "failed_at_ms": now_ms(),
            "body": m.body.chars().take(64 * 1024).collect::<String>(),
        });
        match ctx
            .dest
            .put_bytes(&key, Bytes::from(record.to_string()))
            .await
        {
            Ok(_) => {
                tracing::error!(receives = m.receive_count, record = %key, "notice keeps failing; failure record written");
            }
            Err(e) => {
                tracing::error!(receives = m.receive_count, error = %e, "notice keeps failing; writing its failure record failed too");
            }
        }
    }
}
