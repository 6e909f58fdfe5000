//! `falconry stream --from FILE` through the real commit path: every offset of
//! a recorded stream lands in exactly one batch object, across reruns, a
//! crash between a batch and its checkpoint, and a stop half-way; junk lines
//! and keep-alives are never written. On a local store and on moto's S3.

use falconry_common::lake::BatchKey;
use falconry_fixtures::{StreamLine, StreamOptions, stream_events, stream_ndjson};
use falconry_streamer::{Settings, StreamerConfig, replay_file};
use std::io::Read;
use std::path::Path;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn settings(dest: &str) -> Settings {
    StreamerConfig {
        dest: Some(dest.to_owned()),
        batch_max_bytes: 16 * 1024,
        batch_max_age: Duration::from_secs(5),
        ..StreamerConfig::default()
    }
    .validate()
    .expect("valid settings")
}

fn gunzip(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(b)
        .read_to_end(&mut out)
        .expect("gzip");
    out
}

/// (offset, raw line) of every event in every batch object, in key order, and
/// checks that each object's name matches its content.
fn landed(objects: Vec<(String, Vec<u8>)>) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    for (key, body) in objects {
        let Some(BatchKey { first, last, .. }) = BatchKey::parse(&key) else {
            continue;
        };
        let text = String::from_utf8(gunzip(&body)).expect("utf-8");
        let offsets: Vec<u64> = text
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).expect("json")["metadata"]["offset"]
                    .as_u64()
                    .expect("offset")
            })
            .collect();
        assert_eq!(
            (offsets.first().copied(), offsets.last().copied()),
            (Some(first), Some(last)),
            "{key}"
        );
        out.extend(offsets.into_iter().zip(text.lines().map(str::to_owned)));
    }
    out
}

