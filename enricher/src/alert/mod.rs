//! A detection event becomes an [`Alert`]: one model for every Falcon shape
//! (`model.rs`), built by `normalize.rs`, with the context providers attach
//! (`enrichment.rs`).

mod enrichment;
pub mod finding;
mod model;
pub mod normalize;

pub use enrichment::{Enrichment, Section, Status, Table};
pub use model::*;

/// A Falcon agent id (`aid`, a host's `device_id`): 32 hex digits, returned
/// trimmed and lower-cased; anything else is not one. The one check there is
/// (Athena queries, the lake scan, the Falcon host lookups).
pub fn agent_id(s: &str) -> Option<String> {
    let s = s.trim();
    (s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())).then(|| s.to_ascii_lowercase())
}
