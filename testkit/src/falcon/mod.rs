//! The project's own Falcon API test server on 127.0.0.1: one server, as the
//! real API is one, behind one OAuth2 client-credentials exchange
//! (`POST /oauth2/token`: 201 with `expires_in` and `X-CS-Region`, 401 for a
//! wrong id or secret; bearer tokens checked by every API, revocable). The
//! Event Streams API the streamer holds is `streams.rs`; the hosts API the
//! enricher's context asks is `hosts.rs`; the Alerts API (query, get, PATCH)
//! is `alerts.rs`. Failures are armed per test.

pub mod alerts;
pub mod hosts;
pub mod streams;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use falconry_fixtures::StreamLine;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

pub use alerts::{AlertsEndpoint, AlertsFault};
pub use streams::{Fault, RefreshFault};

pub const CLIENT_ID: &str = "test-client";
pub const CLIENT_SECRET: &str = "test-secret-do-not-log";

#[derive(Default)]
pub struct World {
    /// The hosts API's part.
    pub hosts: hosts::HostWorld,
    /// The Alerts API's part.
    pub alerts: alerts::AlertWorld,
    /// Bearer tokens issued and not revoked.
    pub tokens: HashSet<String>,
    /// Token lifetime the token answer gives (0: Falcon's 1799 s).
    pub expires_in: u64,
    pub partitions: BTreeMap<u32, Vec<StreamLine>>,
    pub empty_discovers: u32,
    pub refresh_interval_secs: u64,
    pub faults: HashMap<u32, Vec<Fault>>,
    /// Session generation: tokens of older generations are stale.
    pub generation: u64,
    /// Expire the current sessions at the next refresh (refresh answers 404).
    pub expire_on_refresh: bool,
    /// Sessions die `refresh_interval_secs` after their discover or last
    /// successful refresh, as Falcon's do (refresh 404, stream 401).
    pub expire_unrefreshed: bool,
    pub refresh_faults: Vec<RefreshFault>,
    /// When each partition's session was opened or last refreshed (tokio's
    /// clock, so paused-time tests see sessions expire).
    pub refreshed_at: HashMap<u32, tokio::time::Instant>,
    /// The region the token answer names in `X-CS-Region` (default us-1).
    pub region: Option<String>,
    // What the server saw.
    pub token_calls: u32,
    pub discover_calls: u32,
    pub refresh_calls: BTreeMap<u32, u32>,
    pub stream_opens: Vec<(u32, Option<u64>)>,
    pub bad_auth: u32,
    /// POSTs refused for giving no length.
    pub length_required: u32,
}

#[derive(Clone)]
pub struct Falcon {
    pub addr: SocketAddr,
    pub world: Arc<Mutex<World>>,
}

impl Falcon {
    pub async fn start(world: World) -> Falcon {
        let world = Arc::new(Mutex::new(world));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = Router::new()
            .route("/oauth2/token", post(token))
            .route("/sensors/entities/datafeed/v2", get(streams::discover))
            .route(
                "/sensors/entities/datafeed/v1/{partition}",
                get(streams::stream),
            )
            .route(
                "/sensors/entities/datafeed-actions/v1/{partition}",
                post(streams::refresh),
            )
            .route("/devices/entities/devices/v2", get(hosts::devices))
            .route("/alerts/combined/alerts/v1", post(alerts::combined))
            .route("/alerts/entities/alerts/v2", post(alerts::entities))
            .route("/alerts/entities/alerts/v3", patch(alerts::update))
            .with_state((world.clone(), addr));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Falcon { addr, world }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut World) -> T) -> T {
        f(&mut self.world.lock().unwrap())
    }
}

/// The token a request carries (`Authorization: Bearer <token>`).
fn bearer(h: &HeaderMap) -> Option<&str> {
    h.get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

async fn token(State((world, _)): streams::St, body: String) -> Response {
    let mut w = world
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    w.token_calls += 1;
    let form: HashMap<&str, &str> = body
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .collect();
    if form.get("client_id") != Some(&CLIENT_ID)
        || form.get("client_secret") != Some(&CLIENT_SECRET)
    {
        return (
            StatusCode::UNAUTHORIZED,
            r#"{"errors":[{"code":401,"message":"access denied, invalid client"}]}"#,
        )
            .into_response();
    }
    let token = format!("bearer-{}", w.token_calls);
    w.tokens.insert(token.clone());
    let expires_in = if w.expires_in == 0 {
        1799
    } else {
        w.expires_in
    };
    let mut r = (
        StatusCode::CREATED,
        serde_json::json!({"access_token": token, "token_type": "bearer", "expires_in": expires_in})
            .to_string(),
    )
        .into_response();
    r.headers_mut().insert(
        "X-CS-Region",
        w.region
            .clone()
            .unwrap_or_else(|| "us-1".into())
            .parse()
            .expect("header"),
    );
    r
}
