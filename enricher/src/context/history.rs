//! The `history` provider: what the alert's host (`aid`) did around the
//! detection, from the forwarder's lake: in the window either side of it, its
//! process starts (top images, first command lines), DNS requests (top
//! domains), outbound connections (top `ip:port`) and events by type; and
//! the host's newest `aidmaster` row and the user's newest `userinfo` row.
//!
//! Two back ends, chosen by `[enricher.context.history] backend`: `parquet`
//! reads the lake's files directly (`scan.rs` lists and bounds, `decode.rs`
//! prunes and decodes), `athena` asks Amazon Athena (`sql.rs` builds the
//! queries, `falconry_common::athena` runs them). Both end in `summary.rs`, which shapes
//! the issue section and the policy's `input.enrichment.history.data`;
//! `config.rs` holds `[enricher.context.history]`.
//!
//! This file holds the errors, [`build`] and the [`Provider`]; it must not
//! read Parquet, build SQL or call AWS itself.

mod config;
mod decode;
mod scan;
mod sql;
mod summary;

pub use config::{HistoryBackend, HistoryConfig};
pub use falconry_common::athena::AthenaConfig;

use super::cache::LookupCache;
use super::{Found, LookupError, Provider};
use crate::alert::Alert;
use falconry_common::athena::{self, AthenaError};
use falconry_common::aws::AwsSettings;
use falconry_common::lake::Layout;
use falconry_common::{Location, Store, StoreError, aws};
use futures::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;
use summary::{Activity, HOST_FIELDS, Provenance, Record, USER_FIELDS, Window};

/// Why a history lookup failed. The text is shown in the issue: keys and
/// query ids, never credentials.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("host id {0:?} is not 32 hex digits; not looked up")]
    BadAid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("reading {key}: {source}")]
    Decode {
        key: String,
        #[source]
        source: decode::DecodeError,
    },
    #[error("reading {key}: {message}")]
    Task { key: String, message: String },
    #[error(transparent)]
    Athena(#[from] AthenaError),
    #[error("Athena query {id}: {message}")]
    Answer { id: String, message: String },
    #[error("cannot build the query: {0}")]
    Query(&'static str),
}

/// The provider `config` asks for (`None` when off). The `athena` back end
/// checks the workgroup once (GetWorkGroup, only when `online`): without a
/// bytes-scanned cutoff there, `max_bytes_scanned` is required.
pub async fn build(
    config: &HistoryConfig,
    aws_settings: &AwsSettings,
    online: bool,
) -> Result<Option<Arc<dyn Provider>>, String> {
    config.validate().map_err(|e| e.join("; "))?;
    let source = match config.backend {
        HistoryBackend::Off => return Ok(None),
        HistoryBackend::Parquet => {
            let lake = config.lake.as_deref().unwrap_or_default();
            let location = Location::parse(lake)?;
            let client = match location {
                Location::S3 { .. } => Some(aws::s3_client(&aws::sdk_config(aws_settings).await)),
                Location::Local { .. } => None,
            };
            Source::Lake(scan::LakeScan {
                store: Store::new(&location, client)?,
                lake: Layout {
                    parquet: location.key(&config.parquet_prefix),
                    ..Layout::default()
                },
                max_files: config.max_files,
                max_bytes: config.max_bytes,
                lookup_days: config.lookup_days,
            })
        }
        HistoryBackend::Athena => {
            let a = &config.athena;
            let sdk = aws::sdk_config(aws_settings).await;
            let athena = if online {
                a.bounded_client(&sdk)
                    .await
                    .map_err(|e| format!("history.athena: {e}"))?
            } else {
                a.client(&sdk)
            };
            Source::Athena(athena)
        }
    };
    Ok(Some(Arc::new(History {
        source,
        window_ms: i64::try_from(config.window.as_millis()).unwrap_or(86_400_000),
        top: config.top,
        lookup_days: config.lookup_days,
        cache: LookupCache::new(1_000, Duration::from_secs(300), Duration::from_secs(60)),
    })))
}

enum Source {
    Lake(scan::LakeScan),
    Athena(athena::Athena),
}

/// Cache key: host, user, SID and the detection's minute.
type Key = (String, Option<String>, Option<String>, i64);

/// The provider.
pub struct History {
    source: Source,
    window_ms: i64,
    top: usize,
    lookup_days: u32,
    cache: LookupCache<Key, Found>,
}

impl Provider for History {
    fn id(&self) -> &'static str {
        "history"
    }

    fn title(&self) -> &'static str {
        "Host activity around the detection"
    }

    fn lookup<'a>(&'a self, alert: &'a Alert) -> BoxFuture<'a, Result<Found, LookupError>> {
        Box::pin(async move {
            let Some(raw) = alert.host.aid.as_deref() else {
                return Ok(Found::default());
            };
            let aid = sql::valid_aid(raw)
                .ok_or_else(|| LookupError(HistoryError::BadAid(raw.to_owned()).to_string()))?;
            let Some(window) = Window::around(alert.time_ms, self.window_ms) else {
                return Ok(Found::default());
            };
            let name = alert.user.name.as_deref().and_then(sql::bare_user);
            let sid = alert.user.sid.as_deref().and_then(sql::valid_sid);
            let key = (
                aid.clone(),
                name.clone(),
                sid.clone(),
                alert.time_ms.div_euclid(60_000),
            );
            let found = self
                .cache
                .get(key, async {
                    let f = match &self.source {
                        Source::Lake(lake) => self.ask_lake(lake, &aid, name, sid, window).await,
                        Source::Athena(a) => self.ask_athena(a, &aid, name, sid, window).await,
                    }
                    .map_err(|e| LookupError(e.to_string()))?;
                    Ok::<_, LookupError>((f != Found::default()).then_some(f))
                })
                .await?;
            Ok(found.unwrap_or_default())
        })
    }
}

