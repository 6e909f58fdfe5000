//! `[enricher.alerts]` (Falcon's Alerts API as a second source, and the
//! write-back) and `[enricher.response]` (conclusions, SLAs, reminders, the
//! weekly report), checked into [`ResponseSettings`], every problem at once.

use super::report::{Sla, Slas};
use crate::alert::Level;
use falconry_common::Secret;
use falconry_common::config::Problems;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

pub const ALERTS_KEY: &str = "enricher.alerts";
const RESPONSE_KEY: &str = "enricher.response";

/// `[enricher.alerts]`: poll Falcon's Alerts API for what the stream missed
/// and for status changes made in the console, and write conclusions back.
/// The API client needs the "Alerts: Read" scope, and "Alerts: Write" for
/// the write-back.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// Poll the Alerts API. Default `false`.
    pub enabled: bool,
    /// Falcon cloud: `us-1`, `us-2`, `eu-1`, `us-gov-1`, or `auto`. Default `us-1`.
    pub cloud: String,
    /// Base URL of the Falcon API instead of the cloud's (proxies, tests). Default: none.
    pub base_url: Option<String>,
    /// API client id (scopes "Alerts: Read" and "Alerts: Write"). Required when enabled.
    pub client_id: Option<String>,
    /// API client secret (never logged; prefer `FALCONRY__ENRICHER__ALERTS__CLIENT_SECRET`).
    /// Required when enabled.
    pub client_secret: Option<Secret>,
    /// Child CID to act for (Flight Control parents). Default: none.
    pub member_cid: Option<String>,
    /// How often to poll. Default `60s`.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Each poll looks this far behind the newest update already seen, so
    /// alerts sharing a timestamp or committed late are not skipped. Default `2m`.
    #[serde(with = "humantime_serde")]
    pub overlap: Duration,
    /// How far back the first poll looks. Default `24h`.
    #[serde(with = "humantime_serde")]
    pub start: Duration,
    /// Only these products (`epp`, `idp`, `xdr`, `ngsiem`, `data-protection`,
    /// `overwatch`, `thirdparty`, ...). Default: all.
    #[serde(deserialize_with = "falconry_common::config::string_or_list")]
    pub products: Vec<String>,
    /// Alerts a page asks for (at most 1000). Default 500.
    pub page_size: usize,
    /// The longest one call waits out 429s before the poll is left for the next round. Default `30s`.
    #[serde(with = "humantime_serde")]
    pub max_wait: Duration,
    /// Write conclusions and progress from the issues back to Falcon. Default `true`.
    pub write_back: bool,
    /// An alert closed in the Falcon console closes its issue (with a comment
    /// saying who closed it and with which tag). Default `true`.
    pub close_issues: bool,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            enabled: false,
            cloud: "us-1".into(),
            base_url: None,
            client_id: None,
            client_secret: None,
            member_cid: None,
            interval: Duration::from_secs(60),
            overlap: Duration::from_secs(120),
            start: Duration::from_secs(24 * 3600),
            products: Vec::new(),
            page_size: 500,
            max_wait: Duration::from_secs(30),
            write_back: true,
            close_issues: true,
        }
    }
}

/// One severity's SLA.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaConfig {
    /// Time to the first human response (assignment, label, comment or close).
    #[serde(with = "humantime_serde")]
    pub respond: Duration,
    /// Time to close.
    #[serde(with = "humantime_serde")]
    pub close: Duration,
}

/// `[enricher.response]`: how conclusions are read from the issues, the
/// SLAs, the reminders and the weekly report.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResponseConfig {
    /// Follow the issues falconry opened (first response, close, conclusion). Default `true`.
    pub enabled: bool,
    /// How often to look at the issues. Default `60s`.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// The label of each conclusion. Default `conclusion: true-positive`,
    /// `conclusion: false-positive`, `conclusion: benign`,
    /// `conclusion: duplicate`, `conclusion: test`. Keys: `true_positive`,
    /// `false_positive`, `benign`, `duplicate`, `test`, or your own.
    pub labels: BTreeMap<String, String>,
    /// SLAs by severity (`critical`, `high`, `medium`, `low`,
    /// `informational`), e.g. `critical = { respond = "15m", close = "4h" }`.
    /// Default: critical 15m/4h, high 1h/24h, medium 4h/3d, low 24h/7d.
    pub sla: BTreeMap<String, SlaConfig>,
    /// Post one reminder comment on each open case past its SLA. Default `true`.
    pub reminders: bool,
    /// Who a reminder mentions (`@org/soc-oncall`). Default: nobody.
    pub mention: Option<String>,
    /// Post the weekly report as an issue in this repository (`owner/name`). Default: not posted.
    pub report_repo: Option<String>,
}

