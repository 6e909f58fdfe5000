//! Reading one Parquet file of the lake, held whole in memory: which row
//! groups may hold the host (min/max statistics of `aid` and `timestamp`),
//! only the columns the summary needs, and a row filter so that only the
//! host's rows in the window are decoded in full. [`events`] counts a file's
//! matching `events` rows into a [`Tally`]; [`latest`] finds the newest
//! matching row of a lookup table (`aidmaster`, `userinfo`).
//!
//! Synchronous and CPU-bound: callers run it in `spawn_blocking`. No I/O, no
//! listing, no budgets here (that is `scan.rs`). Files of older schema
//! versions may lack a column: a missing column reads as NULL; a column of an
//! unexpected type is an error, never a panic.

use super::summary::{EventRow, Record, Tally, Window, iso};
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Decimal128Type, Int64Type, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch};
use arrow_schema::{ArrowError, DataType, TimeUnit};
use bytes::Bytes;
use falconry_common::lake::fdr::column;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ArrowPredicateFn, ParquetRecordBatchReaderBuilder, RowFilter};
use parquet::basic::{LogicalType, TimeUnit as ParquetUnit};
use parquet::errors::ParquetError;
use parquet::file::metadata::RowGroupMetaData;
use parquet::file::statistics::Statistics;
use parquet::schema::types::SchemaDescriptor;

/// Rows decoded at once.
const BATCH_ROWS: usize = 8192;

/// What went wrong reading one file.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error(transparent)]
    Parquet(#[from] ParquetError),
    #[error(transparent)]
    Arrow(#[from] ArrowError),
    #[error("no column {0}")]
    MissingColumn(&'static str),
    #[error("column {column} is {found}, not a {expected}")]
    ColumnType {
        column: String,
        found: String,
        expected: &'static str,
    },
}

/// Row groups of the files read: how many there were, how many were decoded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Groups {
    pub total: u64,
    pub read: u64,
}

impl Groups {
    pub fn add(&mut self, other: Groups) {
        self.total += other.total;
        self.read += other.read;
    }
}

/// The `events` columns the summary reads.
const EVENT_COLUMNS: [&str; 9] = column::HISTORY_EVENTS;

/// Counts the rows of `aid` within `window` in one `events` file.
pub fn events(bytes: Bytes, aid: &str, window: Window) -> Result<(Tally, Groups), DecodeError> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes)?;
    let descr = builder.parquet_schema();
    let aid_leaf = leaf(descr, column::AID).ok_or(DecodeError::MissingColumn(column::AID))?;
    let ts_leaf =
        leaf(descr, column::TIMESTAMP).ok_or(DecodeError::MissingColumn(column::TIMESTAMP))?;
    let scale = ms_scale(descr, ts_leaf);
    let rgs = builder.metadata().row_groups();
    let keep: Vec<usize> = (0..rgs.len())
        .filter(|&i| {
            may_hold_text(&rgs[i], aid_leaf, aid)
                && scale.is_none_or(|s| may_hold_time(&rgs[i], ts_leaf, s, window))
        })
        .collect();
    let groups = Groups {
        total: rgs.len() as u64,
        read: keep.len() as u64,
    };
    let mut tally = Tally::default();
    if keep.is_empty() {
        return Ok((tally, groups));
    }
    let projection = ProjectionMask::columns(descr, EVENT_COLUMNS);
    let wanted = aid.to_owned();
    let predicate = ArrowPredicateFn::new(
        ProjectionMask::leaves(descr, [aid_leaf, ts_leaf]),
        move |batch: RecordBatch| {
            let aids = Col::of(&batch, column::AID).map_err(external)?;
            let times = Col::of(&batch, column::TIMESTAMP).map_err(external)?;
            let keep: Vec<bool> = (0..batch.num_rows())
                .map(|i| {
                    aids.str(i) == Some(wanted.as_str())
                        && times.ms(i).is_some_and(|t| window.contains(t))
                })
                .collect();
            Ok(BooleanArray::from(keep))
        },
    );
    let reader = builder
        .with_row_groups(keep)
        .with_projection(projection)
        .with_row_filter(RowFilter::new(vec![Box::new(predicate)]))
        .with_batch_size(BATCH_ROWS)
        .build()?;
    for batch in reader {
        let batch = batch?;
        let c = |name| Col::of(&batch, name);
        let (ts, kind, image, cmd) = (
            c(column::TIMESTAMP)?,
            c(column::EVENT_SIMPLENAME)?,
            c("image_file_name")?,
            c("command_line")?,
        );
        let (domain, ip4, ip6, port) = (
            c("domain_name")?,
            c("remote_address_ip4")?,
            c("remote_address_ip6")?,
            c("remote_port")?,
        );
        for i in 0..batch.num_rows() {
            tally.add(&EventRow {
                timestamp_ms: ts.ms(i).unwrap_or(window.from_ms),
                event_type: kind.str(i),
                image: image.str(i),
                command_line: cmd.str(i),
                domain: domain.str(i),
                remote_ip4: ip4.str(i),
                remote_ip6: ip6.str(i),
                remote_port: port.int(i),
            });
        }
    }
    Ok((tally, groups))
}

