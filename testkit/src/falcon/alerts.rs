//! The Alerts part of the project's Falcon API test server (`super::Falcon`),
//! with the real envelope `{"meta":{...},"resources":[...],"errors":[...]}`:
//! `POST /alerts/combined/alerts/v1` (FQL `filter` on `updated_timestamp`,
//! `created_timestamp`, `timestamp` with `>=`, `>`, `<=`, `<` compared as
//! times, and on `product`, `status`, `type`; `sort`; `limit` 1..=1000, 100 by
//! default; an opaque `after` token bound to its filter and sort, carrying the
//! last sort key seen, as Falcon's search-after paging does),
//! `POST /alerts/entities/alerts/v2` (alerts by composite id, 404 when none is
//! known) and `PATCH /alerts/entities/alerts/v3` (status, tags, comments,
//! assignee; a 404 error entry per unknown id). Every call needs a length and
//! a live bearer token (411, 401). Faults armed per endpoint strike in order:
//! 429 with Falcon's rate-limit headers, 500, a dropped request (503), and an
//! answer lost after the call was applied (502). It records the calls, every
//! PATCH it applied and each alert's comments.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER, TRANSFER_ENCODING};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::streams::St;
pub use super::{CLIENT_ID, CLIENT_SECRET, Falcon, World};

/// The customer id alerts carry unless their composite id starts with one.
pub const CID: &str = "0123456789abcdef0123456789abcdef";

/// The alerts endpoint a fault strikes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertsEndpoint {
    /// `POST /alerts/combined/alerts/v1`.
    Query,
    /// `POST /alerts/entities/alerts/v2`.
    Get,
    /// `PATCH /alerts/entities/alerts/v3`.
    Patch,
}

/// A failure an alerts endpoint produces once, in the order armed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertsFault {
    /// 429 with `X-RateLimit-Limit: 6000`, `X-RateLimit-Remaining: 0`,
    /// `X-RateLimit-RetryAfter` one second from now (epoch seconds) and
    /// `Retry-After: 1`.
    RateLimited,
    /// 500 with an error entry.
    ServerError,
    /// The request dropped on the way in: a load balancer's HTML 503.
    Dropped,
    /// The call is applied (a PATCH changes the alerts and is recorded), then
    /// its answer is lost: a load balancer's HTML 502.
    LostAnswer,
}

/// A PATCH the server applied: the composite ids and the `(name, value)`
/// action parameters, in order.
pub type AlertPatch = (Vec<String>, Vec<(String, String)>);

#[derive(Default)]
pub struct AlertWorld {
    /// Alert resources by composite id.
    pub alerts: BTreeMap<String, Value>,
    /// Comments appended by PATCH, per composite id (Falcon keeps them out of
    /// the alert resource).
    pub comments: HashMap<String, Vec<String>>,
    pub faults: HashMap<AlertsEndpoint, VecDeque<AlertsFault>>,
    // What the server saw.
    /// Every PATCH applied (a 200, or a 502 from `AlertsFault::LostAnswer`).
    pub patches: Vec<AlertPatch>,
    /// Calls to each endpoint that passed the length and token checks,
    /// whatever their answer.
    pub queries: u32,
    pub gets: u32,
    pub patch_calls: u32,
    /// Calls refused for an unknown or revoked token.
    pub bad_auth: u32,
}

/// The alert statuses `update_status` takes.
const STATUSES: [&str; 4] = ["new", "in_progress", "closed", "reopened"];
/// The fields the filter and the sort compare as times.
const TIME_FIELDS: [&str; 3] = ["updated_timestamp", "created_timestamp", "timestamp"];
/// The fields the filter matches against a value or a list of values.
const SET_FIELDS: [&str; 3] = ["product", "status", "type"];
const DEFAULT_SORT: &str = "updated_timestamp|asc";

impl Falcon {
    /// Runs `f` on the alerts API's part of the world.
    pub fn with_alerts<T>(&self, f: impl FnOnce(&mut AlertWorld) -> T) -> T {
        f(&mut lock(&self.world).alerts)
    }

