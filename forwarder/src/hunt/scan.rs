//! One Parquet file of the `events` table, hunted: only the columns the
//! indicators are looked for in (plus the event's id, host, time and type),
//! only the row groups whose statistics say they may hold a match (a column
//! all NULL, a time outside the window, hash bounds holding no indicator are
//! skipped), each value compared whole (`IndicatorSet::match_field`). The
//! rows that matched are read again whole, and only those, to rebuild their
//! events for the findings.
//!
//! Memory is one batch of the projected columns, whatever the file's size.

use crate::convert::roundtrip::{Member, row_members};
use crate::layout::table;
use crate::schema;
use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMillisecondType;
use arrow_array::{Array, RecordBatch, StringArray};
use falconry_detect::ioc::set::FIELDS;
use falconry_detect::ioc::{IndicatorSet, IocHit, Kind};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReaderBuilder, RowSelection, RowSelector};
use parquet::file::metadata::RowGroupMetaData;
use std::collections::BTreeMap;
use std::path::Path;

/// Rows per batch read.
const BATCH_ROWS: usize = 8192;

/// A match in one row.
#[derive(Debug, Clone)]
pub struct RowHit {
    pub indicator: u32,
    pub field: &'static str,
    pub value: String,
    /// Row group, and row within it.
    pub row_group: usize,
    pub row: usize,
    /// The row's 0-based number in the file.
    pub file_row: u64,
    pub id: Option<String>,
    pub aid: Option<String>,
    pub timestamp_ms: Option<i64>,
    pub event_simplename: Option<String>,
}

#[derive(Debug, Default)]
pub struct FileScan {
    pub hits: Vec<RowHit>,
    pub rows: u64,
    pub row_groups: u64,
    pub row_groups_pruned: u64,
    /// Matches past the cap, counted only.
    pub omitted: u64,
}

/// What statistics are compared with: each hash type's indicators, sorted
/// (in lower and upper case: the lake keeps hashes as FDR wrote them).
#[derive(Debug, Default)]
pub struct Bounds {
    hashes: BTreeMap<&'static str, Vec<String>>,
}

impl Bounds {
    pub fn new(set: &IndicatorSet) -> Bounds {
        let mut hashes: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
        for i in set.indicators() {
            let member = match i.kind {
                Kind::Sha256 => "SHA256HashData",
                Kind::Sha1 => "SHA1HashData",
                Kind::Md5 => "MD5HashData",
                _ => continue,
            };
            let v = hashes.entry(member).or_default();
            v.push(i.value.clone());
            v.push(i.value.to_ascii_uppercase());
        }
        for v in hashes.values_mut() {
            v.sort();
            v.dedup();
        }
        Bounds { hashes }
    }

    /// Whether some indicator of `member`'s hash type lies in `[min, max]`.
    fn may_hold(&self, member: &str, min: &[u8], max: &[u8]) -> bool {
        let Some(values) = self.hashes.get(member) else {
            return true;
        };
        let at = values.partition_point(|v| v.as_bytes() < min);
        values.get(at).is_some_and(|v| v.as_bytes() <= max)
    }
}

/// The hunt's time window (epoch ms, inclusive).
#[derive(Debug, Clone, Copy, Default)]
pub struct Window {
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
}

impl Window {
    fn holds(&self, t: i64) -> bool {
        self.since_ms.is_none_or(|s| t >= s) && self.until_ms.is_none_or(|u| t <= u)
    }
}

/// The column of a member in the events table.
pub(crate) fn column_of(member: &str) -> Option<&'static str> {
    schema::table(table::EVENTS)
        .columns
        .iter()
        .find(|c| c.source == member)
        .map(|c| c.name)
}

fn i64_le(b: Option<&[u8]>) -> Option<i64> {
    b.and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(i64::from_le_bytes)
}

/// Whether a row group may hold a match.
fn may_match(
    rg: &RowGroupMetaData,
    index: &BTreeMap<&str, usize>,
    members: &[(&'static str, &'static str)],
    bounds: &Bounds,
    window: Window,
) -> bool {
    if let Some(&t) = index.get("timestamp")
        && let Some(st) = rg.column(t).statistics()
        && let (Some(min), Some(max)) = (i64_le(st.min_bytes_opt()), i64_le(st.max_bytes_opt()))
        && (window.since_ms.is_some_and(|s| max < s) || window.until_ms.is_some_and(|u| min > u))
    {
        return false;
    }
    let rows = u64::try_from(rg.num_rows()).unwrap_or(0);
    members.iter().any(|(member, column)| {
        let Some(&c) = index.get(column) else {
            return false;
        };
        let Some(st) = rg.column(c).statistics() else {
            return true;
        };
        if st.null_count_opt() == Some(rows) {
            return false;
        }
        match (st.min_bytes_opt(), st.max_bytes_opt()) {
            (Some(min), Some(max)) => bounds.may_hold(member, min, max),
            _ => true,
        }
    })
}

