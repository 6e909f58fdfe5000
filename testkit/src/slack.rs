//! The project's own Slack incoming-webhook test server on 127.0.0.1: POST
//! JSON to [`WEBHOOK_PATH`], answered `ok` like Slack, with Slack's checks
//! (`invalid_payload` for bad JSON, `no_text` without text or blocks,
//! `invalid_blocks` past Block Kit's limits, 404 `no_service` elsewhere).
//! It records what it accepted and how many requests came, and answers
//! armed faults in order: 404 `no_service`, 400 `invalid_payload`, 429 with
//! `Retry-After`, 500.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::time::Instant;

/// The secret part of a webhook URL, as Slack shapes it.
pub const WEBHOOK_PATH: &str = "/services/T000/B000/XXXXSECRETXXXX";

/// An answer armed for the next request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlackFault {
    /// 404 `no_service` (the webhook was removed).
    NoService,
    /// 400 `invalid_payload`.
    InvalidPayload,
    /// 429 `rate_limited` with `Retry-After` seconds.
    RateLimited { retry_after: u64 },
    /// 500.
    ServerError,
}

#[derive(Default)]
struct World {
    faults: VecDeque<SlackFault>,
    payloads: Vec<Value>,
    requests: Vec<Instant>,
}

#[derive(Clone)]
pub struct SlackServer {
    pub addr: SocketAddr,
    state: Arc<Mutex<World>>,
}

impl SlackServer {
    pub async fn start() -> SlackServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(Mutex::new(World::default()));
        let app = Router::new().fallback(hook).with_state(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        SlackServer { addr, state }
    }

    pub fn webhook_url(&self) -> String {
        format!("http://{}{WEBHOOK_PATH}", self.addr)
    }

    fn with<T>(&self, f: impl FnOnce(&mut World) -> T) -> T {
        f(&mut self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Arms a fault for the next request (faults strike in order).
    pub fn fault(&self, fault: SlackFault) {
        self.with(|w| w.faults.push_back(fault));
    }

    /// Disarms every fault not struck yet (Slack is back).
    pub fn clear_faults(&self) {
        self.with(|w| w.faults.clear());
    }

    /// Messages accepted (answered `ok`).
    pub fn payloads(&self) -> Vec<Value> {
        self.with(|w| w.payloads.clone())
    }

    /// Requests received, accepted or not.
    pub fn requests(&self) -> usize {
        self.with(|w| w.requests.len())
    }

    /// Arrival time of each request (tokio time).
    pub fn request_times(&self) -> Vec<Instant> {
        self.with(|w| w.requests.clone())
    }
}

fn answer(status: StatusCode, text: &'static str) -> Response {
    let mut r = (status, text).into_response();
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("text/html"));
    r
}

async fn hook(
    State(state): State<Arc<Mutex<World>>>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Response {
    let mut w = state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    w.requests.push(Instant::now());
    if method != Method::POST || uri.path() != WEBHOOK_PATH {
        return answer(StatusCode::NOT_FOUND, "no_service");
    }
    match w.faults.pop_front() {
        Some(SlackFault::NoService) => return answer(StatusCode::NOT_FOUND, "no_service"),
        Some(SlackFault::InvalidPayload) => {
            return answer(StatusCode::BAD_REQUEST, "invalid_payload");
        }
        Some(SlackFault::RateLimited { retry_after }) => {
            let mut r = answer(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
            r.headers_mut()
                .insert("retry-after", HeaderValue::from(retry_after));
            return r;
        }
        Some(SlackFault::ServerError) => {
            return answer(StatusCode::INTERNAL_SERVER_ERROR, "internal_error");
        }
        None => {}
    }
    let Ok(payload) = serde_json::from_slice::<Value>(&body) else {
        return answer(StatusCode::BAD_REQUEST, "invalid_payload");
    };
    let text = payload.get("text").and_then(Value::as_str).unwrap_or("");
    let blocks = payload.get("blocks").and_then(Value::as_array);
    if text.is_empty() && blocks.is_none_or(Vec::is_empty) {
        return answer(StatusCode::BAD_REQUEST, "no_text");
    }
    if let Some(blocks) = blocks
        && !blocks_ok(blocks)
    {
        return answer(StatusCode::BAD_REQUEST, "invalid_blocks");
    }
    w.payloads.push(payload);
    answer(StatusCode::OK, "ok")
}

/// Block Kit's limits for the blocks the enricher uses.
fn blocks_ok(blocks: &[Value]) -> bool {
    let len = |v: Option<&Value>| v.and_then(Value::as_str).map(|s| s.chars().count());
    let text_ok = |t: Option<&Value>, max: usize, plain_only: bool| {
        t.is_some_and(|t| {
            let kind = t.get("type").and_then(Value::as_str);
            let kind_ok = if plain_only {
                kind == Some("plain_text")
            } else {
                matches!(kind, Some("plain_text" | "mrkdwn"))
            };
            kind_ok && len(t.get("text")).is_some_and(|n| (1..=max).contains(&n))
        })
    };
    blocks.len() <= 50
        && blocks
            .iter()
            .all(|b| match b.get("type").and_then(Value::as_str) {
                Some("header") => text_ok(b.get("text"), 150, true),
                Some("section") => {
                    let text = b.get("text");
                    let fields = b.get("fields").and_then(Value::as_array);
                    (text.is_some() || fields.is_some())
                        && (text.is_none() || text_ok(text, 3000, false))
                        && fields.is_none_or(|f| {
                            f.len() <= 10 && f.iter().all(|f| text_ok(Some(f), 2000, false))
                        })
                }
                Some("actions") => b
                    .get("elements")
                    .and_then(Value::as_array)
                    .is_some_and(|e| {
                        !e.is_empty()
                            && e.len() <= 25
                            && e.iter().all(|e| {
                                text_ok(e.get("text"), 75, true)
                                    && len(e.get("url")).is_none_or(|n| n <= 3000)
                            })
                    }),
                Some("divider") | Some("context") => true,
                _ => false,
            })
}