fn local_objects(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.join("stream")];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.filter_map(std::result::Result::ok) {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                let key = e
                    .path()
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.push((key, std::fs::read(e.path()).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn expected(lines: &[StreamLine]) -> Vec<(u64, String)> {
    lines.iter().map(|l| (l.offset, l.line.clone())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_offset_lands_once_across_reruns_crashes_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("lake");
    let dest = format!("file://{}", root.display());
    let events = stream_events(&StreamOptions {
        events: 400,
        ..StreamOptions::default()
    });
    let file = dir.path().join("recorded.ndjson");

    // A stop half-way: only the first half was recorded (or read) so far.
    std::fs::write(&file, stream_ndjson(&events[..150])).unwrap();
    let first = replay_file(&settings(&dest), &file, 0, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(first.events, 150);
    assert!(first.batches >= 2, "{first:?}");

    // A crash after a batch landed but before its checkpoint moved.
    std::fs::remove_file(root.join("state/stream/partition=0.json")).unwrap();

    // The whole recording, with junk a proxy or a disconnect would leave.
    let mut text = stream_ndjson(&events);
    text.push_str("<html><body><h1>502 Bad Gateway</h1></body></html>\n\r\n\n");
    text.push_str(&events[10].line[..40]);
    text.push('\n');
    std::fs::write(&file, text).unwrap();
    let second = replay_file(&settings(&dest), &file, 0, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(second.resumed_at, Some(events[149].offset + 1));
    assert_eq!((second.events, second.skipped, second.junk), (250, 150, 2));

    let got = landed(local_objects(&root));
    assert_eq!(
        got,
        expected(&events),
        "every offset once, in order, byte for byte"
    );

    // Running it again writes nothing new.
    let third = replay_file(&settings(&dest), &file, 0, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!((third.events, third.batches, third.skipped), (0, 0, 400));
    assert_eq!(landed(local_objects(&root)).len(), 400);
}

/// Events whose creation times go back across midnight (and one without a
/// time): a crash between batches and their checkpoint must still resume
/// after the newest durable offset. Before batch days came from the write
/// time, the batches of the 13th sorted before the checkpoint's key of the
/// 14th, were not seen, and their offsets were written twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creation_times_going_back_across_midnight_do_not_break_resume() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("lake");
    let dest = format!("file://{}", root.display());
    let mar_14_late = 1_773_532_740_000i64; // 2026-03-14T23:59:00Z
    let mar_13 = 1_773_403_200_000i64; // 2026-03-13T12:00:00Z
    let events: Vec<StreamLine> = stream_events(&StreamOptions {
        events: 300,
        ..StreamOptions::default()
    })
    .into_iter()
    .enumerate()
    .map(|(i, mut l)| {
        let mut v: serde_json::Value = serde_json::from_str(&l.line).unwrap();
        let meta = &mut v["metadata"];
        if i == 150 {
            meta.as_object_mut().unwrap().remove("eventCreationTime");
        } else {
            meta["eventCreationTime"] = if i < 100 {
                (mar_14_late + i as i64 * 1000).into()
            } else {
                (mar_13 + i as i64).into()
            };
        }
        l.line = v.to_string();
        l
    })
    .collect();
    let file = dir.path().join("recorded.ndjson");
    let checkpoint = root.join("state/stream/partition=0.json");

    std::fs::write(&file, stream_ndjson(&events[..100])).unwrap();
    replay_file(&settings(&dest), &file, 0, CancellationToken::new())
        .await
        .unwrap();
    let early = std::fs::read(&checkpoint).unwrap();
    std::fs::write(&file, stream_ndjson(&events[..200])).unwrap();
    replay_file(&settings(&dest), &file, 0, CancellationToken::new())
        .await
        .unwrap();
    // The crash: batches up to offset 199 are durable, the checkpoint still says 99.
    std::fs::write(&checkpoint, early).unwrap();

    std::fs::write(&file, stream_ndjson(&events)).unwrap();
    let last = replay_file(&settings(&dest), &file, 0, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(last.resumed_at, Some(events[199].offset + 1));
    assert_eq!((last.events, last.skipped), (100, 200));
    let objects = local_objects(&root);
    let keys: Vec<&String> = objects.iter().map(|(k, _)| k).collect();
    let got = landed(objects.clone());
    assert_eq!(
        got,
        expected(&events),
        "every offset once, in key order: {keys:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_land_exactly_once_on_s3() {
    assert!(
        std::env::var("FALCONRY_TEST_MOTO").is_ok() && std::env::var("AWS_ENDPOINT_URL").is_ok(),
        "this test needs moto's S3 server: run it with scripts/test.sh"
    );
    let conf = falconry_common::aws::sdk_config(&Default::default()).await;
    let s3 = falconry_common::aws::s3_client(&conf);
    let bucket = format!("stream-{}", uuid::Uuid::new_v4().simple());
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("bucket");
    let dir = tempfile::tempdir().unwrap();
    let events = stream_events(&StreamOptions {
        events: 300,
        partition: 2,
        ..StreamOptions::default()
    });
    let file = dir.path().join("recorded.ndjson");
    std::fs::write(&file, stream_ndjson(&events[..100])).unwrap();
    let dest = format!("s3://{bucket}/tenant-a");
    replay_file(&settings(&dest), &file, 2, CancellationToken::new())
        .await
        .unwrap();
    // Crash window again, then the rest.
    s3.delete_object()
        .bucket(&bucket)
        .key("tenant-a/state/stream/partition=2.json")
        .send()
        .await
        .unwrap();
    std::fs::write(&file, stream_ndjson(&events)).unwrap();
    let s = replay_file(&settings(&dest), &file, 2, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!((s.events, s.skipped), (200, 100));
    let mut objects = Vec::new();
    let listed = s.batches; // at least one
    assert!(listed > 0);
    let mut pages = s3
        .list_objects_v2()
        .bucket(&bucket)
        .prefix("tenant-a/stream/partition=2/")
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        for o in page.unwrap().contents() {
            let key = o.key().unwrap().to_owned();
            let body = s3
                .get_object()
                .bucket(&bucket)
                .key(&key)
                .send()
                .await
                .unwrap()
                .body
                .collect()
                .await
                .unwrap()
                .into_bytes();
            objects.push((key, body.to_vec()));
        }
    }
    objects.sort();
    assert_eq!(landed(objects), expected(&events));
}
