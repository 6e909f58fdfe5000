//! Indicators of compromise on moto S3: the forwarder's live matching (feeds
//! in an S3 prefix, findings of kind ioc, each match recorded), then hunts
//! through the lake: live matches are known, an indicator learned later is
//! new once, two replicas at once report each match once, a claim left by a
//! crashed hunt is taken over after its lease.

use crate::support::*;
use falconry_common::lake::findings::{FindingLine, is_findings_key};
use falconry_common::telemetry::Telemetry;
use falconry_common::{Location, Store};
use falconry_detect::ioc::{IndicatorSet, IocSettings, IocSource, source};
use falconry_fixtures::{
    BatchOptions, DROPPED_DLL_SHA256, FIRST_SEEN_SHA256, SCENARIO_HOST_AID, fdr_batch,
    indicators_csv, indicators_stix, notice_json,
};
use falconry_forwarder::hunt::{self, HuntOptions, HuntReport, MatchState, record};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn findings(gz: &[u8]) -> Vec<falconry_common::lake::findings::Finding> {
    String::from_utf8(gunzip(gz))
        .unwrap()
        .lines()
        .filter_map(|l| match serde_json::from_str(l).unwrap() {
            FindingLine::Finding(f) => Some(*f),
            FindingLine::Capped(_) => None,
        })
        .collect()
}

async fn set(sources: &[&str]) -> Arc<IndicatorSet> {
    let sources: Vec<IocSource> = sources
        .iter()
        .map(|s| IocSource::parse(s).unwrap())
        .collect();
    let loaded = source::load(&sources, chrono::Utc::now().timestamp_millis())
        .await
        .unwrap();
    Arc::new(IndicatorSet::new(loaded.indicators, false))
}

