//! What the policy decided for one alert: the action, the severity it
//! assigns, why, and where the alert goes. Produced by `policy.rs`, consumed
//! by the pipeline, the renderer and the trackers.
//!
//! Pure data.

use crate::alert::Level;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Drop the alert (counted, logged at debug).
    Discard,
    /// A Slack notice only.
    Notify,
    /// An issue (opened, or commented on when it repeats), and a Slack notice
    /// when a channel is set.
    Issue,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Discard => "discard",
            Action::Notify => "notify",
            Action::Issue => "issue",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub action: Action,
    pub severity: Level,
    /// Why, in the policy's words (shown in the issue summary).
    pub reasons: Vec<String>,
    pub labels: Vec<String>,
    /// GitHub logins.
    pub assignees: Vec<String>,
    /// `owner/name`; `None` = the configured default repository.
    pub repo: Option<String>,
    /// Slack channel (`#soc-alerts`) for the webhook; `None` = the webhook's own.
    pub slack_channel: Option<String>,
    /// Runbook URL for this kind of alert (operator-written, not event data).
    pub runbook: Option<String>,
    /// Set when the policy failed on this alert and the fallback decision was used.
    pub policy_error: Option<String>,
}

impl Decision {
    /// The decision used when the policy fails on one alert: open an issue so
    /// nothing is silently dropped.
    pub fn fallback(severity: Level, error: impl Into<String>) -> Decision {
        Decision {
            action: Action::Issue,
            severity,
            reasons: vec!["policy error".into()],
            labels: vec!["policy-error".into()],
            assignees: Vec::new(),
            repo: None,
            slack_channel: None,
            runbook: None,
            policy_error: Some(error.into()),
        }
    }
}
