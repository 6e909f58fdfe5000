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
    /// `until_empty` stopped with this many messages still claimed by another
    /// consumer (or by one that crashed) after waiting a visibility timeout
    /// for them to come back.
    LeftClaimed(u64),
}

/// How much longer than a visibility timeout claimed messages are waited for.
const CLAIM_MARGIN: Duration = Duration::from_secs(5);

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
    // Each task's report, and whether it released its message (SQS keeps a
    // released message invisible until its retry time: not "claimed elsewhere").
    let mut tasks: JoinSet<(H::Report, bool)> = JoinSet::new();
    let mut released: u64 = 0;
    let mut backoff = crate::http::backoff::queue_receive();
    // With `until_empty`: since when the queue has been empty but not drained.
    let mut claimed_since: Option<tokio::time::Instant> = None;
    health.set_ready(true);
    loop {
        health.beat();
        while let Some(r) = tasks.try_join_next() {
            done(&mut observe, &mut released, r);
        }
        let first = tokio::select! {
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = shutdown.cancelled() => break,
        };
        let room = 1 + slots.available_permits();
        // A directory's listing is exact: one look says whether it is empty,
        // so `until_empty` never waits on it (an empty look then waits for a
        // task instead, below). SQS keeps its long poll: a short one may miss
        // messages.
        let wait = if policy.until_empty && matches!(queue, Queue::Dir(_)) {
            Duration::ZERO
        } else {
            policy.wait
        };
        let received = tokio::select! {
            r = queue.receive(room.min(10), wait, policy.visibility) => r,
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
                    // Wait for one task so the loop does not spin.
                    Some(r) => done(&mut observe, &mut released, r),
                    None => match queue.claimed().await.map(|n| n.saturating_sub(released)) {
                        Ok(0) => break,
                        Ok(claimed) => {
                            // Empty, but not drained: messages claimed elsewhere
                            // (or abandoned by a crash) come back after their
                            // visibility timeout. Wait that long, then say so.
                            let since =
                                *claimed_since.get_or_insert_with(tokio::time::Instant::now);
                            if since.elapsed() > policy.visibility + policy.wait + CLAIM_MARGIN {
                                tracing::error!(
                                    claimed,
                                    "the queue is empty but messages are still claimed elsewhere"
                                );
                                observe(Event::LeftClaimed(claimed));
                                break;
                            }
                            tracing::info!(
                                claimed,
                                "the queue looks empty but messages are still claimed (in flight elsewhere, or abandoned by a crash); waiting for them"
                            );
                            tokio::select! {
                                () = tokio::time::sleep(policy.wait.min(Duration::from_secs(1))) => {},
                                () = shutdown.cancelled() => break,
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot tell whether messages are still claimed; stopping");
                            break;
                        }
                    },
                }
            }
            continue;
        }
        claimed_since = None;
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
            done(&mut observe, &mut released, r);
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
fn done<R>(
    observe: &mut impl FnMut(Event<'_, R>),
    released: &mut u64,
    r: Result<(R, bool), tokio::task::JoinError>,
) {
    match r {
        Ok((report, was_released)) => {
            *released += u64::from(was_released);
            observe(Event::Handled(report));
        }
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
) -> (H::Report, bool) {
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
    let released = matches!(handled.disposition, Disposition::Release { .. });
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
    (handled.report, released)
}
