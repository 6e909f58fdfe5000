//! The `[enricher]` configuration section ([`EnricherConfig`], with
//! `[enricher.github]` and `[enricher.slack]`) and its validation into typed
//! [`Settings`], every problem reported at once, before any network call.

use crate::context::config::ContextConfig;
use crate::dedup::Field;
use crate::response::config::{AlertsConfig, ResponseConfig, ResponseSettings};
use crate::tracker::github::{GitHubAuth, GitHubSettings};
use falconry_common::config::{ConfigError, Problems};
use falconry_common::{Location, Secret};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// `[enricher]`: detections from the stream batches → issues.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnricherConfig {
    /// SQS queue URL receiving the S3 event notifications (direct, SNS or
    /// EventBridge) of new stream batches. Use this or `from`.
    pub queue: Option<String>,
    /// Read stream batches by listing the streamer's destination
    /// (`s3://bucket[/prefix]` or `file://root`); one cursor per partition
    /// in the state store. Use this or `queue`.
    pub from: Option<String>,
    /// Scan mode: also read what the organisation's rules found, by listing
    /// the forwarder's destination (`s3://bucket[/prefix]` or `file://root`;
    /// its `findings/`). Default: `from` (one destination for both). With
    /// `queue`, findings objects announced on the queue are read instead.
    pub findings_from: Option<String>,
    /// Where issues go: `github` (see `[enricher.github]`) or `dir://path`
    /// (Markdown files). Default `dir://falconry-issues`.
    #[serde(default = "d_issues")]
    pub issues: String,
    /// Where the dedup records, scan cursors and quarantined lines live:
    /// `s3://bucket/prefix` or `file://root`. Default: `<issues dir>/.falconry`
    /// for `dir://` issues, else `<from>/state/enricher`; required with
    /// `queue` and `github`.
    pub state: Option<String>,
    /// Stop when there is nothing left to read (batch jobs, the demo). Default false.
    #[serde(default)]
    pub until_empty: bool,
    /// Event types that become alerts besides the built-in detection and
    /// incident types, e.g. `["CustomerIOCEvent", "OverwatchGenericDetectionSummaryEvent"]`.
    #[serde(default)]
    pub event_types: Vec<String>,
    /// Alerts with one fingerprint within this time of the last one are one
    /// issue. Default `24h`.
    #[serde(default = "d_window", with = "humantime_serde")]
    pub dedup_window: Duration,
    /// What makes two alerts "the same": any of detection, name, host, user,
    /// hash, command_line, kind, technique, cid. Default `["detection", "host", "hash"]`.
    #[serde(default = "d_fields")]
    pub dedup_fields: Vec<String>,
    /// Rego policy files (package `falconry`, rule `decision`). Default: the built-in policy.
    #[serde(default)]
    pub policy: Vec<PathBuf>,
    /// JSON documents for the policy's `data` (e.g. routing.json).
    #[serde(default)]
    pub policy_data: Vec<PathBuf>,
    /// Directory with template overrides (title.j2, issue.md.j2, comment.md.j2). Optional.
    pub templates: Option<PathBuf>,
    /// Repository for issues the policy does not route (`owner/name`). Default `falconry/alerts`.
    #[serde(default = "d_repo")]
    pub repo: String,
    /// Athena database named in the issue's ready query. Default `falconry`.
    #[serde(default = "d_database")]
    pub athena_database: String,
    /// Window of the issue's ready Athena query, each side of the detection. Default `30m`.
    #[serde(default = "d_history", with = "humantime_serde")]
    pub history_window: Duration,
    /// Alerts handled at once. Default 4.
    #[serde(default = "d_concurrency")]
    pub concurrency: usize,
    /// How often to look for new batches when scanning (`from`). Default `10s`.
    #[serde(default = "d_poll", with = "humantime_serde")]
    pub poll_interval: Duration,
    /// SQS visibility timeout of a message being worked on (extended while it is). Default `5m`.
    #[serde(default = "d_visibility", with = "humantime_serde")]
    pub visibility_timeout: Duration,
    /// After this long a silent replica's claim on creating an issue is taken over. Default `5m`.
    #[serde(default = "d_claim", with = "humantime_serde")]
    pub claim_ttl: Duration,
    #[serde(default)]
    pub github: GitHubConfig,
    #[serde(default)]
    pub slack: SlackConfig,
    /// `[enricher.context]`: context providers (all off by default).
    #[serde(default)]
    pub context: ContextConfig,
    /// `[enricher.alerts]`: Falcon's Alerts API polled and written back (off by default).
    #[serde(default)]
    pub alerts: AlertsConfig,
    /// `[enricher.response]`: conclusions, SLAs, reminders, the weekly report.
    #[serde(default)]
    pub response: ResponseConfig,
}

