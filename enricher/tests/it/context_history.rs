//! The `history` context provider against real stand-ins: a lake written by
//! the forwarder itself from the project's FDR fixtures (Parquet back end),
//! and the project's Athena test server speaking the service's JSON 1.1
//! protocol on 127.0.0.1 (Athena back end). The planted incident's
//! detection, as the stream fixtures carry it, is the alert.

use falconry_common::Secret;
use falconry_common::aws::AwsSettings;
use falconry_common::telemetry::Telemetry;
use falconry_enricher::alert::Alert;
use falconry_enricher::alert::normalize::normalize;
use falconry_enricher::context::history::{AthenaConfig, HistoryBackend, HistoryConfig, build};
use falconry_enricher::context::{Found, Provider};
use falconry_fixtures::{
    BAD_DOMAIN, BatchOptions, C2_IP, C2_PORT, FdrBatch, POWERSHELL_COMMAND_LINE,
    RUNDLL32_COMMAND_LINE, SCENARIO_HOST_AID, SCENARIO_HOSTNAME, SCENARIO_USER, StreamOptions,
    fdr_batch, lookup_batch, notice_json, stream_events, write_files,
};
use falconry_testkit::athena::{AthenaServer, End, Plan};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The planted detection (EPP, on the scenario host) as the enricher sees it.
fn scenario_alert() -> Alert {
    stream_events(&StreamOptions::default())
        .iter()
        .filter(|l| l.event_type == "EppDetectionSummaryEvent")
        .filter_map(|l| {
            let v: Value = serde_json::from_str(&l.line).ok()?;
            normalize(&v, &Default::default(), Default::default()).ok()?
        })
        .find(|a| a.host.aid.as_deref() == Some(SCENARIO_HOST_AID))
        .expect("the stream fixtures carry the planted detection")
}

