//! The hunt daemon (`[hunt]`, `falconry hunt --config FILE`): every
//! `interval` it asks each TAXII collection for what was added since its
//! cursor (kept as STIX bundles under `taxii_prefix`, then the cursor moves),
//! lists the indicator sources for changes, and hunts each indicator it has
//! not hunted yet (new, or whose validity changed) back `lookback` through
//! the lake. An indicator hunted is recorded under `state/hunt/hunted/`, so
//! a restart or a second replica does not hunt it again; the matches are
//! recorded once as a hunt records them, whoever finds them.
//!
//! An indicator learned is caught in new events by the forwarder (`[detect]
//! indicators` naming the same sources); this daemon looks back.

use super::config::{EngineName, HuntSettings};
use super::{Engine, HuntOptions, HuntReport, MAX_FILES_NAMED, hunt, record};
use crate::error::ForwarderError;
use falconry_common::lake::state::HuntState;
use falconry_common::telemetry::{Health, Registry, Telemetry};
use falconry_common::{Location, Store};
use falconry_detect::ioc::source::MAX_INDICATORS;
use falconry_detect::ioc::taxii::Taxii;
use falconry_detect::ioc::{HuntMetrics, Indicator, IndicatorSet, IocSettings, LiveIndicators};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Indicators one TAXII pull keeps in one bundle at most.
const PULL_OBJECTS: usize = 10_000;
/// Pulls per collection per cycle at most (the rest wait for the next).
const PULLS_PER_CYCLE: usize = 10;
/// Hunted records written at once.
const WRITES_IN_FLIGHT: usize = 16;

/// What a daemon run did (returned at shutdown).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DaemonSummary {
    pub cycles: u64,
    pub hunts: u64,
    pub hunted: u64,
    pub new: u64,
    pub known: u64,
    pub failures: u64,
}

/// A TAXII collection's cursor.
#[derive(Debug, Serialize, Deserialize)]
struct Cursor {
    collection: String,
    added_after: String,
}

/// The record that an indicator was hunted back.
#[derive(Debug, Serialize, Deserialize)]
struct Hunted {
    indicator: String,
    hunted_ms: i64,
    since_ms: Option<i64>,
    until_ms: Option<i64>,
    new: u64,
    known: u64,
}

