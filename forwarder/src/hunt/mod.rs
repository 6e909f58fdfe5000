//! `falconry hunt`: indicators of compromise learned later, looked for
//! through the lake's history.
//!
//! - `scan.rs`: the scan engine, over the Parquet `events` table (partition,
//!   row-group and column pruning; one batch in memory).
//! - `sql.rs`: the Athena engine's SQL (the indicators as a `VALUES` list
//!   joined with the table), checked on DuckDB over the same Parquet.
//! - `daemon.rs`: `[hunt]`, hunting back each new indicator.
//!
//! Each match is recorded once under `state/hunt/matches/` (`record.rs`:
//! claimed with `If-None-Match: *` before its finding is written, marked
//! reported after): a repeated hunt, a second replica or a restarted daemon
//! reports it as `known`. New matches are written as findings
//! (`findings/dt=<day>/hunt-<digest>…`, the digest naming the matches); the
//! findings take the enricher's path to an issue per (indicator, host).

pub mod config;
pub mod daemon;
pub mod record;
pub mod scan;
pub mod sql;

use crate::error::ForwarderError;
use crate::layout::Layout;
use crate::replay::Progress;
use falconry_common::athena::{Athena, AthenaError, Rows};
use falconry_common::lake::findings::{
    Finding, FindingSource, MAX_FINDING_EVENT_BYTES, MAX_FINDINGS_PER_RULE, Matched,
};
use falconry_common::lake::state::{HUNT_STATE, HuntState};
use falconry_common::{Location, Store};
use falconry_detect::ioc::{HuntMetrics, Indicator, IndicatorSet};
use flate2::write::GzEncoder;
use futures::future::BoxFuture;
use scan::{Bounds, Window};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Matches kept in memory (and reported) per hunt at most; the rest are
/// counted. A hunt that finds more is too broad: narrow it with `--since`.
pub const MAX_MATCHES: usize = 100_000;

/// Runs the Athena engine's SQL: Amazon Athena, or (in the tests) DuckDB
/// over the same Parquet.
pub trait SqlEngine: Send + Sync + std::fmt::Debug {
    /// The database holding the lake's tables.
    fn database(&self) -> &str;
    /// The answer's rows and the bytes the query scanned.
    fn run(&self, sql: String) -> BoxFuture<'_, Result<(Rows, u64), AthenaError>>;
}

impl SqlEngine for Athena {
    fn database(&self) -> &str {
        &self.database
    }

    fn run(&self, sql: String) -> BoxFuture<'_, Result<(Rows, u64), AthenaError>> {
        Box::pin(async move {
            let a = Athena::run(self, sql).await?;
            Ok((a.rows, a.scanned_bytes))
        })
    }
}

/// Which engine hunts.
#[derive(Debug, Clone, Default)]
pub enum Engine {
    /// Read every Parquet file of the window (pruned).
    #[default]
    Scan,
    /// Ask Athena which files may hold a match, then read those alone.
    Athena(Arc<dyn SqlEngine>),
    /// Athena when the window's files pass `above_bytes`, else the scan.
    Auto {
        athena: Arc<dyn SqlEngine>,
        above_bytes: u64,
    },
}

/// Files one Athena answer may name (`Athena::max_rows` for hunts).
pub const MAX_FILES_NAMED: usize = 200_000;

/// What to hunt through.
#[derive(Debug, Clone)]
pub struct HuntOptions {
    pub window: Window,
    pub engine: Engine,
    /// Record matches and write findings (off: report only, `--dry-run`).
    pub record: bool,
    /// The state prefix in the lake's store (default `state/hunt`).
    pub state_prefix: String,
    /// "Now", for the findings' day and the records (epoch ms).
    pub now_ms: i64,
}

impl Default for HuntOptions {
    fn default() -> Self {
        HuntOptions {
            window: Window::default(),
            engine: Engine::Scan,
            record: true,
            state_prefix: HUNT_STATE.to_owned(),
            now_ms: chrono::Utc::now().timestamp_millis(),
        }
    }
}

/// Whether a match was reported before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchState {
    New,
    Known,
}

/// One match, as `--json` prints it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MatchOut {
    /// `type:value`.
    pub indicator: String,
    pub kind: String,
    pub value: String,
    /// Where the indicator came from.
    pub source: String,
    pub description: Option<String>,
    /// When the indicator was learned (RFC 3339).
    pub learned: Option<String>,
    /// The event's `id`, `aid`, time (RFC 3339) and type.
    pub event_id: Option<String>,
    pub aid: Option<String>,
    pub time: Option<String>,
    pub event_simplename: Option<String>,
    pub table: &'static str,
    /// The member that matched, and its value.
    pub field: String,
    pub matched: String,
    /// The Parquet file (key in the lake).
    pub file: String,
    pub state: MatchState,
}

