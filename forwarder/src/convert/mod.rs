//! FDR lines → typed, lossless Parquet: line splitting, parsing, the schema
//! definition, Arrow building, partitioned Parquet files, and the read-back
//! that proves nothing was lost. Everything here is synchronous and pure but
//! for local temporary files.

mod converter;
mod lines;
mod part_files;
pub mod record;
pub mod roundtrip;
pub mod schema;
mod table_builder;
mod values;

pub use converter::{ConvertError, ConvertOptions, Converted, Quarantine, convert};
pub use part_files::PartFile;
