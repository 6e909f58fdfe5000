//! The enricher against the project's GitHub and Slack test servers, with
//! its batches and dedup records in moto's S3 (and notifications on moto's
//! SQS): two replicas racing on the same alerts open one issue per
//! fingerprint, a create whose answer was lost is not repeated, a restart
//! opens nothing new, a repeat after the issue was closed opens a new one
//! that links the old, and Slack failing never blocks an issue.

use falconry_common::Secret;
use falconry_common::telemetry::Telemetry;
use falconry_enricher::alert::normalize::{Selection, normalize};
use falconry_enricher::config::{GitHubConfig, SlackConfig};
use falconry_enricher::decision::Action;
use falconry_enricher::dedup::Fingerprinter;
use falconry_enricher::policy::Policy;
use falconry_enricher::{EnricherConfig, Summary};
use falconry_fixtures::{StreamLine, StreamOptions, stream_events, stream_ndjson};
use falconry_testkit::github::{Fault, GitHubServer, On, TOKEN};
use falconry_testkit::moto::{Aws, aws};
use falconry_testkit::slack::{SlackFault, SlackServer};
use std::collections::BTreeSet;
use std::io::Write;
use tokio_util::sync::CancellationToken;

const REPO: &str = "falconry/alerts";
const EXTRA: [&str; 2] = ["CustomerIOCEvent", "OverwatchGenericDetectionSummaryEvent"];

pub(crate) fn lines() -> Vec<StreamLine> {
    stream_events(&StreamOptions {
        events: 80,
        ..StreamOptions::default()
    })
}

/// Issue-worthy alerts and their distinct fingerprints, from the library alone.
fn expected() -> (usize, usize) {
    let policy = Policy::load(&[], &[]).unwrap();
    let sel = Selection {
        extra: EXTRA.iter().map(std::string::ToString::to_string).collect(),
    };
    let mut n = 0;
    let mut fps = BTreeSet::new();
    for l in lines() {
        let v: serde_json::Value = serde_json::from_str(&l.line).unwrap();
        if let Some(a) = normalize(&v, &sel, Default::default()).unwrap()
            && policy.decide(&a, &Default::default()).action == Action::Issue
        {
            n += 1;
            fps.insert(Fingerprinter::default().of(&a));
        }
    }
    (n, fps.len())
}

/// The stream fixture through the real streamer into `s3://bucket/lake`.
pub(crate) async fn stream_into(bucket: &str) {
    let dir = tempfile::tempdir().unwrap();
    let recorded = dir.path().join("stream.ndjson");
    std::fs::write(&recorded, stream_ndjson(&lines())).unwrap();
    let settings = falconry_streamer::StreamerConfig {
        dest: Some(format!("s3://{bucket}/lake")),
        batch_max_bytes: 8 * 1024,
        ..Default::default()
    }
    .validate()
    .unwrap();
    falconry_streamer::replay_file(&settings, &recorded, 0, CancellationToken::new())
        .await
        .unwrap();
}

fn config(bucket: &str, gh: &GitHubServer, slack: Option<&SlackServer>) -> EnricherConfig {
    EnricherConfig {
        from: Some(format!("s3://{bucket}/lake")),
        issues: "github".into(),
        state: Some(format!("s3://{bucket}/state/enricher")),
        until_empty: true,
        event_types: EXTRA.iter().map(std::string::ToString::to_string).collect(),
        repo: REPO.into(),
        github: GitHubConfig {
            api_url: Some(gh.url()),
            token: Some(Secret::new(TOKEN)),
            content_per_minute: Some(1000),
            ..GitHubConfig::default()
        },
        slack: SlackConfig {
            webhook_url: slack.map(|s| Secret::new(s.webhook_url())),
        },
        ..EnricherConfig::default()
    }
}

async fn enrich(config: EnricherConfig) -> Summary {
    falconry_enricher::run(
        config.validate().unwrap(),
        Telemetry::off(),
        CancellationToken::new(),
    )
    .await
    .unwrap()
}

fn marker_of(body: &str) -> &str {
    let at = body.find("falconry:fingerprint=").expect("marker");
    &body[at..at + "falconry:fingerprint=".len() + 32]
}

