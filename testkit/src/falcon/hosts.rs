//! The project's own Falcon API test server for host details, on 127.0.0.1:
//! OAuth2 client credentials (`POST /oauth2/token`, 201 with `expires_in`
//! and `X-CS-Region`; 401 for a wrong id or secret) and
//! `GET /devices/entities/devices/v2?ids=..&ids=..` with the real envelope
//! `{"meta":{...},"resources":[...],"errors":[...]}`: bearer tokens checked
//! (401 for an unknown or revoked one), at most 100 ids (400 beyond), 404
//! when no id is known. Armed faults strike in order: a revoked token (401),
//! a missing "Hosts: Read" scope (403), 429 with `X-RateLimit-RetryAfter` in
//! epoch seconds, a 500. Answers can be slowed down, or never come at all.
//! It records token calls and, per devices call, the ids and the tokio time.

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

pub const CLIENT_ID: &str = "enricher-test-client";
pub const CLIENT_SECRET: &str = "falcon-secret-do-not-show";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostFault {
    /// Every token issued so far stops working; this call answers 401.
    RevokeTokens,
    /// 403: the API client lacks "Hosts: Read".
    MissingScope,
    /// 429 with `X-RateLimit-RetryAfter` this many seconds from now (epoch seconds).
    RateLimited {
        secs: u64,
    },
    ServerError,
}

#[derive(Default)]
pub struct HostWorld {
    /// Device resources by lower-case aid.
    pub devices: HashMap<String, Value>,
    /// Token lifetime the token answer gives (0: Falcon's 1799 s).
    pub expires_in: u64,
    pub faults: VecDeque<HostFault>,
    /// Devices answers take this long (tokio time).
    pub delay: Option<Duration>,
    /// Devices calls are never answered.
    pub dead: bool,
    valid_tokens: HashSet<String>,
    // What the server saw.
    pub token_calls: u32,
    pub device_calls: Vec<(Instant, Vec<String>)>,
    pub bad_auth: u32,
}

#[derive(Clone)]
pub struct FalconHosts {
    pub addr: SocketAddr,
    world: Arc<Mutex<HostWorld>>,
}

