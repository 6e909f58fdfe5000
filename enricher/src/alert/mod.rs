//! A detection event becomes an [`Alert`]: one model for every Falcon shape
//! (`model.rs`), built by `normalize.rs`, with the context providers attach
//! (`enrichment.rs`).

mod enrichment;
mod model;
pub mod normalize;

pub use enrichment::{Enrichment, Section, Status, Table};
pub use model::*;