async fn forget_cursors(aws: &Aws, bucket: &str) {
    for key in aws.keys(bucket, "state/enricher/scan/").await {
        aws.s3
            .delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_racing_open_one_issue_per_fingerprint_and_comment_each_repeat_once() {
    let aws = aws().await;
    let bucket = aws.bucket("enrich").await;
    stream_into(&bucket).await;
    let gh = GitHubServer::start().await;
    gh.add_repo(REPO);
    let slack = SlackServer::start().await;
    // Slack is down for the first notices: issues must not care.
    for _ in 0..3 {
        slack.fault(SlackFault::ServerError);
    }
    let (issue_alerts, distinct) = expected();

    let (a, b) = tokio::join!(
        enrich(config(&bucket, &gh, Some(&slack))),
        enrich(config(&bucket, &gh, Some(&slack)))
    );
    assert_eq!((a.failed, b.failed), (0, 0), "{a:?} {b:?}");
    let issues = gh.issues(REPO);
    assert_eq!(issues.len(), distinct, "{a:?} {b:?}");
    assert_eq!((a.created + b.created) as usize, distinct);
    let markers: BTreeSet<&str> = issues.iter().map(|i| marker_of(&i.body)).collect();
    assert_eq!(markers.len(), distinct, "one issue per fingerprint");
    let comments: usize = issues.iter().map(|i| i.comments.len()).sum();
    assert_eq!(
        comments,
        issue_alerts - distinct,
        "each repeat commented exactly once"
    );
    assert_eq!((a.commented + b.commented) as usize, comments);
    assert!(
        issues
            .iter()
            .all(|i| i.labels.iter().any(|l| l == "falconry"))
    );
    // Every created issue was announced, once Slack came back.
    let announced = slack
        .payloads()
        .iter()
        .filter(|p| p.to_string().contains("https://github.example/"))
        .count();
    assert!(
        announced + 3 >= distinct && announced <= distinct,
        "{announced} of {distinct}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_create_answer_and_a_restart_open_nothing_twice() {
    let aws = aws().await;
    let bucket = aws.bucket("enrich").await;
    stream_into(&bucket).await;
    let gh = GitHubServer::start().await;
    gh.add_repo(REPO);
    gh.fault_on(On::Content, Fault::BadGatewayAfterCreate);
    gh.fault_on(On::Content, Fault::ServerError);
    gh.fault_on(On::Content, Fault::SecondaryLimit { retry_after: 1 });
    let (issue_alerts, distinct) = expected();

    let s = enrich(config(&bucket, &gh, None)).await;
    assert_eq!(s.failed, 0, "{s:?}");
    assert_eq!(gh.pending_faults(), 0, "every fault was hit");
    assert_eq!(gh.count_status(502), 1);
    assert_eq!(
        gh.issues(REPO).len(),
        distinct,
        "the lost answer was not created again"
    );

    // A restart that reads everything again: the dedup records answer.
    forget_cursors(&aws, &bucket).await;
    let again = enrich(config(&bucket, &gh, None)).await;
    assert_eq!((again.created, again.commented), (0, 0), "{again:?}");
    assert_eq!(again.duplicates as usize, issue_alerts);
    let issues = gh.issues(REPO);
    assert_eq!(issues.len(), distinct);
    let comments: usize = issues.iter().map(|i| i.comments.len()).sum();
    assert_eq!(comments, issue_alerts - distinct);
}

/// The planted detection again, later, in a batch of its own.
fn repeat_batch(bucket_key_offset: u64, hours_later: i64) -> (String, Vec<u8>) {
    let planted = lines()
        .into_iter()
        .find(|l| l.line.contains(falconry_fixtures::DETECTION_NAME))
        .unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&planted.line).unwrap();
    v["metadata"]["offset"] = bucket_key_offset.into();
    let t = v["metadata"]["eventCreationTime"].as_i64().unwrap() + hours_later * 3_600_000;
    v["metadata"]["eventCreationTime"] = t.into();
    v["event"]["CompositeId"] = format!(
        "{}-again-{bucket_key_offset}",
        v["event"]["CompositeId"].as_str().unwrap()
    )
    .into();
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(format!("{v}\n").as_bytes()).unwrap();
    let key = format!(
        "lake/stream/partition=0/dt=2026-03-14/{bucket_key_offset:020}-{bucket_key_offset:020}.ndjson.gz"
    );
    (key, e.finish().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeat_after_the_issue_was_closed_opens_a_new_one_that_links_the_old() {
    let aws = aws().await;
    let bucket = aws.bucket("enrich").await;
    stream_into(&bucket).await;
    let gh = GitHubServer::start().await;
    gh.add_repo(REPO);
    enrich(config(&bucket, &gh, None)).await;
    let old = gh
        .issues(REPO)
        .into_iter()
        .find(|i| i.title.contains(falconry_fixtures::DETECTION_NAME))
        .expect("the planted detection's issue");
    gh.close_issue(REPO, old.number);

    let (key, body) = repeat_batch(99_000_000, 1);
    aws.s3
        .put_object()
        .bucket(&bucket)
        .key(&key)
        .body(body.into())
        .send()
        .await
        .unwrap();
    let s = enrich(config(&bucket, &gh, None)).await;
    assert_eq!((s.created, s.commented, s.failed), (1, 0, 0), "{s:?}");
    let issues = gh.issues(REPO);
    let new = issues.iter().max_by_key(|i| i.number).unwrap();
    assert_ne!(new.number, old.number);
    assert_eq!(
        marker_of(&new.body),
        marker_of(&old.body),
        "same fingerprint"
    );
    assert!(
        new.body.contains(&format!("/issues/{}", old.number)),
        "the new issue links the closed one:\n{}",
        new.body
    );
    let old_now = issues.iter().find(|i| i.number == old.number).unwrap();
    assert_eq!(
        (old_now.state.as_str(), old_now.comments.len()),
        ("closed", old.comments.len())
    );

    // One more repeat goes to the new issue as a comment.
    let (key, body) = repeat_batch(99_000_001, 2);
    aws.s3
        .put_object()
        .bucket(&bucket)
        .key(&key)
        .body(body.into())
        .send()
        .await
        .unwrap();
    let s = enrich(config(&bucket, &gh, None)).await;
    assert_eq!((s.created, s.commented), (0, 1), "{s:?}");
    let new_now = gh
        .issues(REPO)
        .into_iter()
        .find(|i| i.number == new.number)
        .unwrap();
    assert_eq!(new_now.comments.len(), new.comments.len() + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_mode_reads_the_batches_s3_announces_and_deletes_the_messages() {
    let aws = aws().await;
    let bucket = aws.bucket("enrich").await;
    let queue = aws.queue().await;
    aws.notify(&bucket, &queue).await;
    stream_into(&bucket).await;
    let gh = GitHubServer::start().await;
    gh.add_repo(REPO);
    let (_, distinct) = expected();
    // The state in a bucket of its own: this test's bucket announces every
    // object it holds (a deployment announces only the stream's prefix).
    let state = aws.bucket("state").await;
    let cfg = EnricherConfig {
        from: None,
        queue: Some(queue.clone()),
        state: Some(format!("s3://{state}/state/enricher")),
        ..config(&bucket, &gh, None)
    };
    let s = enrich(cfg).await;
    assert_eq!(s.failed, 0, "{s:?}");
    assert!(s.batches > 1, "{s:?}");
    assert_eq!(gh.issues(REPO).len(), distinct);
    assert_eq!(aws.depth(&queue).await, (0, 0), "every message deleted");
}

/// What the forwarder's rules found reaches GitHub the same way: the lake
/// bucket announces the findings object, the enricher reads it from the
/// queue, one issue per (rule, host), the message deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_mode_reads_findings_s3_announces() {
    use falconry_common::lake::findings::{Finding, FindingLine, FindingRule, FindingSource};
    use std::io::Write;
    let aws = aws().await;
    let bucket = aws.bucket("lake").await;
    let queue = aws.queue().await;
    aws.notify(&bucket, &queue).await;
    let finding = |line: u64| {
        FindingLine::Finding(Box::new(Finding {
            indicator: None,
            rule: FindingRule {
                id: "office-child".into(),
                title: "Office application starts a shell".into(),
                level: "high".into(),
                status: None,
                tags: vec![],
                falsepositives: vec![],
                description: None,
                file: "office.yml".into(),
            },
            source: FindingSource {
                bucket: Some("cs".into()),
                key: "data/x/part-00000.gz".into(),
                line,
            },
            aid: Some("67e393bba98ec2eaf28cc40f087d3dc2".into()),
            computer_name: Some("WKS-1".into()),
            event_simplename: Some("ProcessRollup2".into()),
            timestamp: Some(1_773_480_000_000 + line as i64),
            matched: vec![],
            event: r#"{"event_simpleName":"ProcessRollup2","CommandLine":"powershell -enc x"}"#
                .into(),
            event_length: None,
        }))
    };
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    for l in [finding(3), finding(9)] {
        writeln!(gz, "{}", serde_json::to_string(&l).unwrap()).unwrap();
    }
    let key = falconry_common::lake::Layout::default()
        .under("lake")
        .findings_key("data/x/part-00000.gz", "2026-03-14");
    aws.put(&bucket, &key, gz.finish().unwrap()).await;
    let gh = GitHubServer::start().await;
    gh.add_repo(REPO);
    // The state in a bucket of its own: this test's bucket announces every
    // object it holds (a deployment announces only the stream's prefix).
    let state = aws.bucket("state").await;
    let cfg = EnricherConfig {
        from: None,
        queue: Some(queue.clone()),
        state: Some(format!("s3://{state}/state/enricher")),
        ..config(&bucket, &gh, None)
    };
    let s = enrich(cfg).await;
    assert_eq!(
        (s.alerts, s.created, s.commented, s.failed),
        (2, 1, 1, 0),
        "{s:?}"
    );
    let issues = gh.issues(REPO);
    assert_eq!(issues.len(), 1);
    assert!(
        issues[0]
            .title
            .contains("Office application starts a shell"),
        "{}",
        issues[0].title
    );
    assert_eq!(aws.depth(&queue).await, (0, 0), "every message deleted");
}
