//! Amazon Athena, as the enricher's history and the hunt's Athena engine
//! use it: [`AthenaConfig`] (a section's `athena` table, validated with
//! every problem at once) and [`Athena`], one query from start to answer.
//! It starts the
//! query in the configured workgroup and database, polls its state with a
//! growing interval until it SUCCEEDED, FAILED or was CANCELLED, stops it
//! (StopQueryExecution) when the deadline passes or when it has scanned more
//! than `max_bytes_scanned`, and reads the answer page by page (the first row
//! is the header). A query whose lookup is dropped half-way (the context's
//! own deadline) is stopped too. At start-up [`Athena::cutoff`] reads the
//! workgroup's per-query bytes-scanned cutoff.
//!
//! The SDK's retry configuration owns retries of single calls (throttling).
//! This file must not build SQL nor interpret the rows: its users do.

use aws_sdk_athena::Client;
use aws_sdk_athena::types::{QueryExecutionContext, QueryExecutionState, ResultConfiguration};
use backon::{BackoffBuilder, ExponentialBuilder};
use serde::Deserialize;
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// Why a query gave no answer. The text names query ids, never credentials.
#[derive(Debug, thiserror::Error)]
pub enum AthenaError {
    #[error("Athena {op}: {message}")]
    Athena { op: &'static str, message: String },
    #[error("Athena {op}: no answer before the deadline")]
    Deadline { op: &'static str },
    #[error("Athena query {id} {state}: {reason}")]
    QueryFailed {
        id: String,
        state: String,
        reason: String,
    },
    #[error("Athena query {id} still running after {after:?}: stopped")]
    TimedOut { id: String, after: Duration },
    #[error(
        "Athena query {id} scanned {scanned} bytes, more than max_bytes_scanned ({max}): stopped"
    )]
    TooCostly { id: String, scanned: u64, max: u64 },
}

/// A result table: the header row's names, then rows of optional cells.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rows {
    pub header: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
}

impl Rows {
    pub fn index(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }
}

/// A database name safe as a bare identifier: `[a-z0-9_]+`.
pub fn valid_database(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// A section's `athena` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AthenaConfig {
    /// Workgroup the queries run in. Default `primary`.
    pub workgroup: String,
    /// Database of the lake's tables (`deploy/athena/tables.sql`). Default `falconry`.
    pub database: String,
    /// `s3://bucket/prefix/` for query results. Default: the workgroup's.
    pub output_location: Option<String>,
    /// A query that has scanned more than this many bytes is stopped. Required
    /// unless the workgroup has a per-query bytes-scanned cutoff (checked at
    /// start-up). Default: none.
    pub max_bytes_scanned: Option<u64>,
    /// First wait between status polls; it grows ×1.5 up to 8 times this. Default `500ms`.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// A query still running after this is stopped (StopQueryExecution); keep
    /// it below the context deadline. Default `20s`.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for AthenaConfig {
    fn default() -> Self {
        AthenaConfig {
            workgroup: "primary".into(),
            database: "falconry".into(),
            output_location: None,
            max_bytes_scanned: None,
            poll_interval: Duration::from_millis(500),
            timeout: Duration::from_secs(20),
        }
    }
}

impl AthenaConfig {
    /// Every problem, each `<section>.<field> ...`.
    pub fn problems(&self, section: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut check = |ok: bool, msg: &str| {
            if !ok {
                out.push(format!("{section}.{msg}"));
            }
        };
        check(
            valid_database(&self.database),
            "database must match [a-z0-9_]+",
        );
        check(
            !self.workgroup.is_empty()
                && self.workgroup.len() <= 128
                && self
                    .workgroup
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)),
            "workgroup must be 1-128 of [A-Za-z0-9._-]",
        );
        check(
            self.output_location
                .as_deref()
                .is_none_or(|o| o.starts_with("s3://")),
            "output_location must be an s3:// URL",
        );
        check(
            self.max_bytes_scanned != Some(0),
            "max_bytes_scanned must be above 0",
        );
        check(
            self.poll_interval >= Duration::from_millis(10)
                && self.poll_interval <= Duration::from_secs(60),
            "poll_interval must be between 10ms and 60s",
        );
        check(!self.timeout.is_zero(), "timeout must be above 0");
        out
    }

    /// The client these settings describe.
    pub fn client(&self, sdk: &aws_config::SdkConfig) -> Athena {
        Athena {
            client: Client::new(sdk),
            workgroup: self.workgroup.clone(),
            database: self.database.clone(),
            output_location: self.output_location.clone(),
            max_bytes_scanned: self.max_bytes_scanned,
            poll_interval: self.poll_interval,
            timeout: self.timeout,
            max_rows: MAX_ROWS,
        }
    }

    /// The client, after checking (when `max_bytes_scanned` is unset) that
    /// the workgroup has a per-query bytes-scanned cutoff: a query billed by
    /// the byte is never unbounded.
    pub async fn bounded_client(&self, sdk: &aws_config::SdkConfig) -> Result<Athena, String> {
        let athena = self.client(sdk);
        if self.max_bytes_scanned.is_none() {
            let cutoff = athena
                .cutoff()
                .await
                .map_err(|e| format!("checking workgroup {:?}: {e}", self.workgroup))?;
            if cutoff.is_none_or(|c| c <= 0) {
                return Err(format!(
                    "workgroup {:?} has no per-query bytes-scanned cutoff; set one on the \
                     workgroup or set max_bytes_scanned",
                    self.workgroup
                ));
            }
        }
        Ok(athena)
    }
}

