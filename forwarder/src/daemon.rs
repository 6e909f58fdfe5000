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
use falconry_common::queue::consumer::{self, Disposition, Event, Handled, Handler};
use falconry_common::queue::{DirQueue, Message, Queue, SqsQueue};
use falconry_common::telemetry::{Health, Registry};
use falconry_common::{Location, Store, aws};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

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
    /// With `until_empty`: notices still claimed elsewhere when the run stopped.
    pub claimed: u64,
}

/// The forwarder, built (clients, metrics) but not yet running.
pub(crate) struct Forwarder {
    ctx: Arc<Context>,
    queue: Queue,
    pub(crate) health: Arc<Health>,
}

/// Settings that `validate` should have refused: a configuration error all the same.
fn unconfigured(key: &str, what: &str) -> ForwarderError {
    ForwarderError::Config(falconry_common::config::ConfigError::Invalid(vec![
        format!("{key}: {what}"),
    ]))
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Forwarder {
    /// Builds clients, registers metrics into `registry`, and loads the rules
    /// (`[detect]`, the only read made here).
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
        let dest = Store::open(&settings.dest).await;
        let source = match (&settings.source, &source_conf) {
            (Some(Location::Local { root, .. }), _) => Store::local(root.clone()),
            (Some(Location::S3 { bucket, .. }), Some(c)) => {
                Store::s3(aws::s3_client(c), bucket.clone())
            }
            (None, Some(c)) => Store::s3(aws::s3_client(c), "bucket-named-in-each-notice"),
            _ => return Err(unconfigured("forwarder.source", "no source")),
        };
        let queue = match (&settings.queue, &source_conf) {
            (Some(QueueSpec::Dir { path }), _) => Queue::Dir(DirQueue::new(path.clone())),
            (Some(QueueSpec::Sqs { url }), Some(c)) => {
                Queue::Sqs(SqsQueue::new(aws::sqs_client(c), url.clone()))
            }
            (Some(QueueSpec::Sqs { .. }), None) => {
                return Err(unconfigured(
                    "forwarder.queue",
                    "no AWS configuration for the queue",
                ));
            }
            (None, _) => return Err(unconfigured("forwarder.queue", "required")),
        };
        let metrics = Metrics::new(registry);
        let files = Arc::new(Semaphore::new(settings.files_in_flight.get()));
        // Registered with or without rules: unknown event types are counted either way.
        let detect_metrics = falconry_detect::DetectMetrics::new(registry);
        // The rules it was told to run: it does not start without them.
        let rules = match &settings.detect {
            Some(d) => Some(
                falconry_detect::LiveRules::start(d.clone(), detect_metrics.clone())
                    .await
                    .map_err(|e| unconfigured("detect.rules", &e.to_string()))?,
            ),
            None => None,
        };
        let indicators = match &settings.indicators {
            Some(i) => Some(
                falconry_detect::ioc::LiveIndicators::start(
                    i.clone(),
                    falconry_detect::ioc::HuntMetrics::new(registry),
                )
                .await
                .map_err(|e| unconfigured("detect.indicators", &e.to_string()))?,
            ),
            None => None,
        };
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
                rules,
                detect_metrics,
                indicators,
            }),
            queue,
            health,
        })
    }

    /// Runs until `shutdown` is cancelled (or, with `until_empty`, the queue is drained).
    pub async fn run(self, shutdown: CancellationToken) -> Result<Summary, ForwarderError> {
        if let Err(e) = self.ctx.dest.sweep_temporaries().await {
            tracing::warn!(error = %e, "could not sweep the destination's temporaries");
        }
        let s = &self.ctx.settings;
        let policy = consumer::Policy {
            concurrency: s.notices_in_flight,
            // With --until-empty a short wait is enough: we only need to see the queue empty.
            wait: if s.until_empty {
                s.wait_time.min(Duration::from_secs(2))
            } else {
                s.wait_time
            },
            visibility: s.visibility_timeout,
            grace: s.grace_period,
            until_empty: s.until_empty,
        };
        tracing::info!(queue = %self.queue.name(), dest = %s.dest, "forwarder started");
        if let Some(rules) = &self.ctx.rules {
            tokio::spawn(rules.clone().watch(shutdown.clone()));
        }
        if let Some(indicators) = &self.ctx.indicators {
            tokio::spawn(indicators.clone().watch(shutdown.clone()));
        }
        let notices = Arc::new(Notices {
            ctx: self.ctx.clone(),
            queue: self.queue.clone(),
        });
        let mut summary = Summary::default();
        consumer::consume(
            &self.queue,
            notices,
            &policy,
            &self.health,
            &shutdown,
            |event| match event {
                Event::Handled(outcome) => record(&mut summary, &outcome),
                Event::Panicked => summary.failed += 1,
                Event::ReceiveFailed { .. } => self.ctx.metrics.failure("queue_receive"),
                Event::LeftClaimed(n) => summary.claimed = n,
            },
        )
        .await;
        tracing::info!(?summary, "forwarder stopped");
        if summary.claimed > 0 {
            return Err(ForwarderError::NoticesClaimed {
                claimed: summary.claimed,
            });
        }
        if s.until_empty && summary.failed + summary.rejected > 0 {
            return Err(ForwarderError::NoticesFailed {
                failed: summary.failed + summary.rejected,
            });
        }
        Ok(summary)
    }
}

