//! The enricher's records under its state prefix (default `state/enricher`):
//! one dedup record per fingerprint, one case per issue opened (and the
//! cursors of the Alerts API poller and of the conclusions watcher), one scan
//! cursor per stream partition,
//! one record per findings object read, and the quarantined lines of each
//! batch.

use crate::store::join;

/// The enricher's state prefix inside its state location, by default.
pub const ENRICHER_STATE: &str = "state/enricher";

/// Keys under one enricher state prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnricherState {
    prefix: String,
}

impl EnricherState {
    pub fn new(prefix: &str) -> EnricherState {
        EnricherState {
            prefix: prefix.trim_matches('/').to_owned(),
        }
    }

    /// The listing prefix of every dedup record.
    pub fn dedup_prefix(&self) -> String {
        join(&self.prefix, "dedup/")
    }

    /// The dedup record of one fingerprint.
    pub fn dedup_key(&self, fingerprint: &str) -> String {
        join(&self.prefix, &format!("dedup/{fingerprint}.json"))
    }

    /// The scan cursor of one stream partition.
    pub fn cursor_key(&self, partition: u32) -> String {
        join(&self.prefix, &format!("scan/partition={partition}.json"))
    }

    /// The listing prefix of the records of findings objects read (scan mode).
    pub fn findings_read_prefix(&self) -> String {
        join(&self.prefix, "findings-read/")
    }

    /// The record that a findings object, as last modified at `modified_ms`,
    /// was read: a rewritten object (a re-conversion) has a new time and is
    /// read again; its alerts' dedup records keep repeats from repeating.
    pub fn findings_read_key(&self, findings_key: &str, modified_ms: Option<i64>) -> String {
        join(
            &self.prefix,
            &format!(
                "findings-read/{}@{}",
                findings_key.replace('/', "~"),
                modified_ms.unwrap_or(0)
            ),
        )
    }

    /// The listing prefix of every case record.
    pub fn cases_prefix(&self) -> String {
        join(&self.prefix, "cases/")
    }

    /// The case record of one issue (`repo` is `owner/name`, checked by the caller).
    pub fn case_key(&self, repo: &str, number: u64) -> String {
        join(&self.prefix, &format!("cases/{repo}/{number}.json"))
    }

    /// The Alerts API poller's cursor.
    pub fn alerts_cursor_key(&self) -> String {
        join(&self.prefix, "alerts/cursor.json")
    }

    /// The conclusions watcher's cursor of one repository's issues.
    pub fn issues_cursor_key(&self, repo: &str) -> String {
        join(&self.prefix, &format!("issues/{repo}.json"))
    }

    /// The listing prefix of the quarantined lines.
    pub fn quarantine_prefix(&self) -> String {
        join(&self.prefix, "quarantine/")
    }

    /// The quarantined lines of one batch (its key flattened into one name).
    pub fn quarantine_key(&self, batch_key: &str) -> String {
        join(
            &self.prefix,
            &format!("quarantine/{}.jsonl", batch_key.replace('/', "~")),
        )
    }
}

/// The hunt's state prefix inside the lake, by default.
pub const HUNT_STATE: &str = "state/hunt";

/// Keys under the hunt's state prefix: one record per (indicator, event)
/// match reported, and one per indicator already hunted back (daemon mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HuntState {
    prefix: String,
}

impl HuntState {
    pub fn new(prefix: &str) -> HuntState {
        HuntState {
            prefix: prefix.trim_matches('/').to_owned(),
        }
    }

    /// The record that `indicator` (its digest) matched `event` (its id, or
    /// a digest of what identifies it): created once, with `If-None-Match`.
    pub fn match_key(&self, indicator_digest: &str, event: &str) -> String {
        join(
            &self.prefix,
            &format!("matches/{indicator_digest}/{event}.json"),
        )
    }

    /// The record that an indicator was hunted back through the lake.
    pub fn hunted_key(&self, indicator_digest: &str) -> String {
        join(&self.prefix, &format!("hunted/{indicator_digest}.json"))
    }

    /// The listing prefix of the indicators hunted back.
    pub fn hunted_prefix(&self) -> String {
        join(&self.prefix, "hunted/")
    }

    /// A TAXII collection's cursor (its URL's digest).
    pub fn taxii_cursor_key(&self, collection_digest: &str) -> String {
        join(
            &self.prefix,
            &format!("cursors/taxii-{collection_digest}.json"),
        )
    }
}
