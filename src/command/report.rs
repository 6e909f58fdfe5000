//! `falconry report`: the time-to-respond report of the cases the enricher
//! keeps, printed (Markdown or JSON), written with its charts (`--out`), and
//! posted as an issue (`--post`).

use super::overrides;
use crate::cli::ReportArgs;
use crate::{config, progress};
use anyhow::Context;
use falconry_common::config::ConfigError;
use falconry_enricher::response::{self, ReportRequest, report};
use std::path::Path;

pub async fn run(file: Option<&Path>, args: ReportArgs) -> anyhow::Result<()> {
    let flags = overrides(
        &[
            ("enricher.issues", &args.issues),
            ("enricher.state", &args.state),
        ],
        None,
    );
    let config = config::load(file, &flags)?;
    let mut problems = Vec::new();
    if !matches!(args.format.as_str(), "md" | "json") {
        problems.push(format!("--format: {:?} is not md or json", args.format));
    }
    let now_ms = chrono::Utc::now().timestamp_millis();
    let since_ms = progress::parse_since(&args.since, now_ms)
        .map_err(|e| problems.push(format!("--since: {e}")))
        .ok();
    let settings = match config.enricher().validate_report() {
        Ok(s) => Some(s),
        Err(ConfigError::Invalid(p)) => {
            problems.extend(p);
            None
        }
        Err(e) => return Err(e.into()),
    };
    let (Some(settings), Some(since_ms), true) = (settings, since_ms, problems.is_empty()) else {
        return Err(ConfigError::Invalid(problems).into());
    };
    if args.post && settings.response.report_repo.is_none() {
        return Err(ConfigError::Invalid(vec![
            "--post: set [enricher.response] report_repo (owner/name) to post the report".into(),
        ])
        .into());
    }
    let r = response::report(&settings, &ReportRequest { since_ms, now_ms })
        .await
        .context("reading the cases")?;
    if let Some(dir) = &args.out {
        report::write_dir(dir, &r).with_context(|| format!("writing {}", dir.display()))?;
    }
    match args.format.as_str() {
        "json" => println!("{}", serde_json::to_string_pretty(&r)?),
        _ => println!("{}", report::markdown(&r, None)),
    }
    if args.post
        && let Some(issue) = response::post_report(&settings, &r, &report::markdown(&r, None))
            .await
            .context("posting the report")?
    {
        eprintln!("report posted: {}", issue.url);
    }
    Ok(())
}
