//! The policy: a Rego program, evaluated in-process with regorus, decides
//! what happens to one alert (discard, Slack notice or issue), at which
//! severity, why, and where it goes. Input is `{alert, enrichment}` (see
//! [`input`]); the entry point is `data.falconry.decision`; the contract and
//! the routing data are documented in `deploy/policies/README.md`.
//!
//! Loading is strict: a policy that does not compile, lacks `decision`,
//! reports `config_errors` or fails on a built-in sample alert is a
//! configuration error. Evaluation is strict too ([`Policy::evaluate`]), and
//! [`Policy::decide`] turns any failure into [`Decision::fallback`] so one bad
//! alert never stops the daemon. Pure and synchronous: no network, no async,
//! no tracker or Slack calls; the only I/O is reading the policy and data
//! files at load. The engine is built without `http.send`.
//!
//! Here: loading, evaluating, deciding. `engine.rs` builds the regorus
//! engine from the files; `input.rs` makes the input (and the sample alert
//! every policy must decide on); `output.rs` reads the output;
//! `rego_tests.rs` runs the policy's own Rego tests.

mod engine;
mod input;
mod output;
mod rego_tests;
#[cfg(test)]
mod tests;

pub use input::{eval_input, input};
pub use rego_tests::{TestOutcome, run_tests};

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use regorus::Engine;
use serde::Deserialize;
use serde_json::Value;

use crate::alert::{Alert, Enrichment};
use crate::decision::Decision;
use engine::{build_engine, check_config};
use input::sample_input;
use output::decision_from_output;

/// The built-in policy, used when no policy file is configured.
const DEFAULT_POLICY: &str = include_str!("../../../deploy/policies/default.rego");
const DEFAULT_POLICY_NAME: &str = "<built-in>/default.rego";

const PACKAGE: &str = "data.falconry";
const DECISION_RULE: &str = "data.falconry.decision";
const CONFIG_ERRORS_RULE: &str = "data.falconry.config_errors";

/// Wall-clock budget of one evaluation; a policy that loops is stopped with an
/// error (and [`Policy::decide`] falls back) instead of hanging its task.
pub const EVAL_TIME_LIMIT: Duration = Duration::from_secs(1);

/// The longest policy error text a fallback decision carries and logs.
const MAX_ERROR_CHARS: usize = 2_000;

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read policy {path}: {source}")]
    ReadPolicy {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("policy directory {path} holds no .rego file (other than *_test.rego)")]
    EmptyPolicyDir { path: PathBuf },
    #[error("policy {path} does not compile: {message}")]
    Compile { path: String, message: String },
    #[error(
        "no policy file defines `decision` in package falconry (the entry point is {DECISION_RULE})"
    )]
    NoDecision,
    #[error("cannot read policy data {path}: {source}")]
    ReadData {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("policy data {path} is not a JSON object: {message}")]
    DataJson { path: PathBuf, message: String },
    #[error("policy data {path} conflicts with data loaded before it: {message}")]
    DataMerge { path: PathBuf, message: String },
    #[error("policy configuration errors: {}", .errors.join("; "))]
    Config { errors: Vec<String> },
    #[error("policy fails on the built-in sample alert: {0}")]
    Sample(#[source] Box<PolicyError>),
    #[error("not a policy input: {message}")]
    NotAnAlert { message: String },
    #[error("policy input is not a value the engine accepts: {message}")]
    Input { message: String },
    #[error("policy evaluation failed: {message}")]
    Eval { message: String },
    #[error("policy gives no decision for this input ({DECISION_RULE} is undefined)")]
    Undefined,
    #[error("policy output {field}: {problem}")]
    Output { field: String, problem: String },
}

/// A loaded, checked policy. Cheap to clone; usable from many tasks at once:
/// each evaluation works on its own copy of the prepared engine (a clone shares
/// the compiled policy and data; it was measured cheaper than serialising all
/// evaluations behind a lock, see `evaluate`).
#[derive(Clone)]
pub struct Policy {
    engine: Arc<Engine>,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy").finish_non_exhaustive()
    }
}

impl Policy {
    /// Loads the policy: `files` (Rego files, or directories whose `*.rego`
    /// files are loaded, `*_test.rego` excepted) replace the built-in policy;
    /// empty means the built-in one. `data` are JSON documents deep-merged into
    /// `data` in order (`{"falconry": {"routing": ..., "settings": ...}}`);
    /// empty means no routing and default settings.
    pub fn load(files: &[PathBuf], data: &[PathBuf]) -> Result<Policy, PolicyError> {
        Policy::load_with_limit(files, data, EVAL_TIME_LIMIT)
    }

    fn load_with_limit(
        files: &[PathBuf],
        data: &[PathBuf],
        limit: Duration,
    ) -> Result<Policy, PolicyError> {
        let (mut engine, has_config_errors) = build_engine(files, data, limit)?;
        if has_config_errors {
            check_config(&mut engine)?;
        }
        let policy = Policy {
            engine: Arc::new(engine),
        };
        // Also prepares the engine once, so clones skip the analysis.
        policy
            .evaluate(&sample_input())
            .map_err(|e| PolicyError::Sample(Box::new(e)))?;
        Ok(policy)
    }

    /// Evaluates `data.falconry.decision` over `input` and checks the result
    /// against the output contract: every error names the field.
    pub fn evaluate(&self, input: &Value) -> Result<Decision, PolicyError> {
        let input = regorus::Value::deserialize(input).map_err(|e| PolicyError::Input {
            message: e.to_string(),
        })?;
        // A clone of a prepared engine shares the parsed modules and data
        // (reference counted) and carries the time limit.
        let mut engine = Engine::clone(&self.engine);
        engine.set_input(input);
        let output = engine
            .eval_rule(DECISION_RULE.to_owned())
            .map_err(|e| PolicyError::Eval {
                message: engine_error(&e),
            })?;
        if output == regorus::Value::Undefined {
            return Err(PolicyError::Undefined);
        }
        let output = serde_json::to_value(&output).map_err(|e| PolicyError::Output {
            field: "decision".into(),
            problem: format!("not representable as JSON: {e}"),
        })?;
        decision_from_output(&output)
    }

    /// The decision for one alert. Never fails: on any policy error it logs a
    /// warning and returns [`Decision::fallback`] (an issue at Falcon's
    /// severity, carrying the error).
    pub fn decide(&self, alert: &Alert, enrichment: &Enrichment) -> Decision {
        match self.evaluate(&input(alert, enrichment)) {
            Ok(decision) => decision,
            Err(error) => {
                // Engine errors can quote input values: bounded, never the event.
                let error = truncate(error.to_string(), MAX_ERROR_CHARS);
                tracing::warn!(
                    alert_id = %alert.id,
                    kind = alert.kind.as_str(),
                    error = %error,
                    "policy failed on the alert; using the fallback decision"
                );
                Decision::fallback(alert.severity.level, error)
            }
        }
    }
}

/// An engine error as one string: the cause chain, without the leading
/// newline regorus puts before its source excerpt.
fn engine_error(e: &impl std::fmt::Display) -> String {
    format!("{e:#}").trim().to_owned()
}

/// At most `max` characters of `s`, marked when cut.
fn truncate(mut s: String, max: usize) -> String {
    if let Some((cut, _)) = s.char_indices().nth(max) {
        s.truncate(cut);
        s.push_str(" [...]");
    }
    s
}