/// What a hunt did and found.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HuntReport {
    pub engine: &'static str,
    pub indicators: usize,
    pub since: Option<String>,
    pub until: Option<String>,
    pub files: u64,
    pub bytes: u64,
    pub row_groups: u64,
    pub row_groups_pruned: u64,
    pub rows: u64,
    pub seconds: f64,
    pub rows_per_second: f64,
    /// Athena engine: queries run, bytes they scanned, and the files their
    /// answer named (the only ones read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub athena: Option<AthenaRun>,
    pub new: u64,
    pub known: u64,
    /// Matches past [`MAX_MATCHES`] (or the per-indicator findings cap),
    /// counted only: a later hunt reports them.
    pub omitted: u64,
    /// The findings object written for the new matches, if any.
    pub findings: Option<String>,
    pub matches: Vec<MatchOut>,
}

/// What the Athena engine did.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct AthenaRun {
    pub queries: u64,
    pub bytes_scanned: u64,
    pub files_named: u64,
    /// Indicators the SQL cannot narrow (so not hunted), with why.
    pub not_hunted: Vec<String>,
}

/// Counts a hunt in the metrics.
pub fn observe(m: &HuntMetrics, r: &HuntReport) {
    m.hunts
        .get_or_create(&falconry_detect::ioc::metrics::EngineLabel {
            engine: r.engine.to_owned(),
        })
        .inc();
    m.rows_scanned.inc_by(r.rows);
    m.bytes_scanned
        .inc_by(r.bytes + r.athena.as_ref().map_or(0, |a| a.bytes_scanned));
    for (state, n) in [("new", r.new), ("known", r.known)] {
        m.matches
            .get_or_create(&falconry_detect::ioc::metrics::MatchLabel {
                state: state.to_owned(),
            })
            .inc_by(n);
    }
    m.seconds.inc_by(r.seconds);
}

/// The lake key of a file an engine named by URL or path.
fn key_of(lake: &Location, path: &str) -> Option<String> {
    match lake {
        Location::S3 { bucket, .. } => path
            .strip_prefix("s3://")
            .and_then(|p| p.strip_prefix(bucket.as_str()))
            .and_then(|p| p.strip_prefix('/'))
            .map(str::to_owned),
        Location::Local { root, .. } => std::path::Path::new(path)
            .strip_prefix(root)
            .ok()
            .map(|p| p.to_string_lossy().replace('\\', "/")),
    }
}

/// Asks `engine` which of the window's files may hold a match.
async fn athena_files(
    engine: &dyn SqlEngine,
    lake: &Location,
    set: &IndicatorSet,
    window: Window,
) -> Result<(HashSet<String>, AthenaRun), ForwarderError> {
    if window.since_ms.is_none() {
        return Err(ForwarderError::Backtest(
            "hunt: the Athena engine needs --since (Athena bills by the byte scanned)".into(),
        ));
    }
    let planned = sql::queries(set, window, engine.database());
    let mut run = AthenaRun {
        not_hunted: planned
            .unsupported
            .iter()
            .map(|(id, why)| format!("{id}: {why}"))
            .collect(),
        ..AthenaRun::default()
    };
    let mut files = HashSet::new();
    for q in planned.queries {
        // Truncated answers would drop files silently: refuse instead.
        let (rows, scanned) = engine
            .run(q)
            .await
            .map_err(|e| ForwarderError::Backtest(format!("hunt: {e}")))?;
        run.queries += 1;
        run.bytes_scanned += scanned;
        if rows.rows.len() >= MAX_FILES_NAMED {
            return Err(ForwarderError::Backtest(format!(
                "hunt: Athena named {MAX_FILES_NAMED} files or more; narrow the hunt with --since"
            )));
        }
        let Some(at) = rows.index(sql::PATH_COLUMN) else {
            return Err(ForwarderError::Backtest(format!(
                "hunt: the answer has no {} column",
                sql::PATH_COLUMN
            )));
        };
        for row in &rows.rows {
            if let Some(Some(p)) = row.get(at) {
                match key_of(lake, p) {
                    Some(k) => {
                        files.insert(k);
                    }
                    None => tracing::warn!(path = %p, "the answer names a file outside the lake"),
                }
            }
        }
    }
    run.files_named = files.len() as u64;
    Ok((files, run))
}

