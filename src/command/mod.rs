//! One module per subcommand: each loads what it needs, calls a crate's
//! `run` (or tool function) and prints the outcome. Shared here: flags turned
//! into configuration overrides, and the admin port a daemon's telemetry uses.

pub mod check_config;
pub mod convert;
pub mod enrich;
pub mod fixtures;
pub mod forward;
pub mod healthcheck;
pub mod hunt;
pub mod policy;
pub mod report;
pub mod rules;
pub mod schema;
pub mod stream;

use crate::config::Config;
use falconry_common::config::{ConfigError, Override};
use falconry_common::telemetry::Telemetry;

/// Configuration overrides from the flags that were given, and `until_empty`
/// when set.
fn overrides(
    values: &[(&str, &Option<String>)],
    until_empty: Option<(&str, bool)>,
) -> Vec<Override> {
    let mut flags: Vec<Override> = values
        .iter()
        .filter_map(|(key, value)| value.as_deref().map(|v| Override::new(key, v)))
        .collect();
    if let Some((key, true)) = until_empty {
        flags.push(Override::new(key, true));
    }
    flags
}

/// The daemon's telemetry: the admin port of `[admin] listen`, or none when `off`.
fn telemetry(config: &Config) -> Result<Telemetry, ConfigError> {
    let addr = config
        .admin
        .addr()
        .map_err(|e| ConfigError::Invalid(vec![format!("admin.listen: {e}")]))?;
    Ok(Telemetry::admin(addr))
}