/// Hunts one file; at most `max_hits` matches are kept (the rest counted).
pub fn scan(
    path: &Path,
    set: &IndicatorSet,
    bounds: &Bounds,
    window: Window,
    max_hits: usize,
) -> Result<FileScan, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| e.to_string())?;
    let members: Vec<(&'static str, &'static str)> = set
        .fields()
        .filter_map(|m| column_of(m).map(|c| (m, c)))
        .collect();
    let meta = builder.metadata().clone();
    let schema_descr = meta.file_metadata().schema_descr();
    let index: BTreeMap<&str, usize> = schema_descr
        .columns()
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name(), i))
        .collect();
    let mut out = FileScan {
        row_groups: meta.num_row_groups() as u64,
        ..FileScan::default()
    };
    let kept: Vec<usize> = (0..meta.num_row_groups())
        .filter(|&i| may_match(meta.row_group(i), &index, &members, bounds, window))
        .collect();
    out.row_groups_pruned = out.row_groups - kept.len() as u64;
    if kept.is_empty() || members.is_empty() {
        return Ok(out);
    }
    // Global row → (row group, row) over the kept row groups.
    let starts: Vec<(usize, u64)> = {
        let mut at = 0u64;
        kept.iter()
            .map(|&rg| {
                let s = (rg, at);
                at += u64::try_from(meta.row_group(rg).num_rows()).unwrap_or(0);
                s
            })
            .collect()
    };
    let offsets: Vec<u64> = (0..meta.num_row_groups())
        .scan(0u64, |at, i| {
            let s = *at;
            *at += u64::try_from(meta.row_group(i).num_rows()).unwrap_or(0);
            Some(s)
        })
        .collect();
    let mut names: Vec<&str> = vec!["id", "aid", "timestamp", "event_simplename"];
    names.extend(members.iter().map(|(_, c)| *c));
    let mask = ProjectionMask::columns(builder.parquet_schema(), names);
    let reader = builder
        .with_row_groups(kept)
        .with_projection(mask)
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| e.to_string())?;
    let mut hits: Vec<IocHit> = Vec::new();
    let mut global = 0u64;
    for batch in reader {
        let batch = batch.map_err(|e| e.to_string())?;
        let text = |name: &str| {
            batch
                .column_by_name(name)
                .and_then(|c| c.as_string_opt::<i32>().cloned())
        };
        let columns: Vec<(&'static str, StringArray)> = members
            .iter()
            .filter_map(|(m, c)| text(c).map(|a| (*m, a)))
            .collect();
        let (ids, aids, names) = (text("id"), text("aid"), text("event_simplename"));
        let times = batch
            .column_by_name("timestamp")
            .and_then(|c| c.as_primitive_opt::<TimestampMillisecondType>().cloned());
        let value = |a: &Option<StringArray>, i: usize| {
            a.as_ref()
                .filter(|a| a.is_valid(i))
                .map(|a| a.value(i).to_owned())
        };
        for i in 0..batch.num_rows() {
            let row_global = global + i as u64;
            out.rows += 1;
            let t = times.as_ref().filter(|t| t.is_valid(i)).map(|t| t.value(i));
            if let Some(t) = t
                && !window.holds(t)
            {
                continue;
            }
            for (member, col) in &columns {
                if col.is_valid(i) {
                    set.match_field(member, col.value(i), &mut hits);
                }
            }
            if hits.is_empty() {
                continue;
            }
            let at = starts
                .partition_point(|(_, s)| *s <= row_global)
                .saturating_sub(1);
            let (rg, start) = starts.get(at).copied().unwrap_or((0, 0));
            for h in hits.drain(..) {
                if out.hits.len() >= max_hits {
                    out.omitted += 1;
                    continue;
                }
                out.hits.push(RowHit {
                    indicator: h.indicator,
                    field: h.field,
                    value: h.value,
                    row_group: rg,
                    row: usize::try_from(row_global - start).unwrap_or(0),
                    file_row: offsets.get(rg).copied().unwrap_or(0) + (row_global - start),
                    id: value(&ids, i),
                    aid: value(&aids, i),
                    timestamp_ms: t,
                    event_simplename: value(&names, i),
                });
            }
        }
        global += batch.num_rows() as u64;
    }
    Ok(out)
}

/// The whole events of the given rows (row group, row), rebuilt as JSON
/// objects from every column (`convert::roundtrip`): what the findings carry.
pub fn events(
    path: &Path,
    rows: &[(usize, usize)],
) -> Result<BTreeMap<(usize, usize), String>, String> {
    let t = schema::table(table::EVENTS);
    let mut by_group: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (rg, r) in rows {
        by_group.entry(*rg).or_default().push(*r);
    }
    let mut out = BTreeMap::new();
    for (rg, mut wanted) in by_group {
        wanted.sort_unstable();
        wanted.dedup();
        let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| e.to_string())?;
        let mut selectors = Vec::new();
        let mut at = 0usize;
        for &r in &wanted {
            if r > at {
                selectors.push(RowSelector::skip(r - at));
            }
            selectors.push(RowSelector::select(1));
            at = r + 1;
        }
        let reader = builder
            .with_row_groups(vec![rg])
            .with_row_selection(RowSelection::from(selectors))
            .with_batch_size(wanted.len().max(1))
            .build()
            .map_err(|e| e.to_string())?;
        let mut next = wanted.iter();
        for batch in reader {
            let batch: RecordBatch = batch.map_err(|e| e.to_string())?;
            for i in 0..batch.num_rows() {
                let Some(&r) = next.next() else { break };
                out.insert((rg, r), event_json(&row_members(t, &batch, i)?));
            }
        }
    }
    Ok(out)
}

/// Members as one JSON object (strings as strings, the rest as their JSON).
fn event_json(members: &crate::convert::roundtrip::Members) -> String {
    let mut s = String::from("{");
    for (i, (k, v)) in members.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&serde_json::Value::String(k.clone()).to_string());
        s.push(':');
        match v {
            Member::Str(t) => s.push_str(&serde_json::Value::String(t.clone()).to_string()),
            Member::Json(j) => s.push_str(j),
        }
    }
    s.push('}');
    s
}

/// The members hunted, for the documentation and the SQL engine.
pub fn hunted_columns() -> Vec<(&'static str, Option<&'static str>)> {
    FIELDS.iter().map(|(m, _)| (*m, column_of(m))).collect()
}
