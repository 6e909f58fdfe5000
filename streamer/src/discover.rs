//! The Falcon API side of a stream, as data: the discover answer
//! (`GET /sensors/entities/datafeed/v2`) with one resource per partition. The
//! HTTP calls that use it are the live connection's job; the cloud base URLs
//! and the rate-limit headers' retry time are the shared Falcon login's
//! (`falconry_common::falcon_auth`).
//!
//! Pure.

use serde::Deserialize;
use std::time::Duration;

/// One partition's stream, as discover hands it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    pub number: u32,
    pub data_feed_url: String,
    pub session_token: String,
    /// The session token's expiry as the server wrote it (RFC 3339).
    pub expiration: Option<String>,
    pub refresh_url: String,
    /// Refresh at most this long after connecting (the server says 1800 s).
    pub refresh_interval: Duration,
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    resources: Vec<Resource>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Resource {
    #[serde(rename = "dataFeedURL")]
    data_feed_url: String,
    session_token: SessionToken,
    #[serde(rename = "refreshActiveSessionURL")]
    refresh_active_session_url: String,
    refresh_active_session_interval: Option<u64>,
}

#[derive(Deserialize)]
struct SessionToken {
    token: String,
    expiration: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DiscoverError {
    #[error("discover answer is not the expected JSON: {0}")]
    Shape(String),
    #[error("no partition number at the end of the data feed URL {0:?}")]
    NoPartition(String),
}

/// The partitions of a discover answer. An empty list means the appId is still
/// held by another (or a dead) session: wait and ask again.
pub fn partitions(body: &[u8]) -> Result<Vec<Partition>, DiscoverError> {
    let answer: Answer =
        serde_json::from_slice(body).map_err(|e| DiscoverError::Shape(e.to_string()))?;
    let mut out = Vec::with_capacity(answer.resources.len());
    for r in answer.resources {
        let number = partition_of(&r.data_feed_url)
            .ok_or_else(|| DiscoverError::NoPartition(r.data_feed_url.clone()))?;
        out.push(Partition {
            number,
            data_feed_url: r.data_feed_url,
            session_token: r.session_token.token,
            expiration: r.session_token.expiration,
            refresh_url: r.refresh_active_session_url,
            refresh_interval: Duration::from_secs(
                r.refresh_active_session_interval.unwrap_or(1800),
            ),
        });
    }
    out.sort_by_key(|p| p.number);
    Ok(out)
}

/// The partition number: the last path segment of `.../datafeed/v1/<partition>?appId=...`.
pub fn partition_of(url: &str) -> Option<u32> {
    let path = url.split(['?', '#']).next()?;
    path.trim_end_matches('/').rsplit('/').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discover_answers() {
        let body = br#"{"meta":{},"resources":[
          {"dataFeedURL":"https://firehose.crowdstrike.com/sensors/entities/datafeed/v1/1?appId=falconry","sessionToken":{"token":"t1","expiration":"2026-03-14T10:00:00Z"},"refreshActiveSessionURL":"https://api.crowdstrike.com/sensors/entities/datafeed-actions/v1/1?appId=falconry&action_name=refresh_active_stream_session","refreshActiveSessionInterval":1800},
          {"dataFeedURL":"https://firehose.crowdstrike.com/sensors/entities/datafeed/v1/0?appId=falconry","sessionToken":{"token":"t0"},"refreshActiveSessionURL":"https://x/0","refreshActiveSessionInterval":900}],"errors":[]}"#;
        let p = partitions(body).unwrap();
        assert_eq!(p.iter().map(|p| p.number).collect::<Vec<_>>(), vec![0, 1]);
        assert_eq!(p[0].refresh_interval, Duration::from_secs(900));
        assert_eq!(p[1].session_token, "t1");
        assert_eq!(partitions(br#"{"resources":[]}"#).unwrap(), vec![]);
        assert!(matches!(
            partitions(b"<html>"),
            Err(DiscoverError::Shape(_))
        ));
        let bad = br#"{"resources":[{"dataFeedURL":"https://x/feed?appId=a","sessionToken":{"token":"t"},"refreshActiveSessionURL":"u"}]}"#;
        assert!(matches!(
            partitions(bad),
            Err(DiscoverError::NoPartition(_))
        ));
    }
}