/// Runs the forwarder over `batches` (a `dir://` queue, `file://` source and destination).
async fn forward(root: &Path, batches: &[&FdrBatch]) {
    let queue = root.join("queue");
    std::fs::create_dir_all(&queue).unwrap();
    for (i, b) in batches.iter().enumerate() {
        write_files(b, &root.join("source")).unwrap();
        std::fs::write(
            queue.join(format!("{i:03}.json")),
            notice_json(b, "fdr-bucket"),
        )
        .unwrap();
    }
    let config = falconry_forwarder::ForwarderConfig {
        queue: Some(format!("dir://{}", queue.display())),
        source: Some(format!("file://{}", root.join("source").display())),
        dest: Some(format!("file://{}", root.join("lake").display())),
        until_empty: true,
        wait_time: Duration::from_millis(200),
        ..falconry_forwarder::ForwarderConfig::default()
    };
    falconry_forwarder::run(
        config.validate().unwrap(),
        Telemetry::off(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
}

/// What the fixture's own lines say the host did in the window: events by
/// type, counted straight from the gzip NDJSON the forwarder read.
fn oracle(batch: &FdrBatch, aid: &str, from_ms: i64, to_ms: i64) -> BTreeMap<String, u64> {
    let mut by_type = BTreeMap::new();
    for f in batch.files.iter().filter(|f| !f.bytes.is_empty()) {
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(&f.bytes[..])
            .read_to_string(&mut text)
            .unwrap();
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            let ts = match &v["timestamp"] {
                Value::String(s) => s.parse::<i64>().ok(),
                Value::Number(n) => n.as_i64(),
                _ => None,
            };
            if v["aid"] == aid && ts.is_some_and(|t| (from_ms..=to_ms).contains(&t)) {
                let kind = v["event_simpleName"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                *by_type.entry(kind).or_default() += 1;
            }
        }
    }
    by_type
}

fn parquet_config(root: &Path) -> HistoryConfig {
    HistoryConfig {
        backend: HistoryBackend::Parquet,
        lake: Some(format!("file://{}", root.join("lake").display())),
        ..HistoryConfig::default()
    }
}

async fn provider(config: &HistoryConfig, aws: &AwsSettings) -> Arc<dyn Provider> {
    build(config, aws, true)
        .await
        .unwrap()
        .expect("a provider when not off")
}

fn has(list: &Value, key: &str, value: &str) -> Option<u64> {
    list.as_array()?
        .iter()
        .find(|e| e[key] == value)
        .and_then(|e| e["count"].as_u64())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lake_tells_what_the_host_did_around_the_detection() {
    let dir = tempfile::tempdir().unwrap();
    let opts = BatchOptions::default();
    let (data, lookup) = (fdr_batch(&opts), lookup_batch(&opts));
    // A later batch (10:30 to 12:00, other hosts): its 10h files are in a
    // partition the window covers, but their timestamps are all past it.
    let later = fdr_batch(&BatchOptions {
        seed: 8,
        start_ms: opts.start_ms + 70 * 60_000,
        hard_cases: false,
        ..BatchOptions::default()
    });
    forward(dir.path(), &[&data, &lookup, &later]).await;

    let alert = scenario_alert();
    let p = provider(&parquet_config(dir.path()), &AwsSettings::default()).await;
    assert_eq!(
        (p.id(), p.title()),
        ("history", "Host activity around the detection")
    );
    let found = p.lookup(&alert).await.unwrap();
    let d = &found.data;

    // Exactly what the fixture lines say, type by type.
    let window = 30 * 60_000;
    let expected = oracle(
        &data,
        SCENARIO_HOST_AID,
        alert.time_ms - window,
        alert.time_ms + window,
    );
    let by_type: BTreeMap<String, u64> = d["by_type"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    assert_eq!(by_type, expected, "{:#}", d);
    assert_eq!(d["events"], expected.values().sum::<u64>());
    assert_eq!(d["processes"], expected["ProcessRollup2"]);

    // The incident: Word starts PowerShell, which resolves the domain and
    // connects; rundll32 runs the DLL; the beacon half an hour later repeats both.
    let images = d["images"].as_array().unwrap();
    for exe in [
        "\\powershell.exe",
        "\\rundll32.exe",
        "\\WINWORD.EXE",
        "\\synchelper.exe",
    ] {
        assert!(
            images
                .iter()
                .any(|i| i["image"].as_str().unwrap().ends_with(exe)),
            "{exe} in {images:?}"
        );
    }
    let commands: Vec<&str> = d["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["command_line"].as_str().unwrap())
        .collect();
    assert!(commands.contains(&POWERSHELL_COMMAND_LINE), "{commands:?}");
    assert!(commands.contains(&RUNDLL32_COMMAND_LINE), "{commands:?}");
    assert_eq!(
        has(&d["dns"], "domain", BAD_DOMAIN),
        Some(2),
        "{}",
        d["dns"]
    );
    let c2 = format!("{C2_IP}:{C2_PORT}");
    assert_eq!(
        has(&d["connections"], "remote", &c2),
        Some(2),
        "{}",
        d["connections"]
    );
    assert!(
        found
            .table
            .rows
            .iter()
            .any(|r| r[0] == "dns" && r[1] == BAD_DOMAIN && r[2] == "2")
    );
    assert!(
        found
            .notes
            .iter()
            .any(|n| n.contains("-nop -w hidden -enc")),
        "{:?}",
        found.notes
    );

    // The host's inventory row and the user's account row.
    assert_eq!(
        d["host"]["computer_name"], SCENARIO_HOSTNAME,
        "{}",
        d["host"]
    );
    assert_eq!(d["host"]["version"], "Windows 11");
    assert_eq!(d["host"]["agent_version"], "7.21.20108.0");
    assert_eq!(d["host"]["first_seen"], "2025-10-09T08:53:20Z");
    assert_eq!(d["user"]["user_name"], SCENARIO_USER, "{}", d["user"]);
    assert_eq!(d["user"]["last_logged_on_host"], SCENARIO_HOSTNAME);
    assert!(
        found
            .notes
            .iter()
            .any(|n| n.starts_with("Host (aidmaster): host WKS-ACCT-0042, OS Windows 11"))
    );

    // Row groups: the later batch's 10h files were skipped on their
    // timestamp statistics, without being decoded.
    let later_files =
        std::fs::read_dir(dir.path().join("lake/parquet/events/dt=2026-03-14/hour=10"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains(&later.batch_id)
            })
            .count() as u64;
    assert!(later_files >= 1);
    let s = &d["scanned"];
    let (total, read) = (
        s["row_groups_total"].as_u64().unwrap(),
        s["row_groups_read"].as_u64().unwrap(),
    );
    assert_eq!(
        s["files"].as_u64().unwrap(),
        total,
        "one row group per small file"
    );
    assert_eq!(
        total - read,
        later_files,
        "{s}: the later batch's files are the ones skipped"
    );
    assert_eq!(d["partial"], false);

    // A host the lake has never seen: nothing known.
    let mut stranger = alert.clone();
    stranger.host.aid = Some("0123456789abcdef0123456789abcdef".into());
    stranger.user = Default::default();
    assert_eq!(p.lookup(&stranger).await.unwrap(), Found::default());
    // An aid that is no aid is refused, not searched.
    stranger.host.aid = Some("../../etc".into());
    assert!(
        p.lookup(&stranger)
            .await
            .unwrap_err()
            .0
            .contains("not 32 hex")
    );

    // Caps: one file per table, and the counts say they are partial.
    let capped = provider(
        &HistoryConfig {
            max_files: 1,
            ..parquet_config(dir.path())
        },
        &AwsSettings::default(),
    )
    .await;
    let f = capped.lookup(&alert).await.unwrap();
    assert_eq!(f.data["partial"], true);
    assert_eq!(f.data["scanned"]["files"], 1);
    assert!(
        f.notes
            .iter()
            .any(|n| n.contains("Counts are partial: stopped at max_files (1)")),
        "{:?}",
        f.notes
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_is_checked_before_any_call() {
    assert!(
        build(&HistoryConfig::default(), &AwsSettings::default(), true)
            .await
            .unwrap()
            .is_none()
    );
    let bad = HistoryConfig {
        backend: HistoryBackend::Parquet,
        window: Duration::from_secs(5),
        top: 0,
        ..HistoryConfig::default()
    };
    let errors = bad.validate().unwrap_err();
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("lake is required")));
    let toml = r#"
        backend = "athena"
        window = "15m"
        [athena]
        workgroup = "falconry"
        max_bytes_scanned = 1000000000
        poll_interval = "200ms"
    "#;
    let c: HistoryConfig = toml::from_str(toml).unwrap();
    assert_eq!(c.window, Duration::from_secs(900));
    assert_eq!(c.athena.poll_interval, Duration::from_millis(200));
    assert_eq!(c.athena.database, "falconry");
    assert!(toml::from_str::<HistoryConfig>("windwo = \"1m\"").is_err());
    let bad_db = HistoryConfig {
        backend: HistoryBackend::Athena,
        athena: AthenaConfig {
            database: "falconry; DROP".into(),
            ..AthenaConfig::default()
        },
        ..HistoryConfig::default()
    };
    assert!(bad_db.validate().is_err());
}

// ---------------------------------------------------------------- Athena

fn aws(server: &AthenaServer) -> AwsSettings {
    AwsSettings {
        region: Some("us-east-1".into()),
        endpoint: Some(server.endpoint()),
        access_key_id: Some("AKIDTEST".into()),
        secret_access_key: Some(Secret::new("test-secret")),
        session_token: None,
    }
}

fn athena_config(tweak: impl FnOnce(&mut AthenaConfig)) -> HistoryConfig {
    let mut athena = AthenaConfig {
        workgroup: "falconry".into(),
        database: "lake_db".into(),
        output_location: Some("s3://athena-results/falconry/".into()),
        max_bytes_scanned: Some(1_000_000_000),
        poll_interval: Duration::from_millis(20),
        timeout: Duration::from_secs(10),
    };
    tweak(&mut athena);
    HistoryConfig {
        backend: HistoryBackend::Athena,
        athena,
        ..HistoryConfig::default()
    }
}

fn s(v: &str) -> Option<String> {
    Some(v.to_owned())
}

/// Answers as the lake would: the summary, the aidmaster row, the userinfo row.
fn lake_answers(sql: &str) -> Plan {
    if sql.contains(".events") {
        let mut p = Plan::rows(
            &["kind", "key", "n", "processes", "first_seen"],
            vec![
                vec![
                    s("total"),
                    None,
                    s("27"),
                    s("6"),
                    s("2026-03-14 09:30:00.000"),
                ],
                vec![s("type"), s("ProcessRollup2"), s("6"), s("6"), None],
                vec![s("type"), s("DnsRequest"), s("2"), s("0"), None],
                vec![
                    s("image"),
                    s("\\Device\\HarddiskVolume3\\Windows\\System32\\rundll32.exe"),
                    s("1"),
                    s("1"),
                    None,
                ],
                vec![
                    s("image"),
                    s(
                        "\\Device\\HarddiskVolume3\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
                    ),
                    s("1"),
                    s("1"),
                    None,
                ],
                vec![
                    s("command"),
                    s(RUNDLL32_COMMAND_LINE),
                    s("1"),
                    s("1"),
                    s("2026-03-14 09:51:05.000"),
                ],
                vec![
                    s("command"),
                    s(POWERSHELL_COMMAND_LINE),
                    s("1"),
                    s("1"),
                    s("2026-03-14 09:50:40.000"),
                ],
                vec![s("domain"), s(BAD_DOMAIN), s("2"), s("0"), None],
                vec![s("remote"), s("203.0.113.66:443"), s("2"), s("0"), None],
            ],
        );
        p.queued = 2;
        p.running = 2;
        p.scanned = 123_456_789;
        p
    } else if sql.contains(".aidmaster") {
        Plan::rows(
            &[
                "computer_name",
                "version",
                "agent_version",
                "first_seen",
                "time",
            ],
            vec![vec![
                s(SCENARIO_HOSTNAME),
                s("Windows 11"),
                None,
                s("2025-10-09 08:53:20.000"),
                s("2026-03-14 10:10:00.000"),
            ]],
        )
    } else {
        Plan::rows(
            &["user_name", "account_type", "time"],
            vec![vec![
                s(SCENARIO_USER),
                s("Domain User"),
                s("2026-03-14 10:10:00.000"),
            ]],
        )
    }
}

/// The SQL with its string literals taken out (`'...'`, quotes doubled inside).
fn outside_literals(sql: &str) -> String {
    let mut out = String::new();
    let mut chars = sql.chars().peekable();
    let mut inside = false;
    while let Some(c) = chars.next() {
        match (inside, c) {
            (false, '\'') => inside = true,
            (true, '\'') if chars.peek() == Some(&'\'') => {
                chars.next();
            }
            (true, '\'') => {
                inside = false;
                out.push_str("''");
            }
            (false, c) => out.push(c),
            (true, _) => {}
        }
    }
    assert!(!inside, "an unterminated literal in {sql}");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn athena_answers_the_same_questions_within_partitions_and_host() {
    let server = AthenaServer::start(lake_answers).await;
    let p = provider(&athena_config(|_| {}), &aws(&server)).await;
    // No workgroup check when the bound is ours.
    assert!(!server.calls().contains(&"GetWorkGroup".to_owned()));
    server.throttle(2);

    let mut alert = scenario_alert();
    alert.user.name = Some("CORP\\t.ferreira' OR 'x'='x".into());
    alert.user.sid = Some("S-1-5-21-1' --".into());
    let found = p.lookup(&alert).await.unwrap();
    let d = &found.data;
    assert_eq!(
        (d["events"].as_u64(), d["processes"].as_u64()),
        (Some(27), Some(6))
    );
    assert_eq!(has(&d["dns"], "domain", BAD_DOMAIN), Some(2));
    assert_eq!(
        has(&d["connections"], "remote", "203.0.113.66:443"),
        Some(2)
    );
    assert_eq!(
        d["commands"][0]["command_line"], POWERSHELL_COMMAND_LINE,
        "earliest first"
    );
    assert_eq!(d["commands"][0]["first_seen"], "2026-03-14T09:50:40Z");
    assert_eq!(d["by_type"]["ProcessRollup2"], 6);
    assert_eq!(d["host"]["computer_name"], SCENARIO_HOSTNAME);
    assert_eq!(d["host"]["first_seen"], "2025-10-09T08:53:20Z");
    assert_eq!(d["host"].get("agent_version"), None, "NULL stays out");
    assert_eq!(d["user"]["user_name"], SCENARIO_USER);
    assert_eq!(d["scanned"]["backend"], "athena");
    assert_eq!(d["scanned"]["bytes"], 123_456_789);

    // The throttled calls were retried by the SDK, and every query went
    // QUEUED → RUNNING → SUCCEEDED, polled until it did.
    assert_eq!(server.throttled(), 2);
    let started = server.started();
    assert_eq!(started.len(), 3, "{started:?}");
    let events = started.iter().find(|q| q.sql.contains(".events")).unwrap();
    assert!(
        server.polls(&events.id) >= 5,
        "{}",
        server.polls(&events.id)
    );
    for q in &started {
        assert_eq!(q.workgroup.as_deref(), Some("falconry"));
        assert_eq!(q.database.as_deref(), Some("lake_db"));
        assert_eq!(
            q.output_location.as_deref(),
            Some("s3://athena-results/falconry/")
        );
    }
    assert!(server.stopped().is_empty());
    // The summary's 9 rows and header came over 4 pages of 3 rows; each lookup over 1.
    let pages = server
        .calls()
        .iter()
        .filter(|c| *c == "GetQueryResults")
        .count();
    assert!(pages >= 6, "{pages} GetQueryResults calls");

    // The SQL restricts partitions, host and time...
    assert!(
        events
            .sql
            .contains("WHERE (dt = '2026-03-14' AND hour BETWEEN '09' AND '10')"),
        "{}",
        events.sql
    );
    assert!(
        events
            .sql
            .contains(&format!("AND aid = '{SCENARIO_HOST_AID}'")),
        "{}",
        events.sql
    );
    assert!(events.sql.contains("AND \"timestamp\" BETWEEN TIMESTAMP '2026-03-14 09:22:10.000' AND TIMESTAMP '2026-03-14 10:22:10.000'"), "{}", events.sql);
    let host = started
        .iter()
        .find(|q| q.sql.contains(".aidmaster"))
        .unwrap();
    assert!(host.sql.contains("WHERE dt BETWEEN '2026-03-07' AND '2026-03-14'\n  AND aid = '67e393bba98ec2eaf28cc40f087d3dc2'"), "{}", host.sql);
    // ... and what came from the alert sits inside literals only: the user
    // name with its quotes doubled, the SID that is no SID left out.
    let user = started
        .iter()
        .find(|q| q.sql.contains(".userinfo"))
        .unwrap();
    assert!(
        user.sql
            .contains("lower(user_name) = 't.ferreira'' or ''x''=''x'"),
        "{}",
        user.sql
    );
    assert!(!user.sql.contains("S-1-5-21-1"), "{}", user.sql);
    for q in &started {
        let bare = outside_literals(&q.sql);
        assert!(!bare.to_lowercase().contains("or 'x"), "{bare}");
        assert!(!bare.contains("x''=''x") && !bare.contains("--"), "{bare}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workgroup_without_a_cutoff_needs_our_own_bound() {
    let server = AthenaServer::start(lake_answers).await;
    let unbounded = athena_config(|a| a.max_bytes_scanned = None);
    let err = build(&unbounded, &aws(&server), true).await.err().unwrap();
    assert!(err.contains("no per-query bytes-scanned cutoff"), "{err}");
    server.set_cutoff(Some(10_000_000_000));
    assert!(
        build(&unbounded, &aws(&server), true)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(server.calls(), ["GetWorkGroup", "GetWorkGroup"]);
    // Offline (check-config): built without asking Athena anything.
    server.set_cutoff(None);
    assert!(
        build(&unbounded, &aws(&server), false)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(server.calls(), ["GetWorkGroup", "GetWorkGroup"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_query_says_why() {
    let server = AthenaServer::start(|sql| {
        let mut p = lake_answers(sql);
        if sql.contains(".events") {
            p.end = End::Failed(
                "HIVE_BAD_DATA: Malformed Parquet file. s3://lake/parquet/events/x.parquet".into(),
            );
        }
        p
    })
    .await;
    let p = provider(&athena_config(|_| {}), &aws(&server)).await;
    let err = p.lookup(&scenario_alert()).await.unwrap_err();
    assert!(
        err.0
            .contains("FAILED: HIVE_BAD_DATA: Malformed Parquet file"),
        "{}",
        err.0
    );
    assert!(server.stopped().is_empty(), "nothing left running to stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_that_never_finishes_is_stopped_at_the_deadline() {
    let server = AthenaServer::start(|sql| Plan {
        end: End::Never,
        ..lake_answers(sql)
    })
    .await;
    let p = provider(
        &athena_config(|a| a.timeout = Duration::from_millis(600)),
        &aws(&server),
    )
    .await;
    let err = p.lookup(&scenario_alert()).await.unwrap_err();
    assert!(
        err.0.contains("still running after 600ms: stopped"),
        "{}",
        err.0
    );
    let events = server
        .started()
        .into_iter()
        .find(|q| q.sql.contains(".events"))
        .unwrap();
    assert!(
        server.stopped().contains(&events.id),
        "{:?}",
        server.stopped()
    );
    assert!(server.polls(&events.id) >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_scanning_past_the_bound_is_stopped() {
    let server = AthenaServer::start(|sql| Plan {
        end: End::Never,
        scanned: 50_000_000_000,
        ..lake_answers(sql)
    })
    .await;
    let p = provider(&athena_config(|_| {}), &aws(&server)).await;
    let err = p.lookup(&scenario_alert()).await.unwrap_err();
    assert!(
        err.0.contains(
            "scanned 50000000000 bytes, more than max_bytes_scanned (1000000000): stopped"
        ),
        "{}",
        err.0
    );
    let events = server
        .started()
        .into_iter()
        .find(|q| q.sql.contains(".events"))
        .unwrap();
    assert!(server.stopped().contains(&events.id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lookup_dropped_at_the_context_deadline_stops_its_queries() {
    let server = AthenaServer::start(|sql| Plan {
        end: End::Never,
        ..lake_answers(sql)
    })
    .await;
    let p = provider(&athena_config(|_| {}), &aws(&server)).await;
    // The context gives up long before the provider's own 10 s timeout.
    let mut context = falconry_enricher::context::Context::new(Duration::from_secs(2));
    context.add(p);
    let e = context.gather(&scenario_alert()).await;
    assert_eq!(e.sections[0].status.as_str(), "failed");
    let started = server.started();
    assert_eq!(started.len(), 3);
    // Each abandoned query is stopped in the background, soon after.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let stopped = server.stopped();
        if started.iter().all(|q| stopped.contains(&q.id)) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "stopped {stopped:?} of {started:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
