//! Log set-up: JSON lines when stderr is not a terminal (containers), human
//! text on a terminal; level from the config or `RUST_LOG`. Secrets never reach
//! here: they are [`crate::Secret`]s, which print as `<redacted>`.

use serde::Deserialize;
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// JSON when stderr is not a terminal, text otherwise.
    #[default]
    Auto,
    Json,
    Text,
}

/// The `[log]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// `auto` (default), `json` or `text`.
    #[serde(default)]
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `falconry_forwarder=debug`; `RUST_LOG` wins. Default `info`.
    #[serde(default = "default_level")]
    pub level: String,
}

fn default_level() -> String {
    "info".to_owned()
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            format: LogFormat::Auto,
            level: default_level(),
        }
    }
}

impl LogSettings {
    /// Why `level` is not a filter `tracing` understands (it is refused, not
    /// silently replaced by `info`).
    pub fn check(&self) -> Result<(), String> {
        EnvFilter::try_new(&self.level)
            .map(drop)
            .map_err(|e| format!("log.level: {:?} is not a level or filter such as info or falconry_forwarder=debug: {e}", self.level))
    }
}

/// Installs the global subscriber (a second call is a no-op). A `log.level`
/// that is not a filter is a configuration error.
pub fn init_logging(settings: &LogSettings) -> Result<(), crate::config::ConfigError> {
    settings
        .check()
        .map_err(|p| crate::config::ConfigError::Invalid(vec![p]))?;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match settings.format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init()
    };
    Ok(())
}
