//! The directory provider: who the alert's user is (display name, department, manager, Slack
//! id, e-mail, privileged) and what its host is (owner, team, criticality, business unit), from
//! a users file and an assets file (CSV or JSON, see `directory/records.rs`), each a local path
//! or an S3 object. A file is checked for a new version at most every `reload_check` (size and
//! modification time from a HEAD, then the ETag or content hash of what is read), on the lookup
//! that finds it due; one task checks while the others keep using the loaded version. A file
//! that cannot be read or parsed keeps the last good version in use and is logged; rows that
//! cannot be read are skipped and reported (count and first line numbers) in the log.
//!
//! The policy reads `input.enrichment.directory.data`: `privileged` (the user's flag, `null`
//! when unknown) and `criticality` (the host's, `null` when unknown), plus the `user` and
//! `asset` records.
//!
//! S3 gives modification times in whole seconds: a new version written within the same second
//! as the last one *and* of the same size is only seen at the next change.
//!
//! This file must not read a file in `build` (the first lookup does) and must not let one
//! broken file hide the other's answer.

mod records;

use super::{Found, LookupError, Provider};
use crate::alert::{Alert, Table};
use falconry_common::{Location, Store};
use futures::future::BoxFuture;
use records::{Format, Index, Kind};
use serde::Deserialize;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::time::Instant;

/// Larger directory files are refused (they are read whole into memory).
const MAX_BYTES: u64 = 64 * 1024 * 1024;
/// Bad rows named in the log per file version.
const BAD_ROWS_LOGGED: usize = 5;

/// `[enricher.context.directory]`: the user directory and asset inventory. Off when neither file
/// is set.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct DirectoryConfig {
    /// Users file: a local path (or `file://path`) or `s3://bucket/key`, ending in `.csv` or
    /// `.json`. Columns/keys: `name` (required), `display_name`, `department`, `manager`,
    /// `slack_id`, `email`, `privileged` (true/false, yes/no, 1/0). Default: unset.
    pub users: Option<String>,
    /// Assets file, as `users`. Columns/keys: `hostname` and/or `aid` (one required), `owner`,
    /// `team`, `criticality` (low, medium, high, critical), `business_unit`. Default: unset.
    pub assets: Option<String>,
    /// How often at most each file is checked for a new version. Default `1m`; `0s` checks on
    /// every alert.
    #[serde(with = "humantime_serde")]
    pub reload_check: Duration,
}

impl Default for DirectoryConfig {
    fn default() -> Self {
        DirectoryConfig {
            users: None,
            assets: None,
            reload_check: Duration::from_secs(60),
        }
    }
}

/// The provider for `config`, or `None` when no file is configured. `s3` is needed when a file
/// is on S3. Checks the locations (every problem listed) but reads nothing yet.
pub fn build(
    config: &DirectoryConfig,
    s3: Option<aws_sdk_s3::Client>,
) -> Result<Option<Arc<dyn Provider>>, String> {
    if config.users.is_none() && config.assets.is_none() {
        return Ok(None);
    }
    let mut errors = Vec::new();
    let mut open = |spec: &Option<String>, kind: Kind| {
        let spec = spec.as_deref()?;
        Source::open(spec, kind, config.reload_check, s3.as_ref())
            .map_err(|e| errors.push(format!("directory.{}: {e}", kind.as_str())))
            .ok()
    };
    let users = open(&config.users, Kind::Users);
    let assets = open(&config.assets, Kind::Assets);
    if !errors.is_empty() {
        return Err(errors.join("; "));
    }
    Ok(Some(Arc::new(Directory { users, assets })))
}

/// What the last check of a file found.
#[derive(Default)]
struct Check {
    next_at: Option<Instant>,
    /// Size and modification time of the version last read.
    stamp: Option<(u64, Option<i64>)>,
    /// ETag (S3) or content hash (local) of the version last read.
    tag: Option<String>,
    /// Why the file could not be read, while there is no good version.
    error: Option<String>,
}

/// One directory file and its last good version.
struct Source {
    kind: Kind,
    format: Format,
    store: Store,
    key: String,
    /// As configured, for logs and errors.
    shown: String,
    every: Duration,
    current: RwLock<Option<Arc<Index>>>,
    check: tokio::sync::Mutex<Check>,
}

