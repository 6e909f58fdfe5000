//! The configuration file as a whole: one TOML file for every daemon, each
//! reading its own section. Loading order: file, then `FALCONRY__...`
//! environment variables, then command-line flags.

use falconry_common::config::{self, ConfigError, Override};
use falconry_common::telemetry::{AdminSettings, LogSettings};
use falconry_detect::DetectConfig;
use falconry_enricher::EnricherConfig;
use falconry_forwarder::ForwarderConfig;
use falconry_forwarder::hunt::config::HuntConfig;
use falconry_streamer::StreamerConfig;
use serde::Deserialize;
use std::path::Path;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub log: LogSettings,
    #[serde(default)]
    pub admin: AdminSettings,
    /// `[forwarder]`, when this file configures the forwarder.
    pub forwarder: Option<ForwarderConfig>,
    /// `[streamer]`, when this file configures the streamer.
    pub streamer: Option<StreamerConfig>,
    /// `[enricher]`, when this file configures the enricher.
    pub enricher: Option<EnricherConfig>,
    /// `[detect]`: the organisation's rules, run by the forwarder.
    pub detect: Option<DetectConfig>,
    /// `[hunt]`: the hunt daemon (`falconry hunt --config FILE`).
    pub hunt: Option<HuntConfig>,
}

impl Config {
    pub fn forwarder(&self) -> ForwarderConfig {
        self.forwarder.clone().unwrap_or_default()
    }

    pub fn streamer(&self) -> StreamerConfig {
        self.streamer.clone().unwrap_or_default()
    }

    pub fn enricher(&self) -> EnricherConfig {
        self.enricher.clone().unwrap_or_default()
    }

    pub fn detect(&self) -> DetectConfig {
        self.detect.clone().unwrap_or_default()
    }

    pub fn hunt(&self) -> HuntConfig {
        self.hunt.clone().unwrap_or_default()
    }

    /// `[hunt]` validated, its defaults taken from `[forwarder]` and `[detect]`.
    pub fn hunt_settings(
        &self,
    ) -> Result<falconry_forwarder::hunt::config::HuntSettings, ConfigError> {
        let detect = self.detect();
        self.hunt().validate(
            self.forwarder.as_ref().and_then(|f| f.dest.as_deref()),
            &detect.indicators,
            detect.command_line_urls,
        )
    }
}

pub fn load(file: Option<&Path>, flags: &[Override]) -> Result<Config, ConfigError> {
    config::load(file, flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example shipped in deploy/config parses and validates, so it cannot drift.
    #[test]
    fn shipped_example_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/config/falconry.toml");
        let secrets = [
            Override::new(
                "forwarder.source_aws.secret_access_key",
                "not-a-real-secret",
            ),
            Override::new("streamer.client_secret", "not-a-real-secret"),
            Override::new("enricher.github.private_key", TEST_KEY),
        ];
        let c = load(Some(&path), &secrets).expect("example parses");
        let s = c.forwarder().validate().expect("example validates");
        assert_eq!(s.source_aws.region.as_deref(), Some("us-west-1"));
        assert_eq!(s.layout.raw, "fdr/raw");
        assert!(c.admin.addr().unwrap().is_some());
        let st = c.streamer().validate().expect("streamer example validates");
        let live = st.live.expect("live settings");
        assert_eq!(live.base_url, "https://api.crowdstrike.com");
        assert_eq!(live.app_id, "falconry");
        let en = c.enricher().validate().expect("enricher example validates");
        assert_eq!(en.repo, "my-org/security-alerts");
    }

    /// The enricher's GitHub App test key (test-only, never a real app's).
    const TEST_KEY: &str = include_str!("../testkit/src/github/app-key.pem");
}