    /// Inserts `alert`, or replaces the one with its `composite_id`.
    pub fn add_alert(&self, alert: Value) {
        let Some(id) = alert.get("composite_id").and_then(Value::as_str) else {
            panic!("add_alert: the alert has no composite_id: {alert}");
        };
        let id = id.to_owned();
        self.with_alerts(|a| a.alerts.insert(id, alert));
    }

    /// Changes an alert as the console or a detection would, and bumps its
    /// `updated_timestamp` to now. Panics when there is no such alert.
    pub fn update_alert(&self, composite_id: &str, f: impl FnOnce(&mut Value)) {
        let found = self.with_alerts(|a| match a.alerts.get_mut(composite_id) {
            Some(alert) => {
                f(alert);
                set(alert, "updated_timestamp", now_stamp().into());
                true
            }
            None => false,
        });
        assert!(found, "update_alert: no alert {composite_id}");
    }

    /// An analyst closes the alert in the console: status `closed`, `tag`
    /// added, assigned to `by`.
    pub fn console_close(&self, composite_id: &str, by: &str, tag: &str) {
        self.update_alert(composite_id, |a| {
            set(a, "status", "closed".into());
            add_tag(a, tag);
            set(a, "assigned_to_name", by.into());
        });
    }

    /// An analyst reopens the alert in the console: status `reopened`.
    pub fn console_reopen(&self, composite_id: &str) {
        self.update_alert(composite_id, |a| set(a, "status", "reopened".into()));
    }

    pub fn alert(&self, composite_id: &str) -> Option<Value> {
        self.with_alerts(|a| a.alerts.get(composite_id).cloned())
    }

    /// Every PATCH the server applied, in order.
    pub fn alert_patches(&self) -> Vec<AlertPatch> {
        self.with_alerts(|a| a.patches.clone())
    }

    /// The comments PATCHes appended to the alert, in order.
    pub fn alert_comments(&self, composite_id: &str) -> Vec<String> {
        self.with_alerts(|a| a.comments.get(composite_id).cloned().unwrap_or_default())
    }

    /// Combined queries the server received (past the token check).
    pub fn alert_queries(&self) -> u32 {
        self.with_alerts(|a| a.queries)
    }

    /// Arms `fault` for the next call to `which` (after those armed before).
    pub fn fault_alerts(&self, which: AlertsEndpoint, fault: AlertsFault) {
        self.with_alerts(|a| a.faults.entry(which).or_default().push_back(fault));
    }
}

