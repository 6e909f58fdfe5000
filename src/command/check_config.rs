//! `falconry check-config`: every problem of every section, in one run.

use crate::config;
use falconry_common::config::ConfigError;
use std::path::Path;

pub async fn run(file: Option<&Path>) -> anyhow::Result<()> {
    let config = config::load(file, &[])?;
    let mut problems = Vec::new();
    // Each daemon section present is checked; a file with none configures nothing.
    if config.forwarder.is_none()
        && config.streamer.is_none()
        && config.enricher.is_none()
        && config.hunt.is_none()
    {
        problems.push(
            "no [forwarder], [streamer], [enricher] or [hunt] section: nothing to run".to_owned(),
        );
    }
    if config.hunt.is_some()
        && let Err(ConfigError::Invalid(p)) = config.hunt_settings()
    {
        problems.extend(p);
    }
    // The enricher's section, then what it would build at start (policy,
    // templates, GitHub key, Slack URL, every context provider).
    match config
        .enricher
        .as_ref()
        .map(falconry_enricher::EnricherConfig::validate)
    {
        Some(Err(ConfigError::Invalid(p))) => problems.extend(p),
        Some(Ok(settings)) => {
            if let Err(ConfigError::Invalid(p)) = falconry_enricher::preflight(&settings).await {
                problems.extend(p);
            }
        }
        _ => {}
    }
    if let Some(Err(ConfigError::Invalid(p))) = config
        .forwarder
        .as_ref()
        .map(falconry_forwarder::ForwarderConfig::validate)
    {
        problems.extend(p);
    }
    if let Some(Err(ConfigError::Invalid(p))) = config
        .streamer
        .as_ref()
        .map(falconry_streamer::StreamerConfig::validate)
    {
        problems.extend(p);
    }
    // The rules: the section, and (for a local directory) every rule file.
    match config
        .detect
        .as_ref()
        .map(falconry_detect::DetectConfig::validate)
    {
        Some(Err(ConfigError::Invalid(p))) => problems.extend(p),
        Some(Ok(Some(d)))
            if matches!(d.source.location, falconry_common::Location::Local { .. }) =>
        {
            let store = falconry_common::Store::open(&d.source.location).await;
            match falconry_detect::source::load(&store, &d.source).await {
                Ok((loaded, _)) => problems.extend(
                    loaded
                        .problems
                        .iter()
                        .filter(|p| p.severity == falconry_detect::Severity::Error)
                        .map(|p| format!("detect.rules: {p}")),
                ),
                Err(e) => problems.push(format!("detect.rules: {e}")),
            }
        }
        _ => {}
    }
    if let Err(p) = config.log.check() {
        problems.push(p);
    }
    if let Err(e) = config.admin.addr() {
        problems.push(format!("admin.listen: {e}"));
    }
    if !problems.is_empty() {
        return Err(ConfigError::Invalid(problems).into());
    }
    println!("configuration is valid");
    Ok(())
}
