//! The organisation's rules in the forwarder: every event of every converted
//! file evaluated as it is parsed, findings written under `findings/` before
//! the notice is deleted, the same keys on a redelivery, rules read from an
//! S3 prefix and reloaded when they change.

use crate::support::*;
use falconry_common::lake::findings::{FindingLine, is_findings_key};
use falconry_common::telemetry::Telemetry;
use falconry_fixtures::{BatchOptions, fdr_batch, notice_json, write_files};
use falconry_forwarder::ForwarderError;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The planted incident rides in every hard-case batch.
fn batch(seed: u64) -> falconry_fixtures::FdrBatch {
    fdr_batch(&BatchOptions {
        seed,
        data_files: 2,
        events_per_file: 300,
        ..BatchOptions::default()
    })
}

fn detect(rules: &str) -> Option<falconry_detect::DetectSettings> {
    falconry_detect::DetectConfig {
        rules: Some(rules.to_owned()),
        reload_interval: Duration::from_secs(1),
        ..Default::default()
    }
    .validate()
    .unwrap()
}

fn findings(gz: &[u8]) -> Vec<FindingLine> {
    String::from_utf8(gunzip(gz))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn titles(lines: &[FindingLine]) -> Vec<String> {
    let mut t: Vec<String> = lines
        .iter()
        .filter_map(|l| match l {
            FindingLine::Finding(f) => Some(f.rule.title.clone()),
            FindingLine::Capped(_) => None,
        })
        .collect();
    t.sort();
    t
}

/// Rules from an S3 prefix; findings in the lake before the notice goes;
/// a redelivery writes the same findings under the same keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn findings_are_durable_before_the_notice_is_deleted_and_redelivery_repeats_them() {
    let aws = aws().await;
    let (source, dest, rules, queue) = (
        aws.bucket("cs").await,
        aws.bucket("ours").await,
        aws.bucket("rules").await,
        aws.queue().await,
    );
    for (name, text) in falconry_detect::starter::FILES {
        aws.put(&rules, &format!("sigma/{name}"), text.as_bytes().to_vec())
            .await;
    }
    let data = batch(21);
    aws.upload(&source, &data).await;
    let notice = notice_json(&data, &source);
    aws.send(&queue, &notice).await;
    let run = |d| {
        let mut s = settings(&queue, &dest, |_| {});
        s.detect = d;
        falconry_forwarder::run(s, Telemetry::off(), CancellationToken::new())
    };
    let summary = run(detect(&format!("s3://{rules}/sigma"))).await.unwrap();
    assert_eq!(summary.done, 1);
    assert_eq!(aws.depth(&queue).await, (0, 0), "the notice is deleted");
    let keys: Vec<String> = aws
        .keys(&dest, "findings/")
        .await
        .into_iter()
        .filter(|k| is_findings_key(k))
        .collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let first = aws.get(&dest, &keys[0]).await.unwrap();
    let lines = findings(&first);
    assert_eq!(
        titles(&lines),
        vec![
            "Office application starts a shell or script host",
            "PowerShell runs an encoded command",
            "Rundll32 loads a DLL from a user-writable folder",
        ]
    );
    // Each finding carries the exact event and where it came from.
    for l in &lines {
        let FindingLine::Finding(f) = l else { continue };
        let file = data.files.iter().find(|x| x.key == f.source.key).unwrap();
        let text = String::from_utf8(gunzip(&file.bytes)).unwrap();
        let line = text.lines().nth(f.source.line as usize - 1).unwrap();
        assert_eq!(line, f.event, "the matched event, exactly");
        assert_eq!(f.source.bucket.as_deref(), Some(source.as_str()));
        assert_eq!(f.event_simplename.as_deref(), Some("ProcessRollup2"));
        assert!(f.aid.is_some());
    }
    let source_key = lines
        .iter()
        .find_map(|l| match l {
            FindingLine::Finding(f) => Some(f.source.key.clone()),
            FindingLine::Capped(_) => None,
        })
        .unwrap();
    let m = manifest(&aws, &dest, &source_key).await.unwrap();
    assert_eq!(
        m.findings.as_ref().map(|f| f.key.as_str()),
        Some(keys[0].as_str())
    );
    assert_eq!(m.findings.as_ref().map(|f| f.rows), Some(3));

    // Redelivered: the same keys, the same findings, nothing added.
    let before = aws.keys(&dest, "").await;
    aws.send(&queue, &notice).await;
    run(detect(&format!("s3://{rules}/sigma"))).await.unwrap();
    assert_eq!(aws.keys(&dest, "").await, before);
    assert_eq!(findings(&aws.get(&dest, &keys[0]).await.unwrap()), lines);

    // A conversion without rules (no `[detect]`, a replay) leaves them be;
    // one whose rules no longer fire removes them as stale.
    aws.send(&queue, &notice).await;
    run(None).await.unwrap();
    assert_eq!(aws.keys(&dest, "").await, before);
    let linux = falconry_detect::starter::FILES
        .iter()
        .find(|(n, _)| *n == "linux_reverse_shell.yml")
        .unwrap();
    aws.put(
        &rules,
        "linux-only/linux_reverse_shell.yml",
        linux.1.as_bytes().to_vec(),
    )
    .await;
    aws.send(&queue, &notice).await;
    run(detect(&format!("s3://{rules}/linux-only")))
        .await
        .unwrap();
    assert!(aws.get(&dest, &keys[0]).await.is_none());
    assert!(
        manifest(&aws, &dest, &source_key)
            .await
            .unwrap()
            .findings
            .is_none()
    );
}

