//! The hosts part of the project's Falcon API test server (`super::Falcon`):
//! `GET /devices/entities/devices/v2?ids=..&ids=..` with the real envelope
//! `{"meta":{...},"resources":[...],"errors":[...]}`: bearer tokens checked
//! (401 for an unknown or revoked one), at most 100 ids (400 beyond), 404
//! when no id is known. Armed faults strike in order: a revoked token (401),
//! a missing "Hosts: Read" scope (403), 429 with `X-RateLimit-RetryAfter` in
//! epoch seconds, a 500. Answers can be slowed down, or never come at all.
//! It records token calls and, per devices call, the ids and the tokio time.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::time::Duration;
use tokio::time::Instant;

pub use super::{CLIENT_ID, CLIENT_SECRET, Falcon, World};

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
    pub faults: VecDeque<HostFault>,
    /// Devices answers take this long (tokio time).
    pub delay: Option<Duration>,
    /// Devices calls are never answered.
    pub dead: bool,
    // What the server saw.
    pub device_calls: Vec<(Instant, Vec<String>)>,
    pub bad_auth: u32,
}

/// The one Falcon test server, seen from the hosts API's side.
#[derive(Clone)]
pub struct FalconHosts {
    pub server: Falcon,
}

impl FalconHosts {
    pub async fn start() -> FalconHosts {
        FalconHosts {
            server: Falcon::start(World::default()).await,
        }
    }

    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut HostWorld) -> T) -> T {
        self.server.with(|w| f(&mut w.hosts))
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

    /// Token exchanges the server answered (for either API).
    pub fn token_calls(&self) -> u32 {
        self.server.with(|w| w.token_calls)
    }

    pub fn device_calls(&self) -> Vec<(Instant, Vec<String>)> {
        self.with(|w| w.device_calls.clone())
    }

    /// Token lifetime the token answer gives (0: Falcon's 1799 s).
    pub fn set_expires_in(&self, secs: u64) {
        self.server.with(|w| w.expires_in = secs);
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

use super::streams::St;

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

pub(super) async fn devices(
    State((world, _)): St,
    RawQuery(query): RawQuery,
    h: HeaderMap,
) -> Response {
    let (dead, delay, ids) = {
        let mut guard = world
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let w = &mut guard.hosts;
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
    let mut guard = world
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let known = super::bearer(&h).is_some_and(|t| guard.tokens.contains(t));
    if !known {
        guard.hosts.bad_auth += 1;
        return error(
            StatusCode::UNAUTHORIZED,
            "access denied, invalid bearer token",
        );
    }
    let fault = guard.hosts.faults.pop_front();
    match fault {
        Some(HostFault::RevokeTokens) => {
            guard.tokens.clear();
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
        .filter_map(|id| guard.hosts.devices.get(&id.to_ascii_lowercase()).cloned())
        .collect();
    if found.is_empty() {
        return error(StatusCode::NOT_FOUND, "Device not found.");
    }
    envelope(StatusCode::OK, found, vec![])
}
