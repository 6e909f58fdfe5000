//! One issue per thing: the fingerprint of an alert (`fingerprint.rs`), the
//! record kept per fingerprint and the pure rules over it (`record.rs`), and
//! the compare-and-swap store the records live in, shared by every replica
//! (`store.rs`).

mod fingerprint;
mod record;
mod store;

pub use fingerprint::{Field, Fingerprinter};
pub use record::{Claim, Next, Pending, Record, Snapshot, next, occurrence_key};
pub use store::{DedupError, DedupStore, Loaded};