/// `[enricher.github]`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct GitHubConfig {
    /// API root: `https://api.github.com` (default) or `https://HOST/api/v3` (Enterprise Server).
    pub api_url: Option<String>,
    /// Personal access token (fine-grained: Issues read/write). Or use the App settings.
    pub token: Option<Secret>,
    /// GitHub App id (or client id). A number is accepted too
    /// (`FALCONRY__ENRICHER__GITHUB__APP_ID=123456`).
    #[serde(default, deserialize_with = "string_or_number")]
    pub app_id: Option<String>,
    /// Installation id of the App on the organisation.
    pub installation_id: Option<u64>,
    /// The App's private key (PEM text).
    pub private_key: Option<Secret>,
    /// ... or a file holding it.
    pub private_key_file: Option<PathBuf>,
    /// Our cap on issue/comment creations per minute. Default 60; github.com
    /// allows about 80 (at most 80 there); Enterprise Server admins set their own.
    pub content_per_minute: Option<u32>,
}

/// `[enricher.slack]`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    /// Incoming-webhook URL (a secret). No Slack notices when unset.
    pub webhook_url: Option<Secret>,
}

fn string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        Text(String),
        Number(u64),
    }
    Ok(Option::<Id>::deserialize(d)?.map(|id| match id {
        Id::Text(s) => s,
        Id::Number(n) => n.to_string(),
    }))
}

fn d_issues() -> String {
    "dir://falconry-issues".into()
}
fn d_window() -> Duration {
    Duration::from_secs(24 * 3600)
}
fn d_fields() -> Vec<String> {
    vec!["detection".into(), "host".into(), "hash".into()]
}
fn d_repo() -> String {
    "falconry/alerts".into()
}
fn d_database() -> String {
    "falconry".into()
}
fn d_history() -> Duration {
    Duration::from_secs(30 * 60)
}
fn d_concurrency() -> usize {
    4
}
fn d_poll() -> Duration {
    Duration::from_secs(10)
}
fn d_visibility() -> Duration {
    Duration::from_secs(300)
}
fn d_claim() -> Duration {
    Duration::from_secs(300)
}

impl Default for EnricherConfig {
    fn default() -> Self {
        EnricherConfig {
            queue: None,
            from: None,
            findings_from: None,
            issues: d_issues(),
            state: None,
            until_empty: false,
            event_types: Vec::new(),
            dedup_window: d_window(),
            dedup_fields: d_fields(),
            policy: Vec::new(),
            policy_data: Vec::new(),
            templates: None,
            repo: d_repo(),
            athena_database: d_database(),
            history_window: d_history(),
            concurrency: d_concurrency(),
            poll_interval: d_poll(),
            visibility_timeout: d_visibility(),
            claim_ttl: d_claim(),
            github: GitHubConfig::default(),
            slack: SlackConfig::default(),
            context: ContextConfig::default(),
            alerts: AlertsConfig::default(),
            response: ResponseConfig::default(),
        }
    }
}

/// Where batches come from.
#[derive(Debug, Clone)]
pub enum Input {
    Queue(String),
    Scan(Location),
}

/// Where issues go.
#[derive(Debug, Clone)]
pub enum Issues {
    GitHub(GitHubSettings),
    Dir(PathBuf),
}

