//! `falconry enrich`: the enricher daemon, and the summary line it ends with.

use super::{overrides, telemetry};
use crate::cli::EnrichArgs;
use crate::config;
use falconry_common::telemetry::init_logging;
use std::path::Path;

pub async fn run(file: Option<&Path>, args: EnrichArgs) -> anyhow::Result<()> {
    let flags = overrides(
        &[
            ("enricher.from", &args.from),
            ("enricher.queue", &args.queue),
            ("enricher.issues", &args.issues),
            ("enricher.state", &args.state),
            ("admin.listen", &args.admin),
        ],
        Some(("enricher.until_empty", args.until_empty)),
    );
    let config = config::load(file, &flags)?;
    init_logging(&config.log)?;
    let settings = config.enricher().validate()?;
    let until_empty = settings.until_empty;
    let telemetry = telemetry(&config)?;
    let shutdown = falconry_common::shutdown::on_signal();
    let s = falconry_enricher::run(settings, telemetry, shutdown).await?;
    println!(
        "{} batch(es), {} alert(s): {} issue(s) opened, {} repeat(s) commented, {} already handled, {} discarded, {} notified, {} failed ({} of them Slack-only notices not sent); {} line(s) quarantined",
        s.batches,
        s.alerts,
        s.created,
        s.commented,
        s.duplicates,
        s.discarded,
        s.notified,
        s.failed,
        s.notify_failed,
        s.quarantined_lines
    );
    if until_empty && s.failed > 0 {
        anyhow::bail!(
            "{} alert(s) failed; their batches will be read again",
            s.failed
        );
    }
    Ok(())
}
