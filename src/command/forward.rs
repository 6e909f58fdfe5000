//! `falconry forward` (the daemon) and `falconry forward replay`.

use super::{overrides, telemetry};
use crate::cli::{ForwardAction, ForwardArgs};
use crate::{config, progress};
use falconry_common::config::ConfigError;
use falconry_common::telemetry::init_logging;
use std::path::Path;

pub async fn run(file: Option<&Path>, args: ForwardArgs) -> anyhow::Result<()> {
    let flags = overrides(
        &[
            ("forwarder.queue", &args.queue),
            ("forwarder.source", &args.source),
            ("forwarder.dest", &args.dest),
            ("admin.listen", &args.admin),
            ("detect.rules", &args.rules),
        ],
        Some(("forwarder.until_empty", args.until_empty)),
    );
    let config = config::load(file, &flags)?;
    init_logging(&config.log)?;
    match args.action {
        Some(ForwardAction::Replay {
            prefix,
            since,
            until,
        }) => replay(&config, prefix, since, until).await,
        None => {
            let mut settings = config.forwarder().validate()?;
            settings.detect = config.detect().validate()?;
            settings.indicators = config.detect().indicator_settings()?;
            let telemetry = telemetry(&config)?;
            let shutdown = falconry_common::shutdown::on_signal();
            let summary = falconry_forwarder::run(settings, telemetry, shutdown).await?;
            tracing::info!(?summary, "done");
            Ok(())
        }
    }
}

async fn replay(
    config: &config::Config,
    prefix: String,
    since: Option<String>,
    until: Option<String>,
) -> anyhow::Result<()> {
    let mut settings = config.forwarder().validate_for_replay()?;
    settings.detect = config.detect().validate()?;
    let mut problems = Vec::new();
    let mut time = |field: &str, v: Option<String>| match v.as_deref().map(progress::parse_time) {
        Some(Ok(ms)) => Some(ms),
        Some(Err(e)) => {
            problems.push(format!("{field}: {e}"));
            None
        }
        None => None,
    };
    let opts = falconry_forwarder::replay::ReplayOptions {
        prefix,
        since_ms: time("--since", since),
        until_ms: time("--until", until),
    };
    if !problems.is_empty() {
        return Err(ConfigError::Invalid(problems).into());
    }
    let shutdown = falconry_common::shutdown::on_signal();
    let (tx, rx) = tokio::sync::watch::channel(Default::default());
    let shown = tokio::spawn(progress::render("replay", rx));
    let result = falconry_forwarder::replay::replay(&settings, &opts, tx, shutdown).await;
    let _ = shown.await;
    let done = result?;
    println!(
        "replayed {} file(s), {} bytes, {} rows",
        done.files_done, done.bytes_done, done.rows
    );
    Ok(())
}
