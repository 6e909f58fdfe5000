//! The project's own Amazon Athena test server on 127.0.0.1, speaking the
//! real JSON 1.1 protocol the AWS SDK uses: `POST /` with `X-Amz-Target:
//! AmazonAthena.<Operation>` for StartQueryExecution, GetQueryExecution,
//! GetQueryResults, StopQueryExecution and GetWorkGroup, answered in the
//! service's shapes (`QueryExecutionId`, `QueryExecution.Status.State`,
//! `Statistics.DataScannedInBytes`, `ResultSet.Rows[].Data[].VarCharValue`
//! with the header as the first row, `ResultSetMetadata`, `NextToken`).
//!
//! A test decides how each query goes from its SQL ([`Plan`]): queued and
//! running for some polls, then SUCCEEDED with prepared rows, FAILED with a
//! reason, or never finishing; StopQueryExecution cancels it. Armed
//! throttles answer the next requests 400 `ThrottlingException`. The server
//! records every started query, every stop and every call.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// Rows per GetQueryResults page at most (small, so answers paginate).
pub const PAGE_ROWS: usize = 3;

/// How a query ends.
#[derive(Debug, Clone)]
pub enum End {
    /// SUCCEEDED with these columns and rows (`None` is SQL NULL).
    Rows {
        header: Vec<String>,
        rows: Vec<Vec<Option<String>>>,
    },
    /// FAILED with this `StateChangeReason`.
    Failed(String),
    /// RUNNING until stopped.
    Never,
}

/// How one query goes.
#[derive(Debug, Clone)]
pub struct Plan {
    /// GetQueryExecution answers QUEUED this many times, then RUNNING ...
    pub queued: u32,
    /// ... this many times, then the end state.
    pub running: u32,
    pub end: End,
    /// `Statistics.DataScannedInBytes` reported (from RUNNING on).
    pub scanned: i64,
}

impl Plan {
    pub fn rows(header: &[&str], rows: Vec<Vec<Option<String>>>) -> Plan {
        Plan {
            queued: 1,
            running: 1,
            end: End::Rows {
                header: header.iter().map(|h| (*h).to_owned()).collect(),
                rows,
            },
            scanned: 10_485_760,
        }
    }
}

/// A query the server was asked to start.
#[derive(Debug, Clone)]
pub struct Started {
    pub id: String,
    pub sql: String,
    pub workgroup: Option<String>,
    pub database: Option<String>,
    pub output_location: Option<String>,
}

struct Query {
    plan: Plan,
    polls: u32,
    stopped: bool,
}

type Planner = Box<dyn Fn(&str) -> Plan + Send>;

struct World {
    planner: Planner,
    queries: HashMap<String, Query>,
    started: Vec<Started>,
    stopped: Vec<String>,
    calls: Vec<String>,
    throttles: usize,
    throttled: usize,
    cutoff: Option<i64>,
}

#[derive(Clone)]
pub struct AthenaServer {
    pub addr: SocketAddr,
    state: Arc<Mutex<World>>,
}

