//! The embedded default end to end: the recorded stream fixture through the
//! real streamer into a local "bucket", then the enricher over its batches,
//! issues as Markdown files. Proves one issue per fingerprint, comments on
//! repeats, nothing new on a second run (cursor) nor on a full re-read
//! (dedup records), quarantined bad lines, and bodies that stay safe and
//! under GitHub's limit with hostile events.

use falconry_common::Secret;
use falconry_common::telemetry::Telemetry;
use falconry_enricher::alert::normalize::{Selection, normalize};
use falconry_enricher::config::SlackConfig;
use falconry_enricher::decision::Action;
use falconry_enricher::dedup::Fingerprinter;
use falconry_enricher::policy::Policy;
use falconry_enricher::tracker::DirTracker;
use falconry_enricher::{EnricherConfig, Summary};
use falconry_fixtures::{StreamOptions, stream_events, stream_ndjson};
use falconry_testkit::slack::{SlackFault, SlackServer};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use tokio_util::sync::CancellationToken;

const EXTRA: [&str; 2] = ["CustomerIOCEvent", "OverwatchGenericDetectionSummaryEvent"];

/// The stream fixture, replayed by the streamer into `<root>/lake`.
async fn streamed_lake(root: &Path) -> std::path::PathBuf {
    let lake = root.join("lake");
    let recorded = root.join("stream.ndjson");
    std::fs::write(
        &recorded,
        stream_ndjson(&stream_events(&StreamOptions::default())),
    )
    .unwrap();
    let settings = falconry_streamer::StreamerConfig {
        dest: Some(format!("file://{}", lake.display())),
        // Small batches: several per partition, so the cursor matters.
        batch_max_bytes: 16 * 1024,
        ..Default::default()
    }
    .validate()
    .unwrap();
    falconry_streamer::replay_file(&settings, &recorded, 0, CancellationToken::new())
        .await
        .unwrap();
    lake
}

async fn enrich(lake: &Path, issues: &Path) -> Summary {
    enrich_with_slack(lake, issues, None).await
}

async fn enrich_with_slack(lake: &Path, issues: &Path, slack: Option<&SlackServer>) -> Summary {
    let settings = EnricherConfig {
        from: Some(format!("file://{}", lake.display())),
        issues: format!("dir://{}", issues.display()),
        until_empty: true,
        event_types: EXTRA.iter().map(std::string::ToString::to_string).collect(),
        slack: SlackConfig {
            webhook_url: slack.map(|s| Secret::new(s.webhook_url())),
        },
        ..Default::default()
    }
    .validate()
    .unwrap();
    falconry_enricher::run(settings, Telemetry::off(), CancellationToken::new())
        .await
        .unwrap()
}