/// An alert resource shaped like the Alerts API's (most fields Falcon sends
/// for an endpoint detection; `product` "idp" gives an identity one, without
/// the process fields). `timestamp` (RFC 3339) is also its created and
/// updated time, normalized to milliseconds and `Z`. The customer id is the
/// composite id's first part when that is 32 hex digits.
pub fn alert(
    composite_id: &str,
    product: &str,
    aid: &str,
    hostname: &str,
    severity: u8,
    timestamp: &str,
) -> Value {
    let stamp = parse_time(timestamp).map_or_else(
        || timestamp.to_owned(),
        |t| t.to_rfc3339_opts(SecondsFormat::Millis, true),
    );
    let cid = composite_id
        .split(':')
        .next()
        .filter(|c| c.len() == 32 && c.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or(CID);
    let n = fnv(0, composite_id) % 100_000_000_000_000;
    let idp = product == "idp";
    let kind = match product {
        "epp" => "ldt",
        "idp" => "idp-user-endpoint-app-access",
        "overwatch" => "ofp",
        other => other,
    };
    let mut a = json!({
        "composite_id": composite_id,
        "id": format!("{}:{aid}:{n}", if idp { "idp" } else { "ind" }),
        "aggregate_id": format!("aggind:{aid}:{n}"),
        "cid": cid,
        "agent_id": aid,
        "product": product,
        "type": kind,
        "status": "new",
        "tags": [],
        "severity": severity,
        "severity_name": severity_name(severity),
        "show_in_ui": true,
        "source_vendors": ["CrowdStrike"],
        "timestamp": stamp,
        "created_timestamp": stamp,
        "updated_timestamp": stamp,
        "device": {
            "device_id": aid,
            "hostname": hostname,
            "platform_name": "Windows",
            "os_version": "Windows 11",
            "local_ip": "10.20.30.40",
            "external_ip": "81.2.69.160",
            "mac_address": "8c-8c-aa-11-22-33",
            "groups": [],
            "tags": []
        },
        "user_name": "jdoe",
        "user_id": "S-1-5-21-1004336348-1177238915-682003330-1104",
        "falcon_host_link": format!(
            "https://falcon.crowdstrike.com/activity-v2/detections/{composite_id}?_cid={cid}"
        ),
        "seconds_to_triaged": 0,
        "seconds_to_resolved": 0
    });
    let extra = if idp {
        json!({
            "confidence": 60,
            "name": "IdpUnusualEndpointAccess",
            "display_name": "Unusual endpoint access",
            "description": "A user accessed an endpoint they do not usually access.",
            "pattern_id": 51_126,
            "tactic": "Lateral Movement",
            "tactic_id": "TA0008",
            "technique": "Remote Services",
            "technique_id": "T1021",
            "objective": "Explore",
            "data_domains": ["Identity"],
            "source_products": ["Falcon Identity Protection"],
            "source_account_name": "jdoe",
            "source_account_domain": "CORP.EXAMPLE.COM",
            "source_endpoint_host_name": hostname,
            "source_endpoint_ip_address": "10.20.30.40"
        })
    } else {
        json!({
            "confidence": 80,
            "name": "CredentialTheft",
            "display_name": "Credential theft",
            "description": "A process accessed LSASS memory, possibly to steal credentials.",
            "pattern_id": 10_197,
            "tactic": "Credential Access",
            "tactic_id": "TA0006",
            "technique": "OS Credential Dumping",
            "technique_id": "T1003",
            "objective": "Gain Access",
            "data_domains": ["Endpoint"],
            "source_products": ["Falcon Insight"],
            "filename": "procdump64.exe",
            "filepath": "\\Device\\HarddiskVolume3\\Users\\jdoe\\Downloads\\procdump64.exe",
            "cmdline": "procdump64.exe -accepteula -ma lsass.exe lsass.dmp",
            "sha256": hex(composite_id, 1, 64),
            "md5": hex(composite_id, 2, 32),
            "parent_details": {
                "filename": "cmd.exe",
                "filepath": "\\Device\\HarddiskVolume3\\Windows\\System32\\cmd.exe",
                "cmdline": "\"C:\\Windows\\system32\\cmd.exe\"",
                "sha256": hex(composite_id, 3, 64)
            }
        })
    };
    if let (Some(o), Value::Object(x)) = (a.as_object_mut(), extra) {
        o.extend(x);
    }
    a
}

/// Falcon's severity bands.
fn severity_name(severity: u8) -> &'static str {
    match severity {
        0..20 => "Informational",
        20..40 => "Low",
        40..60 => "Medium",
        60..80 => "High",
        _ => "Critical",
    }
}

/// FNV-1a of `s`, seeded.
fn fnv(seed: u64, s: &str) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325_u64 ^ seed;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// `len` hex digits derived from `s` (stand-in hashes, distinct per alert).
fn hex(s: &str, salt: u64, len: usize) -> String {
    let mut out = String::with_capacity(len + 16);
    let mut i = 0;
    while out.len() < len {
        let _ = write!(
            out,
            "{:016x}",
            fnv(salt.wrapping_mul(1000).wrapping_add(i), s)
        );
        i += 1;
    }
    out.truncate(len);
    out
}

/// Now, as Falcon writes times: RFC 3339 with milliseconds and `Z`.
fn now_stamp() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn lock(world: &Mutex<World>) -> MutexGuard<'_, World> {
    world.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Sets a field of an alert (a no-op on anything but an object).
fn set(alert: &mut Value, key: &str, value: Value) {
    if let Some(o) = alert.as_object_mut() {
        o.insert(key.to_owned(), value);
    }
}

