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

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use regorus::Engine;
use regorus::utils::limits::ExecutionTimerConfig;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::alert::normalize::{Selection, event_type, normalize};
use crate::alert::{
    Alert, AlertKind, Enrichment, Host, Level, Mitre, Origin, Process, Severity, User,
};
use crate::decision::{Action, Decision};

/// The built-in policy, used when no policy file is configured.
const DEFAULT_POLICY: &str = include_str!("../../deploy/policies/default.rego");
const DEFAULT_POLICY_NAME: &str = "<built-in>/default.rego";

const PACKAGE: &str = "data.falconry";
const DECISION_RULE: &str = "data.falconry.decision";
const CONFIG_ERRORS_RULE: &str = "data.falconry.config_errors";

/// Wall-clock budget of one evaluation; a policy that loops is stopped with an
/// error (and [`Policy::decide`] falls back) instead of hanging its task.
pub const EVAL_TIME_LIMIT: Duration = Duration::from_secs(1);

/// The longest policy error text a fallback decision carries and logs.
const MAX_ERROR_CHARS: usize = 2_000;

/// The fields of the policy's output, in the order of the contract.
const OUTPUT_FIELDS: [&str; 8] = [
    "action",
    "severity",
    "reasons",
    "labels",
    "assignees",
    "repo",
    "slack_channel",
    "runbook",
];

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

/// The policy's input: `{"alert": <Alert as JSON>, "enrichment": {<provider>:
/// {status, reason, data}}}`.
pub fn input(alert: &Alert, enrichment: &Enrichment) -> Value {
    // Serialising the model cannot fail (derived, string keys only); a null
    // alert would make the policy fail and `decide` fall back.
    let alert = serde_json::to_value(alert).unwrap_or(Value::Null);
    serde_json::json!({ "alert": alert, "enrichment": enrichment.policy_input() })
}

