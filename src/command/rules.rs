//! `falconry rules test | backtest | init`.

use crate::cli::RulesCommand;
use crate::{config, progress};
use anyhow::Context;
use falconry_common::Store;
use falconry_common::config::ConfigError;
use falconry_detect::{Detector, RulesSource};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

/// The rules named by the flag, else by `[detect] rules`.
fn source(file: Option<&Path>, flag: Option<String>) -> anyhow::Result<RulesSource> {
    let text = match flag {
        Some(f) => f,
        None => config::load(file, &[])?.detect().rules.ok_or_else(|| {
            ConfigError::Invalid(vec!["--rules: required (or [detect] rules)".into()])
        })?,
    };
    RulesSource::parse(&text)
        .map_err(|e| ConfigError::Invalid(vec![format!("--rules: {e}")]).into())
}

pub async fn run(file: Option<&Path>, command: RulesCommand) -> anyhow::Result<()> {
    match command {
        RulesCommand::Test { rules } => {
            let src = source(file, rules)?;
            let store = Store::open(&src.location).await;
            let files = falconry_detect::source::read(&store, &src).await?;
            let mut report = falconry_detect::testing::run(&files.rules, &files.tests);
            report.loaded.problems.extend(files.unreadable);
            println!("{report}");
            if report.failed() {
                anyhow::bail!("rules test failed");
            }
            Ok(())
        }
        RulesCommand::Backtest {
            rules,
            lake,
            since,
            until,
            samples,
            json,
        } => {
            let src = source(file, rules)?;
            let lake = falconry_common::Location::parse(&lake)
                .map_err(|e| ConfigError::Invalid(vec![format!("--lake: {e}")]))?;
            let mut problems = Vec::new();
            for (flag, v) in [("--since", &since), ("--until", &until)] {
                if let Some(d) = v
                    && chrono_day(d).is_none()
                {
                    problems.push(format!("{flag}: {d:?} is not a day (YYYY-MM-DD)"));
                }
            }
            if !problems.is_empty() {
                return Err(ConfigError::Invalid(problems).into());
            }
            let store = Store::open(&src.location).await;
            let (loaded, _) = falconry_detect::source::load(&store, &src).await?;
            for p in &loaded.problems {
                eprintln!("{p}");
            }
            let detector = Arc::new(Detector::new(&loaded.rules));
            let opts = falconry_forwarder::backtest::BacktestOptions {
                since,
                until,
                samples,
            };
            let shutdown = falconry_common::shutdown::on_signal();
            let (tx, rx) = tokio::sync::watch::channel(Default::default());
            let shown = tokio::spawn(progress::render("backtest", rx));
            let result =
                falconry_forwarder::backtest::backtest(&lake, detector, &opts, tx, shutdown).await;
            let _ = shown.await;
            let report = result?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", text(&report));
            }
            Ok(())
        }
        RulesCommand::Init { out } => {
            falconry_detect::starter::write_to(&out)
                .with_context(|| format!("writing the starter rules to {}", out.display()))?;
            println!(
                "wrote {} starter files to {}; try: falconry rules test --rules {}",
                falconry_detect::starter::FILES.len(),
                out.display(),
                out.display()
            );
            Ok(())
        }
    }
}

fn chrono_day(s: &str) -> Option<()> {
    (s.len() == 10 && falconry_common::time::iso_ms(&format!("{s}T00:00:00Z")).is_some())
        .then_some(())
}

fn text(r: &falconry_forwarder::backtest::Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} events in {} file(s), {} read by rules, in {:.1}s ({:.0} events/s)",
        r.events, r.files, r.events_evaluated, r.seconds, r.events_per_second
    );
    let _ = writeln!(
        out,
        "{:>8} {:>6}  {:<24} {:<24} {:<8} rule",
        "hits", "hosts", "first", "last", "level"
    );
    for rule in &r.rules {
        let _ = writeln!(
            out,
            "{:>8} {:>6}  {:<24} {:<24} {:<8} {} ({})",
            rule.hits,
            rule.hosts,
            rule.first.as_deref().unwrap_or("-"),
            rule.last.as_deref().unwrap_or("-"),
            rule.level,
            rule.title,
            rule.id
        );
        for s in &rule.samples {
            let line = s.to_string();
            let cut: String = line.chars().take(300).collect();
            let more = if cut.len() < line.len() { "…" } else { "" };
            let _ = writeln!(out, "           {cut}{more}");
        }
    }
    if !r.uncovered_event_types.is_empty() {
        let mut types: Vec<(&String, &u64)> = r.uncovered_event_types.iter().collect();
        types.sort_by(|a, b| b.1.cmp(a.1));
        let _ = writeln!(out, "event types no rule reads (events):");
        for (t, n) in types.iter().take(50) {
            let _ = writeln!(out, "  {n:>10}  {t}");
        }
        if types.len() > 50 {
            let _ = writeln!(out, "  … and {} more", types.len() - 50);
        }
    }
    out
}