pub(crate) fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

fn day(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "1970-01-01".into())
}

/// The candidate findings of one hunt, written as they are found.
struct Pending {
    out: GzEncoder<std::io::BufWriter<std::fs::File>>,
    file: tempfile::NamedTempFile,
    /// The claims of the matches written.
    claims: Vec<record::Claim>,
}

/// Hunts `set` through the lake at `lake` with the scan engine.
pub async fn hunt(
    lake: &Location,
    set: Arc<IndicatorSet>,
    opts: &HuntOptions,
    progress: watch::Sender<Progress>,
    shutdown: CancellationToken,
) -> Result<HuntReport, ForwarderError> {
    let started = Instant::now();
    let store = Store::open(lake).await;
    let layout = Layout::default().under(lake.prefix());
    let state = HuntState::new(&falconry_common::store::join(
        lake.prefix(),
        &opts.state_prefix,
    ));
    let failed = |what: &str, e: &dyn std::fmt::Display| {
        ForwarderError::Backtest(format!("hunt: {what}: {e}"))
    };
    let since_day = opts.window.since_ms.map(day);
    let until_day = opts.window.until_ms.map(day);
    let mut selected =
        crate::backtest::files(&store, &layout, since_day.as_deref(), until_day.as_deref()).await?;
    let total: u64 = selected.iter().map(|o| o.size).sum();
    let athena = match &opts.engine {
        Engine::Scan => None,
        Engine::Athena(a) => Some(a.clone()),
        Engine::Auto {
            athena,
            above_bytes,
        } => (total > *above_bytes).then(|| athena.clone()),
    };
    let mut athena_run = None;
    if let Some(a) = athena
        && !set.is_empty()
    {
        let (files, run) = athena_files(a.as_ref(), lake, &set, opts.window).await?;
        selected.retain(|o| files.contains(&o.key));
        athena_run = Some(run);
    }
    progress.send_modify(|p| {
        p.files_total = selected.len() as u64;
        p.bytes_total = selected.iter().map(|o| o.size).sum();
    });
    let bounds = Arc::new(Bounds::new(&set));
    let mut report = HuntReport {
        engine: if athena_run.is_some() {
            "athena"
        } else {
            "scan"
        },
        athena: athena_run,
        indicators: set.len(),
        since: opts.window.since_ms.map(rfc3339),
        until: opts.window.until_ms.map(rfc3339),
        files: 0,
        bytes: 0,
        row_groups: 0,
        row_groups_pruned: 0,
        rows: 0,
        seconds: 0.0,
        rows_per_second: 0.0,
        new: 0,
        known: 0,
        omitted: 0,
        findings: None,
        matches: Vec::new(),
    };
    let mut pending: Option<Pending> = None;
    let mut seen: HashSet<String> = HashSet::new();
    let mut per_indicator: BTreeMap<u32, u64> = BTreeMap::new();
    for o in selected {
        if shutdown.is_cancelled() || set.is_empty() {
            break;
        }
        let (path, _temp) = match lake {
            Location::Local { root, .. } => (root.join(&o.key), None),
            Location::S3 { .. } => {
                let temp = crate::backtest::download(&store, &o.key).await?;
                (temp.path().to_owned(), Some(temp))
            }
        };
        let room = MAX_MATCHES.saturating_sub(report.matches.len());
        let (s, b, w, p) = (set.clone(), bounds.clone(), opts.window, path.clone());
        let scanned = tokio::task::spawn_blocking(move || scan::scan(&p, &s, &b, w, room))
            .await
            .map_err(|e| failed(&o.key, &e))?
            .map_err(|e| failed(&o.key, &e))?;
        report.files += 1;
        report.bytes += o.size;
        report.rows += scanned.rows;
        report.row_groups += scanned.row_groups;
        report.row_groups_pruned += scanned.row_groups_pruned;
        report.omitted += scanned.omitted;
        // Known or new: a read (and a claim) per match; matches are rare.
        let mut fresh = Vec::new();
        for h in scanned.hits {
            let Some(ind) = set.get(h.indicator) else {
                continue;
            };
            let key = record::key(
                &state,
                &ind.id(),
                &record::event_key(
                    h.id.as_deref(),
                    h.aid.as_deref(),
                    h.timestamp_ms,
                    h.field,
                    &h.value,
                ),
            );
            if !seen.insert(key.clone()) {
                continue;
            }
            let capped =
                per_indicator.get(&h.indicator).copied().unwrap_or(0) >= MAX_FINDINGS_PER_RULE;
            let claim = if !opts.record {
                let reported = store
                    .get_tagged(&key)
                    .await
                    .map_err(ForwarderError::Store)?
                    .and_then(|(b, _)| serde_json::from_slice::<record::Record>(&b).ok())
                    .is_some_and(|r| r.status == record::Status::Reported);
                if reported { None } else { Some(None) }
            } else if capped {
                // Past the cap: not claimed, so a later hunt reports it.
                report.omitted += 1;
                continue;
            } else {
                let r = record::Record {
                    status: record::Status::Pending,
                    indicator: ind.id(),
                    event_id: h.id.clone(),
                    aid: h.aid.clone(),
                    field: h.field.to_owned(),
                    file: o.key.clone(),
                    at_ms: opts.now_ms,
                    findings: None,
                };
                record::claim(&store, &key, r, opts.now_ms)
                    .await
                    .map_err(ForwarderError::Store)?
                    .map(Some)
            };
            let state = match claim {
                None => {
                    report.known += 1;
                    MatchState::Known
                }
                Some(c) => {
                    *per_indicator.entry(h.indicator).or_default() += 1;
                    report.new += 1;
                    if let Some(c) = c {
                        fresh.push((c, h.clone()));
                    }
                    MatchState::New
                }
            };
            report.matches.push(match_out(ind, &h, &o.key, state));
        }
        if opts.record && !fresh.is_empty() {
            let rows: Vec<(usize, usize)> =
                fresh.iter().map(|(_, h)| (h.row_group, h.row)).collect();
            let p = path.clone();
            let events = tokio::task::spawn_blocking(move || scan::events(&p, &rows))
                .await
                .map_err(|e| failed(&o.key, &e))?
                .map_err(|e| failed(&o.key, &e))?;
            let pending = match &mut pending {
                Some(p) => p,
                None => {
                    let file = tempfile::Builder::new()
                        .prefix("falconry-hunt-")
                        .tempfile()
                        .map_err(|e| failed("temporary file", &e))?;
                    let w = std::io::BufWriter::new(
                        file.reopen().map_err(|e| failed("temporary file", &e))?,
                    );
                    pending.insert(Pending {
                        out: GzEncoder::new(w, flate2::Compression::fast()),
                        file,
                        claims: Vec::new(),
                    })
                }
            };
            for (claim, h) in fresh {
                let Some(ind) = set.get(h.indicator) else {
                    continue;
                };
                let event = events
                    .get(&(h.row_group, h.row))
                    .cloned()
                    .unwrap_or_default();
                let finding = finding(ind, &h, &o.key, lake, event);
                let line = serde_json::to_string(&finding).map_err(|e| failed("finding", &e))?;
                pending
                    .out
                    .write_all(line.as_bytes())
                    .and_then(|()| pending.out.write_all(b"\n"))
                    .map_err(|e| failed("temporary file", &e))?;
                pending.claims.push(claim);
            }
        }
        progress.send_modify(|p| {
            p.files_done += 1;
            p.bytes_done += o.size;
            p.rows = report.rows;
        });
    }
    if let Some(p) = pending {
        report.findings = Some(publish(&store, &layout, p, opts.now_ms).await?);
    }
    let seconds = started.elapsed().as_secs_f64();
    report.seconds = seconds;
    report.rows_per_second = if seconds > 0.0 {
        report.rows as f64 / seconds
    } else {
        0.0
    };
    // New first, then by event time.
    report.matches.sort_by(|a, b| {
        (a.state != MatchState::New, &a.time, &a.indicator).cmp(&(
            b.state != MatchState::New,
            &b.time,
            &b.indicator,
        ))
    });
    Ok(report)
}

