//! The configuration file as a whole: one TOML file for every daemon, each
//! reading its own section. Loading order: file, then `FALCONRY__...`
//! environment variables, then command-line flags.

use falconry_common::config::{self, ConfigError, Override};
use falconry_common::telemetry::{AdminSettings, LogSettings};
use falconry_forwarder::ForwarderConfig;
use serde::Deserialize;
use std::path::Path;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub log: LogSettings,
    #[serde(default)]
    pub admin: AdminSettings,
    #[serde(default)]
    pub forwarder: ForwarderConfig,
}

pub fn load(file: Option<&Path>, flags: &[Override]) -> Result<Config, ConfigError> {
    config::load(file, flags)
}
