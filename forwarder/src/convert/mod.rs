//! FDR lines → typed, lossless Parquet: line splitting, parsing, Arrow
//! building, sorted and partitioned Parquet files, and the read-back that
//! proves nothing was lost. The schema itself is in `crate::schema`.
//! Everything here is synchronous and pure but for local temporary files.

mod converter;
mod findings;
mod lines;
mod part_files;
mod quarantine;
pub mod record;
pub mod roundtrip;
mod run;
mod table_builder;

pub use converter::{ConvertError, ConvertOptions, Converted, DEFAULT_ZSTD_LEVEL, Stage, convert};
pub use findings::{Detect, Findings, Tally};
pub use part_files::PartFile;
pub use quarantine::{QUARANTINE_BUDGET, Quarantine};
pub use table_builder::MAX_TYPED;
