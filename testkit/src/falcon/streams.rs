//! The Event Streams part of the project's Falcon API test server
//! (`super::Falcon`): discover (one resource per
//! partition, empty while "another session" holds the appId), one chunked
//! NDJSON stream per partition with `\r\n` lines, keep-alives and inclusive
//! offsets, session refresh (404 once a session is expired, or unrefreshed
//! for its interval; 429 and 503 on demand), a stale token
//! (401) on the stream, 429 with `X-RateLimit-RetryAfter`, an HTML error body,
//! and a disconnect in the middle of a line. Failures are armed per test.

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use super::{CLIENT_ID, CLIENT_SECRET, Falcon, World};

/// A failure the stream endpoint produces once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Send this many events, then half a line, then close.
    CutAfter(usize),
    /// An HTML error page with status 200 instead of the stream.
    HtmlPage,
    /// 429 with X-RateLimit-RetryAfter as epoch ms.
    RateLimitedMs,
    /// 429 with X-RateLimit-RetryAfter as seconds.
    RateLimitedSecs,
    /// 401: the session token is stale.
    StaleToken,
}

/// A failure the refresh endpoint produces once, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshFault {
    /// 429 with `X-RateLimit-RetryAfter` as seconds.
    RateLimitedSecs(u64),
    /// 503 with an HTML body.
    Unavailable,
}

pub(super) type St = State<(Arc<Mutex<World>>, SocketAddr)>;

pub(super) fn rate_headers(status: StatusCode) -> Response {
    let mut r = status.into_response();
    r.headers_mut()
        .insert("X-RateLimit-Limit", "6000".parse().unwrap());
    r.headers_mut()
        .insert("X-RateLimit-Remaining", "5999".parse().unwrap());
    r
}

fn bearer_ok(w: &World, h: &HeaderMap) -> bool {
    super::bearer(h).is_some_and(|t| w.tokens.contains(t))
}