fn record(summary: &mut Summary, outcome: &Outcome) {
    match outcome {
        Outcome::Done {
            files,
            rows,
            quarantined,
        } => {
            summary.done += 1;
            summary.files += *files as u64;
            summary.rows += rows;
            summary.quarantined += quarantined;
        }
        Outcome::Nothing(_) => summary.ignored += 1,
        Outcome::Rejected(_) => summary.rejected += 1,
        Outcome::Failed(_) => summary.failed += 1,
    }
}

/// The forwarder's part of the queue loop: one notice, processed.
struct Notices {
    ctx: Arc<Context>,
    queue: Queue,
}

/// Counts a notice in flight for as long as it lives (an aborted task included).
struct InFlight<'a>(&'a Context);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.metrics.in_flight.dec();
    }
}

impl Handler for Notices {
    type Report = Outcome;

    async fn handle(&self, m: Message) -> Handled<Outcome> {
        let ctx = &self.ctx;
        ctx.metrics.in_flight.inc();
        let _in_flight = InFlight(ctx);
        let now = now_ms();
        if let Some(sent) = m.sent_ms {
            tracing::debug!(age_ms = now - sent, "received");
        }
        let outcome = process(ctx, &m.body, now).await;
        ctx.metrics.notice(outcome.label());
        let disposition = match &outcome {
            Outcome::Done {
                files,
                rows,
                quarantined,
            } => {
                tracing::info!(files, rows, quarantined, "notice done");
                Disposition::Ack
            }
            Outcome::Nothing(why) => {
                tracing::info!(reason = why, "message carries no work; deleted");
                Disposition::Ack
            }
            Outcome::Rejected(e) => {
                ctx.metrics.failure("notice");
                tracing::error!(error = %e, "message rejected: not a notice this forwarder understands");
                give_up(ctx, &self.queue, &m, e.to_string()).await
            }
            Outcome::Failed(errors) => {
                let reason = errors
                    .iter()
                    .map(std::string::ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ");
                give_up(ctx, &self.queue, &m, reason).await
            }
        };
        Handled {
            disposition,
            report: outcome,
        }
    }
}

/// Leaves a failed message for redelivery and, once it has failed often
/// enough, writes a failure record (CrowdStrike's queue has no DLQ of ours).
async fn give_up(ctx: &Context, queue: &Queue, m: &Message, reason: String) -> Disposition {
    let s = &ctx.settings;
    if queue.redelivers() && m.receive_count >= s.report_after_receives {
        ctx.metrics.poison_notices.inc();
        let key = s.layout.failure_key(&m.id);
        let record = serde_json::json!({
            "message_id": m.id,
            "queue": queue.name(),
            "receive_count": m.receive_count,
            "last_error": &reason,
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
    Disposition::Release {
        reason,
        retry_after: s.retry_delay,
    }
}
