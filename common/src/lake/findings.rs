//! Findings: what the organisation's rules found, as the forwarder writes
//! them and the enricher reads them. One gzip NDJSON object per source file
//! that had hits, at `<findings>/dt=YYYY-MM-DD/<stem>.findings.ndjson.gz`
//! (`dt` the notice's day, the stem the source key's, see
//! [`file_stem`](super::fdr::file_stem)): a redelivered notice writes the
//! same key, never a second copy. Each line is a [`Finding`], or a
//! [`Capped`] record when a rule fired more often in one file than
//! [`MAX_FINDINGS_PER_RULE`].
//!
//! The Athena table over them (`findings`) is generated from
//! [`COLUMNS`].

use super::fdr::{Layout, file_stem};
use serde::{Deserialize, Serialize};

/// The end of every findings object's name.
pub const FINDINGS_SUFFIX: &str = ".findings.ndjson.gz";

/// Findings kept per rule per source file; past that they are counted.
pub const MAX_FINDINGS_PER_RULE: u64 = 100;
/// Finding bytes kept per source file, whatever the rules; past that hits
/// are counted (in each rule's capped record).
pub const MAX_FINDINGS_BYTES: u64 = 64 * 1024 * 1024;
/// An event longer than this is cut in its finding (`event_length` says its
/// length; the raw copy and the Parquet keep it whole).
pub const MAX_FINDING_EVENT_BYTES: usize = 1024 * 1024;

/// What a finding says of its rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingRule {
    pub id: String,
    pub title: String,
    /// Sigma level: informational, low, medium, high, critical.
    pub level: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub falsepositives: Vec<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// The rules file it was loaded from.
    #[serde(default)]
    pub file: String,
}

/// Where the matched event was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingSource {
    #[serde(default)]
    pub bucket: Option<String>,
    pub key: String,
    /// 1-based line of the (decompressed) source file.
    pub line: u64,
}

/// A member that made the rule match, and its value: a string member's
/// content, or any other member's exact JSON text (one type for Athena).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Matched {
    pub field: String,
    pub value: String,
}

/// What a finding says of the indicator of compromise it matched (an IoC
/// finding's `rule` describes the indicator as a rule: id `ioc:<type>:<value>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingIndicator {
    /// `sha256`, `sha1`, `md5`, `domain`, `ipv4`, `ipv6`, `cidr`, `url`, `file-name`.
    pub kind: String,
    /// The indicator in its normal form (`*.` first for a domain's subdomains).
    pub value: String,
    /// The feed it came from.
    pub source: String,
    #[serde(default)]
    pub description: Option<String>,
    /// When it was learned (epoch ms).
    #[serde(default)]
    pub learned: Option<i64>,
    #[serde(default)]
    pub labels: Vec<String>,
    /// Its id in the feed (STIX id, MISP uuid).
    #[serde(default)]
    pub reference: Option<String>,
    /// `live` (as the event was converted) or `hunt` (found in the lake later).
    pub found_by: String,
}

/// One rule (or indicator) matching one event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub rule: FindingRule,
    /// Set on an indicator-of-compromise finding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indicator: Option<FindingIndicator>,
    pub source: FindingSource,
    #[serde(default)]
    pub aid: Option<String>,
    #[serde(default)]
    pub computer_name: Option<String>,
    #[serde(default)]
    pub event_simplename: Option<String>,
    /// The event's own time (epoch ms), when it has one.
    #[serde(default)]
    pub timestamp: Option<i64>,
    #[serde(default)]
    pub matched: Vec<Matched>,
    /// The matched event, exactly as the line wrote it (cut at
    /// [`MAX_FINDING_EVENT_BYTES`], see `event_length`).
    pub event: String,
    /// Set when `event` was cut: the line's full length in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_length: Option<u64>,
}

/// A rule fired more than [`MAX_FINDINGS_PER_RULE`] times in one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capped {
    pub capped: bool,
    pub rule: FindingRule,
    pub source: FindingSource,
    pub omitted: u64,
    pub last_omitted_line: u64,
}

/// One line of a findings object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FindingLine {
    Capped(Box<Capped>),
    Finding(Box<Finding>),
}