async fn run_hunt(lake: &Location, set: Arc<IndicatorSet>, opts: &HuntOptions) -> HuntReport {
    let (tx, _rx) = tokio::sync::watch::channel(Default::default());
    hunt::hunt(lake, set, opts, tx, CancellationToken::new())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_matches_and_later_hunts_report_each_match_once() {
    let aws = aws().await;
    let (source, dest, intel, queue) = (
        aws.bucket("cs").await,
        aws.bucket("ours").await,
        aws.bucket("intel").await,
        aws.queue().await,
    );
    let start = BatchOptions::default().start_ms;
    aws.put(
        &intel,
        "feeds/campaign.stix.json",
        indicators_stix(start).into_bytes(),
    )
    .await;
    aws.put(
        &intel,
        "feeds/internal.csv",
        indicators_csv(start).into_bytes(),
    )
    .await;
    let data = fdr_batch(&BatchOptions {
        seed: 31,
        data_files: 2,
        events_per_file: 300,
        ..BatchOptions::default()
    });
    aws.upload(&source, &data).await;
    aws.send(&queue, &notice_json(&data, &source)).await;
    let mut s = settings(&queue, &dest, |_| {});
    s.indicators = Some(IocSettings {
        sources: vec![IocSource::parse(&format!("s3://{intel}/feeds")).unwrap()],
        command_line_urls: false,
        reload_interval: Duration::from_secs(1),
    });
    let summary = falconry_forwarder::run(s, Telemetry::off(), CancellationToken::new())
        .await
        .unwrap();
    assert_eq!((summary.done, summary.failed), (1, 0));
    // Live: the indicators' findings, next to the (absent) rules'.
    let keys: Vec<String> = aws
        .keys(&dest, "findings/")
        .await
        .into_iter()
        .filter(|k| is_findings_key(k))
        .collect();
    assert!(!keys.is_empty());
    let mut live = Vec::new();
    for k in &keys {
        live.extend(findings(&aws.get(&dest, k).await.unwrap()));
    }
    let ind = |f: &falconry_common::lake::findings::Finding| f.indicator.clone().unwrap();
    assert!(live.iter().all(|f| ind(f).found_by == "live"));
    let hash = live
        .iter()
        .find(|f| ind(f).kind == "sha256")
        .expect("the dropped DLL's hash, live");
    assert_eq!(ind(hash).value, DROPPED_DLL_SHA256);
    assert_eq!(hash.aid.as_deref(), Some(SCENARIO_HOST_AID));
    assert_eq!(hash.rule.id, format!("ioc:sha256:{DROPPED_DLL_SHA256}"));
    assert!(
        hash.event.contains(DROPPED_DLL_SHA256),
        "the event, as FDR wrote it"
    );
    let kinds: std::collections::BTreeSet<String> = live.iter().map(|f| ind(f).kind).collect();
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        vec!["cidr", "domain", "file-name", "ipv4", "sha256"]
    );
    let recorded = aws.keys(&dest, "state/hunt/matches/").await;
    assert_eq!(recorded.len(), live.len(), "each live match recorded");

    // A hunt with the same feeds: every match is known.
    let lake = Location::parse(&format!("s3://{dest}")).unwrap();
    let feeds = set(&[&format!("s3://{intel}/feeds")]).await;
    let opts = HuntOptions::default();
    let r = run_hunt(&lake, feeds.clone(), &opts).await;
    assert_eq!(r.new, 0, "{:?}", r.matches);
    assert_eq!(r.known as usize, live.len());
    assert!(r.findings.is_none());
    assert!(r.row_groups > 0 && r.rows >= 600);

    // An indicator learned later: new once, as a finding; then known.
    aws.put(
        &intel,
        "later/first-seen.sha256.txt",
        format!("{FIRST_SEEN_SHA256}\n").into_bytes(),
    )
    .await;
    let later = set(&[&format!("s3://{intel}/later")]).await;
    let r = run_hunt(&lake, later.clone(), &opts).await;
    assert!(r.new >= 1 && r.known == 0, "{r:?}");
    assert!(
        r.matches
            .iter()
            .all(|m| m.state == MatchState::New && m.aid.as_deref() == Some(SCENARIO_HOST_AID))
    );
    let key = r.findings.clone().unwrap();
    let hunted = findings(&aws.get(&dest, &key).await.unwrap());
    assert_eq!(hunted.len() as u64, r.new);
    assert!(
        hunted
            .iter()
            .all(|f| ind(f).found_by == "hunt" && f.event.contains(FIRST_SEEN_SHA256))
    );
    let again = run_hunt(&lake, later.clone(), &opts).await;
    assert_eq!((again.new, again.known), (0, r.new));
    // --dry-run writes nothing.
    let before = aws.keys(&dest, "").await;
    let dry = run_hunt(
        &lake,
        later.clone(),
        &HuntOptions {
            record: false,
            state_prefix: "state/hunt-dry".into(),
            ..HuntOptions::default()
        },
    )
    .await;
    assert_eq!(dry.new, r.new);
    assert_eq!(aws.keys(&dest, "").await, before);

    // Two replicas at once, on a fresh state: each match is new in exactly one.
    let fresh = HuntOptions {
        state_prefix: "state/hunt-b".into(),
        ..HuntOptions::default()
    };
    let (a, b) = tokio::join!(
        run_hunt(&lake, feeds.clone(), &fresh),
        run_hunt(&lake, feeds.clone(), &fresh)
    );
    assert_eq!(a.new + b.new, live.len() as u64, "a {} b {}", a.new, b.new);
    assert_eq!(a.known + b.known, live.len() as u64);

    // A hunt that died between its claims and its findings: within the
    // lease the claims hold (known); after it, they are taken over.
    let state = falconry_common::lake::state::HuntState::new("state/hunt-c");
    let store = Store::open(&lake).await;
    let now = chrono::Utc::now().timestamp_millis();
    let m = &r.matches[0];
    let claim_key = record::key(
        &state,
        &m.indicator,
        &record::event_key(
            m.event_id.as_deref(),
            m.aid.as_deref(),
            None,
            &m.field,
            &m.matched,
        ),
    );
    let pending = |at_ms| record::Record {
        status: record::Status::Pending,
        indicator: m.indicator.clone(),
        event_id: m.event_id.clone(),
        aid: m.aid.clone(),
        field: m.field.clone(),
        file: m.file.clone(),
        at_ms,
        findings: None,
    };
    assert!(
        record::claim(&store, &claim_key, pending(now), now)
            .await
            .unwrap()
            .is_some()
    );
    let c = HuntOptions {
        state_prefix: "state/hunt-c".into(),
        ..HuntOptions::default()
    };
    let held = run_hunt(&lake, later.clone(), &c).await;
    assert_eq!(held.known, 1, "{held:?}");
    let stale = HuntOptions {
        now_ms: now + record::LEASE_MS + 1,
        ..c
    };
    let taken = run_hunt(&lake, later.clone(), &stale).await;
    assert_eq!((taken.new, taken.known), (1, r.new - 1), "{taken:?}");
}

async fn findings_of(aws: &Aws, dest: &str) -> Vec<falconry_common::lake::findings::Finding> {
    let mut out = Vec::new();
    for k in aws.keys(dest, "findings/").await {
        if is_findings_key(&k) {
            out.extend(findings(&aws.get(dest, &k).await.unwrap()));
        }
    }
    out
}

async fn hunted(aws: &Aws, dest: &str) -> usize {
    aws.keys(dest, "state/hunt/hunted/").await.len()
}

/// Waits (up to a minute) until `check` holds.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..240 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("timed out waiting for {what}");
}

