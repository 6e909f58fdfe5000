//! The schema definition: tables, typed columns and their kinds, and what is
//! derived from them (the Arrow/Parquet schema, the Athena DDL, the Glue
//! tables of the CloudFormation template, the column documentation). Nothing
//! here is written twice by hand.

mod arrow;
pub mod athena;
pub mod columns;
pub mod docs;
pub mod glue;
mod tables;

pub use arrow::{FIELDS_KEY, FIELDS_VALUE, Table, fields_column, table};
pub use columns::Kind;
pub use tables::{Column, FIELDS, FIELDS_JSON, SCHEMA_VERSION, TableSchema, TimeFormat};

/// Every table name, in a stable order.
pub fn table_names() -> Vec<&'static str> {
    arrow::all().iter().map(|t| t.def.table).collect()
}
