//! `falconry rules backtest`: the rules over the Parquet lake's history, to
//! see what a rule would have fired on before it is enabled. Reads only the
//! `events` table, only the `dt=` partitions in range, only the columns the
//! rules need (plus the catch-alls, which may hold any member), and rebuilds
//! each event's members exactly as the converter kept them
//! (`convert::roundtrip`). Rows of event types no rule reads are counted,
//! not rebuilt.
//!
//! Files are read one at a time (an S3 file goes through a temporary file),
//! so memory is bounded by one Parquet batch whatever the lake's size.

use crate::convert::roundtrip::{Member, row_members};
use crate::error::ForwarderError;
use crate::layout::{Layout, table};
use crate::replay::Progress;
use crate::schema::{self, FIELDS, FIELDS_JSON};
use arrow_array::Array;
use arrow_array::cast::AsArray;
use falconry_common::{Location, ObjectInfo, Store};
use falconry_detect::{Detector, Hit};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Which history to read.
#[derive(Debug, Clone, Default)]
pub struct BacktestOptions {
    /// First day (`YYYY-MM-DD`, inclusive).
    pub since: Option<String>,
    /// Last day (`YYYY-MM-DD`, inclusive).
    pub until: Option<String>,
    /// Sample events kept per rule.
    pub samples: usize,
}

/// Distinct hosts counted per rule, at most, and over all rules (a host is
/// 16 bytes: memory stays bounded whatever the lake and the rules).
const MAX_HOSTS: usize = 10_000;
const MAX_HOSTS_TOTAL: usize = 1_000_000;

/// A host's key: its aid (32 hex digits) as a number, else a hash of it.
fn host_key(aid: &str) -> u128 {
    u128::from_str_radix(aid, 16).unwrap_or_else(|_| {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        aid.hash(&mut h);
        u128::from(h.finish())
    })
}

/// What one rule would have found.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RuleResult {
    pub id: String,
    pub title: String,
    pub level: String,
    pub hits: u64,
    /// Distinct `aid`s (counted up to 10,000 per rule and 1,000,000 over
    /// all rules; `hosts_capped` says when the count stopped).
    pub hosts: u64,
    pub hosts_capped: bool,
    /// First and last hit (the events' times, RFC 3339).
    pub first: Option<String>,
    pub last: Option<String>,
    /// A few matched events, rebuilt.
    pub samples: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    pub rules: Vec<RuleResult>,
    pub files: u64,
    pub events: u64,
    pub events_evaluated: u64,
    pub seconds: f64,
    pub events_per_second: f64,
    /// Event types in the range no rule reads, with their event counts.
    pub uncovered_event_types: BTreeMap<String, u64>,
}

#[derive(Default)]
struct Acc {
    hits: u64,
    hosts: HashSet<u128>,
    hosts_capped: bool,
    first: Option<i64>,
    last: Option<i64>,
    samples: Vec<serde_json::Value>,
}

/// The events table's files in the day range (`YYYY-MM-DD`, inclusive),
/// in key order.
pub(crate) async fn files(
    store: &Store,
    layout: &Layout,
    since: Option<&str>,
    until: Option<&str>,
) -> Result<Vec<ObjectInfo>, ForwarderError> {
    let prefix = format!(
        "{}/",
        falconry_common::store::join(&layout.parquet, table::EVENTS)
    );
    let mut listed = store.list(&prefix).await.map_err(ForwarderError::Store)?;
    listed.retain(|o| {
        if !o.key.ends_with(".parquet") {
            return false;
        }
        let Some(day) = o.key.split('/').find_map(|s| s.strip_prefix("dt=")) else {
            return false;
        };
        since.is_none_or(|s| day >= s) && until.is_none_or(|u| day <= u)
    });
    listed.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(listed)
}

