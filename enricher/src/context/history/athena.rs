//! The Athena back end's calls: one query from start to answer. It starts the
//! query in the configured workgroup and database, polls its state with a
//! growing interval until it SUCCEEDED, FAILED or was CANCELLED, stops it
//! (StopQueryExecution) when the deadline passes or when it has scanned more
//! than `max_bytes_scanned`, and reads the answer page by page (the first row
//! is the header). A query whose lookup is dropped half-way (the context's
//! own deadline) is stopped too. At start-up [`Athena::cutoff`] reads the
//! workgroup's per-query bytes-scanned cutoff.
//!
//! The SDK's retry configuration owns retries of single calls (throttling).
//! This file must not build SQL (that is `sql.rs`) nor interpret the rows.

use super::HistoryError;
use super::sql::Rows;
use aws_sdk_athena::Client;
use aws_sdk_athena::types::{QueryExecutionContext, QueryExecutionState, ResultConfiguration};
use backon::{BackoffBuilder, ExponentialBuilder};
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// Rows read from one answer at most (the queries ask for ~150).
const MAX_ROWS: usize = 5_000;
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
}

/// A finished query's answer.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    pub id: String,
    pub rows: Rows,
    pub scanned_bytes: u64,
}

fn sdk<E, R>(op: &'static str) -> impl FnOnce(aws_sdk_athena::error::SdkError<E, R>) -> HistoryError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    move |e| HistoryError::Athena {
        op,
        message: falconry_common::aws::error_text(&e),
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
                    tracing::warn!(query = %id, error = %falconry_common::aws::error_text(&e), "could not stop an abandoned Athena query");
                }
            });
        }
    }
}

impl Athena {
    /// The workgroup's per-query bytes-scanned cutoff, if it has one.
    pub async fn cutoff(&self) -> Result<Option<i64>, HistoryError> {
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
    pub async fn run(&self, sql: String) -> Result<Answer, HistoryError> {
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
            return Err(HistoryError::Athena {
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
            Err(HistoryError::TimedOut { .. } | HistoryError::TooCostly { .. })
        ) {
            self.stop(&id).await;
        }
        // Finished, failed or stopped: nothing left to stop on drop.
        guard.armed = matches!(result, Err(HistoryError::Athena { .. }));
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
            tracing::warn!(query = %id, error = %falconry_common::aws::error_text(&e), "could not stop an Athena query");
        }
    }

    async fn finish(&self, id: &str, deadline: Instant) -> Result<Answer, HistoryError> {
        let mut delays = ExponentialBuilder::default()
            .with_min_delay(self.poll_interval)
            .with_max_delay(self.poll_interval * MAX_POLL_FACTOR)
            .with_factor(1.5)
            .without_max_times()
            .build();
        let timed_out = || HistoryError::TimedOut {
            id: id.to_owned(),
            after: self.timeout,
        };
        let late = |e| match e {
            HistoryError::Deadline { .. } => timed_out(),
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
                    return Err(HistoryError::QueryFailed {
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
                return Err(HistoryError::TooCostly {
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

    async fn results(&self, id: &str, deadline: Instant) -> Result<Rows, HistoryError> {
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
                } else if rows.rows.len() < MAX_ROWS {
                    rows.rows.push(cells);
                }
            }
            match page.next_token() {
                Some(t) if rows.rows.len() < MAX_ROWS => token = Some(t.to_owned()),
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
) -> Result<T, HistoryError> {
    tokio::time::timeout_at(deadline, fut)
        .await
        .map_err(|_| HistoryError::Deadline { op })
}
