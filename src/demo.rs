//! `falconry demo`: the pipeline on the embedded default, with no AWS at all.
//! Generates the project's fixtures, queues their notices in a directory,
//! forwards them into a local "bucket" while the starter Sigma rules run over
//! every event, replays the recorded Event Streams fixture through the
//! streamer, runs the enricher over the stream batches and the rules'
//! findings (issues as Markdown files), and prints what landed where.

use anyhow::Context;
use falconry_common::telemetry::Telemetry;
use falconry_common::telemetry::{LogFormat, LogSettings, init_logging};
use falconry_fixtures::{
    BatchOptions, StreamOptions, fdr_batch, lookup_batch, notice_json, stream_events,
    stream_ndjson, write_files,
};
use falconry_forwarder::ForwarderConfig;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The bucket name the fixture notices carry (ignored with a `file://` source).
const DEMO_BUCKET: &str = "cs-prod-cannon-demo";

/// Writes a data batch and a lookup batch under `<out>/source` and their
/// notices under `<out>/queue`; returns a one-line description.
pub fn write_fixtures(
    out: &Path,
    seed: u64,
    files: usize,
    events_per_file: usize,
) -> anyhow::Result<String> {
    let opts = BatchOptions {
        seed,
        data_files: files,
        events_per_file,
        ..BatchOptions::default()
    };
    let source = out.join("source");
    let queue = out.join("queue");
    std::fs::create_dir_all(&queue).with_context(|| format!("creating {}", queue.display()))?;
    let mut lines = 0;
    let mut invalid = 0;
    for (name, batch) in [("data", fdr_batch(&opts)), ("lookup", lookup_batch(&opts))] {
        write_files(&batch, &source)
            .with_context(|| format!("writing fixtures to {}", source.display()))?;
        let notice = queue.join(format!("{}-{name}.json", batch.batch_id));
        std::fs::write(&notice, notice_json(&batch, DEMO_BUCKET))
            .with_context(|| format!("writing {}", notice.display()))?;
        for f in &batch.files {
            lines += f.lines;
            invalid += f.invalid_lines.len() as u64;
        }
    }
    Ok(format!(
        "fixtures: {} lines ({} invalid) under {}, notices under {}",
        lines,
        invalid,
        source.display(),
        queue.display()
    ))
}

