//! `[detect]`: where the organisation's rules live and how often they are
//! checked for changes. The forwarder runs them over every event it converts.

use crate::ioc::{IocSettings, IocSource};
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
    /// Indicator sources, each `[FORMAT=]LOCATION`: a file, a directory,
    /// `file://…` or `s3://bucket/key-or-prefix` of CSV, STIX 2.1, MISP or
    /// `<name>.<type>.txt` lists. The forwarder looks for them in every event
    /// it converts; `falconry hunt` through the lake. Reloaded on change
    /// (`reload_interval`). A list, or one comma-separated string (as
    /// `FALCONRY__DETECT__INDICATORS` gives it). Default: none.
    #[serde(default, deserialize_with = "falconry_common::config::string_or_list")]
    pub indicators: Vec<String>,
    /// Also read the host of each URL in `CommandLine` for domain
    /// indicators (URL indicators are always looked for there). Default false.
    #[serde(default)]
    pub command_line_urls: bool,
}

fn d_reload() -> Duration {
    Duration::from_secs(60)
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            rules: None,
            reload_interval: d_reload(),
            indicators: Vec::new(),
            command_line_urls: false,
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
    /// `None` when no rules are configured. The indicator sources are
    /// checked too (their settings: [`DetectConfig::indicator_settings`]).
    pub fn validate(&self) -> Result<Option<DetectSettings>, ConfigError> {
        let mut p = Problems::new();
        self.check_indicators(&mut p);
        let Some(rules) = self.rules.as_deref() else {
            p.into_result()?;
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

impl DetectConfig {
    fn check_indicators(&self, p: &mut Problems) -> Vec<IocSource> {
        let mut out = Vec::new();
        for (i, text) in self.indicators.iter().enumerate() {
            if let Some(s) = p.check(&format!("detect.indicators[{i}]"), IocSource::parse(text)) {
                out.push(s);
            }
        }
        out
    }

    /// `None` when no indicator source is configured.
    pub fn indicator_settings(&self) -> Result<Option<IocSettings>, ConfigError> {
        let mut p = Problems::new();
        let sources = self.check_indicators(&mut p);
        if self.reload_interval < Duration::from_secs(1) {
            p.add("detect.reload_interval", "at least 1s");
        }
        p.into_result()?;
        Ok((!sources.is_empty()).then_some(IocSettings {
            sources,
            command_line_urls: self.command_line_urls,
            reload_interval: self.reload_interval,
        }))
    }
}