/// The alert's `tags` array, made one if missing or not an array.
fn tags(alert: &mut Value) -> Option<&mut Vec<Value>> {
    let t = alert
        .as_object_mut()?
        .entry("tags")
        .or_insert_with(|| Value::Array(Vec::new()));
    if !t.is_array() {
        *t = Value::Array(Vec::new());
    }
    t.as_array_mut()
}

fn add_tag(alert: &mut Value, tag: &str) {
    if let Some(t) = tags(alert)
        && !t.iter().any(|v| v.as_str() == Some(tag))
    {
        t.push(tag.into());
    }
}

fn remove_tag(alert: &mut Value, tag: &str) {
    if let Some(t) = tags(alert) {
        t.retain(|v| v.as_str() != Some(tag));
    }
}

// ---- answers ----

fn answer(
    status: StatusCode,
    pagination: Option<Value>,
    resources: Vec<Value>,
    errors: Vec<Value>,
) -> Response {
    let mut meta = json!({
        "query_time": 0.01,
        "powered_by": "detectsapi",
        "trace_id": uuid::Uuid::new_v4().to_string(),
    });
    if let (Some(p), Some(m)) = (pagination, meta.as_object_mut()) {
        m.insert("pagination".to_owned(), p);
    }
    let body = json!({"meta": meta, "resources": resources, "errors": errors});
    let mut r = (status, body.to_string()).into_response();
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert("X-RateLimit-Limit", HeaderValue::from_static("6000"));
    h.insert("X-RateLimit-Remaining", HeaderValue::from_static("5999"));
    r
}

fn error(status: StatusCode, message: &str) -> Response {
    answer(
        status,
        None,
        vec![],
        vec![json!({"code": status.as_u16(), "message": message})],
    )
}

fn rate_limited() -> Response {
    let epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut r = error(StatusCode::TOO_MANY_REQUESTS, "API rate limit exceeded.");
    let h = r.headers_mut();
    h.insert("X-RateLimit-Remaining", HeaderValue::from_static("0"));
    h.insert("X-RateLimit-RetryAfter", HeaderValue::from(epoch + 1));
    h.insert(RETRY_AFTER, HeaderValue::from_static("1"));
    r
}

/// A load balancer's HTML page instead of the API's answer.
fn html(status: StatusCode, title: &str) -> Response {
    let mut r = (
        status,
        format!("<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"),
    )
        .into_response();
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/html"));
    r
}

/// What every alerts call goes through: a length (411 otherwise, as the
/// refresh endpoint does), a live bearer token (401), the call counted, the
/// endpoint's next armed fault; then `f`, whose `Err` is a 400's message.
fn serve(
    w: &mut World,
    h: &HeaderMap,
    which: AlertsEndpoint,
    f: impl FnOnce(&mut AlertWorld) -> Result<Response, String>,
) -> Response {
    if !h.contains_key(CONTENT_LENGTH) && !h.contains_key(TRANSFER_ENCODING) {
        w.length_required += 1;
        return StatusCode::LENGTH_REQUIRED.into_response();
    }
    if !super::bearer(h).is_some_and(|t| w.tokens.contains(t)) {
        w.alerts.bad_auth += 1;
        return error(
            StatusCode::UNAUTHORIZED,
            "access denied, invalid bearer token",
        );
    }
    let a = &mut w.alerts;
    match which {
        AlertsEndpoint::Query => a.queries += 1,
        AlertsEndpoint::Get => a.gets += 1,
        AlertsEndpoint::Patch => a.patch_calls += 1,
    }
    let lost = match a.faults.get_mut(&which).and_then(VecDeque::pop_front) {
        None => false,
        Some(AlertsFault::LostAnswer) => true,
        Some(AlertsFault::RateLimited) => return rate_limited(),
        Some(AlertsFault::ServerError) => {
            return error(StatusCode::INTERNAL_SERVER_ERROR, "internal server error");
        }
        Some(AlertsFault::Dropped) => {
            return html(StatusCode::SERVICE_UNAVAILABLE, "503 Service Unavailable");
        }
    };
    let r = f(a).unwrap_or_else(|m| error(StatusCode::BAD_REQUEST, &m));
    if lost {
        html(StatusCode::BAD_GATEWAY, "502 Bad Gateway")
    } else {
        r
    }
}