/// What `falconry report` reads.
#[derive(Debug, Clone)]
pub struct ReportSettings {
    pub issues: Issues,
    pub state: Location,
    pub response: ResponseSettings,
    /// A posted report is also summarised here.
    pub slack_webhook: Option<Secret>,
}

/// Validated enricher settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub input: Input,
    /// Scan mode: the forwarder's destination, listed for findings.
    pub findings_from: Option<Location>,
    pub issues: Issues,
    pub state: Location,
    pub until_empty: bool,
    pub event_types: Vec<String>,
    pub dedup_window: Duration,
    pub dedup_fields: Vec<Field>,
    pub policy: Vec<PathBuf>,
    pub policy_data: Vec<PathBuf>,
    pub templates: Option<PathBuf>,
    pub repo: String,
    pub athena_database: String,
    pub history_window: Duration,
    pub concurrency: usize,
    pub poll_interval: Duration,
    pub visibility_timeout: Duration,
    pub claim_ttl: Duration,
    pub slack_webhook: Option<Secret>,
    /// Built into providers when the enricher starts.
    pub context: ContextConfig,
    /// The response loop: the Alerts API, conclusions, SLAs.
    pub response: ResponseSettings,
}

fn valid_repo(r: &str) -> bool {
    crate::tracker::split_repo(r).is_some()
}

impl EnricherConfig {
    pub fn validate(&self) -> Result<Settings, ConfigError> {
        let mut p = Problems::new();
        let input = match (self.queue.as_deref(), self.from.as_deref()) {
            (Some(q), None) if !q.is_empty() => {
                if let Err(e) = falconry_common::http::http_url(q) {
                    p.add("enricher.queue", format!("not an SQS queue URL: {e}"));
                }
                Some(Input::Queue(q.to_owned()))
            }
            (None, Some(f)) if !f.is_empty() => p
                .check("enricher.from", Location::parse(f))
                .map(Input::Scan),
            (Some(_), Some(_)) => {
                p.add(
                    "enricher",
                    "queue and from exclude each other: read notifications or scan, not both",
                );
                None
            }
            _ => {
                p.add("enricher.from", "required: the streamer's destination (s3://bucket/prefix or file://root), or enricher.queue");
                None
            }
        };
        let (issues, state) = self.issues_and_state(&mut p, input.as_ref());
        let mut fields = Vec::new();
        for f in &self.dedup_fields {
            match Field::parse(f) {
                Some(x) => fields.push(x),
                None => p.add(
                    "enricher.dedup_fields",
                    format!("{f:?} is not one of {}", Field::NAMES),
                ),
            }
        }
        if fields.is_empty() {
            p.add("enricher.dedup_fields", "at least one field");
        }
        if !valid_repo(&self.repo) {
            p.add(
                "enricher.repo",
                format!("{:?} is not owner/name", self.repo),
            );
        }
        if !crate::sql::valid_database(&self.athena_database) {
            p.add(
                "enricher.athena_database",
                "lower-case letters, digits and _ only",
            );
        }
        if !(1..=64).contains(&self.concurrency) {
            p.add("enricher.concurrency", "must be 1 to 64");
        }
        if self.dedup_window < Duration::from_secs(60) {
            p.add("enricher.dedup_window", "must be at least 1m");
        }
        if self.claim_ttl < Duration::from_secs(10) {
            p.add("enricher.claim_ttl", "must be at least 10s");
        }
        if self.visibility_timeout < Duration::from_secs(30)
            || self.visibility_timeout > Duration::from_secs(12 * 3600)
        {
            p.add("enricher.visibility_timeout", "must be 30s to 12h");
        }
        for f in self.policy.iter().chain(&self.policy_data) {
            if !f.is_file() {
                p.add(
                    "enricher.policy",
                    format!("{} is not a readable file", f.display()),
                );
            }
        }
        if let Some(d) = &self.templates
            && !d.is_dir()
        {
            p.add(
                "enricher.templates",
                format!("{} is not a directory", d.display()),
            );
        }
        let findings_from = match (&self.findings_from, &input) {
            (Some(f), _) => p.check("enricher.findings_from", Location::parse(f)),
            (None, Some(Input::Scan(from))) => Some(from.clone()),
            (None, _) => None,
        };
        let response = crate::response::config::check(&self.alerts, &self.response, &mut p);
        p.into_result()?;
        match (input, issues, state) {
            (Some(input), Some(issues), Some(state)) => Ok(Settings {
                input,
                findings_from,
                issues,
                state,
                until_empty: self.until_empty,
                event_types: self.event_types.clone(),
                dedup_window: self.dedup_window,
                dedup_fields: fields,
                policy: self.policy.clone(),
                policy_data: self.policy_data.clone(),
                templates: self.templates.clone(),
                repo: self.repo.clone(),
                athena_database: self.athena_database.clone(),
                history_window: self.history_window,
                concurrency: self.concurrency,
                poll_interval: self.poll_interval,
                visibility_timeout: self.visibility_timeout,
                claim_ttl: self.claim_ttl,
                slack_webhook: self.slack.webhook_url.clone().filter(|s| !s.is_empty()),
                context: self.context.clone(),
                response,
            }),
            _ => Err(ConfigError::Invalid(vec!["enricher: incomplete".into()])),
        }
    }