/// Which rows of a lookup table are wanted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Want {
    /// `aidmaster` rows of one host (`aid` exactly; the table is sorted by it).
    Host { aid: String },
    /// `userinfo` rows of one account: its SID exactly, or its bare name
    /// (lower case) equal to `lower(user_name)`.
    User {
        name: Option<String>,
        sid: Option<String>,
    },
}

impl Want {
    fn columns(&self) -> &'static [&'static str] {
        match self {
            Want::Host { .. } => &[column::AID],
            Want::User { .. } => &[column::USER_NAME, column::USER_SID_READABLE],
        }
    }

    fn matches(&self, batch: &RecordBatch, i: usize) -> Result<bool, DecodeError> {
        Ok(match self {
            Want::Host { aid } => Col::of(batch, column::AID)?.str(i) == Some(aid.as_str()),
            Want::User { name, sid } => {
                let by_sid = sid.as_deref().is_some_and(|s| {
                    Col::of(batch, column::USER_SID_READABLE).is_ok_and(|c| c.str(i) == Some(s))
                });
                by_sid
                    || name.as_deref().is_some_and(|n| {
                        Col::of(batch, column::USER_NAME)
                            .is_ok_and(|c| c.str(i).is_some_and(|v| v.to_lowercase() == n))
                    })
            }
        })
    }
}

/// The newest row (by `time`) of `want` in one lookup-table file, as the
/// text of `fields`.
pub fn latest(
    bytes: Bytes,
    want: &Want,
    fields: &[&str],
) -> Result<(Option<(i64, Record)>, Groups), DecodeError> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes)?;
    let descr = builder.parquet_schema();
    let rgs = builder.metadata().row_groups();
    let keep: Vec<usize> = (0..rgs.len())
        .filter(|&i| match want {
            Want::Host { aid } => {
                leaf(descr, column::AID).is_none_or(|l| may_hold_text(&rgs[i], l, aid))
            }
            Want::User { .. } => true,
        })
        .collect();
    let groups = Groups {
        total: rgs.len() as u64,
        read: keep.len() as u64,
    };
    if keep.is_empty() {
        return Ok((None, groups));
    }
    let names = fields
        .iter()
        .chain(want.columns())
        .chain(&[column::TIME])
        .copied();
    let projection = ProjectionMask::columns(descr, names);
    let reader = builder
        .with_row_groups(keep)
        .with_projection(projection)
        .with_batch_size(BATCH_ROWS)
        .build()?;
    let mut best: Option<(i64, Record)> = None;
    for batch in reader {
        let batch = batch?;
        let time = Col::of(&batch, column::TIME)?;
        for i in 0..batch.num_rows() {
            if !want.matches(&batch, i)? {
                continue;
            }
            let t = time.ms(i).unwrap_or(i64::MIN);
            if best.as_ref().is_some_and(|(b, _)| *b >= t) {
                continue;
            }
            let mut record = Record::new();
            for f in fields {
                if let Some(v) = Col::of(&batch, f)?.text(i) {
                    record.insert((*f).to_owned(), v);
                }
            }
            best = Some((t, record));
        }
    }
    Ok((best, groups))
}

fn external(e: DecodeError) -> ArrowError {
    ArrowError::ExternalError(Box::new(e))
}

/// The leaf index of a top-level column.
fn leaf(descr: &SchemaDescriptor, name: &str) -> Option<usize> {
    descr
        .columns()
        .iter()
        .position(|c| c.path().parts() == [name])
}

