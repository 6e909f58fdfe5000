//! The embedded default: a `dir://` queue, a `file://` source and a `file://`
//! destination, through the same code path as S3 (no server needed).

use crate::support::local_config;
use falconry_common::telemetry::Telemetry;

use falconry_fixtures::{BatchOptions, fdr_batch, lookup_batch, notice_json, write_files};
use falconry_forwarder::ForwarderError;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_queue_moves_done_and_failed_notices() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("queue")).unwrap();
    let opts = BatchOptions {
        seed: 3,
        events_per_file: 200,
        ..BatchOptions::default()
    };
    let (data, lookup) = (fdr_batch(&opts), lookup_batch(&opts));
    for (i, b) in [&data, &lookup].into_iter().enumerate() {
        write_files(b, &root.join("source")).unwrap();
        std::fs::write(
            root.join("queue").join(format!("{i}.json")),
            notice_json(b, "ignored-bucket"),
        )
        .unwrap();
    }
    std::fs::write(
        root.join("queue").join("9-garbage.json"),
        "<html>502 Bad Gateway</html>",
    )
    .unwrap();

    let err = falconry_forwarder::run(
        local_config(root).validate().unwrap(),
        Telemetry::off(),
        CancellationToken::new(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, ForwarderError::NoticesFailed { failed: 1 }),
        "{err}"
    );
    let names = |sub: &str| {
        let mut v: Vec<String> = std::fs::read_dir(root.join("queue").join(sub))
            .map(|d| {
                d.filter_map(std::result::Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    assert_eq!(names("done"), vec!["0.json", "1.json"]);
    assert_eq!(
        names("failed"),
        vec!["9-garbage.json", "9-garbage.json.reason.txt"]
    );
    let reason =
        std::fs::read_to_string(root.join("queue/failed/9-garbage.json.reason.txt")).unwrap();
    assert!(reason.contains("not JSON"), "{reason}");
    assert!(names("inflight").is_empty());

    // Byte-identical raw copies and a manifest per converted file, on the local store too.
    for f in data
        .files
        .iter()
        .chain(&lookup.files)
        .filter(|f| !f.bytes.is_empty())
    {
        assert_eq!(
            std::fs::read(root.join("lake/raw").join(&f.key)).unwrap(),
            f.bytes,
            "{}",
            f.key
        );
        let m: falconry_forwarder::Manifest = serde_json::from_slice(
            &std::fs::read(root.join(format!("lake/state/manifests/{}.json", f.key))).unwrap(),
        )
        .unwrap();
        assert_eq!(m.rows, f.lines - f.invalid_lines.len() as u64);
    }
    let counts = falconry_forwarder::lake::table_counts(&root.join("lake/parquet")).unwrap();
    let events: u64 = data
        .files
        .iter()
        .map(|f| f.lines - f.invalid_lines.len() as u64)
        .sum();
    assert_eq!(counts["events"].0, events);
    // No temporary files left behind.
    let mut stack = vec![root.join("lake")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d)
            .unwrap()
            .filter_map(std::result::Result::ok)
        {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                assert!(
                    !e.file_name().to_string_lossy().contains("falconry-tmp"),
                    "{:?}",
                    e.path()
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_source_file_fails_the_notice_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("queue")).unwrap();
    let data = fdr_batch(&BatchOptions {
        seed: 4,
        events_per_file: 50,
        ..BatchOptions::default()
    });
    std::fs::write(root.join("queue/n.json"), notice_json(&data, "b")).unwrap();
    let err = falconry_forwarder::run(
        local_config(root).validate().unwrap(),
        Telemetry::off(),
        CancellationToken::new(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ForwarderError::NoticesFailed { failed: 1 }));
    let reason = std::fs::read_to_string(root.join("queue/failed/n.json.reason.txt")).unwrap();
    assert!(reason.contains("no such object"), "{reason}");
}

/// A notice a crashed forwarder left claimed (in `inflight/`, no heartbeat):
/// `--until-empty` does not call the queue drained while it is there. It waits
/// for the claim to go stale, takes the notice back and forwards it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn until_empty_waits_for_notices_a_crash_left_claimed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("queue/inflight")).unwrap();
    let b = fdr_batch(&BatchOptions {
        seed: 5,
        events_per_file: 50,
        ..BatchOptions::default()
    });
    write_files(&b, &root.join("source")).unwrap();
    std::fs::write(
        root.join("queue/inflight/0.json"),
        notice_json(&b, "ignored-bucket"),
    )
    .unwrap();
    let mut config = local_config(root);
    config.visibility_timeout = std::time::Duration::from_secs(3);
    let summary = falconry_forwarder::run(
        config.validate().unwrap(),
        Telemetry::off(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!((summary.done, summary.claimed), (1, 0), "{summary:?}");
    assert!(root.join("queue/done/0.json").exists());
}