/// The policy input for `falconry policy eval --input FILE`, from what the
/// file holds: a Falcon event (one stream line; `event_types` are the
/// configured extra alert types), a normalised alert, or a whole input
/// `{alert, enrichment}`. A hand-written alert is read with the model's serde
/// (unknown keys ignored, a missing optional field is null, a missing
/// required one is an error) and written back, so the policy sees exactly
/// what the daemon would give it.
pub fn eval_input(value: &Value, event_types: &[String]) -> Result<Value, PolicyError> {
    let not_an_alert = |message: String| PolicyError::NotAnAlert { message };
    let Some(obj) = value.as_object() else {
        return Err(not_an_alert("the input is not a JSON object".into()));
    };
    if let Some(alert) = obj.get("alert") {
        let alert = Alert::deserialize(alert).map_err(|e| not_an_alert(format!("alert: {e}")))?;
        let enrichment = match obj.get("enrichment") {
            None => Value::Object(Map::new()),
            Some(e @ Value::Object(_)) => e.clone(),
            Some(other) => {
                return Err(not_an_alert(format!(
                    "enrichment: must be an object ({{<provider>: {{status, reason, data}}}}), got {}",
                    type_name(other)
                )));
            }
        };
        let alert = serde_json::to_value(&alert).map_err(|e| not_an_alert(e.to_string()))?;
        return Ok(serde_json::json!({ "alert": alert, "enrichment": enrichment }));
    }
    if obj.contains_key("metadata") {
        let selection = Selection {
            extra: event_types.to_vec(),
        };
        let origin = Origin {
            object: "<input>".into(),
            line: 1,
            ..Origin::default()
        };
        return match normalize(value, &selection, origin) {
            Ok(Some(alert)) => Ok(input(&alert, &Enrichment::default())),
            Ok(None) => Err(not_an_alert(format!(
                "event type {:?} is not an alert type (extra types go in enricher.event_types)",
                event_type(value).unwrap_or_default()
            ))),
            Err(e) => Err(not_an_alert(e.to_string())),
        };
    }
    let alert = Alert::deserialize(value).map_err(|e| {
        not_an_alert(format!(
            "neither a Falcon event (no metadata), nor {{alert, enrichment}}, nor an alert ({e})"
        ))
    })?;
    Ok(input(&alert, &Enrichment::default()))
}

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
fn test_rule_names(text: &str) -> Vec<String> {
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

/// A fresh engine with the policy files and data added, and the time limit
/// set; and whether the policy declares `config_errors`.
fn build_engine(
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
fn policy_files(files: &[PathBuf]) -> Result<Vec<PathBuf>, PolicyError> {
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
fn check_config(engine: &mut Engine) -> Result<(), PolicyError> {
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

/// Maps the policy's output onto a [`Decision`], strictly.
fn decision_from_output(output: &Value) -> Result<Decision, PolicyError> {
    let Some(obj) = output.as_object() else {
        return Err(bad(
            "decision",
            format!("must be an object, got {}", type_name(output)),
        ));
    };
    if let Some(key) = obj.keys().find(|k| !OUTPUT_FIELDS.contains(&k.as_str())) {
        return Err(bad(
            key,
            format!(
                "unknown field (the output has {})",
                OUTPUT_FIELDS.join(", ")
            ),
        ));
    }
    let action = match required_str(obj, "action")? {
        "discard" => Action::Discard,
        "notify" => Action::Notify,
        "issue" => Action::Issue,
        other => {
            return Err(bad(
                "action",
                format!("unknown action {other:?} (expected discard, notify or issue)"),
            ));
        }
    };
    let severity = required_str(obj, "severity")?;
    let severity = [
        Level::Informational,
        Level::Low,
        Level::Medium,
        Level::High,
        Level::Critical,
    ]
    .into_iter()
    .find(|l| l.as_str() == severity)
    .ok_or_else(|| {
        bad(
            "severity",
            format!(
                "unknown level {severity:?} (expected informational, low, medium, high or critical)"
            ),
        )
    })?;
    let repo = optional_str(obj, "repo")?;
    if let Some(repo) = &repo {
        let valid = repo.split_once('/').is_some_and(|(owner, name)| {
            !owner.is_empty() && !name.is_empty() && !name.contains('/')
        });
        if !valid {
            return Err(bad("repo", format!("{repo:?} is not owner/name")));
        }
    }
    Ok(Decision {
        action,
        severity,
        reasons: string_list(obj, "reasons")?,
        labels: string_list(obj, "labels")?,
        assignees: string_list(obj, "assignees")?,
        repo,
        slack_channel: optional_str(obj, "slack_channel")?,
        runbook: optional_str(obj, "runbook")?,
        policy_error: None,
    })
}

fn bad(field: &str, problem: impl Into<String>) -> PolicyError {
    PolicyError::Output {
        field: field.to_owned(),
        problem: problem.into(),
    }
}

fn required_str<'a>(obj: &'a Map<String, Value>, field: &str) -> Result<&'a str, PolicyError> {
    match obj.get(field) {
        Some(Value::String(s)) => Ok(s),
        None => Err(bad(field, "missing")),
        Some(other) => Err(bad(
            field,
            format!("must be a string, got {}", type_name(other)),
        )),
    }
}

/// Absent or null is `None`; an empty string is an error (say null instead).
fn optional_str(obj: &Map<String, Value>, field: &str) -> Result<Option<String>, PolicyError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => {
            Err(bad(field, "empty string (use null for none)"))
        }
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(bad(
            field,
            format!("must be a string or null, got {}", type_name(other)),
        )),
    }
}

/// Absent is empty; a Rego set arrives as an array.
fn string_list(obj: &Map<String, Value>, field: &str) -> Result<Vec<String>, PolicyError> {
    match obj.get(field) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s.clone()),
                other => Err(bad(
                    &format!("{field}[{i}]"),
                    format!("must be a string, got {}", type_name(other)),
                )),
            })
            .collect(),
        Some(other) => Err(bad(
            field,
            format!("must be a list of strings, got {}", type_name(other)),
        )),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// The input every policy must decide on at load: an ordinary EPP detection
/// with no enrichment.
fn sample_input() -> Value {
    input(&sample_alert(), &Enrichment::default())
}

