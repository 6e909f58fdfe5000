//! The `[forwarder]` configuration section as written by the operator
//! ([`ForwarderConfig`]), and its validation into typed [`Settings`] before
//! any network call, with every problem reported at once.

use crate::convert::ConvertOptions;
use crate::layout::Layout;
use falconry_common::aws::{AwsSettings, region_from_queue_url};
use falconry_common::config::{ConfigError, Problems};
use falconry_common::{Location, Secret};
use serde::Deserialize;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

/// `[forwarder]`: FDR notices from a queue → raw copy + Parquet in the destination.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwarderConfig {
    /// Where notices come from: an SQS queue URL (CrowdStrike's FDR queue, or
    /// your own for S3 event notifications) or `dir://path` (embedded default). Required.
    pub queue: Option<String>,
    /// Where the notices' files are read from: `s3://bucket` to override the
    /// bucket named in each notice, or `file://root` (a notice's key is read from
    /// `<root>/<key>`). Default: the bucket each notice names.
    pub source: Option<String>,
    /// The only buckets a notice may name (a notice naming another is rejected
    /// before anything is read). Recommended with S3 event notifications and
    /// a broad task role: a notice must not be a way to read other buckets.
    /// Default: empty, any bucket.
    #[serde(default)]
    pub source_buckets: Vec<String>,
    /// Destination of the raw copies, Parquet and state: `s3://bucket[/prefix]` or `file://root`. Required.
    pub dest: Option<String>,
    /// Credentials, region and endpoint of the source side (the FDR key pair CrowdStrike hands out).
    #[serde(default)]
    pub source_aws: SourceAws,
    /// Key prefix of raw copies under the destination. Default `raw`.
    #[serde(default = "d_raw")]
    pub raw_prefix: String,
    /// Key prefix of Parquet tables under the destination. Default `parquet`.
    #[serde(default = "d_parquet")]
    pub parquet_prefix: String,
    /// Key prefix of quarantined lines under the destination. Default `quarantine`.
    #[serde(default = "d_quarantine")]
    pub quarantine_prefix: String,
    /// Key prefix of manifests and failure records under the destination. Default `state`.
    #[serde(default = "d_state")]
    pub state_prefix: String,
    /// Key prefix of what the rules (`[detect]`) found, under the destination. Default `findings`.
    #[serde(default = "d_findings")]
    pub findings_prefix: String,
    /// Notices processed at once. Default 4.
    #[serde(default = "d_notices")]
    pub notices_in_flight: usize,
    /// Files (copy + conversion) processed at once across all notices; each
    /// takes about one CPU core and up to ~192 MiB. Default: the number of CPUs,
    /// fewer when memory (the container's limit) holds fewer; more is refused.
    pub files_in_flight: Option<usize>,
    /// Visibility timeout set on receive and renewed by the heartbeat every third of it. Default `5m`.
    #[serde(default = "d_visibility", with = "humantime_serde")]
    pub visibility_timeout: Duration,
    /// Long-poll wait of one receive (at most 20 s on SQS). Default `20s`.
    #[serde(default = "d_wait", with = "humantime_serde")]
    pub wait_time: Duration,
    /// How long a failed notice stays invisible before SQS redelivers it. Default `60s`.
    #[serde(default = "d_retry", with = "humantime_serde")]
    pub retry_delay: Duration,
    /// On SIGTERM, how long work in flight may take to finish. Default `25s` (ECS gives 30 s).
    #[serde(default = "d_grace", with = "humantime_serde")]
    pub grace_period: Duration,
    /// `error` (default): a file whose MD5 or size differs from the notice is not
    /// stored and the notice is retried; `warn`: stored and converted, with a warning.
    #[serde(default)]
    pub checksum_mismatch: ChecksumMode,
    /// Lines longer than this many bytes are quarantined. Default 16 MiB.
    #[serde(default = "d_line")]
    pub max_line_bytes: usize,
    /// Multipart part size in bytes for uploads. Default 8 MiB (minimum 5 MiB).
    #[serde(default = "d_part")]
    pub part_size: usize,
    /// zstd level of the Parquet files (1-22). Default 1: faster than 3 and,
    /// on FDR data, smaller files too (each page is compressed on its own).
    #[serde(default = "d_zstd")]
    pub zstd_level: i32,
    /// Directory for temporary Parquet files. Default: the system temp dir.
    pub tmp_dir: Option<PathBuf>,
    /// After this many failed deliveries of one notice, write a failure record
    /// under `<state>/failures/` and log it at error level (CrowdStrike's queue has no DLQ we can set). Default 5.
    #[serde(default = "d_report")]
    pub report_after_receives: u32,
    /// Exit once the queue is empty (batch jobs, backfills): 0 if every notice
    /// succeeded, non-zero otherwise. Default false.
    #[serde(default)]
    pub until_empty: bool,
}

