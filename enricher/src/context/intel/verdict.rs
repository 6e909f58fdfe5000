//! The threat-intel verdict scale, what a service's answer becomes (a
//! [`Report`] or a [`Failure`]), and the merge of every service's answer into
//! one section and the policy's `input.enrichment.intel.data`.
//!
//! The scale, worst last: `info` (nothing known, or nothing that rates it) <
//! `safe` (a service vouches for it: GreyNoise benign or RIOT, an AbuseIPDB
//! allow-listed address) < `suspicious` < `malicious`. An indicator's verdict
//! is the worst any service gives it; the alert's is the worst of its
//! indicators. Each service maps its own answer (see its file).
//!
//! No I/O here.

use super::super::{Found, LookupError};
use super::indicator::Picked;
use crate::alert::Table;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Info,
    Safe,
    Suspicious,
    Malicious,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Info => "info",
            Verdict::Safe => "safe",
            Verdict::Suspicious => "suspicious",
            Verdict::Malicious => "malicious",
        }
    }
}

/// What one service said about one indicator it knows.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub verdict: Verdict,
    /// The service's facts for the policy (`indicators.<value>.<service>`).
    pub data: serde_json::Map<String, serde_json::Value>,
    /// One cell of the issue table.
    pub summary: String,
    /// AbuseIPDB's confidence score (0-100), for `abuseipdb_score`.
    pub abuse_score: Option<u8>,
}

/// Why one service gave no answer for one indicator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// 401/403: the key is wrong, revoked or lacks the right. `code` is the
    /// service's error code when it gives one (never its message).
    KeyRefused {
        status: u16,
        code: Option<String>,
    },
    /// 429: hold further calls for `wait`.
    RateLimited {
        wait: Duration,
        detail: String,
    },
    Other(String),
}

/// One service's column: its id in the policy data and its heading.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub id: &'static str,
    pub label: &'static str,
}

/// A service's outcome for one indicator: `None` = the service does not take
/// this kind; `Ok(None)` = it does not know the indicator; `Err` = the reason
/// it failed (never a key).
pub type Outcome = Option<Result<Option<Report>, String>>;

