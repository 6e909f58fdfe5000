//! The response loop against the project's Falcon and GitHub test servers,
//! with the stream batches and the state in moto's S3: Falcon's Alerts API
//! fills a stream gap and joins the stream's copy of an alert into one case;
//! a close in the Falcon console reaches the issue; a responder's assignment
//! and labelled close on GitHub are written back to Falcon exactly once,
//! across two replicas racing and an answer lost after the PATCH was applied;
//! the report counts what happened.

use crate::github_issues::{lines, stream_into};
use falconry_common::Secret;
use falconry_common::telemetry::Telemetry;
use falconry_enricher::alert::normalize::api::normalize_api;
use falconry_enricher::alert::normalize::{Selection, normalize};
use falconry_enricher::alert::{Alert, AlertKind};
use falconry_enricher::config::GitHubConfig;
use falconry_enricher::decision::Action;
use falconry_enricher::dedup::Fingerprinter;
use falconry_enricher::policy::Policy;
use falconry_enricher::response::config::AlertsConfig;
use falconry_enricher::response::{ReportRequest, report};
use falconry_enricher::{EnricherConfig, Summary};
use falconry_testkit::falcon::alerts::{AlertsEndpoint, AlertsFault, alert};
use falconry_testkit::falcon::{CLIENT_ID, CLIENT_SECRET, Falcon, World};
use falconry_testkit::github::{GitHubServer, TOKEN};
use falconry_testkit::moto::aws;
use std::collections::BTreeSet;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const REPO: &str = "falconry/alerts";
/// The API-only alert: a stream gap.
const GAP: &str =
    "0123456789abcdef0123456789abcdef:ind:feedfacefeedfacefeedfacefeedface:4711-10197-55";

/// The stream's issue-worthy alerts, and their distinct fingerprints.
fn stream_alerts() -> (Vec<Alert>, usize) {
    let policy = Policy::load(&[], &[]).unwrap();
    let mut out = Vec::new();
    let mut fps = BTreeSet::new();
    for l in lines() {
        let v: serde_json::Value = serde_json::from_str(&l.line).unwrap();
        if let Some(a) = normalize(&v, &Selection::default(), Default::default()).unwrap()
            && policy.decide(&a, &Default::default()).action == Action::Issue
        {
            fps.insert(Fingerprinter::default().of(&a));
            out.push(a);
        }
    }
    (out, fps.len())
}

fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The Alerts API's record of a stream alert: same composite id, host,
/// pattern and hash, updated a minute ago.
fn api_copy(a: &Alert) -> serde_json::Value {
    let mut v = alert(
        a.composite_id.as_deref().unwrap(),
        "epp",
        a.host.aid.as_deref().unwrap(),
        a.host.hostname.as_deref().unwrap_or("host"),
        a.severity.score,
        &iso(a.time_ms),
    );
    let pattern = a.pattern_id.clone().unwrap();
    v["pattern_id"] = pattern
        .parse::<u64>()
        .map_or(serde_json::Value::String(pattern), serde_json::Value::from);
    v["sha256"] = a
        .process
        .sha256
        .clone()
        .map_or(serde_json::Value::Null, serde_json::Value::String);
    v["updated_timestamp"] = iso(chrono::Utc::now().timestamp_millis() - 60_000).into();
    v
}

fn config(bucket: &str, gh: &GitHubServer, falcon: &Falcon) -> EnricherConfig {
    let mut c = EnricherConfig {
        from: Some(format!("s3://{bucket}/lake")),
        issues: "github".into(),
        state: Some(format!("s3://{bucket}/state/enricher")),
        until_empty: true,
        repo: REPO.into(),
        claim_ttl: Duration::from_secs(10),
        github: GitHubConfig {
            api_url: Some(gh.url()),
            token: Some(Secret::new(TOKEN)),
            content_per_minute: Some(1000),
            ..GitHubConfig::default()
        },
        alerts: AlertsConfig {
            enabled: true,
            base_url: Some(falcon.base_url()),
            client_id: Some(CLIENT_ID.into()),
            client_secret: Some(Secret::new(CLIENT_SECRET)),
            max_wait: Duration::from_secs(5),
            ..AlertsConfig::default()
        },
        ..EnricherConfig::default()
    };
    c.response.reminders = false;
    c
}

