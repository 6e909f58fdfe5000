//! Building the regorus engine: the policy files (directories expanded,
//! tests left out) or the built-in policy, the data documents, the time
//! limit, no `http.send`; and the policy's own `config_errors`.

use std::path::{Path, PathBuf};

use regorus::Engine;
use regorus::utils::limits::ExecutionTimerConfig;
use serde_json::Value;

use super::*;

/// A fresh engine with the policy files and data added, and the time limit
/// set; and whether the policy declares `config_errors`.
pub(super) fn build_engine(
    files: &[PathBuf],
    data: &[PathBuf],
    limit: Duration,
) -> Result<(Engine, bool), PolicyError> {
    let mut engine = Engine::new();
    engine.set_execution_timer_config(ExecutionTimerConfig {
        limit,
        check_interval: std::num::NonZeroU32::MIN.saturating_add(31),
    });
    let mut sources = Vec::new();
    if files.is_empty() {
        sources.push((DEFAULT_POLICY_NAME.to_owned(), DEFAULT_POLICY.to_owned()));
    }
    for path in policy_files(files)? {
        let text = std::fs::read_to_string(&path).map_err(|source| PolicyError::ReadPolicy {
            path: path.clone(),
            source,
        })?;
        sources.push((path.display().to_string(), text));
    }
    let mut has_decision = false;
    let mut has_config_errors = false;
    for (name, text) in sources {
        let package = engine
            .add_policy(name.clone(), text)
            .map_err(|e| PolicyError::Compile {
                path: name.clone(),
                message: engine_error(&e),
            })?;
        if package == PACKAGE {
            let declares = |rule| {
                engine
                    .has_declared_rule_rooted_at(&name, rule)
                    .unwrap_or(false)
            };
            has_decision |= declares("decision");
            has_config_errors |= declares("config_errors");
        }
    }
    if !has_decision {
        return Err(PolicyError::NoDecision);
    }
    for path in data {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::ReadData {
            path: path.clone(),
            source,
        })?;
        let value = regorus::Value::from_json_str(&text).map_err(|e| PolicyError::DataJson {
            path: path.clone(),
            message: engine_error(&e),
        })?;
        if value.as_object().is_err() {
            return Err(PolicyError::DataJson {
                path: path.clone(),
                message: "the document must be an object, e.g. {\"falconry\": {\"routing\": ...}}"
                    .into(),
            });
        }
        engine.add_data(value).map_err(|e| PolicyError::DataMerge {
            path: path.clone(),
            message: engine_error(&e),
        })?;
    }
    Ok((engine, has_config_errors))
}

/// The policy files `files` names: files as given, directories expanded to
/// their `*.rego` files (sorted), test files excepted.
pub(super) fn policy_files(files: &[PathBuf]) -> Result<Vec<PathBuf>, PolicyError> {
    let mut out = Vec::new();
    for path in files {
        if !path.is_dir() {
            out.push(path.clone());
            continue;
        }
        let read_err = |source| PolicyError::ReadPolicy {
            path: path.clone(),
            source,
        };
        let mut found = Vec::new();
        for entry in std::fs::read_dir(path).map_err(read_err)? {
            let file = entry.map_err(read_err)?.path();
            if is_policy_file(&file) {
                found.push(file);
            }
        }
        if found.is_empty() {
            return Err(PolicyError::EmptyPolicyDir { path: path.clone() });
        }
        found.sort();
        out.extend(found);
    }
    Ok(out)
}

fn is_policy_file(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.ends_with(".rego") && !name.ends_with("_test.rego") && path.is_file()
}

/// Fails with every message of `data.falconry.config_errors` (the built-in
/// policy declares it: it checks settings and routing).
pub(super) fn check_config(engine: &mut Engine) -> Result<(), PolicyError> {
    let value = engine
        .eval_rule(CONFIG_ERRORS_RULE.to_owned())
        .map_err(|e| PolicyError::Config {
            errors: vec![format!(
                "evaluating {CONFIG_ERRORS_RULE}: {}",
                engine_error(&e)
            )],
        })?;
    let errors: Vec<String> = match serde_json::to_value(&value) {
        Ok(Value::Array(items)) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => s,
                other => other.to_string(),
            })
            .collect(),
        _ => Vec::new(),
    };
    if errors.is_empty() {
        Ok(())
    } else {
        Err(PolicyError::Config { errors })
    }
}
