//! Configuration loading shared by every daemon: a TOML file, then environment
//! overrides (`FALCONRY__SECTION__KEY=value`), then command-line flags, merged
//! into one table and deserialised strictly into the daemon's raw config type.
//!
//! This module only merges and deserialises. Each daemon validates its own raw
//! config into typed settings (collecting every problem at once) before any
//! network call; [`Problems`] is the shared way to collect those problems.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::fmt;
use std::path::{Path, PathBuf};

/// Prefix of environment variables that override configuration keys.
pub const ENV_PREFIX: &str = "FALCONRY__";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("configuration is not valid: {message}")]
    Shape { message: String },
    #[error("configuration has {} problem(s):\n{}", .0.len(), .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<String>),
}

/// An override of one key, e.g. `forwarder.queue = "dir:///tmp/q"` from a CLI flag.
#[derive(Debug, Clone)]
pub struct Override {
    pub path: Vec<String>,
    pub value: toml::Value,
}

impl Override {
    pub fn new(dotted: &str, value: impl Into<toml::Value>) -> Self {
        Override {
            path: dotted.split('.').map(str::to_owned).collect(),
            value: value.into(),
        }
    }
}

/// Loads `T` from an optional TOML file, the process environment, and `flags`
/// (applied last, so flags win).
pub fn load<T: DeserializeOwned>(
    file: Option<&Path>,
    flags: &[Override],
) -> Result<T, ConfigError> {
    load_from(file, std::env::vars(), flags)
}

/// Where and what a TOML syntax error is, never the text around it: the
/// line may hold a secret (`token = "ghp_…`).
fn syntax_message(text: &str, e: &toml::de::Error) -> String {
    match e.span() {
        Some(span) => {
            let before = &text.as_bytes()[..span.start.min(text.len())];
            let line = before.iter().filter(|b| **b == b'\n').count() + 1;
            let column = before.iter().rev().take_while(|b| **b != b'\n').count() + 1;
            format!("line {line}, column {column}: {}", e.message())
        }
        None => e.message().to_owned(),
    }
}

/// As [`load`], with the environment given explicitly (for tests).
pub fn load_from<T: DeserializeOwned>(
    file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
    flags: &[Override],
) -> Result<T, ConfigError> {
    let mut table = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?;
            text.parse::<toml::Table>()
                .map_err(|e| ConfigError::Syntax {
                    path: path.to_owned(),
                    message: syntax_message(&text, &e),
                })?
        }
        None => toml::Table::new(),
    };
    let mut env: Vec<(String, String)> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with(ENV_PREFIX))
        .collect();
    env.sort();
    for (key, value) in env {
        let path: Vec<String> = key[ENV_PREFIX.len()..]
            .split("__")
            .map(str::to_ascii_lowercase)
            .collect();
        if path.iter().any(String::is_empty) {
            continue;
        }
        set(&mut table, &path, env_value(&value));
    }
    for o in flags {
        set(&mut table, &o.path, o.value.clone());
    }
    deserialize_all(toml::Value::Table(table))
}

/// Deserializes `value`, reporting every key of the wrong type or unknown,
/// not only the first: each offending key is noted with its path and taken
/// out, and the rest is read again (a bounded number of times).
fn deserialize_all<T: DeserializeOwned>(mut value: toml::Value) -> Result<T, ConfigError> {
    let mut problems: Vec<String> = Vec::new();
    let mut removed: Vec<String> = Vec::new();
    for _ in 0..64 {
        match serde_path_to_error::deserialize::<_, T>(value.clone()) {
            Ok(t) if problems.is_empty() => return Ok(t),
            Ok(_) => break,
            Err(e) => {
                let path: Vec<String> = e
                    .path()
                    .iter()
                    .filter_map(|s| match s {
                        serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                        _ => None,
                    })
                    .collect();
                // The first line: toml appends the path again below it.
                let message = e.into_inner().to_string();
                let message = message.lines().next().unwrap_or_default().to_owned();
                // A key taken out for its type is then missing: not a new problem.
                let consequence = message
                    .strip_prefix("missing field `")
                    .and_then(|m| m.split('`').next())
                    .is_some_and(|field| {
                        let mut full = path.clone();
                        full.push(field.to_owned());
                        removed.contains(&full.join("."))
                    });
                if consequence {
                    break;
                }
                problems.push(if path.is_empty() {
                    message
                } else {
                    format!("{}: {message}", path.join("."))
                });
                if !remove(&mut value, &path) {
                    break;
                }
                removed.push(path.join("."));
            }
        }
    }
    Err(match problems.len() {
        1 => ConfigError::Shape {
            message: problems.remove(0),
        },
        _ => ConfigError::Invalid(problems),
    })
}