/// The JSON object a body holds (an empty body is `{}`).
fn body_object(body: &[u8]) -> Result<Map<String, Value>, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err("the request body must be a JSON object".to_owned()),
        Err(e) => Err(format!("invalid JSON in the request body: {e}")),
    }
}

/// An optional string field (`null` as absent).
fn opt_str<'a>(m: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, String> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(format!("{key}: must be a string")),
    }
}

/// A non-empty array of strings.
fn ids(m: &Map<String, Value>) -> Result<Vec<String>, String> {
    let ids: Option<Vec<String>> = m
        .get("composite_ids")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().map(|v| v.as_str().map(str::to_owned)).collect());
    match ids {
        Some(ids) if !ids.is_empty() => Ok(ids),
        _ => Err("composite_ids: at least one composite id is required".to_owned()),
    }
}

// ---- POST /alerts/combined/alerts/v1 ----

pub(super) async fn combined(State((world, _)): St, h: HeaderMap, body: Bytes) -> Response {
    let mut guard = lock(&world);
    serve(&mut guard, &h, AlertsEndpoint::Query, |a| query(a, &body))
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Ge,
    Gt,
    Le,
    Lt,
    Eq,
}

enum Term {
    Time {
        field: String,
        op: Op,
        at: DateTime<Utc>,
    },
    OneOf {
        field: String,
        negate: bool,
        values: Vec<String>,
    },
}

/// Where an alert sits in a sorted result set: its sort field's time (none
/// when missing or unparsable), then its composite id.
type Key = (Option<DateTime<Utc>>, String);

fn query(a: &AlertWorld, body: &[u8]) -> Result<Response, String> {
    let req = body_object(body)?;
    let filter = opt_str(&req, "filter")?.unwrap_or_default();
    let sort = opt_str(&req, "sort")?
        .filter(|s| !s.is_empty())
        .unwrap_or(DEFAULT_SORT);
    let after = opt_str(&req, "after")?.filter(|s| !s.is_empty());
    let limit = match req.get("limit") {
        None | Some(Value::Null) => 100,
        Some(v) => match v.as_u64() {
            Some(l @ 1..=1000) => l,
            _ => return Err(format!("limit: must be between 1 and 1000, got {v}")),
        },
    };
    let (field, desc) = parse_sort(sort)?;
    let terms = parse_filter(filter)?;
    let mut hits: Vec<(Key, &Value)> = a
        .alerts
        .values()
        .filter(|v| matches(v, &terms))
        .map(|v| (key(v, field), v))
        .collect();
    hits.sort_by(|(x, _), (y, _)| x.cmp(y));
    if desc {
        hits.reverse();
    }
    let start = match after {
        None => 0,
        Some(token) => {
            let k = decode_after(token, sort, filter)
                .ok_or_else(|| "after: invalid pagination token for this query".to_owned())?;
            hits.iter()
                .position(|(hk, _)| if desc { *hk < k } else { *hk > k })
                .unwrap_or(hits.len())
        }
    };
    let page: Vec<&(Key, &Value)> = hits
        .iter()
        .skip(start)
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .collect();
    let mut pagination = json!({"total": hits.len(), "limit": limit});
    if start + page.len() < hits.len()
        && let (Some((k, _)), Some(p)) = (page.last(), pagination.as_object_mut())
    {
        p.insert("after".to_owned(), encode_after(sort, filter, k).into());
    }
    let resources = page.into_iter().map(|(_, v)| (*v).clone()).collect();
    Ok(answer(StatusCode::OK, Some(pagination), resources, vec![]))
}

/// `field|asc`, `field|desc` (or `field.asc`); the field one of the times.
fn parse_sort(sort: &str) -> Result<(&str, bool), String> {
    let (field, dir) = sort
        .split_once('|')
        .or_else(|| sort.rsplit_once('.'))
        .unwrap_or((sort, "asc"));
    let desc = match dir.trim() {
        "asc" => false,
        "desc" => true,
        other => return Err(format!("sort: invalid direction {other:?}")),
    };
    let field = field.trim();
    if !TIME_FIELDS.contains(&field) {
        return Err(format!("sort: unsupported field {field:?}"));
    }
    Ok((field, desc))
}

