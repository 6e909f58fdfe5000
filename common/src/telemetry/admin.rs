//! The admin HTTP port: `/metrics` (Prometheus text format), `/healthz`
//! (liveness) and `/readyz` (readiness). It must never be exposed publicly;
//! the deployment keeps it inside the task's network.

use super::Health;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
struct AdminState {
    registry: Arc<Registry>,
    health: Arc<Health>,
}

/// Binds `addr` and serves until `token` is cancelled. Returns the bound
/// address (useful with port 0) once listening.
pub async fn serve_admin(
    addr: SocketAddr,
    registry: Arc<Registry>,
    health: Arc<Health>,
    token: CancellationToken,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(AdminState { registry, health });
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { token.cancelled().await })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "admin server stopped");
        }
    });
    tracing::info!(addr = %bound, "admin port listening (/metrics, /healthz, /readyz)");
    Ok(bound)
}

async fn metrics(State(s): State<AdminState>) -> impl IntoResponse {
    let mut body = String::new();
    match prometheus_client::encoding::text::encode(&mut body, &s.registry) {
        Ok(()) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        ),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("encoding metrics failed: {e}"),
        ),
    }
}

async fn healthz(State(s): State<AdminState>) -> impl IntoResponse {
    let (live, age) = s.health.is_live();
    let status = if live {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        format!(
            "{{\"live\":{live},\"last_beat_seconds_ago\":{}}}\n",
            age.as_secs()
        ),
    )
}

async fn readyz(State(s): State<AdminState>) -> impl IntoResponse {
    let ready = s.health.is_ready();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, format!("{{\"ready\":{ready}}}\n"))
}

/// The `[admin]` section.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSettings {
    /// Address of the admin port (`/metrics`, `/healthz`, `/readyz`), or `off`.
    /// Default `0.0.0.0:9090`; keep it off the public network.
    #[serde(default = "default_listen")]
    pub listen: String,
}

fn default_listen() -> String {
    "0.0.0.0:9090".to_owned()
}

impl Default for AdminSettings {
    fn default() -> Self {
        AdminSettings {
            listen: default_listen(),
        }
    }
}

impl AdminSettings {
    /// The address to bind, `None` when off, or why the value is wrong.
    pub fn addr(&self) -> Result<Option<SocketAddr>, String> {
        if self.listen == "off" {
            return Ok(None);
        }
        self.listen.parse().map(Some).map_err(|e| {
            format!(
                "{:?} is not an address such as 0.0.0.0:9090, nor off: {e}",
                self.listen
            )
        })
    }
}