impl Source {
    fn open(
        spec: &str,
        kind: Kind,
        every: Duration,
        s3: Option<&aws_sdk_s3::Client>,
    ) -> Result<Source, String> {
        let (store, key) = if spec.starts_with("s3://") {
            let location = Location::parse(spec)?;
            let key = location.prefix().to_owned();
            if key.is_empty() {
                return Err(format!("{spec:?}: no object key after the bucket"));
            }
            let store = Store::new(&location, s3.cloned())
                .map_err(|_| format!("{spec:?}: an S3 location needs an S3 client"))?;
            (store, key)
        } else {
            let path = Path::new(spec.strip_prefix("file://").unwrap_or(spec));
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                return Err(format!("{spec:?}: not a file path"));
            };
            let root = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
                _ => ".".into(),
            };
            (Store::local(root), name.to_owned())
        };
        let format =
            Format::of(&key).ok_or_else(|| format!("{spec:?}: expected a .csv or .json file"))?;
        Ok(Source {
            kind,
            format,
            store,
            key,
            shown: spec.to_owned(),
            every,
            current: RwLock::new(None),
            check: tokio::sync::Mutex::new(Check::default()),
        })
    }

    fn loaded(&self) -> Option<Arc<Index>> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The version to use now, after a check when one is due. Without any good version yet,
    /// the caller waits for the check; with one, it never waits for another task's check.
    async fn index(&self) -> Result<Arc<Index>, String> {
        let loaded = self.loaded();
        let mut check = match (&loaded, self.check.try_lock()) {
            (_, Ok(check)) => check,
            (Some(index), Err(_)) => return Ok(index.clone()),
            (None, Err(_)) => self.check.lock().await,
        };
        let now = Instant::now();
        if check.next_at.is_none_or(|at| now >= at) {
            check.next_at = Some(now + self.every);
            self.refresh(&mut check).await;
        }
        match self.loaded() {
            Some(index) => Ok(index),
            None => Err(check
                .error
                .clone()
                .unwrap_or_else(|| format!("{}: not read yet", self.shown))),
        }
    }

    fn failed(&self, check: &mut Check, error: String) {
        let error = format!("{}: {error}", self.shown);
        if self.loaded().is_some() {
            tracing::warn!(file = %self.shown, %error,
                "directory file cannot be read; the last good version stays in use");
        } else {
            tracing::warn!(file = %self.shown, %error, "directory file cannot be read");
        }
        check.error = Some(error);
    }

    async fn refresh(&self, check: &mut Check) {
        let info = match self.store.head(&self.key).await {
            Ok(Some(info)) => info,
            Ok(None) => return self.failed(check, "no such file or object".into()),
            Err(e) => return self.failed(check, e.to_string()),
        };
        let stamp = (info.size, info.modified_ms);
        let have = self.loaded().is_some();
        if have && check.stamp == Some(stamp) {
            return;
        }
        if info.size > MAX_BYTES {
            check.stamp = Some(stamp);
            return self.failed(
                check,
                format!("{} bytes, more than the {MAX_BYTES} allowed", info.size),
            );
        }
        let (bytes, tag) = match self.store.get_tagged(&self.key).await {
            Ok(Some(found)) => found,
            Ok(None) => return self.failed(check, "no such file or object".into()),
            Err(e) => return self.failed(check, e.to_string()),
        };
        check.stamp = Some(stamp);
        if have && check.tag.as_deref() == Some(tag.0.as_str()) {
            return;
        }
        check.tag = Some(tag.0);
        let (kind, format) = (self.kind, self.format);
        let parsed = tokio::task::spawn_blocking(move || records::parse(kind, format, &bytes))
            .await
            .unwrap_or_else(|e| Err(format!("parse task failed: {e}")));
        let index = match parsed {
            Ok(index) => index,
            Err(e) => return self.failed(check, e),
        };
        if !index.bad.is_empty() {
            let first = index
                .bad
                .iter()
                .take(BAD_ROWS_LOGGED)
                .map(|b| format!("line {}: {}", b.line, b.reason))
                .collect::<Vec<_>>();
            tracing::warn!(file = %self.shown, rows = index.rows, bad_rows = index.bad.len(),
                first = ?first, "directory file has rows that cannot be read; they are skipped");
        }
        tracing::info!(file = %self.shown, rows = index.rows, "directory file loaded");
        check.error = None;
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Arc::new(index));
    }
}

struct Directory {
    users: Option<Source>,
    assets: Option<Source>,
}

async fn index_of(source: &Option<Source>) -> Option<Result<Arc<Index>, String>> {
    match source {
        Some(s) => Some(s.index().await),
        None => None,
    }
}

fn push(rows: &mut Vec<Vec<String>>, field: &str, value: Option<&str>) {
    if let Some(v) = value {
        rows.push(vec![field.to_owned(), v.to_owned()]);
    }
}