/// The hunt daemon on moto S3 with the project's TAXII server: at start it
/// pulls the collection (kept as a STIX bundle, the cursor saved) and hunts
/// every indicator back; an indicator added later to the S3 feed, and one
/// added later to the collection, are each hunted alone; a restarted daemon
/// hunts nothing again and pulls only what is new.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_hunts_each_new_indicator_back_once() {
    use falconry_forwarder::hunt::config::HuntConfig;
    use falconry_forwarder::hunt::daemon;
    use falconry_testkit::taxii::{PASSWORD, TaxiiServer, USER};

    let aws = aws().await;
    let (source, dest, intel, queue) = (
        aws.bucket("cs").await,
        aws.bucket("ours").await,
        aws.bucket("intel").await,
        aws.queue().await,
    );
    let start = BatchOptions::default().start_ms;
    let data = fdr_batch(&BatchOptions {
        seed: 41,
        data_files: 2,
        events_per_file: 200,
        ..BatchOptions::default()
    });
    aws.upload(&source, &data).await;
    aws.send(&queue, &notice_json(&data, &source)).await;
    let summary = falconry_forwarder::run(
        settings(&queue, &dest, |_| {}),
        Telemetry::off(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!((summary.done, summary.failed), (1, 0));

    // The CSV feed in S3; the STIX indicators in a TAXII collection.
    aws.put(
        &intel,
        "feeds/internal.csv",
        indicators_csv(start).into_bytes(),
    )
    .await;
    let bundle: serde_json::Value = serde_json::from_str(&indicators_stix(start)).unwrap();
    let objects = bundle["objects"].as_array().unwrap().clone();
    let taxii = TaxiiServer::start().await;
    taxii.add("c1", "2026-01-01T00:00:00.000Z", objects);
    let config = HuntConfig {
        lake: Some(format!("s3://{dest}")),
        indicators: vec![
            format!("s3://{intel}/feeds/"),
            format!("taxii:{}", taxii.collection_url("c1")),
        ],
        lookback: Duration::from_secs(3650 * 86_400),
        interval: Duration::from_secs(1),
        taxii_user: Some(USER.into()),
        taxii_password: Some(falconry_common::Secret::new(PASSWORD)),
        ..HuntConfig::default()
    };
    let settings = config.validate(None, &[], false).unwrap();
    let shutdown = CancellationToken::new();
    let daemon = tokio::spawn(daemon::run(
        settings.clone(),
        Telemetry::off(),
        shutdown.clone(),
    ));
    // The feeds' 6 indicators in force (of the CSV's 4, one is bad and one
    // expired; of the bundle's, the sequence pattern is unsupported) are all
    // hunted back.
    eventually("the first hunt", || async {
        hunted(&aws, &dest).await == 6
    })
    .await;
    let first = findings_of(&aws, &dest).await;
    let ind = |f: &falconry_common::lake::findings::Finding| f.indicator.clone().unwrap();
    assert!(first.iter().all(|f| ind(f).found_by == "hunt"));
    let kinds: std::collections::BTreeSet<String> = first.iter().map(|f| ind(f).kind).collect();
    assert!(
        kinds.contains("sha256") && kinds.contains("cidr") && kinds.contains("domain"),
        "{kinds:?}"
    );
    assert_eq!(
        aws.keys(&dest, "state/hunt/taxii/").await.len(),
        1,
        "one bundle per pull"
    );
    assert_eq!(aws.keys(&dest, "state/hunt/cursors/").await.len(), 1);
    let before = hunted(&aws, &dest).await;

    // Learned later: a hash in the S3 feed, and one in the collection.
    aws.put(
        &intel,
        "feeds/later.csv",
        format!("type,value\nsha256,{FIRST_SEEN_SHA256}\n").into_bytes(),
    )
    .await;
    eventually("the S3 feed's new indicator hunted", || async {
        hunted(&aws, &dest).await == before + 1
    })
    .await;
    taxii.add(
        "c1",
        "2026-02-01T00:00:00.000Z",
        vec![serde_json::json!({
            "type": "indicator", "spec_version": "2.1",
            "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            "created": "2026-02-01T00:00:00.000Z", "modified": "2026-02-01T00:00:00.000Z",
            "name": "The rundll32 host's address", "pattern_type": "stix",
            "pattern": "[ipv4-addr:value = '10.66.77.88']",
            "valid_from": "2026-02-01T00:00:00.000Z"
        })],
    );
    eventually("the collection's new indicator hunted", || async {
        hunted(&aws, &dest).await == before + 2
    })
    .await;
    let later = findings_of(&aws, &dest).await;
    let new_hash: Vec<_> = later
        .iter()
        .filter(|f| ind(f).value == FIRST_SEEN_SHA256)
        .collect();
    assert!(!new_hash.is_empty(), "the later hash is found in the lake");
    shutdown.cancel();
    let summary = daemon.await.unwrap().unwrap();
    assert_eq!(summary.failures, 0, "{summary:?}");
    assert!(summary.hunts >= 3, "{summary:?}");
    assert_eq!(aws.keys(&dest, "state/hunt/taxii/").await.len(), 2);

    // Restarted: nothing hunted again, the collection asked from its cursor.
    let asked = taxii.requests().len();
    let shutdown = CancellationToken::new();
    let again = tokio::spawn(daemon::run(settings, Telemetry::off(), shutdown.clone()));
    eventually("a pull from the cursor", || async {
        taxii.requests().len() > asked
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    shutdown.cancel();
    let summary = again.await.unwrap().unwrap();
    assert_eq!((summary.hunts, summary.failures), (0, 0), "{summary:?}");
    let resumed = &taxii.requests()[asked];
    assert_eq!(
        resumed.query.get("added_after").map(String::as_str),
        Some("2026-02-01T00:00:00.000Z")
    );
    assert_eq!(findings_of(&aws, &dest).await.len(), later.len());
}