    /// Where issues go and where the state lives (the state's default
    /// follows from the issues and the input).
    fn issues_and_state(
        &self,
        p: &mut Problems,
        input: Option<&Input>,
    ) -> (Option<Issues>, Option<Location>) {
        let issues = if self.issues == "github" {
            self.github(p).map(Issues::GitHub)
        } else if let Some(path) = self.issues.strip_prefix("dir://") {
            if path.is_empty() {
                p.add("enricher.issues", "dir:// needs a path");
            }
            Some(Issues::Dir(PathBuf::from(path)))
        } else {
            p.add(
                "enricher.issues",
                format!("{:?} is not `github` or dir://path", self.issues),
            );
            None
        };
        let state = match (&self.state, &issues, input) {
            (Some(s), _, _) => p.check("enricher.state", Location::parse(s)),
            (None, Some(Issues::Dir(d)), _) => Some(Location::Local {
                root: d.join(".falconry"),
                prefix: String::new(),
            }),
            (None, _, Some(Input::Scan(from))) => Some(match from {
                Location::S3 { bucket, prefix } => Location::S3 {
                    bucket: bucket.clone(),
                    prefix: falconry_common::store::join(
                        prefix,
                        falconry_common::lake::state::ENRICHER_STATE,
                    ),
                },
                Location::Local { root, prefix } => Location::Local {
                    root: root.clone(),
                    prefix: falconry_common::store::join(
                        prefix,
                        falconry_common::lake::state::ENRICHER_STATE,
                    ),
                },
            }),
            _ => {
                p.add(
                    "enricher.state",
                    "required with a queue and GitHub: s3://bucket/prefix shared by every replica",
                );
                None
            }
        };
        (issues, state)
    }

    /// What `falconry report` needs: the issues, the state, the response
    /// settings (no input is required).
    pub fn validate_report(&self) -> Result<ReportSettings, ConfigError> {
        let mut p = Problems::new();
        let input = match (self.queue.as_deref(), self.from.as_deref()) {
            (None, Some(f)) if !f.is_empty() => Location::parse(f).ok().map(Input::Scan),
            _ => None,
        };
        let (issues, state) = self.issues_and_state(&mut p, input.as_ref());
        let response = crate::response::config::check(&self.alerts, &self.response, &mut p);
        p.into_result()?;
        match (issues, state) {
            (Some(issues), Some(state)) => Ok(ReportSettings {
                issues,
                state,
                response,
                slack_webhook: self.slack.webhook_url.clone().filter(|s| !s.is_empty()),
            }),
            _ => Err(ConfigError::Invalid(vec!["enricher: incomplete".into()])),
        }
    }