fn sample_alert() -> Alert {
    Alert {
        kind: AlertKind::Epp,
        event_type: "EppDetectionSummaryEvent".into(),
        id: "ldt:00000000000000000000000000000000:1".into(),
        cid: Some("00000000000000000000000000000000".into()),
        name: "Sample detection".into(),
        description: Some("The sample alert the policy is checked against at load.".into()),
        pattern_id: Some("10000".into()),
        severity: Severity {
            score: 50,
            level: Level::Medium,
        },
        time_ms: 1_700_000_000_000,
        start_ms: None,
        end_ms: None,
        host: Host {
            aid: Some("00000000000000000000000000000000".into()),
            hostname: Some("sample-host".into()),
            ..Host::default()
        },
        user: User {
            name: Some("sample-user".into()),
            ..User::default()
        },
        process: Process {
            file_name: Some("sample.exe".into()),
            ..Process::default()
        },
        parent: Process::default(),
        grandparent: Process::default(),
        ips: Vec::new(),
        domains: Vec::new(),
        hashes: Vec::new(),
        connections: Vec::new(),
        ioc: None,
        mitre: vec![Mitre {
            tactic: Some("Execution".into()),
            tactic_id: Some("TA0002".into()),
            technique: Some("Command and Scripting Interpreter".into()),
            technique_id: Some("T1059".into()),
        }],
        objective: None,
        disposition: None,
        console_url: None,
        origin: Origin::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policies_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/policies")
    }

    /// Every `*_test.rego` next to the default policy.
    fn rego_test_files() -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(policies_dir())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with("_test.rego"))
            .collect();
        files.sort();
        files
    }

    /// Panics naming every failed test rule.
    fn assert_rego_tests_pass(outcomes: &[TestOutcome]) {
        let failed: Vec<String> = outcomes
            .iter()
            .filter_map(|o| {
                o.failure
                    .as_ref()
                    .map(|f| format!("{} ({}): {f}", o.rule, o.file.display()))
            })
            .collect();
        assert!(
            failed.is_empty(),
            "{} Rego test(s) failed:\n{}",
            failed.len(),
            failed.join("\n")
        );
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn routing_example() -> Policy {
        Policy::load(&[], &[policies_dir().join("routing.json")]).unwrap()
    }

    fn alert(kind: AlertKind, level: Level, score: u8) -> Alert {
        let mut alert = sample_alert();
        alert.kind = kind;
        alert.severity = Severity { score, level };
        alert.host.hostname = Some("WS-0042".into());
        alert
    }

    fn section(provider: &str, data: Value) -> crate::alert::Section {
        crate::alert::Section {
            provider: provider.into(),
            title: provider.into(),
            status: crate::alert::Status::Available,
            table: crate::alert::Table::default(),
            notes: Vec::new(),
            data,
        }
    }

    /// A policy that returns `input.decision` when given, so a test can hand
    /// the output checks any value.
    fn echo_policy(dir: &Path) -> Policy {
        let file = write(
            dir,
            "echo.rego",
            "package falconry\nimport rego.v1\n\
             decision := object.get(input, \"decision\", {\"action\": \"issue\", \"severity\": \"low\"})\n",
        );
        Policy::load(&[file], &[]).unwrap()
    }

    #[test]
    fn policy_is_shareable_across_tasks() {
        fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}
        assert_send_sync::<Policy>();
    }

    #[test]
    fn input_has_alert_and_enrichment() {
        let enrichment = Enrichment {
            sections: vec![section("geoip", serde_json::json!({"country": "NL"}))],
        };
        let value = input(&sample_alert(), &enrichment);
        assert_eq!(value["alert"]["kind"], "epp");
        assert_eq!(value["alert"]["severity"]["level"], "medium");
        assert_eq!(value["alert"]["host"]["groups"], serde_json::json!([]));
        assert_eq!(value["enrichment"]["geoip"]["status"], "available");
        assert_eq!(value["enrichment"]["geoip"]["data"]["country"], "NL");
        assert_eq!(
            input(&sample_alert(), &Enrichment::default())["enrichment"],
            serde_json::json!({})
        );
    }

    #[test]
    fn builtin_policy_decides_the_sample() {
        let policy = Policy::load(&[], &[]).unwrap();
        let decision = policy.evaluate(&sample_input()).unwrap();
        assert_eq!(
            decision,
            Decision {
                action: Action::Issue,
                severity: Level::Medium,
                reasons: vec![
                    "Falcon rates this detection medium (score 50).".into(),
                    "Severity medium is at or above the issue threshold (medium): an issue.".into(),
                    "No routes configured: the default route.".into(),
                ],
                labels: vec![
                    "falconry".into(),
                    "severity:medium".into(),
                    "source:epp".into(),
                    "tactic:execution".into(),
                ],
                assignees: vec![],
                repo: None,
                slack_channel: None,
                runbook: None,
                policy_error: None,
            }
        );
    }

    #[test]
    fn epp_high_is_an_issue() {
        let policy = Policy::load(&[], &[]).unwrap();
        let d = policy.decide(
            &alert(AlertKind::Epp, Level::High, 70),
            &Enrichment::default(),
        );
        assert_eq!((d.action, d.severity), (Action::Issue, Level::High));
        assert!(d.labels.contains(&"severity:high".to_owned()));
        assert!(d.labels.contains(&"source:epp".to_owned()));
        assert_eq!(d.policy_error, None);
    }

    #[test]
    fn idp_medium_on_privileged_account_becomes_high() {
        let policy = Policy::load(&[], &[]).unwrap();
        let idp = alert(AlertKind::Idp, Level::Medium, 50);
        let d = policy.decide(&idp, &Enrichment::default());
        assert_eq!((d.action, d.severity), (Action::Issue, Level::Medium));
        let enrichment = Enrichment {
            sections: vec![section(
                "directory",
                serde_json::json!({"privileged": true}),
            )],
        };
        let d = policy.decide(&idp, &enrichment);
        assert_eq!((d.action, d.severity), (Action::Issue, Level::High));
        assert!(
            d.reasons
                .iter()
                .any(|r| r.contains("privileged account (sample-user, per the directory)"))
        );
    }

    #[test]
    fn intel_verdict_raises_a_low_alert() {
        let policy = Policy::load(&[], &[]).unwrap();
        let low = alert(AlertKind::Epp, Level::Low, 30);
        assert_eq!(
            policy.decide(&low, &Enrichment::default()).action,
            Action::Notify
        );
        let enrichment = Enrichment {
            sections: vec![section(
                "intel",
                serde_json::json!({"verdict": "malicious", "abuseipdb_score": 10}),
            )],
        };
        let d = policy.decide(&low, &enrichment);
        assert_eq!((d.action, d.severity), (Action::Issue, Level::High));
    }

    #[test]
    fn informational_is_discarded_unless_configured() {
        let dir = tempfile::tempdir().unwrap();
        let info = alert(AlertKind::Epp, Level::Informational, 5);
        let d = Policy::load(&[], &[])
            .unwrap()
            .decide(&info, &Enrichment::default());
        assert_eq!(
            (d.action, d.severity),
            (Action::Discard, Level::Informational)
        );
        let settings = write(
            dir.path(),
            "settings.json",
            r#"{"falconry": {"settings": {"notify_from": "informational"}}}"#,
        );
        let d = Policy::load(&[], &[settings])
            .unwrap()
            .decide(&info, &Enrichment::default());
        assert_eq!(d.action, Action::Notify);
    }

    #[test]
    fn routes_by_host_group() {
        let mut a = alert(AlertKind::Epp, Level::Medium, 50);
        a.host.groups = vec!["5c7f2a1e9d8b4c3a8e6f0d1b2a3c4d5e".into()];
        let d = routing_example().decide(&a, &Enrichment::default());
        assert_eq!(d.repo.as_deref(), Some("example-corp/soc-finance"));
        assert_eq!(d.slack_channel.as_deref(), Some("#soc-finance"));
        assert_eq!(d.assignees, vec!["fin-oncall".to_owned()]);
        assert!(d.labels.contains(&"team:finance".to_owned()));
        assert_eq!(
            d.runbook.as_deref(),
            Some("https://wiki.example.com/soc/runbooks/finance-hosts")
        );
    }

    #[test]
    fn routes_by_sensor_tag() {
        let mut a = alert(AlertKind::Epp, Level::High, 70);
        a.host.tags = vec!["FalconGroupingTags/Finance".into()];
        let d = routing_example().decide(&a, &Enrichment::default());
        assert_eq!(d.repo.as_deref(), Some("example-corp/soc-finance"));
        assert!(d.reasons.last().unwrap().contains("\"finance\""));
    }

    #[test]
    fn routes_by_hostname_pattern() {
        let mut a = alert(AlertKind::Epp, Level::High, 70);
        a.host.hostname = Some("fin-ws-0007".into());
        let d = routing_example().decide(&a, &Enrichment::default());
        assert_eq!(d.repo.as_deref(), Some("example-corp/soc-finance"));
        // Unset by the route: from the default route.
        assert_eq!(d.slack_channel.as_deref(), Some("#soc-alerts"));
        a.host.hostname = Some("dc01.corp.example.com".into());
        let d = routing_example().decide(&a, &Enrichment::default());
        assert_eq!(d.assignees, vec!["ad-oncall".to_owned()]);
        assert_eq!(d.repo, None);
    }

    #[test]
    fn unrouted_alert_takes_the_default_route() {
        let d = routing_example().decide(
            &alert(AlertKind::Epp, Level::High, 70),
            &Enrichment::default(),
        );
        assert_eq!(d.repo, None);
        assert_eq!(d.slack_channel.as_deref(), Some("#soc-alerts"));
        assert_eq!(
            d.runbook.as_deref(),
            Some("https://wiki.example.com/soc/runbooks/triage")
        );
        assert_eq!(
            d.reasons.last().map(String::as_str),
            Some("No route matched: the default route.")
        );
    }

    #[test]
    fn runtime_error_on_one_alert_falls_back_and_others_still_decide() {
        let dir = tempfile::tempdir().unwrap();
        // Two values for one complete rule when the host is BOOM: a runtime
        // conflict, for that alert only.
        let file = write(
            dir.path(),
            "conflict.rego",
            "package falconry\nimport rego.v1\n\
             severity := input.alert.severity.level\n\
             severity := \"critical\" if input.alert.host.hostname == \"BOOM\"\n\
             decision := {\"action\": \"notify\", \"severity\": severity}\n",
        );
        let policy = Policy::load(&[file], &[]).unwrap();
        let mut boom = alert(AlertKind::Epp, Level::Low, 30);
        boom.host.hostname = Some("BOOM".into());
        let d = policy.decide(&boom, &Enrichment::default());
        assert_eq!(d.action, Action::Issue);
        assert_eq!(d.severity, Level::Low);
        assert_eq!(d.labels, vec!["policy-error".to_owned()]);
        let error = d.policy_error.unwrap();
        assert!(error.starts_with("policy evaluation failed"), "{error}");
        let d = policy.decide(
            &alert(AlertKind::Epp, Level::Low, 30),
            &Enrichment::default(),
        );
        assert_eq!(
            (d.action, d.severity, d.policy_error),
            (Action::Notify, Level::Low, None)
        );
    }

    #[test]
    fn a_policy_that_loops_is_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(
            dir.path(),
            "slow.rego",
            "package falconry\nimport rego.v1\n\
             spin := count([1 | some i in numbers.range(1, 5000); some j in numbers.range(1, 5000)]) \
             if input.alert.host.hostname == \"SLOW\"\n\
             decision := {\"action\": \"notify\", \"severity\": \"low\", \"reasons\": [sprintf(\"%v\", [spin])]} \
             if input.alert.host.hostname == \"SLOW\"\n\
             else := {\"action\": \"notify\", \"severity\": \"low\"}\n",
        );
        let policy = Policy::load_with_limit(&[file], &[], Duration::from_millis(50)).unwrap();
        let mut slow = alert(AlertKind::Epp, Level::Low, 30);
        slow.host.hostname = Some("SLOW".into());
        let started = std::time::Instant::now();
        let d = policy.decide(&slow, &Enrichment::default());
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "took {:?}",
            started.elapsed()
        );
        let error = d.policy_error.unwrap();
        assert!(error.contains("time limit"), "{error}");
    }

    #[test]
    fn output_is_checked_field_by_field() {
        let dir = tempfile::tempdir().unwrap();
        let policy = echo_policy(dir.path());
        let eval = |decision: Value| policy.evaluate(&serde_json::json!({ "decision": decision }));
        let problem = |decision: Value| match eval(decision) {
            Err(PolicyError::Output { field, problem }) => format!("{field}: {problem}"),
            other => panic!("expected an output error, got {other:?}"),
        };
        assert_eq!(
            problem(serde_json::json!({"action": "page", "severity": "low"})),
            "action: unknown action \"page\" (expected discard, notify or issue)"
        );
        assert_eq!(
            problem(serde_json::json!({"action": "issue"})),
            "severity: missing"
        );
        assert_eq!(
            problem(serde_json::json!({"action": "issue", "severity": "urgent"})),
            "severity: unknown level \"urgent\" (expected informational, low, medium, high or critical)"
        );
        assert_eq!(
            problem(serde_json::json!({"action": 1, "severity": "low"})),
            "action: must be a string, got a number"
        );
        assert_eq!(
            problem(serde_json::json!({"action": "issue", "severity": "low", "labels": ["a", 2]})),
            "labels[1]: must be a string, got a number"
        );
        assert_eq!(
            problem(serde_json::json!({"action": "issue", "severity": "low", "assignees": "x"})),
            "assignees: must be a list of strings, got a string"
        );
        assert_eq!(
            problem(serde_json::json!({"action": "issue", "severity": "low", "repo": "nope"})),
            "repo: \"nope\" is not owner/name"
        );
        assert_eq!(
            problem(serde_json::json!({"action": "issue", "severity": "low", "runbook": ""})),
            "runbook: empty string (use null for none)"
        );
        assert!(
            problem(serde_json::json!({"action": "issue", "severity": "low", "assignee": []}))
                .starts_with("assignee: unknown field")
        );
        assert_eq!(
            problem(serde_json::json!(["issue"])),
            "decision: must be an object, got a list"
        );
        // Sets are lists; absent lists are empty; null is none.
        let d = eval(serde_json::json!({
            "action": "discard", "severity": "informational", "repo": null, "slack_channel": "#x",
        }))
        .unwrap();
        assert_eq!(
            (d.action, d.severity, d.repo, d.slack_channel),
            (
                Action::Discard,
                Level::Informational,
                None,
                Some("#x".into())
            )
        );
        assert!(d.reasons.is_empty() && d.labels.is_empty() && d.assignees.is_empty());
    }

    #[test]
    fn undefined_decision_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(
            dir.path(),
            "partial.rego",
            "package falconry\nimport rego.v1\n\
             decision := {\"action\": \"issue\", \"severity\": \"low\"} if input.alert.kind == \"epp\"\n",
        );
        let policy = Policy::load(&[file], &[]).unwrap();
        let d = policy.decide(
            &alert(AlertKind::Xdr, Level::High, 70),
            &Enrichment::default(),
        );
        assert_eq!(d.severity, Level::High);
        assert!(d.policy_error.unwrap().contains("undefined"));
    }

    #[test]
    fn load_errors() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let load = |files: &[PathBuf], data: &[PathBuf]| Policy::load(files, data).unwrap_err();

        let syntax = write(
            d,
            "syntax.rego",
            "package falconry\nimport rego.v1\ndecision := {\"action\": \n",
        );
        assert!(
            matches!(load(&[syntax], &[]), PolicyError::Compile { path, .. } if path.ends_with("syntax.rego"))
        );

        let v0 = write(d, "v0.rego", "package falconry\ndecision = x { x := 1 }\n");
        assert!(matches!(load(&[v0], &[]), PolicyError::Compile { .. }));

        let none = write(
            d,
            "none.rego",
            "package falconry\nimport rego.v1\nverdict := \"issue\"\n",
        );
        assert!(matches!(load(&[none], &[]), PolicyError::NoDecision));

        let elsewhere = write(
            d,
            "elsewhere.rego",
            "package other\nimport rego.v1\ndecision := {}\n",
        );
        assert!(matches!(load(&[elsewhere], &[]), PolicyError::NoDecision));

        let wrong = write(
            d,
            "wrong.rego",
            "package falconry\nimport rego.v1\ndecision := {\"action\": \"page\", \"severity\": \"low\"}\n",
        );
        let error = load(&[wrong], &[]);
        assert!(
            matches!(&error, PolicyError::Sample(inner) if matches!(**inner, PolicyError::Output { .. })),
            "{error}"
        );

        let missing = d.join("missing.rego");
        assert!(matches!(
            load(&[missing], &[]),
            PolicyError::ReadPolicy { .. }
        ));

        let empty_dir = d.join("empty");
        std::fs::create_dir(&empty_dir).unwrap();
        assert!(matches!(
            load(&[empty_dir], &[]),
            PolicyError::EmptyPolicyDir { .. }
        ));

        let not_json = write(d, "bad.json", "{\"falconry\": ");
        assert!(matches!(
            load(&[], &[not_json]),
            PolicyError::DataJson { .. }
        ));
        let list = write(d, "list.json", "[]");
        assert!(matches!(load(&[], &[list]), PolicyError::DataJson { .. }));

        let a = write(
            d,
            "a.json",
            r#"{"falconry": {"settings": {"issue_from": "high"}}}"#,
        );
        let b = write(
            d,
            "b.json",
            r#"{"falconry": {"settings": {"issue_from": "low"}}}"#,
        );
        assert!(matches!(load(&[], &[a, b]), PolicyError::DataMerge { .. }));

        let routing = write(
            d,
            "routing.json",
            r#"{"falconry": {"routing": {"routes": [{"match": {"hostname": ["FIN-*"]}, "repo": "x"}]}}}"#,
        );
        match load(&[], &[routing]) {
            PolicyError::Config { errors } => assert_eq!(
                errors,
                vec![
                    "routing.routes[0].match: unknown key \"hostname\" (expected one of [\"host_groups\", \"hostname_regexes\", \"hostnames\", \"kinds\", \"min_severity\", \"tags\"])".to_owned(),
                    "routing.routes[0].repo: x is not owner/name".to_owned(),
                ]
            ),
            other => panic!("expected config errors, got {other}"),
        }
    }

    #[test]
    fn a_directory_loads_its_policies_but_not_its_tests() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "a.rego",
            "package falconry\nimport rego.v1\ndecision := {\"action\": \"notify\", \"severity\": level}\n",
        );
        write(
            dir.path(),
            "b.rego",
            "package falconry\nimport rego.v1\nlevel := \"high\"\n",
        );
        write(
            dir.path(),
            "a_test.rego",
            "package falconry\nimport rego.v1\nlevel := \"low\"\n",
        );
        let policy = Policy::load(&[dir.path().to_path_buf()], &[]).unwrap();
        let d = policy.evaluate(&sample_input()).unwrap();
        assert_eq!((d.action, d.severity), (Action::Notify, Level::High));
    }

    #[test]
    fn the_example_routing_is_valid_for_the_builtin_policy() {
        routing_example();
    }

    #[test]
    fn eval_input_accepts_an_event_an_alert_or_a_whole_input() {
        let alert = sample_alert();
        let whole = input(&alert, &Enrichment::default());
        assert_eq!(eval_input(&whole, &[]).unwrap(), whole);
        let bare = serde_json::to_value(&alert).unwrap();
        assert_eq!(eval_input(&bare, &[]).unwrap(), whole);

        let event = serde_json::json!({
            "metadata": {"eventType": "EppDetectionSummaryEvent", "customerIDString": "c1", "offset": 7},
            "event": {"CompositeId": "c1:ind:a1:1", "Name": "Test", "Severity": 70, "Hostname": "WS-1"},
        });
        let from_event = eval_input(&event, &[]).unwrap();
        assert_eq!(from_event["alert"]["id"], "c1:ind:a1:1");
        assert_eq!(from_event["alert"]["severity"]["level"], "high");
        Policy::load(&[], &[])
            .unwrap()
            .evaluate(&from_event)
            .unwrap();

        let custom =
            serde_json::json!({"metadata": {"eventType": "CustomerIOCEvent"}, "event": {}});
        assert!(matches!(
            eval_input(&custom, &[]),
            Err(PolicyError::NotAnAlert { .. })
        ));
        let other = eval_input(&custom, &["CustomerIOCEvent".to_owned()]).unwrap();
        assert_eq!(other["alert"]["kind"], "other");

        let mut typo = bare.clone();
        typo["host"]["hostnme"] = typo["host"]["hostname"].take();
        typo["host"].as_object_mut().unwrap().remove("hostname");
        let mut typo = serde_json::json!({"alert": typo});
        // Unknown keys are ignored by the model's serde, missing required ones are not.
        typo["alert"].as_object_mut().unwrap().remove("severity");
        let error = eval_input(&typo, &[]).unwrap_err().to_string();
        assert!(error.contains("severity"), "{error}");
        assert!(eval_input(&serde_json::json!([1]), &[]).is_err());
        assert!(eval_input(&serde_json::json!({"alert": bare, "enrichment": []}), &[]).is_err());
    }

    /// Every field of `input.alert` is in the README's contract table.
    #[test]
    fn readme_documents_every_alert_field() {
        fn paths(prefix: &str, v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(map) => {
                    for (k, v) in map {
                        let path = format!("{prefix}.{k}");
                        paths(&path, v, out);
                        if !v.is_object() {
                            out.push(path);
                        }
                    }
                }
                Value::Array(items) => {
                    if let Some(first) = items.first() {
                        paths(&format!("{prefix}[]"), first, out);
                    }
                }
                _ => {}
            }
        }
        let mut alert = sample_alert();
        alert.connections = vec![crate::alert::Connection {
            remote_ip: "198.51.100.1".into(),
            remote_port: Some(443),
            local_ip: None,
            protocol: None,
        }];
        alert.ioc = Some(crate::alert::Ioc {
            kind: "domain".into(),
            value: "example.com".into(),
        });
        let readme = std::fs::read_to_string(policies_dir().join("README.md")).unwrap();
        let mut fields = Vec::new();
        paths("alert", &serde_json::to_value(&alert).unwrap(), &mut fields);
        assert!(fields.len() > 45, "{fields:?}");
        let missing: Vec<&String> = fields
            .iter()
            .filter(|f| !readme.contains(&format!("`{f}`")))
            .filter(|f| !f.starts_with("alert.parent.") && !f.starts_with("alert.grandparent."))
            .collect();
        assert!(missing.is_empty(), "README.md lacks {missing:?}");
    }

    #[test]
    fn long_errors_are_cut_on_a_char_boundary() {
        assert_eq!(truncate("abc".into(), 3), "abc");
        assert_eq!(truncate("aéc".into(), 2), "aé [...]");
    }

    #[test]
    fn test_rules_are_found_by_name() {
        let text = "package p\ntest_a if true\n\ttest_nested := 1\ntest_b if {\n}\ntest_a if false\nnot_test_c if true\n";
        assert_eq!(
            test_rule_names(text),
            vec!["test_a".to_owned(), "test_b".to_owned()]
        );
    }

    #[test]
    fn a_false_rego_test_is_reported_failing() {
        let dir = tempfile::tempdir().unwrap();
        let tests = write(
            dir.path(),
            "deliberate_test.rego",
            "package falconry_test\nimport data.falconry\nimport rego.v1\n\
             test_passes if falconry.levels[4] == \"critical\"\n\
             test_deliberately_false if {\n\tfalconry.levels[0] == \"critical\"\n}\n",
        );
        let outcomes = run_tests(&[policies_dir().join("default.rego")], &[], &[tests]).unwrap();
        let failed: Vec<&str> = outcomes
            .iter()
            .filter(|o| o.failure.is_some())
            .map(|o| o.rule.as_str())
            .collect();
        assert_eq!(outcomes.len(), 2);
        assert_eq!(failed, vec!["data.falconry_test.test_deliberately_false"]);
        let caught = std::panic::catch_unwind(|| assert_rego_tests_pass(&outcomes));
        assert!(caught.is_err(), "a failing Rego test must fail cargo test");
    }

    #[test]
    fn default_policy_rego_tests_pass() {
        let tests = rego_test_files();
        assert!(
            !tests.is_empty(),
            "no *_test.rego in {}",
            policies_dir().display()
        );
        let outcomes = run_tests(&[policies_dir().join("default.rego")], &[], &tests).unwrap();
        assert!(
            outcomes.len() >= 40,
            "only {} test rules found",
            outcomes.len()
        );
        assert_rego_tests_pass(&outcomes);
    }
}