/// What the default policy and fingerprint make of the fixture, computed
/// directly from the library (no batches, no store, no tracker).
fn expected() -> (usize, usize) {
    let policy = Policy::load(&[], &[]).unwrap();
    let fp = Fingerprinter::default();
    let sel = Selection {
        extra: EXTRA.iter().map(std::string::ToString::to_string).collect(),
    };
    let mut issue_alerts = 0;
    let mut fingerprints = BTreeSet::new();
    for l in stream_events(&StreamOptions::default()) {
        let v: serde_json::Value = serde_json::from_str(&l.line).unwrap();
        if let Some(a) = normalize(&v, &sel, Default::default()).unwrap() {
            let d = policy.decide(&a, &Default::default());
            if d.action == Action::Issue {
                issue_alerts += 1;
                fingerprints.insert(fp.of(&a));
            }
        }
    }
    (issue_alerts, fingerprints.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_batches_become_one_issue_per_fingerprint_and_a_rerun_opens_nothing() {
    let root = tempfile::tempdir().unwrap();
    let lake = streamed_lake(root.path()).await;
    let issues = root.path().join("issues");
    let (issue_alerts, distinct) = expected();
    assert!(
        distinct > 5 && issue_alerts > distinct,
        "fixture shape: {issue_alerts} alerts, {distinct} fingerprints"
    );

    let s = enrich(&lake, &issues).await;
    assert!(s.batches > 3, "{s:?}");
    assert_eq!(s.failed, 0, "{s:?}");
    assert_eq!(s.created as usize, distinct, "{s:?}");
    assert_eq!(
        (s.created + s.commented + s.duplicates) as usize,
        issue_alerts,
        "{s:?}"
    );
    let files = DirTracker::new(&issues).all().unwrap();
    assert_eq!(files.len(), distinct);
    // Repeats are comments in the issue's file.
    let comments: usize = files
        .iter()
        .map(|(_, _, p)| {
            std::fs::read_to_string(p)
                .unwrap()
                .matches("falconry:occurrence=")
                .count()
        })
        .sum();
    assert_eq!(comments as u64, s.commented);

    // Second run: the cursor says every batch is done.
    let again = enrich(&lake, &issues).await;
    assert_eq!(
        (again.batches, again.created, again.commented),
        (0, 0, 0),
        "{again:?}"
    );

    // Forget the cursors: every batch is read again, the dedup records
    // recognise every occurrence, nothing is opened or commented.
    std::fs::remove_dir_all(issues.join(".falconry/scan")).unwrap();
    let reread = enrich(&lake, &issues).await;
    assert_eq!(reread.batches, s.batches);
    assert_eq!((reread.created, reread.commented), (0, 0), "{reread:?}");
    assert_eq!(reread.duplicates, s.created + s.commented + s.duplicates);
    assert_eq!(DirTracker::new(&issues).all().unwrap().len(), distinct);
}

/// Alerts the default policy only notifies about (no issue).
fn notify_only() -> u64 {
    let policy = Policy::load(&[], &[]).unwrap();
    let sel = Selection {
        extra: EXTRA.iter().map(std::string::ToString::to_string).collect(),
    };
    stream_events(&StreamOptions::default())
        .iter()
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(&l.line).unwrap();
            normalize(&v, &sel, Default::default()).unwrap()
        })
        .filter(|a| policy.decide(a, &Default::default()).action == Action::Notify)
        .count() as u64
}

/// Slack down: an alert whose only outcome is a Slack notice fails (counted
/// apart), its batch stays unread, and the first failure holds the others
/// back instead of each spending its retries. Slack back: the rerun sends them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_only_alerts_are_not_lost_while_slack_is_down() {
    let root = tempfile::tempdir().unwrap();
    let lake = streamed_lake(root.path()).await;
    let issues = root.path().join("issues");
    let wanted = notify_only();
    assert!(wanted > 3, "fixture shape: {wanted} notify-only alerts");
    let slack = SlackServer::start().await;
    for _ in 0..1000 {
        slack.fault(SlackFault::ServerError);
    }
    let down = enrich_with_slack(&lake, &issues, Some(&slack)).await;
    assert!(down.notify_failed > 0, "{down:?}");
    assert!(down.failed >= down.notify_failed, "{down:?}");
    assert_eq!(slack.payloads().len(), 0);
    // One notice's four tries per alert in flight at most, not four per alert.
    assert!(slack.requests() <= 4 * 4, "{} requests", slack.requests());

    slack.clear_faults();
    // The hold lasts a minute; a new process starts without it.
    let back = enrich_with_slack(&lake, &issues, Some(&slack)).await;
    assert_eq!(back.failed, 0, "{back:?}");
    let sent = slack.payloads().len() as u64;
    assert!(
        sent >= wanted,
        "{sent} notices sent, {wanted} notify-only alerts: {back:?}"
    );
}

fn write_batch(lake: &Path, name: &str, lines: &[String]) {
    let dir = lake.join("stream/partition=1/dt=2026-03-14");
    std::fs::create_dir_all(&dir).unwrap();
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    for l in lines {
        e.write_all(l.as_bytes()).unwrap();
        e.write_all(b"\n").unwrap();
    }
    std::fs::write(dir.join(name), e.finish().unwrap()).unwrap();
}

