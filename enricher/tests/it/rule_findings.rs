//! What the organisation's rules found, through the enricher: findings
//! objects (as the forwarder writes them under `findings/`) scanned from the
//! lake, one issue per (rule, host), repeats as comments, nothing new on a
//! second run nor when an object is rewritten, capped records and bad lines
//! kept out of the issues.

use falconry_common::lake::Layout;
use falconry_common::lake::findings::{
    Capped, Finding, FindingLine, FindingRule, FindingSource, Matched,
};
use falconry_common::telemetry::Telemetry;
use falconry_enricher::tracker::DirTracker;
use falconry_enricher::{EnricherConfig, Summary};
use std::io::Write;
use std::path::Path;
use tokio_util::sync::CancellationToken;

const HOST_A: &str = "67e393bba98ec2eaf28cc40f087d3dc2";
const HOST_B: &str = "0123456789abcdef0123456789abcdef";

fn rule(id: &str, level: &str) -> FindingRule {
    FindingRule {
        id: id.into(),
        title: format!("Rule {id}"),
        level: level.into(),
        status: Some("test".into()),
        tags: vec!["attack.execution".into(), "attack.t1059.001".into()],
        falsepositives: vec![format!("Admins running {id} on purpose")],
        description: Some("A rule of the organisation's own.".into()),
        file: format!("{id}.yml"),
    }
}

fn finding(
    rule_id: &str,
    level: &str,
    aid: &str,
    key: &str,
    line: u64,
    minute: i64,
) -> FindingLine {
    let t = 1_773_480_000_000 + minute * 60_000;
    let event = serde_json::json!({
        "event_simpleName": "ProcessRollup2", "aid": aid, "timestamp": t.to_string(),
        "ImageFileName": "\\Device\\HarddiskVolume3\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
        "CommandLine": format!("powershell.exe -enc {line}"), "ParentBaseFileName": "WINWORD.EXE",
        "UserName": "t.ferreira", "SHA256HashData": format!("{line:064x}"),
    });
    FindingLine::Finding(Box::new(Finding {
        indicator: None,
        rule: rule(rule_id, level),
        source: FindingSource {
            bucket: Some("cs-prod".into()),
            key: key.into(),
            line,
        },
        aid: Some(aid.into()),
        computer_name: None,
        event_simplename: Some("ProcessRollup2".into()),
        timestamp: Some(t),
        matched: vec![Matched {
            field: "ParentBaseFileName".into(),
            value: "WINWORD.EXE".to_owned(),
        }],
        event: event.to_string(),
        event_length: None,
    }))
}

/// Writes one findings object for `source_key`, as the forwarder would.
fn write(lake: &Path, source_key: &str, lines: &[FindingLine], extra: &str) {
    let key = Layout::default().findings_key(source_key, "2026-03-14");
    let path = lake.join(key);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    for l in lines {
        writeln!(e, "{}", serde_json::to_string(l).unwrap()).unwrap();
    }
    e.write_all(extra.as_bytes()).unwrap();
    std::fs::write(path, e.finish().unwrap()).unwrap();
}

async fn enrich(lake: &Path, issues: &Path) -> Summary {
    let settings = EnricherConfig {
        from: Some(format!("file://{}", lake.display())),
        issues: format!("dir://{}", issues.display()),
        until_empty: true,
        ..Default::default()
    }
    .validate()
    .unwrap();
    falconry_enricher::run(settings, Telemetry::off(), CancellationToken::new())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_issue_per_rule_and_host_repeats_as_comments() {
    let dir = tempfile::tempdir().unwrap();
    let (lake, issues) = (dir.path().join("lake"), dir.path().join("issues"));
    let capped = FindingLine::Capped(Box::new(Capped {
        capped: true,
        rule: rule("office", "high"),
        source: FindingSource {
            bucket: None,
            key: "data/b/part-00000.gz".into(),
            line: 900,
        },
        omitted: 5000,
        last_omitted_line: 900,
    }));
    // Rule `office` three times on host A (two files), once on host B;
    // rule `encoded` once on host A; a capped record and a broken line.
    write(
        &lake,
        "data/a/part-00000.gz",
        &[
            finding("office", "high", HOST_A, "data/a/part-00000.gz", 10, 1),
            finding("encoded", "medium", HOST_A, "data/a/part-00000.gz", 10, 1),
            finding("office", "high", HOST_B, "data/a/part-00000.gz", 20, 2),
        ],
        "",
    );
    write(
        &lake,
        "data/b/part-00000.gz",
        &[
            finding("office", "high", HOST_A, "data/b/part-00000.gz", 30, 3),
            finding("office", "high", HOST_A, "data/b/part-00000.gz", 40, 4),
            capped,
        ],
        "{\"rule\": oops\n",
    );
    let s = enrich(&lake, &issues).await;
    assert_eq!((s.batches, s.alerts), (2, 5), "{s:?}");
    assert_eq!((s.created, s.commented), (3, 2), "{s:?}");
    assert_eq!(s.quarantined_lines, 1);
    assert_eq!(s.failed, 0);
    let all = DirTracker::new(&issues).all().unwrap();
    assert_eq!(all.len(), 3);
    let office_a = all
        .iter()
        .map(|(_, _, p)| std::fs::read_to_string(p).unwrap())
        .find(|t| t.contains("Rule office") && t.contains(HOST_A))
        .unwrap();
    for expected in [
        "### Rule",
        "level high",
        "`office.yml`",
        "Admins running office on purpose",
        "`ParentBaseFileName`",
        "line 10 of `data/a/part-00000.gz`",
        "### Athena",
        HOST_A,
        "source:rule",
        "Execution / T1059.001",
    ] {
        assert!(
            office_a.contains(expected),
            "{expected:?} not in:\n{office_a}"
        );
    }

    // A second run: nothing new. A rewritten object (a redelivered notice)
    // is read again, and its alerts are recognised.
    let again = enrich(&lake, &issues).await;
    assert_eq!((again.batches, again.alerts), (0, 0), "{again:?}");
    std::thread::sleep(std::time::Duration::from_millis(20));
    write(
        &lake,
        "data/a/part-00000.gz",
        &[finding(
            "office",
            "high",
            HOST_A,
            "data/a/part-00000.gz",
            10,
            1,
        )],
        "",
    );
    let reread = enrich(&lake, &issues).await;
    assert_eq!((reread.batches, reread.alerts), (1, 1), "{reread:?}");
    assert_eq!(
        (reread.created, reread.commented, reread.duplicates),
        (0, 0, 1)
    );
    assert_eq!(DirTracker::new(&issues).all().unwrap().len(), 3);
}
