//! The compiled form of a table definition: its Arrow schema and a fast
//! member → column lookup, built once per process.

use super::columns::Kind;
use super::tables::{FIELDS, FIELDS_JSON, TableSchema, definitions};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use std::sync::{Arc, OnceLock};

/// The Parquet column of the `fields` map's keys or values
/// (`fields.entries.key`, `fields.entries.value`).
pub fn fields_column(leaf: &str) -> parquet::schema::types::ColumnPath {
    parquet::schema::types::ColumnPath::new(vec![FIELDS.into(), ENTRIES.into(), leaf.into()])
}

/// A table ready for conversion.
#[derive(Debug)]
pub struct Table {
    pub def: TableSchema,
    pub arrow: SchemaRef,
    by_source: rustc_hash::FxHashMap<&'static str, usize>,
}

impl Table {
    /// The typed column fed by member `key`, if any.
    #[inline]
    pub fn column_of(&self, key: &str) -> Option<usize> {
        self.by_source.get(key).copied()
    }
}

impl std::ops::Deref for Table {
    type Target = TableSchema;
    fn deref(&self) -> &TableSchema {
        &self.def
    }
}

pub(super) fn all() -> &'static [Table] {
    static TABLES: OnceLock<Vec<Table>> = OnceLock::new();
    TABLES.get_or_init(|| definitions().into_iter().map(compile).collect())
}

/// The table `name`; unknown names get `lookup_other` (lossless all the same).
pub fn table(name: &str) -> &'static Table {
    let all = all();
    all.iter()
        .find(|t| t.def.table == name)
        .or_else(|| all.iter().find(|t| t.def.table == "lookup_other"))
        .unwrap_or(&all[0])
}

/// The Arrow type of a column kind.
pub fn data_type(kind: Kind) -> DataType {
    match kind {
        Kind::Text | Kind::Hash => DataType::Utf8,
        Kind::Int => DataType::Int64,
        Kind::U64 => DataType::Decimal128(20, 0),
        Kind::EpochMs | Kind::Time => {
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
        }
    }
}

/// The `fields` map's entry struct and its two members, as Arrow's
/// MapBuilder names them.
const ENTRIES: &str = "entries";
pub const FIELDS_KEY: &str = "key";
pub const FIELDS_VALUE: &str = "value";

/// `fields`: map<string,string>, laid out as Arrow's MapBuilder writes it.
pub fn map_field() -> Field {
    let entries = Field::new(
        ENTRIES,
        DataType::Struct(Fields::from(vec![
            Field::new(FIELDS_KEY, DataType::Utf8, false),
            Field::new(FIELDS_VALUE, DataType::Utf8, true),
        ])),
        false,
    );
    Field::new(FIELDS, DataType::Map(Arc::new(entries), false), true)
}

fn compile(def: TableSchema) -> Table {
    let mut fields: Vec<Field> = def
        .columns
        .iter()
        .map(|c| Field::new(c.name, data_type(c.kind), true))
        .collect();
    fields.push(map_field());
    fields.push(Field::new(FIELDS_JSON, DataType::Utf8, true));
    let by_source = def
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| (c.source, i))
        .collect();
    Table {
        arrow: Arc::new(Schema::new(fields)),
        by_source,
        def,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_well_formed() {
        for t in all() {
            let mut names: Vec<_> = t.columns.iter().map(|c| c.name).collect();
            names.push(FIELDS);
            names.push(FIELDS_JSON);
            let n = names.len();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), n, "{}: duplicate column names", t.table);
            let mut sources: Vec<_> = t.columns.iter().map(|c| c.source).collect();
            sources.sort();
            sources.dedup();
            assert_eq!(
                sources.len(),
                t.columns.len(),
                "{}: a member feeds two columns",
                t.table
            );
            for s in t.sort_by {
                assert!(
                    t.columns.iter().any(|c| c.name == *s),
                    "{}: sort column {s} missing",
                    t.table
                );
            }
            for c in &t.columns {
                assert!(
                    c.name
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                    "{}",
                    c.name
                );
                assert!(!c.doc.is_empty());
            }
            assert!(t.columns.len() <= crate::convert::MAX_TYPED);
        }
        assert_eq!(table("events").column_of("event_simpleName"), Some(1));
        assert_eq!(
            table("events")
                .arrow
                .field_with_name("target_process_id")
                .unwrap()
                .data_type(),
            &DataType::Decimal128(20, 0)
        );
        assert_eq!(table("no-such").table, "lookup_other");
    }
}