impl AthenaServer {
    /// A server answering every query by `planner(sql)`, whose workgroups
    /// have no bytes-scanned cutoff.
    pub async fn start(planner: impl Fn(&str) -> Plan + Send + 'static) -> AthenaServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(Mutex::new(World {
            planner: Box::new(planner),
            queries: HashMap::new(),
            started: Vec::new(),
            stopped: Vec::new(),
            calls: Vec::new(),
            throttles: 0,
            throttled: 0,
            cutoff: None,
        }));
        let app = Router::new().fallback(handle).with_state(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        AthenaServer { addr, state }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn with<T>(&self, f: impl FnOnce(&mut World) -> T) -> T {
        f(&mut self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Workgroups' `BytesScannedCutoffPerQuery`.
    pub fn set_cutoff(&self, cutoff: Option<i64>) {
        self.with(|w| w.cutoff = cutoff);
    }

    /// The next `n` requests are answered 400 `ThrottlingException`.
    pub fn throttle(&self, n: usize) {
        self.with(|w| w.throttles += n);
    }

    pub fn throttled(&self) -> usize {
        self.with(|w| w.throttled)
    }

    pub fn started(&self) -> Vec<Started> {
        self.with(|w| w.started.clone())
    }

    pub fn stopped(&self) -> Vec<String> {
        self.with(|w| w.stopped.clone())
    }

    /// Operation names of every request, throttled ones included, in order.
    pub fn calls(&self) -> Vec<String> {
        self.with(|w| w.calls.clone())
    }

    /// GetQueryExecution calls for query `id`.
    pub fn polls(&self, id: &str) -> u32 {
        self.with(|w| w.queries.get(id).map_or(0, |q| q.polls))
    }
}

fn reply(status: StatusCode, body: Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert(
        "content-type",
        axum::http::HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    r.headers_mut().insert(
        "x-amzn-requestid",
        axum::http::HeaderValue::from_static("00000000-0000-4000-8000-000000000000"),
    );
    r
}

fn error(kind: &str, message: &str) -> Response {
    reply(
        StatusCode::BAD_REQUEST,
        json!({ "__type": kind, "message": message }),
    )
}

fn state_of(q: &Query) -> &'static str {
    if q.stopped {
        return "CANCELLED";
    }
    let p = &q.plan;
    if q.polls <= p.queued {
        "QUEUED"
    } else if q.polls <= p.queued + p.running {
        "RUNNING"
    } else {
        match p.end {
            End::Rows { .. } => "SUCCEEDED",
            End::Failed(_) => "FAILED",
            End::Never => "RUNNING",
        }
    }
}

async fn handle(
    State(state): State<Arc<Mutex<World>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let Some(op) = target.strip_prefix("AmazonAthena.") else {
        return error("UnknownOperationException", "no X-Amz-Target");
    };
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if content_type != "application/x-amz-json-1.1" {
        return error("SerializationException", "wrong content type");
    }
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return error("SerializationException", "body is not JSON");
    };
    let mut w = state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    w.calls.push(op.to_owned());
    if w.throttles > 0 {
        w.throttles -= 1;
        w.throttled += 1;
        return error("ThrottlingException", "Rate exceeded");
    }
    let str_of = |v: &Value| v.as_str().map(str::to_owned);
    match op {
        "StartQueryExecution" => {
            let Some(sql) = str_of(&req["QueryString"]) else {
                return error("InvalidRequestException", "QueryString is required");
            };
            let id = uuid::Uuid::new_v4().to_string();
            let plan = (w.planner)(&sql);
            w.queries.insert(
                id.clone(),
                Query {
                    plan,
                    polls: 0,
                    stopped: false,
                },
            );
            w.started.push(Started {
                id: id.clone(),
                sql,
                workgroup: str_of(&req["WorkGroup"]),
                database: str_of(&req["QueryExecutionContext"]["Database"]),
                output_location: str_of(&req["ResultConfiguration"]["OutputLocation"]),
            });
            reply(StatusCode::OK, json!({ "QueryExecutionId": id }))
        }
        "GetQueryExecution" => {
            let id = str_of(&req["QueryExecutionId"]).unwrap_or_default();
            let Some(q) = w.queries.get_mut(&id) else {
                return error("InvalidRequestException", "QueryExecution not found");
            };
            q.polls += 1;
            let state = state_of(q);
            let mut status = json!({ "State": state, "SubmissionDateTime": 1_773_482_000.5 });
            match (&q.plan.end, state) {
                (End::Failed(reason), "FAILED") => {
                    status["StateChangeReason"] = json!(reason);
                    status["CompletionDateTime"] = json!(1_773_482_003.25);
                }
                (_, "CANCELLED") => {
                    status["StateChangeReason"] = json!("Query cancelled by user");
                }
                (_, "SUCCEEDED") => status["CompletionDateTime"] = json!(1_773_482_003.25),
                _ => {}
            }
            let scanned = if state == "QUEUED" { 0 } else { q.plan.scanned };
            reply(
                StatusCode::OK,
                json!({ "QueryExecution": {
                    "QueryExecutionId": id,
                    "StatementType": "DML",
                    "Status": status,
                    "Statistics": {
                        "DataScannedInBytes": scanned,
                        "EngineExecutionTimeInMillis": 1200,
                        "TotalExecutionTimeInMillis": 1500,
                    },
                    "WorkGroup": "primary",
                }}),
            )
        }
        "GetQueryResults" => {
            let id = str_of(&req["QueryExecutionId"]).unwrap_or_default();
            let Some(q) = w.queries.get(&id) else {
                return error("InvalidRequestException", "QueryExecution not found");
            };
            if state_of(q) != "SUCCEEDED" {
                return error("InvalidRequestException", "Query has not yet finished");
            }
            let End::Rows { header, rows } = &q.plan.end else {
                return error("InvalidRequestException", "no results");
            };
            let max = req["MaxResults"].as_u64().unwrap_or(1000) as usize;
            let page = max.clamp(1, PAGE_ROWS);
            let from: usize = str_of(&req["NextToken"])
                .and_then(|t| t.parse().ok())
                .unwrap_or(0);
            // The header row comes first, on the first page only.
            let mut all: Vec<Vec<Option<String>>> =
                vec![header.iter().cloned().map(Some).collect()];
            all.extend(rows.iter().cloned());
            let end = (from + page).min(all.len());
            let data: Vec<Value> = all[from.min(end)..end]
                .iter()
                .map(|r| {
                    let cells: Vec<Value> = r
                        .iter()
                        .map(|c| match c {
                            Some(v) => json!({ "VarCharValue": v }),
                            None => json!({}),
                        })
                        .collect();
                    json!({ "Data": cells })
                })
                .collect();
            let columns: Vec<Value> = header
                .iter()
                .map(|h| {
                    json!({ "CatalogName": "hive", "SchemaName": "", "TableName": "",
                            "Name": h, "Label": h, "Type": "varchar",
                            "Precision": 2147483647, "Scale": 0,
                            "Nullable": "UNKNOWN", "CaseSensitive": true })
                })
                .collect();
            let mut out = json!({
                "UpdateCount": 0,
                "ResultSet": { "Rows": data, "ResultSetMetadata": { "ColumnInfo": columns } },
            });
            if end < all.len() {
                out["NextToken"] = json!(end.to_string());
            }
            reply(StatusCode::OK, out)
        }
        "StopQueryExecution" => {
            let id = str_of(&req["QueryExecutionId"]).unwrap_or_default();
            let Some(q) = w.queries.get_mut(&id) else {
                return error("InvalidRequestException", "QueryExecution not found");
            };
            q.stopped = true;
            w.stopped.push(id);
            reply(StatusCode::OK, json!({}))
        }
        "GetWorkGroup" => {
            let name = str_of(&req["WorkGroup"]).unwrap_or_default();
            let mut config = json!({
                "EnforceWorkGroupConfiguration": true,
                "PublishCloudWatchMetricsEnabled": true,
                "RequesterPaysEnabled": false,
            });
            if let Some(c) = w.cutoff {
                config["BytesScannedCutoffPerQuery"] = json!(c);
            }
            reply(
                StatusCode::OK,
                json!({ "WorkGroup": { "Name": name, "State": "ENABLED", "Configuration": config } }),
            )
        }
        other => error(
            "UnknownOperationException",
            &format!("{other} is not served here"),
        ),
    }
}