/// The `findings` table's columns: `(name, Athena type, doc)`. The Glue
/// table and the Athena DDL are generated from this list.
pub const COLUMNS: &[(&str, &str, &str)] = &[
    (
        "rule",
        "struct<id:string,title:string,level:string,status:string,tags:array<string>,falsepositives:array<string>,description:string,file:string>",
        "The rule that matched.",
    ),
    (
        "source",
        "struct<bucket:string,key:string,line:bigint>",
        "The FDR file and line of the event.",
    ),
    ("aid", "string", "Falcon agent id of the host."),
    (
        "computer_name",
        "string",
        "The host's name, when the event has it.",
    ),
    ("event_simplename", "string", "The event's type."),
    ("timestamp", "bigint", "The event's time (epoch ms)."),
    (
        "matched",
        "array<struct<field:string,value:string>>",
        "The members that made the rule match.",
    ),
    (
        "event",
        "string",
        "The matched event, exactly as FDR wrote it (json_extract it).",
    ),
    (
        "capped",
        "boolean",
        "True on the line that counts a rule's findings past the per-file cap.",
    ),
    (
        "omitted",
        "bigint",
        "On a capped line: findings not written.",
    ),
    (
        "indicator",
        "struct<kind:string,value:string,source:string,description:string,learned:bigint,labels:array<string>,reference:string,found_by:string>",
        "Set on an indicator-of-compromise finding: the indicator, its feed, when it was learned (epoch ms), and how the match was found (live, hunt).",
    ),
    (
        "event_length",
        "bigint",
        "Set when event was cut at 1 MiB: the line's full length (the raw copy and Parquet keep it whole).",
    ),
];

impl Layout {
    /// The findings of `source_key`, announced on `day` (`YYYY-MM-DD`).
    pub fn findings_key(&self, source_key: &str, day: &str) -> String {
        format!(
            "{}/dt={day}/{}{FINDINGS_SUFFIX}",
            self.findings,
            file_stem(source_key)
        )
    }

    /// The findings of one hunt through the lake, reported on `day`:
    /// `digest` names the matches it reports, so a hunt run again after a
    /// crash writes the same key.
    pub fn hunt_findings_key(&self, day: &str, digest: &str) -> String {
        format!("{}/dt={day}/hunt-{digest}{FINDINGS_SUFFIX}", self.findings)
    }

    /// The listing prefix of every findings object.
    pub fn findings_prefix(&self) -> String {
        format!("{}/", self.findings)
    }
}

/// Whether a key (under any prefix) names a findings object: a `dt=` folder
/// and a `….findings.ndjson.gz` name.
pub fn is_findings_key(key: &str) -> bool {
    let mut segments = key.rsplit('/');
    let name_ok = segments
        .next()
        .is_some_and(|n| n.len() > FINDINGS_SUFFIX.len() && n.ends_with(FINDINGS_SUFFIX));
    name_ok && segments.next().is_some_and(|dt| dt.starts_with("dt="))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_lines() {
        let l = Layout::default().under("lake");
        let k = l.findings_key("data/u/part-00000.gz", "2026-03-14");
        assert_eq!(
            k,
            "lake/findings/dt=2026-03-14/data_u_part-00000.gz.findings.ndjson.gz"
        );
        assert!(is_findings_key(&k));
        assert!(!is_findings_key("lake/findings/x.findings.ndjson.gz"));
        assert!(!is_findings_key(
            "lake/stream/partition=0/dt=x/1-2.ndjson.gz"
        ));
        let capped = r#"{"capped":true,"rule":{"id":"r","title":"t","level":"low"},"source":{"key":"k","line":9},"omitted":3,"last_omitted_line":9}"#;
        assert!(matches!(
            serde_json::from_str::<FindingLine>(capped).unwrap(),
            FindingLine::Capped(_)
        ));
        let finding = r#"{"rule":{"id":"r","title":"t","level":"low"},"source":{"key":"k","line":9},"event":"{}"}"#;
        assert!(matches!(
            serde_json::from_str::<FindingLine>(finding).unwrap(),
            FindingLine::Finding(_)
        ));
    }
}
