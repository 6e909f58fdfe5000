//! The object store: an S3 bucket or a local directory behind one API, so the
//! daemons run the same code path on AWS and on the embedded default.

mod conditional;
mod error;
mod local;
mod location;
mod object_store;
mod s3;
mod writer;

pub use conditional::{Precondition, Swap, Tag};
pub use error::StoreError;
pub use location::{Location, join};
pub use object_store::{DEFAULT_PART_SIZE, ObjectInfo, ObjectReader, Store};
pub use writer::{ObjectWriter, Written};