pub async fn run(dir: &Path) -> anyhow::Result<()> {
    init_logging(&LogSettings {
        format: LogFormat::Text,
        level: "warn".into(),
    })?;
    for sub in [
        "source",
        "queue",
        "lake",
        "stream.ndjson",
        "issues",
        "context",
        "rules",
        "intel",
    ] {
        let p = dir.join(sub);
        if p.is_dir() {
            std::fs::remove_dir_all(&p).with_context(|| format!("clearing {}", p.display()))?;
        } else if p.exists() {
            std::fs::remove_file(&p).with_context(|| format!("clearing {}", p.display()))?;
        }
    }
    let fixtures = write_fixtures(dir, 7, 2, 500)?;
    let abs = std::fs::canonicalize(dir).with_context(|| format!("resolving {}", dir.display()))?;
    // The starter rules, as a user would keep them: a folder of Sigma YAML.
    let rules = abs.join("rules");
    falconry_detect::starter::write_to(&rules)
        .with_context(|| format!("writing the starter rules to {}", rules.display()))?;
    let config = ForwarderConfig {
        queue: Some(format!("dir://{}", abs.join("queue").display())),
        source: Some(format!("file://{}", abs.join("source").display())),
        dest: Some(format!("file://{}", abs.join("lake").display())),
        until_empty: true,
        wait_time: Duration::from_millis(300),
        ..ForwarderConfig::default()
    };
    let mut settings = config.validate()?;
    settings.detect = falconry_detect::DetectConfig {
        rules: Some(rules.display().to_string()),
        ..Default::default()
    }
    .validate()?;
    let started = std::time::Instant::now();
    let result =
        falconry_forwarder::run(settings, Telemetry::off(), CancellationToken::new()).await;
    let elapsed = started.elapsed();
    let lake = abs.join("lake");
    // Indicators learned a day after the incident, hunted back through the
    // lake twice: the first hunt reports the matches (findings → issues),
    // the second finds them known.
    let intel = abs.join("intel");
    let hunts = retro_hunt(&intel, &lake).await;
    // The recorded Event Streams fixture through the streamer's batch and commit path.
    let recorded = abs.join("stream.ndjson");
    let events = stream_events(&StreamOptions::default());
    std::fs::write(&recorded, stream_ndjson(&events))
        .with_context(|| format!("writing {}", recorded.display()))?;
    let streamer = falconry_streamer::StreamerConfig {
        dest: Some(format!("file://{}", lake.display())),
        ..Default::default()
    }
    .validate()?;
    let streamed =
        falconry_streamer::replay_file(&streamer, &recorded, 0, CancellationToken::new()).await;
    // The enricher over the stream batches: detections → context → policy →
    // Markdown issues. Context: GeoIP from generated databases, the user and
    // asset lists of the fixtures, the host's history from the local Parquet;
    // DNS and threat intel stay off (they would reach the internet).
    let issues = abs.join("issues");
    let context_dir = abs.join("context");
    let geoip = falconry_fixtures::write_geoip_fixtures(&context_dir)
        .with_context(|| format!("writing GeoIP databases to {}", context_dir.display()))?;
    let directory = falconry_fixtures::write_directory(&context_dir, &BatchOptions::default())
        .with_context(|| format!("writing directory files to {}", context_dir.display()))?;
    let mut context = falconry_enricher::context::config::ContextConfig::default();
    context.geoip.city = Some(geoip.city.clone());
    context.geoip.asn = Some(geoip.asn.clone());
    context.directory.users = Some(directory.users.display().to_string());
    context.directory.assets = Some(directory.assets.display().to_string());
    context.history.backend = falconry_enricher::context::history::HistoryBackend::Parquet;
    context.history.lake = Some(format!("file://{}", lake.display()));
    let enricher_config = falconry_enricher::EnricherConfig {
        context,
        from: Some(format!("file://{}", lake.display())),
        issues: format!("dir://{}", issues.display()),
        until_empty: true,
        event_types: vec![
            falconry_common::event_types::CUSTOMER_IOC.into(),
            falconry_common::event_types::OVERWATCH.into(),
        ],
        ..Default::default()
    };
    let enricher = enricher_config.validate()?;
    let enriched =
        falconry_enricher::run(enricher, Telemetry::off(), CancellationToken::new()).await;
    let first_issue = falconry_enricher::tracker::DirTracker::new(&issues)
        .all()
        .ok()
        .and_then(|all| all.into_iter().next())
        .map(|(_, _, path)| path);
    // The response loop on the embedded default: a responder closes two of
    // the issues with conclusions (as anyone would, by editing the header),
    // and the report reads them back.
    let concluded = conclude_two(&issues)?;
    let report_dir = abs.join("report");
    let report = respond_report(&enricher_config, &report_dir).await;
    let layout = falconry_common::lake::Layout::default();
    let counts = falconry_forwarder::lake::table_counts(&lake.join(&layout.parquet))
        .with_context(|| format!("reading back {}", lake.display()))?;
    let findings = falconry_forwarder::lake::findings_per_rule(&lake.join(&layout.findings))
        .with_context(|| format!("reading back {}", lake.join(&layout.findings).display()))?;
    let mut out = String::new();
    writeln!(
        out,
        "falconry demo: FDR fixtures → forwarder → raw copies + Parquet (no AWS)"
    )?;
    writeln!(out, "  {fixtures}")?;
    match &result {
        Ok(s) => writeln!(
            out,
            "  forwarder: {} notices done, {} failed, {} files, {} rows, {} line(s) quarantined, in {:.1}s",
            s.done,
            s.failed,
            s.files,
            s.rows,
            s.quarantined,
            elapsed.as_secs_f64()
        )?,
        Err(e) => writeln!(out, "  forwarder: FAILED: {e}")?,
    }
    match &streamed {
        Ok(s) => writeln!(
            out,
            "  streamer:  {} events in {} batch(es) from {}, {} junk line(s)",
            s.events,
            s.batches,
            recorded.display(),
            s.junk
        )?,
        Err(e) => writeln!(out, "  streamer: FAILED: {e}")?,
    }
    match &enriched {
        Ok(s) => writeln!(
            out,
            "  enricher:  {} alerts from {} batch(es): {} issues opened, {} repeats commented, {} discarded, {} notified, {} failed",
            s.alerts, s.batches, s.created, s.commented, s.discarded, s.notified, s.failed
        )?,
        Err(e) => writeln!(out, "  enricher: FAILED: {e}")?,
    }
    match &hunts {
        Ok((first, again)) => {
            writeln!(
                out,
                "  hunt:      {} indicators from {} (learned after the incident) over {} rows: {} new match(es); run again: {} new, {} known",
                first.indicators,
                intel.display(),
                first.rows,
                first.new,
                again.new,
                again.known
            )?;
            for m in first
                .matches
                .iter()
                .filter(|m| m.state == falconry_forwarder::hunt::MatchState::New)
            {
                writeln!(
                    out,
                    "    {} on {} at {} ({}={})",
                    m.indicator,
                    m.aid.as_deref().unwrap_or("-"),
                    m.time.as_deref().unwrap_or("-"),
                    m.field,
                    m.matched
                )?;
            }
        }
        Err(e) => writeln!(out, "  hunt: FAILED: {e}")?,
    }
    let stream = falconry_common::lake::StreamLayout::under("");
    writeln!(out, "  raw copies:  {}", lake.join(&layout.raw).display())?;
    writeln!(
        out,
        "  parquet:     {}",
        lake.join(&layout.parquet).display()
    )?;
    writeln!(
        out,
        "  quarantine:  {}",
        lake.join(&layout.quarantine).display()
    )?;
    writeln!(
        out,
        "  stream:      {}",
        lake.join(&stream.batches).display()
    )?;
    writeln!(
        out,
        "  context:     {} (GeoIP databases, users and assets)",
        context_dir.display()
    )?;
    writeln!(
        out,
        "  findings:    {} (the starter rules in {})",
        lake.join(&layout.findings).display(),
        rules.display()
    )?;
    writeln!(out, "  issues:      {}", issues.display())?;
    if let Some(first) = &first_issue {
        writeln!(out, "  first issue: {}", first.display())?;
    }
    writeln!(
        out,
        "  events per table (read back from the Parquet footers):"
    )?;
    for (table, (rows, files)) in &counts {
        writeln!(out, "    {table:<14} {rows:>7} rows in {files} file(s)")?;
    }
    writeln!(
        out,
        "  findings per rule (Sigma rules over every FDR event):"
    )?;
    if findings.is_empty() {
        writeln!(out, "    none")?;
    }
    for ((level, title), n) in &findings {
        writeln!(out, "    {n:>7}  [{level}] {title}")?;
    }
    writeln!(
        out,
        "  response:    closed {} issue(s) with a conclusion ({}); report in {}",
        concluded.len(),
        concluded.join(", "),
        report_dir.display()
    )?;
    match &report {
        Ok(md) => {
            writeln!(out)?;
            writeln!(out, "{md}")?;
        }
        Err(e) => writeln!(out, "  report: FAILED: {e}")?,
    }
    print!("{out}");
    report?;
    result?;
    streamed?;
    enriched?;
    hunts?;
    Ok(())
}

