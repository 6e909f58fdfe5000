//! `falconry hunt`: indicators of compromise through the lake's history
//! (the scan engine, or Athena), or, with `[hunt]` in the configuration and
//! no `--ioc`, the hunt daemon.

use crate::cli::HuntArgs;
use crate::{config, progress};
use anyhow::Context;
use falconry_common::config::ConfigError;
use falconry_detect::ioc::formats::{self, Parsed};
use falconry_detect::ioc::source::{self, Loaded};
use falconry_detect::ioc::taxii::{Taxii, TaxiiAuth};
use falconry_detect::ioc::{IndicatorSet, IocSource};
use falconry_forwarder::hunt::config::EngineName;
use falconry_forwarder::hunt::{self, Engine, HuntOptions, HuntReport, MatchState, scan::Window};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

pub async fn run(file: Option<&Path>, args: HuntArgs) -> anyhow::Result<()> {
    let config = config::load(file, &[])?;
    if config.hunt.is_some() && args.ioc.is_empty() {
        return daemon(&config).await;
    }
    let now = chrono::Utc::now().timestamp_millis();
    let mut problems = Vec::new();
    let mut time = |flag: &str, v: &Option<String>| match v
        .as_deref()
        .map(|s| progress::parse_since(s, now))
    {
        Some(Ok(ms)) => Some(ms),
        Some(Err(e)) => {
            problems.push(format!("{flag}: {e}"));
            None
        }
        None => None,
    };
    let window = Window {
        since_ms: time("--since", &args.since),
        until_ms: time("--until", &args.until),
    };
    let specs: Vec<String> = if args.ioc.is_empty() {
        config.detect().indicators.clone()
    } else {
        args.ioc.clone()
    };
    if specs.is_empty() {
        problems.push(
            "--ioc: no indicator source (give --ioc FILE_OR_URL, or [detect] indicators)".into(),
        );
    }
    let lake = match args.lake.as_deref() {
        Some(l) => Some(l.to_owned()),
        None => config.forwarder.as_ref().and_then(|f| f.dest.clone()),
    };
    let lake = match lake.as_deref().map(falconry_common::Location::parse) {
        Some(Ok(l)) => Some(l),
        Some(Err(e)) => {
            problems.push(format!("--lake: {e}"));
            None
        }
        None => {
            problems.push(
                "--lake: required (file://root or s3://bucket[/prefix], or [forwarder] dest)"
                    .into(),
            );
            None
        }
    };
    let mut sources = Vec::new();
    let mut feeds = Vec::new();
    for (i, s) in specs.iter().enumerate() {
        if let Some(url) = s.strip_prefix("taxii:") {
            match Taxii::new(url, taxii_auth()) {
                Ok(t) => feeds.push(t),
                Err(e) => problems.push(format!("--ioc #{}: {e}", i + 1)),
            }
        } else {
            match IocSource::parse(s) {
                Ok(mut src) => {
                    src.subdomains = args.subdomains;
                    sources.push(src);
                }
                Err(e) => problems.push(format!("--ioc #{}: {e}", i + 1)),
            }
        }
    }
    let engine_name = match args.engine.as_deref().map(str::parse::<EngineName>) {
        Some(Ok(e)) => e,
        Some(Err(e)) => {
            problems.push(format!("--engine: {e}"));
            EngineName::Scan
        }
        None => config.hunt().engine,
    };
    let mut hunt_config = config.hunt();
    hunt_config.engine = engine_name;
    if engine_name != EngineName::Scan {
        problems.extend(hunt_config.athena.problems("hunt.athena"));
        if window.since_ms.is_none() {
            problems.push(
                "--since: required with the Athena engine (Athena bills by the byte scanned)"
                    .into(),
            );
        }
    }
    let (Some(lake), true) = (lake, problems.is_empty()) else {
        return Err(ConfigError::Invalid(problems).into());
    };
    let mut loaded = source::load(&sources, now).await?;
    for feed in &feeds {
        let shown = feed.collection.to_string();
        let pulled = feed
            .pull(None, source::MAX_INDICATORS)
            .await
            .with_context(|| format!("reading the TAXII collection {shown}"))?;
        let mut parsed = Parsed::default();
        formats::stix_objects(&shown, pulled.objects.iter(), &mut parsed);
        loaded.add(parsed, now, None, &shown);
    }
    report_loaded(&loaded);
    let command_line_urls = args.command_line_urls || config.detect().command_line_urls;
    let set = Arc::new(IndicatorSet::new(loaded.indicators, command_line_urls));
    if set.is_empty() {
        anyhow::bail!("no indicators loaded: nothing to hunt");
    }
    let engine = if engine_name == EngineName::Scan {
        Engine::Scan
    } else {
        let settings = falconry_forwarder::hunt::config::HuntSettings {
            lake: lake.clone(),
            sources: Vec::new(),
            feeds: Vec::new(),
            lookback: hunt_config.lookback,
            interval: hunt_config.interval,
            command_line_urls,
            taxii_prefix: hunt_config.taxii_prefix.clone(),
            state_prefix: hunt_config.state_prefix.clone(),
            engine: engine_name,
            athena_above: hunt_config.athena_above,
            athena: hunt_config.athena.clone(),
        };
        falconry_forwarder::hunt::daemon::engine(&settings).await?
    };
    let opts = HuntOptions {
        window,
        engine,
        record: !args.dry_run,
        ..HuntOptions::default()
    };
    let shutdown = falconry_common::shutdown::on_signal();
    let (tx, rx) = tokio::sync::watch::channel(Default::default());
    let shown = tokio::spawn(progress::render("hunt", rx));
    let result = hunt::hunt(&lake, set, &opts, tx, shutdown).await;
    let _ = shown.await;
    let report = result?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", text(&report));
    }
    Ok(())
}