impl Directory {
    async fn find(&self, alert: &Alert) -> Result<Found, LookupError> {
        let (users, assets) = tokio::join!(index_of(&self.users), index_of(&self.assets));
        let mut errors = Vec::new();
        let mut notes = Vec::new();
        let mut rows = Vec::new();

        let user = match (&users, alert.user.name.as_deref()) {
            (Some(Ok(index)), Some(name)) => {
                let found = index.user(name).cloned();
                if found.is_none() {
                    notes.push(format!("User {name} is not in the directory."));
                }
                found
            }
            (Some(Err(e)), Some(_)) => {
                errors.push(format!("users: {e}"));
                None
            }
            _ => None,
        };
        let (aid, hostname) = (alert.host.aid.as_deref(), alert.host.hostname.as_deref());
        let asset = match &assets {
            Some(Ok(index)) if aid.is_some() || hostname.is_some() => {
                let found = index.asset(aid, hostname).cloned();
                if found.is_none() {
                    notes.push(format!(
                        "Host {} is not in the asset inventory.",
                        alert.host_label()
                    ));
                }
                found
            }
            Some(Err(e)) if aid.is_some() || hostname.is_some() => {
                errors.push(format!("assets: {e}"));
                None
            }
            _ => None,
        };
        if user.is_none() && asset.is_none() {
            return if errors.is_empty() {
                Ok(Found::default())
            } else {
                Err(LookupError(errors.join("; ")))
            };
        }

        if let Some(u) = &user {
            let shown = match &u.display_name {
                Some(d) => format!("{} ({d})", u.name),
                None => u.name.clone(),
            };
            push(&mut rows, "User", Some(&shown));
            push(&mut rows, "Department", u.department.as_deref());
            push(&mut rows, "Manager", u.manager.as_deref());
            push(&mut rows, "E-mail", u.email.as_deref());
            push(&mut rows, "Slack", u.slack_id.as_deref());
            push(
                &mut rows,
                "Privileged",
                u.privileged.map(|p| if p { "yes" } else { "no" }),
            );
        }
        if let Some(a) = &asset {
            let shown = match (&a.hostname, &a.aid) {
                (Some(h), Some(aid)) => format!("{h} ({aid})"),
                (Some(h), None) => h.clone(),
                (None, Some(aid)) => aid.clone(),
                (None, None) => String::new(),
            };
            push(&mut rows, "Host", Some(&shown));
            push(&mut rows, "Owner", a.owner.as_deref());
            push(&mut rows, "Team", a.team.as_deref());
            push(
                &mut rows,
                "Criticality",
                a.criticality.map(records::Criticality::as_str),
            );
            push(&mut rows, "Business unit", a.business_unit.as_deref());
        }
        notes.extend(errors);
        Ok(Found {
            table: Table {
                columns: vec!["Field".to_owned(), "Value".to_owned()],
                rows,
            },
            notes,
            data: serde_json::json!({
                "user": user.as_deref(),
                "asset": asset.as_deref(),
                "privileged": user.as_ref().and_then(|u| u.privileged),
                "criticality": asset.as_ref().and_then(|a| a.criticality).map(records::Criticality::as_str),
            }),
        })
    }
}

impl Provider for Directory {
    fn id(&self) -> &'static str {
        "directory"
    }

    fn title(&self) -> &'static str {
        "Directory"
    }

    fn lookup<'a>(&'a self, alert: &'a Alert) -> BoxFuture<'a, Result<Found, LookupError>> {
        Box::pin(self.find(alert))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_and_locations_are_checked_without_reading() {
        let c: DirectoryConfig = toml::from_str("").unwrap();
        assert_eq!(c, DirectoryConfig::default());
        assert!(build(&c, None).unwrap().is_none());
        assert!(toml::from_str::<DirectoryConfig>("user = \"x.csv\"").is_err());
        let c: DirectoryConfig = toml::from_str(
            "users = \"/nowhere/users.csv\"\nassets = \"file:///nowhere/assets.json\"\nreload_check = \"10s\"",
        )
        .unwrap();
        assert_eq!(c.reload_check, Duration::from_secs(10));
        assert!(
            build(&c, None).unwrap().is_some(),
            "missing files are found at lookup"
        );
        let bad = DirectoryConfig {
            users: Some("s3://bucket/users.csv".into()),
            assets: Some("/etc/falconry/assets.xlsx".into()),
            ..DirectoryConfig::default()
        };
        let err = build(&bad, None).err().unwrap();
        assert!(
            err.contains(
                "directory.users: \"s3://bucket/users.csv\": an S3 location needs an S3 client"
            ),
            "{err}"
        );
        assert!(
            err.contains(
                "directory.assets: \"/etc/falconry/assets.xlsx\": expected a .csv or .json file"
            ),
            "{err}"
        );
        let no_key = DirectoryConfig {
            users: Some("s3://bucket".into()),
            ..DirectoryConfig::default()
        };
        assert!(
            build(&no_key, None)
                .err()
                .unwrap()
                .contains("no object key")
        );
    }
}