/// Writes the findings of the claimed matches, then marks each reported.
/// A crash in between leaves the claims pending: a hunt after their lease
/// takes them over and reports them again (the enricher's dedup records
/// keep a repeated finding to one case).
async fn publish(
    store: &Store,
    layout: &Layout,
    p: Pending,
    now_ms: i64,
) -> Result<String, ForwarderError> {
    let failed =
        |e: &dyn std::fmt::Display| ForwarderError::Backtest(format!("hunt: findings: {e}"));
    let mut inner = p.out.finish().map_err(|e| failed(&e))?;
    inner.flush().map_err(|e| failed(&e))?;
    inner.get_ref().sync_all().map_err(|e| failed(&e))?;
    let mut names: Vec<&str> = p.claims.iter().map(|c| c.key.as_str()).collect();
    names.sort_unstable();
    let key = layout.hunt_findings_key(&day(now_ms), &record::digest(&names.join("\n"))[..16]);
    store
        .put_file(&key, p.file.path(), 8 << 20)
        .await
        .map_err(ForwarderError::Store)?;
    for claim in p.claims {
        record::reported(store, claim, &key, now_ms)
            .await
            .map_err(ForwarderError::Store)?;
    }
    Ok(key)
}

fn match_out(ind: &Indicator, h: &scan::RowHit, file: &str, state: MatchState) -> MatchOut {
    MatchOut {
        indicator: ind.id(),
        kind: ind.kind.to_string(),
        value: ind.value.clone(),
        source: ind.source.clone(),
        description: ind.description.clone(),
        learned: ind.learned_ms.map(rfc3339),
        event_id: h.id.clone(),
        aid: h.aid.clone(),
        time: h.timestamp_ms.map(rfc3339),
        event_simplename: h.event_simplename.clone(),
        table: crate::layout::table::EVENTS,
        field: h.field.to_owned(),
        matched: h.value.clone(),
        file: file.to_owned(),
        state,
    }
}