/// What names an indicator's hunt: its id and validity (a change to either
/// hunts it again).
pub fn hunt_digest(i: &Indicator) -> String {
    record::digest(&format!(
        "{}|{}|{}",
        i.id(),
        i.valid_from_ms.unwrap_or(0),
        i.valid_until_ms.unwrap_or(0)
    ))
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Runs the daemon until `shutdown`.
pub async fn run(
    settings: HuntSettings,
    telemetry: Telemetry,
    shutdown: CancellationToken,
) -> Result<DaemonSummary, ForwarderError> {
    let mut registry = Registry::default();
    let metrics = HuntMetrics::new(&mut registry);
    // A hunt beats on every file; a cycle on every round.
    let health = Arc::new(Health::new(
        (settings.interval * 3).max(Duration::from_secs(600)),
    ));
    telemetry.serve(registry, health.clone(), &shutdown).await?;
    let store = Store::open(&settings.lake).await;
    let state = HuntState::new(&settings.lake.key(&settings.state_prefix));
    if let Location::Local { root, .. } = &settings.lake
        && !settings.feeds.is_empty()
    {
        let dir = root.join(settings.lake.key(&settings.taxii_prefix));
        std::fs::create_dir_all(&dir).map_err(|e| {
            ForwarderError::Backtest(format!("hunt: cannot create {}: {e}", dir.display()))
        })?;
    }
    let engine = engine(&settings).await?;
    let mut summary = DaemonSummary::default();
    pull_feeds(&settings, &store, &state, &mut summary).await;
    let live = LiveIndicators::start(
        IocSettings {
            sources: settings.sources.clone(),
            command_line_urls: settings.command_line_urls,
            reload_interval: settings.interval,
        },
        metrics.clone(),
    )
    .await
    .map_err(|e| ForwarderError::Backtest(format!("hunt: indicators: {e}")))?;
    let mut hunted = list_hunted(&store, &state).await?;
    health.set_ready(true);
    tracing::info!(
        indicators = live.current().len(),
        hunted = hunted.len(),
        lookback = ?settings.lookback,
        "hunt daemon started"
    );
    let mut first = true;
    loop {
        health.beat();
        summary.cycles += 1;
        if !first {
            pull_feeds(&settings, &store, &state, &mut summary).await;
            if let Err(e) = live.reload_if_changed().await {
                tracing::warn!(error = %e, "could not check the indicators for changes; the indicators in force stay");
            }
        }
        first = false;
        match hunt_new(
            &settings,
            &engine,
            &store,
            &state,
            &live.current(),
            &mut hunted,
            &metrics,
            &health,
            &shutdown,
        )
        .await
        {
            Ok(Some(r)) => {
                summary.hunts += 1;
                summary.hunted += r.indicators as u64;
                summary.new += r.new;
                summary.known += r.known;
            }
            Ok(None) => {}
            Err(e) => {
                summary.failures += 1;
                metrics.failures.inc();
                tracing::warn!(error = %e, "hunt failed; the indicators are hunted again next round");
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(settings.interval) => {}
        }
    }
    tracing::info!(?summary, "hunt daemon stopped");
    Ok(summary)
}

/// The engine `[hunt] engine` names. Athena's workgroup is checked once
/// (a bytes-scanned cutoff, or `max_bytes_scanned`).
pub async fn engine(settings: &HuntSettings) -> Result<Engine, ForwarderError> {
    if settings.engine == EngineName::Scan {
        return Ok(Engine::Scan);
    }
    let sdk = falconry_common::aws::sdk_config(&falconry_common::aws::AwsSettings::default()).await;
    let mut athena = settings.athena.bounded_client(&sdk).await.map_err(|e| {
        ForwarderError::Config(falconry_common::config::ConfigError::Invalid(vec![
            format!("hunt.athena: {e}"),
        ]))
    })?;
    athena.max_rows = MAX_FILES_NAMED;
    let athena: Arc<dyn super::SqlEngine> = Arc::new(athena);
    Ok(match settings.engine {
        EngineName::Auto => Engine::Auto {
            athena,
            above_bytes: settings.athena_above,
        },
        _ => Engine::Athena(athena),
    })
}

/// The digests of the indicators hunted already.
async fn list_hunted(store: &Store, state: &HuntState) -> Result<HashSet<String>, ForwarderError> {
    let prefix = state.hunted_prefix();
    let listed = store.list(&prefix).await.map_err(ForwarderError::Store)?;
    Ok(listed
        .into_iter()
        .filter_map(|o| {
            o.key
                .strip_prefix(&prefix)
                .and_then(|k| k.strip_suffix(".json"))
                .map(str::to_owned)
        })
        .collect())
}

/// Hunts the indicators of `set` not hunted yet; `None` when there were none.
#[allow(clippy::too_many_arguments)]
async fn hunt_new(
    settings: &HuntSettings,
    engine: &Engine,
    store: &Store,
    state: &HuntState,
    set: &IndicatorSet,
    hunted: &mut HashSet<String>,
    metrics: &HuntMetrics,
    health: &Arc<Health>,
    shutdown: &CancellationToken,
) -> Result<Option<HuntReport>, ForwarderError> {
    let unhunted = |hunted: &HashSet<String>| -> Vec<(Indicator, String)> {
        set.indicators()
            .iter()
            .map(|i| (i, hunt_digest(i)))
            .filter(|(_, d)| !hunted.contains(d))
            .map(|(i, d)| (i.clone(), d))
            .collect()
    };
    if unhunted(hunted).is_empty() {
        return Ok(None);
    }
    // Another replica may have hunted them meanwhile.
    *hunted = list_hunted(store, state).await?;
    let fresh = unhunted(hunted);
    if fresh.is_empty() {
        return Ok(None);
    }
    let now = now_ms();
    let opts = HuntOptions {
        window: settings.window(now),
        engine: engine.clone(),
        record: true,
        state_prefix: settings.state_prefix.clone(),
        now_ms: now,
    };
    let subset = Arc::new(IndicatorSet::new(
        fresh.iter().map(|(i, _)| i.clone()).collect(),
        settings.command_line_urls,
    ));
    tracing::info!(indicators = subset.len(), since = ?opts.window.since_ms, "hunting new indicators back");
    let (tx, mut rx) = tokio::sync::watch::channel(Default::default());
    let beats = {
        let health = health.clone();
        tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                health.beat();
            }
        })
    };
    let result = hunt(&settings.lake, subset, &opts, tx, shutdown.clone()).await;
    beats.abort();
    let report = result?;
    super::observe(metrics, &report);
    if shutdown.is_cancelled() {
        // Cut short: hunted again after the restart.
        return Ok(Some(report));
    }
    let mut per: std::collections::HashMap<&str, (u64, u64)> = std::collections::HashMap::new();
    for m in &report.matches {
        let e = per.entry(m.indicator.as_str()).or_default();
        match m.state {
            super::MatchState::New => e.0 += 1,
            super::MatchState::Known => e.1 += 1,
        }
    }
    let writes: Vec<(String, Vec<u8>)> = fresh
        .iter()
        .map(|(i, d)| {
            let id = i.id();
            let (new, known) = per.get(id.as_str()).copied().unwrap_or_default();
            let body = serde_json::to_vec(&Hunted {
                indicator: id,
                hunted_ms: now,
                since_ms: opts.window.since_ms,
                until_ms: opts.window.until_ms,
                new,
                known,
            })
            .unwrap_or_default();
            (state.hunted_key(d), body)
        })
        .collect();
    let mut done = futures::stream::iter(writes.into_iter().map(|(key, body)| {
        let store = store.clone();
        async move { store.put_bytes(&key, body.into()).await }
    }))
    .buffer_unordered(WRITES_IN_FLIGHT);
    while let Some(r) = done.next().await {
        r.map_err(ForwarderError::Store)?;
    }
    drop(done);
    hunted.extend(fresh.into_iter().map(|(_, d)| d));
    tracing::info!(
        indicators = report.indicators,
        rows = report.rows,
        new = report.new,
        known = report.known,
        findings = ?report.findings,
        seconds = report.seconds,
        "hunt done"
    );
    Ok(Some(report))
}

