//! Shared set-up of the forwarder's integration tests: AWS clients pointed at
//! moto's server (started by `scripts/test.sh`), uuid-named buckets and queues,
//! fixture uploads, and reading the outputs back.

#![allow(dead_code)]

use arrow_array::RecordBatch;
use bytes::Bytes;
use falconry_common::aws;
use falconry_fixtures::FdrBatch;
use falconry_forwarder::convert::roundtrip::{Members, line_members, row_members};
use falconry_forwarder::schema;
use falconry_forwarder::{ForwarderConfig, Manifest, Settings};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::io::Read;
use std::time::Duration;

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

    pub async fn manifest(&self, bucket: &str, source_key: &str) -> Option<Manifest> {
        let key = format!("state/manifests/{source_key}.json");
        self.get(bucket, &key)
            .await
            .map(|b| serde_json::from_slice(&b).expect("manifest JSON"))
    }
}

/// The embedded default under `root`: `queue/` (dir:// queue), `source/` and
/// `lake/` (file:// stores), draining quickly and exiting when empty.
pub fn local_config(root: &std::path::Path) -> ForwarderConfig {
    ForwarderConfig {
        queue: Some(format!("dir://{}", root.join("queue").display())),
        source: Some(format!("file://{}", root.join("source").display())),
        dest: Some(format!("file://{}", root.join("lake").display())),
        until_empty: true,
        wait_time: Duration::from_millis(300),
        ..ForwarderConfig::default()
    }
}

/// Settings for a forwarder reading `queue` and writing `s3://dest`, quick to drain.
pub fn settings(queue: &str, dest: &str, tweak: impl FnOnce(&mut ForwarderConfig)) -> Settings {
    let mut c = ForwarderConfig {
        queue: Some(queue.to_owned()),
        dest: Some(format!("s3://{dest}")),
        until_empty: true,
        wait_time: Duration::from_secs(1),
        retry_delay: Duration::from_secs(60),
        part_size: 5 * 1024 * 1024,
        ..ForwarderConfig::default()
    };
    tweak(&mut c);
    c.validate().expect("valid settings")
}

/// Decompresses (multi-member) gzip.
pub fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("gunzip");
    out
}

/// The members of every valid line of a source file, sorted (a multiset).
pub fn source_members(gz: &[u8]) -> Vec<Members> {
    let text = gunzip(gz);
    let mut out: Vec<Members> = text
        .split(|b| *b == b'\n')
        .filter(|l| !l.iter().all(|b| b.is_ascii_whitespace()))
        .filter_map(|l| line_members(l).ok())
        .collect();
    out.sort();
    out
}

pub fn parquet_batches(bytes: Bytes) -> Vec<RecordBatch> {
    ParquetRecordBatchReaderBuilder::try_new(bytes)
        .expect("parquet footer")
        .build()
        .expect("reader")
        .map(|b| b.expect("batch"))
        .collect()
}

/// The members of every row of the given Parquet objects, sorted.
pub async fn parquet_members(
    aws: &Aws,
    bucket: &str,
    table: &str,
    keys: &[String],
) -> Vec<Members> {
    let schema = schema::table(table);
    let mut out = Vec::new();
    for k in keys {
        let bytes = aws
            .get(bucket, k)
            .await
            .unwrap_or_else(|| panic!("missing {k}"));
        for batch in parquet_batches(bytes) {
            for i in 0..batch.num_rows() {
                out.push(row_members(schema, &batch, i).expect("row"));
            }
        }
    }
    out.sort();
    out
}
