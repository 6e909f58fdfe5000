//! `falconry rules test`: loads and lints every rule, then runs the tests
//! kept beside them. `<name>.tests.yml` holds sample events for the rules of
//! `<name>.yml`:
//!
//! ```yaml
//! match:       # each event must fire every rule of the file
//!   - {event_simpleName: ProcessRollup2, event_platform: Win, CommandLine: "whoami /all"}
//! no_match:    # no event may fire any of them
//!   - {event_simpleName: ProcessRollup2, event_platform: Win, CommandLine: "notepad.exe"}
//! ```
//!
//! Events are written as FDR writes them (numbers as strings: `RemotePort:
//! "4444"`). Pure over the files.

use crate::detector::Detector;
use crate::rules::{self, Loaded, Problem, RuleFile, Severity};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    #[serde(default, rename = "match")]
    matches: Vec<yaml_serde::Value>,
    #[serde(default)]
    no_match: Vec<yaml_serde::Value>,
}

/// One sample event's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    pub file: String,
    /// `match` or `no_match`, and the 1-based position in that list.
    pub expect_match: bool,
    pub index: usize,
    /// What went wrong; `None` when it passed.
    pub failure: Option<String>,
}

#[derive(Debug, Default)]
pub struct Report {
    pub loaded: Loaded,
    /// Lint findings of rsigma's linter (errors fail the run).
    pub lint: Vec<Problem>,
    pub cases: Vec<Case>,
    /// Rule ids no test file covers.
    pub untested: Vec<String>,
}

impl Report {
    pub fn failed(&self) -> bool {
        self.loaded.errors() > 0
            || self.lint.iter().any(|p| p.severity == Severity::Error)
            || self.cases.iter().any(|c| c.failure.is_some())
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in self.loaded.problems.iter().chain(&self.lint) {
            writeln!(f, "{p}")?;
        }
        for c in self.cases.iter().filter(|c| c.failure.is_some()) {
            writeln!(
                f,
                "FAIL {} {}[{}]: {}",
                c.file,
                if c.expect_match { "match" } else { "no_match" },
                c.index,
                c.failure.as_deref().unwrap_or("")
            )?;
        }
        if !self.untested.is_empty() {
            let shown: Vec<&str> = self.untested.iter().take(20).map(String::as_str).collect();
            let more = self.untested.len() - shown.len();
            write!(
                f,
                "{} rule(s) without tests: {}",
                self.untested.len(),
                shown.join(", ")
            )?;
            if more > 0 {
                write!(f, ", … and {more} more")?;
            }
            writeln!(f)?;
        }
        let passed = self.cases.iter().filter(|c| c.failure.is_none()).count();
        write!(
            f,
            "{} rule(s) loaded, {} error(s), {} warning(s); {} of {} test event(s) passed: {}",
            self.loaded.rules.len(),
            self.loaded.errors()
                + self
                    .lint
                    .iter()
                    .filter(|p| p.severity == Severity::Error)
                    .count(),
            self.loaded
                .problems
                .iter()
                .chain(&self.lint)
                .filter(|p| p.severity == Severity::Warning)
                .count(),
            passed,
            self.cases.len(),
            if self.failed() { "FAILED" } else { "ok" }
        )
    }
}

/// Loads, lints and tests.
pub fn run(rule_files: &[RuleFile], test_files: &[RuleFile]) -> Report {
    let loaded = rules::load(rule_files);
    let lint = rule_files.iter().flat_map(lint).collect();
    let detector = Detector::new(&loaded.rules);
    let mut by_file: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for r in &loaded.rules {
        by_file
            .entry(r.meta.file.as_str())
            .or_default()
            .insert(r.meta.id.as_str());
    }
    let mut tested = BTreeSet::new();
    let mut cases = Vec::new();
    for t in test_files {
        let rule_file = t
            .name
            .strip_suffix(".tests.yml")
            .or_else(|| t.name.strip_suffix(".tests.yaml"))
            .unwrap_or(&t.name);
        let ids = [".yml", ".yaml"]
            .iter()
            .find_map(|ext| by_file.get(format!("{rule_file}{ext}").as_str()))
            .cloned()
            .unwrap_or_default();
        let fail = |index, expect_match, failure: String| Case {
            file: t.name.clone(),
            expect_match,
            index,
            failure: Some(failure),
        };
        if ids.is_empty() {
            cases.push(fail(
                0,
                true,
                format!("no rule loaded from {rule_file}.yml to test"),
            ));
            continue;
        }
        let file: TestFile = match yaml_serde::from_str(&t.text) {
            Ok(f) => f,
            Err(e) => {
                cases.push(fail(0, true, format!("not a test file: {e}")));
                continue;
            }
        };
        tested.extend(ids.iter().map(|s| (*s).to_owned()));
        for (expect_match, events) in [(true, &file.matches), (false, &file.no_match)] {
            for (i, event) in events.iter().enumerate() {
                let fired = match fire(&detector, event) {
                    Ok(f) => f,
                    Err(e) => {
                        cases.push(fail(i + 1, expect_match, e));
                        continue;
                    }
                };
                let fired_here: BTreeSet<&str> = ids
                    .iter()
                    .copied()
                    .filter(|id| fired.contains(*id))
                    .collect();
                let failure = if expect_match && fired_here.len() < ids.len() {
                    let missing: Vec<&str> = ids.difference(&fired_here).copied().collect();
                    Some(format!("did not fire {}", missing.join(", ")))
                } else if !expect_match && !fired_here.is_empty() {
                    let list: Vec<&str> = fired_here.into_iter().collect();
                    Some(format!("fired {}", list.join(", ")))
                } else {
                    None
                };
                cases.push(Case {
                    file: t.name.clone(),
                    expect_match,
                    index: i + 1,
                    failure,
                });
            }
        }
    }
    let untested = loaded
        .rules
        .iter()
        .map(|r| r.meta.id.clone())
        .filter(|id| !tested.contains(id))
        .collect();
    Report {
        loaded,
        lint,
        cases,
        untested,
    }
}

/// The rule ids one sample event fires.
pub fn fire(detector: &Detector, event: &yaml_serde::Value) -> Result<BTreeSet<String>, String> {
    let json = serde_json::to_value(event).map_err(|e| format!("event: {e}"))?;
    let serde_json::Value::Object(members) = json else {
        return Err("an event must be a mapping of FDR members".into());
    };
    let texts: Vec<(String, String)> = members
        .into_iter()
        .map(|(k, v)| (k, v.to_string()))
        .collect();
    let mut hits = Vec::new();
    detector.evaluate(
        texts.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        std::iter::empty(),
        &mut hits,
    );
    Ok(hits.into_iter().map(|h| h.rule.id.clone()).collect())
}

/// rsigma's linter over one file: its errors and warnings (hints and notes are left out).
fn lint(file: &RuleFile) -> Vec<Problem> {
    rsigma_parser::lint_yaml_str(&file.text)
        .into_iter()
        .filter_map(|w| {
            let severity = match w.severity {
                rsigma_parser::Severity::Error => Severity::Error,
                rsigma_parser::Severity::Warning => Severity::Warning,
                _ => return None,
            };
            let mut message = String::new();
            let _ = write!(message, "lint {}: {} (at {})", w.rule, w.message, w.path);
            Some(Problem {
                severity,
                file: file.name.clone(),
                rule: None,
                message,
            })
        })
        .collect()
}
