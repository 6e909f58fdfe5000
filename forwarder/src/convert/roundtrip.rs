//! Reading converted rows back into the members of the original line: the
//! proof that the conversion is lossless, and the basis of any export. A typed
//! column gives its member back only when the catch-all columns do not hold
//! that member (see `schema.rs`).
//!
//! Pure over Arrow arrays.

use super::record::{self, is_string};
use super::schema::{ColumnKind, FIELDS, FIELDS_JSON, TableSchema};
use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMillisecondType;
use arrow_array::{Array, RecordBatch};
use std::collections::BTreeMap;

/// One member's value: a string's content, or the exact JSON text of anything else.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Member {
    Str(String),
    Json(String),
}

/// The members of one line, by key.
pub type Members = BTreeMap<String, Member>;

/// The members of an original line, for comparison with [`row_members`].
pub fn line_members(line: &[u8]) -> Result<Members, String> {
    let rec = record::parse(line)?;
    Ok(rec
        .fields
        .iter()
        .map(|(k, v)| {
            let m = if is_string(v) {
                Member::Str(
                    record::string_value(v)
                        .map(|s| s.into_owned())
                        .unwrap_or_default(),
                )
            } else {
                Member::Json(v.get().to_owned())
            };
            (k.to_string(), m)
        })
        .collect())
}

/// The members of row `i` of a converted batch.
pub fn row_members(schema: &TableSchema, batch: &RecordBatch, i: usize) -> Result<Members, String> {
    let mut out = Members::new();
    if let Some(col) = batch.column_by_name(FIELDS) {
        let map = col.as_map_opt().ok_or("fields is not a map")?;
        if map.is_valid(i) {
            let entries = map.value(i);
            let keys = entries
                .column(0)
                .as_string_opt::<i32>()
                .ok_or("fields keys are not strings")?;
            let vals = entries
                .column(1)
                .as_string_opt::<i32>()
                .ok_or("fields values are not strings")?;
            for j in 0..keys.len() {
                out.insert(
                    keys.value(j).to_owned(),
                    Member::Str(vals.value(j).to_owned()),
                );
            }
        }
    }
    if let Some(col) = batch.column_by_name(FIELDS_JSON) {
        let s = col
            .as_string_opt::<i32>()
            .ok_or("fields_json is not a string")?;
        if s.is_valid(i) {
            let rec = record::parse(s.value(i).as_bytes())?;
            for (k, v) in &rec.fields {
                out.insert(k.to_string(), Member::Json(v.get().to_owned()));
            }
        }
    }
    for c in schema.columns {
        if out.contains_key(c.source) {
            continue;
        }
        let Some(col) = batch.column_by_name(c.name) else {
            continue;
        };
        if !col.is_valid(i) {
            continue;
        }
        let value = match c.kind {
            ColumnKind::Text => col
                .as_string_opt::<i32>()
                .ok_or("text column")?
                .value(i)
                .to_owned(),
            ColumnKind::TimestampMs => col
                .as_primitive_opt::<TimestampMillisecondType>()
                .ok_or("timestamp column")?
                .value(i)
                .to_string(),
        };
        out.insert(c.source.to_owned(), Member::Str(value));
    }
    Ok(out)
}
