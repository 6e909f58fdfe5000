//! The forwarder end to end against moto's real S3 and SQS server: fixture
//! batches in a "CrowdStrike" bucket, notices on a queue, outputs in our bucket.

use crate::support::*;
use falconry_common::telemetry::Telemetry;
use falconry_fixtures::{BatchOptions, FdrBatch, fdr_batch, lookup_batch, notice_json};
use falconry_forwarder::layout::{Route, route};
use falconry_forwarder::{ForwarderError, Summary};
use tokio_util::sync::CancellationToken;

fn small(seed: u64) -> BatchOptions {
    BatchOptions {
        seed,
        data_files: 2,
        events_per_file: 300,
        ..BatchOptions::default()
    }
}

async fn forward(settings: falconry_forwarder::Settings) -> Result<Summary, ForwarderError> {
    falconry_forwarder::run(settings, Telemetry::off(), CancellationToken::new()).await
}

/// Checks every output of `batch` in `dest`: byte-identical raw copies,
/// Parquet rows = valid lines, lossless round trip, quarantine where expected.
async fn assert_batch_landed(aws: &Aws, dest: &str, batch: &FdrBatch) {
    for f in &batch.files {
        let table = match route(&f.key, Some(f.bytes.len() as u64)) {
            Route::Table(t) => t,
            Route::Skip(_) => {
                assert!(
                    aws.get(dest, &format!("raw/{}", f.key)).await.is_none(),
                    "{} should be skipped",
                    f.key
                );
                continue;
            }
        };
        let raw = aws
            .get(dest, &format!("raw/{}", f.key))
            .await
            .unwrap_or_else(|| panic!("no raw copy of {}", f.key));
        assert!(
            raw.as_ref() == f.bytes.as_slice(),
            "raw copy of {} differs",
            f.key
        );
        let m = crate::support::manifest(aws, dest, &f.key)
            .await
            .unwrap_or_else(|| panic!("no manifest for {}", f.key));
        let valid = f.lines - f.invalid_lines.len() as u64;
        assert_eq!(m.rows, valid, "{}: rows", f.key);
        assert_eq!(m.parquet.iter().map(|p| p.rows).sum::<u64>(), valid);
        let keys: Vec<String> = m.parquet.iter().map(|p| p.key.clone()).collect();
        for k in &keys {
            assert!(k.starts_with(&format!("parquet/{table}/dt=")), "{k}");
        }
        let from_parquet = parquet_members(aws, dest, table, &keys).await;
        let from_source = source_members(&f.bytes);
        assert_eq!(from_parquet.len(), from_source.len());
        assert!(
            from_parquet == from_source,
            "{}: the Parquet rows do not give back the lines",
            f.key
        );
        match &m.quarantine {
            None => assert!(
                f.invalid_lines.is_empty(),
                "{}: invalid lines not quarantined",
                f.key
            ),
            Some(q) => {
                assert_eq!(q.key, format!("quarantine/{}.quarantine.ndjson.gz", f.key));
                let body = aws.get(dest, &q.key).await.expect("quarantine object");
                let mut text = String::new();
                std::io::Read::read_to_string(
                    &mut flate2::read::MultiGzDecoder::new(&body[..]),
                    &mut text,
                )
                .expect("quarantine is gzip");
                let mut lines: Vec<u64> = text
                    .lines()
                    .map(|l| {
                        let v: serde_json::Value =
                            serde_json::from_str(l).expect("quarantine JSON");
                        assert_eq!(v["source_key"], f.key.as_str());
                        v["line"].as_u64().expect("line number")
                    })
                    .collect();
                // In the order found (over-long lines while reading, unparsable ones per run).
                lines.sort_unstable();
                assert_eq!(
                    lines, f.invalid_lines,
                    "{}: quarantined line numbers",
                    f.key
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fdr_batches_land_verified_lossless_and_partitioned() {
    let aws = aws().await;
    let (source, dest, queue) = (
        aws.bucket("cs-prod-cannon").await,
        aws.bucket("ours").await,
        aws.queue().await,
    );
    let data = fdr_batch(&small(11));
    let lookup = lookup_batch(&small(11));
    for b in [&data, &lookup] {
        aws.upload(&source, b).await;
        aws.send(&queue, &notice_json(b, &source)).await;
    }
    assert!(
        data.files.iter().any(|f| !f.invalid_lines.is_empty()),
        "fixtures should hold an invalid line"
    );
    let summary = forward(settings(&queue, &dest, |_| {}))
        .await
        .expect("forwarder");
    assert_eq!((summary.done, summary.failed, summary.rejected), (2, 0, 0));
    assert_eq!(
        aws.depth(&queue).await,
        (0, 0),
        "notices are deleted once done"
    );
    assert_batch_landed(&aws, &dest, &data).await;
    assert_batch_landed(&aws, &dest, &lookup).await;
    // Every lookup kind got its own table.
    let tables = aws.keys(&dest, "parquet/").await;
    for kind in falconry_fixtures::LOOKUP_KINDS {
        assert!(
            tables
                .iter()
                .any(|k| k.starts_with(&format!("parquet/{kind}/dt="))),
            "{kind} table missing"
        );
    }
    // The fixtures span ~90 minutes: events land in more than one hour partition.
    let hours: std::collections::BTreeSet<&str> = tables
        .iter()
        .filter(|k| k.starts_with("parquet/events/"))
        .filter_map(|k| k.split('/').nth(3))
        .collect();
    assert!(
        hours.len() >= 2,
        "expected several hour partitions, got {hours:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_notice_creates_no_new_objects_or_rows() {
    let aws = aws().await;
    let (source, dest, queue) = (
        aws.bucket("cs").await,
        aws.bucket("ours").await,
        aws.queue().await,
    );
    let data = fdr_batch(&small(12));
    aws.upload(&source, &data).await;
    let notice = notice_json(&data, &source);
    aws.send(&queue, &notice).await;
    forward(settings(&queue, &dest, |_| {}))
        .await
        .expect("first run");
    let before = aws.keys(&dest, "").await;
    aws.send(&queue, &notice).await;
    let s = forward(settings(&queue, &dest, |_| {}))
        .await
        .expect("second run");
    assert_eq!(s.done, 1);
    assert_eq!(
        aws.keys(&dest, "").await,
        before,
        "the redelivery must overwrite, not add"
    );
    assert_batch_landed(&aws, &dest, &data).await;
}

/// Every output key derives from the source key alone: the same key in a
/// second bucket would overwrite the first bucket's raw copy and rows. It is
/// refused (the notice fails, the first bucket's outputs stay whole), and a
/// notice naming a bucket off `source_buckets` is rejected unread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_from_a_second_bucket_is_refused_and_unlisted_buckets_rejected() {
    let aws = aws().await;
    let (a, b, unlisted, dest, queue) = (
        aws.bucket("tenant-a").await,
        aws.bucket("tenant-b").await,
        aws.bucket("unlisted").await,
        aws.bucket("ours").await,
        aws.queue().await,
    );
    let first = fdr_batch(&small(21));
    let other = fdr_batch(&small(22));
    let mut second = first.clone();
    for (f, o) in second.files.iter_mut().zip(&other.files) {
        f.bytes = o.bytes.clone();
    }
    aws.upload(&a, &first).await;
    aws.upload(&b, &second).await;
    aws.upload(&unlisted, &other).await;
    let allow = |c: &mut falconry_forwarder::ForwarderConfig| {
        c.source_buckets = vec![a.clone(), b.clone()];
    };
    aws.send(&queue, &notice_json(&first, &a)).await;
    let s = forward(settings(&queue, &dest, allow))
        .await
        .expect("first bucket");
    assert_eq!(s.done, 1);

    aws.send(&queue, &notice_json(&second, &b)).await;
    let err = forward(settings(&queue, &dest, allow)).await.unwrap_err();
    assert!(
        matches!(err, ForwarderError::NoticesFailed { failed: 1 }),
        "{err}"
    );
    assert_batch_landed(&aws, &dest, &first).await;
    let m = crate::support::manifest(&aws, &dest, &first.files[0].key)
        .await
        .expect("manifest");
    assert_eq!(m.source_bucket.as_deref(), Some(a.as_str()));

    let queue2 = aws.queue().await;
    aws.send(&queue2, &notice_json(&other, &unlisted)).await;
    // Rejected: like every notice given up on, it is left to the queue's DLQ
    // (or a failure record after `report_after_receives`), and the run says so.
    let err = forward(settings(&queue2, &dest, allow)).await.unwrap_err();
    assert!(
        matches!(err, ForwarderError::NoticesFailed { failed: 1 }),
        "{err}"
    );
    assert_eq!(aws.depth(&queue2).await, (0, 1));
    assert!(
        aws.keys(&dest, &format!("raw/{}", other.files[0].key))
            .await
            .is_empty()
    );
}

/// `source = "s3://bucket/prefix"`: a notice's keys are read under the
/// prefix (not silently from the bucket's root).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_source_prefix_is_honoured() {
    let aws = aws().await;
    let (source, dest, queue) = (
        aws.bucket("mirror").await,
        aws.bucket("ours").await,
        aws.queue().await,
    );
    let data = fdr_batch(&small(23));
    for f in &data.files {
        aws.put(&source, &format!("fdr-copy/{}", f.key), f.bytes.clone())
            .await;
    }
    aws.send(&queue, &notice_json(&data, "cs-elsewhere")).await;
    let s = forward(settings(&queue, &dest, |c| {
        c.source = Some(format!("s3://{source}/fdr-copy"));
    }))
    .await
    .expect("read under the prefix");
    assert_eq!(s.done, 1);
    assert_batch_landed(&aws, &dest, &data).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checksum_mismatch_leaves_the_notice_and_stores_nothing() {
    let aws = aws().await;
    let (source, dest, queue) = (
        aws.bucket("cs").await,
        aws.bucket("ours").await,
        aws.queue().await,
    );
    let data = fdr_batch(&small(13));
    aws.upload(&source, &data).await;
    let mut notice: serde_json::Value = serde_json::from_str(&notice_json(&data, &source)).unwrap();
    notice["files"][0]["checksum"] = "00000000000000000000000000000000".into();
    let first_key = notice["files"][0]["path"].as_str().unwrap().to_owned();
    aws.send(&queue, &notice.to_string()).await;
    let err = forward(settings(&queue, &dest, |_| {})).await.unwrap_err();
    assert!(
        matches!(err, ForwarderError::NoticesFailed { failed: 1 }),
        "{err}"
    );
    assert_eq!(
        aws.depth(&queue).await,
        (0, 1),
        "the notice waits for redelivery"
    );
    assert!(
        aws.get(&dest, &format!("raw/{first_key}")).await.is_none(),
        "an unverified copy must not land"
    );

    // With checksum_mismatch = "warn" the same notice goes through.
    let dest2 = aws.bucket("ours").await;
    let queue2 = aws.queue().await;
    aws.send(&queue2, &notice.to_string()).await;
    let s = forward(settings(&queue2, &dest2, |c| {
        c.checksum_mismatch = falconry_forwarder::config::ChecksumMode::Warn;
    }))
    .await
    .expect("warn mode");
    assert_eq!(s.done, 1);
    assert_batch_landed(&aws, &dest2, &data).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_gzip_keeps_the_raw_copy_and_the_notice() {
    let aws = aws().await;
    let (source, dest, queue) = (
        aws.bucket("cs").await,
        aws.bucket("ours").await,
        aws.queue().await,
    );
    let mut data = fdr_batch(&small(14));
    let f = data
        .files
        .iter_mut()
        .find(|f| f.key.ends_with("part-00000.gz"))
        .expect("part-00000");
    let cut = f.bytes.len() * 2 / 3;
    f.bytes.truncate(cut);
    let key = f.key.clone();
    aws.upload(&source, &data).await;
    aws.send(&queue, &notice_json(&data, &source)).await;
    let err = forward(settings(&queue, &dest, |_| {})).await.unwrap_err();
    assert!(matches!(err, ForwarderError::NoticesFailed { .. }), "{err}");
    assert_eq!(
        aws.depth(&queue).await,
        (0, 1),
        "the notice waits for redelivery"
    );
    let raw = aws
        .get(&dest, &format!("raw/{key}"))
        .await
        .expect("the raw bytes are kept even when they do not decompress");
    assert_eq!(raw.len(), cut);
    assert!(
        crate::support::manifest(&aws, &dest, &key).await.is_none(),
        "no Parquet for a file that did not decompress"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_errors_leave_the_notice_and_repeated_failures_are_recorded() {
    let aws = aws().await;
    let (source, dest, queue) = (
        aws.bucket("cs").await,
        aws.bucket("ours").await,
        aws.queue().await,
    );
    let data = fdr_batch(&small(15));
    // Upload all but one file: the notice names an object that is not there.
    let mut partial = data.clone();
    let missing = partial.files.remove(0).key;
    aws.upload(&source, &partial).await;
    aws.send(&queue, &notice_json(&data, &source)).await;
    let err = forward(settings(&queue, &dest, |c| c.report_after_receives = 1))
        .await
        .unwrap_err();
    assert!(matches!(err, ForwarderError::NoticesFailed { .. }), "{err}");
    assert_eq!(aws.depth(&queue).await, (0, 1));
    let records = aws.keys(&dest, "state/failures/").await;
    assert_eq!(records.len(), 1, "one failure record: {records:?}");
    let record: serde_json::Value =
        serde_json::from_slice(&aws.get(&dest, &records[0]).await.unwrap()).unwrap();
    assert!(
        record["last_error"].as_str().unwrap().contains(&missing),
        "{record}"
    );
    assert_eq!(record["receive_count"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_test_events_never_crash_the_forwarder() {
    let aws = aws().await;
    let (dest, queue) = (aws.bucket("ours").await, aws.queue().await);
    aws.send(&queue, "this is not json").await;
    aws.send(&queue, r#"{"hello":"world"}"#).await;
    aws.send(
        &queue,
        r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"b"}"#,
    )
    .await;
    let err = forward(settings(&queue, &dest, |_| {})).await.unwrap_err();
    assert!(
        matches!(err, ForwarderError::NoticesFailed { failed: 2 }),
        "{err}"
    );
    // The test event is deleted; the two unknown bodies stay for the DLQ / an operator.
    assert_eq!(aws.depth(&queue).await, (0, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_event_notifications_from_our_own_bucket_are_forwarded() {
    use aws_sdk_s3::types::{Event, NotificationConfiguration, QueueConfiguration};
    let aws = aws().await;
    let (source, dest, queue) = (
        aws.bucket("own-fdr").await,
        aws.bucket("ours").await,
        aws.queue().await,
    );
    let arn = aws.queue_arn(&queue).await;
    aws.s3
        .put_bucket_notification_configuration()
        .bucket(&source)
        .notification_configuration(
            NotificationConfiguration::builder()
                .queue_configurations(
                    QueueConfiguration::builder()
                        .queue_arn(arn)
                        .events(Event::S3ObjectCreated)
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .expect("bucket notification");
    let data = fdr_batch(&small(16));
    aws.upload(&source, &data).await;
    let s = forward(settings(&queue, &dest, |_| {}))
        .await
        .expect("forwarder");
    // One S3 event per object (moto may also send an s3:TestEvent, which is ignored).
    assert_eq!(s.done as usize, data.files.len(), "{s:?}");
    assert_eq!(s.failed, 0);
    assert_eq!(aws.depth(&queue).await, (0, 0));
    assert_batch_landed(&aws, &dest, &data).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_files_are_copied_as_verified_multipart_uploads() {
    let aws = aws().await;
    let (source, dest, queue) = (
        aws.bucket("cs").await,
        aws.bucket("ours").await,
        aws.queue().await,
    );
    // ~12 MiB of incompressible hex in a few long lines: > 2 parts of 5 MiB once gzipped.
    let mut rng = fastrand_like(99);
    let mut text = Vec::new();
    for i in 0..6 {
        let blob: String = (0..2 * 1024 * 1024)
            .map(|_| char::from(b"0123456789abcdef"[(rng() % 16) as usize]))
            .collect();
        text.extend_from_slice(format!("{{\"event_simpleName\":\"Blob\",\"timestamp\":\"1773480000{i:03}\",\"Data\":\"{blob}\"}}\n").as_bytes());
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &text).unwrap();
    let bytes = gz.finish().unwrap();
    assert!(bytes.len() > 10 * 1024 * 1024, "{} bytes", bytes.len());
    let key = "data/00000000-0000-4000-8000-00000000b10b/part-00000.gz";
    aws.put(&source, key, bytes.clone()).await;
    let notice = serde_json::json!({
        "cid": "0123456789abcdef0123456789abcdef", "timestamp": 1773480000000i64, "fileCount": 1,
        "totalSize": bytes.len(), "bucket": source, "pathPrefix": "data/00000000-0000-4000-8000-00000000b10b",
        "files": [{"path": key, "size": bytes.len(), "checksum": hex_md5(&bytes)}]
    });
    aws.send(&queue, &notice.to_string()).await;
    forward(settings(&queue, &dest, |_| {}))
        .await
        .expect("forwarder");
    let head = aws
        .s3
        .head_object()
        .bucket(&dest)
        .key(format!("raw/{key}"))
        .send()
        .await
        .expect("raw copy");
    assert!(
        head.e_tag().unwrap_or_default().contains("-3"),
        "expected a 3-part upload, etag {:?}",
        head.e_tag()
    );
    assert!(aws.get(&dest, &format!("raw/{key}")).await.unwrap() == bytes.as_slice());
    let m = crate::support::manifest(&aws, &dest, key)
        .await
        .expect("manifest");
    assert_eq!(m.rows, 6);
}

fn hex_md5(b: &[u8]) -> String {
    use md5::{Digest, Md5};
    hex::encode(Md5::digest(b))
}

fn fastrand_like(seed: u64) -> impl FnMut() -> u64 {
    let mut x = seed;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_queue_we_own_poison_notices_reach_the_dlq() {
    let aws = aws().await;
    let dest = aws.bucket("ours").await;
    let dlq = aws.queue().await;
    let dlq_arn = aws.queue_arn(&dlq).await;
    let queue = aws.queue().await;
    aws.sqs
        .set_queue_attributes()
        .queue_url(&queue)
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy,
            serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"}).to_string(),
        )
        .send()
        .await
        .expect("redrive policy");
    aws.send(&queue, r#"{"neither":"an FDR notice","nor":"an S3 event"}"#)
        .await;
    // Each run receives it once, fails it, and makes it visible again at once.
    for _ in 0..3 {
        let _ = forward(settings(&queue, &dest, |c| {
            c.retry_delay = std::time::Duration::ZERO;
        }))
        .await;
    }
    assert_eq!(
        aws.depth(&queue).await,
        (0, 0),
        "the poison notice left the queue"
    );
    assert_eq!(aws.depth(&dlq).await.0, 1, "and waits in the DLQ");
}