/// Runs `detector` over the lake at `lake`.
pub async fn backtest(
    lake: &Location,
    detector: Arc<Detector>,
    opts: &BacktestOptions,
    progress: watch::Sender<Progress>,
    shutdown: CancellationToken,
) -> Result<Report, ForwarderError> {
    let started = Instant::now();
    let store = Store::open(lake).await;
    let layout = Layout::default().under(lake.prefix());
    let selected = files(
        &store,
        &layout,
        opts.since.as_deref(),
        opts.until.as_deref(),
    )
    .await?;
    progress.send_modify(|p| {
        p.files_total = selected.len() as u64;
        p.bytes_total = selected.iter().map(|o| o.size).sum();
    });
    let mut acc: BTreeMap<String, Acc> = BTreeMap::new();
    let mut uncovered = BTreeMap::new();
    let (mut events, mut evaluated, mut files_read) = (0u64, 0u64, 0u64);
    let mut hosts_total = 0usize;
    for o in selected {
        if shutdown.is_cancelled() {
            break;
        }
        let (path, _temp) = match lake {
            Location::Local { root, .. } => (root.join(&o.key), None),
            Location::S3 { .. } => {
                let temp = download(&store, &o.key).await?;
                (temp.path().to_owned(), Some(temp))
            }
        };
        let d = detector.clone();
        let samples = opts.samples;
        let key = o.key.clone();
        let scanned = tokio::task::spawn_blocking(move || scan(&path, &d, samples))
            .await
            .map_err(|e| ForwarderError::Backtest(format!("{key}: {e}")))?
            .map_err(|e| ForwarderError::Backtest(format!("{key}: {e}")))?;
        files_read += 1;
        events += scanned.events;
        evaluated += scanned.evaluated;
        for (t, n) in scanned.uncovered {
            *uncovered.entry(t).or_default() += n;
        }
        for (id, a) in scanned.acc {
            let into = acc.entry(id).or_default();
            into.hits += a.hits;
            into.hosts_capped |= a.hosts_capped;
            for h in a.hosts {
                if into.hosts.len() < MAX_HOSTS && hosts_total < MAX_HOSTS_TOTAL {
                    if into.hosts.insert(h) {
                        hosts_total += 1;
                    }
                } else if !into.hosts.contains(&h) {
                    into.hosts_capped = true;
                }
            }
            into.first = min_opt(into.first, a.first);
            into.last = max_opt(into.last, a.last);
            for s in a.samples {
                if into.samples.len() < opts.samples {
                    into.samples.push(s);
                }
            }
        }
        progress.send_modify(|p| {
            p.files_done += 1;
            p.bytes_done += o.size;
            p.rows = events;
        });
    }
    let mut rules: Vec<RuleResult> = detector
        .rules()
        .map(|meta| {
            let a = acc.remove(&meta.id).unwrap_or_default();
            RuleResult {
                id: meta.id.clone(),
                title: meta.title.clone(),
                level: meta.level.clone(),
                hits: a.hits,
                hosts: a.hosts.len() as u64,
                hosts_capped: a.hosts_capped,
                first: a.first.map(rfc3339),
                last: a.last.map(rfc3339),
                samples: a.samples,
            }
        })
        .collect();
    rules.sort_by(|a, b| b.hits.cmp(&a.hits).then_with(|| a.id.cmp(&b.id)));
    let seconds = started.elapsed().as_secs_f64();
    Ok(Report {
        rules,
        files: files_read,
        events,
        events_evaluated: evaluated,
        seconds,
        events_per_second: if seconds > 0.0 {
            events as f64 / seconds
        } else {
            0.0
        },
        uncovered_event_types: uncovered,
    })
}

fn min_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

fn max_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    }
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

pub(crate) async fn download(
    store: &Store,
    key: &str,
) -> Result<tempfile::NamedTempFile, ForwarderError> {
    let mut reader = store.get(key).await.map_err(ForwarderError::Store)?;
    let mut temp = tempfile::NamedTempFile::new()
        .map_err(|e| ForwarderError::Backtest(format!("temporary file: {e}")))?;
    while let Some(chunk) = reader.next_chunk().await.map_err(ForwarderError::Store)? {
        temp.write_all(&chunk)
            .map_err(|e| ForwarderError::Backtest(format!("temporary file: {e}")))?;
    }
    Ok(temp)
}

