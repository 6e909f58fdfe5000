//! The real binary under SIGTERM: it stops receiving, finishes (or leaves) the
//! work in flight, exits 0, and a second run completes everything.

use falconry_fixtures::{BatchOptions, fdr_batch, notice_json, write_files};
use std::process::Command;
use std::time::{Duration, Instant};

/// `n` FDR batches (seeds from `seed0`) under `<root>/source`, their notices
/// in `<root>/queue`; returns the valid lines they hold.
fn fdr_batches(root: &std::path::Path, seed0: u64, n: u64, events_per_file: usize) -> u64 {
    let mut expected = 0;
    for seed in 0..n {
        let b = fdr_batch(&BatchOptions {
            seed: seed0 + seed,
            events_per_file,
            ..BatchOptions::default()
        });
        write_files(&b, &root.join("source")).unwrap();
        std::fs::write(
            root.join("queue").join(format!("{seed}.json")),
            notice_json(&b, "b"),
        )
        .unwrap();
        expected += b
            .files
            .iter()
            .map(|f| f.lines - f.invalid_lines.len() as u64)
            .sum::<u64>();
    }
    expected
}

/// `falconry forward` over `<root>/queue` (dir://), `<root>/source` and
/// `<root>/lake` (file://), quick to poll.
fn forward_command(root: &std::path::Path, until_empty: bool) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_falconry"));
    c.args(["forward", "--admin", "off", "--queue"])
        .arg(format!("dir://{}", root.join("queue").display()))
        .arg("--source")
        .arg(format!("file://{}", root.join("source").display()))
        .arg("--dest")
        .arg(format!("file://{}", root.join("lake").display()))
        .env("FALCONRY__FORWARDER__WAIT_TIME", "300ms");
    if until_empty {
        c.arg("--until-empty");
    }
    c
}

#[test]
fn sigterm_stops_the_forwarder_cleanly_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("queue")).unwrap();
    let expected = fdr_batches(root, 300, 6, 2000);
    let args = |until_empty: bool| {
        let mut c = forward_command(root, until_empty);
        c.env("FALCONRY__FORWARDER__NOTICES_IN_FLIGHT", "1");
        c
    };
    let mut child = args(false)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start forwarder");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !root.join("queue/done").is_dir() {
        assert!(Instant::now() < deadline, "no notice finished");
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(
        exit.success(),
        "SIGTERM should end the daemon cleanly: {exit:?}"
    );
    let done = std::fs::read_dir(root.join("queue/done")).unwrap().count();
    assert!(done < 6, "the signal should arrive mid-queue ({done} done)");
    // Nothing is left claimed: the notice in flight was finished within the grace period.
    assert_eq!(
        std::fs::read_dir(root.join("queue/inflight"))
            .unwrap()
            .count(),
        0
    );

    let second = args(true).output().unwrap();
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert_eq!(
        std::fs::read_dir(root.join("queue/done"))
            .unwrap()
            .filter(|e| e
                .as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "json"))
            .count(),
        6
    );
    let counts = falconry_forwarder::lake::table_counts(&root.join("lake/parquet")).unwrap();
    assert_eq!(counts["events"].0, expected);
}

/// `kill -9` while a file converts: nothing half-written sits where readers
/// look (no temporaries beside Parquet files), and the next run removes what
/// the dead process left (its work folder, the store's temporaries) and
/// finishes every notice.
#[test]
fn sigkill_mid_conversion_leaves_nothing_where_readers_look() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("queue")).unwrap();
    std::fs::create_dir_all(root.join("tmp")).unwrap();
    let expected = fdr_batches(root, 500, 4, 4000);
    let args = |until_empty: bool| {
        let mut c = forward_command(root, until_empty);
        c.env("FALCONRY__FORWARDER__TMP_DIR", root.join("tmp"))
            .env("FALCONRY__FORWARDER__VISIBILITY_TIMEOUT", "3s");
        c
    };
    let work = root.join("tmp/falconry-forwarder");
    let converting = || {
        std::fs::read_dir(&work).ok().is_some_and(|dirs| {
            dirs.flatten()
                .any(|d| std::fs::read_dir(d.path()).is_ok_and(|mut f| f.next().is_some()))
        })
    };
    let mut child = args(false)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start forwarder");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !converting() {
        assert!(Instant::now() < deadline, "no conversion started");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(converting(), "the kill should land mid-conversion");
    let beside_targets: Vec<String> = walk(&root.join("lake"))
        .into_iter()
        .map(|p| p.strip_prefix(root).unwrap().display().to_string())
        .filter(|p| !p.starts_with("lake/.falconry-tmp/"))
        .filter(|p| {
            p.contains("falconry-tmp")
                || (p.starts_with("lake/parquet/") && !p.ends_with(".parquet"))
        })
        .collect();
    assert!(beside_targets.is_empty(), "{beside_targets:?}");

    let second = args(true).output().unwrap();
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert_eq!(
        std::fs::read_dir(&work).unwrap().count(),
        0,
        "the dead forwarder's work folder is swept, the live one's removed at exit"
    );
    let left: Vec<_> = walk(&root.join("lake/.falconry-tmp"));
    assert!(left.is_empty(), "{left:?}");
    let counts = falconry_forwarder::lake::table_counts(&root.join("lake/parquet")).unwrap();
    assert_eq!(counts["events"].0, expected);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

use falconry_testkit::falcon::streams as falcon;

