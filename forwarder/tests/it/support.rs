//! Shared set-up of the forwarder's integration tests: AWS clients pointed at
//! moto's server (started by `scripts/test.sh`), uuid-named buckets and queues,
//! fixture uploads, and reading the outputs back.

use arrow_array::RecordBatch;
use bytes::Bytes;
use falconry_forwarder::convert::roundtrip::{Members, line_members, row_members};
use falconry_forwarder::schema;
use falconry_forwarder::{ForwarderConfig, Manifest, Settings};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::io::Read;
use std::time::Duration;

pub use falconry_testkit::moto::{Aws, aws};

/// The manifest the forwarder wrote for `source_key` in `bucket`, if any.
pub async fn manifest(aws: &Aws, bucket: &str, source_key: &str) -> Option<Manifest> {
    let key = format!("state/manifests/{source_key}.json");
    aws.get(bucket, &key)
        .await
        .map(|b| serde_json::from_slice(&b).expect("manifest JSON"))
}

/// The embedded default under `root`: `queue/` (dir:// queue), `source/` and
/// `lake/` (file:// stores), draining quickly and exiting when empty.
pub fn local_config(root: &std::path::Path) -> ForwarderConfig {
    ForwarderConfig {
        queue: Some(format!("dir://{}", root.join("queue").display())),
        source: Some(format!("file://{}", root.join("source").display())),
        dest: Some(format!("file://{}", root.join("lake").display())),
        until_empty: true,
        wait_time: Duration::from_millis(300),
        ..ForwarderConfig::default()
    }
}

/// Settings for a forwarder reading `queue` and writing `s3://dest`, quick to drain.
pub fn settings(queue: &str, dest: &str, tweak: impl FnOnce(&mut ForwarderConfig)) -> Settings {
    let mut c = ForwarderConfig {
        queue: Some(queue.to_owned()),
        dest: Some(format!("s3://{dest}")),
        until_empty: true,
        wait_time: Duration::from_secs(1),
        retry_delay: Duration::from_secs(60),
        part_size: 5 * 1024 * 1024,
        ..ForwarderConfig::default()
    };
    tweak(&mut c);
    c.validate().expect("valid settings")
}

/// Decompresses (multi-member) gzip.
pub fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("gunzip");
    out
}

/// The members of every valid line of a source file, sorted (a multiset).
pub fn source_members(gz: &[u8]) -> Vec<Members> {
    let text = gunzip(gz);
    let mut out: Vec<Members> = text
        .split(|b| *b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .filter_map(|l| line_members(l).ok())
        .collect();
    out.sort();
    out
}

pub fn parquet_batches(bytes: Bytes) -> Vec<RecordBatch> {
    ParquetRecordBatchReaderBuilder::try_new(bytes)
        .expect("parquet footer")
        .build()
        .expect("reader")
        .map(|b| b.expect("batch"))
        .collect()
}

/// The members of every row of the given Parquet objects, sorted.
pub async fn parquet_members(
    aws: &Aws,
    bucket: &str,
    table: &str,
    keys: &[String],
) -> Vec<Members> {
    let schema = schema::table(table);
    let mut out = Vec::new();
    for k in keys {
        let bytes = aws
            .get(bucket, k)
            .await
            .unwrap_or_else(|| panic!("missing {k}"));
        for batch in parquet_batches(bytes) {
            for i in 0..batch.num_rows() {
                out.push(row_members(schema, &batch, i).expect("row"));
            }
        }
    }
    out.sort();
    out
}
