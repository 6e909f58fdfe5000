//! The live streamer against the project's Falcon API test server and a real
//! store: every offset of every partition lands exactly once across
//! disconnects in the middle of a line, an HTML error page, 429s (both
//! RetryAfter units), a stale session token, an empty discover while the
//! appId is held, session expiry found by refresh, and a stop and restart.

use falconry_common::lake::BatchKey;
use falconry_common::telemetry::Telemetry;
use falconry_fixtures::{StreamLine, StreamOptions, stream_events};
use falconry_streamer::{Settings, StreamerConfig};
use falconry_testkit::admin::http_get;
use falconry_testkit::falcon::streams::{
    CLIENT_ID, CLIENT_SECRET, Falcon, Fault, RefreshFault, World,
};
use std::io::Read;
use std::path::Path;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn settings(base: &str, dest: &Path) -> Settings {
    StreamerConfig {
        dest: Some(format!("file://{}", dest.display())),
        batch_max_bytes: 8 * 1024,
        batch_max_age: Duration::from_millis(300),
        base_url: Some(base.to_owned()),
        client_id: Some(CLIENT_ID.into()),
        client_secret: Some(falconry_common::Secret::new(CLIENT_SECRET)),
        app_id: Some("falconrytest".into()),
        idle_timeout: Duration::from_secs(5),
        ..StreamerConfig::default()
    }
    .validate()
    .expect("valid settings")
}

/// Offsets (with their lines) of every batch object of `partition`, in key order.
fn landed(root: &Path, partition: u32) -> Vec<(u64, String)> {
    let mut files = Vec::new();
    let mut stack = vec![root.join(format!("stream/partition={partition}"))];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.filter_map(std::result::Result::ok) {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else if !e.file_name().to_string_lossy().contains("falconry-tmp") {
                files.push(e.path());
            }
        }
    }
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let key = f.to_string_lossy().into_owned();
        let BatchKey { first, last, .. } = BatchKey::parse(&key).expect("batch key");
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(std::fs::File::open(&f).unwrap())
            .read_to_string(&mut text)
            .unwrap();
        let lines: Vec<(u64, String)> = text
            .lines()
            .map(|l| {
                let v: serde_json::Value =
                    serde_json::from_str(l).expect("every stored line is an event");
                (v["metadata"]["offset"].as_u64().unwrap(), l.to_owned())
            })
            .collect();
        assert_eq!(
            (lines.first().unwrap().0, lines.last().unwrap().0),
            (first, last),
            "{key}"
        );
        out.extend(lines);
    }
    out
}

/// Starts the streamer on its own task; cancel the token to stop it.
fn start(
    s: Settings,
) -> (
    tokio::task::JoinHandle<
        Result<falconry_streamer::daemon::Report, falconry_streamer::error::StreamerError>,
    >,
    CancellationToken,
) {
    let stop = CancellationToken::new();
    let task = tokio::spawn({
        let stop = stop.clone();
        async move { falconry_streamer::run(s.clone(), Telemetry::off(), stop).await }
    });
    (task, stop)
}

fn expected(lines: &[StreamLine]) -> Vec<(u64, String)> {
    lines.iter().map(|l| (l.offset, l.line.clone())).collect()
}