/// Milliseconds per stored unit of a timestamp column: `Some(1)` for millis,
/// negative for finer units (divide), `None` when it is not a timestamp.
fn ms_scale(descr: &SchemaDescriptor, leaf: usize) -> Option<i64> {
    match descr.column(leaf).logical_type_ref() {
        Some(LogicalType::Timestamp(t)) => Some(match t.unit {
            ParquetUnit::MILLIS => 1,
            ParquetUnit::MICROS => -1_000,
            ParquetUnit::NANOS => -1_000_000,
        }),
        _ => None,
    }
}

/// False only when the statistics prove no row of the group equals `value`.
/// Truncated statistics stay safe: a truncated min is below, a truncated max
/// above, every real value.
fn may_hold_text(rg: &RowGroupMetaData, leaf: usize, value: &str) -> bool {
    let Some(stats) = rg.column(leaf).statistics() else {
        return true;
    };
    if stats.null_count_opt() == Some(rg.num_rows().max(0) as u64) && rg.num_rows() > 0 {
        return false;
    }
    let v = value.as_bytes();
    match (stats.min_bytes_opt(), stats.max_bytes_opt()) {
        (Some(min), Some(max)) if matches!(stats, Statistics::ByteArray(_)) => min <= v && v <= max,
        _ => true,
    }
}

/// False only when the statistics prove every row of the group lies outside `window`.
fn may_hold_time(rg: &RowGroupMetaData, leaf: usize, scale: i64, window: Window) -> bool {
    let Some(Statistics::Int64(s)) = rg.column(leaf).statistics() else {
        return true;
    };
    let to_ms = |v: i64| {
        if scale > 0 {
            v.saturating_mul(scale)
        } else {
            v.div_euclid(-scale)
        }
    };
    match (s.min_opt(), s.max_opt()) {
        (Some(min), Some(max)) => to_ms(*max) >= window.from_ms && to_ms(*min) <= window.to_ms,
        _ => true,
    }
}