/// The FQL terms the server understands, joined by `+`: time comparisons on
/// `TIME_FIELDS`, and `field:'v'`, `field:['a','b']` (`!` negates) on
/// `SET_FIELDS`. Terms on other fields are ignored.
fn parse_filter(filter: &str) -> Result<Vec<Term>, String> {
    let mut terms = Vec::new();
    for raw in split_top(filter, '+') {
        let raw = raw.trim();
        if raw.is_empty() {
            continue;
        }
        let Some((field, rest)) = raw.split_once(':') else {
            return Err(format!("filter: invalid term {raw:?}"));
        };
        let (field, rest) = (field.trim(), rest.trim());
        if TIME_FIELDS.contains(&field) {
            let (op, value) = [(">=", Op::Ge), ("<=", Op::Le), (">", Op::Gt), ("<", Op::Lt)]
                .into_iter()
                .find_map(|(p, op)| rest.strip_prefix(p).map(|v| (op, v)))
                .unwrap_or((Op::Eq, rest));
            let value = unquote(value.trim());
            let at = parse_time(value)
                .ok_or_else(|| format!("filter: invalid timestamp {value:?} for {field}"))?;
            terms.push(Term::Time {
                field: field.to_owned(),
                op,
                at,
            });
        } else if SET_FIELDS.contains(&field) {
            let (negate, rest) = match rest.strip_prefix('!') {
                Some(r) => (true, r.trim_start()),
                None => (false, rest),
            };
            let values = match rest.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
                Some(list) => split_top(list, ',')
                    .into_iter()
                    .map(|v| unquote(v.trim()).to_owned())
                    .filter(|v| !v.is_empty())
                    .collect(),
                None => vec![unquote(rest).to_owned()],
            };
            terms.push(Term::OneOf {
                field: field.to_owned(),
                negate,
                values,
            });
        }
    }
    Ok(terms)
}

/// `s` split on `sep` outside quotes, brackets and parentheses.
fn split_top(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut quote, mut depth, mut start) = (None::<char>, 0_i32, 0_usize);
    for (i, c) in s.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '\'' | '"' => quote = Some(c),
                '[' | '(' => depth += 1,
                ']' | ')' => depth -= 1,
                c if c == sep && depth == 0 => {
                    out.push(&s[start..i]);
                    start = i + c.len_utf8();
                }
                _ => {}
            },
        }
    }
    out.push(&s[start..]);
    out
}

fn unquote(s: &str) -> &str {
    ['\'', '"']
        .into_iter()
        .find_map(|q| s.strip_prefix(q).and_then(|r| r.strip_suffix(q)))
        .unwrap_or(s)
}

fn matches(alert: &Value, terms: &[Term]) -> bool {
    terms.iter().all(|t| match t {
        Term::Time { field, op, at } => alert
            .get(field)
            .and_then(Value::as_str)
            .and_then(parse_time)
            .is_some_and(|v| match op {
                Op::Ge => v >= *at,
                Op::Gt => v > *at,
                Op::Le => v <= *at,
                Op::Lt => v < *at,
                Op::Eq => v == *at,
            }),
        Term::OneOf {
            field,
            negate,
            values,
        } => {
            let v = alert.get(field).and_then(Value::as_str).unwrap_or_default();
            values.iter().any(|x| x == v) != *negate
        }
    })
}

