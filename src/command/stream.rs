//! `falconry stream`: the live Event Streams daemon, or a recorded stream
//! replayed with `--from`.

use super::{overrides, telemetry};
use crate::cli::StreamArgs;
use crate::config;
use falconry_common::telemetry::init_logging;
use std::path::Path;

pub async fn run(file: Option<&Path>, args: StreamArgs) -> anyhow::Result<()> {
    let flags = overrides(&[("streamer.dest", &args.dest)], None);
    let config = config::load(file, &flags)?;
    init_logging(&config.log)?;
    let settings = config.streamer().validate()?;
    let shutdown = falconry_common::shutdown::on_signal();
    match &args.from {
        Some(from) => {
            let s =
                falconry_streamer::replay_file(&settings, from, args.partition, shutdown).await?;
            println!(
                "{} events in {} batch(es), {} skipped (already durable or out of order), {} junk line(s)",
                s.events, s.batches, s.skipped, s.junk
            );
        }
        None => {
            let telemetry = telemetry(&config)?;
            let report = falconry_streamer::run(settings, telemetry, shutdown).await?;
            tracing::info!(?report, "done");
        }
    }
    Ok(())
}