/// Rows read from one answer at most, unless [`Athena::max_rows`] says otherwise.
pub const MAX_ROWS: usize = 5_000;
/// Rows asked for per GetQueryResults page (Athena's maximum).
const PAGE_ROWS: i32 = 1000;
/// The poll interval grows up to this many times its start.
const MAX_POLL_FACTOR: u32 = 8;

/// Where and how queries run.
#[derive(Debug, Clone)]
pub struct Athena {
    pub client: Client,
    pub workgroup: String,
    pub database: String,
    pub output_location: Option<String>,
    pub max_bytes_scanned: Option<u64>,
    pub poll_interval: Duration,
    pub timeout: Duration,
    /// Rows read from an answer at most (the rest are not fetched).
    pub max_rows: usize,
}

/// A finished query's answer.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    pub id: String,
    pub rows: Rows,
    pub scanned_bytes: u64,
}

fn sdk<E, R>(op: &'static str) -> impl FnOnce(aws_sdk_athena::error::SdkError<E, R>) -> AthenaError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    move |e| AthenaError::Athena {
        op,
        message: crate::aws::error_text(&e),
    }
}

/// Stops the query if the lookup is dropped before it is finished.
struct Running {
    client: Client,
    id: String,
    armed: bool,
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (client, id) = (self.client.clone(), std::mem::take(&mut self.id));
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = client.stop_query_execution().query_execution_id(&id).send().await {
                    tracing::warn!(query = %id, error = %crate::aws::error_text(&e), "could not stop an abandoned Athena query");
                }
            });
        }
    }
}

impl Athena {
    /// The workgroup's per-query bytes-scanned cutoff, if it has one.
    pub async fn cutoff(&self) -> Result<Option<i64>, AthenaError> {
        let out = self
            .client
            .get_work_group()
            .work_group(&self.workgroup)
            .send()
            .await
            .map_err(sdk("GetWorkGroup"))?;
        Ok(out.work_group().and_then(|w| w.configuration()).and_then(
            aws_sdk_athena::types::WorkGroupConfiguration::bytes_scanned_cutoff_per_query,
        ))
    }

    /// Runs `sql` to its answer within the timeout.
    pub async fn run(&self, sql: String) -> Result<Answer, AthenaError> {
        let deadline = Instant::now() + self.timeout;
        let mut start = self
            .client
            .start_query_execution()
            .query_string(sql)
            .work_group(&self.workgroup)
            .query_execution_context(
                QueryExecutionContext::builder()
                    .database(&self.database)
                    .build(),
            );
        if let Some(out) = &self.output_location {
            start = start
                .result_configuration(ResultConfiguration::builder().output_location(out).build());
        }
        let started = within(deadline, start.send(), "StartQueryExecution")
            .await?
            .map_err(sdk("StartQueryExecution"))?;
        let Some(id) = started.query_execution_id().map(str::to_owned) else {
            return Err(AthenaError::Athena {
                op: "StartQueryExecution",
                message: "no QueryExecutionId in the answer".into(),
            });
        };
        let mut guard = Running {
            client: self.client.clone(),
            id: id.clone(),
            armed: true,
        };
        let result = self.finish(&id, deadline).await;
        if matches!(
            result,
            Err(AthenaError::TimedOut { .. } | AthenaError::TooCostly { .. })
        ) {
            self.stop(&id).await;
        }
        // Finished, failed or stopped: nothing left to stop on drop.
        guard.armed = matches!(result, Err(AthenaError::Athena { .. }));
        drop(guard);
        result
    }

