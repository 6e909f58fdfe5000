//! Reading converted rows back into the members of the original line: the
//! proof that the conversion is lossless, and the basis of any export. A typed
//! column gives its member back (as its canonical text) only when the
//! catch-all columns do not hold that member. Earlier values of duplicated
//! keys come back as the `falconry:duplicates` member (see `record::DUPLICATES`).
//!
//! Pure over Arrow arrays.

use super::record::{self, is_string};
use crate::schema::columns::{Value, canonical};
use crate::schema::{FIELDS, FIELDS_JSON, Kind, Table};
use arrow_array::cast::AsArray;
use arrow_array::types::{Decimal128Type, Int64Type, TimestampMillisecondType};
use arrow_array::{Array, RecordBatch};
use std::borrow::Cow;
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
    let mut members: Members = rec
        .fields
        .iter()
        .map(|(k, v)| {
            let m = match record::string_value(v) {
                Some(s) if is_string(v) => Member::Str(s.into_owned()),
                _ => Member::Json(v.get().to_owned()),
            };
            (k.to_string(), m)
        })
        .collect();
    if let Some(displaced) = rec.displaced_json() {
        members.insert(record::DUPLICATES.to_owned(), Member::Json(displaced));
    }
    Ok(members)
}

/// The members of row `i` of a converted batch.
pub fn row_members(table: &Table, batch: &RecordBatch, i: usize) -> Result<Members, String> {
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
            // The duplicates member parses as displaced: it is read back as itself.
            for (k, v) in rec.fields.iter().chain(&rec.displaced) {
                out.insert(k.to_string(), Member::Json(v.get().to_owned()));
            }
        }
    }
    for c in &table.columns {
        if out.contains_key(c.source) {
            continue;
        }
        let Some(col) = batch.column_by_name(c.name) else {
            continue;
        };
        if !col.is_valid(i) {
            continue;
        }
        let bad = || {
            format!(
                "column {} does not have the type of a {:?} column",
                c.name, c.kind
            )
        };
        let value = match c.kind {
            Kind::Text | Kind::Hash => Value::Text(Cow::Borrowed(
                col.as_string_opt::<i32>().ok_or_else(bad)?.value(i),
            )),
            Kind::Int => Value::Int(
                col.as_primitive_opt::<Int64Type>()
                    .ok_or_else(bad)?
                    .value(i),
            ),
            Kind::U64 => {
                let d = col
                    .as_primitive_opt::<Decimal128Type>()
                    .ok_or_else(bad)?
                    .value(i);
                Value::U64(u64::try_from(d).map_err(|_| format!("{}: {d} is not a u64", c.name))?)
            }
            Kind::EpochMs | Kind::Time => Value::Ms(
                col.as_primitive_opt::<TimestampMillisecondType>()
                    .ok_or_else(bad)?
                    .value(i),
            ),
        };
        out.insert(c.source.to_owned(), Member::Str(canonical(&value, c.kind)));
    }
    Ok(out)
}