/// `[hunt]` as a daemon, until a signal.
async fn daemon(config: &config::Config) -> anyhow::Result<()> {
    falconry_common::telemetry::init_logging(&config.log)?;
    let settings = config.hunt_settings()?;
    let telemetry = super::telemetry(config)?;
    let shutdown = falconry_common::shutdown::on_signal();
    let summary = falconry_forwarder::hunt::daemon::run(settings, telemetry, shutdown).await?;
    tracing::info!(?summary, "done");
    Ok(())
}

/// TAXII credentials from the environment: `FALCONRY_TAXII_TOKEN`, or
/// `FALCONRY_TAXII_USER` and `FALCONRY_TAXII_PASSWORD`.
fn taxii_auth() -> Option<TaxiiAuth> {
    if let Ok(t) = std::env::var("FALCONRY_TAXII_TOKEN") {
        return Some(TaxiiAuth::Bearer(falconry_common::Secret::new(t)));
    }
    match (
        std::env::var("FALCONRY_TAXII_USER"),
        std::env::var("FALCONRY_TAXII_PASSWORD"),
    ) {
        (Ok(user), Ok(password)) => Some(TaxiiAuth::Basic {
            user,
            password: falconry_common::Secret::new(password),
        }),
        _ => None,
    }
}

fn report_loaded(loaded: &Loaded) {
    for line in loaded.report() {
        eprintln!("{line}");
    }
    let mut by_kind = std::collections::BTreeMap::new();
    for ((_, kind), n) in &loaded.counts {
        *by_kind.entry(kind.to_string()).or_insert(0u64) += n;
    }
    let kinds: Vec<String> = by_kind.iter().map(|(k, n)| format!("{n} {k}")).collect();
    eprintln!(
        "{} indicators loaded ({}); {} skipped (expired, revoked or not for detection)",
        loaded.indicators.len(),
        if kinds.is_empty() {
            "none".to_owned()
        } else {
            kinds.join(", ")
        },
        loaded.skipped
    );
}

fn text(r: &HuntReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} indicators over {} rows in {} file(s) ({} of {} row groups pruned), in {:.1}s ({:.0} rows/s)",
        r.indicators,
        r.rows,
        r.files,
        r.row_groups_pruned,
        r.row_groups,
        r.seconds,
        r.rows_per_second
    );
    let _ = writeln!(
        out,
        "{} new match(es), {} already known{}",
        r.new,
        r.known,
        if r.omitted > 0 {
            format!(
                ", {} more not reported (narrow the hunt with --since)",
                r.omitted
            )
        } else {
            String::new()
        }
    );
    if let Some(a) = &r.athena {
        let _ = writeln!(
            out,
            "athena: {} quer{}, {} bytes scanned, {} file(s) named and read",
            a.queries,
            if a.queries == 1 { "y" } else { "ies" },
            a.bytes_scanned,
            a.files_named
        );
        for n in &a.not_hunted {
            let _ = writeln!(out, "not hunted by athena: {n} (use --engine scan)");
        }
    }
    if let Some(f) = &r.findings {
        let _ = writeln!(out, "findings: {f}");
    }
    for m in &r.matches {
        let _ = writeln!(
            out,
            "{:<5} {:<24} {} {:<16} {}={} ({}, learned {}, from {})",
            match m.state {
                MatchState::New => "NEW",
                MatchState::Known => "known",
            },
            m.time.as_deref().unwrap_or("-"),
            m.aid.as_deref().unwrap_or("-"),
            m.event_simplename.as_deref().unwrap_or("-"),
            m.field,
            m.matched,
            m.indicator,
            m.learned.as_deref().unwrap_or("-"),
            m.source
        );
    }
    out
}
