//! What every daemon's `run(settings, telemetry, shutdown)` is given to be
//! observed by: where its admin port listens, if anywhere. The daemon
//! registers its metrics into a fresh registry, makes its [`Health`], and hands
//! both to [`Telemetry::serve`] before it starts work, so the binary and the
//! tests wire metrics and health the same way. It does not decide what a
//! daemon measures.

use super::{Health, serve_admin};
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

/// The admin port could not be opened (a runtime failure, not configuration).
#[derive(Debug, thiserror::Error)]
#[error("admin port {addr}: {source}")]
pub struct AdminError {
    pub addr: SocketAddr,
    #[source]
    pub source: std::io::Error,
}

/// Where a daemon's `/metrics`, `/healthz` and `/readyz` are served.
#[derive(Debug, Default)]
pub struct Telemetry {
    admin: Option<SocketAddr>,
    bound: Option<oneshot::Sender<SocketAddr>>,
}

impl Telemetry {
    /// No admin port (metrics are still counted).
    pub fn off() -> Telemetry {
        Telemetry::default()
    }

    /// The admin port on `addr`, or none.
    pub fn admin(addr: Option<SocketAddr>) -> Telemetry {
        Telemetry {
            admin: addr,
            bound: None,
        }
    }

    /// The admin port on `addr` (port 0 picks one); the receiver gets the
    /// address actually bound once the daemon serves it.
    pub fn announced(addr: SocketAddr) -> (Telemetry, oneshot::Receiver<SocketAddr>) {
        let (tx, rx) = oneshot::channel();
        (
            Telemetry {
                admin: Some(addr),
                bound: Some(tx),
            },
            rx,
        )
    }

    /// Serves `registry` and `health` on the admin port (if any) until `shutdown`.
    pub async fn serve(
        self,
        registry: Registry,
        health: Arc<Health>,
        shutdown: &CancellationToken,
    ) -> Result<(), AdminError> {
        let Some(addr) = self.admin else {
            return Ok(());
        };
        let bound = serve_admin(addr, Arc::new(registry), health, shutdown.clone())
            .await
            .map_err(|source| AdminError { addr, source })?;
        if let Some(tx) = self.bound {
            // The receiver may be gone: nobody asked.
            let _ = tx.send(bound);
        }
        Ok(())
    }
}