/// Closes the first two issues of the demo's folder as a responder would:
/// `state: closed` and a `conclusion:` in the header. Returns what it did.
fn conclude_two(issues: &Path) -> anyhow::Result<Vec<String>> {
    let all = falconry_enricher::tracker::DirTracker::new(issues)
        .all()
        .context("listing the demo's issues")?;
    let mut done = Vec::new();
    for ((repo, number, path), conclusion) in
        all.into_iter().zip(["false-positive", "true-positive"])
    {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let edited = text
            .replacen("\nstate: open\n", "\nstate: closed\n", 1)
            .replacen(
                "\nconclusion: \n",
                &format!("\nconclusion: {conclusion}\nclosed_by: demo-responder\n"),
                1,
            );
        std::fs::write(&path, edited).with_context(|| format!("writing {}", path.display()))?;
        done.push(format!("{repo}#{number} {conclusion}"));
    }
    Ok(done)
}

/// The response report of the demo's cases: Markdown printed, and written
/// with its JSON and charts under `dir`.
async fn respond_report(
    config: &falconry_enricher::EnricherConfig,
    dir: &Path,
) -> anyhow::Result<String> {
    use falconry_enricher::response::{self, ReportRequest, report};
    let settings = config.validate_report()?;
    let now_ms = chrono::Utc::now().timestamp_millis();
    let r = response::report(
        &settings,
        &ReportRequest {
            since_ms: now_ms - 7 * 24 * 3600 * 1000,
            now_ms,
        },
    )
    .await?;
    report::write_dir(dir, &r).with_context(|| format!("writing {}", dir.display()))?;
    Ok(report::markdown(&r, None))
}

/// Writes the fixtures' indicator feeds under `intel` and hunts them through
/// the lake twice.
async fn retro_hunt(
    intel: &Path,
    lake: &Path,
) -> anyhow::Result<(
    falconry_forwarder::hunt::HuntReport,
    falconry_forwarder::hunt::HuntReport,
)> {
    use falconry_detect::ioc::{IndicatorSet, IocSource, source};
    use falconry_forwarder::hunt::{self, HuntOptions};
    std::fs::create_dir_all(intel).with_context(|| format!("creating {}", intel.display()))?;
    let start = falconry_fixtures::BatchOptions::default().start_ms;
    std::fs::write(
        intel.join("campaign.stix.json"),
        falconry_fixtures::indicators_stix(start),
    )?;
    std::fs::write(
        intel.join("internal.csv"),
        falconry_fixtures::indicators_csv(start),
    )?;
    let src = IocSource::parse(&intel.display().to_string()).map_err(anyhow::Error::msg)?;
    let now = chrono::Utc::now().timestamp_millis();
    let loaded = source::load(&[src], now).await?;
    let set = std::sync::Arc::new(IndicatorSet::new(loaded.indicators, false));
    let location = falconry_common::Location::parse(&format!("file://{}", lake.display()))
        .map_err(anyhow::Error::msg)?;
    let opts = HuntOptions {
        now_ms: now,
        ..HuntOptions::default()
    };
    let mut reports = Vec::new();
    for _ in 0..2 {
        let (tx, _rx) = tokio::sync::watch::channel(Default::default());
        reports
            .push(hunt::hunt(&location, set.clone(), &opts, tx, CancellationToken::new()).await?);
    }
    let again = reports.pop().context("second hunt")?;
    let first = reports.pop().context("first hunt")?;
    Ok((first, again))
}
