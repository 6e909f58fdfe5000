//! The SQS side of the queue: long-poll receive with the receive count and
//! sent time, visibility changes (heartbeat and retry delay), delete. Single
//! calls are retried by the SDK; nothing here loops.

use super::{Message, QueueError, Receipt};
use aws_sdk_sqs::types::MessageSystemAttributeName;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl SqsQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        SqsQueue {
            client,
            url: url.into(),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    fn err(&self, op: &'static str, e: impl std::error::Error + 'static) -> QueueError {
        QueueError {
            queue: self.url.clone(),
            op,
            message: crate::aws::error_text(&e),
        }
    }

    /// `ApproximateNumberOfMessagesNotVisible`: messages received and not yet deleted.
    pub async fn not_visible(&self) -> Result<u64, QueueError> {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(|e| self.err("count in-flight messages", e))?;
        Ok(out
            .attributes()
            .and_then(|a| a.get(&A::ApproximateNumberOfMessagesNotVisible))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    pub async fn receive(
        &self,
        max: usize,
        wait: Duration,
        visibility: Duration,
    ) -> Result<Vec<Message>, QueueError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .wait_time_seconds(wait.as_secs().min(20) as i32)
            .visibility_timeout(visibility.as_secs().min(43_200) as i32)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .send()
            .await
            .map_err(|e| self.err("receive", e))?;
        Ok(out
            .messages()
            .iter()
            .filter_map(|m| {
                let receipt = m.receipt_handle()?.to_owned();
                let attrs = m.attributes();
                let get = |name: MessageSystemAttributeName| {
                    attrs
                        .and_then(|a| a.get(&name))
                        .and_then(|v| v.parse().ok())
                };
                Some(Message {
                    id: m.message_id().unwrap_or_default().to_owned(),
                    body: m.body().unwrap_or_default().to_owned(),
                    receive_count: get(MessageSystemAttributeName::ApproximateReceiveCount)
                        .unwrap_or(1) as u32,
                    sent_ms: get(MessageSystemAttributeName::SentTimestamp),
                    receipt: Receipt::Sqs(receipt),
                })
            })
            .collect())
    }

    pub async fn change_visibility(
        &self,
        receipt: &str,
        visibility: Duration,
    ) -> Result<(), QueueError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .visibility_timeout(visibility.as_secs().min(43_200) as i32)
            .send()
            .await
            .map_err(|e| self.err("change visibility", e))?;
        Ok(())
    }

    pub async fn delete(&self, receipt: &str) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(|e| self.err("delete", e))?;
        Ok(())
    }
}