async fn enrich(config: &EnricherConfig) -> Summary {
    falconry_enricher::run(
        config.clone().validate().unwrap(),
        Telemetry::off(),
        CancellationToken::new(),
    )
    .await
    .unwrap()
}

/// The issue of an alert's case (its body holds the fingerprint's marker).
fn issue_of(gh: &GitHubServer, a: &Alert) -> falconry_testkit::github::TestIssue {
    let marker = falconry_enricher::render::marker(&Fingerprinter::default().of(a));
    gh.issues(REPO)
        .into_iter()
        .find(|i| i.body.contains(&marker))
        .unwrap_or_else(|| panic!("no issue for {}", a.id))
}

fn gap_alert() -> serde_json::Value {
    let mut gap = alert(
        GAP,
        "epp",
        "feedfacefeedfacefeedfacefeedface",
        "gap-host-01",
        85,
        &iso(chrono::Utc::now().timestamp_millis() - 120_000),
    );
    gap["updated_timestamp"] = iso(chrono::Utc::now().timestamp_millis() - 90_000).into();
    gap
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_poller_fills_a_stream_gap_joins_the_streams_copy_and_brings_a_console_close_to_the_issue()
 {
    let aws = aws().await;
    let bucket = aws.bucket("respond").await;
    stream_into(&bucket).await;
    let gh = GitHubServer::start().await;
    gh.add_repo(REPO);
    let falcon = Falcon::start(World::default()).await;
    let (alerts, distinct) = stream_alerts();
    let seen = alerts
        .iter()
        .find(|a| a.kind == AlertKind::Epp && a.composite_id.is_some() && a.pattern_id.is_some())
        .expect("the stream fixture has an EPP detection with a composite id");
    let composite = seen.composite_id.clone().unwrap();
    falcon.add_alert(api_copy(seen));
    let gap = gap_alert();
    let gap_normal = normalize_api(&gap).unwrap();
    falcon.add_alert(gap);
    // Falcon is busy at the first poll: a 429 with its headers, waited out.
    falcon.fault_alerts(AlertsEndpoint::Query, AlertsFault::RateLimited);

    let cfg = config(&bucket, &gh, &falcon);
    let first = enrich(&cfg).await;
    assert_eq!(first.failed, 0, "{first:?}");
    assert_eq!(first.response.failures, 0, "{first:?}");
    assert_eq!(
        gh.issues(REPO).len(),
        distinct + 1,
        "one issue per stream fingerprint, one for the gap, none for the copy: {first:?}"
    );
    let gap_issue = issue_of(&gh, &gap_normal);
    assert!(
        gap_issue.title.contains("gap-host-01"),
        "{}",
        gap_issue.title
    );
    let seen_issue = issue_of(&gh, seen);
    assert_eq!(seen_issue.state, "open");

    // An analyst closes the stream-seen alert in the console.
    falcon.console_close(&composite, "analyst@corp.example", "true_positive");
    let second = enrich(&cfg).await;
    assert_eq!(second.response.failures, 0, "{second:?}");
    assert_eq!(second.response.synced, 1, "{second:?}");
    let closed = issue_of(&gh, seen);
    assert_eq!(closed.state, "closed");
    let note = closed
        .comments
        .iter()
        .find(|c| c.contains("Closed in the Falcon console"))
        .expect("a comment says who closed it");
    // Who closed it, as text that mentions nobody and links nowhere.
    assert!(
        note.contains("analyst")
            && note.contains("corp[.]example")
            && note.contains("true_positive"),
        "{note}"
    );
    assert!(
        falcon.alert_patches().is_empty(),
        "a console close is not written back"
    );
    // Again: nothing new, no second comment.
    let third = enrich(&cfg).await;
    assert_eq!(third.response.synced, 0, "{third:?}");
    let again = issue_of(&gh, seen);
    assert_eq!(again.comments.len(), closed.comments.len());

    // Reopened in the console: the issue opens again.
    falcon.console_reopen(&composite);
    let fourth = enrich(&cfg).await;
    assert_eq!(fourth.response.synced, 1, "{fourth:?}");
    assert_eq!(issue_of(&gh, seen).state, "open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_labelled_close_on_github_is_written_back_once_across_two_replicas_and_a_lost_answer() {
    let aws = aws().await;
    let bucket = aws.bucket("writeback").await;
    stream_into(&bucket).await;
    let gh = GitHubServer::start().await;
    gh.add_repo(REPO);
    let falcon = Falcon::start(World::default()).await;
    let gap = gap_alert();
    let gap_normal = normalize_api(&gap).unwrap();
    falcon.add_alert(gap);
    let cfg = config(&bucket, &gh, &falcon);
    enrich(&cfg).await;
    let number = issue_of(&gh, &gap_normal).number;

    // A responder picks it up: Falcon hears `in_progress`, once.
    gh.human_assign(REPO, number, "alice", "alice");
    let picked = enrich(&cfg).await;
    assert_eq!(picked.response.written_back, 1, "{picked:?}");
    let patches = falcon.alert_patches();
    assert_eq!(patches.len(), 1);
    assert!(
        patches[0]
            .1
            .contains(&("update_status".into(), "in_progress".into())),
        "{patches:?}"
    );
    assert_eq!(falcon.alert(GAP).unwrap()["status"], "in_progress");

    // ... and concludes it: a label, a closing comment, the close.
    gh.human_label(REPO, number, "alice", "conclusion: false-positive");
    gh.human_comment(
        REPO,
        number,
        "alice",
        "Backup agent reading LSASS, expected.",
    );
    gh.human_close(REPO, number, "alice", "completed");
    // Two replicas race; the PATCH lands but its answer is lost, and the
    // replica that made it cannot ask Falcon afterwards (every look fails, as
    // if it had died right after the PATCH).
    falcon.fault_alerts(AlertsEndpoint::Patch, AlertsFault::LostAnswer);
    // (Ten: its first round and its last each look once, five tries a look.)
    for _ in 0..10 {
        falcon.fault_alerts(AlertsEndpoint::Get, AlertsFault::ServerError);
    }
    let (a, b) = tokio::join!(enrich(&cfg), enrich(&cfg));
    assert_eq!(falcon.alert_patches().len(), 2, "{a:?} {b:?}");
    assert_eq!(
        a.response.written_back + b.response.written_back,
        0,
        "{a:?} {b:?}"
    );
    // Once the claim's TTL has passed, a replica asks Falcon first and
    // records the write-back without a second PATCH.
    let mut recorded = 0;
    for _ in 0..4 {
        let next = enrich(&cfg).await;
        assert_eq!(
            falcon.alert_patches().len(),
            2,
            "exactly one PATCH per change: {next:?}"
        );
        recorded += next.response.written_back;
        if recorded > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_secs(4)).await;
    }
    assert_eq!(recorded, 1);
    let closed = falcon.alert(GAP).unwrap();
    assert_eq!(closed["status"], "closed");
    assert!(
        closed["tags"]
            .as_array()
            .unwrap()
            .contains(&"false_positive".into()),
        "{closed}"
    );
    let comments = falcon.alert_comments(GAP);
    assert_eq!(comments.len(), 2, "{comments:?}");
    assert!(
        comments[1].contains("false_positive") && comments[1].contains("Backup agent"),
        "{comments:?}"
    );
    let e = enrich(&cfg).await;
    assert_eq!(e.response.written_back, 0, "{e:?}");
    assert_eq!(falcon.alert_patches().len(), 2);

    // The report sees one false positive with its response times.
    let settings = cfg.validate_report().unwrap();
    let now_ms = chrono::Utc::now().timestamp_millis();
    let r = falconry_enricher::response::report(
        &settings,
        &ReportRequest {
            since_ms: now_ms - 86_400_000,
            now_ms,
        },
    )
    .await
    .unwrap();
    assert_eq!(r.totals.closed, 1, "{r:?}");
    let all = r
        .conclusions
        .iter()
        .find(|c| c.source == report::ALL)
        .unwrap();
    assert_eq!(all.false_positive, 1);
    assert_eq!(r.response.overall.time_to_first_response.count, 1);

    // Posted as the week's issue, once however often it is asked, and
    // summarised on Slack.
    let slack = falconry_testkit::slack::SlackServer::start().await;
    let mut posting = cfg.clone();
    posting.response.report_repo = Some("falconry/reports".into());
    posting.slack.webhook_url = Some(Secret::new(slack.webhook_url()));
    gh.add_repo("falconry/reports");
    let posting = posting.validate_report().unwrap();
    let body = report::markdown(&r, None);
    let first = falconry_enricher::response::post_report(&posting, &r, &body)
        .await
        .unwrap()
        .unwrap();
    let again = falconry_enricher::response::post_report(&posting, &r, &body)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.number, again.number);
    let posted = gh.issues("falconry/reports");
    assert_eq!(posted.len(), 1);
    assert!(
        posted[0].title.starts_with("falconry response report, "),
        "{}",
        posted[0].title
    );
    assert!(posted[0].labels.contains(&"falconry-report".to_owned()));
    let summaries = slack.payloads();
    assert_eq!(summaries.len(), 1, "one summary: {summaries:?}");
    let text = summaries[0].to_string();
    assert!(
        text.contains("1 closed") && text.contains("1 false positive") && text.contains(&first.url),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_open_case_past_its_sla_gets_one_reminder() {
    let aws = aws().await;
    let bucket = aws.bucket("remind").await;
    stream_into(&bucket).await;
    let gh = GitHubServer::start().await;
    gh.add_repo(REPO);
    let falcon = Falcon::start(World::default()).await;
    let gap = gap_alert();
    let gap_normal = normalize_api(&gap).unwrap();
    falcon.add_alert(gap);
    let mut cfg = config(&bucket, &gh, &falcon);
    cfg.response.reminders = true;
    cfg.response.mention = Some("@falconry/soc".into());
    cfg.response.sla.insert(
        "critical".into(),
        falconry_enricher::response::config::SlaConfig {
            respond: Duration::from_secs(1),
            close: Duration::from_secs(3600),
        },
    );
    // The case opens in the first run; its SLA (1 s) has passed by the
    // second run's sweep, or already by the first run's closing sweep when the
    // machine is slow. Either way: one reminder per critical case, once.
    let first = enrich(&cfg).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let late = enrich(&cfg).await;
    assert!(
        first.response.reminded + late.response.reminded >= 1,
        "{first:?} {late:?}"
    );
    let issue = issue_of(&gh, &gap_normal);
    let reminders: Vec<&String> = issue
        .comments
        .iter()
        .filter(|c| c.contains("past its SLA to respond"))
        .collect();
    assert_eq!(reminders.len(), 1, "{:?}", issue.comments);
    assert!(
        reminders[0].starts_with("@falconry/soc "),
        "{}",
        reminders[0]
    );
    let again = enrich(&cfg).await;
    assert_eq!(again.response.reminded, 0, "{again:?}");
    let issue = issue_of(&gh, &gap_normal);
    assert_eq!(
        issue
            .comments
            .iter()
            .filter(|c| c.contains("past its SLA"))
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_poller_pages_through_every_update_and_resumes_from_its_durable_cursor() {
    let aws = aws().await;
    let bucket = aws.bucket("pages").await;
    let gh = GitHubServer::start().await;
    gh.add_repo(REPO);
    let falcon = Falcon::start(World::default()).await;
    let now = chrono::Utc::now().timestamp_millis();
    // 1,200 alerts closed before falconry ever saw them (nothing to open)
    // sharing a handful of update times, then one new alert updated last.
    for i in 0..1_200 {
        let id = format!("0123456789abcdef0123456789abcdef:ind:{:032x}:{i}", i % 7);
        let mut a = alert(
            &id,
            "epp",
            &format!("{:032x}", i % 7),
            "host",
            50,
            &iso(now - 600_000),
        );
        a["status"] = "closed".into();
        a["updated_timestamp"] = iso(now - 300_000 + (i % 5) as i64).into();
        falcon.add_alert(a);
    }
    let gap = gap_alert();
    let gap_normal = normalize_api(&gap).unwrap();
    falcon.add_alert(gap);
    let mut cfg = config(&bucket, &gh, &falcon);
    cfg.from = Some(format!("s3://{bucket}/empty"));
    cfg.alerts.page_size = 500;
    let first = enrich(&cfg).await;
    assert_eq!(first.response.failures, 0, "{first:?}");
    assert_eq!(first.response.falcon_alerts, 1_201, "{first:?}");
    assert!(falcon.alert_queries() >= 3, "three pages of 500");
    assert_eq!(
        gh.issues(REPO).len(),
        1,
        "only the open alert makes an issue"
    );
    issue_of(&gh, &gap_normal);
    // Restarted: the cursor is where it was; what is inside the overlap is
    // recognised, nothing is handled twice.
    let second = enrich(&cfg).await;
    assert_eq!(second.response.falcon_alerts, 0, "{second:?}");
    assert_eq!(gh.issues(REPO).len(), 1);
}
