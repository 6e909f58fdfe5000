//! Where work arrives: an SQS queue (CrowdStrike's FDR queue, or one of the
//! user's own fed by S3 event notifications), or a local directory on the
//! embedded default (`dir://path`), with the same receive / extend / delete /
//! release contract. `s3_event.rs` opens the standard S3 notification
//! envelopes (direct, SNS, EventBridge) both the forwarder and the enricher
//! receive.

pub mod consumer;
mod dir;
pub mod s3_event;
mod sqs;

pub use dir::DirQueue;
pub use sqs::SqsQueue;

use std::time::Duration;

/// One received message.
#[derive(Debug, Clone)]
pub struct Message {
    pub id: String,
    pub body: String,
    /// How many times the queue has handed this message out (1 on first delivery).
    pub receive_count: u32,
    /// When the message was sent (epoch ms), if the queue says.
    pub sent_ms: Option<i64>,
    receipt: Receipt,
}

#[derive(Debug, Clone)]
enum Receipt {
    Sqs(String),
    Dir(std::path::PathBuf),
}

#[derive(Debug, thiserror::Error)]
#[error("queue {queue}: {op} failed: {message}")]
pub struct QueueError {
    pub queue: String,
    pub op: &'static str,
    pub message: String,
}

/// An SQS queue or a directory of notice files.
#[derive(Debug, Clone)]
pub enum Queue {
    Sqs(SqsQueue),
    Dir(DirQueue),
}

impl Queue {
    pub fn name(&self) -> String {
        match self {
            Queue::Sqs(q) => q.url().to_owned(),
            Queue::Dir(q) => q.name(),
        }
    }

    /// Up to `max` messages, waiting up to `wait` for the first; each stays
    /// invisible to other consumers for `visibility`.
    pub async fn receive(
        &self,
        max: usize,
        wait: Duration,
        visibility: Duration,
    ) -> Result<Vec<Message>, QueueError> {
        match self {
            Queue::Sqs(q) => q.receive(max, wait, visibility).await,
            Queue::Dir(q) => q.receive(max, wait, visibility).await,
        }
    }

    /// Keeps `m` invisible for another `visibility` (the heartbeat).
    pub async fn extend(&self, m: &Message, visibility: Duration) -> Result<(), QueueError> {
        match (self, &m.receipt) {
            (Queue::Sqs(q), Receipt::Sqs(r)) => q.change_visibility(r, visibility).await,
            (Queue::Dir(q), Receipt::Dir(p)) => q.touch(p).await,
            _ => Err(self.mismatch("extend")),
        }
    }

    /// Removes `m` for good: its outputs are durable.
    pub async fn delete(&self, m: &Message) -> Result<(), QueueError> {
        match (self, &m.receipt) {
            (Queue::Sqs(q), Receipt::Sqs(r)) => q.delete(r).await,
            (Queue::Dir(q), Receipt::Dir(p)) => q.finish(p, "done", None).await,
            _ => Err(self.mismatch("delete")),
        }
    }

    /// Gives `m` up after a failure: SQS makes it visible again after
    /// `retry_after` (redelivery, and the DLQ where a redrive policy exists);
    /// the directory queue moves it to `failed/` with `reason` beside it.
    pub async fn release(
        &self,
        m: &Message,
        reason: &str,
        retry_after: Duration,
    ) -> Result<(), QueueError> {
        match (self, &m.receipt) {
            (Queue::Sqs(q), Receipt::Sqs(r)) => q.change_visibility(r, retry_after).await,
            (Queue::Dir(q), Receipt::Dir(p)) => q.finish(p, "failed", Some(reason)).await,
            _ => Err(self.mismatch("release")),
        }
    }

    /// Messages received but neither deleted nor released yet: in flight with
    /// another consumer, or abandoned by one that crashed (they come back
    /// after their visibility timeout). SQS's count is approximate.
    pub async fn claimed(&self) -> Result<u64, QueueError> {
        match self {
            Queue::Sqs(q) => q.not_visible().await,
            Queue::Dir(q) => q.claimed().await,
        }
    }

    /// Whether released messages come back (SQS) or are set aside (directory).
    pub fn redelivers(&self) -> bool {
        matches!(self, Queue::Sqs(_))
    }

    fn mismatch(&self, op: &'static str) -> QueueError {
        QueueError {
            queue: self.name(),
            op,
            message: "message came from another kind of queue".into(),
        }
    }
}
