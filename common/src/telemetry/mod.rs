//! Telemetry shared by the daemons: structured logs, the Prometheus registry
//! and the admin HTTP port (`/metrics`, `/healthz`, `/readyz`).

mod admin;
mod health;
mod logging;
mod wiring;

pub use admin::{AdminSettings, serve_admin};
pub use health::Health;
pub use logging::{LogFormat, LogSettings, init_logging};
pub use prometheus_client::registry::Registry;
pub use wiring::{AdminError, Telemetry};