fn key(alert: &Value, field: &str) -> Key {
    let at = alert
        .get(field)
        .and_then(Value::as_str)
        .and_then(parse_time);
    let id = alert
        .get("composite_id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    (at, id.to_owned())
}

/// The `after` token: the query it belongs to and the last key it gave.
fn encode_after(sort: &str, filter: &str, k: &Key) -> String {
    let at = k.0.map(|t| t.to_rfc3339_opts(SecondsFormat::Nanos, true));
    URL_SAFE_NO_PAD.encode(json!({"s": sort, "f": filter, "t": at, "id": k.1}).to_string())
}

/// The key an `after` token carries, if it was made for this sort and filter.
fn decode_after(token: &str, sort: &str, filter: &str) -> Option<Key> {
    let raw = URL_SAFE_NO_PAD.decode(token).ok()?;
    let v: Value = serde_json::from_slice(&raw).ok()?;
    if v.get("s")?.as_str()? != sort || v.get("f")?.as_str()? != filter {
        return None;
    }
    let at = match v.get("t")? {
        Value::Null => None,
        t => Some(parse_time(t.as_str()?)?),
    };
    Some((at, v.get("id")?.as_str()?.to_owned()))
}

// ---- POST /alerts/entities/alerts/v2 ----

pub(super) async fn entities(State((world, _)): St, h: HeaderMap, body: Bytes) -> Response {
    let mut guard = lock(&world);
    serve(&mut guard, &h, AlertsEndpoint::Get, |a| {
        let req = body_object(&body)?;
        let ids = ids(&req)?;
        if ids.len() > 1000 {
            return Err("composite_ids: at most 1000 composite ids are allowed".to_owned());
        }
        let found: Vec<Value> = ids
            .iter()
            .filter_map(|id| a.alerts.get(id).cloned())
            .collect();
        if found.is_empty() {
            return Ok(error(StatusCode::NOT_FOUND, "no alerts found"));
        }
        Ok(answer(StatusCode::OK, None, found, vec![]))
    })
}

// ---- PATCH /alerts/entities/alerts/v3 ----

pub(super) async fn update(State((world, _)): St, h: HeaderMap, body: Bytes) -> Response {
    let mut guard = lock(&world);
    serve(&mut guard, &h, AlertsEndpoint::Patch, |a| patch(a, &body))
}

fn patch(a: &mut AlertWorld, body: &[u8]) -> Result<Response, String> {
    let req = body_object(body)?;
    let ids = ids(&req)?;
    let params = req
        .get("action_parameters")
        .and_then(Value::as_array)
        .filter(|p| !p.is_empty())
        .ok_or_else(|| "action_parameters: at least one action is required".to_owned())?;
    let mut actions = Vec::with_capacity(params.len());
    for p in params {
        let name = p.get("name").and_then(Value::as_str);
        let value = match p.get("value") {
            None | Some(Value::Null) => Some(""),
            Some(v) => v.as_str(),
        };
        let (Some(name), Some(value)) = (name, value) else {
            return Err("action_parameters: each needs a string name and value".to_owned());
        };
        match name {
            "update_status" if !STATUSES.contains(&value) => {
                return Err(format!("update_status: invalid status {value:?}"));
            }
            "update_status" | "add_tag" | "remove_tag" | "append_comment" | "assign_to_name"
            | "unassign" => {}
            other => return Err(format!("action_parameters: unknown action {other:?}")),
        }
        actions.push((name.to_owned(), value.to_owned()));
    }
    let stamp = now_stamp();
    let mut errors = Vec::new();
    for id in &ids {
        let Some(alert) = a.alerts.get_mut(id) else {
            errors.push(json!({"code": 404, "message": format!("alert {id} not found"), "id": id}));
            continue;
        };
        for (name, value) in &actions {
            match name.as_str() {
                "update_status" => set(alert, "status", value.as_str().into()),
                "add_tag" => add_tag(alert, value),
                "remove_tag" => remove_tag(alert, value),
                "append_comment" => a
                    .comments
                    .entry(id.clone())
                    .or_default()
                    .push(value.clone()),
                "assign_to_name" => set(alert, "assigned_to_name", value.as_str().into()),
                "unassign" => {
                    if let Some(o) = alert.as_object_mut() {
                        for k in ["assigned_to_name", "assigned_to_uid", "assigned_to_uuid"] {
                            o.remove(k);
                        }
                    }
                }
                _ => {}
            }
        }
        set(alert, "updated_timestamp", stamp.as_str().into());
    }
    a.patches.push((ids, actions));
    Ok(answer(StatusCode::OK, None, vec![], errors))
}