fn hostile_event(offset: u64, name: &str) -> String {
    let huge = format!("powershell -enc {}", "A".repeat(1_000_000));
    serde_json::json!({
        "metadata": {"customerIDString": "0123456789abcdef0123456789abcdef", "offset": offset,
                     "eventType": "EppDetectionSummaryEvent", "eventCreationTime": 1773480000000u64},
        "event": {
            "CompositeId": format!("c:ind:hostile:{offset}"),
            "Name": name,
            "Severity": 90,
            "Hostname": "@octocat <img src=x onerror=alert(1)>",
            "AgentId": "0123456789abcdef0123456789abcdef",
            "UserName": "evil\u{202e}exe.txt @security-team #1",
            "FileName": "```\n# owned\n```",
            "CommandLine": huge,
            "SHA256String": "ab".repeat(32),
            "Description": "[click](https://evil.example/x) ![i](https://evil.example/i.png) <script>alert(1)</script> <!-- --> @admin #42 owner/repo#7",
            "NetworkAccesses": [{"RemoteAddress": "203.0.113.9", "RemotePort": 443}],
            "DnsRequests": [{"DomainName": "evil.example"}],
            "FalconHostLink": "javascript:alert(1)"
        }
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_events_render_safely_and_bad_lines_are_quarantined() {
    let root = tempfile::tempdir().unwrap();
    let lake = root.path().join("lake");
    let issues = root.path().join("issues");
    write_batch(
        &lake,
        "00000000000000000001-00000000000000000004.ndjson.gz",
        &[
            hostile_event(1, "Hostile @team `x` <b>bold</b>"),
            "{\"metadata\":{\"eventType\":\"EppDetectionSummaryEvent\"},\"event\":\"not an object\"}".into(),
            "{\"metadata\":{\"eventType\":\"IncidentSummaryEvent\"}, broken".into(),
            hostile_event(4, "Hostile @team `x` <b>bold</b>"),
        ],
    );
    let s = enrich(&lake, &issues).await;
    assert_eq!(
        (s.alerts, s.quarantined_lines, s.failed),
        (2, 2, 0),
        "{s:?}"
    );
    assert_eq!((s.created, s.commented), (1, 1), "{s:?}");

    let quarantine = std::fs::read_dir(issues.join(".falconry/quarantine"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect::<String>();
    let lines: Vec<serde_json::Value> = quarantine
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        (lines[0]["line"].as_u64(), lines[1]["line"].as_u64()),
        (Some(2), Some(3))
    );

    let files = DirTracker::new(&issues).all().unwrap();
    let text = std::fs::read_to_string(&files[0].2).unwrap();
    let body = text.split("\n---\n\n").nth(1).unwrap();
    assert!(
        body.chars().count() <= 65_536,
        "{} chars",
        body.chars().count()
    );
    assert!(
        body.contains("falconry:fingerprint="),
        "the marker survives trimming"
    );
    for bad in [
        "<script",
        "<img",
        "<b>",
        "](https://evil",
        "@octocat",
        "@security-team",
        "@admin",
        "](javascript",
        "<javascript",
        "\u{202e}",
        "https://evil.example",
    ] {
        assert!(
            !body.contains(bad),
            "{bad:?} survived in the body:\n{}",
            body.lines()
                .filter(|l| l.contains(bad))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    // Titles are plain text on GitHub (no HTML, no links), but mentions and
    // bidi overrides must not survive there either.
    let title = falconry_enricher::tracker::dir::title_of(&text).unwrap();
    for bad in ["@octocat", "@security-team", "@team", "\u{202e}", "\n"] {
        assert!(
            !title.contains(bad),
            "{bad:?} survived in the title: {title}"
        );
    }
}
