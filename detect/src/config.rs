//! `[detect]`: where the organisation's rules live and how often they are
//! checked for changes. The forwarder runs them over every event it converts.

use crate::source::RulesSource;
use falconry_common::config::{ConfigError, Problems};
use serde::Deserialize;
use std::time::Duration;

/// `[detect]` as the operator writes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectConfig {
    /// The rules: a directory, `file://dir` or `s3://bucket/prefix` (Sigma YAML,
    /// with `<rule>.tests.yml` beside them). Default: none, no detection.
    pub rules: Option<String>,
    /// How often the rules are listed for changes; a change reloads them
    /// without a restart. Default `60s`.
    #[serde(default = "d_reload", with = "humantime_serde")]
    pub reload_interval: Duration,
}

fn d_reload() -> Duration {
    Duration::from_secs(60)
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            rules: None,
            reload_interval: d_reload(),
        }
    }
}

/// Validated `[detect]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetectSettings {
    pub source: RulesSource,
    pub reload_interval: Duration,
}

impl DetectConfig {
    /// `None` when no rules are configured.
    pub fn validate(&self) -> Result<Option<DetectSettings>, ConfigError> {
        let mut p = Problems::new();
        let Some(rules) = self.rules.as_deref() else {
            return Ok(None);
        };
        let source = p.check("detect.rules", RulesSource::parse(rules));
        if self.reload_interval < Duration::from_secs(1) {
            p.add("detect.reload_interval", "at least 1s");
        }
        p.into_result()?;
        Ok(source.map(|source| DetectSettings {
            source,
            reload_interval: self.reload_interval,
        }))
    }
}
