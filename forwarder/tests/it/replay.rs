//! `falconry forward replay`: re-converting raw files already in the
//! destination, idempotently, including files copied before falconry ran.

use crate::support::local_config;
use falconry_common::telemetry::Telemetry;

use falconry_fixtures::{
    BatchOptions, FdrBatch, fdr_batch, lookup_batch, notice_json, write_files,
};
use falconry_forwarder::Manifest;
use falconry_forwarder::replay::{Progress, ReplayOptions, replay};
use std::path::{Path, PathBuf};
use tokio_util::sync::CancellationToken;

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.filter_map(std::result::Result::ok) {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path().strip_prefix(dir).unwrap().to_owned());
            }
        }
    }
    out.sort();
    out
}

fn batches() -> (FdrBatch, FdrBatch) {
    let opts = BatchOptions {
        seed: 21,
        events_per_file: 300,
        ..BatchOptions::default()
    };
    (fdr_batch(&opts), lookup_batch(&opts))
}

async fn run_replay(root: &Path, opts: ReplayOptions) -> Progress {
    let settings = local_config(root).validate_for_replay().unwrap();
    let (tx, _rx) = tokio::sync::watch::channel(Progress::default());
    replay(&settings, &opts, tx, CancellationToken::new())
        .await
        .expect("replay")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_is_idempotent_and_removes_stale_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("queue")).unwrap();
    let (data, lookup) = batches();
    for (i, b) in [&data, &lookup].into_iter().enumerate() {
        write_files(b, &root.join("source")).unwrap();
        std::fs::write(
            root.join("queue").join(format!("{i}.json")),
            notice_json(b, "b"),
        )
        .unwrap();
    }
    falconry_forwarder::run(
        local_config(root).validate().unwrap(),
        Telemetry::off(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let lake = root.join("lake");
    let before = files_under(&lake);
    let counts_before = falconry_forwarder::lake::table_counts(&lake.join("parquet")).unwrap();

    // An output an older conversion wrote and this one does not: replay removes it.
    let key = &data.files[0].key;
    let manifest_path = lake.join(format!("state/manifests/{key}.json"));
    let mut m: Manifest = serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    let stale = "parquet/events/dt=2020-01-01/hour=00/stale.parquet";
    std::fs::create_dir_all(lake.join("parquet/events/dt=2020-01-01/hour=00")).unwrap();
    std::fs::write(lake.join(stale), b"old").unwrap();
    m.parquet.push(falconry_forwarder::outputs::PartEntry {
        key: stale.into(),
        rows: 1,
        size: 3,
    });
    std::fs::write(&manifest_path, serde_json::to_vec(&m).unwrap()).unwrap();

    let p = run_replay(root, ReplayOptions::default()).await;
    let converted = data
        .files
        .iter()
        .chain(&lookup.files)
        .filter(|f| !f.bytes.is_empty())
        .count() as u64;
    assert_eq!(
        (p.files_total, p.files_done, p.failed),
        (converted, converted, 0)
    );
    assert!(!lake.join(stale).exists(), "stale output removed");
    assert_eq!(files_under(&lake), before, "same outputs, no new objects");
    assert_eq!(
        falconry_forwarder::lake::table_counts(&lake.join("parquet")).unwrap(),
        counts_before
    );

    // A prefix selects a subset.
    let p = run_replay(
        root,
        ReplayOptions {
            prefix: "fdrv2/aidmaster/".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(p.files_total, 1);
    // A time window that excludes everything selects nothing.
    let p = run_replay(
        root,
        ReplayOptions {
            until_ms: Some(0),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(p.files_total, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_loads_raw_files_copied_before_falconry() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (data, lookup) = batches();
    // The user's own copy of FDR data, straight into the raw prefix.
    for b in [&data, &lookup] {
        write_files(b, &root.join("lake/raw")).unwrap();
    }
    let p = run_replay(root, ReplayOptions::default()).await;
    assert_eq!(p.failed, 0);
    let counts = falconry_forwarder::lake::table_counts(&root.join("lake/parquet")).unwrap();
    let valid = |b: &FdrBatch, prefix: &str| -> u64 {
        b.files
            .iter()
            .filter(|f| f.key.starts_with(prefix))
            .map(|f| f.lines - f.invalid_lines.len() as u64)
            .sum()
    };
    assert_eq!(counts["events"].0, valid(&data, "data/"));
    assert_eq!(counts["aidmaster"].0, valid(&lookup, "fdrv2/aidmaster/"));
    for f in data.files.iter().filter(|f| !f.bytes.is_empty()) {
        let m: Manifest = serde_json::from_slice(
            &std::fs::read(root.join(format!("lake/state/manifests/{}.json", f.key))).unwrap(),
        )
        .unwrap();
        assert_eq!(m.raw_size, f.bytes.len() as u64);
        assert_eq!(m.rows, f.lines - f.invalid_lines.len() as u64);
    }
}