async fn wait_for(root: &Path, want: &[(u32, &[StreamLine])]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if want
            .iter()
            .all(|(p, lines)| landed(root, *p).len() >= lines.len())
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not every event landed in time"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_offset_of_every_partition_lands_exactly_once_through_failures() {
    let p0 = stream_events(&StreamOptions {
        events: 120,
        partition: 0,
        ..StreamOptions::default()
    });
    let p1 = stream_events(&StreamOptions {
        events: 90,
        partition: 1,
        seed: 8,
        ..StreamOptions::default()
    });
    let falcon = Falcon::start(World {
        partitions: [(0, p0.clone()), (1, p1.clone())].into(),
        empty_discovers: 2,
        faults: [
            (
                0,
                vec![
                    Fault::CutAfter(37),
                    Fault::RateLimitedMs,
                    Fault::CutAfter(10),
                ],
            ),
            (
                1,
                vec![Fault::HtmlPage, Fault::RateLimitedSecs, Fault::StaleToken],
            ),
        ]
        .into(),
        ..World::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("lake");
    let (run, stop) = start(settings(&falcon.base_url(), &root));
    wait_for(&root, &[(0, &p0), (1, &p1)]).await;
    stop.cancel();
    let report = run.await.unwrap().expect("clean stop");
    assert_eq!(
        landed(&root, 0),
        expected(&p0),
        "partition 0: every offset once, byte for byte"
    );
    assert_eq!(
        landed(&root, 1),
        expected(&p1),
        "partition 1: every offset once, byte for byte"
    );
    let (opens, discovers, tokens) =
        falcon.with(|w| (w.stream_opens.clone(), w.discover_calls, w.token_calls));
    assert!(
        discovers >= 4,
        "two empty discovers, the first real one, and one after the stale token: {discovers}"
    );
    assert!(tokens >= 1);
    // After a cut the stream resumes at the next offset, never at the last one seen.
    for (p, offset) in opens.iter().filter(|(_, o)| o.is_some()) {
        let lines = if *p == 0 { &p0 } else { &p1 };
        let o = offset.unwrap();
        assert!(
            lines.iter().any(|l| l.offset + 1 == o),
            "partition {p} resumed at {o}, not one past an offset it took"
        );
    }
    // Two cut lines on partition 0 (discarded, reconnected), an HTML page on partition 1.
    assert!(
        report[&0].reconnects >= 2 && report[&0].junk >= 2 && report[&1].junk >= 1,
        "{report:?}"
    );

    // A restart resumes after the last durable offset: nothing new, nothing twice.
    let (run, stop) = start(settings(&falcon.base_url(), &root));
    tokio::time::sleep(Duration::from_millis(800)).await;
    stop.cancel();
    run.await.unwrap().expect("clean stop");
    assert_eq!(landed(&root, 0), expected(&p0));
    assert_eq!(landed(&root, 1), expected(&p1));
    let resumed: Vec<(u32, Option<u64>)> = falcon
        .with(|w| w.stream_opens.clone())
        .into_iter()
        .rev()
        .take(2)
        .collect();
    for (p, offset) in resumed {
        let last = if p == 0 {
            p0.last().unwrap().offset
        } else {
            p1.last().unwrap().offset
        };
        assert_eq!(
            offset,
            Some(last + 1),
            "partition {p} resumes at last durable + 1"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_streams_are_refreshed_and_an_expired_session_is_rediscovered() {
    let p0 = stream_events(&StreamOptions {
        events: 5,
        ..StreamOptions::default()
    });
    let falcon = Falcon::start(World {
        partitions: [(0, p0.clone())].into(),
        refresh_interval_secs: 1,
        ..World::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("lake");
    let (run, stop) = start(settings(&falcon.base_url(), &root));
    // The stream goes quiet after five events; only keep-alives flow. The
    // refresh timer runs regardless (every 0.9 s here).
    wait_for(&root, &[(0, &p0)]).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let refreshes = falcon.with(|w| w.refresh_calls.get(&0).copied().unwrap_or(0));
    assert!(
        refreshes >= 2,
        "refreshed {refreshes} times on a quiet stream"
    );
    // Each bodyless refresh POST said `Content-Length: 0` (the server answers 411 otherwise).
    assert_eq!(falcon.with(|w| w.length_required), 0);
    // The server forgets the session: the next refresh gets 404 and the streamer discovers again.
    let before = falcon.with(|w| {
        w.expire_on_refresh = true;
        w.discover_calls
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while falcon.with(|w| w.discover_calls) == before {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no rediscover after the session expired"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.cancel();
    run.await.unwrap().expect("clean stop");
    assert_eq!(landed(&root, 0), expected(&p0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_are_a_configuration_error_without_the_secret() {
    let falcon = Falcon::start(World {
        partitions: [(0, vec![])].into(),
        ..World::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&falcon.base_url(), dir.path());
    if let Some(live) = s.live.as_mut() {
        live.client_secret = falconry_common::Secret::new("wrong-secret-value");
    }
    let err = falconry_streamer::run(s.clone(), Telemetry::off(), CancellationToken::new())
        .await
        .unwrap_err();
    // A configuration error (the binary exits 64: fix the config, do not restart in a loop).
    assert!(
        matches!(err, falconry_streamer::error::StreamerError::Config(_)),
        "{err:?}"
    );
    let err = format!(
        "{err}: {}",
        std::error::Error::source(&err)
            .map(ToString::to_string)
            .unwrap_or_default()
    );
    assert!(err.contains("refused the client credentials"), "{err}");
    assert!(!err.contains("wrong-secret-value"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_port_shows_stream_metrics_and_health() {
    let p0 = stream_events(&StreamOptions {
        events: 40,
        ..StreamOptions::default()
    });
    let falcon = Falcon::start(World {
        partitions: [(0, p0.clone())].into(),
        ..World::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("lake");
    let stop = CancellationToken::new();
    let (telemetry, bound) = Telemetry::announced("127.0.0.1:0".parse().unwrap());
    let run = tokio::spawn(falconry_streamer::run(
        settings(&falcon.base_url(), &root),
        telemetry,
        stop.clone(),
    ));
    let addr = bound.await.expect("admin port bound");
    wait_for(&root, &[(0, &p0)]).await;
    let metrics = http_get(addr, "/metrics").await;
    let epp = p0
        .iter()
        .filter(|l| l.event_type == "EppDetectionSummaryEvent")
        .count();
    assert!(
        metrics.contains(&format!(
            "falconry_streamer_events_total{{event_type=\"EppDetectionSummaryEvent\"}} {epp}"
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            "falconry_streamer_offset{{partition=\"0\"}} {}",
            p0.last().unwrap().offset
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains("falconry_streamer_connected{partition=\"0\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("falconry_streamer_lag_seconds_count"),
        "{metrics}"
    );
    assert!(http_get(addr, "/healthz").await.starts_with("HTTP/1.1 200"));
    assert!(http_get(addr, "/readyz").await.starts_with("HTTP/1.1 200"));
    stop.cancel();
    run.await.unwrap().expect("clean stop");
}

/// Crashes (the task dropped mid-flight: open batches lost, maybe between a
/// batch and its checkpoint) and clean stops at seeded random moments, then a
/// run to the end: every offset still lands exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kills_and_restarts_at_random_points_lose_and_repeat_nothing() {
    let p0 = stream_events(&StreamOptions {
        events: 300,
        partition: 0,
        ..StreamOptions::default()
    });
    let p1 = stream_events(&StreamOptions {
        events: 200,
        partition: 1,
        seed: 11,
        ..StreamOptions::default()
    });
    let falcon = Falcon::start(World {
        partitions: [(0, p0.clone()), (1, p1.clone())].into(),
        ..World::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("lake");
    // Small batches so a kill often lands between a batch and its checkpoint.
    let mut s = settings(&falcon.base_url(), &root);
    s.limits.max_bytes = 2048;
    let mut rng = 0x9e3779b97f4a7c15u64;
    for round in 0..8 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let after = Duration::from_millis(20 + rng % 250);
        let (task, stop) = start(s.clone());
        tokio::time::sleep(after).await;
        if round % 2 == 0 {
            task.abort(); // a crash: nothing flushed
            let _ = task.await;
        } else {
            stop.cancel();
            task.await.unwrap().expect("clean stop");
        }
    }
    let (task, stop) = start(s.clone());
    wait_for(&root, &[(0, &p0), (1, &p1)]).await;
    stop.cancel();
    task.await.unwrap().expect("clean stop");
    assert_eq!(landed(&root, 0), expected(&p0));
    assert_eq!(landed(&root, 1), expected(&p1));
}

/// Paused tokio time runs 59.5 minutes, in 30 s steps (refreshes due at 15,
/// 30 and 45 minutes happen; the one at 60 does not).
async fn most_of_an_hour_passes() {
    let started = tokio::time::Instant::now();
    while tokio::time::Instant::now() - started < Duration::from_secs(3570) {
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
}

/// An hour of a quiet stream in paused tokio time: only keep-alives flow, and
/// the session is refreshed on its own timer all the same (at half its 1800 s life).
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_quiet_hour_is_refreshed_on_time() {
    let p0 = stream_events(&StreamOptions {
        events: 3,
        ..StreamOptions::default()
    });
    let falcon = Falcon::start(World {
        partitions: [(0, p0.clone())].into(),
        ..World::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("lake");
    let (task, stop) = start(settings(&falcon.base_url(), &root));
    most_of_an_hour_passes().await;
    let refreshes = falcon.with(|w| w.refresh_calls.get(&0).copied().unwrap_or(0));
    stop.cancel();
    task.await.unwrap().expect("clean stop");
    assert_eq!(
        refreshes, 3,
        "refreshed at 15, 30 and 45 minutes of a quiet hour"
    );
    assert_eq!(landed(&root, 0), expected(&p0));
}

/// The real 30-minute session in paused tokio time, on a server whose
/// sessions die unrefreshed: the first refresh meets a 429 (retry in 20 s)
/// and two 503s. Retried on the answer's time and a short backoff, the
/// session lives; retried "at the next tick" (as before), it died, the stream
/// was refused and everything was discovered again.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_failed_refresh_is_retried_before_the_session_dies() {
    let p0 = stream_events(&StreamOptions {
        events: 3,
        ..StreamOptions::default()
    });
    let falcon = Falcon::start(World {
        partitions: [(0, p0.clone())].into(),
        expire_unrefreshed: true,
        refresh_faults: vec![
            RefreshFault::RateLimitedSecs(20),
            RefreshFault::Unavailable,
            RefreshFault::Unavailable,
        ],
        ..World::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("lake");
    let (task, stop) = start(settings(&falcon.base_url(), &root));
    most_of_an_hour_passes().await;
    let (refreshes, discovers, bad_auth) = falcon.with(|w| {
        (
            w.refresh_calls.get(&0).copied().unwrap_or(0),
            w.discover_calls,
            w.bad_auth,
        )
    });
    stop.cancel();
    task.await.unwrap().expect("clean stop");
    assert_eq!(discovers, 1, "the session was lost and discovered again");
    assert_eq!(bad_auth, 0);
    // Three failures, then 15, 30 and 45 minutes (from ~15:21 on).
    assert_eq!(refreshes, 6);
    assert_eq!(landed(&root, 0), expected(&p0));
}

/// `cloud = "auto"`: the token answer's `X-CS-Region` moves the streamer to the
/// tenant's cloud (here: a second test server standing in for eu-1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x_cs_region_moves_the_streamer_to_the_tenants_cloud() {
    let p0 = stream_events(&StreamOptions {
        events: 20,
        ..StreamOptions::default()
    });
    let us1 = Falcon::start(World {
        partitions: [(0, vec![])].into(),
        region: Some("eu-1".into()),
        ..World::default()
    })
    .await;
    let eu1 = Falcon::start(World {
        partitions: [(0, p0.clone())].into(),
        region: Some("eu-1".into()),
        ..World::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("lake");
    let mut s = settings(&us1.base_url(), &root);
    let live = s.live.as_mut().unwrap();
    live.auto_region = true;
    live.region_urls.insert("eu-1".into(), eu1.base_url());
    let stop = CancellationToken::new();
    let task = tokio::spawn({
        let stop = stop.clone();
        async move { falconry_streamer::run(s.clone(), Telemetry::off(), stop).await }
    });
    wait_for(&root, &[(0, &p0)]).await;
    stop.cancel();
    task.await.unwrap().expect("clean stop");
    assert_eq!(landed(&root, 0), expected(&p0));
    assert_eq!(
        us1.with(|w| (w.token_calls, w.discover_calls)),
        (1, 0),
        "only the first token call goes to us-1"
    );
    assert!(eu1.with(|w| w.discover_calls) >= 1);
}

/// The same guarantees with moto's S3 as the destination: reconnects, a
/// rediscover and a crash between runs, every offset in exactly one object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_s3_every_offset_lands_exactly_once() {
    assert!(
        std::env::var("FALCONRY_TEST_MOTO").is_ok() && std::env::var("AWS_ENDPOINT_URL").is_ok(),
        "this test needs moto's S3 server: run it with scripts/test.sh"
    );
    let conf = falconry_common::aws::sdk_config(&Default::default()).await;
    let client = falconry_common::aws::s3_client(&conf);
    let bucket = format!("live-{}", uuid::Uuid::new_v4().simple());
    client
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("bucket");
    let store = falconry_common::Store::s3(client, bucket.clone());
    let p0 = stream_events(&StreamOptions {
        events: 150,
        ..StreamOptions::default()
    });
    let p1 = stream_events(&StreamOptions {
        events: 100,
        partition: 1,
        seed: 9,
        ..StreamOptions::default()
    });
    let falcon = Falcon::start(World {
        partitions: [(0, p0.clone()), (1, p1.clone())].into(),
        faults: [(0, vec![Fault::CutAfter(40)]), (1, vec![Fault::StaleToken])].into(),
        ..World::default()
    })
    .await;
    let mut s = settings(&falcon.base_url(), Path::new("/unused"));
    s.dest = falconry_common::Location::parse(&format!("s3://{bucket}/tenant")).unwrap();
    s.limits.max_bytes = 4096;
    // A crash part-way, then a run to the end.
    let crash = tokio::spawn({
        let s = s.clone();
        async move {
            falconry_streamer::run(s.clone(), Telemetry::off(), CancellationToken::new()).await
        }
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    crash.abort();
    let _ = crash.await;
    let (task, stop) = start(s.clone());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (a, b) = (
            landed_in(&store, 0).await.len(),
            landed_in(&store, 1).await.len(),
        );
        if a >= p0.len() && b >= p1.len() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not every event landed in time ({a}, {b})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.cancel();
    task.await.unwrap().expect("clean stop");
    assert_eq!(landed_in(&store, 0).await, expected(&p0));
    assert_eq!(landed_in(&store, 1).await, expected(&p1));
}

async fn landed_in(store: &falconry_common::Store, partition: u32) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    for o in store
        .list(&format!("tenant/stream/partition={partition}/"))
        .await
        .expect("list")
    {
        let body = store.get_bytes(&o.key).await.expect("get");
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(&body[..])
            .read_to_string(&mut text)
            .unwrap();
        let BatchKey { first, last, .. } = BatchKey::parse(&o.key).expect("batch key");
        let lines: Vec<(u64, String)> = text
            .lines()
            .map(|l| {
                (
                    serde_json::from_str::<serde_json::Value>(l).unwrap()["metadata"]["offset"]
                        .as_u64()
                        .unwrap(),
                    l.to_owned(),
                )
            })
            .collect();
        assert_eq!(
            (lines.first().unwrap().0, lines.last().unwrap().0),
            (first, last),
            "{}",
            o.key
        );
        out.extend(lines);
    }
    out
}
