//! The policy's output (`data.falconry.decision`) read strictly into a
//! [`Decision`]: the contract's fields as a `#[derive(Deserialize)]` struct,
//! unknown fields refused, an empty string refused where `null` means none,
//! a repository checked as `owner/name`. A problem names its field's path.

use serde::Deserialize;
use serde_json::Value;

use super::PolicyError;
use crate::alert::Level;
use crate::decision::{Action, Decision};

/// The output, as the contract in `deploy/policies/README.md` says. Absent
/// lists are empty (a Rego set arrives as a list); absent or null strings
/// are none.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Output {
    action: Action,
    severity: Level,
    #[serde(default)]
    reasons: Vec<String>,
    #[serde(default)]
    labels: Vec<String>,
    #[serde(default)]
    assignees: Vec<String>,
    #[serde(default)]
    repo: Option<Repo>,
    #[serde(default)]
    slack_channel: Option<Text>,
    #[serde(default)]
    runbook: Option<Text>,
}

/// A string that is not empty (`null` says none).
struct Text(String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.is_empty() {
            return Err(serde::de::Error::custom("empty string (use null for none)"));
        }
        Ok(Text(s))
    }
}

/// `owner/name`.
struct Repo(String);

impl<'de> Deserialize<'de> for Repo {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Text(s) = Text::deserialize(d)?;
        if crate::tracker::split_repo(&s).is_none() {
            return Err(serde::de::Error::custom(format!("{s:?} is not owner/name")));
        }
        Ok(Repo(s))
    }
}

/// Maps the policy's output onto a [`Decision`], strictly.
pub(super) fn decision_from_output(output: &Value) -> Result<Decision, PolicyError> {
    // (serde would also read a struct from a list, by position: not here.)
    if !output.is_object() {
        return Err(PolicyError::Output {
            field: "decision".to_owned(),
            problem: format!("must be an object, got {output}"),
        });
    }
    let out: Output = serde_path_to_error::deserialize(output).map_err(|e| {
        let path = e.path().to_string();
        PolicyError::Output {
            field: if path == "." {
                "decision".to_owned()
            } else {
                path
            },
            problem: e.into_inner().to_string(),
        }
    })?;
    Ok(Decision {
        action: out.action,
        severity: out.severity,
        reasons: out.reasons,
        labels: out.labels,
        assignees: out.assignees,
        repo: out.repo.map(|r| r.0),
        slack_channel: out.slack_channel.map(|t| t.0),
        runbook: out.runbook.map(|t| t.0),
        policy_error: None,
    })
}
