//! Loading rules: Sigma YAML files → rules checked against the FDR mapping,
//! their field names rewritten to the keys the events are read by. Every
//! problem names its file (and rule); a bad file or rule is reported and
//! skipped, the others load.
//!
//! Pure over the files' texts (reading them is `source.rs`).

use crate::mapping::{self, Selected};
use rsigma_parser::{Detection, SigmaRule, SigmaValue, StringPart};
use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

/// One rules file, by the name problems report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleFile {
    pub name: String,
    pub text: String,
}

/// Whether a file name is a rules file (`.yml`/`.yaml`, not a test file).
pub fn is_rule_file(name: &str) -> bool {
    (name.ends_with(".yml") || name.ends_with(".yaml")) && !is_test_file(name)
}

/// Rule tests live beside their rules: `<rule>.tests.yml`.
pub fn is_test_file(name: &str) -> bool {
    name.ends_with(".tests.yml") || name.ends_with(".tests.yaml")
}

/// What a finding says of its rule (the lake's own record of it).
pub use falconry_common::lake::findings::FindingRule as RuleMeta;

/// A rule ready to compile.
#[derive(Debug, Clone)]
pub struct LoadedRule {
    pub meta: Arc<RuleMeta>,
    pub selected: Selected,
    /// Field names rewritten to mapping keys.
    pub rule: SigmaRule,
    /// The rule compiled (once, at load).
    pub compiled: rsigma_eval::CompiledRule,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The rule (or file) is skipped.
    Error,
    /// Loaded, but it may not do what its author meant.
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub severity: Severity,
    pub file: String,
    /// The rule's id or title, when the problem is one rule's.
    pub rule: Option<String>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        match &self.rule {
            Some(r) => write!(f, "{what}: {} ({r}): {}", self.file, self.message),
            None => write!(f, "{what}: {}: {}", self.file, self.message),
        }
    }
}

/// Rules and what was wrong with the rest.
#[derive(Debug, Default, Clone)]
pub struct Loaded {
    pub rules: Vec<LoadedRule>,
    pub problems: Vec<Problem>,
}

impl Loaded {
    pub fn errors(&self) -> usize {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .count()
    }
}

/// Loads every file; files are taken in name order so which of two rules
/// sharing an id wins does not depend on listing order.
pub fn load(files: &[RuleFile]) -> Loaded {
    let mut files: Vec<&RuleFile> = files.iter().collect();
    files.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out = Loaded::default();
    let mut ids = HashSet::new();
    for file in files {
        load_file(file, &mut ids, &mut out);
    }
    out
}

