//! The `[streamer]` configuration section ([`StreamerConfig`]) and its
//! validation into typed [`Settings`], every problem reported at once.

use crate::batch::Limits;
use falconry_common::Location;
use falconry_common::config::{ConfigError, Problems};
use serde::Deserialize;
use std::time::Duration;

/// `[streamer]`: Falcon Event Streams → batches in the destination.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamerConfig {
    /// Destination of the batches and checkpoints: `s3://bucket[/prefix]` or `file://root`. Required.
    pub dest: Option<String>,
    /// A batch is closed once it holds this many bytes of NDJSON. Default 8 MiB.
    #[serde(default = "d_bytes")]
    pub batch_max_bytes: usize,
    /// ... or once it is this old, so detections reach the enricher fast. Default `5s`.
    #[serde(default = "d_age", with = "humantime_serde")]
    pub batch_max_age: Duration,
}

fn d_bytes() -> usize {
    8 * 1024 * 1024
}
fn d_age() -> Duration {
    Duration::from_secs(5)
}

impl Default for StreamerConfig {
    fn default() -> Self {
        StreamerConfig {
            dest: None,
            batch_max_bytes: d_bytes(),
            batch_max_age: d_age(),
        }
    }
}

/// Validated streamer settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub dest: Location,
    pub limits: Limits,
}

impl StreamerConfig {
    pub fn validate(&self) -> Result<Settings, ConfigError> {
        let mut p = Problems::new();
        let dest = match self.dest.as_deref() {
            None | Some("") => {
                p.add(
                    "streamer.dest",
                    "required (s3://bucket[/prefix] or file://root)",
                );
                None
            }
            Some(d) => p.check("streamer.dest", Location::parse(d)),
        };
        if self.batch_max_bytes < 1024 || self.batch_max_bytes > 1024 * 1024 * 1024 {
            p.add(
                "streamer.batch_max_bytes",
                "must be between 1 KiB and 1 GiB",
            );
        }
        if self.batch_max_age < Duration::from_millis(100) {
            p.add("streamer.batch_max_age", "must be at least 100ms");
        }
        p.into_result()?;
        let Some(dest) = dest else {
            return Err(ConfigError::Invalid(vec!["streamer: incomplete".into()]));
        };
        Ok(Settings {
            dest,
            limits: Limits {
                max_bytes: self.batch_max_bytes,
                max_age: self.batch_max_age,
            },
        })
    }
}