impl Default for ResponseConfig {
    fn default() -> Self {
        ResponseConfig {
            enabled: true,
            interval: Duration::from_secs(60),
            labels: default_labels(),
            sla: BTreeMap::new(),
            reminders: true,
            mention: None,
            report_repo: None,
        }
    }
}

fn default_labels() -> BTreeMap<String, String> {
    super::case::CONCLUSIONS
        .iter()
        .map(|c| {
            (
                (*c).to_owned(),
                format!("conclusion: {}", c.replace('_', "-")),
            )
        })
        .collect()
}

/// The response loop's settings, checked.
#[derive(Debug, Clone)]
pub struct ResponseSettings {
    pub alerts: AlertsConfig,
    pub enabled: bool,
    pub interval: Duration,
    /// Label (lower case) → conclusion name.
    pub labels: BTreeMap<String, String>,
    pub slas: Slas,
    pub reminders: bool,
    pub mention: Option<String>,
    pub report_repo: Option<String>,
}

impl ResponseSettings {
    /// The conclusion a label names, if any.
    pub fn conclusion_of_label(&self, label: &str) -> Option<&str> {
        self.labels
            .get(&label.trim().to_lowercase())
            .map(String::as_str)
    }

    /// The label of a conclusion.
    pub fn label_of(&self, conclusion: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(_, c)| *c == conclusion)
            .map(|(l, _)| l.as_str())
    }

    pub fn defaults() -> ResponseSettings {
        // The defaults are valid.
        check(
            &AlertsConfig::default(),
            &ResponseConfig::default(),
            &mut Problems::new(),
        )
    }
}

