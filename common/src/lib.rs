//! What two or more falconry daemons share. The contracts between them, each
//! written once: the lake's key layout (`lake/`), the reading of times
//! (`time.rs`), the event types (`event_types.rs`), the queue loop
//! (`queue/consumer.rs`) and the HTTP edge to the outside APIs (`http.rs`).
//! And the plumbing: configuration loading, AWS clients, the object store (S3
//! or a local directory), shutdown signalling, telemetry (logs, metrics, the
//! admin port, the `Telemetry` every daemon's `run` takes) and the Falcon API
//! login the streamer and the enricher share.
//!
//! Domain logic (what a notice, an event or an alert means) never lives here.

pub mod athena;
pub mod aws;
pub mod config;
pub mod event_types;
pub mod falcon_auth;
pub mod http;
pub mod lake;
pub mod process;
pub mod queue;
pub mod secret;
pub mod shutdown;
pub mod store;
pub mod telemetry;
pub mod time;

pub use secret::Secret;
pub use store::{Location, ObjectInfo, Store, StoreError};