/// A new match as a finding (kind `ioc`, found by `hunt`). Its source is
/// the Parquet file and the row's 1-based number in it; its event the row
/// rebuilt from every column.
fn finding(
    ind: &Indicator,
    h: &scan::RowHit,
    file: &str,
    lake: &Location,
    mut event: String,
) -> Finding {
    let length = event.len();
    let cut = length > MAX_FINDING_EVENT_BYTES;
    if cut {
        let mut end = MAX_FINDING_EVENT_BYTES;
        while !event.is_char_boundary(end) {
            end -= 1;
        }
        event.truncate(end);
    }
    Finding {
        rule: ind.finding_rule(),
        indicator: Some(ind.finding_indicator("hunt")),
        source: FindingSource {
            bucket: match lake {
                Location::S3 { bucket, .. } => Some(bucket.clone()),
                Location::Local { .. } => None,
            },
            key: file.to_owned(),
            line: h.file_row + 1,
        },
        aid: h.aid.clone(),
        computer_name: None,
        event_simplename: h.event_simplename.clone(),
        timestamp: h.timestamp_ms,
        matched: vec![Matched {
            field: h.field.to_owned(),
            value: h.value.clone(),
        }],
        event,
        event_length: cut.then_some(length as u64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hunt_is_counted_in_the_metrics() {
        let mut registry = prometheus_client::registry::Registry::default();
        let m = HuntMetrics::new(&mut registry);
        let report = HuntReport {
            engine: "athena",
            indicators: 3,
            since: None,
            until: None,
            files: 2,
            bytes: 1_000,
            row_groups: 4,
            row_groups_pruned: 1,
            rows: 500,
            seconds: 1.5,
            rows_per_second: 333.0,
            athena: Some(AthenaRun {
                queries: 1,
                bytes_scanned: 20_000,
                files_named: 2,
                not_hunted: Vec::new(),
            }),
            new: 2,
            known: 1,
            omitted: 0,
            findings: None,
            matches: Vec::new(),
        };
        observe(&m, &report);
        observe(&m, &report);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        for line in [
            "falconry_hunt_runs_total{engine=\"athena\"} 2",
            "falconry_hunt_rows_scanned_total 1000",
            "falconry_hunt_bytes_scanned_total 42000",
            "falconry_hunt_matches_total{state=\"new\"} 4",
            "falconry_hunt_matches_total{state=\"known\"} 2",
            "falconry_hunt_seconds_total 3.0",
        ] {
            assert!(text.contains(line), "{line} not in:\n{text}");
        }
    }

    #[test]
    fn engines_name_files_by_their_lake_keys() {
        let s3 = Location::parse("s3://lake/prefix").unwrap();
        assert_eq!(
            key_of(&s3, "s3://lake/prefix/parquet/events/a.parquet").as_deref(),
            Some("prefix/parquet/events/a.parquet")
        );
        assert_eq!(key_of(&s3, "s3://other/parquet/a.parquet"), None);
        assert_eq!(key_of(&s3, "s3://lakes/parquet/a.parquet"), None);
        let local = Location::parse("file:///data/lake").unwrap();
        assert_eq!(
            key_of(&local, "/data/lake/parquet/events/a.parquet").as_deref(),
            Some("parquet/events/a.parquet")
        );
        assert_eq!(key_of(&local, "/elsewhere/a.parquet"), None);
    }
}