fn load_file(file: &RuleFile, ids: &mut HashSet<String>, out: &mut Loaded) {
    let problem = |severity, rule: Option<&str>, message: String| Problem {
        severity,
        file: file.name.clone(),
        rule: rule.map(str::to_owned),
        message,
    };
    let collection = match rsigma_parser::parse_sigma_yaml(&file.text) {
        Ok(c) => c,
        Err(e) => {
            out.problems.push(problem(
                Severity::Error,
                None,
                format!("not a Sigma rule: {e}"),
            ));
            return;
        }
    };
    for e in &collection.errors {
        out.problems.push(problem(Severity::Error, None, e.clone()));
    }
    for c in &collection.correlations {
        out.problems.push(problem(
            Severity::Warning,
            Some(&c.title),
            "correlation rules are not evaluated yet; skipped".into(),
        ));
    }
    for f in &collection.filters {
        out.problems.push(problem(
            Severity::Warning,
            Some(&f.title),
            "filter rules are not applied yet; skipped".into(),
        ));
    }
    if collection.is_empty() && collection.errors.is_empty() {
        out.problems
            .push(problem(Severity::Error, None, "holds no rule".into()));
    }
    for mut rule in collection.rules {
        let label = rule.id.clone().unwrap_or_else(|| rule.title.clone());
        let Some(id) = rule.id.clone().filter(|i| !i.trim().is_empty()) else {
            out.problems.push(problem(
                Severity::Error,
                Some(&label),
                "has no `id`: findings, issues and metrics name rules by id".into(),
            ));
            continue;
        };
        if !ids.insert(id.clone()) {
            out.problems.push(problem(
                Severity::Error,
                Some(&label),
                "another rule already has this id; skipped".into(),
            ));
            continue;
        }
        let ls = &rule.logsource;
        let selected = match mapping::select(
            ls.category.as_deref(),
            ls.product.as_deref(),
            ls.service.as_deref(),
        ) {
            Ok(s) => s,
            Err(e) => {
                out.problems.push(problem(Severity::Error, Some(&label), e));
                continue;
            }
        };
        let mut unmapped = Vec::new();
        let mut warnings = Vec::new();
        for detection in rule.detection.named.values_mut() {
            rewrite(detection, &selected, &mut unmapped, &mut warnings);
        }
        if !unmapped.is_empty() {
            unmapped.sort();
            unmapped.dedup();
            out.problems.push(problem(
                Severity::Error,
                Some(&label),
                format!(
                    "field(s) the FDR mapping cannot give for {}: {} (see docs/detections.md)",
                    selected
                        .category
                        .map_or("FDR-native rules".to_owned(), |c| format!(
                            "category {}",
                            c.name
                        )),
                    unmapped.join(", ")
                ),
            ));
            continue;
        }
        warnings.sort();
        warnings.dedup();
        for w in warnings {
            out.problems
                .push(problem(Severity::Warning, Some(&label), w));
        }
        // It must compile: check now, so the live engine never meets a rule it refuses.
        let compiled = match rsigma_eval::compile_rule(&rule) {
            Ok(c) => c,
            Err(e) => {
                out.problems.push(problem(
                    Severity::Error,
                    Some(&label),
                    format!("does not compile: {e}"),
                ));
                continue;
            }
        };
        let meta = RuleMeta {
            id,
            title: rule.title.clone(),
            level: rule.level.map_or("medium", |l| l.as_str()).to_owned(),
            status: rule.status.map(|s| format!("{s:?}").to_ascii_lowercase()),
            tags: rule.tags.clone(),
            falsepositives: rule.falsepositives.clone(),
            description: rule.description.clone(),
            file: file.name.clone(),
        };
        out.rules.push(LoadedRule {
            meta: Arc::new(meta),
            selected,
            rule,
            compiled,
        });
    }
}

/// Rewrites each field name to its mapping key; collects names the mapping
/// cannot give and uses it cannot honour.
fn rewrite(
    d: &mut Detection,
    selected: &Selected,
    unmapped: &mut Vec<String>,
    warnings: &mut Vec<String>,
) {
    match d {
        Detection::AllOf(items) => {
            for item in items {
                let Some(name) = item.field.name.clone() else {
                    continue;
                };
                match mapping::field(selected, &name) {
                    Some(key) => {
                        if name == "ParentImage" && !selected.native {
                            check_base_name(&item.values, warnings);
                        }
                        item.field.name = Some(key);
                    }
                    None => unmapped.push(name),
                }
            }
        }
        Detection::AnyOf(ds) | Detection::And(ds) => {
            for d in ds {
                rewrite(d, selected, unmapped, warnings);
            }
        }
        Detection::Keywords(_) => {}
        Detection::ArrayMatch { .. } | Detection::Conditional { .. } => {
            unmapped.push("an array quantifier (`field[any]`): FDR members are flat".into());
        }
    }
}

/// `ParentImage` is a base name in FDR: a value that needs the folder
/// (anything before the last `\` but a wildcard) can never match.
fn check_base_name(values: &[SigmaValue], warnings: &mut Vec<String>) {
    for v in values {
        let SigmaValue::String(s) = v else { continue };
        let text: String = s
            .parts
            .iter()
            .map(|p| match p {
                StringPart::Plain(t) => t.clone(),
                StringPart::Special(_) => "*".to_owned(),
            })
            .collect();
        if let Some((folder, _)) = text.rsplit_once('\\')
            && !folder.is_empty()
            && folder != "*"
        {
            warnings.push(format!(
                "ParentImage `{text}` names a folder, but FDR gives only the parent's file name (ParentBaseFileName): only the file name can match, the folder never does"
            ));
        }
    }
}
