//! Building Arrow record batches of one table from parsed lines: each member
//! goes to its typed column when the table has one, and to the catch-all
//! columns unless the typed value gives it back exactly (see
//! `schema/columns.rs`). Values that do not fit their typed column are counted,
//! never dropped.
//!
//! Pure and synchronous; no I/O.

use super::record::{DUPLICATES, Record, is_string, string_value};
use crate::schema::columns::{self, Read, Value};
use crate::schema::{Kind, Table, TimeFormat};
use arrow_array::builder::{
    Decimal128Builder, Int64Builder, MapBuilder, StringBuilder, TimestampMillisecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::ArrowError;
use falconry_common::time;
use std::borrow::Cow;
use std::sync::Arc;

/// Upper bound on typed columns per table.
pub const MAX_TYPED: usize = 128;

enum ColBuilder {
    Text(StringBuilder),
    Int(Int64Builder),
    U64(Decimal128Builder),
    Ms(TimestampMillisecondBuilder),
}

impl ColBuilder {
    fn new(kind: Kind) -> Self {
        match kind {
            Kind::Text | Kind::Hash => ColBuilder::Text(StringBuilder::new()),
            Kind::Int => ColBuilder::Int(Int64Builder::new()),
            Kind::U64 => ColBuilder::U64(
                Decimal128Builder::new()
                    .with_precision_and_scale(20, 0)
                    .unwrap_or_else(|_| Decimal128Builder::new()),
            ),
            Kind::EpochMs | Kind::Time => {
                ColBuilder::Ms(TimestampMillisecondBuilder::new().with_timezone("UTC"))
            }
        }
    }

    fn append(&mut self, v: &Value<'_>) {
        match (self, v) {
            (ColBuilder::Text(b), Value::Text(s)) => b.append_value(s),
            (ColBuilder::Int(b), Value::Int(i)) => b.append_value(*i),
            (ColBuilder::U64(b), Value::U64(u)) => b.append_value(*u as i128),
            (ColBuilder::Ms(b), Value::Ms(ms)) => b.append_value(*ms),
            (b, _) => b.append_nulls(1),
        }
    }

    fn append_nulls(&mut self, n: usize) {
        match self {
            ColBuilder::Text(b) => b.append_nulls(n),
            ColBuilder::Int(b) => b.append_nulls(n),
            ColBuilder::U64(b) => b.append_nulls(n),
            ColBuilder::Ms(b) => b.append_nulls(n),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            ColBuilder::Text(b) => Arc::new(b.finish()),
            ColBuilder::Int(b) => Arc::new(b.finish()),
            ColBuilder::U64(b) => Arc::new(b.finish()),
            ColBuilder::Ms(b) => Arc::new(b.finish()),
        }
    }
}

pub struct TableBuilder {
    table: &'static Table,
    cols: Vec<ColBuilder>,
    /// Rows each typed column holds so far; the NULLs of absent members are
    /// appended in bulk when the next value comes (most columns are sparse).
    filled: Vec<usize>,
    fields: MapBuilder<StringBuilder, StringBuilder>,
    fields_json: StringBuilder,
    json_buf: String,
    rows: usize,
    approx_bytes: usize,
    /// Values that did not fit their typed column (kept in the catch-all).
    pub misfits: u64,
}

impl TableBuilder {
    pub fn new(table: &'static Table) -> Self {
        assert!(
            table.columns.len() <= MAX_TYPED,
            "table {} has too many typed columns",
            table.table
        );
        TableBuilder {
            table,
            cols: table
                .columns
                .iter()
                .map(|c| ColBuilder::new(c.kind))
                .collect(),
            filled: vec![0; table.columns.len()],
            fields: MapBuilder::new(None, StringBuilder::new(), StringBuilder::new()),
            fields_json: StringBuilder::new(),
            json_buf: String::new(),
            rows: 0,
            approx_bytes: 0,
            misfits: 0,
        }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Bytes of line text appended since the last [`TableBuilder::finish`].
    pub fn approx_bytes(&self) -> usize {
        self.approx_bytes
    }

    /// Appends one line (of `line_len` bytes).
    pub fn append(&mut self, record: &Record<'_>, line_len: usize) {
        self.json_buf.clear();
        for (key, raw) in &record.fields {
            // A string whose escapes do not decode (a lone surrogate) is kept as raw JSON.
            let decoded = if is_string(raw) {
                string_value(raw)
            } else {
                None
            };
            let string = decoded.is_some();
            let text = decoded.unwrap_or(Cow::Borrowed(raw.get()));
            if let Some(ci) = self.table.column_of(key) {
                match columns::read(self.table.columns[ci].kind, text.clone(), string) {
                    Read::Value { value, exact } => {
                        // Each column appears once per line (the parser drops
                        // duplicate keys): catch up its NULLs, then the value.
                        let b = &mut self.cols[ci];
                        let gap = self.rows - self.filled[ci];
                        if gap > 0 {
                            b.append_nulls(gap);
                        }
                        b.append(&value);
                        self.filled[ci] = self.rows + 1;
                        if exact {
                            continue;
                        }
                    }
                    Read::Null => {}
                    Read::Misfit => self.misfits += 1,
                }
            }
            if string {
                self.fields.keys().append_value(key);
                self.fields.values().append_value(text);
            } else {
                self.json_buf
                    .push(if self.json_buf.is_empty() { '{' } else { ',' });
                push_json_string(&mut self.json_buf, key);
                self.json_buf.push(':');
                self.json_buf.push_str(raw.get());
            }
        }
        if let Some(displaced) = record.displaced_json() {
            self.json_buf
                .push(if self.json_buf.is_empty() { '{' } else { ',' });
            push_json_string(&mut self.json_buf, DUPLICATES);
            self.json_buf.push(':');
            self.json_buf.push_str(&displaced);
        }
        // An empty map is still a map (the line had only typed members).
        let _ = self.fields.append(true);
        if self.json_buf.is_empty() {
            self.fields_json.append_null();
        } else {
            self.json_buf.push('}');
            self.fields_json.append_value(&self.json_buf);
        }
        self.rows += 1;
        self.approx_bytes += line_len;
    }

    /// The rows appended so far as one batch; the builder starts empty again.
    pub fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let rows = self.rows;
        let mut arrays: Vec<ArrayRef> = self
            .cols
            .iter_mut()
            .zip(self.filled.iter_mut())
            .map(|(b, filled)| {
                b.append_nulls(rows - *filled);
                *filled = 0;
                b.finish()
            })
            .collect();
        arrays.push(Arc::new(self.fields.finish()));
        arrays.push(Arc::new(self.fields_json.finish()));
        self.rows = 0;
        self.approx_bytes = 0;
        RecordBatch::try_new(self.table.arrow.clone(), arrays)
    }
}

/// The partition time of a line (epoch ms), from the table's time sources.
pub fn row_time(table: &Table, record: &Record<'_>) -> Option<i64> {
    for (source, format) in table.time_sources {
        let Some((_, raw)) = record.fields.iter().find(|(k, _)| k == source) else {
            continue;
        };
        let parsed = match (format, string_value(raw)) {
            (TimeFormat::EpochMsOrIso, Some(s)) => time::epoch_ms(&s).or_else(|| time::iso_ms(&s)),
            (TimeFormat::EpochMsOrIso, None) => raw.get().parse::<i64>().ok(),
            (TimeFormat::EpochSeconds, Some(s)) => time::epoch_seconds_ms(&s),
            (TimeFormat::EpochSeconds, None) => time::epoch_seconds_ms(raw.get()),
        };
        if parsed.is_some() {
            return parsed;
        }
    }
    None
}

fn push_json_string(out: &mut String, s: &str) {
    // serde_json escapes exactly as a JSON writer must; keys are short.
    match serde_json::to_string(s) {
        Ok(q) => out.push_str(&q),
        Err(_) => out.push_str("\"\""),
    }
}

#[cfg(test)]
mod tests {
    use super::super::record::parse;
    use super::*;
    use crate::schema;
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Decimal128Type, Int64Type, TimestampMillisecondType};

    #[test]
    fn typed_columns_and_catch_all() {
        let t = schema::table("events");
        let mut b = TableBuilder::new(t);
        let l1 = br#"{"event_simpleName":"ProcessRollup2","timestamp":"1625677521162","aid":"ab","CommandLine":"cmd \"x\"","RawProcessId":"18446744072636268557","RemotePort":"0443","SHA1HashData":"0000000000000000000000000000000000000000","Attacks":[1,2],"Big":18446744073709551557,"Unknown":"u"}"#;
        let l2 = br#"{"timestamp":"2024-08-01T11:31:27.123Z","event_simpleName":7,"aid":"","ContextTimeStamp":"1625677521.137","LocalPort":"N/A","ProcessStartTime":"132701511211370000"}"#;
        b.append(&parse(l1).unwrap(), l1.len());
        b.append(&parse(l2).unwrap(), l2.len());
        assert_eq!(b.misfits, 1, "event_simpleName as a number");
        let batch = b.finish().unwrap();
        assert_eq!(batch.num_rows(), 2);
        let col = |n: &str| batch.column_by_name(n).unwrap().clone();
        let ts = col("timestamp");
        let ts = ts.as_primitive::<TimestampMillisecondType>();
        assert_eq!((ts.value(0), ts.value(1)), (1625677521162, 1722511887123));
        assert_eq!(
            col("raw_process_id")
                .as_primitive::<Decimal128Type>()
                .value(0),
            18446744072636268557i128
        );
        assert_eq!(col("remote_port").as_primitive::<Int64Type>().value(0), 443);
        assert!(col("sha1_hash_data").is_null(0), "all-zero hash is NULL");
        assert!(col("aid").is_null(1), "placeholder is NULL");
        assert!(col("local_port").is_null(1));
        assert_eq!(
            col("context_timestamp")
                .as_primitive::<TimestampMillisecondType>()
                .value(1),
            1625677521137
        );
        assert_eq!(
            col("process_start_time")
                .as_primitive::<TimestampMillisecondType>()
                .value(1),
            1625677521137
        );
        let json = col("fields_json");
        let json = json.as_string::<i32>();
        assert_eq!(
            json.value(0),
            r#"{"Attacks":[1,2],"Big":18446744073709551557}"#
        );
        assert_eq!(json.value(1), r#"{"event_simpleName":7}"#);
        let map = col("fields");
        let map = map.as_map();
        let keys_of = |i: usize| -> Vec<String> {
            let e = map.value(i);
            let k = e.column(0).as_string::<i32>();
            (0..k.len()).map(|j| k.value(j).to_owned()).collect()
        };
        // Not exact: the zero-padded port, the zero hash; and the unknown member.
        assert_eq!(keys_of(0), vec!["RemotePort", "SHA1HashData", "Unknown"]);
        // The ISO timestamp, the placeholders and the FILETIME are kept as written;
        // ContextTimeStamp in its canonical form is not.
        assert_eq!(
            keys_of(1),
            vec!["timestamp", "aid", "LocalPort", "ProcessStartTime"]
        );
    }

    #[test]
    fn strings_that_do_not_decode_are_kept_as_raw_json() {
        use super::super::roundtrip::{line_members, row_members};
        let t = schema::table("events");
        let line = br#"{"CommandLine":"lone \ud800 surrogate","x":"\ud800"}"#;
        let rec = parse(line).expect("serde_json accepts a lone surrogate in a raw value");
        let mut b = TableBuilder::new(t);
        b.append(&rec, line.len());
        let batch = b.finish().unwrap();
        assert_eq!(
            row_members(t, &batch, 0).unwrap(),
            line_members(line).unwrap()
        );
    }

    #[test]
    fn row_time_falls_back_through_sources() {
        assert_eq!(
            row_time(
                schema::table("aidmaster"),
                &parse(br#"{"Time":"1697992784.144"}"#).unwrap()
            ),
            None
        );
        let t = schema::table("events");
        let r = parse(br#"{"timestamp":"garbage","ContextTimeStamp":"1702546168.576"}"#).unwrap();
        assert_eq!(row_time(t, &r), Some(1702546168576));
        assert_eq!(row_time(t, &parse(br#"{"x":"1"}"#).unwrap()), None);
    }
}
