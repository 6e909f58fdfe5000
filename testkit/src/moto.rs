//! Moto's S3 and SQS server (started by `scripts/test.sh`, found through
//! `AWS_ENDPOINT_URL`): clients, uuid-named buckets and queues so tests run in
//! parallel, uploads, queue depth, and the S3 → SQS notification wiring.

use bytes::Bytes;
use falconry_common::aws;
use falconry_fixtures::FdrBatch;

pub struct Aws {
    pub s3: aws_sdk_s3::Client,
    pub sqs: aws_sdk_sqs::Client,
}

/// Clients for moto's server; fails loudly when the suite was not started by the test script.
pub async fn aws() -> Aws {
    assert!(
        std::env::var("FALCONRY_TEST_MOTO").is_ok() && std::env::var("AWS_ENDPOINT_URL").is_ok(),
        "these tests need moto's S3/SQS server: run them with scripts/test.sh"
    );
    let conf = aws::sdk_config(&Default::default()).await;
    Aws {
        s3: aws::s3_client(&conf),
        sqs: aws::sqs_client(&conf),
    }
}

/// `prefix-<uuid>`: a name no other test uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

impl Aws {
    pub async fn bucket(&self, prefix: &str) -> String {
        let name = unique(prefix);
        self.s3
            .create_bucket()
            .bucket(&name)
            .send()
            .await
            .expect("create bucket");
        name
    }

    pub async fn queue(&self) -> String {
        let out = self
            .sqs
            .create_queue()
            .queue_name(unique("q"))
            .send()
            .await
            .expect("create queue");
        out.queue_url().expect("queue url").to_owned()
    }

    pub async fn put(&self, bucket: &str, key: &str, body: Vec<u8>) {
        self.s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(body.into())
            .send()
            .await
            .unwrap_or_else(|e| panic!("put {key}: {e:?}"));
    }

    /// Every file of an FDR batch, under its own key.
    pub async fn upload(&self, bucket: &str, batch: &FdrBatch) {
        for f in &batch.files {
            self.put(bucket, &f.key, f.bytes.clone()).await;
        }
    }

    pub async fn send(&self, queue: &str, body: &str) {
        self.sqs
            .send_message()
            .queue_url(queue)
            .message_body(body)
            .send()
            .await
            .expect("send");
    }

    pub async fn get(&self, bucket: &str, key: &str) -> Option<Bytes> {
        match self.s3.get_object().bucket(bucket).key(key).send().await {
            Ok(o) => Some(o.body.collect().await.expect("body").into_bytes()),
            Err(_) => None,
        }
    }

    /// Every key under `prefix`, sorted.
    pub async fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut pages = self
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            for o in page.expect("list").contents() {
                out.push(o.key().unwrap_or_default().to_owned());
            }
        }
        out.sort();
        out
    }

    pub async fn queue_arn(&self, queue: &str) -> String {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(queue)
            .attribute_names(A::QueueArn)
            .send()
            .await
            .expect("attributes");
        out.attributes()
            .and_then(|a| a.get(&A::QueueArn).cloned())
            .expect("queue arn")
    }

    /// (visible, in flight) messages.
    pub async fn depth(&self, queue: &str) -> (u64, u64) {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(queue)
            .attribute_names(A::ApproximateNumberOfMessages)
            .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .expect("attributes");
        let attrs = out.attributes().cloned().unwrap_or_default();
        let get = |a: A| attrs.get(&a).and_then(|v| v.parse().ok()).unwrap_or(0);
        (
            get(A::ApproximateNumberOfMessages),
            get(A::ApproximateNumberOfMessagesNotVisible),
        )
    }

    /// S3 event notifications of `bucket` (object created) go to `queue`.
    pub async fn notify(&self, bucket: &str, queue: &str) {
        use aws_sdk_s3::types::{Event, NotificationConfiguration, QueueConfiguration};
        let arn = self.queue_arn(queue).await;
        self.s3
            .put_bucket_notification_configuration()
            .bucket(bucket)
            .notification_configuration(
                NotificationConfiguration::builder()
                    .queue_configurations(
                        QueueConfiguration::builder()
                            .queue_arn(arn)
                            .events(Event::S3ObjectCreated)
                            .build()
                            .expect("queue configuration"),
                    )
                    .build(),
            )
            .send()
            .await
            .expect("bucket notification");
    }
}
