//! Shutdown mid-batch and several forwarders on one queue, against moto's
//! S3 and SQS: nothing is lost, nothing is processed twice.

use crate::support::*;
use falconry_common::telemetry::Telemetry;
use falconry_fixtures::{BatchOptions, FdrBatch, fdr_batch, notice_json};
use falconry_testkit::admin::http_get;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

async fn batches(aws: &Aws, source: &str, queue: &str, n: u64, events: usize) -> Vec<FdrBatch> {
    let mut out = Vec::new();
    for seed in 0..n {
        let b = fdr_batch(&BatchOptions {
            seed: 100 + seed,
            data_files: 2,
            events_per_file: events,
            ..BatchOptions::default()
        });
        aws.upload(source, &b).await;
        aws.send(queue, &notice_json(&b, source)).await;
        out.push(b);
    }
    out
}

async fn rows_of(aws: &Aws, dest: &str, b: &FdrBatch) -> u64 {
    let mut rows = 0;
    for f in &b.files {
        if let Some(m) = crate::support::manifest(aws, dest, &f.key).await {
            rows += m.rows;
        }
    }
    rows
}

/// Waits until the first raw copy appears in `dest`.
async fn first_output(aws: &Aws, dest: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while aws.keys(dest, "raw/").await.is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "no output appeared");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn expected_rows(b: &FdrBatch) -> u64 {
    b.files
        .iter()
        .filter(|f| !f.bytes.is_empty())
        .map(|f| f.lines - f.invalid_lines.len() as u64)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_batch_loses_nothing() {
    let aws = aws().await;
    let (source, dest, queue) = (
        aws.bucket("cs").await,
        aws.bucket("ours").await,
        aws.queue().await,
    );
    let all = batches(&aws, &source, &queue, 4, 1500).await;

    // Cut off hard (no grace) as soon as the first output appears.
    let token = CancellationToken::new();
    let s = settings(&queue, &dest, |c| {
        c.until_empty = false;
        c.notices_in_flight = 2;
        c.visibility_timeout = Duration::from_secs(3);
        c.grace_period = Duration::ZERO;
    });
    let run = tokio::spawn(falconry_forwarder::run(s, Telemetry::off(), token.clone()));
    first_output(&aws, &dest).await;
    token.cancel();
    let first = run
        .await
        .expect("join")
        .expect("a cancelled forwarder stops cleanly");
    assert!(first.done < 4, "the cut should land mid-batch: {first:?}");

    // What was cut off is still on the queue; after its visibility lapses a new
    // forwarder finishes everything, and every notice ends deleted.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let second = falconry_forwarder::run(
        settings(&queue, &dest, |_| {}),
        Telemetry::off(),
        CancellationToken::new(),
    )
    .await
    .expect("second run");
    assert_eq!(first.done + second.done, 4, "{first:?} then {second:?}");
    assert_eq!(aws.depth(&queue).await, (0, 0));
    for b in &all {
        assert_eq!(
            rows_of(&aws, &dest, b).await,
            expected_rows(b),
            "batch {}",
            b.batch_id
        );
        for f in b.files.iter().filter(|f| !f.bytes.is_empty()) {
            let raw = aws
                .get(&dest, &format!("raw/{}", f.key))
                .await
                .expect("raw copy");
            assert!(raw.as_ref() == f.bytes.as_slice());
        }
    }
    // No stray objects: exactly the outputs a clean run writes.
    let clean = aws.bucket("clean").await;
    let q2 = aws.queue().await;
    for b in &all {
        aws.send(&q2, &notice_json(b, &source)).await;
    }
    falconry_forwarder::run(
        settings(&q2, &clean, |_| {}),
        Telemetry::off(),
        CancellationToken::new(),
    )
    .await
    .expect("clean run");
    assert_eq!(aws.keys(&dest, "").await, aws.keys(&clean, "").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_work_in_flight() {
    let aws = aws().await;
    let (source, dest, queue) = (
        aws.bucket("cs").await,
        aws.bucket("ours").await,
        aws.queue().await,
    );
    let all = batches(&aws, &source, &queue, 3, 1500).await;
    let token = CancellationToken::new();
    let s = settings(&queue, &dest, |c| {
        c.until_empty = false;
        c.notices_in_flight = 1;
        c.grace_period = Duration::from_secs(60);
    });
    let run = tokio::spawn(falconry_forwarder::run(s, Telemetry::off(), token.clone()));
    first_output(&aws, &dest).await;
    token.cancel();
    let summary = run.await.expect("join").expect("clean stop");
    assert!(summary.done >= 1 && summary.done < 3, "{summary:?}");
    assert_eq!(summary.failed, 0);
    // Finished notices are deleted and complete; the rest were never received.
    let (visible, in_flight) = aws.depth(&queue).await;
    assert_eq!((visible, in_flight), (3 - summary.done, 0));
    let complete = {
        let mut n = 0;
        for b in &all {
            if rows_of(&aws, &dest, b).await == expected_rows(b) {
                n += 1;
            }
        }
        n
    };
    assert_eq!(complete, summary.done);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarders_sharing_a_queue_process_each_notice_once() {
    let aws = aws().await;
    let (source, dest, queue) = (
        aws.bucket("cs").await,
        aws.bucket("ours").await,
        aws.queue().await,
    );
    let all = batches(&aws, &source, &queue, 6, 3000).await;
    // A short visibility timeout: only the heartbeat keeps a notice from a
    // second forwarder while the first works on it.
    let cfg = |c: &mut falconry_forwarder::ForwarderConfig| {
        c.visibility_timeout = Duration::from_secs(3);
        c.notices_in_flight = 2;
    };
    let started = std::time::Instant::now();
    let (a, b) = tokio::join!(
        falconry_forwarder::run(
            settings(&queue, &dest, cfg),
            Telemetry::off(),
            CancellationToken::new()
        ),
        falconry_forwarder::run(
            settings(&queue, &dest, cfg),
            Telemetry::off(),
            CancellationToken::new()
        ),
    );
    let (a, b) = (a.expect("forwarder a"), b.expect("forwarder b"));
    eprintln!("two forwarders: {a:?} / {b:?} in {:?}", started.elapsed());
    assert_eq!(a.done + b.done, 6, "each notice exactly once");
    assert_eq!(aws.depth(&queue).await, (0, 0));
    for batch in &all {
        assert_eq!(rows_of(&aws, &dest, batch).await, expected_rows(batch));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_port_serves_metrics_health_and_readiness() {
    let aws = aws().await;
    let (source, dest, queue) = (
        aws.bucket("cs").await,
        aws.bucket("ours").await,
        aws.queue().await,
    );
    batches(&aws, &source, &queue, 1, 200).await;
    let token = CancellationToken::new();
    let (telemetry, bound) = Telemetry::announced("127.0.0.1:0".parse().unwrap());
    let run = tokio::spawn(falconry_forwarder::run(
        settings(&queue, &dest, |c| c.until_empty = false),
        telemetry,
        token.clone(),
    ));
    let addr = bound.await.expect("admin port bound");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let metrics = http_get(addr, "/metrics").await;
        if metrics.contains("falconry_forwarder_notices_total{outcome=\"done\"} 1") {
            assert!(
                metrics.contains("falconry_forwarder_files_total{outcome=\"converted\"} 2"),
                "{metrics}"
            );
            assert!(
                metrics.contains("falconry_forwarder_files_total{outcome=\"skipped\"} 1"),
                "{metrics}"
            );
            assert!(
                metrics.contains("falconry_forwarder_lines_total{outcome=\"quarantined\"}"),
                "{metrics}"
            );
            assert!(
                metrics.contains("falconry_forwarder_notice_age_seconds_bucket"),
                "{metrics}"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "metrics never showed the notice: {metrics}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(http_get(addr, "/healthz").await.starts_with("HTTP/1.1 200"));
    assert!(http_get(addr, "/readyz").await.starts_with("HTTP/1.1 200"));
    token.cancel();
    run.await.expect("join").expect("stop");
}
