//! Plumbing that two or more falconry daemons need: configuration loading, AWS
//! clients, the object store (S3 or a local directory), shutdown signalling,
//! telemetry (logs, metrics, the admin port) and the Falcon API login the
//! streamer and the enricher share.
//!
//! Domain logic (what a notice, an event or an alert means) never lives here.

pub mod aws;
pub mod config;
pub mod event_types;
pub mod falcon_auth;
pub mod lake;
pub mod queue;
pub mod secret;
pub mod shutdown;
pub mod store;
pub mod telemetry;
pub mod time;

pub use secret::Secret;
pub use store::{Location, ObjectInfo, Store, StoreError};