struct Scanned {
    /// Host entries kept over all rules (bounded by `MAX_HOSTS_TOTAL`).
    hosts: usize,
    events: u64,
    evaluated: u64,
    uncovered: BTreeMap<String, u64>,
    acc: BTreeMap<String, Acc>,
}

/// One Parquet file: the columns the rules need, each row rebuilt and evaluated.
fn scan(path: &std::path::Path, detector: &Detector, samples: usize) -> Result<Scanned, String> {
    let t = schema::table(table::EVENTS);
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| e.to_string())?;
    let needs = detector.needs();
    let mask = if needs.all {
        ProjectionMask::all()
    } else {
        let always = [
            "event_simpleName",
            "event_platform",
            "aid",
            "ComputerName",
            "timestamp",
        ];
        let mut names: Vec<&str> = t
            .columns
            .iter()
            .filter(|c| always.contains(&c.source) || needs.members.contains(c.source))
            .map(|c| c.name)
            .collect();
        names.extend([FIELDS, FIELDS_JSON]);
        ProjectionMask::columns(builder.parquet_schema(), names)
    };
    let reader = builder
        .with_projection(mask)
        .with_batch_size(4096)
        .build()
        .map_err(|e| e.to_string())?;
    let mut out = Scanned {
        hosts: 0,
        events: 0,
        evaluated: 0,
        uncovered: BTreeMap::new(),
        acc: BTreeMap::new(),
    };
    let mut hits: Vec<Hit> = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| e.to_string())?;
        let names = batch
            .column_by_name("event_simplename")
            .and_then(|c| c.as_string_opt::<i32>().cloned());
        for i in 0..batch.num_rows() {
            out.events += 1;
            let name = names.as_ref().filter(|n| n.is_valid(i)).map(|n| n.value(i));
            if let Some(n) = name
                && !detector.covers(n)
            {
                if let Some(c) = out.uncovered.get_mut(n) {
                    *c += 1;
                } else if out.uncovered.len() < 10_000 {
                    out.uncovered.insert(n.to_owned(), 1);
                }
                continue;
            }
            let members = row_members(t, &batch, i)?;
            let texts: Vec<(String, String)> = members
                .into_iter()
                .map(|(k, v)| {
                    let text = match v {
                        Member::Str(s) => serde_json::Value::String(s).to_string(),
                        Member::Json(j) => j,
                    };
                    (k, text)
                })
                .collect();
            if detector.evaluate(
                texts.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                std::iter::empty(),
                &mut hits,
            ) {
                out.evaluated += 1;
            }
            if hits.is_empty() {
                continue;
            }
            let member = |k: &str| {
                texts
                    .iter()
                    .find(|(m, _)| m == k)
                    .and_then(|(_, v)| serde_json::from_str::<serde_json::Value>(v).ok())
            };
            let aid = member("aid").and_then(|v| v.as_str().map(str::to_owned));
            let time = member("timestamp").and_then(|v| match v {
                serde_json::Value::String(s) => falconry_common::time::epoch_ms(&s),
                serde_json::Value::Number(n) => n.as_i64(),
                _ => None,
            });
            for hit in hits.drain(..) {
                let a = match out.acc.get_mut(&hit.rule.id) {
                    Some(a) => a,
                    None => out.acc.entry(hit.rule.id.clone()).or_default(),
                };
                a.hits += 1;
                if let Some(aid) = &aid {
                    let k = host_key(aid);
                    if a.hosts.len() < MAX_HOSTS && out.hosts < MAX_HOSTS_TOTAL {
                        if a.hosts.insert(k) {
                            out.hosts += 1;
                        }
                    } else if !a.hosts.contains(&k) {
                        a.hosts_capped = true;
                    }
                }
                a.first = min_opt(a.first, time);
                a.last = max_opt(a.last, time);
                if a.samples.len() < samples {
                    let event: serde_json::Map<String, serde_json::Value> = texts
                        .iter()
                        .map(|(k, v)| {
                            (
                                k.clone(),
                                serde_json::from_str(v).unwrap_or(serde_json::Value::Null),
                            )
                        })
                        .collect();
                    a.samples.push(serde_json::Value::Object(event));
                }
            }
        }
    }
    Ok(out)
}
