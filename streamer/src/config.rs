//! The `[streamer]` configuration section ([`StreamerConfig`]) and its
//! validation into typed [`Settings`], every problem reported at once.

use crate::batch::Limits;
use falconry_common::config::{ConfigError, Problems};
use falconry_common::falcon_auth::{self, EndpointError};
use falconry_common::{Location, Secret};
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
    /// Falcon cloud: `us-1` (default), `us-2`, `eu-1`, `us-gov-1`, or `auto` (start at us-1
    /// and follow the `X-CS-Region` header of the token answer).
    #[serde(default = "d_cloud")]
    pub cloud: String,
    /// Base URL of the Falcon API, instead of the cloud's (proxies, tests).
    pub base_url: Option<String>,
    /// API client id (scope "Event streams: Read"). Required for the live stream.
    pub client_id: Option<String>,
    /// API client secret (never logged). Required for the live stream.
    pub client_secret: Option<Secret>,
    /// Child CID to act for (Flight Control parents). Optional.
    pub member_cid: Option<String>,
    /// Name of this consumer (at most 32 letters and digits); one session per appId. Required for the live stream.
    pub app_id: Option<String>,
    /// Where a partition starts with no state in the destination: `oldest` (default), `newest`, or an offset.
    #[serde(default)]
    pub start: Start,
    /// Only these event types (server-side filter). Default: all.
    #[serde(default)]
    pub event_types: Vec<String>,
    /// Reconnect when the stream sends nothing (not even a keep-alive) for this long. Default `90s`.
    #[serde(default = "d_idle", with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// `/healthz` fails when no partition has been connected for this long. Default `10m`.
    #[serde(default = "d_unhealthy", with = "humantime_serde")]
    pub unhealthy_after: Duration,
}

/// Where a partition without durable state starts: `"oldest"` (default),
/// `"newest"`, or an offset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Start {
    #[default]
    Oldest,
    Offset(u64),
    Named(StartName),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartName {
    Oldest,
    Newest,
}

/// Says what is accepted when the value is wrong (an untagged enum would
/// only say "data did not match any variant").
impl<'de> Deserialize<'de> for Start {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Start, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Start;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("\"oldest\", \"newest\" or an offset (a whole number of 0 or more)")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Start, E> {
                Ok(Start::Offset(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Start, E> {
                u64::try_from(v)
                    .map(Start::Offset)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(v), &self))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Start, E> {
                match v {
                    "oldest" => Ok(Start::Named(StartName::Oldest)),
                    "newest" => Ok(Start::Named(StartName::Newest)),
                    _ => Err(E::invalid_value(serde::de::Unexpected::Str(v), &self)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

fn d_cloud() -> String {
    "us-1".into()
}
fn d_idle() -> Duration {
    Duration::from_secs(90)
}
fn d_unhealthy() -> Duration {
    Duration::from_secs(600)
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
            cloud: d_cloud(),
            base_url: None,
            client_id: None,
            client_secret: None,
            member_cid: None,
            app_id: None,
            start: Start::Oldest,
            event_types: Vec::new(),
            idle_timeout: d_idle(),
            unhealthy_after: d_unhealthy(),
        }
    }
}

/// Validated streamer settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub dest: Location,
    pub limits: Limits,
    /// The live Falcon connection; `None` when only replaying recorded streams.
    pub live: Option<Live>,
    pub unhealthy_after: Duration,
}

/// Settings of the live connection.
#[derive(Debug, Clone)]
pub struct Live {
    pub base_url: String,
    pub client_id: String,
    pub client_secret: Secret,
    pub member_cid: Option<String>,
    pub app_id: String,
    pub start: Start,
    pub event_types: Vec<String>,
    pub idle_timeout: Duration,
    /// Follow the token answer's `X-CS-Region` to the tenant's cloud.
    pub auto_region: bool,
    /// Base URL of each region name `X-CS-Region` can carry.
    pub region_urls: std::collections::BTreeMap<String, String>,
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
        let endpoint = match falcon_auth::endpoint(&self.cloud, self.base_url.as_deref()) {
            Ok(e) => Some(e),
            Err(e @ EndpointError::NotHttp(_)) => {
                p.add("streamer.base_url", e);
                None
            }
            Err(e @ EndpointError::UnknownCloud(_)) => {
                p.add("streamer.cloud", e);
                None
            }
        };
        let live = match (&self.app_id, &self.client_id, &self.client_secret) {
            (None, None, None) => None,
            (Some(app), Some(id), Some(secret)) => {
                if app.is_empty()
                    || app.len() > 32
                    || !app.chars().all(|c| c.is_ascii_alphanumeric())
                {
                    p.add("streamer.app_id", "must be 1 to 32 letters or digits");
                }
                if self.idle_timeout < Duration::from_secs(1) {
                    p.add("streamer.idle_timeout", "must be at least 1s");
                }
                endpoint.map(|endpoint| Live {
                    base_url: endpoint.base_url,
                    client_id: id.clone(),
                    client_secret: secret.clone(),
                    member_cid: self.member_cid.clone(),
                    app_id: app.clone(),
                    start: self.start,
                    event_types: self.event_types.clone(),
                    idle_timeout: self.idle_timeout,
                    auto_region: endpoint.auto_region,
                    region_urls: falcon_auth::region_urls(),
                })
            }
            _ => {
                p.add("streamer", "app_id, client_id and client_secret go together (the live stream needs all three)");
                None
            }
        };
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
            live,
            unhealthy_after: self.unhealthy_after,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> StreamerConfig {
        StreamerConfig {
            dest: Some("file:///tmp/x".into()),
            app_id: Some("falconry".into()),
            client_id: Some("id".into()),
            client_secret: Some(Secret::new("s3cr3t-value")),
            ..StreamerConfig::default()
        }
    }

    #[test]
    fn clouds_auto_and_problems() {
        let live = base().validate().unwrap().live.unwrap();
        assert_eq!(
            (live.base_url.as_str(), live.auto_region),
            ("https://api.crowdstrike.com", false)
        );
        let live = StreamerConfig {
            cloud: "auto".into(),
            ..base()
        }
        .validate()
        .unwrap()
        .live
        .unwrap();
        assert!(live.auto_region);
        assert_eq!(live.region_urls["eu-1"], "https://api.eu-1.crowdstrike.com");
        let live = StreamerConfig {
            cloud: "eu-1".into(),
            ..base()
        }
        .validate()
        .unwrap()
        .live
        .unwrap();
        assert_eq!(live.base_url, "https://api.eu-1.crowdstrike.com");
        let err = StreamerConfig {
            cloud: "mars-1".into(),
            app_id: Some("no spaces!".into()),
            ..base()
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("streamer.cloud") && err.contains("streamer.app_id"),
            "{err}"
        );
        assert!(!err.contains("s3cr3t"));
        let err = StreamerConfig {
            client_secret: None,
            ..base()
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert!(err.contains("go together"), "{err}");
        // Replay only: no live settings needed.
        assert!(
            StreamerConfig {
                dest: Some("file:///tmp/x".into()),
                ..StreamerConfig::default()
            }
            .validate()
            .unwrap()
            .live
            .is_none()
        );
    }
}
