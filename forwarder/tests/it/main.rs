//! The forwarder's integration tests, one test binary (so the AWS SDK and
//! Parquet are linked once): each module drives the forwarder against real
//! stand-ins (moto's S3/SQS, local directories, DuckDB for the hunts).

// Test code: a panic is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod athena_hunts;
mod detections;
mod hunts;
mod local_default;
mod real_samples;
mod replay;
mod s3_forwarding;
mod schema_files;
mod shutdown_and_sharing;
mod support;