    async fn stop(&self, id: &str) {
        if let Err(e) = self
            .client
            .stop_query_execution()
            .query_execution_id(id)
            .send()
            .await
        {
            tracing::warn!(query = %id, error = %crate::aws::error_text(&e), "could not stop an Athena query");
        }
    }

    async fn finish(&self, id: &str, deadline: Instant) -> Result<Answer, AthenaError> {
        let mut delays = ExponentialBuilder::default()
            .with_min_delay(self.poll_interval)
            .with_max_delay(self.poll_interval * MAX_POLL_FACTOR)
            .with_factor(1.5)
            .without_max_times()
            .build();
        let timed_out = || AthenaError::TimedOut {
            id: id.to_owned(),
            after: self.timeout,
        };
        let late = |e| match e {
            AthenaError::Deadline { .. } => timed_out(),
            e => e,
        };
        let scanned = loop {
            let out = within(
                deadline,
                self.client
                    .get_query_execution()
                    .query_execution_id(id)
                    .send(),
                "GetQueryExecution",
            )
            .await
            .map_err(late)?
            .map_err(sdk("GetQueryExecution"))?;
            let exec = out.query_execution();
            let status = exec.and_then(|e| e.status());
            let scanned = exec
                .and_then(|e| e.statistics())
                .and_then(aws_sdk_athena::types::QueryExecutionStatistics::data_scanned_in_bytes)
                .unwrap_or(0)
                .max(0) as u64;
            let state = status.and_then(|s| s.state());
            match state {
                Some(QueryExecutionState::Succeeded) => break scanned,
                Some(s @ (QueryExecutionState::Failed | QueryExecutionState::Cancelled)) => {
                    return Err(AthenaError::QueryFailed {
                        id: id.to_owned(),
                        state: s.as_str().to_owned(),
                        reason: status
                            .and_then(|s| s.state_change_reason())
                            .unwrap_or("no reason given")
                            .to_owned(),
                    });
                }
                _ => {}
            }
            if let Some(max) = self.max_bytes_scanned
                && scanned > max
            {
                return Err(AthenaError::TooCostly {
                    id: id.to_owned(),
                    scanned,
                    max,
                });
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(timed_out());
            }
            let delay = delays.next().unwrap_or(self.poll_interval);
            tokio::time::sleep(delay.min(deadline - now)).await;
        };
        let rows = self.results(id, deadline).await.map_err(late)?;
        Ok(Answer {
            id: id.to_owned(),
            rows,
            scanned_bytes: scanned,
        })
    }

    async fn results(&self, id: &str, deadline: Instant) -> Result<Rows, AthenaError> {
        let mut rows = Rows::default();
        let mut token: Option<String> = None;
        let mut first = true;
        loop {
            let page = within(
                deadline,
                self.client
                    .get_query_results()
                    .query_execution_id(id)
                    .max_results(PAGE_ROWS)
                    .set_next_token(token.take())
                    .send(),
                "GetQueryResults",
            )
            .await?
            .map_err(sdk("GetQueryResults"))?;
            for row in page
                .result_set()
                .map(aws_sdk_athena::types::ResultSet::rows)
                .unwrap_or_default()
            {
                let cells: Vec<Option<String>> = row
                    .data()
                    .iter()
                    .map(|d| d.var_char_value().map(str::to_owned))
                    .collect();
                if first {
                    rows.header = cells.into_iter().map(Option::unwrap_or_default).collect();
                    first = false;
                } else if rows.rows.len() < self.max_rows {
                    rows.rows.push(cells);
                }
            }
            match page.next_token() {
                Some(t) if rows.rows.len() < self.max_rows => token = Some(t.to_owned()),
                _ => return Ok(rows),
            }
        }
    }
}

/// `fut`, unless the deadline passes first.
async fn within<T>(
    deadline: Instant,
    fut: impl Future<Output = T>,
    op: &'static str,
) -> Result<T, AthenaError> {
    tokio::time::timeout_at(deadline, fut)
        .await
        .map_err(|_| AthenaError::Deadline { op })
}
