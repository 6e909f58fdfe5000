//! Building Arrow record batches of one table from parsed lines: each member
//! goes to its typed column when the schema has one, and to the catch-all
//! columns unless the typed value gives back the original exactly (see
//! `schema.rs` for the rule). Values that do not fit their typed column are
//! counted, never dropped.
//!
//! Pure and synchronous; no I/O.

use super::record::{Record, is_string, string_value};
use super::schema::{ColumnKind, TableSchema, TimeFormat};
use super::values;
use arrow_array::builder::{MapBuilder, StringBuilder, TimestampMillisecondBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, SchemaRef};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::sync::Arc;

/// Upper bound on typed columns per table (a stack array per row).
pub const MAX_TYPED: usize = 128;

enum ColBuilder {
    Text(StringBuilder),
    Ts(TimestampMillisecondBuilder),
}

#[derive(Clone)]
enum Typed<'a> {
    Null,
    Text(Cow<'a, str>),
    Ms(i64),
}

pub struct TableBuilder {
    schema: &'static TableSchema,
    arrow: SchemaRef,
    cols: Vec<ColBuilder>,
    fields: MapBuilder<StringBuilder, StringBuilder>,
    fields_json: StringBuilder,
    json_buf: String,
    rows: usize,
    approx_bytes: usize,
    /// Values that did not fit their typed column (kept in the catch-all).
    pub misfits: u64,
}