/// A findings write that fails leaves the notice for redelivery: the dir
/// queue sets it aside, the findings come on the retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_findings_write_keeps_the_notice() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("queue")).unwrap();
    let data = batch(22);
    write_files(&data, &root.join("source")).unwrap();
    std::fs::write(root.join("queue/0.json"), notice_json(&data, "b")).unwrap();
    // A file where the findings folder must go: every findings write fails.
    std::fs::create_dir_all(root.join("lake")).unwrap();
    std::fs::write(root.join("lake/findings"), "in the way").unwrap();
    let rules = root.join("rules");
    falconry_detect::starter::write_to(&rules).unwrap();
    let mut s = local_config(root).validate().unwrap();
    s.detect = detect(&rules.display().to_string());
    let err = falconry_forwarder::run(s.clone(), Telemetry::off(), CancellationToken::new())
        .await
        .unwrap_err();
    assert!(
        matches!(err, ForwarderError::NoticesFailed { failed: 1 }),
        "{err}"
    );
    assert!(root.join("queue/failed/0.json").exists());
    assert!(!root.join("queue/done/0.json").exists());
    // The way cleared and the notice put back: it completes with its findings.
    std::fs::remove_file(root.join("lake/findings")).unwrap();
    std::fs::rename(root.join("queue/failed/0.json"), root.join("queue/0.json")).unwrap();
    falconry_forwarder::run(s, Telemetry::off(), CancellationToken::new())
        .await
        .unwrap();
    assert!(root.join("queue/done/0.json").exists());
    let found = falconry_forwarder::lake::findings_per_rule(&root.join("lake/findings")).unwrap();
    assert_eq!(found.values().sum::<u64>(), 3, "{found:?}");
}

/// A rule that fires on nearly every event keeps 100 findings per file and
/// counts the rest in a capped record; a bad rule file beside it is skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_is_capped_and_a_bad_rule_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("queue")).unwrap();
    let data = fdr_batch(&BatchOptions {
        seed: 23,
        data_files: 1,
        events_per_file: 2000,
        ..BatchOptions::default()
    });
    write_files(&data, &root.join("source")).unwrap();
    std::fs::write(root.join("queue/0.json"), notice_json(&data, "b")).unwrap();
    let rules = root.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(
        rules.join("any.yml"),
        "title: Any event with an aid\nid: any-aid\nlevel: low\nlogsource:\n  product: crowdstrike\n  service: fdr\ndetection:\n  s:\n    aid|exists: true\n  condition: s\n",
    )
    .unwrap();
    std::fs::write(rules.join("broken.yml"), "title: [").unwrap();
    let mut s = local_config(root).validate().unwrap();
    s.detect = detect(&rules.display().to_string());
    falconry_forwarder::run(s, Telemetry::off(), CancellationToken::new())
        .await
        .unwrap();
    let mut files = Vec::new();
    let mut stack = vec![root.join("lake/findings")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    assert_eq!(files.len(), 1, "{files:?}");
    let lines = findings(&std::fs::read(&files[0]).unwrap());
    let kept = lines
        .iter()
        .filter(|l| matches!(l, FindingLine::Finding(_)))
        .count();
    assert_eq!(kept, 100);
    let Some(FindingLine::Capped(c)) = lines.last() else {
        panic!("no capped record")
    };
    assert_eq!(c.rule.id, "any-aid");
    assert!(c.omitted > 1500, "{}", c.omitted);
}

/// Rules in an S3 prefix are reloaded when one is added or changed, a bad
/// one is skipped and counted, and an emptied prefix keeps the rules in force.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_in_s3_reload_when_they_change() {
    let aws = aws().await;
    let bucket = aws.bucket("rules").await;
    let starter = |name: &str| {
        falconry_detect::starter::FILES
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap()
            .1
            .as_bytes()
            .to_vec()
    };
    aws.put(
        &bucket,
        "r/whoami_discovery.yml",
        starter("whoami_discovery.yml"),
    )
    .await;
    let mut registry = prometheus_client::registry::Registry::default();
    let live = falconry_detect::LiveRules::start(
        detect(&format!("s3://{bucket}/r")).unwrap(),
        falconry_detect::DetectMetrics::new(&mut registry),
    )
    .await
    .unwrap();
    assert_eq!(live.current().rule_count(), 1);
    assert!(!live.reload_if_changed().await.unwrap());
    aws.put(
        &bucket,
        "r/linux_reverse_shell.yml",
        starter("linux_reverse_shell.yml"),
    )
    .await;
    aws.put(&bucket, "r/broken.yml", b"title: [".to_vec()).await;
    assert!(live.reload_if_changed().await.unwrap());
    assert_eq!(live.current().rule_count(), 2);
    assert_eq!(live.metrics.load_errors.get(), 1);
    for k in aws.keys(&bucket, "r/").await {
        aws.s3
            .delete_object()
            .bucket(&bucket)
            .key(k)
            .send()
            .await
            .unwrap();
    }
    assert!(!live.reload_if_changed().await.unwrap());
    assert_eq!(
        live.current().rule_count(),
        2,
        "an emptied prefix keeps the rules"
    );
}
