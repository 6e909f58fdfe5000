//! The project's own threat-intel test servers on 127.0.0.1, one per
//! service, each speaking its real API with its real answer shapes:
//!
//! - VirusTotal v3: `GET /api/v3/{files,ip_addresses,domains}/{id}` with
//!   `x-apikey` (401 `WrongCredentialsError` / `AuthenticationRequiredError`),
//!   `{"data":{"id","type","links","attributes":{...}}}`, 404 `NotFoundError`,
//!   429 `QuotaExceededError`.
//! - AbuseIPDB v2: `GET /api/v2/check?ipAddress=&maxAgeInDays=` with `Key`
//!   (401 with the `errors` list), `{"data":{...}}` for every valid address
//!   (score 0 when unknown), 422 for an invalid one, 429 with `Retry-After`,
//!   `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset`.
//! - GreyNoise community: `GET /v3/community/{ip}`, `key` checked when the
//!   server is given one (401), 404 "not observed" for unknown addresses,
//!   400 for one that is not a routable IPv4 address, 429 with the plan.
//!
//! Each counts its requests (with their tokio time and indicator), answers
//! armed faults in order, and can be slowed down or never answer.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

pub const VT_KEY: &str = "vt-key-0123456789abcdef-secret";
pub const ABUSE_KEY: &str = "abuseipdb-key-secret-80chars";
pub const GREYNOISE_KEY: &str = "greynoise-key-secret";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntelFault {
    /// 429; `retry_after` seconds in `Retry-After` when set; AbuseIPDB also
    /// sends `X-RateLimit-Remaining: 0` when `spent`.
    RateLimited {
        retry_after: Option<u64>,
        spent: bool,
    },
    ServerError,
}

#[derive(Default)]
pub struct IntelWorld {
    /// The key the server accepts (GreyNoise: `None` = answers anyone).
    pub key: Option<String>,
    /// Records by indicator: VirusTotal `attributes`, AbuseIPDB `data`, GreyNoise's answer.
    pub known: HashMap<String, Value>,
    pub faults: VecDeque<IntelFault>,
    pub delay: Option<Duration>,
    pub dead: bool,
    // What the server saw.
    pub requests: Vec<(Instant, String)>,
    pub refused: u32,
    /// AbuseIPDB requests without `Accept: application/json`.
    pub without_accept: u32,
}

#[derive(Clone)]
pub struct IntelServer {
    pub addr: SocketAddr,
    world: Arc<Mutex<IntelWorld>>,
}

type St = State<Arc<Mutex<IntelWorld>>>;

impl IntelServer {
    async fn start(key: Option<&str>, app: Router<Arc<Mutex<IntelWorld>>>) -> IntelServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let world = Arc::new(Mutex::new(IntelWorld {
            key: key.map(str::to_owned),
            ..IntelWorld::default()
        }));
        let app = app.with_state(world.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        IntelServer { addr, world }
    }

    pub async fn virustotal() -> IntelServer {
        let app = Router::new()
            .route("/api/v3/files/{id}", get(vt_file))
            .route("/api/v3/ip_addresses/{id}", get(vt_ip))
            .route("/api/v3/domains/{id}", get(vt_domain));
        IntelServer::start(Some(VT_KEY), app).await
    }

    pub async fn abuseipdb() -> IntelServer {
        let app = Router::new().route("/api/v2/check", get(abuse_check));
        IntelServer::start(Some(ABUSE_KEY), app).await
    }