/// `[forwarder.source_aws]`: the source side's own AWS identity.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceAws {
    /// FDR access key id. Default: the standard AWS credential chain.
    pub access_key_id: Option<String>,
    /// FDR secret access key (never logged).
    pub secret_access_key: Option<Secret>,
    /// Session token for temporary credentials (never logged). Optional.
    pub session_token: Option<Secret>,
    /// Region of the FDR bucket and queue. Default: derived from the queue URL.
    pub region: Option<String>,
    /// Endpoint override for the source side. Default: `AWS_ENDPOINT_URL` or AWS.
    pub endpoint: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChecksumMode {
    #[default]
    Error,
    Warn,
}

fn d_raw() -> String {
    Layout::default().raw
}
fn d_parquet() -> String {
    Layout::default().parquet
}
fn d_quarantine() -> String {
    Layout::default().quarantine
}
fn d_state() -> String {
    Layout::default().state
}
fn d_findings() -> String {
    Layout::default().findings
}
fn d_notices() -> usize {
    4
}
fn d_visibility() -> Duration {
    Duration::from_secs(300)
}
fn d_wait() -> Duration {
    Duration::from_secs(20)
}
fn d_retry() -> Duration {
    Duration::from_secs(60)
}
fn d_grace() -> Duration {
    Duration::from_secs(25)
}
fn d_line() -> usize {
    16 * 1024 * 1024
}
fn d_part() -> usize {
    falconry_common::store::DEFAULT_PART_SIZE
}
fn d_zstd() -> i32 {
    crate::convert::DEFAULT_ZSTD_LEVEL
}
fn d_report() -> u32 {
    5
}

impl Default for ForwarderConfig {
    /// The same defaults as an empty `[forwarder]` table.
    fn default() -> Self {
        ForwarderConfig {
            queue: None,
            source: None,
            dest: None,
            source_aws: SourceAws::default(),
            raw_prefix: d_raw(),
            parquet_prefix: d_parquet(),
            quarantine_prefix: d_quarantine(),
            state_prefix: d_state(),
            findings_prefix: d_findings(),
            notices_in_flight: d_notices(),
            files_in_flight: None,
            source_buckets: Vec::new(),
            visibility_timeout: d_visibility(),
            wait_time: d_wait(),
            retry_delay: d_retry(),
            grace_period: d_grace(),
            checksum_mismatch: ChecksumMode::Error,
            max_line_bytes: d_line(),
            part_size: d_part(),
            zstd_level: d_zstd(),
            tmp_dir: None,
            report_after_receives: d_report(),
            until_empty: false,
        }
    }
}

/// Where notices come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueSpec {
    Sqs { url: String },
    Dir { path: PathBuf },
}

/// Validated forwarder settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `None` only for replay.
    pub queue: Option<QueueSpec>,
    /// `None`: read from the bucket each notice names.
    pub source: Option<Location>,
    pub dest: Location,
    pub source_aws: AwsSettings,
    pub layout: Layout,
    pub notices_in_flight: NonZeroUsize,
    pub files_in_flight: NonZeroUsize,
    pub visibility_timeout: Duration,
    pub wait_time: Duration,
    pub retry_delay: Duration,
    pub grace_period: Duration,
    pub checksum_mismatch: ChecksumMode,
    pub part_size: usize,
    pub convert: ConvertOptions,
    pub report_after_receives: u32,
    pub until_empty: bool,
    /// Empty: any bucket a notice names.
    pub source_buckets: Vec<String>,
    /// The organisation's rules (`[detect]`), when configured: set by the
    /// binary from that section or `--rules`.
    pub detect: Option<falconry_detect::DetectSettings>,
    /// Indicators of compromise (`[detect] indicators`), looked for in every
    /// event converted.
    pub indicators: Option<falconry_detect::ioc::IocSettings>,
}

/// Memory one file in flight may take (a conversion's run, builders and
/// row groups, and the copy's buffers), with headroom over the ~115 MB the
/// benchmark measures per extra file.
const FILE_MEMORY: u64 = 192 << 20;

/// The memory this process may use: the cgroup v2 limit when there is one,
/// else the machine's total.
fn memory_bytes() -> Option<u64> {
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok());
    cgroup.or_else(|| {
        std::fs::read_to_string("/proc/meminfo")
            .ok()?
            .lines()
            .find_map(|l| {
                let kb = l.strip_prefix("MemTotal:")?.trim().strip_suffix("kB")?;
                kb.trim().parse::<u64>().ok().map(|k| k * 1024)
            })
    })
}