impl FalconHosts {
    pub async fn start() -> FalconHosts {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let world = Arc::new(Mutex::new(HostWorld::default()));
        let app = Router::new()
            .route("/oauth2/token", post(token))
            .route("/devices/entities/devices/v2", get(devices))
            .with_state(world.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FalconHosts { addr, world }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut HostWorld) -> T) -> T {
        f(&mut self
            .world
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    pub fn add_device(&self, device: Value) {
        let aid = device["device_id"]
            .as_str()
            .expect("device_id")
            .to_ascii_lowercase();
        self.with(|w| w.devices.insert(aid, device));
    }

    pub fn fault(&self, f: HostFault) {
        self.with(|w| w.faults.push_back(f));
    }

    pub fn token_calls(&self) -> u32 {
        self.with(|w| w.token_calls)
    }

    pub fn device_calls(&self) -> Vec<(Instant, Vec<String>)> {
        self.with(|w| w.device_calls.clone())
    }
}

/// A device resource shaped like `devices/v2`'s (most fields Falcon sends).
pub fn device(aid: &str, hostname: &str, status: &str) -> Value {
    json!({
        "device_id": aid,
        "cid": "0123456789abcdef0123456789abcdef",
        "agent_load_flags": "1",
        "agent_local_time": "2026-03-14T09:58:12.345Z",
        "agent_version": "7.18.18309.0",
        "bios_manufacturer": "LENOVO",
        "bios_version": "N3AET73W (1.38 )",
        "config_id_base": "65994763",
        "config_id_build": "18309",
        "config_id_platform": "3",
        "cpu_signature": "526017",
        "external_ip": "81.2.69.160",
        "mac_address": "8c-8c-aa-11-22-33",
        "hostname": hostname,
        "first_seen": "2024-01-10T12:00:00Z",
        "last_login_timestamp": "2026-03-14T08:01:02Z",
        "last_login_user": "CORP\\jdoe",
        "last_seen": "2026-03-14T09:59:00Z",
        "local_ip": "10.20.30.40",
        "machine_domain": "corp.example.com",
        "major_version": "10",
        "minor_version": "0",
        "os_version": "Windows 11",
        "os_build": "22631",
        "platform_id": "0",
        "platform_name": "Windows",
        "policies": [{"policy_type": "prevention", "policy_id": "abc", "applied": true}],
        "reduced_functionality_mode": "no",
        "device_policies": {},
        "groups": ["5c7f2a1e9d8b4c3a8e6f0d1b2a3c4d5e"],
        "group_hash": "f00d",
        "product_type": "1",
        "product_type_desc": "Workstation",
        "provision_status": "Provisioned",
        "serial_number": "PF3ABCDE",
        "status": status,
        "system_manufacturer": "LENOVO",
        "system_product_name": "20XW0026GE",
        "tags": ["FalconGroupingTags/Finance", "SensorGroupingTags/Laptop"],
        "modified_timestamp": "2026-03-14T09:59:03Z",
        "meta": {"version": "4521", "version_string": "9:1234567"}
    })
}

type St = State<Arc<Mutex<HostWorld>>>;

fn envelope(status: StatusCode, resources: Vec<Value>, errors: Vec<Value>) -> Response {
    let body = json!({
        "meta": {"query_time": 0.004, "powered_by": "device-api", "trace_id": "3f8e2c1a-test"},
        "resources": resources,
        "errors": errors,
    });
    let mut r = (status, body.to_string()).into_response();
    let h = r.headers_mut();
    h.insert("content-type", "application/json".parse().expect("header"));
    h.insert("X-RateLimit-Limit", "6000".parse().expect("header"));
    h.insert("X-RateLimit-Remaining", "5999".parse().expect("header"));
    r
}

fn error(status: StatusCode, message: &str) -> Response {
    envelope(
        status,
        vec![],
        vec![json!({"code": status.as_u16(), "message": message})],
    )
}

async fn token(State(world): St, body: String) -> Response {
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
        return error(StatusCode::UNAUTHORIZED, "access denied, invalid client");
    }
    let token = format!("hosts-bearer-{}", w.token_calls);
    w.valid_tokens.insert(token.clone());
    let expires_in = if w.expires_in == 0 {
        1799
    } else {
        w.expires_in
    };
    let mut r = (
        StatusCode::CREATED,
        json!({"access_token": token, "token_type": "bearer", "expires_in": expires_in})
            .to_string(),
    )
        .into_response();
    r.headers_mut()
        .insert("X-CS-Region", "us-1".parse().expect("header"));
    r
}

async fn devices(State(world): St, RawQuery(query): RawQuery, h: HeaderMap) -> Response {
    let (dead, delay, ids) = {
        let mut w = world
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let ids: Vec<String> = query
            .unwrap_or_default()
            .split('&')
            .filter_map(|kv| kv.strip_prefix("ids="))
            .map(str::to_owned)
            .collect();
        w.device_calls.push((Instant::now(), ids.clone()));
        (w.dead, w.delay, ids)
    };
    if dead {
        std::future::pending::<()>().await;
    }
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let mut w = world
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let bearer = h
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !w.valid_tokens.contains(bearer) {
        w.bad_auth += 1;
        return error(
            StatusCode::UNAUTHORIZED,
            "access denied, invalid bearer token",
        );
    }
    match w.faults.pop_front() {
        Some(HostFault::RevokeTokens) => {
            w.valid_tokens.clear();
            return error(
                StatusCode::UNAUTHORIZED,
                "access denied, invalid bearer token",
            );
        }
        Some(HostFault::MissingScope) => {
            return error(StatusCode::FORBIDDEN, "access denied, authorization failed");
        }
        Some(HostFault::RateLimited { secs }) => {
            let epoch = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let mut r = error(StatusCode::TOO_MANY_REQUESTS, "API rate limit exceeded.");
            let hd = r.headers_mut();
            hd.insert("X-RateLimit-Remaining", "0".parse().expect("header"));
            hd.insert(
                "X-RateLimit-RetryAfter",
                (epoch + secs).to_string().parse().expect("header"),
            );
            return r;
        }
        Some(HostFault::ServerError) => {
            return error(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
        }
        None => {}
    }
    if ids.is_empty() {
        return error(StatusCode::BAD_REQUEST, "ids: at least one id is required");
    }
    if ids.len() > 100 {
        return error(StatusCode::BAD_REQUEST, "ids: at most 100 ids are allowed");
    }
    let found: Vec<Value> = ids
        .iter()
        .filter_map(|id| w.devices.get(&id.to_ascii_lowercase()).cloned())
        .collect();
    if found.is_empty() {
        return error(StatusCode::NOT_FOUND, "Device not found.");
    }
    envelope(StatusCode::OK, found, vec![])
}