    /// `key`: the key it insists on; `None` answers without one (community).
    pub async fn greynoise(key: Option<&str>) -> IntelServer {
        let app = Router::new().route("/v3/community/{ip}", get(greynoise_ip));
        IntelServer::start(key, app).await
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut IntelWorld) -> T) -> T {
        f(&mut self
            .world
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    pub fn know(&self, indicator: &str, record: Value) {
        self.with(|w| w.known.insert(indicator.to_owned(), record));
    }

    pub fn fault(&self, f: IntelFault) {
        self.with(|w| w.faults.push_back(f));
    }

    pub fn requests(&self) -> Vec<(Instant, String)> {
        self.with(|w| w.requests.clone())
    }

    pub fn count(&self) -> usize {
        self.with(|w| w.requests.len())
    }

    /// The indicators asked about, each once, sorted.
    pub fn asked(&self) -> Vec<String> {
        let mut v: Vec<String> = self.requests().into_iter().map(|r| r.1).collect();
        v.sort();
        v.dedup();
        v
    }
}

/// Records the request; returns the fault to answer, after any delay (or never, when dead).
async fn arrive(world: &Arc<Mutex<IntelWorld>>, indicator: &str) -> Option<IntelFault> {
    let (dead, delay) = {
        let mut w = world
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        w.requests.push((Instant::now(), indicator.to_owned()));
        (w.dead, w.delay)
    };
    if dead {
        std::future::pending::<()>().await;
    }
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    world
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .faults
        .pop_front()
}

fn json_response(status: StatusCode, body: Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut()
        .insert("content-type", "application/json".parse().expect("header"));
    r
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

// --- VirusTotal ------------------------------------------------------------

async fn vt_file(State(w): St, Path(id): Path<String>, h: HeaderMap) -> Response {
    vt(w, "file", "files", id, h).await
}

async fn vt_ip(State(w): St, Path(id): Path<String>, h: HeaderMap) -> Response {
    vt(w, "ip_address", "ip_addresses", id, h).await
}

async fn vt_domain(State(w): St, Path(id): Path<String>, h: HeaderMap) -> Response {
    vt(w, "domain", "domains", id, h).await
}

fn vt_error(status: StatusCode, code: &str, message: &str) -> Response {
    json_response(status, json!({"error": {"code": code, "message": message}}))
}

async fn vt(
    world: Arc<Mutex<IntelWorld>>,
    kind: &str,
    collection: &str,
    id: String,
    h: HeaderMap,
) -> Response {
    let fault = arrive(&world, &id).await;
    let mut w = world
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    match header(&h, "x-apikey") {
        None => {
            w.refused += 1;
            return vt_error(
                StatusCode::UNAUTHORIZED,
                "AuthenticationRequiredError",
                "X-Apikey header is missing",
            );
        }
        Some(k) if Some(k) != w.key.as_deref() => {
            w.refused += 1;
            return vt_error(
                StatusCode::UNAUTHORIZED,
                "WrongCredentialsError",
                "Wrong API key",
            );
        }
        Some(_) => {}
    }
    match fault {
        Some(IntelFault::RateLimited { retry_after, .. }) => {
            let mut r = vt_error(
                StatusCode::TOO_MANY_REQUESTS,
                "QuotaExceededError",
                "Quota exceeded",
            );
            if let Some(s) = retry_after {
                r.headers_mut()
                    .insert("Retry-After", s.to_string().parse().expect("header"));
            }
            return r;
        }
        Some(IntelFault::ServerError) => {
            return vt_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "TransientError",
                "Transient server error",
            );
        }
        None => {}
    }
    match w.known.get(&id) {
        Some(attributes) => json_response(
            StatusCode::OK,
            json!({"data": {
                "id": id,
                "type": kind,
                "links": {"self": format!("https://www.virustotal.com/api/v3/{collection}/{id}")},
                "attributes": attributes,
            }}),
        ),
        None => vt_error(
            StatusCode::NOT_FOUND,
            "NotFoundError",
            &format!("{kind} \"{id}\" not found"),
        ),
    }
}

/// VirusTotal attributes with these analysis stats.
pub fn vt_attributes(malicious: u32, suspicious: u32, harmless: u32, reputation: i64) -> Value {
    json!({
        "last_analysis_date": 1773480000,
        "last_analysis_stats": {
            "harmless": harmless, "malicious": malicious, "suspicious": suspicious,
            "undetected": 70 - malicious - suspicious - harmless, "timeout": 0,
        },
        "last_analysis_results": {},
        "reputation": reputation,
        "total_votes": {"harmless": 0, "malicious": 3},
        "tags": [],
    })
}

// --- AbuseIPDB -------------------------------------------------------------

fn abuse_errors(status: StatusCode, detail: &str) -> Response {
    json_response(
        status,
        json!({"errors": [{"detail": detail, "status": status.as_u16()}]}),
    )
}

async fn abuse_check(
    State(world): St,
    Query(q): Query<HashMap<String, String>>,
    h: HeaderMap,
) -> Response {
    let ip = q.get("ipAddress").cloned().unwrap_or_default();
    let fault = arrive(&world, &ip).await;
    let mut w = world
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !header(&h, "accept").is_some_and(|a| a.contains("application/json")) {
        w.without_accept += 1;
    }
    if header(&h, "key") != w.key.as_deref() {
        w.refused += 1;
        return abuse_errors(
            StatusCode::UNAUTHORIZED,
            "Authentication failed. Your API key is either missing, incorrect, or revoked. Note: The APIv2 key differs from the APIv1 key.",
        );
    }
    match fault {
        Some(IntelFault::RateLimited { retry_after, spent }) => {
            let mut r = abuse_errors(
                StatusCode::TOO_MANY_REQUESTS,
                "Daily rate limit of 1000 requests exceeded for this endpoint. See headers for additional details.",
            );
            let hd = r.headers_mut();
            hd.insert("X-RateLimit-Limit", "1000".parse().expect("header"));
            let remaining = if spent { "0" } else { "12" };
            hd.insert("X-RateLimit-Remaining", remaining.parse().expect("header"));
            hd.insert("X-RateLimit-Reset", "1773532800".parse().expect("header"));
            if let Some(s) = retry_after {
                hd.insert("Retry-After", s.to_string().parse().expect("header"));
            }
            return r;
        }
        Some(IntelFault::ServerError) => {
            return abuse_errors(StatusCode::INTERNAL_SERVER_ERROR, "Server Error");
        }
        None => {}
    }
    let Ok(addr) = ip.parse::<IpAddr>() else {
        return abuse_errors(
            StatusCode::UNPROCESSABLE_ENTITY,
            "The ip address must be a valid IPv4 or IPv6 address (e.g. 8.8.8.8 or 2001:4860:4860::8888).",
        );
    };
    if !q
        .get("maxAgeInDays")
        .and_then(|d| d.parse::<u32>().ok())
        .is_some_and(|d| (1..=365).contains(&d))
    {
        return abuse_errors(
            StatusCode::UNPROCESSABLE_ENTITY,
            "The max age in days must be between 1 and 365.",
        );
    }
    let data = w
        .known
        .get(&ip)
        .cloned()
        .unwrap_or_else(|| abuse_record(&ip, 0, 0, None, None));
    let mut data = data;
    data["ipVersion"] = json!(if addr.is_ipv4() { 4 } else { 6 });
    let mut r = json_response(StatusCode::OK, json!({ "data": data }));
    r.headers_mut()
        .insert("X-RateLimit-Limit", "1000".parse().expect("header"));
    r.headers_mut()
        .insert("X-RateLimit-Remaining", "999".parse().expect("header"));
    r
}

/// AbuseIPDB's `data` object of a check.
pub fn abuse_record(
    ip: &str,
    score: u8,
    reports: u32,
    country: Option<&str>,
    isp: Option<&str>,
) -> Value {
    json!({
        "ipAddress": ip, "isPublic": true, "ipVersion": 4, "isWhitelisted": false,
        "abuseConfidenceScore": score, "countryCode": country, "usageType": "Data Center/Web Hosting/Transit",
        "isp": isp, "domain": null, "hostnames": [], "isTor": false,
        "totalReports": reports, "numDistinctUsers": reports.min(50),
        "lastReportedAt": if reports > 0 { json!("2026-03-14T08:00:00+00:00") } else { Value::Null },
    })
}

// --- GreyNoise -------------------------------------------------------------

async fn greynoise_ip(State(world): St, Path(ip): Path<String>, h: HeaderMap) -> Response {
    let fault = arrive(&world, &ip).await;
    let mut w = world
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(key) = w.key.clone()
        && header(&h, "key") != Some(key.as_str())
    {
        w.refused += 1;
        return json_response(StatusCode::UNAUTHORIZED, json!({"message": "Unauthorized"}));
    }
    match fault {
        Some(IntelFault::RateLimited { retry_after, .. }) => {
            let mut r = json_response(
                StatusCode::TOO_MANY_REQUESTS,
                json!({"plan": "community", "rate-limit": "50-lookups/week",
                       "plan_url": "https://greynoise.io/pricing",
                       "message": "You have hit your weekly rate limit of 50 lookups."}),
            );
            if let Some(s) = retry_after {
                r.headers_mut()
                    .insert("Retry-After", s.to_string().parse().expect("header"));
            }
            return r;
        }
        Some(IntelFault::ServerError) => {
            return json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"message": "error"}),
            );
        }
        None => {}
    }
    if ip.parse::<std::net::Ipv4Addr>().is_err() {
        return json_response(
            StatusCode::BAD_REQUEST,
            json!({"message": "Request is not a valid routable IPv4 address"}),
        );
    }
    match w.known.get(&ip) {
        Some(record) => {
            let mut body = record.clone();
            body["ip"] = json!(ip);
            body["message"] = json!("Success");
            json_response(StatusCode::OK, body)
        }
        None => json_response(
            StatusCode::NOT_FOUND,
            json!({"ip": ip, "noise": false, "riot": false,
                   "message": "IP not observed scanning the internet or contained in RIOT data set."}),
        ),
    }
}

/// GreyNoise's community answer fields for a seen address.
pub fn greynoise_record(classification: &str, noise: bool, riot: bool, name: &str) -> Value {
    json!({
        "noise": noise, "riot": riot, "classification": classification, "name": name,
        "link": "https://viz.greynoise.io/ip/x", "last_seen": "2026-03-13",
    })
}