/// The live streamer binary under SIGTERM: the open batch (held back by a
/// long age bound) is flushed before it exits 0, so nothing it took is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_flushes_the_streamers_open_batch() {
    use falconry_fixtures::{StreamOptions, stream_events};
    use std::io::Read;
    let events = stream_events(&StreamOptions {
        events: 60,
        ..StreamOptions::default()
    });
    let server = falcon::Falcon::start(falcon::World {
        partitions: [(0, events.clone())].into(),
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_falconry"))
        .args(["stream", "--dest"])
        .arg(format!("file://{}", lake.display()))
        .env("FALCONRY__ADMIN__LISTEN", "off")
        .env("FALCONRY__STREAMER__BASE_URL", server.base_url())
        .env("FALCONRY__STREAMER__CLIENT_ID", falcon::CLIENT_ID)
        .env("FALCONRY__STREAMER__CLIENT_SECRET", falcon::CLIENT_SECRET)
        .env("FALCONRY__STREAMER__APP_ID", "falconrysigterm")
        .env("FALCONRY__STREAMER__BATCH_MAX_AGE", "10m")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the streamer");
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.with(|w| w.stream_opens.is_empty()) {
        assert!(
            Instant::now() < deadline,
            "the streamer never opened its stream"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !lake.join("stream").exists(),
        "nothing is flushed before the age bound"
    );
    let pid = child.id().expect("pid").to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("exits")
        .unwrap();
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        use tokio::io::AsyncReadExt;
        let _ = e.read_to_string(&mut stderr).await;
    }
    assert!(status.success(), "{status:?}\n{stderr}");
    assert!(
        !stderr.contains(falcon::CLIENT_SECRET),
        "the client secret reached the log"
    );
    let mut offsets = Vec::new();
    let mut stack = vec![lake.join("stream")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)
            .unwrap()
            .filter_map(std::result::Result::ok)
        {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                let mut text = String::new();
                flate2::read::MultiGzDecoder::new(std::fs::File::open(e.path()).unwrap())
                    .read_to_string(&mut text)
                    .unwrap();
                for l in text.lines() {
                    let v: serde_json::Value = serde_json::from_str(l).unwrap();
                    offsets.push(v["metadata"]["offset"].as_u64().unwrap());
                }
            }
        }
    }
    offsets.sort();
    assert_eq!(offsets, events.iter().map(|e| e.offset).collect::<Vec<_>>());
}

/// The enricher binary, scanning a local lake without `--until-empty`: once
/// its issues are written it keeps polling; SIGTERM stops it with exit 0,
/// and a second run finds every batch done (the cursor was kept).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_enricher_between_batches() {
    use falconry_fixtures::{StreamOptions, stream_events, stream_ndjson};
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let recorded = dir.path().join("stream.ndjson");
    std::fs::write(
        &recorded,
        stream_ndjson(&stream_events(&StreamOptions::default())),
    )
    .unwrap();
    let replay = Command::new(env!("CARGO_BIN_EXE_falconry"))
        .args(["stream", "--from"])
        .arg(&recorded)
        .arg("--dest")
        .arg(format!("file://{}", lake.display()))
        .output()
        .unwrap();
    assert!(replay.status.success(), "{replay:?}");
    let issues = dir.path().join("issues");
    let start = |until_empty: bool| {
        let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_falconry"));
        c.args(["enrich", "--from"])
            .arg(format!("file://{}", lake.display()))
            .arg("--issues")
            .arg(format!("dir://{}", issues.display()))
            .env("FALCONRY__ADMIN__LISTEN", "off")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        if until_empty {
            c.arg("--until-empty");
        }
        c.spawn().expect("start the enricher")
    };
    let mut child = start(false);
    let cursor = issues.join(".falconry/scan/partition=0.json");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cursor.exists() {
        assert!(
            Instant::now() < deadline,
            "the enricher never finished its batch"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pid = child.id().expect("pid").to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("exits promptly")
        .unwrap();
    assert!(status.success(), "{status:?}");
    let again = start(true).wait_with_output().await.unwrap();
    let out = String::from_utf8_lossy(&again.stdout);
    assert!(again.status.success(), "{out}");
    assert!(out.starts_with("0 batch(es), 0 alert(s)"), "{out}");
}

/// `falconry hunt --config FILE` with a `[hunt]` section is the hunt daemon:
/// it hunts the feed's indicators back through the lake the forwarder wrote
/// (a finding of kind ioc), records each indicator hunted, and SIGTERM ends
/// it with exit 0.
#[test]
fn the_hunt_daemon_hunts_the_lake_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("queue")).unwrap();
    fdr_batches(root, 900, 1, 200);
    let forwarded = forward_command(root, true).output().unwrap();
    assert!(forwarded.status.success());
    std::fs::create_dir_all(root.join("intel")).unwrap();
    std::fs::write(
        root.join("intel/later.csv"),
        format!(
            "type,value,description\nsha256,{},learned later\n",
            falconry_fixtures::DROPPED_DLL_SHA256
        ),
    )
    .unwrap();
    let config = root.join("falconry.toml");
    std::fs::write(
        &config,
        format!(
            "[admin]\nlisten = \"off\"\n\n[hunt]\nlake = \"file://{}\"\nindicators = [\"{}\"]\n\
             lookback = \"3650d\"\ninterval = \"1s\"\n",
            root.join("lake").display(),
            root.join("intel").display()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_falconry"))
        .arg("--config")
        .arg(&config)
        .arg("hunt")
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the hunt daemon");
    let hunted = root.join("lake/state/hunt/hunted");
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::read_dir(&hunted).map_or(0, Iterator::count) < 1 {
        assert!(Instant::now() < deadline, "nothing hunted");
        assert!(child.try_wait().unwrap().is_none(), "the daemon exited");
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "SIGTERM ends the hunt daemon: {exit:?}");
    let findings: Vec<_> = walk(&root.join("lake/findings"))
        .into_iter()
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("hunt-"))
        })
        .collect();
    assert_eq!(findings.len(), 1, "one findings object for the new matches");
}