/// Checks both sections; problems go to `p`.
pub fn check(
    alerts: &AlertsConfig,
    response: &ResponseConfig,
    p: &mut Problems,
) -> ResponseSettings {
    if alerts.enabled {
        let login = falconry_common::falcon_auth::Login {
            section: ALERTS_KEY,
            cloud: &alerts.cloud,
            base_url: alerts.base_url.as_deref(),
            client_id: alerts.client_id.as_deref(),
            client_secret: alerts.client_secret.as_ref(),
            member_cid: alerts.member_cid.as_deref(),
        };
        for problem in login.auth(reqwest::Client::new()).err().unwrap_or_default() {
            let (field, what) = problem.split_once(": ").unwrap_or(("", problem.as_str()));
            p.add(field, what);
        }
        if alerts.interval < Duration::from_secs(10) {
            p.add(&format!("{ALERTS_KEY}.interval"), "must be at least 10s");
        }
        if alerts.overlap > Duration::from_secs(3600) {
            p.add(&format!("{ALERTS_KEY}.overlap"), "must be at most 1h");
        }
        if alerts.start > Duration::from_secs(90 * 24 * 3600) {
            p.add(&format!("{ALERTS_KEY}.start"), "must be at most 90d");
        }
        if !(1..=super::falcon::PAGE_MAX).contains(&alerts.page_size) {
            p.add(&format!("{ALERTS_KEY}.page_size"), "must be 1 to 1000");
        }
        for product in &alerts.products {
            if product.is_empty()
                || !product
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
            {
                p.add(
                    &format!("{ALERTS_KEY}.products"),
                    format!("{product:?} is not a product name (lower case, digits, - and _)"),
                );
            }
        }
    }
    if response.interval < Duration::from_secs(5) {
        p.add(&format!("{RESPONSE_KEY}.interval"), "must be at least 5s");
    }
    let mut labels = BTreeMap::new();
    for (conclusion, label) in &response.labels {
        let name = super::case::conclusion_name(conclusion);
        if name.is_empty() || name == super::case::UNSPECIFIED {
            p.add(
                &format!("{RESPONSE_KEY}.labels"),
                format!("{conclusion:?} cannot be a conclusion"),
            );
        }
        if label.trim().is_empty() || label.len() > 50 {
            p.add(
                &format!("{RESPONSE_KEY}.labels.{conclusion}"),
                "a label is 1 to 50 characters",
            );
        }
        if labels
            .insert(label.trim().to_lowercase(), name.clone())
            .is_some()
        {
            p.add(
                &format!("{RESPONSE_KEY}.labels.{conclusion}"),
                format!("{label:?} names two conclusions"),
            );
        }
    }
    let mut slas = Slas::defaults();
    for (level, sla) in &response.sla {
        match Level::parse(level) {
            Some(l) => {
                if sla.respond.is_zero() || sla.close < sla.respond {
                    p.add(
                        &format!("{RESPONSE_KEY}.sla.{level}"),
                        "respond must be more than zero and close at least respond",
                    );
                }
                slas.0.insert(
                    l,
                    Sla {
                        respond: sla.respond,
                        close: sla.close,
                    },
                );
            }
            None => p.add(
                &format!("{RESPONSE_KEY}.sla"),
                format!("{level:?} is not critical, high, medium, low or informational"),
            ),
        }
    }
    if let Some(r) = &response.report_repo
        && crate::tracker::split_repo(r).is_none()
    {
        p.add(
            &format!("{RESPONSE_KEY}.report_repo"),
            format!("{r:?} is not owner/name"),
        );
    }
    ResponseSettings {
        alerts: alerts.clone(),
        enabled: response.enabled,
        interval: response.interval,
        labels,
        slas,
        reminders: response.reminders,
        mention: response.mention.clone().filter(|m| !m.trim().is_empty()),
        report_repo: response.report_repo.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(alerts: &AlertsConfig, response: &ResponseConfig) -> Vec<String> {
        let mut p = Problems::new();
        check(alerts, response, &mut p);
        match p.into_result() {
            Ok(()) => Vec::new(),
            Err(falconry_common::config::ConfigError::Invalid(v)) => v,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn the_defaults_are_valid_and_name_the_five_conclusions() {
        assert!(problems(&AlertsConfig::default(), &ResponseConfig::default()).is_empty());
        let s = ResponseSettings::defaults();
        assert_eq!(
            s.conclusion_of_label("Conclusion: False-Positive"),
            Some("false_positive")
        );
        assert_eq!(s.label_of("benign"), Some("conclusion: benign"));
        assert_eq!(s.conclusion_of_label("bug"), None);
    }

    #[test]
    fn every_problem_of_both_sections_is_listed_without_the_secret() {
        let alerts = AlertsConfig {
            enabled: true,
            cloud: "mars-1".into(),
            client_secret: Some(falconry_common::Secret::new("s3cr3t-value")),
            interval: Duration::from_secs(1),
            page_size: 5000,
            products: vec!["EPP!".into()],
            ..AlertsConfig::default()
        };
        let mut response = ResponseConfig::default();
        response
            .labels
            .insert("benign".into(), "conclusion: test".into());
        response.sla.insert(
            "urgent".into(),
            SlaConfig {
                respond: Duration::from_secs(60),
                close: Duration::from_secs(600),
            },
        );
        response.sla.insert(
            "high".into(),
            SlaConfig {
                respond: Duration::from_secs(600),
                close: Duration::from_secs(60),
            },
        );
        response.report_repo = Some("not a repo".into());
        let found = problems(&alerts, &response).join("\n");
        for needle in [
            "enricher.alerts.client_id",
            "enricher.alerts.cloud",
            "enricher.alerts.interval",
            "enricher.alerts.page_size",
            "enricher.alerts.products",
            "names two conclusions",
            "\"urgent\" is not critical",
            "enricher.response.sla.high",
            "enricher.response.report_repo",
        ] {
            assert!(found.contains(needle), "{needle}: {found}");
        }
        assert!(!found.contains("s3cr3t"), "{found}");
    }

    #[test]
    fn an_sla_replaces_its_levels_default_only() {
        let mut response = ResponseConfig::default();
        response.sla.insert(
            "critical".into(),
            SlaConfig {
                respond: Duration::from_secs(300),
                close: Duration::from_secs(3600),
            },
        );
        let s = check(&AlertsConfig::default(), &response, &mut Problems::new());
        assert_eq!(
            s.slas.get(Level::Critical).map(|x| x.respond),
            Some(Duration::from_secs(300))
        );
        assert_eq!(s.slas.get(Level::High), Slas::defaults().get(Level::High));
    }
}
