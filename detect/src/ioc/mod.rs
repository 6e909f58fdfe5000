//! Indicators of compromise: learned from feeds (CSV, lists, STIX 2.1, MISP,
//! TAXII 2.1), normalised, and looked for in FDR events, as they are
//! converted (the forwarder) and through the lake's history (`falconry hunt`).
//!
//! - `indicator.rs`: the types and the one normal form of each.
//! - `formats.rs`, `stix.rs`: documents → indicators (bad entries reported).
//! - `source.rs`: files, directories and S3 prefixes of documents.
//! - `taxii.rs`: a TAXII 2.1 collection, read page by page from a cursor.
//! - `set.rs`: the indicators indexed, and where each type is looked for.
//! - `live.rs`, `metrics.rs`: the indicators in force in a daemon.

pub mod formats;
pub mod indicator;
pub mod live;
pub mod metrics;
pub mod set;
pub mod source;
pub mod stix;
pub mod taxii;

pub use indicator::{Indicator, Kind};
pub use live::{IocSettings, LiveIndicators};
pub use metrics::HuntMetrics;
pub use set::{IndicatorSet, IocHit};
pub use source::IocSource;

#[cfg(test)]
mod tests;
