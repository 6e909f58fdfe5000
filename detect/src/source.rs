//! Where rules come from: a directory or an S3 prefix (`dir`, `file://dir`,
//! `s3://bucket/prefix`), read whole, with a fingerprint of what was listed
//! so a watcher reloads only when something changed.

use crate::rules::{self, Loaded, RuleFile};
use falconry_common::{Location, Store, StoreError};
use futures::StreamExt;

/// Rule files larger than this are refused (a rule is a few KiB).
pub const MAX_RULE_FILE_BYTES: u64 = 1024 * 1024;
/// More files than this under one source are refused.
pub const MAX_RULE_FILES: usize = 50_000;
/// Rule files read at once.
const READS_IN_FLIGHT: usize = 16;

/// The rules' location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RulesSource {
    pub location: Location,
    /// As the operator wrote it (for messages).
    pub text: String,
}

impl RulesSource {
    /// `s3://bucket/prefix`, `file://dir`, or a plain directory path.
    pub fn parse(text: &str) -> Result<RulesSource, String> {
        let location = if text.starts_with("s3://") || text.starts_with("file://") {
            Location::parse(text)?
        } else if text.trim().is_empty() {
            return Err("empty: a directory or s3://bucket/prefix".into());
        } else {
            Location::Local {
                root: text.into(),
                prefix: String::new(),
            }
        };
        Ok(RulesSource {
            location,
            text: text.to_owned(),
        })
    }
}

/// What a listing saw: every file's key, size and time, sorted.
pub type Fingerprint = Vec<(String, u64, Option<i64>)>;

/// The files of a source: rules and their tests.
#[derive(Debug, Default)]
pub struct Files {
    pub rules: Vec<RuleFile>,
    pub tests: Vec<RuleFile>,
    pub fingerprint: Fingerprint,
    /// Files that could not be read, as load problems.
    pub unreadable: Vec<rules::Problem>,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("rules at {source_text}: {error}")]
    Store {
        source_text: String,
        #[source]
        error: StoreError,
    },
    #[error("rules at {0}: more than {MAX_RULE_FILES} files")]
    TooMany(String),
}

/// Lists the source (cheap: what a watcher polls).
pub async fn fingerprint(store: &Store, source: &RulesSource) -> Result<Fingerprint, SourceError> {
    let prefix = listing_prefix(source);
    let mut listed = store
        .list(&prefix)
        .await
        .map_err(|error| SourceError::Store {
            source_text: source.text.clone(),
            error,
        })?;
    listed.retain(|o| rules::is_rule_file(&o.key) || rules::is_test_file(&o.key));
    if listed.len() > MAX_RULE_FILES {
        return Err(SourceError::TooMany(source.text.clone()));
    }
    let mut out: Fingerprint = listed
        .into_iter()
        .map(|o| (o.key, o.size, o.modified_ms))
        .collect();
    out.sort();
    Ok(out)
}

fn listing_prefix(source: &RulesSource) -> String {
    let p = source.location.prefix();
    if p.is_empty() {
        String::new()
    } else {
        format!("{p}/")
    }
}

/// Reads every rule and test file of the source.
pub async fn read(store: &Store, source: &RulesSource) -> Result<Files, SourceError> {
    let fingerprint = fingerprint(store, source).await?;
    let prefix = listing_prefix(source);
    let mut files = Files::default();
    // Up to READS_IN_FLIGHT at once: a thousand rules in S3 are a thousand GETs.
    let jobs: Vec<(String, u64)> = fingerprint
        .iter()
        .map(|(k, s, _)| (k.clone(), *s))
        .collect();
    let reads = futures::stream::iter(jobs.into_iter().map(|(key, size)| {
        let store = store.clone();
        async move {
            let text = if size > MAX_RULE_FILE_BYTES {
                None
            } else {
                Some(store.get_bytes(&key).await)
            };
            (key, size, text)
        }
    }))
    .buffered(READS_IN_FLIGHT)
    .collect::<Vec<_>>()
    .await;
    for (key, size, got) in reads {
        let name = key.strip_prefix(&prefix).unwrap_or(&key).to_owned();
        let unreadable = |message: String| rules::Problem {
            severity: rules::Severity::Error,
            file: name.clone(),
            rule: None,
            message,
        };
        let text = match got {
            None => {
                files.unreadable.push(unreadable(format!(
                    "{size} bytes, over the {MAX_RULE_FILE_BYTES} byte limit for a rules file"
                )));
                continue;
            }
            Some(Ok(b)) if b.len() as u64 <= MAX_RULE_FILE_BYTES => {
                match String::from_utf8(b.to_vec()) {
                    Ok(t) => t,
                    Err(_) => {
                        files.unreadable.push(unreadable("not UTF-8".into()));
                        continue;
                    }
                }
            }
            Some(Ok(_)) => {
                files.unreadable.push(unreadable(format!(
                    "over the {MAX_RULE_FILE_BYTES} byte limit for a rules file"
                )));
                continue;
            }
            // Deleted between the listing and the read: the next poll sees it.
            Some(Err(e)) if e.is_not_found() => continue,
            Some(Err(error)) => {
                return Err(SourceError::Store {
                    source_text: source.text.clone(),
                    error,
                });
            }
        };
        let file = RuleFile { name, text };
        if rules::is_test_file(&key) {
            files.tests.push(file);
        } else {
            files.rules.push(file);
        }
    }
    files.fingerprint = fingerprint;
    Ok(files)
}

/// Reads and loads the rules of a source: the rules, every problem, and the
/// fingerprint they were read at.
pub async fn load(
    store: &Store,
    source: &RulesSource,
) -> Result<(Loaded, Fingerprint), SourceError> {
    let files = read(store, source).await?;
    let mut loaded = rules::load(&files.rules);
    loaded.problems.extend(files.unreadable);
    Ok((loaded, files.fingerprint))
}