/// A lookup row, or a note saying why it is missing.
fn row_or_note(
    what: &str,
    r: Result<(Option<Record>, Option<String>), HistoryError>,
    notes: &mut Vec<String>,
) -> Option<Record> {
    match r {
        Ok((row, partial)) => {
            if let (None, Some(why)) = (&row, partial) {
                notes.push(format!("{what} not found, search {why}."));
            }
            row
        }
        Err(e) => {
            notes.push(format!("{what} lookup failed: {e}"));
            None
        }
    }
}

impl History {
    async fn ask_lake(
        &self,
        lake: &scan::LakeScan,
        aid: &str,
        name: Option<String>,
        sid: Option<String>,
        window: Window,
    ) -> Result<Found, HistoryError> {
        let (events, host, user) = tokio::join!(
            lake.events(aid, window),
            lake.host(aid, window),
            lake.user(name, sid, window),
        );
        let (tally, scanned) = events?;
        let mut notes = Vec::new();
        let host = row_or_note(
            "aidmaster row",
            host.map(|(r, s)| (r, s.partial)),
            &mut notes,
        );
        let user = row_or_note(
            "userinfo row",
            user.map(|(r, s)| (r, s.partial)),
            &mut notes,
        );
        let activity = tally.into_activity(self.top);
        Ok(with_notes(
            summary::found(
                aid,
                window,
                &activity,
                host.as_ref(),
                user.as_ref(),
                &scanned.provenance(),
            ),
            notes,
        ))
    }

    async fn ask_athena(
        &self,
        a: &athena::Athena,
        aid: &str,
        name: Option<String>,
        sid: Option<String>,
        window: Window,
    ) -> Result<Found, HistoryError> {
        let host_fields = HOST_FIELDS.map(|f| f.0);
        let user_fields = USER_FIELDS.map(|f| f.0);
        let activity_sql = sql::activity_query(&a.database, aid, window, self.top)
            .ok_or(HistoryError::Query("invalid host id or database"))?;
        let host_sql = sql::host_query(&a.database, aid, window, self.lookup_days, &host_fields)
            .ok_or(HistoryError::Query("invalid host id or database"))?;
        let user_sql = sql::user_query(
            &a.database,
            name.as_deref(),
            sid.as_deref(),
            window,
            self.lookup_days,
            &user_fields,
        );
        let user_run = async {
            match user_sql {
                Some(q) => a.run(q).await.map(Some),
                None => Ok(None),
            }
        };
        let (events, host, user) = tokio::join!(a.run(activity_sql), a.run(host_sql), user_run);
        let events = events?;
        let activity: Activity =
            sql::read_activity(&events.rows).map_err(|message| HistoryError::Answer {
                id: events.id.clone(),
                message,
            })?;
        let mut notes = Vec::new();
        let host = host
            .map(|h| (sql::read_record(&h.rows, &["first_seen", "time"]), None))
            .map_err(HistoryError::from);
        let host = row_or_note("aidmaster row", host, &mut notes);
        let user = user
            .map(|u| {
                (
                    u.and_then(|u| {
                        sql::read_record(&u.rows, &["logon_time", "password_last_set", "time"])
                    }),
                    None,
                )
            })
            .map_err(HistoryError::from);
        let user = row_or_note("userinfo row", user, &mut notes);
        let over = a.max_bytes_scanned.filter(|m| events.scanned_bytes > *m);
        let how = Provenance {
            line: format!(
                "Athena: query {}, {} bytes scanned",
                events.id, events.scanned_bytes
            ),
            partial: None,
            data: serde_json::json!({
                "backend": "athena",
                "query_execution_id": events.id,
                "bytes": events.scanned_bytes,
            }),
        };
        if let Some(max) = over {
            notes.push(format!(
                "The query scanned {} bytes, more than max_bytes_scanned ({max}), before it could be stopped.",
                events.scanned_bytes
            ));
        }
        Ok(with_notes(
            summary::found(aid, window, &activity, host.as_ref(), user.as_ref(), &how),
            notes,
        ))
    }
}

/// Adds notes to a found section (a section with nothing found stays empty).
fn with_notes(mut f: Found, notes: Vec<String>) -> Found {
    if f != Found::default() {
        f.notes.extend(notes);
    }
    f
}