/// One column of a batch, typed; a column the file lacks reads as NULL.
enum Col<'a> {
    Missing,
    Text(&'a arrow_array::StringArray),
    View(&'a arrow_array::StringViewArray),
    Int(&'a arrow_array::Int64Array),
    Time(&'a ArrayRef, TimeUnit),
    Decimal(&'a arrow_array::Decimal128Array),
}

impl<'a> Col<'a> {
    fn of(batch: &'a RecordBatch, name: &str) -> Result<Col<'a>, DecodeError> {
        let Some(a) = batch.column_by_name(name) else {
            return Ok(Col::Missing);
        };
        let bad = |expected| DecodeError::ColumnType {
            column: name.to_owned(),
            found: a.data_type().to_string(),
            expected,
        };
        Ok(match a.data_type() {
            DataType::Utf8 => Col::Text(a.as_string_opt::<i32>().ok_or_else(|| bad("string"))?),
            DataType::Utf8View => Col::View(a.as_string_view_opt().ok_or_else(|| bad("string"))?),
            DataType::Int64 => Col::Int(
                a.as_primitive_opt::<Int64Type>()
                    .ok_or_else(|| bad("bigint"))?,
            ),
            DataType::Timestamp(unit, _) => Col::Time(a, *unit),
            DataType::Decimal128(..) => Col::Decimal(
                a.as_primitive_opt::<Decimal128Type>()
                    .ok_or_else(|| bad("decimal"))?,
            ),
            _ => return Err(bad("string, bigint, decimal or timestamp")),
        })
    }

    fn str(&self, i: usize) -> Option<&'a str> {
        match self {
            Col::Text(a) if a.is_valid(i) => Some(a.value(i)),
            Col::View(a) if a.is_valid(i) => Some(a.value(i)),
            _ => None,
        }
    }

    fn int(&self, i: usize) -> Option<i64> {
        match self {
            Col::Int(a) if a.is_valid(i) => Some(a.value(i)),
            _ => None,
        }
    }

    /// A timestamp as epoch ms (a bigint column is taken as ms already).
    fn ms(&self, i: usize) -> Option<i64> {
        match self {
            Col::Int(a) if a.is_valid(i) => Some(a.value(i)),
            Col::Time(a, unit) if a.is_valid(i) => match unit {
                TimeUnit::Second => a
                    .as_primitive_opt::<TimestampSecondType>()
                    .map(|a| a.value(i).saturating_mul(1000)),
                TimeUnit::Millisecond => a
                    .as_primitive_opt::<TimestampMillisecondType>()
                    .map(|a| a.value(i)),
                TimeUnit::Microsecond => a
                    .as_primitive_opt::<TimestampMicrosecondType>()
                    .map(|a| a.value(i).div_euclid(1000)),
                TimeUnit::Nanosecond => a
                    .as_primitive_opt::<TimestampNanosecondType>()
                    .map(|a| a.value(i).div_euclid(1_000_000)),
            },
            _ => None,
        }
    }

    /// Any value as text; times as ISO-8601 UTC.
    fn text(&self, i: usize) -> Option<String> {
        match self {
            Col::Missing => None,
            Col::Text(_) | Col::View(_) => self.str(i).map(str::to_owned),
            Col::Int(a) => a.is_valid(i).then(|| a.value(i).to_string()),
            Col::Time(..) => self.ms(i).map(iso),
            Col::Decimal(a) => a.is_valid(i).then(|| a.value_as_string(i)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{StringArray, TimestampMillisecondArray};
    use arrow_schema::{Field, Schema};
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::WriterProperties;
    use std::sync::Arc;

    const T0: i64 = 1_773_480_000_000;

    /// An `events`-shaped file (a few columns only, as an older schema would
    /// have) sorted by aid, four rows per row group.
    fn file(aids: &[&str], per_aid: usize, time_step: i64) -> Bytes {
        let schema = Arc::new(Schema::new(vec![
            Field::new(
                "timestamp",
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                true,
            ),
            Field::new("event_simplename", DataType::Utf8, true),
            Field::new("aid", DataType::Utf8, true),
            Field::new("domain_name", DataType::Utf8, true),
        ]));
        let (mut ts, mut kind, mut aid, mut dom) = (vec![], vec![], vec![], vec![]);
        for a in aids {
            for i in 0..per_aid {
                ts.push(T0 + i as i64 * time_step);
                kind.push("DnsRequest");
                aid.push(*a);
                dom.push(format!("d{i}.example"));
            }
        }
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(TimestampMillisecondArray::from(ts).with_timezone("UTC")),
                Arc::new(StringArray::from(kind)),
                Arc::new(StringArray::from(aid)),
                Arc::new(StringArray::from(dom)),
            ],
        )
        .unwrap();
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(per_aid))
            .build();
        let mut out = Vec::new();
        let mut w = ArrowWriter::try_new(&mut out, schema, Some(props)).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        Bytes::from(out)
    }

    #[test]
    fn reads_only_the_row_groups_that_may_hold_the_host_and_time() {
        let aids = ["0a", "3b", "7c", "ff"];
        let bytes = file(&aids, 4, 60_000);
        let window = Window::around(T0 + 60_000, 60_000).unwrap();
        let (tally, groups) = events(bytes.clone(), "7c", window).unwrap();
        assert_eq!(groups, Groups { total: 4, read: 1 });
        let a = tally.into_activity(10);
        // Rows at T0, T0+1m, T0+2m are in the window; T0+3m is not.
        assert_eq!((a.events, a.dns.len()), (3, 3));
        // Out of the file's time range, or an aid between the groups' ranges: nothing read.
        let later = Window::around(T0 + 3_600_000, 60_000).unwrap();
        assert_eq!(events(bytes.clone(), "7c", later).unwrap().1.read, 0);
        assert_eq!(events(bytes.clone(), "5", window).unwrap().1.read, 0);
        // A column the file lacks (command_line, ...) reads as NULL.
        assert_eq!(
            events(bytes, "0a", window)
                .unwrap()
                .0
                .into_activity(1)
                .commands,
            []
        );
    }

    #[test]
    fn a_file_without_aid_is_an_error_not_a_panic() {
        assert!(matches!(
            events(
                Bytes::from_static(b"not parquet"),
                "0a",
                Window::around(T0, 1).unwrap()
            ),
            Err(DecodeError::Parquet(_))
        ));
    }

    #[test]
    fn the_newest_matching_row_wins() {
        let bytes = file(&["0a", "3b"], 3, 60_000);
        let (best, groups) = latest(
            bytes,
            &Want::Host { aid: "3b".into() },
            &["domain_name", "timestamp"],
        )
        .unwrap();
        assert_eq!(groups, Groups { total: 2, read: 1 });
        // No `time` column in this file: every row ties, the first is kept.
        let (_, record) = best.unwrap();
        assert_eq!(record["domain_name"], "d0.example");
        assert_eq!(record["timestamp"], "2026-03-14T09:20:00Z");
    }
}