pub(super) async fn discover(
    State((world, addr)): St,
    Query(q): Query<HashMap<String, String>>,
    h: HeaderMap,
) -> Response {
    let mut w = world.lock().unwrap();
    w.discover_calls += 1;
    if !bearer_ok(&w, &h) {
        w.bad_auth += 1;
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let app = q.get("appId").cloned().unwrap_or_default();
    if w.empty_discovers > 0 {
        w.empty_discovers -= 1;
        return (StatusCode::OK, r#"{"meta":{},"resources":[],"errors":[]}"#).into_response();
    }
    w.generation += 1;
    w.expire_on_refresh = false;
    let now = tokio::time::Instant::now();
    let parts: Vec<u32> = w.partitions.keys().copied().collect();
    for p in parts {
        w.refreshed_at.insert(p, now);
    }
    let g = w.generation;
    let interval = if w.refresh_interval_secs == 0 {
        1800
    } else {
        w.refresh_interval_secs
    };
    let resources: Vec<serde_json::Value> = w
        .partitions
        .keys()
        .map(|p| {
            serde_json::json!({
                "dataFeedURL": format!("http://{addr}/sensors/entities/datafeed/v1/{p}?appId={app}"),
                "sessionToken": {"token": format!("session-{g}-{p}"), "expiration": "2026-03-14T10:00:00Z"},
                "refreshActiveSessionURL": format!("http://{addr}/sensors/entities/datafeed-actions/v1/{p}?appId={app}&action_name=refresh_active_stream_session"),
                "refreshActiveSessionInterval": interval,
            })
        })
        .collect();
    let mut r = (
        StatusCode::OK,
        serde_json::json!({"meta":{}, "resources": resources, "errors": []}).to_string(),
    )
        .into_response();
    r.headers_mut()
        .insert("X-RateLimit-Remaining", "99".parse().unwrap());
    r
}

pub(super) async fn refresh(State((world, _)): St, Path(p): Path<u32>, h: HeaderMap) -> Response {
    let mut w = world.lock().unwrap();
    // A POST without a body must still say `Content-Length: 0` (RFC 9110).
    if !h.contains_key("content-length") && !h.contains_key("transfer-encoding") {
        w.length_required += 1;
        return StatusCode::LENGTH_REQUIRED.into_response();
    }
    if !bearer_ok(&w, &h) {
        w.bad_auth += 1;
        return StatusCode::UNAUTHORIZED.into_response();
    }
    *w.refresh_calls.entry(p).or_default() += 1;
    if !w.refresh_faults.is_empty() {
        match w.refresh_faults.remove(0) {
            RefreshFault::RateLimitedSecs(secs) => {
                let mut r = rate_headers(StatusCode::TOO_MANY_REQUESTS);
                r.headers_mut()
                    .insert("X-RateLimit-RetryAfter", secs.to_string().parse().unwrap());
                return r;
            }
            RefreshFault::Unavailable => {
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "<html><body>503 Service Unavailable</body></html>",
                )
                    .into_response();
            }
        }
    }
    if w.expire_on_refresh || expired(&w, p) {
        return (
            StatusCode::NOT_FOUND,
            r#"{"errors":[{"code":404,"message":"session not found"}]}"#,
        )
            .into_response();
    }
    w.refreshed_at.insert(p, tokio::time::Instant::now());
    rate_headers(StatusCode::OK)
}

/// Whether partition `p`'s session has outlived its refresh interval.
fn expired(w: &World, p: u32) -> bool {
    let life = Duration::from_secs(if w.refresh_interval_secs == 0 {
        1800
    } else {
        w.refresh_interval_secs
    });
    w.expire_unrefreshed && w.refreshed_at.get(&p).is_some_and(|t| t.elapsed() > life)
}

pub(super) async fn stream(
    State((world, _)): St,
    Path(p): Path<u32>,
    Query(q): Query<HashMap<String, String>>,
    h: HeaderMap,
) -> Response {
    let (lines, fault) = {
        let mut w = world.lock().unwrap();
        let offset = q.get("offset").and_then(|o| o.parse::<u64>().ok());
        w.stream_opens.push((p, offset));
        let expected = format!("Token session-{}-{p}", w.generation);
        if h.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str())
            || expired(&w, p)
        {
            w.bad_auth += 1;
            return StatusCode::UNAUTHORIZED.into_response();
        }
        let fault = w.faults.get_mut(&p).and_then(|f| {
            if f.is_empty() {
                None
            } else {
                Some(f.remove(0))
            }
        });
        let from = offset.unwrap_or(0);
        let lines: Vec<String> = w
            .partitions
            .get(&p)
            .map(|all| {
                all.iter()
                    .filter(|l| l.offset >= from)
                    .map(|l| l.line.clone())
                    .collect()
            })
            .unwrap_or_default();
        (lines, fault)
    };
    match fault {
        Some(Fault::HtmlPage) => {
            return (StatusCode::OK, "<html><head><title>502 Bad Gateway</title></head><body>upstream error</body></html>\r\n").into_response()
        }
        Some(Fault::RateLimitedMs) => {
            let at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() + 300;
            let mut r = rate_headers(StatusCode::TOO_MANY_REQUESTS);
            r.headers_mut().insert("X-RateLimit-RetryAfter", at.to_string().parse().unwrap());
            return r;
        }
        Some(Fault::RateLimitedSecs) => {
            let mut r = rate_headers(StatusCode::TOO_MANY_REQUESTS);
            r.headers_mut().insert("X-RateLimit-RetryAfter", "1".parse().unwrap());
            return r;
        }
        Some(Fault::StaleToken) => return StatusCode::UNAUTHORIZED.into_response(),
        _ => {}
    }
    let cut = match fault {
        Some(Fault::CutAfter(n)) => Some(n),
        _ => None,
    };
    // Events (a keep-alive every 5), then keep-alives every 100 ms until the client leaves.
    let body = futures::stream::unfold((0usize, lines, cut), |(i, lines, cut)| async move {
        if let Some(n) = cut {
            if i == n {
                let half = lines
                    .get(i)
                    .map(|l| l[..l.len() / 2].to_owned())
                    .unwrap_or_default();
                return Some((
                    Ok::<_, std::convert::Infallible>(Bytes::from(half)),
                    (usize::MAX, lines, None),
                ));
            }
            if i == usize::MAX {
                return None;
            }
        }
        if i == usize::MAX {
            return None;
        }
        if i < lines.len() {
            let mut chunk = format!("{}\r\n", lines[i]);
            if i % 5 == 4 {
                chunk.push_str("\r\n");
            }
            return Some((Ok(Bytes::from(chunk)), (i + 1, lines, cut)));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        Some((Ok(Bytes::from_static(b"\r\n")), (i, lines, cut)))
    });
    let mut r = Response::new(Body::from_stream(body));
    r.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    r
}