impl ForwarderConfig {
    /// Checks everything and returns typed settings, or every problem found.
    pub fn validate(&self) -> Result<Settings, ConfigError> {
        self.checked(true)
    }

    /// As [`ForwarderConfig::validate`], without requiring a queue (replay reads
    /// the destination only).
    pub fn validate_for_replay(&self) -> Result<Settings, ConfigError> {
        self.checked(false)
    }

    fn checked(&self, need_queue: bool) -> Result<Settings, ConfigError> {
        let mut p = Problems::new();
        let queue = match self.queue.as_deref() {
            None | Some("") if !need_queue => None,
            None | Some("") => {
                p.add(
                    "forwarder.queue",
                    "required (an SQS queue URL or dir://path)",
                );
                None
            }
            Some(q) if q.starts_with("dir://") => Some(QueueSpec::Dir {
                path: PathBuf::from(&q["dir://".len()..]),
            }),
            Some(q) if falconry_common::http::http_url(q).is_ok() => {
                Some(QueueSpec::Sqs { url: q.to_owned() })
            }
            Some(q) => {
                p.add(
                    "forwarder.queue",
                    format!("{q:?} is neither an SQS queue URL (https://...) nor dir://path"),
                );
                None
            }
        };
        if let Some(dir) = &self.tmp_dir
            && !dir.is_dir()
        {
            p.add(
                "forwarder.tmp_dir",
                format!("{} is not an existing directory", dir.display()),
            );
        }
        let source = self
            .source
            .as_deref()
            .and_then(|s| p.check("forwarder.source", Location::parse(s)));
        let dest = match self.dest.as_deref() {
            None | Some("") => {
                p.add(
                    "forwarder.dest",
                    "required (s3://bucket[/prefix] or file://root)",
                );
                None
            }
            Some(d) => p.check("forwarder.dest", Location::parse(d)),
        };
        let nz = |p: &mut Problems, field: &str, v: usize| {
            let r = NonZeroUsize::new(v);
            if r.is_none() {
                p.add(field, "must be at least 1");
            }
            r
        };
        let notices = nz(
            &mut p,
            "forwarder.notices_in_flight",
            self.notices_in_flight,
        );
        let cpus = std::thread::available_parallelism()
            .map(std::num::NonZero::get)
            .unwrap_or(2);
        // Each file in flight holds a conversion's memory: bounded by what this
        // container has (its cgroup limit, else the machine's memory).
        let by_memory = memory_bytes().map(|m| (m / FILE_MEMORY).max(1) as usize);
        if let (Some(n), Some(max)) = (self.files_in_flight, by_memory)
            && n > max
        {
            p.add(
                "forwarder.files_in_flight",
                format!(
                    "{n} files at ~{} MiB each need more memory than the {} MiB available: at most {max}",
                    FILE_MEMORY >> 20,
                    memory_bytes().unwrap_or(0) >> 20
                ),
            );
        }
        let files = nz(
            &mut p,
            "forwarder.files_in_flight",
            self.files_in_flight
                .unwrap_or_else(|| by_memory.map_or(cpus, |m| cpus.min(m))),
        );
        for b in &self.source_buckets {
            if b.is_empty() || b.contains('/') {
                p.add(
                    "forwarder.source_buckets",
                    format!("{b:?} is not a bucket name"),
                );
            }
        }
        if self.visibility_timeout < Duration::from_secs(3)
            || self.visibility_timeout > Duration::from_secs(43_200)
        {
            p.add("forwarder.visibility_timeout", "must be between 3s and 12h");
        }
        if self.wait_time > Duration::from_secs(20) {
            p.add(
                "forwarder.wait_time",
                "must be at most 20s (the SQS long-poll limit)",
            );
        }
        if self.part_size < 5 * 1024 * 1024 {
            p.add(
                "forwarder.part_size",
                "must be at least 5 MiB (the S3 multipart minimum)",
            );
        }
        if self.max_line_bytes < 1024 {
            p.add("forwarder.max_line_bytes", "must be at least 1024");
        }
        if !(1..=22).contains(&self.zstd_level) {
            p.add("forwarder.zstd_level", "must be between 1 and 22");
        }
        let a = &self.source_aws;
        if a.access_key_id.is_some() != a.secret_access_key.is_some() {
            p.add(
                "forwarder.source_aws",
                "access_key_id and secret_access_key go together",
            );
        }
        for (field, prefix) in [
            ("forwarder.raw_prefix", &self.raw_prefix),
            ("forwarder.parquet_prefix", &self.parquet_prefix),
            ("forwarder.quarantine_prefix", &self.quarantine_prefix),
            ("forwarder.state_prefix", &self.state_prefix),
        ] {
            if prefix.starts_with('/') || prefix.ends_with('/') || prefix.contains("..") {
                p.add(field, "must not start or end with '/' nor contain '..'");
            }
        }
        let prefixes = [
            &self.raw_prefix,
            &self.parquet_prefix,
            &self.quarantine_prefix,
            &self.state_prefix,
        ];
        for (i, a) in prefixes.iter().enumerate() {
            for b in &prefixes[i + 1..] {
                if a == b || a.starts_with(&format!("{b}/")) || b.starts_with(&format!("{a}/")) {
                    p.add("forwarder.*_prefix", format!("{a:?} and {b:?} overlap"));
                }
            }
        }
        p.into_result()?;
        let (Some(dest), Some(notices), Some(files)) = (dest, notices, files) else {
            return Err(ConfigError::Invalid(vec!["forwarder: incomplete".into()]));
        };
        let region = a.region.clone().or_else(|| match &queue {
            Some(QueueSpec::Sqs { url }) => region_from_queue_url(url),
            _ => None,
        });
        let layout = Layout {
            raw: self.raw_prefix.clone(),
            parquet: self.parquet_prefix.clone(),
            quarantine: self.quarantine_prefix.clone(),
            state: self.state_prefix.clone(),
            findings: self.findings_prefix.clone(),
        }
        .under(dest.prefix());
        Ok(Settings {
            queue,
            source,
            dest,
            source_aws: AwsSettings {
                region,
                endpoint: a.endpoint.clone(),
                access_key_id: a.access_key_id.clone(),
                secret_access_key: a.secret_access_key.clone(),
                session_token: a.session_token.clone(),
            },
            layout,
            notices_in_flight: notices,
            files_in_flight: files,
            visibility_timeout: self.visibility_timeout,
            wait_time: self.wait_time,
            retry_delay: self.retry_delay,
            grace_period: self.grace_period,
            checksum_mismatch: self.checksum_mismatch,
            part_size: self.part_size,
            convert: ConvertOptions {
                max_line_bytes: self.max_line_bytes,
                fallback_ms: 0,
                zstd_level: self.zstd_level,
                tmp_dir: self.tmp_dir.clone().unwrap_or_else(std::env::temp_dir),
                quarantine_budget: crate::convert::QUARANTINE_BUDGET,
                detect: None,
                stop_after: crate::convert::Stage::Write,
            },
            report_after_receives: self.report_after_receives.max(1),
            until_empty: self.until_empty,
            detect: None,
            indicators: None,
            source_buckets: self.source_buckets.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_required_fields() {
        let c = ForwarderConfig::default();
        assert_eq!(c.notices_in_flight, 4);
        let err = c.validate().unwrap_err().to_string();
        assert!(
            err.contains("forwarder.queue") && err.contains("forwarder.dest"),
            "{err}"
        );
    }

    #[test]
    fn all_problems_at_once_and_no_secret_in_them() {
        let c: ForwarderConfig = toml::from_str(
            r#"queue = "ftp://x"
               dest = "s3://"
               notices_in_flight = 0
               part_size = 1
               zstd_level = 99
               raw_prefix = "data"
               parquet_prefix = "data/p"
               [source_aws]
               secret_access_key = "wJalrXUtnFEMI-SECRET""#,
        )
        .unwrap();
        let err = c.validate().unwrap_err().to_string();
        for needle in [
            "forwarder.queue",
            "forwarder.dest",
            "notices_in_flight",
            "part_size",
            "zstd_level",
            "source_aws",
            "overlap",
        ] {
            assert!(err.contains(needle), "{needle} missing in {err}");
        }
        assert!(!err.contains("SECRET"));
        assert!(!format!("{c:?}").contains("SECRET"));
    }

    #[test]
    fn region_from_queue_and_layout_under_dest_prefix() {
        let c: ForwarderConfig = toml::from_str(
            r#"queue = "https://sqs.us-west-1.amazonaws.com/123/cs-queue"
               dest = "s3://ours/falconry""#,
        )
        .unwrap();
        let s = c.validate().unwrap();
        assert_eq!(s.source_aws.region.as_deref(), Some("us-west-1"));
        assert_eq!(s.layout.raw, "falconry/raw");
        assert_eq!(
            s.queue,
            Some(QueueSpec::Sqs {
                url: "https://sqs.us-west-1.amazonaws.com/123/cs-queue".into()
            })
        );
    }
}
