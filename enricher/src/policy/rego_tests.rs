//! The policy's own Rego tests (`*_test.rego`, rules named `test_*`), run by
//! `falconry policy test` and by `cargo test`.

use std::path::PathBuf;

use super::engine::build_engine;
use super::*;

/// The outcome of one Rego `test_*` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestOutcome {
    pub file: PathBuf,
    /// The rule's full path, `data.<package>.test_...`.
    pub rule: String,
    /// `None` when the rule evaluated to `true`; else what it gave.
    pub failure: Option<String>,
}

/// Runs OPA-style tests: loads the policy (`files` and `data` as in
/// [`Policy::load`]) and each test file, and evaluates every rule whose name
/// starts with `test_` (found as a line starting with `test_`, the layout
/// `opa fmt` writes). A test passes when its rule is `true`.
pub fn run_tests(
    files: &[PathBuf],
    data: &[PathBuf],
    tests: &[PathBuf],
) -> Result<Vec<TestOutcome>, PolicyError> {
    let (mut engine, _) = build_engine(files, data, EVAL_TIME_LIMIT)?;
    let mut rules = Vec::new();
    for path in tests {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::ReadPolicy {
            path: path.clone(),
            source,
        })?;
        let package = engine
            .add_policy(path.display().to_string(), text.clone())
            .map_err(|e| PolicyError::Compile {
                path: path.display().to_string(),
                message: engine_error(&e),
            })?;
        for name in test_rule_names(&text) {
            rules.push((path.clone(), format!("{package}.{name}")));
        }
    }
    let outcomes = rules
        .into_iter()
        .map(|(file, rule)| {
            let failure = match engine.eval_rule(rule.clone()) {
                Ok(regorus::Value::Bool(true)) => None,
                Ok(regorus::Value::Undefined) => Some("undefined".to_owned()),
                Ok(other) => Some(format!("evaluated to {other}")),
                Err(e) => Some(format!("error: {}", engine_error(&e))),
            };
            TestOutcome {
                file,
                rule,
                failure,
            }
        })
        .collect();
    Ok(outcomes)
}

/// Names of the `test_*` rules a Rego file declares, in order, once each.
pub(super) fn test_rule_names(text: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for line in text.lines() {
        if !line.starts_with("test_") {
            continue;
        }
        let end = line
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(line.len());
        let name = &line[..end];
        if !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
    }
    names
}
