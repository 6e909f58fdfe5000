//! One record per (indicator, event) match, under `state/hunt/matches/`,
//! so each is reported once across hunts, replicas and restarts. A match is
//! *claimed* before its finding is written (created with `If-None-Match:
//! *`, status `pending`), and marked `reported` once the finding is
//! durable. A claim left `pending` longer than [`LEASE`] (its hunt died
//! between the two) is taken over (`If-Match` on the tag read) and reported
//! again. Two replicas hunting at once: one claims, the other sees it known.

use falconry_common::lake::state::HuntState;
use falconry_common::store::{Precondition, Swap, Tag};
use falconry_common::{Store, StoreError};
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

/// How long a `pending` claim holds before another hunt may take it over.
pub const LEASE_MS: i64 = 10 * 60 * 1000;

/// 32 hex digits naming `text` in keys.
pub fn digest(text: &str) -> String {
    hex::encode(Md5::digest(text.as_bytes()))
}

/// A match's identity in its record key: the event's id when it is a plain
/// id, else a digest of what identifies the row.
pub fn event_key(
    id: Option<&str>,
    aid: Option<&str>,
    t: Option<i64>,
    field: &str,
    value: &str,
) -> String {
    match id {
        Some(id)
            if !id.is_empty()
                && id.len() <= 64
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            id.to_owned()
        }
        _ => digest(&format!(
            "{}|{}|{field}|{value}",
            aid.unwrap_or(""),
            t.unwrap_or(0)
        )),
    }
}

/// The record of `indicator_id` matching an event.
pub fn key(state: &HuntState, indicator_id: &str, event: &str) -> String {
    state.match_key(&digest(indicator_id), event)
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Reported,
}

/// What a record holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub status: Status,
    pub indicator: String,
    #[serde(default)]
    pub event_id: Option<String>,
    #[serde(default)]
    pub aid: Option<String>,
    #[serde(default)]
    pub field: String,
    /// Where it was found: a Parquet file (hunt) or an FDR file (live).
    #[serde(default)]
    pub file: String,
    /// When the claim was made, or the report (epoch ms).
    pub at_ms: i64,
    /// The findings object that reported it.
    #[serde(default)]
    pub findings: Option<String>,
}

/// A claim this hunt holds: the key and the tag to mark it reported with.
#[derive(Debug, Clone)]
pub struct Claim {
    pub key: String,
    pub tag: Tag,
    pub record: Record,
}

fn body(r: &Record) -> bytes::Bytes {
    serde_json::to_vec(r).unwrap_or_default().into()
}

/// Claims a match: `Some` when this hunt is to report it, `None` when it is
/// known (reported, or claimed by a hunt still within its lease).
pub async fn claim(
    store: &Store,
    key: &str,
    mut record: Record,
    now_ms: i64,
) -> Result<Option<Claim>, StoreError> {
    record.status = Status::Pending;
    record.at_ms = now_ms;
    let pre = match store.get_tagged(key).await? {
        None => Precondition::Absent,
        Some((bytes, tag)) => match serde_json::from_slice::<Record>(&bytes) {
            Ok(r) if r.status == Status::Reported => return Ok(None),
            Ok(r) if now_ms - r.at_ms < LEASE_MS => return Ok(None),
            // A stale claim, or a record we cannot read: take it over.
            _ => Precondition::Matches(tag),
        },
    };
    match store.put_if(key, body(&record), &pre).await? {
        Swap::Written(tag) => Ok(Some(Claim {
            key: key.to_owned(),
            tag,
            record,
        })),
        Swap::Conflict => Ok(None),
    }
}

/// Marks a claimed match reported (by `findings`).
pub async fn reported(
    store: &Store,
    claim: Claim,
    findings: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    let mut r = claim.record;
    r.status = Status::Reported;
    r.at_ms = now_ms;
    r.findings = Some(findings.to_owned());
    match store
        .put_if(&claim.key, body(&r), &Precondition::Matches(claim.tag))
        .await?
    {
        Swap::Written(_) => {}
        Swap::Conflict => {
            tracing::warn!(key = %claim.key, "a match's claim was taken over before it was marked reported; the other hunt reports it too");
        }
    }
    Ok(())
}

/// Records a match already reported (the forwarder's live findings are
/// durable before it records them): created if absent, else left as is.
pub async fn record_reported(
    store: &Store,
    key: &str,
    mut record: Record,
) -> Result<(), StoreError> {
    record.status = Status::Reported;
    store
        .put_if(key, body(&record), &Precondition::Absent)
        .await?;
    Ok(())
}
