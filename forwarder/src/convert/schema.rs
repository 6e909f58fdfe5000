//! The schema definition: the one place that says which typed columns each
//! table has, where each column's value comes from, and how the rest of a line
//! is kept. The converter's Arrow/Parquet schema is derived from it; the Athena
//! DDL and documentation are to be derived from it too, never written by hand.
//!
//! Every table has the same two catch-all columns, which together with the
//! typed columns make each line recoverable exactly:
//! - `fields` (`map<string,string>`): every member whose value is a JSON
//!   string and that no typed column reproduces exactly;
//! - `fields_json` (`string`, a JSON object): every member whose value is not a
//!   string (numbers with their exact text, booleans, arrays, objects, null).
//!
//! A member leaves the catch-all only when its typed column gives back the very
//! same JSON value; otherwise it stays there (and the typed column may still
//! hold a parsed form, or NULL).

use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use std::sync::{Arc, OnceLock};

/// Bumped whenever a column is added or its meaning changes; written into each
/// Parquet file's key-value metadata as `falconry.schema_version`.
pub const SCHEMA_VERSION: u32 = 1;

pub const FIELDS: &str = "fields";
pub const FIELDS_JSON: &str = "fields_json";

/// How a typed column reads its source member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// A JSON string, stored as is.
    Text,
    /// Epoch milliseconds (a string of digits, or a number) or ISO-8601 → UTC `timestamp(ms)`.
    TimestampMs,
}

#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// Column name (lower case, Athena-friendly).
    pub name: &'static str,
    /// The member of the JSON line it comes from.
    pub source: &'static str,
    pub kind: ColumnKind,
    pub doc: &'static str,
}

/// How a member that gives a row's time for partitioning is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeFormat {
    /// Epoch ms string/number, or ISO-8601.
    EpochMsOrIso,
    /// Epoch seconds with an optional fraction, e.g. `"1697992784.144"`.
    EpochSeconds,
}

#[derive(Debug)]
pub struct TableSchema {
    pub table: &'static str,
    pub columns: &'static [Column],
    /// Members tried in order for the row's partition time.
    pub time_sources: &'static [(&'static str, TimeFormat)],
}

const COMMON: &[Column] = &[
    Column {
        name: "timestamp",
        source: "timestamp",
        kind: ColumnKind::TimestampMs,
        doc: "When the sensor or service recorded the event (UTC).",
    },
    Column {
        name: "event_simplename",
        source: "event_simpleName",
        kind: ColumnKind::Text,
        doc: "Event type, e.g. ProcessRollup2, DnsRequest.",
    },
    Column {
        name: "event_platform",
        source: "event_platform",
        kind: ColumnKind::Text,
        doc: "Sensor platform: Win, Mac, Lin, ...",
    },
    Column {
        name: "aid",
        source: "aid",
        kind: ColumnKind::Text,
        doc: "Agent (host) id, 32 hex.",
    },
    Column {
        name: "aip",
        source: "aip",
        kind: ColumnKind::Text,
        doc: "Host's external IP as seen by the cloud.",
    },
    Column {
        name: "cid",
        source: "cid",
        kind: ColumnKind::Text,
        doc: "Customer id, 32 hex.",
    },
];

const TIME_SOURCES: &[(&str, TimeFormat)] = &[
    ("timestamp", TimeFormat::EpochMsOrIso),
    ("_time", TimeFormat::EpochSeconds),
    ("Time", TimeFormat::EpochSeconds),
    ("ContextTimeStamp", TimeFormat::EpochSeconds),
];

/// Every table the forwarder writes, in a stable order.
pub const TABLES: &[&str] = &[
    "events",
    "aidmaster",
    "managedassets",
    "notmanaged",
    "appinfo",
    "userinfo",
    "lookup_other",
];

/// The schema of `table`. All tables currently share the common columns.
pub fn table(name: &str) -> &'static TableSchema {
    static SCHEMAS: OnceLock<Vec<TableSchema>> = OnceLock::new();
    let all = SCHEMAS.get_or_init(|| {
        TABLES
            .iter()
            .map(|t| TableSchema {
                table: t,
                columns: COMMON,
                time_sources: TIME_SOURCES,
            })
            .collect()
    });
    all.iter().find(|s| s.table == name).unwrap_or(&all[0])
}

impl TableSchema {
    /// The typed column fed by member `key`, if any.
    pub fn column_of(&self, key: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.source == key)
    }

    /// The Arrow schema the converter writes.
    pub fn arrow(&self) -> SchemaRef {
        let mut fields: Vec<Field> = self
            .columns
            .iter()
            .map(|c| {
                let ty = match c.kind {
                    ColumnKind::Text => DataType::Utf8,
                    ColumnKind::TimestampMs => {
                        DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
                    }
                };
                Field::new(c.name, ty, true)
            })
            .collect();
        fields.push(map_field());
        fields.push(Field::new(FIELDS_JSON, DataType::Utf8, true));
        Arc::new(Schema::new(fields))
    }
}

/// `fields`: map<string,string>, laid out as Arrow's MapBuilder writes it.
pub fn map_field() -> Field {
    let entries = Field::new(
        "entries",
        DataType::Struct(Fields::from(vec![
            Field::new("key", DataType::Utf8, false),
            Field::new("value", DataType::Utf8, true),
        ])),
        false,
    );
    Field::new(FIELDS, DataType::Map(Arc::new(entries), false), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_has_typed_and_catch_all_columns() {
        for t in TABLES {
            let s = table(t);
            assert_eq!(s.table, *t);
            let a = s.arrow();
            assert_eq!(
                a.field_with_name("timestamp").unwrap().data_type(),
                &DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
            );
            assert!(a.field_with_name(FIELDS).is_ok());
            assert!(a.field_with_name(FIELDS_JSON).is_ok());
            // Column names are unique and sources map to one column each.
            let mut names: Vec<_> = s.columns.iter().map(|c| c.name).collect();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), s.columns.len());
        }
        assert_eq!(table("events").column_of("event_simpleName"), Some(1));
        assert_eq!(table("events").column_of("CommandLine"), None);
    }
}