/// The section from every service's outcome (`outcomes[indicator][column]`).
/// Every asked service failing for every indicator fails the section.
pub fn merge(
    columns: &[Column],
    picked: &Picked,
    outcomes: &[Vec<Outcome>],
) -> Result<Found, LookupError> {
    let asked = outcomes.iter().flatten().filter(|o| o.is_some()).count();
    let mut failures: BTreeMap<&str, usize> = BTreeMap::new();
    for reason in outcomes
        .iter()
        .flatten()
        .filter_map(|o| o.as_ref()?.as_ref().err())
    {
        *failures.entry(reason.as_str()).or_default() += 1;
    }
    if asked == 0 {
        return Ok(Found::default());
    }
    if failures.values().sum::<usize>() == asked {
        return Err(LookupError(
            failures.keys().copied().collect::<Vec<_>>().join("; "),
        ));
    }
    let mut table = Table {
        columns: ["Indicator", "Type", "Verdict"]
            .into_iter()
            .map(str::to_owned)
            .chain(columns.iter().map(|c| c.label.to_owned()))
            .collect(),
        rows: Vec::new(),
    };
    let mut overall = Verdict::Info;
    let mut abuse_score: Option<u8> = None;
    let mut indicators = serde_json::Map::new();
    for (indicator, row) in picked.indicators.iter().zip(outcomes) {
        let mut verdict = Verdict::Info;
        let mut entry = serde_json::Map::new();
        entry.insert("kind".into(), indicator.kind.as_str().into());
        let mut cells = Vec::with_capacity(columns.len());
        for (column, outcome) in columns.iter().zip(row) {
            let (cell, value) = match outcome {
                None => ("n/a".to_owned(), serde_json::Value::Null),
                Some(Err(_)) => ("lookup failed".to_owned(), serde_json::Value::Null),
                Some(Ok(None)) => ("not seen".to_owned(), serde_json::json!({"seen": false})),
                Some(Ok(Some(r))) => {
                    verdict = verdict.max(r.verdict);
                    if let Some(s) = r.abuse_score {
                        abuse_score = Some(abuse_score.map_or(s, |m| m.max(s)));
                    }
                    let mut data = r.data.clone();
                    data.insert("seen".into(), true.into());
                    data.insert("verdict".into(), r.verdict.as_str().into());
                    (r.summary.clone(), serde_json::Value::Object(data))
                }
            };
            cells.push(cell);
            entry.insert(column.id.into(), value);
        }
        overall = overall.max(verdict);
        entry.insert("verdict".into(), verdict.as_str().into());
        indicators.insert(indicator.value.clone(), serde_json::Value::Object(entry));
        let mut row = vec![
            indicator.value.clone(),
            indicator.kind.label().to_owned(),
            verdict.as_str().to_owned(),
        ];
        row.extend(cells);
        table.rows.push(row);
    }
    let mut notes: Vec<String> = failures
        .iter()
        .map(|(reason, n)| format!("Lookup failed for {n} indicator(s): {reason}."))
        .collect();
    if picked.over_limit > 0 {
        notes.push(format!(
            "{} more indicator(s) not looked up (limit per alert).",
            picked.over_limit
        ));
    }
    if picked.withheld > 0 {
        notes.push(format!(
            "{} private, reserved or internal indicator(s) not sent to any service.",
            picked.withheld
        ));
    }
    Ok(Found {
        table,
        notes,
        data: serde_json::json!({
            "verdict": overall.as_str(),
            "abuseipdb_score": abuse_score,
            "indicators": indicators,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::super::indicator::{Indicator, Kind};
    use super::*;

    fn report(verdict: Verdict, score: Option<u8>) -> Report {
        Report {
            verdict,
            data: serde_json::Map::new(),
            summary: format!("{verdict:?}"),
            abuse_score: score,
        }
    }

    #[test]
    fn the_worst_verdict_wins_and_all_failing_fails_the_section() {
        let columns = [
            Column {
                id: "virustotal",
                label: "VirusTotal",
            },
            Column {
                id: "abuseipdb",
                label: "AbuseIPDB",
            },
            Column {
                id: "greynoise",
                label: "GreyNoise",
            },
        ];
        let picked = Picked {
            indicators: vec![
                Indicator {
                    kind: Kind::Ip,
                    value: "185.220.101.1".into(),
                },
                Indicator {
                    kind: Kind::Ip,
                    value: "8.8.8.8".into(),
                },
                Indicator {
                    kind: Kind::File,
                    value: "a".repeat(64),
                },
            ],
            withheld: 1,
            over_limit: 0,
        };
        let outcomes = vec![
            vec![
                Some(Err("VirusTotal: daily budget of 500 requests spent".into())),
                Some(Ok(Some(report(Verdict::Suspicious, Some(40))))),
                Some(Ok(Some(report(Verdict::Malicious, None)))),
            ],
            vec![
                Some(Ok(None)),
                Some(Ok(Some(report(Verdict::Info, Some(0))))),
                Some(Ok(Some(report(Verdict::Safe, None)))),
            ],
            vec![Some(Ok(None)), None, None],
        ];
        let f = merge(&columns, &picked, &outcomes).unwrap();
        assert_eq!(f.data["verdict"], "malicious");
        assert_eq!(f.data["abuseipdb_score"], 40);
        let ind = &f.data["indicators"];
        assert_eq!(ind["185.220.101.1"]["verdict"], "malicious");
        assert_eq!(ind["185.220.101.1"]["virustotal"], serde_json::Value::Null);
        assert_eq!(ind["185.220.101.1"]["greynoise"]["verdict"], "malicious");
        assert_eq!(ind["8.8.8.8"]["verdict"], "safe");
        assert_eq!(
            ind["8.8.8.8"]["virustotal"],
            serde_json::json!({"seen": false})
        );
        assert_eq!(ind[&"a".repeat(64)]["verdict"], "info");
        assert_eq!(ind[&"a".repeat(64)]["kind"], "sha256");
        assert_eq!(
            f.table.rows[0],
            [
                "185.220.101.1",
                "IP",
                "malicious",
                "lookup failed",
                "Suspicious",
                "Malicious"
            ]
        );
        assert_eq!(f.table.rows[2][4], "n/a");
        assert_eq!(
            f.notes,
            [
                "Lookup failed for 1 indicator(s): VirusTotal: daily budget of 500 requests spent.",
                "1 private, reserved or internal indicator(s) not sent to any service."
            ]
        );

        let failing = vec![
            vec![
                Some(Err("VirusTotal refused the API key (HTTP 401)".into())),
                None,
                None,
            ],
            vec![
                Some(Err("VirusTotal refused the API key (HTTP 401)".into())),
                None,
                None,
            ],
            vec![
                Some(Err("VirusTotal: no answer within 4000 ms".into())),
                None,
                None,
            ],
        ];
        assert_eq!(
            merge(&columns, &picked, &failing),
            Err(LookupError(
                "VirusTotal refused the API key (HTTP 401); VirusTotal: no answer within 4000 ms"
                    .into()
            ))
        );
        let nothing_asked = vec![vec![None, None, None]; 3];
        assert_eq!(
            merge(&columns, &picked, &nothing_asked),
            Ok(Found::default())
        );
    }
}
