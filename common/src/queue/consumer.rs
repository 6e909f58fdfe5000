//! The one queue loop every daemon that consumes a queue runs: receive with
//! bounded concurrency, keep each message invisible while it is handled (the
//! visibility heartbeat), then act on what the handler says — delete only
//! when the handler's outputs are durable, release it for redelivery, or
//! leave it to reappear — back off on receive errors, and on shutdown stop
//! receiving and give the messages in flight a grace period (what does not
//! finish is left undeleted and is redelivered).
//!
//! What a message means is the handler's business; this loop never looks
//! inside one.

use super::{Message, Queue, QueueError};
use crate::telemetry::Health;
use std::future::Future;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// What becomes of a message once its handler is done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Every output is durable (or there was nothing to do): delete it.
    Ack,
    /// Not done: SQS makes it visible again after `retry_after` (then the DLQ
    /// where a redrive policy exists); a directory queue sets it aside in
    /// `failed/` with `reason`.
    Release {
        reason: String,
        retry_after: Duration,
    },
    /// Leave it as it is: it reappears after its visibility timeout.
    Leave,
}

/// A handler's answer: what to do with the message, and what it did (for the run's summary).
#[derive(Debug)]
pub struct Handled<R> {
    pub disposition: Disposition,
    pub report: R,
}

/// The work done for each message.
pub trait Handler: Send + Sync + 'static {
    type Report: Send + 'static;

    /// Handles one message. Runs under the visibility heartbeat; may be
    /// aborted when the grace period ends (the message then reappears).
    fn handle(&self, message: Message) -> impl Future<Output = Handled<Self::Report>> + Send;
}

/// How the loop receives and drains.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Messages handled at once.
    pub concurrency: NonZeroUsize,
    /// Long-poll wait of one receive.
    pub wait: Duration,
    /// How long a received message stays invisible; the heartbeat extends it every third of it.
    pub visibility: Duration,
    /// How long messages in flight may finish after shutdown.
    pub grace: Duration,
    /// Stop once the queue is seen empty and nothing is in flight.
    pub until_empty: bool,
}

/// What the loop tells its daemon as it goes (for summaries and metrics).
#[derive(Debug)]
pub enum Event<'a, R> {
    /// A message was handled and its disposition carried out (or attempted).
    Handled(R),
    /// A handler panicked: its message is left for redelivery.
    Panicked,
    /// A receive failed; the loop waits `retry_in` and receives again.
    ReceiveFailed {
        error: &'a QueueError,
        retry_in: Duration,
    },
}

/// Runs the loop until `shutdown` (or, with `until_empty`, an empty queue),
/// then drains. `health` beats once per turn and is ready while receiving.
pub async fn consume<H: Handler>(
    queue: &Queue,
    handler: Arc<H>,
    policy: &Policy,
    health: &Health,
    shutdown: &CancellationToken,
    mut observe: impl FnMut(Event<'_, H::Report>),
) {
    let slots = Arc::new(Semaphore::new(policy.concurrency.get()));
    let mut tasks: JoinSet<H::Report> = JoinSet::new();
    let mut backoff = crate::http::backoff::queue_receive();
    health.set_ready(true);
    loop {
        health.beat();
        while let Some(r) = tasks.try_join_next() {
            done(&mut observe, r);
        }
        let first = tokio::select! {
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = shutdown.cancelled() => break,
        };
        let room = 1 + slots.available_permits();
        let received = tokio::select! {
            r = queue.receive(room.min(10), policy.wait, policy.visibility) => r,
            _ = shutdown.cancelled() => break,
        };
        let messages = match received {
            Ok(m) => {
                backoff = crate::http::backoff::queue_receive();
                m
            }
            Err(e) => {
                let retry_in = backoff.next().unwrap_or(Duration::from_secs(30));
                tracing::error!(error = %e, ?retry_in, "receive failed");
                observe(Event::ReceiveFailed {
                    error: &e,
                    retry_in,
                });
                tokio::select! {
                    () = tokio::time::sleep(retry_in) => {},
                    () = shutdown.cancelled() => break,
                }
                continue;
            }
        };
        if messages.is_empty() {
            drop(first);
            if policy.until_empty {
                match tasks.join_next().await {
                    None => break,
                    // Wait for one task so the loop does not spin.
                    Some(r) => done(&mut observe, r),
                }
            }
            continue;
        }
        let mut permit = Some(first);
        for m in messages {
            let permit = match permit.take() {
                Some(p) => p,
                None => match slots.clone().acquire_owned().await {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            let span = tracing::info_span!("message", id = %m.id, receives = m.receive_count);
            let (queue, handler, visibility) = (queue.clone(), handler.clone(), policy.visibility);
            tasks.spawn(
                async move {
                    let _permit = permit;
                    one(&queue, handler.as_ref(), m, visibility).await
                }
                .instrument(span),
            );
        }
    }
    health.set_ready(false);
    if !tasks.is_empty() {
        tracing::info!(in_flight = tasks.len(), grace = ?policy.grace, "draining messages in flight");
    }
    let drained = tokio::time::timeout(policy.grace, async {
        while let Some(r) = tasks.join_next().await {
            done(&mut observe, r);
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            left = tasks.len(),
            "grace period over: unfinished messages stay on the queue for redelivery"
        );
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }
}

/// Tells the daemon how a message task ended.
fn done<R>(observe: &mut impl FnMut(Event<'_, R>), r: Result<R, tokio::task::JoinError>) {
    match r {
        Ok(report) => observe(Event::Handled(report)),
        Err(e) if e.is_cancelled() => {}
        Err(e) => {
            tracing::error!(error = %e, "message handler panicked; the message is left for redelivery");
            observe(Event::Panicked);
        }
    }
}

/// One message: the handler under the heartbeat, then its disposition.
async fn one<H: Handler>(
    queue: &Queue,
    handler: &H,
    m: Message,
    visibility: Duration,
) -> H::Report {
    let beat = CancellationToken::new();
    // If this task is aborted (grace period over), the heartbeat stops with it
    // and the message reappears after its visibility timeout.
    let _stop_on_drop = beat.clone().drop_guard();
    let heartbeat = {
        let (queue, m, beat) = (queue.clone(), m.clone(), beat.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(visibility / 3);
            tick.tick().await;
            loop {
                tokio::select! {
                    () = beat.cancelled() => return,
                    _ = tick.tick() => {
                        if let Err(e) = queue.extend(&m, visibility).await {
                            tracing::warn!(error = %e, "visibility heartbeat failed");
                        }
                    }
                }
            }
        })
    };
    let handled = handler.handle(m.clone()).await;
    beat.cancel();
    let _ = heartbeat.await;
    match handled.disposition {
        Disposition::Ack => {
            if let Err(e) = queue.delete(&m).await {
                // The outputs are durable and idempotent: a redelivery only rewrites them.
                tracing::warn!(error = %e, "message done but its delete failed; it will be redelivered");
            }
        }
        Disposition::Release {
            reason,
            retry_after,
        } => {
            if let Err(e) = queue.release(&m, &reason, retry_after).await {
                tracing::warn!(error = %e, "release failed; the message reappears after its visibility timeout");
            }
        }
        Disposition::Leave => {}
    }
    handled.report
}
