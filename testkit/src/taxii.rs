//! The project's own TAXII 2.1 server on 127.0.0.1: `GET
//! /{api_root}/collections/{id}/objects/` answered as the specification
//! says: `Accept: application/taxii+json;version=2.1` required (406
//! otherwise), HTTP Basic checked (401 with `WWW-Authenticate`), an
//! envelope `{"more", "next", "objects"}` paged by `limit` and the opaque
//! `next`, `added_after` honoured (objects added strictly after it), the
//! `X-TAXII-Date-Added-First`/`-Last` headers of each page, 404 for an
//! unknown collection. Armed faults answer 429 with `Retry-After` or 503.
//! Every request is recorded (query and whether it authenticated).

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

pub const USER: &str = "falconry";
pub const PASSWORD: &str = "taxii-secret-password";
pub const MEDIA_TYPE: &str = "application/taxii+json;version=2.1";
/// The page size when a request names none (and the largest served).
pub const MAX_PAGE: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaxiiFault {
    /// 429 with `Retry-After: seconds`.
    RateLimited {
        retry_after: u64,
    },
    Unavailable,
}

#[derive(Debug, Clone)]
pub struct Request {
    pub collection: String,
    pub query: HashMap<String, String>,
    pub authenticated: bool,
}

#[derive(Default)]
struct World {
    /// Collection id → (date added, object), in order of addition.
    collections: HashMap<String, Vec<(String, Value)>>,
    faults: VecDeque<TaxiiFault>,
    requests: Vec<Request>,
}

#[derive(Clone)]
pub struct TaxiiServer {
    pub addr: SocketAddr,
    state: Arc<Mutex<World>>,
}

impl TaxiiServer {
    pub async fn start() -> TaxiiServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(Mutex::new(World::default()));
        let app = Router::new()
            .route("/{root}/collections/{id}/objects/", get(objects))
            .with_state(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TaxiiServer { addr, state }
    }

    /// The collection's URL, as a client is configured with it.
    pub fn collection_url(&self, id: &str) -> String {
        format!("http://{}/api1/collections/{id}/", self.addr)
    }

    /// Adds objects to a collection, all with the date `added` (RFC 3339).
    pub fn add(&self, collection: &str, added: &str, objects: Vec<Value>) {
        let mut w = self.state.lock().expect("lock");
        let c = w.collections.entry(collection.to_owned()).or_default();
        c.extend(objects.into_iter().map(|o| (added.to_owned(), o)));
    }

    pub fn arm(&self, fault: TaxiiFault) {
        self.state.lock().expect("lock").faults.push_back(fault);
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state.lock().expect("lock").requests.clone()
    }
}

fn authenticated(headers: &HeaderMap) -> bool {
    let Some(v) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some(b64) = v.strip_prefix("Basic ") else {
        return false;
    };
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .is_some_and(|s| s == format!("{USER}:{PASSWORD}"))
}

fn error(status: StatusCode, title: &str) -> Response {
    let mut r = (
        status,
        json!({"title": title, "http_status": status.as_u16().to_string()}).to_string(),
    )
        .into_response();
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static(MEDIA_TYPE));
    r
}

async fn objects(
    State(state): State<Arc<Mutex<World>>>,
    Path((_root, id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let auth = authenticated(&headers);
    let mut w = state.lock().expect("lock");
    w.requests.push(Request {
        collection: id.clone(),
        query: query.clone(),
        authenticated: auth,
    });
    if let Some(f) = w.faults.pop_front() {
        return match f {
            TaxiiFault::RateLimited { retry_after } => {
                let mut r = error(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
                r.headers_mut()
                    .insert("retry-after", HeaderValue::from(retry_after));
                r
            }
            TaxiiFault::Unavailable => error(StatusCode::SERVICE_UNAVAILABLE, "Unavailable"),
        };
    }
    if !auth {
        let mut r = error(StatusCode::UNAUTHORIZED, "Unauthorized");
        r.headers_mut().insert(
            "www-authenticate",
            HeaderValue::from_static("Basic realm=\"taxii\""),
        );
        return r;
    }
    let accepts = headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.replace(' ', "").contains(MEDIA_TYPE));
    if !accepts {
        return error(StatusCode::NOT_ACCEPTABLE, "Not Acceptable");
    }
    let Some(all) = w.collections.get(&id) else {
        return error(StatusCode::NOT_FOUND, "Collection not found");
    };
    let after = query.get("added_after").cloned();
    let eligible: Vec<&(String, Value)> = all
        .iter()
        .filter(|(added, _)| after.as_ref().is_none_or(|a| added > a))
        .collect();
    let start: usize = query.get("next").and_then(|n| n.parse().ok()).unwrap_or(0);
    let limit = query
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(MAX_PAGE)
        .clamp(1, MAX_PAGE);
    let page: Vec<&(String, Value)> = eligible.iter().skip(start).take(limit).copied().collect();
    let more = start + page.len() < eligible.len();
    let mut body = json!({
        "more": more,
        "objects": page.iter().map(|(_, o)| o.clone()).collect::<Vec<_>>(),
    });
    if more {
        body["next"] = json!((start + page.len()).to_string());
    }
    let mut r = (StatusCode::OK, body.to_string()).into_response();
    let h = r.headers_mut();
    h.insert("content-type", HeaderValue::from_static(MEDIA_TYPE));
    if let (Some(first), Some(last)) = (page.first(), page.last())
        && let (Ok(f), Ok(l)) = (
            HeaderValue::from_str(&first.0),
            HeaderValue::from_str(&last.0),
        )
    {
        h.insert("x-taxii-date-added-first", f);
        h.insert("x-taxii-date-added-last", l);
    }
    r
}