impl TableBuilder {
    pub fn new(schema: &'static TableSchema) -> Self {
        assert!(
            schema.columns.len() <= MAX_TYPED,
            "schema {} has too many typed columns",
            schema.table
        );
        let cols = schema
            .columns
            .iter()
            .map(|c| match c.kind {
                ColumnKind::Text => ColBuilder::Text(StringBuilder::new()),
                ColumnKind::TimestampMs => {
                    ColBuilder::Ts(TimestampMillisecondBuilder::new().with_timezone("UTC"))
                }
            })
            .collect();
        TableBuilder {
            schema,
            arrow: schema.arrow(),
            cols,
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
        let n = self.schema.columns.len();
        let mut typed: [Typed<'_>; MAX_TYPED] = std::array::from_fn(|_| Typed::Null);
        self.json_buf.clear();
        for (key, raw) in &record.fields {
            if let Some(ci) = self.schema.column_of(key) {
                let (value, exact) = typed_value(self.schema.columns[ci].kind, raw);
                match value {
                    Some(v) => typed[ci] = v,
                    None => self.misfits += 1,
                }
                if exact {
                    continue;
                }
            }
            if is_string(raw) {
                let s = string_value(raw).unwrap_or(Cow::Borrowed(""));
                self.fields.keys().append_value(key);
                self.fields.values().append_value(s);
            } else {
                self.json_buf
                    .push(if self.json_buf.is_empty() { '{' } else { ',' });
                push_json_string(&mut self.json_buf, key);
                self.json_buf.push(':');
                self.json_buf.push_str(raw.get());
            }
        }
        for (ci, v) in typed.iter().take(n).enumerate() {
            match (&mut self.cols[ci], v) {
                (ColBuilder::Text(b), Typed::Text(s)) => b.append_value(s),
                (ColBuilder::Ts(b), Typed::Ms(ms)) => b.append_value(*ms),
                (ColBuilder::Text(b), _) => b.append_null(),
                (ColBuilder::Ts(b), _) => b.append_null(),
            }
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
        let mut arrays: Vec<ArrayRef> = self
            .cols
            .iter_mut()
            .map(|c| match c {
                ColBuilder::Text(b) => Arc::new(b.finish()) as ArrayRef,
                ColBuilder::Ts(b) => Arc::new(b.finish()) as ArrayRef,
            })
            .collect();
        arrays.push(Arc::new(self.fields.finish()));
        arrays.push(Arc::new(self.fields_json.finish()));
        self.rows = 0;
        self.approx_bytes = 0;
        RecordBatch::try_new(self.arrow.clone(), arrays)
    }
}

/// The typed value of a member, and whether it gives back the original exactly.
fn typed_value<'a>(kind: ColumnKind, raw: &'a RawValue) -> (Option<Typed<'a>>, bool) {
    match kind {
        ColumnKind::Text => match string_value(raw) {
            Some(s) => (Some(Typed::Text(s)), true),
            None => (None, false),
        },
        ColumnKind::TimestampMs => match string_value(raw) {
            Some(s) => {
                if let Some(ms) = values::epoch_ms_digits(&s) {
                    (Some(Typed::Ms(ms)), values::is_canonical_integer(&s, ms))
                } else {
                    (values::iso_ms(&s).map(Typed::Ms), false)
                }
            }
            // A bare number: parsed, but kept in fields_json as written.
            None => (raw.get().parse::<i64>().ok().map(Typed::Ms), false),
        },
    }
}

/// The partition time of a line (epoch ms), from the schema's time sources.
pub fn row_time(schema: &TableSchema, record: &Record<'_>) -> Option<i64> {
    for (source, format) in schema.time_sources {
        let Some((_, raw)) = record.fields.iter().find(|(k, _)| k == source) else {
            continue;
        };
        let parsed = match (format, string_value(raw)) {
            (TimeFormat::EpochMsOrIso, Some(s)) => {
                values::epoch_ms_digits(&s).or_else(|| values::iso_ms(&s))
            }
            (TimeFormat::EpochMsOrIso, None) => raw.get().parse::<i64>().ok(),
            (TimeFormat::EpochSeconds, Some(s)) => values::epoch_seconds_ms(&s),
            (TimeFormat::EpochSeconds, None) => values::epoch_seconds_ms(raw.get()),
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
    use super::super::schema;
    use super::*;
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::TimestampMillisecondType;

    #[test]
    fn typed_columns_and_catch_all() {
        let s = schema::table("events");
        let mut b = TableBuilder::new(s);
        let l1 = br#"{"event_simpleName":"ProcessRollup2","timestamp":"1625677521162","aid":"ab","CommandLine":"cmd \"x\"","RawProcessId":"18446744072636268557","Attacks":[1,2],"Big":18446744073709551557}"#;
        let l2 = br#"{"timestamp":"2024-08-01T11:31:27.123Z","event_simpleName":7,"aid":""}"#;
        b.append(&parse(l1).unwrap(), l1.len());
        b.append(&parse(l2).unwrap(), l2.len());
        assert_eq!(b.misfits, 1);
        let batch = b.finish().unwrap();
        assert_eq!(batch.num_rows(), 2);
        let ts = batch
            .column_by_name("timestamp")
            .unwrap()
            .as_primitive::<TimestampMillisecondType>();
        assert_eq!(ts.value(0), 1625677521162);
        assert_eq!(ts.value(1), 1722511887123);
        let name = batch
            .column_by_name("event_simplename")
            .unwrap()
            .as_string::<i32>();
        assert_eq!(name.value(0), "ProcessRollup2");
        assert!(name.is_null(1));
        let json = batch
            .column_by_name("fields_json")
            .unwrap()
            .as_string::<i32>();
        assert_eq!(
            json.value(0),
            r#"{"Attacks":[1,2],"Big":18446744073709551557}"#
        );
        assert_eq!(json.value(1), r#"{"event_simpleName":7}"#);
        let map = batch.column_by_name("fields").unwrap().as_map();
        let row0 = map.value(0);
        let keys = row0.column(0).as_string::<i32>();
        let vals = row0.column(1).as_string::<i32>();
        let got: Vec<(&str, &str)> = (0..keys.len())
            .map(|i| (keys.value(i), vals.value(i)))
            .collect();
        assert_eq!(
            got,
            vec![
                ("CommandLine", "cmd \"x\""),
                ("RawProcessId", "18446744072636268557")
            ]
        );
        // The ISO timestamp does not round-trip through epoch ms: kept as text.
        let row1 = map.value(1);
        let keys1 = row1.column(0).as_string::<i32>();
        assert_eq!(keys1.value(0), "timestamp");
    }

    #[test]
    fn row_time_falls_back_through_sources() {
        let s = schema::table("aidmaster");
        let r = parse(br#"{"Time":"1697992784.144","aid":"x"}"#).unwrap();
        assert_eq!(row_time(s, &r), Some(1697992784144));
        let r = parse(br#"{"timestamp":"garbage","_time":"1702546168.576"}"#).unwrap();
        assert_eq!(row_time(s, &r), Some(1702546168576));
        let r = parse(br#"{"x":"1"}"#).unwrap();
        assert_eq!(row_time(s, &r), None);
    }
}
