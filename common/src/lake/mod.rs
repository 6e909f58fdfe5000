//! The lake's key layout: the one definition of where every daemon writes and
//! reads in the user's bucket. The forwarder writes `raw/`, `parquet/`,
//! `quarantine/` and `state/` ([`fdr`]), and `findings/` when rules run
//! ([`findings`]); the streamer writes `stream/` and
//! `state/stream/` ([`stream`]); the enricher reads both and keeps its own
//! records under `state/enricher/` ([`state`]). A daemon that reads what
//! another wrote imports the key from here, never restates it.
//!
//! Every output key is a function of its input key (a source key, an event
//! hour, a partition and offsets), so a redelivery overwrites instead of
//! duplicating. Pure: string functions only, no I/O.

pub mod fdr;
pub mod findings;
pub mod state;
pub mod stream;

pub use fdr::{Hour, LOOKUP_KINDS, Layout, OTHER_LOOKUP, file_stem};
pub use stream::{BatchKey, StreamLayout};