/// Removes the key at `path`; `false` when there is none (nothing to retry with).
fn remove(value: &mut toml::Value, path: &[String]) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut cur = value;
    for p in parents {
        match cur.get_mut(p.as_str()) {
            Some(v) => cur = v,
            None => return false,
        }
    }
    cur.as_table_mut()
        .is_some_and(|t| t.remove(last.as_str()).is_some())
}

/// Environment values are strings; numbers and booleans are recognised so that
/// `FALCONRY__FORWARDER__CONCURRENCY=8` sets an integer. Secrets accept both.
fn env_value(raw: &str) -> toml::Value {
    if let Ok(i) = raw.parse::<i64>() {
        return toml::Value::Integer(i);
    }
    match raw {
        "true" => toml::Value::Boolean(true),
        "false" => toml::Value::Boolean(false),
        _ => toml::Value::String(raw.to_owned()),
    }
}

/// A list of strings, or (as an environment variable must give it) one
/// string of comma-separated items: `serde(deserialize_with = "...")`.
pub fn string_or_list<'de, D>(d: D) -> Result<Vec<String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Either::deserialize(d)? {
        Either::One(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        Either::Many(v) => v,
    })
}

fn set(table: &mut toml::Table, path: &[String], value: toml::Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = table;
    for p in parents {
        let entry = cur
            .entry(p.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        let toml::Value::Table(t) = entry else { return };
        cur = t;
    }
    cur.insert(last.clone(), value);
}

/// Collects every validation problem so `check-config` can print them all at once.
#[derive(Debug, Default)]
pub struct Problems(Vec<String>);

impl Problems {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: &str, problem: impl fmt::Display) {
        self.0.push(format!("{field}: {problem}"));
    }

    /// Records the error of `result` under `field` and returns its value, if any.
    pub fn check<V, E: fmt::Display>(&mut self, field: &str, result: Result<V, E>) -> Option<V> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.add(field, e);
                None
            }
        }
    }

    pub fn into_result(self) -> Result<(), ConfigError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(self.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    /// A syntax error says where, never what the line holds (it may be a secret).
    #[test]
    fn syntax_errors_do_not_quote_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "[enricher.github]\ntoken = \"ghp_s3cr3tvalue\nrepo = 1\n",
        )
        .unwrap();
        let err = load_from::<toml::Table>(Some(&path), [], &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2"), "{err}");
        assert!(!err.contains("s3cr3t"), "the secret leaked: {err}");
    }

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct Root {
        forwarder: Section,
    }
    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct Section {
        queue: String,
        #[serde(default)]
        concurrency: Option<u32>,
        #[serde(default)]
        key: Option<crate::Secret>,
    }

    #[test]
    fn file_then_env_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "[forwarder]\nqueue = \"file\"\nconcurrency = 2\n").unwrap();
        let env = vec![
            (
                "FALCONRY__FORWARDER__CONCURRENCY".to_owned(),
                "8".to_owned(),
            ),
            ("FALCONRY__FORWARDER__KEY".to_owned(), "12345".to_owned()),
            ("UNRELATED".to_owned(), "x".to_owned()),
        ];
        let r: Root = load_from(
            Some(&path),
            env,
            &[Override::new("forwarder.queue", "flag")],
        )
        .unwrap();
        assert_eq!(r.forwarder.queue, "flag");
        assert_eq!(r.forwarder.concurrency, Some(8));
        assert_eq!(r.forwarder.key.unwrap().expose(), "12345");
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_name() {
        let err = load_from::<Root>(
            None,
            vec![("FALCONRY__FORWARDER__QUEUEE".to_owned(), "x".to_owned())],
            &[Override::new("forwarder.queue", "q")],
        )
        .unwrap_err();
        assert!(err.to_string().contains("queuee"), "{err}");
    }

    /// One wrong type does not hide the others (nor an unknown key): each is
    /// named with its path, in one error.
    #[test]
    fn every_wrong_type_and_unknown_key_is_reported_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "[forwarder]\nqueue = 5\nconcurrency = \"four\"\nqueuee = 1\nkey = \"s3cr3t\"\n",
        )
        .unwrap();
        let err = load_from::<Root>(Some(&path), Vec::new(), &[]).unwrap_err();
        let ConfigError::Invalid(problems) = &err else {
            panic!("{err}")
        };
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(
            problems.iter().any(|p| p.starts_with("forwarder.queue:")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("forwarder.concurrency:")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.contains("queuee")),
            "{problems:?}"
        );
        assert!(!err.to_string().contains("s3cr3t"));
    }

    #[test]
    fn problems_are_collected() {
        let mut p = Problems::new();
        p.add("a", "bad");
        p.add("b", "worse");
        let msg = p.into_result().unwrap_err().to_string();
        assert!(msg.contains("2 problem") && msg.contains("a: bad") && msg.contains("b: worse"));
    }
}
