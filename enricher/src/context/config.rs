//! `[enricher.context]`: the deadline every lookup shares and one section
//! per provider (`dns`, `geoip`, `directory`, `falcon_host`, `intel`,
//! `history`), each off unless configured. Building turns it into the
//! [`Context`] the pipeline asks; a provider that cannot be built is a
//! configuration error at start.

use super::directory::{self, DirectoryConfig};
use super::dns::{self, DnsConfig};
use super::falcon_host::{self, FalconHostConfig};
use super::geoip::{self, GeoIpConfig};
use super::history::{self, HistoryConfig};
use super::intel::{self, IntelConfig};
use super::{Context, ContextMetrics};
use falconry_common::aws;
use prometheus_client::registry::Registry;
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextConfig {
    /// Longest an alert waits for its context, all providers at once; a
    /// provider still busy then shows as "lookup failed". Default `10s`.
    #[serde(default = "d_deadline", with = "humantime_serde")]
    pub deadline: Duration,
    /// `[enricher.context.dns]`: A/AAAA/PTR lookups (off by default: operational security).
    #[serde(default)]
    pub dns: DnsConfig,
    /// `[enricher.context.geoip]`: MaxMind City/ASN databases.
    #[serde(default)]
    pub geoip: GeoIpConfig,
    /// `[enricher.context.directory]`: user directory and asset inventory files.
    #[serde(default)]
    pub directory: DirectoryConfig,
    /// `[enricher.context.falcon_host]`: Falcon host details (API scope Hosts: Read).
    #[serde(default)]
    pub falcon_host: FalconHostConfig,
    /// `[enricher.context.intel]`: VirusTotal, AbuseIPDB, GreyNoise.
    #[serde(default)]
    pub intel: IntelConfig,
    /// `[enricher.context.history]`: the host's activity from the lake (Parquet or Athena).
    #[serde(default)]
    pub history: HistoryConfig,
}

fn d_deadline() -> Duration {
    Duration::from_secs(10)
}

impl Default for ContextConfig {
    fn default() -> Self {
        ContextConfig {
            deadline: d_deadline(),
            dns: DnsConfig::default(),
            geoip: GeoIpConfig::default(),
            directory: DirectoryConfig::default(),
            falcon_host: FalconHostConfig::default(),
            intel: IntelConfig::default(),
            history: HistoryConfig::default(),
        }
    }
}

impl ContextConfig {
    /// Every provider that is configured; the others show as "off".
    /// Errors: every provider's problems, each prefixed with its section.
    /// With `online` false nothing is asked of a remote service (what
    /// `check-config` runs); the Athena workgroup's cutoff is then checked at start.
    pub async fn build(
        &self,
        http: reqwest::Client,
        registry: &mut Registry,
        online: bool,
    ) -> Result<Context, Vec<String>> {
        let mut problems = Vec::new();
        let mut context = Context::new(self.deadline).with_metrics(ContextMetrics::new(registry));
        if self.deadline < Duration::from_millis(100) || self.deadline > Duration::from_secs(300) {
            problems.push("enricher.context.deadline: must be 100ms to 5m".to_owned());
        }
        let uses_s3 = [&self.directory.users, &self.directory.assets]
            .into_iter()
            .flatten()
            .any(|l| l.starts_with("s3://"));
        let s3 = if uses_s3 {
            Some(aws::s3_client(&aws::sdk_config(&Default::default()).await))
        } else {
            None
        };
        let built = [
            ("dns", "DNS", dns::build(&self.dns)),
            ("geoip", "GeoIP / ASN", geoip::build(&self.geoip)),
            (
                "directory",
                "Directory",
                directory::build(&self.directory, s3),
            ),
            (
                "falcon_host",
                "Falcon host",
                falcon_host::build(&self.falcon_host, http.clone(), registry),
            ),
            (
                "intel",
                "Threat intel",
                intel::build(&self.intel, http, registry),
            ),
            (
                "history",
                "Host activity around the detection",
                history::build(&self.history, &Default::default(), online).await,
            ),
        ];
        for (id, title, result) in built {
            match result {
                Ok(Some(p)) => context.add(p),
                Ok(None) => context.add_off(id, title),
                Err(e) => problems.push(format!("enricher.context.{id}: {e}")),
            }
        }
        if problems.is_empty() {
            Ok(context)
        } else {
            Err(problems)
        }
    }
}