    fn github(&self, p: &mut Problems) -> Option<GitHubSettings> {
        let g = &self.github;
        let api_url = g
            .api_url
            .clone()
            .unwrap_or_else(|| "https://api.github.com".into());
        if let Err(e) = falconry_common::http::http_url(&api_url) {
            p.add("enricher.github.api_url", e);
        }
        let key = match (&g.private_key, &g.private_key_file) {
            (Some(k), None) => Some(k.clone()),
            (None, Some(f)) => match std::fs::read_to_string(f) {
                Ok(k) => Some(Secret::new(k)),
                Err(e) => {
                    p.add(
                        "enricher.github.private_key_file",
                        format!("{}: {e}", f.display()),
                    );
                    None
                }
            },
            (Some(_), Some(_)) => {
                p.add(
                    "enricher.github",
                    "private_key and private_key_file exclude each other",
                );
                None
            }
            (None, None) => None,
        };
        let auth = match (&g.token, &g.app_id, g.installation_id, key) {
            (Some(t), None, None, None) if !t.is_empty() => Some(GitHubAuth::Token(t.clone())),
            (None, Some(app), Some(inst), Some(key)) => Some(GitHubAuth::App {
                app_id: app.clone(),
                installation_id: inst,
                private_key_pem: key,
            }),
            _ => {
                p.add(
                    "enricher.github",
                    "set either token, or app_id + installation_id + private_key (or private_key_file)",
                );
                None
            }
        };
        let api = api_url.clone();
        let mut s = GitHubSettings::new(api_url, auth?);
        if let Some(n) = g.content_per_minute {
            if !(1..=1000).contains(&n) {
                p.add("enricher.github.content_per_minute", "must be 1 to 1000");
            } else if n > 80 && api.contains("api.github.com") {
                p.add(
                    "enricher.github.content_per_minute",
                    "github.com allows about 80 content-creating requests a minute: at most 80",
                );
            }
            s.content_per_minute = n;
        }
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_problems() {
        let s = EnricherConfig {
            from: Some("file:///tmp/lake".into()),
            ..EnricherConfig::default()
        }
        .validate()
        .unwrap();
        assert!(matches!(s.issues, Issues::Dir(_)));
        assert!(
            matches!(&s.state, Location::Local { root, .. } if root.ends_with("falconry-issues/.falconry"))
        );
        assert_eq!(s.dedup_fields, [Field::Detection, Field::Host, Field::Hash]);

        let err = EnricherConfig {
            issues: "github".into(),
            repo: "nope".into(),
            dedup_fields: vec!["colour".into()],
            github: GitHubConfig {
                token: Some(Secret::new("ghp_s3cr3t")),
                app_id: Some("1".into()),
                ..GitHubConfig::default()
            },
            ..EnricherConfig::default()
        }
        .validate()
        .unwrap_err()
        .to_string();
        for want in [
            "enricher.from",
            "enricher.github",
            "enricher.repo",
            "colour",
        ] {
            assert!(err.contains(want), "{want}: {err}");
        }
        assert!(!err.contains("s3cr3t"), "{err}");

        let s = EnricherConfig {
            from: Some("s3://b/p".into()),
            issues: "github".into(),
            github: GitHubConfig {
                token: Some(Secret::new("t")),
                api_url: Some("https://ghe.example.com/api/v3".into()),
                ..GitHubConfig::default()
            },
            ..EnricherConfig::default()
        }
        .validate()
        .unwrap();
        assert!(matches!(&s.state, Location::S3 { prefix, .. } if prefix == "p/state/enricher"));
        let err = EnricherConfig {
            queue: Some("https://sqs.us-east-1.amazonaws.com/1/q".into()),
            issues: "github".into(),
            github: GitHubConfig {
                token: Some(Secret::new("t")),
                ..GitHubConfig::default()
            },
            ..EnricherConfig::default()
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert!(err.contains("enricher.state"), "{err}");
        let parsed: EnricherConfig = toml::from_str("[github]\napp_id = 123456\n").unwrap();
        assert_eq!(parsed.github.app_id.as_deref(), Some("123456"));
    }
}