/// Asks every collection for what was added since its cursor.
async fn pull_feeds(
    settings: &HuntSettings,
    store: &Store,
    state: &HuntState,
    summary: &mut DaemonSummary,
) {
    for feed in &settings.feeds {
        if let Err(e) = pull_feed(settings, store, state, feed).await {
            summary.failures += 1;
            tracing::warn!(collection = %feed.collection, error = %e, "TAXII pull failed; tried again next round");
        }
    }
}

/// One collection: each pull is written as a bundle, then its cursor moves
/// (a crash in between pulls the same objects again into the same key).
async fn pull_feed(
    settings: &HuntSettings,
    store: &Store,
    state: &HuntState,
    feed: &Taxii,
) -> Result<(), String> {
    let name = feed.collection.to_string();
    let digest = record::digest(&name);
    let cursor_key = state.taxii_cursor_key(&digest);
    let mut cursor: Option<String> = match store.get_tagged(&cursor_key).await {
        Ok(Some((b, _))) => serde_json::from_slice::<Cursor>(&b)
            .ok()
            .map(|c| c.added_after),
        Ok(None) => None,
        Err(e) => return Err(format!("reading the cursor: {e}")),
    };
    for _ in 0..PULLS_PER_CYCLE {
        let pulled = feed
            .pull(cursor.as_deref(), PULL_OBJECTS.min(MAX_INDICATORS))
            .await
            .map_err(|e| e.to_string())?;
        let next = pulled.cursor.clone();
        if !pulled.objects.is_empty() {
            let bundle = serde_json::json!({
                "type": "bundle",
                "id": format!("bundle--falconry-{digest}"),
                "x_falconry_collection": name,
                "objects": pulled.objects,
            });
            let stamp = record::digest(&format!(
                "{}|{}",
                cursor.as_deref().unwrap_or(""),
                next.as_deref().unwrap_or("")
            ));
            let key = settings.lake.key(&format!(
                "{}/{}/{}.json",
                settings.taxii_prefix,
                &digest[..16],
                &stamp[..16]
            ));
            let body = serde_json::to_vec(&bundle).map_err(|e| e.to_string())?;
            store
                .put_bytes(&key, body.into())
                .await
                .map_err(|e| format!("writing {key}: {e}"))?;
            tracing::info!(collection = %name, indicators = pulled.objects.len(), key = %key, "TAXII indicators kept");
        }
        if next != cursor
            && let Some(n) = &next
        {
            let body = serde_json::to_vec(&Cursor {
                collection: name.clone(),
                added_after: n.clone(),
            })
            .map_err(|e| e.to_string())?;
            store
                .put_bytes(&cursor_key, body.into())
                .await
                .map_err(|e| format!("writing the cursor: {e}"))?;
        }
        cursor = next;
        if !pulled.more {
            break;
        }
    }
    Ok(())
}
