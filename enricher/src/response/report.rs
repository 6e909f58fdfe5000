//! The time-to-respond report: from the cases (`case.rs`) and a window, the
//! figures a security team is measured by (cases opened, closed and open per
//! severity and per source; time to first response and to close against the
//! SLA; how cases ended; which rules to tune first; the oldest open cases;
//! cases per day) and falconry's own health, as JSON for dashboards
//! ([`Report`] serialises with plain field names) and as a Markdown report
//! ([`markdown`]) with two SVG charts (`svg.rs`).
//!
//! Pure: the caller reads the cases, passes the clock and writes the files.
//! Nothing here reads a clock, a store or the network, and the same input
//! gives the same bytes. Figures are counted, never guessed: a case closed
//! without a conclusion is listed as such.

use super::case::{Case, Closed, UNSPECIFIED};
use crate::alert::Level;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::time::Duration;

pub use super::svg::{daily_cases_svg, response_times_svg};

/// The levels, most severe first: the order of every per-severity list.
pub const LEVELS: [Level; 5] = [
    Level::Critical,
    Level::High,
    Level::Medium,
    Level::Low,
    Level::Informational,
];

/// Open cases listed in [`Report::oldest_open`].
pub const OLDEST_MAX: usize = 10;
/// Rules shown in the Markdown report (the JSON has them all).
const RULES_SHOWN: usize = 10;
/// Longest run of days in [`Report::daily`] (the last ones are kept).
const DAYS_MAX: i64 = 731;
const DAY_MS: i64 = 86_400_000;
/// What an empty Markdown cell or figure shows.
const DASH: &str = "—";
/// The source name of the overall row of [`Report::conclusions`].
pub const ALL: &str = "all";

/// How fast a case of one level must be answered and closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sla {
    /// From the issue opening to the first human response.
    pub respond: Duration,
    /// From the issue opening to its close.
    pub close: Duration,
}

/// The SLA of each level; a level missing has none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Slas(pub BTreeMap<Level, Sla>);

impl Slas {
    /// Critical 15m / 4h, high 1h / 24h, medium 4h / 3d, low 24h / 7d,
    /// informational none.
    pub fn defaults() -> Slas {
        const MINUTE: u64 = 60;
        const HOUR: u64 = 60 * MINUTE;
        const DAY: u64 = 24 * HOUR;
        let sla = |respond: u64, close: u64| Sla {
            respond: Duration::from_secs(respond),
            close: Duration::from_secs(close),
        };
        Slas(BTreeMap::from([
            (Level::Critical, sla(15 * MINUTE, 4 * HOUR)),
            (Level::High, sla(HOUR, 24 * HOUR)),
            (Level::Medium, sla(4 * HOUR, 3 * DAY)),
            (Level::Low, sla(24 * HOUR, 7 * DAY)),
        ]))
    }

    pub fn get(&self, level: Level) -> Option<Sla> {
        self.0.get(&level).copied()
    }
}

/// falconry's own figures for the window, as the caller counted them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Health {
    /// Falcon alerts processed.
    pub alerts: u64,
    /// Findings of the organisation's rules and indicators.
    pub findings: u64,
    /// Alerts or findings that failed (and were sidelined or retried).
    pub failures: u64,
    /// Write-backs to Falcon not made yet.
    pub pending_writebacks: u64,
}

/// The report of one window `[since, until)`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Start of the window (RFC 3339, UTC).
    pub since: String,
    /// End of the window (exclusive): the clock the report was built at.
    pub until: String,
    /// When the report was made (= `until`).
    pub generated: String,
    pub totals: Totals,
    /// Critical first; only levels with a figure.
    pub by_severity: Vec<SeverityCounts>,
    /// Most opened first, then by name.
    pub by_source: Vec<SourceCounts>,
    pub response: ResponseTimes,
    /// Cases closed in the window by conclusion: one row per source (most
    /// closed first, then by name), then the overall row (source [`ALL`]).
    pub conclusions: Vec<Conclusions>,
    /// Rule and indicator sources, the ones to tune first first.
    pub rules: Vec<RuleTuning>,
    /// Cases closed in the window without a conclusion, first closed first.
    pub unspecified: Vec<CaseLink>,
    /// Up to [`OLDEST_MAX`] open cases, oldest first.
    pub oldest_open: Vec<OpenCase>,
    /// Cases opened per UTC day of the window, first day first.
    pub daily: Vec<Day>,
    pub health: Health,
}

/// The window's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Cases opened in the window.
    pub opened: u64,
    /// Cases closed in the window (whenever they were opened).
    pub closed: u64,
    /// Cases open at the end of the window, whatever their age.
    pub open: u64,
    /// Open cases past their first-response or close SLA.
    pub past_sla: u64,
}

/// [`Totals`] of one level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeverityCounts {
    pub severity: Level,
    pub opened: u64,
    pub closed: u64,
    pub open: u64,
    pub past_sla: u64,
}

/// [`Totals`] of one source (`epp`, `idp`, `rule:<id>`, `ioc:<feed>`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceCounts {
    pub source: String,
    pub opened: u64,
    pub closed: u64,
    pub open: u64,
    pub past_sla: u64,
}

/// Response times of the cases opened in the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResponseTimes {
    /// Every level together (each case against its own level's SLA).
    pub overall: Times,
    /// Critical first; the levels with a case opened in the window.
    pub by_severity: Vec<SeverityTimes>,
    /// falconry's own latency: the detection's time to the issue opening.
    pub detection_to_issue: Latency,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Times {
    pub time_to_first_response: Timing,
    pub time_to_close: Timing,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeverityTimes {
    pub severity: Level,
    pub time_to_first_response: Timing,
    pub time_to_close: Timing,
}

/// Durations from the issue opening to an event, over the cases that have
/// it (negative durations count as 0). Percentiles are nearest-rank: the
/// value at `ceil(p × n) − 1` of the sorted list. Seconds are whole (cut).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Timing {
    /// Cases with the event.
    pub count: u64,
    pub p50_seconds: Option<u64>,
    pub p90_seconds: Option<u64>,
    pub max_seconds: Option<u64>,
    /// How many took at most their level's SLA; `None` when no SLA applies.
    pub within_sla: Option<u64>,
    /// How many of `count` have an SLA (what `within_sla` is out of).
    pub with_sla: u64,
    /// The level's SLA (`None` overall, and for a level without one).
    pub sla_seconds: Option<u64>,
}

/// Detection to issue, over the cases opened in the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Latency {
    pub count: u64,
    pub p50_seconds: Option<u64>,
    pub p90_seconds: Option<u64>,
    pub max_seconds: Option<u64>,
}

/// How the cases of a source closed in the window ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Conclusions {
    pub source: String,
    pub true_positive: u64,
    pub false_positive: u64,
    pub benign: u64,
    pub duplicate: u64,
    pub test: u64,
    /// Closed without a conclusion label.
    pub unspecified: u64,
    /// Any other conclusion (a configured extra).
    pub other: u64,
}

impl Conclusions {
    fn named(source: &str) -> Conclusions {
        Conclusions {
            source: source.to_owned(),
            ..Conclusions::default()
        }
    }

    fn count(&mut self, conclusion: &str) {
        let n = match conclusion {
            "true_positive" => &mut self.true_positive,
            "false_positive" => &mut self.false_positive,
            "benign" => &mut self.benign,
            "duplicate" => &mut self.duplicate,
            "test" => &mut self.test,
            UNSPECIFIED => &mut self.unspecified,
            _ => &mut self.other,
        };
        *n += 1;
    }

    /// Cases closed.
    pub fn total(&self) -> u64 {
        self.true_positive
            + self.false_positive
            + self.benign
            + self.duplicate
            + self.test
            + self.unspecified
            + self.other
    }
}

/// A rule or indicator feed, and how often its cases were false positives.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleTuning {
    /// `rule:<id>` or `ioc:<feed>`.
    pub source: String,
    /// The rule's title (empty for an indicator feed).
    pub title: String,
    /// Alerts of its cases opened in the window (first and repeats).
    pub hits: u64,
    /// Its cases opened in the window.
    pub cases: u64,
    /// Its cases closed in the window.
    pub closed: u64,
    /// Of those, closed as `false_positive`.
    pub false_positive: u64,
    /// `false_positive / closed`, to 3 places; `None` when none closed.
    pub false_positive_ratio: Option<f64>,
}

/// A case named in a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseLink {
    pub repo: String,
    pub number: u64,
    pub url: String,
    pub title: String,
}

/// An open case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OpenCase {
    pub repo: String,
    pub number: u64,
    pub url: String,
    pub title: String,
    pub severity: Level,
    pub age_seconds: u64,
    /// `respond` or `close` when past that SLA (see [`past_sla`]).
    pub past_sla: Option<&'static str>,
}

/// Cases opened on one UTC day.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Day {
    /// `YYYY-MM-DD`.
    pub day: String,
    pub critical: u64,
    pub high: u64,
    pub medium: u64,
    pub low: u64,
    pub informational: u64,
}

impl Day {
    fn named(day: String) -> Day {
        Day {
            day,
            ..Day::default()
        }
    }

    fn add(&mut self, level: Level) {
        *self.slot(level) += 1;
    }

    fn slot(&mut self, level: Level) -> &mut u64 {
        match level {
            Level::Critical => &mut self.critical,
            Level::High => &mut self.high,
            Level::Medium => &mut self.medium,
            Level::Low => &mut self.low,
            Level::Informational => &mut self.informational,
        }
    }

    pub fn count(&self, level: Level) -> u64 {
        match level {
            Level::Critical => self.critical,
            Level::High => self.high,
            Level::Medium => self.medium,
            Level::Low => self.low,
            Level::Informational => self.informational,
        }
    }

    pub fn total(&self) -> u64 {
        LEVELS.iter().map(|&l| self.count(l)).sum()
    }
}

/// Which SLA an open case is past at `now_ms`: `respond` when nobody has
/// responded and its first-response SLA has passed, else `close` when its
/// close SLA has passed. `None` for a closed case, a level without an SLA,
/// or a case within both (a case exactly at its SLA is within it).
pub fn past_sla(case: &Case, now_ms: i64, slas: &Slas) -> Option<&'static str> {
    if !case.is_open() {
        return None;
    }
    let sla = slas.get(case.severity)?;
    let age = since_open(now_ms, case.opened_ms);
    if case.first_response.is_none() && age > millis(sla.respond) {
        return Some("respond");
    }
    (age > millis(sla.close)).then_some("close")
}

/// The report of the window `[since_ms, now_ms)`, at the clock `now_ms`.
pub fn build(cases: &[Case], since_ms: i64, now_ms: i64, slas: &Slas, health: Health) -> Report {
    let window = since_ms..now_ms;
    let opened: Vec<&Case> = cases
        .iter()
        .filter(|c| window.contains(&c.opened_ms))
        .collect();
    let closed: Vec<(&Case, &Closed)> = cases
        .iter()
        .filter_map(|c| {
            c.closed
                .as_ref()
                .filter(|x| window.contains(&x.at_ms))
                .map(|x| (c, x))
        })
        .collect();
    let open: Vec<(&Case, Option<&'static str>)> = cases
        .iter()
        .filter(|c| c.is_open())
        .map(|c| (c, past_sla(c, now_ms, slas)))
        .collect();

    let mut tally = Tallies::default();
    for &c in &opened {
        tally.add(c, |t| t.opened += 1);
    }
    for &(c, _) in &closed {
        tally.add(c, |t| t.closed += 1);
    }
    for &(c, past) in &open {
        tally.add(c, |t| t.open += 1);
        if past.is_some() {
            tally.add(c, |t| t.past_sla += 1);
        }
    }
    let by_severity = LEVELS
        .iter()
        .filter_map(|&level| {
            let t = tally.levels.get(&level)?;
            Some(SeverityCounts {
                severity: level,
                opened: t.opened,
                closed: t.closed,
                open: t.open,
                past_sla: t.past_sla,
            })
        })
        .collect();
    let mut by_source: Vec<SourceCounts> = tally
        .sources
        .iter()
        .map(|(source, t)| SourceCounts {
            source: (*source).to_owned(),
            opened: t.opened,
            closed: t.closed,
            open: t.open,
            past_sla: t.past_sla,
        })
        .collect();
    by_source.sort_by(|a, b| {
        b.opened
            .cmp(&a.opened)
            .then_with(|| a.source.cmp(&b.source))
    });

    let mut unspecified: Vec<(&Case, &Closed)> = closed
        .iter()
        .copied()
        .filter(|(_, x)| x.conclusion == UNSPECIFIED)
        .collect();
    unspecified.sort_by(|a, b| a.1.at_ms.cmp(&b.1.at_ms).then_with(|| by_issue(a.0, b.0)));

    let mut oldest = open.clone();
    oldest.sort_by(|a, b| {
        a.0.opened_ms
            .cmp(&b.0.opened_ms)
            .then_with(|| by_issue(a.0, b.0))
    });

    let until = rfc3339(now_ms);
    Report {
        since: rfc3339(since_ms),
        generated: until.clone(),
        until,
        totals: tally.all,
        by_severity,
        by_source,
        response: response_times(&opened, slas),
        conclusions: conclusions(&closed),
        rules: rules(&opened, &closed),
        unspecified: unspecified
            .into_iter()
            .map(|(c, _)| CaseLink {
                repo: c.issue.repo.clone(),
                number: c.issue.number,
                url: c.issue.url.clone(),
                title: c.title.clone(),
            })
            .collect(),
        oldest_open: oldest
            .into_iter()
            .take(OLDEST_MAX)
            .map(|(c, past)| OpenCase {
                repo: c.issue.repo.clone(),
                number: c.issue.number,
                url: c.issue.url.clone(),
                title: c.title.clone(),
                severity: c.severity,
                age_seconds: seconds(since_open(now_ms, c.opened_ms)),
                past_sla: past,
            })
            .collect(),
        daily: daily(&opened, since_ms, now_ms),
        health,
    }
}

/// Counts overall, per level and per source.
#[derive(Default)]
struct Tallies<'a> {
    all: Totals,
    levels: BTreeMap<Level, Totals>,
    sources: BTreeMap<&'a str, Totals>,
}

impl<'a> Tallies<'a> {
    fn add(&mut self, case: &'a Case, bump: fn(&mut Totals)) {
        bump(&mut self.all);
        bump(self.levels.entry(case.severity).or_default());
        bump(self.sources.entry(case.source.as_str()).or_default());
    }
}

fn by_issue(a: &Case, b: &Case) -> Ordering {
    a.issue
        .repo
        .cmp(&b.issue.repo)
        .then_with(|| a.issue.number.cmp(&b.issue.number))
}

fn response_times(opened: &[&Case], slas: &Slas) -> ResponseTimes {
    let overall = Times {
        time_to_first_response: timing(
            &samples(opened, slas, first_response_at, |s| s.respond),
            None,
        ),
        time_to_close: timing(&samples(opened, slas, closed_at, |s| s.close), None),
    };
    let by_severity = LEVELS
        .iter()
        .filter_map(|&level| {
            let cases: Vec<&Case> = opened
                .iter()
                .copied()
                .filter(|c| c.severity == level)
                .collect();
            if cases.is_empty() {
                return None;
            }
            let sla = slas.get(level);
            Some(SeverityTimes {
                severity: level,
                time_to_first_response: timing(
                    &samples(&cases, slas, first_response_at, |s| s.respond),
                    sla.map(|s| s.respond.as_secs()),
                ),
                time_to_close: timing(
                    &samples(&cases, slas, closed_at, |s| s.close),
                    sla.map(|s| s.close.as_secs()),
                ),
            })
        })
        .collect();
    let mut latency: Vec<u64> = opened
        .iter()
        .map(|c| since_open(c.opened_ms, c.detected_ms))
        .collect();
    latency.sort_unstable();
    ResponseTimes {
        overall,
        by_severity,
        detection_to_issue: Latency {
            count: latency.len() as u64,
            p50_seconds: percentile(&latency, 50).map(seconds),
            p90_seconds: percentile(&latency, 90).map(seconds),
            max_seconds: latency.last().copied().map(seconds),
        },
    }
}

fn first_response_at(c: &Case) -> Option<i64> {
    c.first_response.as_ref().map(|r| r.at_ms)
}

fn closed_at(c: &Case) -> Option<i64> {
    c.closed.as_ref().map(|x| x.at_ms)
}

/// `(ms from the opening to the event, the case's SLA for it in ms)` of the
/// cases that have the event.
fn samples(
    cases: &[&Case],
    slas: &Slas,
    event: fn(&Case) -> Option<i64>,
    sla: fn(Sla) -> Duration,
) -> Vec<(u64, Option<u64>)> {
    cases
        .iter()
        .filter_map(|&c| {
            let at = event(c)?;
            Some((
                since_open(at, c.opened_ms),
                slas.get(c.severity).map(|s| millis(sla(s))),
            ))
        })
        .collect()
}

fn timing(samples: &[(u64, Option<u64>)], sla_seconds: Option<u64>) -> Timing {
    let mut ms: Vec<u64> = samples.iter().map(|s| s.0).collect();
    ms.sort_unstable();
    let with_sla = samples.iter().filter(|s| s.1.is_some()).count() as u64;
    let within = samples
        .iter()
        .filter(|&&(v, sla)| sla.is_some_and(|sla| v <= sla))
        .count() as u64;
    Timing {
        count: ms.len() as u64,
        p50_seconds: percentile(&ms, 50).map(seconds),
        p90_seconds: percentile(&ms, 90).map(seconds),
        max_seconds: ms.last().copied().map(seconds),
        within_sla: (with_sla > 0 || sla_seconds.is_some()).then_some(within),
        with_sla,
        sla_seconds,
    }
}

/// Nearest rank over a sorted list: the value at `ceil(pct/100 × n) − 1`.
fn percentile(sorted: &[u64], pct: usize) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (pct * sorted.len()).div_ceil(100).clamp(1, sorted.len());
    sorted.get(rank - 1).copied()
}

fn conclusions(closed: &[(&Case, &Closed)]) -> Vec<Conclusions> {
    let mut by: BTreeMap<&str, Conclusions> = BTreeMap::new();
    let mut all = Conclusions::named(ALL);
    for &(c, x) in closed {
        by.entry(c.source.as_str())
            .or_insert_with(|| Conclusions::named(&c.source))
            .count(&x.conclusion);
        all.count(&x.conclusion);
    }
    let mut rows: Vec<Conclusions> = by.into_values().collect();
    rows.sort_by(|a, b| {
        b.total()
            .cmp(&a.total())
            .then_with(|| a.source.cmp(&b.source))
    });
    rows.push(all);
    rows
}

/// Whether a source is one of the organisation's rules or indicator feeds.
fn is_tunable(source: &str) -> bool {
    source.starts_with("rule:") || source.starts_with("ioc:") || source == "rule" || source == "ioc"
}

fn rules(opened: &[&Case], closed: &[(&Case, &Closed)]) -> Vec<RuleTuning> {
    fn row<'a>(by: &'a mut BTreeMap<String, RuleTuning>, c: &Case) -> &'a mut RuleTuning {
        let source = c.source.as_str();
        by.entry(source.to_owned()).or_insert_with(|| RuleTuning {
            source: source.to_owned(),
            title: if source.starts_with("rule") {
                c.title.clone()
            } else {
                String::new()
            },
            hits: 0,
            cases: 0,
            closed: 0,
            false_positive: 0,
            false_positive_ratio: None,
        })
    }
    let mut by: BTreeMap<String, RuleTuning> = BTreeMap::new();
    for &c in opened.iter().filter(|c| is_tunable(&c.source)) {
        let r = row(&mut by, c);
        r.hits = r.hits.saturating_add(c.hits);
        r.cases += 1;
    }
    for &(c, x) in closed.iter().filter(|(c, _)| is_tunable(&c.source)) {
        let r = row(&mut by, c);
        r.closed += 1;
        if x.conclusion == "false_positive" {
            r.false_positive += 1;
        }
    }
    let mut rows: Vec<RuleTuning> = by
        .into_values()
        .map(|mut r| {
            r.false_positive_ratio = ratio(r.false_positive, r.closed);
            r
        })
        .collect();
    let rank = |r: &RuleTuning| r.false_positive_ratio.unwrap_or(-1.0);
    rows.sort_by(|a, b| {
        rank(b)
            .total_cmp(&rank(a))
            .then_with(|| b.cases.cmp(&a.cases))
            .then_with(|| a.source.cmp(&b.source))
    });
    rows
}

/// `part / whole` rounded to 3 places; `None` when `whole` is 0.
fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| (part as f64 / whole as f64 * 1000.0).round() / 1000.0)
}

/// One entry per UTC day the window touches (`[since, now)`; at least one,
/// at most [`DAYS_MAX`], the last ones).
fn daily(opened: &[&Case], since_ms: i64, now_ms: i64) -> Vec<Day> {
    let last = now_ms.saturating_sub(1).max(since_ms).div_euclid(DAY_MS);
    let first = since_ms.div_euclid(DAY_MS).max(last - (DAYS_MAX - 1));
    let mut days: Vec<Day> = (first..=last).map(|d| Day::named(day_name(d))).collect();
    for c in opened {
        let i = usize::try_from(c.opened_ms.div_euclid(DAY_MS) - first).ok();
        if let Some(day) = i.and_then(|i| days.get_mut(i)) {
            day.add(c.severity);
        }
    }
    days
}

fn day_name(day: i64) -> String {
    DateTime::<Utc>::from_timestamp(day.saturating_mul(86_400), 0)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

fn rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Milliseconds from `from_ms` to `at_ms`; 0 when `at_ms` is earlier.
fn since_open(at_ms: i64, from_ms: i64) -> u64 {
    u64::try_from(at_ms.saturating_sub(from_ms)).unwrap_or(0)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn seconds(ms: u64) -> u64 {
    ms / 1000
}

/// A duration for people: `45s`, `4m`, `2h 5m`, `3d 1h` (two units at
/// most, the smaller cut).
pub fn human(seconds: u64) -> String {
    let days = seconds / 86_400;
    let hours = (seconds % 86_400) / 3_600;
    let minutes = (seconds % 3_600) / 60;
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{seconds}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, 0) => format!("{h}h"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, 0, _) => format!("{d}d"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

/// The report as GitHub-flavoured Markdown. `charts`: the file names of the
/// daily and the response-time SVG, shown as images; `None`: no images.
pub fn markdown(r: &Report, charts: Option<(&str, &str)>) -> String {
    let t = &r.totals;
    let mut out = format!(
        "# falconry response report, {} – {}\n\n",
        date(&r.since),
        date(&r.until)
    );
    out.push_str(&format!(
        "{} opened, {} closed, {} open ({} past SLA).\n",
        cases(t.opened),
        t.closed,
        t.open,
        t.past_sla
    ));
    if let Some((daily, response)) = charts {
        out.push_str(&format!(
            "\n![Cases per day by severity]({})\n\n![Time to respond]({})\n",
            target(daily),
            target(response)
        ));
    }

    out.push_str("\n## Cases by severity\n\n");
    if r.by_severity.is_empty() {
        out.push_str("No cases in this window.\n");
    } else {
        out.push_str("| Severity | Opened | Closed | Open | Past SLA |\n");
        out.push_str("| --- | ---: | ---: | ---: | ---: |\n");
        for s in &r.by_severity {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                s.severity.as_str(),
                s.opened,
                s.closed,
                s.open,
                s.past_sla
            ));
        }
    }

    out.push_str("\n## Cases by source\n\n");
    if r.by_source.is_empty() {
        out.push_str("No cases in this window.\n");
    } else {
        out.push_str("| Source | Opened | Closed | Open | Past SLA |\n");
        out.push_str("| --- | ---: | ---: | ---: | ---: |\n");
        for s in &r.by_source {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                cell(&s.source),
                s.opened,
                s.closed,
                s.open,
                s.past_sla
            ));
        }
    }

    let resp = &r.response;
    let first: Vec<(&str, &Timing)> = resp
        .by_severity
        .iter()
        .map(|s| (s.severity.as_str(), &s.time_to_first_response))
        .chain([(ALL, &resp.overall.time_to_first_response)])
        .collect();
    timing_table(&mut out, "Time to first response", "Responded", &first);
    let close: Vec<(&str, &Timing)> = resp
        .by_severity
        .iter()
        .map(|s| (s.severity.as_str(), &s.time_to_close))
        .chain([(ALL, &resp.overall.time_to_close)])
        .collect();
    timing_table(&mut out, "Time to close", "Closed", &close);

    out.push_str("\n## Conclusions\n\n");
    if r.conclusions.iter().all(|c| c.total() == 0) {
        out.push_str("No cases closed in this window.\n");
    } else {
        out.push_str(
            "| Source | True positive | False positive | Benign | Duplicate | Test | Unspecified | Other |\n",
        );
        out.push_str("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
        for c in &r.conclusions {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
                cell(&c.source),
                c.true_positive,
                c.false_positive,
                c.benign,
                c.duplicate,
                c.test,
                c.unspecified,
                c.other
            ));
        }
    }

    out.push_str("\n## Rules to tune first\n\n");
    if r.rules.is_empty() {
        out.push_str("No rule or indicator cases in this window.\n");
    } else {
        out.push_str("Highest share of false positives first.\n\n");
        out.push_str(
            "| Source | Hits | Cases | Closed | False positives | False-positive ratio |\n",
        );
        out.push_str("| --- | ---: | ---: | ---: | ---: | ---: |\n");
        for x in r.rules.iter().take(RULES_SHOWN) {
            let ratio = x
                .false_positive_ratio
                .map_or_else(|| DASH.to_owned(), |v| format!("{v}"));
            let name = if x.title.is_empty() {
                cell(&x.source)
            } else {
                format!("{} ({})", title_cell(&x.title), cell(&x.source))
            };
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                name, x.hits, x.cases, x.closed, x.false_positive, ratio
            ));
        }
    }

    out.push_str("\n## Closed without a conclusion\n\n");
    if r.unspecified.is_empty() {
        out.push_str("None.\n");
    } else {
        out.push_str("| Issue | Title |\n| --- | --- |\n");
        for c in &r.unspecified {
            out.push_str(&format!(
                "| {} | {} |\n",
                issue_link(&c.repo, c.number, &c.url),
                title_cell(&c.title)
            ));
        }
    }

    out.push_str("\n## Oldest open cases\n\n");
    if r.oldest_open.is_empty() {
        out.push_str("None.\n");
    } else {
        out.push_str("| Issue | Severity | Age | Past SLA | Title |\n");
        out.push_str("| --- | --- | ---: | --- | --- |\n");
        for c in &r.oldest_open {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                issue_link(&c.repo, c.number, &c.url),
                c.severity.as_str(),
                human(c.age_seconds),
                c.past_sla.unwrap_or(DASH),
                title_cell(&c.title)
            ));
        }
    }

    let h = &r.health;
    let l = &resp.detection_to_issue;
    out.push_str("\n## falconry\n\n");
    out.push_str(&format!(
        "**falconry's health:** alerts {}, findings {}, failures {}, pending write-backs {}; ",
        h.alerts, h.findings, h.failures, h.pending_writebacks
    ));
    if l.count == 0 {
        out.push_str("detection to issue: no cases.\n");
    } else {
        out.push_str(&format!(
            "detection to issue p50 {}, p90 {}, max {}.\n",
            maybe(l.p50_seconds),
            maybe(l.p90_seconds),
            maybe(l.max_seconds)
        ));
    }
    out
}

fn timing_table(out: &mut String, heading: &str, column: &str, rows: &[(&str, &Timing)]) {
    out.push_str(&format!("\n## {heading}\n\n"));
    // Only the overall row: no case opened in the window.
    if rows.len() <= 1 {
        out.push_str("No cases opened in this window.\n");
        return;
    }
    out.push_str(&format!(
        "| Severity | {column} | p50 | p90 | Max | Within SLA |\n"
    ));
    out.push_str("| --- | ---: | ---: | ---: | ---: | --- |\n");
    for (name, t) in rows {
        let sla = match (t.within_sla, t.sla_seconds) {
            (Some(w), Some(s)) => format!("{w} of {} within SLA (SLA {})", t.with_sla, human(s)),
            (Some(w), None) => format!("{w} of {} within SLA", t.with_sla),
            (None, _) => "no SLA".to_owned(),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            name,
            t.count,
            maybe(t.p50_seconds),
            maybe(t.p90_seconds),
            maybe(t.max_seconds),
            sla
        ));
    }
}

fn maybe(seconds: Option<u64>) -> String {
    seconds.map_or_else(|| DASH.to_owned(), human)
}

fn cases(n: u64) -> String {
    if n == 1 {
        "1 case".to_owned()
    } else {
        format!("{n} cases")
    }
}

/// The date of an RFC 3339 time.
fn date(rfc3339: &str) -> &str {
    rfc3339.get(..10).unwrap_or(rfc3339)
}

fn issue_link(repo: &str, number: u64, url: &str) -> String {
    format!("[{}#{}]({})", cell(repo), number, target(url))
}

/// A case's title in a table: the renderer's cell (escaped, defanged,
/// mentions and references broken: the report may be posted as an issue).
fn title_cell(s: &str) -> String {
    crate::render::sanitize::cell(s, 200)
}

/// A table cell: one line, `|` escaped, no HTML tag can start, never empty.
fn cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.replace("\r\n", "\n").chars() {
        match c {
            '|' => out.push_str("\\|"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    if out.trim().is_empty() {
        DASH.to_owned()
    } else {
        out
    }
}

/// A link or image target: characters that would end it, break the table or
/// start a tag are percent-encoded; other control characters are dropped.
fn target(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    for c in url.chars() {
        match c {
            ' ' | '(' | ')' | '<' | '>' | '|' | '"' | '\\' | '`' => {
                out.push_str(&format!("%{:02X}", u32::from(c)));
            }
            c if c.is_ascii_control() => out.push_str(&format!("%{:02X}", u32::from(c))),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// The chart files [`write_dir`] writes, as its Markdown names them.
pub const DAILY_CHART: &str = "cases-per-day.svg";
pub const RESPONSE_CHART: &str = "time-to-respond.svg";

/// Writes `report.md` (with the charts), `report.json` and the two charts into `dir`.
pub fn write_dir(dir: &std::path::Path, r: &Report) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join("report.md"),
        markdown(r, Some((DAILY_CHART, RESPONSE_CHART))),
    )?;
    std::fs::write(
        dir.join("report.json"),
        serde_json::to_string_pretty(r).map_err(std::io::Error::other)?,
    )?;
    std::fs::write(dir.join(DAILY_CHART), daily_cases_svg(r))?;
    std::fs::write(dir.join(RESPONSE_CHART), response_times_svg(r))
}

#[cfg(test)]
mod tests {
    use super::super::case::{CONCLUSIONS, Response};
    use super::*;
    use crate::alert::AlertKind;
    use crate::alert::Level::{Critical, High, Informational, Low, Medium};

    const MIN: i64 = 60_000;
    const HOUR: i64 = 60 * MIN;
    const DAY: i64 = 24 * HOUR;
    const SINCE: &str = "2025-03-01T12:00:00Z";
    const NOW: &str = "2025-03-08T12:00:00Z";

    fn at(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
    }

    /// A case opened at `opened`, detected 30 s before, one hit. Built from
    /// the required fields only, so fields the record gains later (all
    /// `#[serde(default)]`) take their defaults.
    fn case(number: u64, source: &str, severity: Level, opened: &str) -> Case {
        let opened_ms = at(opened);
        let mut c: Case = serde_json::from_value(serde_json::json!({
            "issue": {
                "repo": "acme/soc",
                "number": number,
                "url": format!("https://github.com/acme/soc/issues/{number}"),
            },
            "fingerprint": format!("fp{number}"),
            "title": format!("case {number}"),
            "kind": AlertKind::Epp,
            "source": source,
            "severity": severity,
            "detected_ms": opened_ms - 30_000,
            "opened_ms": opened_ms,
        }))
        .unwrap();
        c.hits = 1;
        c
    }

    fn respond_after(mut c: Case, after: i64) -> Case {
        c.first_response = Some(Response {
            at_ms: c.opened_ms + after,
            by: "alice".into(),
            how: "comment".into(),
        });
        c
    }

    fn close_after(mut c: Case, after: i64, conclusion: &str) -> Case {
        c.closed = Some(Closed {
            at_ms: c.opened_ms + after,
            by: Some("alice".into()),
            conclusion: conclusion.into(),
            reason: Some("completed".into()),
            comment: None,
            from: "github".into(),
        });
        c
    }

    fn with_hits(mut c: Case, hits: u64) -> Case {
        c.hits = hits;
        c
    }

    /// A week, `[2025-03-01T12:00Z, 2025-03-08T12:00Z)`, and cases before it.
    fn history() -> Vec<Case> {
        let mut c1 = close_after(
            respond_after(case(1, "epp", Critical, "2025-03-07T23:50:00Z"), 10 * MIN),
            3 * HOUR,
            "true_positive",
        );
        c1.detected_ms = c1.opened_ms - 5 * MIN;
        let mut c2 = respond_after(case(2, "epp", Critical, "2025-03-08T00:10:00Z"), 20 * MIN);
        // Detected "after" it was opened (clock skew): counts as 0.
        c2.detected_ms = c2.opened_ms + 10_000;
        let c3 = with_hits(case(3, "rule:r1", High, "2025-03-05T10:00:00Z"), 5);
        let c4 = with_hits(
            close_after(
                respond_after(case(4, "rule:r1", High, "2025-03-06T10:00:00Z"), 30 * MIN),
                2 * HOUR,
                "false_positive",
            ),
            3,
        );
        let mut c5 = with_hits(
            close_after(
                respond_after(case(5, "rule:r2", Medium, "2025-03-07T10:00:00Z"), HOUR),
                5 * HOUR,
                UNSPECIFIED,
            ),
            2,
        );
        c5.title = "a<b | c\nd".into();
        let c6 = close_after(
            respond_after(case(6, "ioc:feedA", Low, "2025-03-04T10:00:00Z"), 2 * HOUR),
            DAY,
            "benign",
        );
        let c7 = close_after(
            respond_after(
                case(7, "idp", Informational, "2025-03-02T10:00:00Z"),
                3 * HOUR,
            ),
            4 * HOUR,
            "escalated",
        );
        // Opened before the window, closed in it.
        let c8 = close_after(
            case(8, "epp", Medium, "2025-02-20T10:00:00Z"),
            at("2025-03-02T10:00:00Z") - at("2025-02-20T10:00:00Z"),
            "false_positive",
        );
        // Opened before the window, still open: the oldest.
        let c9 = respond_after(case(9, "epp", Low, "2025-02-25T10:00:00Z"), HOUR);
        let c10 = with_hits(case(10, "rule:r1", Medium, "2025-03-08T11:00:00Z"), 4);
        // Opened and closed before the window: in nothing.
        let c11 = close_after(
            case(11, "epp", High, "2025-02-27T10:00:00Z"),
            DAY,
            "true_positive",
        );
        let c12 = close_after(
            respond_after(
                case(12, "rule:r2", Critical, "2025-03-03T10:00:00Z"),
                5 * MIN,
            ),
            HOUR,
            "false_positive",
        );
        let c13 = close_after(
            respond_after(
                case(13, "rule:r3", Informational, "2025-03-06T10:00:00Z"),
                MIN,
            ),
            2 * MIN,
            "false_positive",
        );
        let c14 = close_after(
            respond_after(case(14, "rule:r2", Low, "2025-03-04T12:00:00Z"), 30 * MIN),
            HOUR,
            "false_positive",
        );
        vec![c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14]
    }

    fn health() -> Health {
        Health {
            alerts: 120,
            findings: 3,
            failures: 0,
            pending_writebacks: 1,
        }
    }

    fn report() -> Report {
        build(&history(), at(SINCE), at(NOW), &Slas::defaults(), health())
    }

    #[test]
    fn totals_count_the_window_and_open_cases_of_any_age() {
        let r = report();
        assert_eq!(r.since, "2025-03-01T12:00:00Z");
        assert_eq!(r.until, "2025-03-08T12:00:00Z");
        assert_eq!(r.generated, r.until);
        assert_eq!(
            r.totals,
            Totals {
                opened: 11,
                closed: 9,
                open: 4,
                past_sla: 3
            }
        );
        assert_eq!(r.health, health());
    }

    #[test]
    fn rows_per_severity_and_per_source() {
        let r = report();
        let sev: Vec<_> = r
            .by_severity
            .iter()
            .map(|s| (s.severity, s.opened, s.closed, s.open, s.past_sla))
            .collect();
        assert_eq!(
            sev,
            vec![
                (Critical, 3, 2, 1, 1),
                (High, 2, 1, 1, 1),
                (Medium, 2, 2, 1, 0),
                (Low, 2, 2, 1, 1),
                (Informational, 2, 2, 0, 0),
            ]
        );
        let src: Vec<_> = r
            .by_source
            .iter()
            .map(|s| (s.source.as_str(), s.opened, s.closed, s.open, s.past_sla))
            .collect();
        assert_eq!(
            src,
            vec![
                ("rule:r1", 3, 1, 2, 1),
                ("rule:r2", 3, 3, 0, 0),
                ("epp", 2, 2, 2, 2),
                ("idp", 1, 1, 0, 0),
                ("ioc:feedA", 1, 1, 0, 0),
                ("rule:r3", 1, 1, 0, 0),
            ]
        );
        let only_closed = build(
            &[close_after(
                case(1, "epp", High, "2025-02-01T00:00:00Z"),
                30 * DAY + HOUR,
                "test",
            )],
            at(SINCE),
            at(NOW),
            &Slas::defaults(),
            Health::default(),
        );
        assert_eq!(
            only_closed.by_severity.len(),
            1,
            "a level with a close only has a row"
        );
        assert_eq!(only_closed.by_severity[0].closed, 1);
    }

    fn timed(
        count: u64,
        p: (u64, u64, u64),
        within: Option<u64>,
        with_sla: u64,
        sla: Option<u64>,
    ) -> Timing {
        Timing {
            count,
            p50_seconds: Some(p.0),
            p90_seconds: Some(p.1),
            max_seconds: Some(p.2),
            within_sla: within,
            with_sla,
            sla_seconds: sla,
        }
    }

    #[test]
    fn response_times_are_nearest_rank_percentiles_against_the_level_sla() {
        let r = report();
        let t = &r.response;
        let levels: Vec<Level> = t.by_severity.iter().map(|s| s.severity).collect();
        assert_eq!(levels, LEVELS.to_vec());
        let [crit, high, med, low, info] = &t.by_severity[..] else {
            panic!("five levels");
        };
        assert_eq!(
            crit.time_to_first_response,
            timed(3, (600, 1200, 1200), Some(2), 3, Some(900))
        );
        assert_eq!(
            crit.time_to_close,
            timed(2, (3600, 10800, 10800), Some(2), 2, Some(14400))
        );
        assert_eq!(
            high.time_to_first_response,
            timed(1, (1800, 1800, 1800), Some(1), 1, Some(3600))
        );
        assert_eq!(
            high.time_to_close,
            timed(1, (7200, 7200, 7200), Some(1), 1, Some(86400))
        );
        assert_eq!(
            med.time_to_first_response,
            timed(1, (3600, 3600, 3600), Some(1), 1, Some(14400))
        );
        assert_eq!(
            med.time_to_close,
            timed(1, (18000, 18000, 18000), Some(1), 1, Some(259200))
        );
        assert_eq!(
            low.time_to_first_response,
            timed(2, (1800, 7200, 7200), Some(2), 2, Some(86400))
        );
        assert_eq!(
            low.time_to_close,
            timed(2, (3600, 86400, 86400), Some(2), 2, Some(604800))
        );
        assert_eq!(
            info.time_to_first_response,
            timed(2, (60, 10800, 10800), None, 0, None)
        );
        assert_eq!(
            info.time_to_close,
            timed(2, (120, 14400, 14400), None, 0, None)
        );
        assert_eq!(
            t.overall.time_to_first_response,
            timed(9, (1800, 10800, 10800), Some(6), 7, None)
        );
        assert_eq!(
            t.overall.time_to_close,
            timed(8, (7200, 86400, 86400), Some(6), 6, None)
        );
        assert_eq!(
            t.detection_to_issue,
            Latency {
                count: 11,
                p50_seconds: Some(30),
                p90_seconds: Some(30),
                max_seconds: Some(300),
            }
        );
    }

    #[test]
    fn a_level_with_an_sla_and_no_event_is_zero_of_zero() {
        let r = build(
            &[case(1, "epp", Critical, "2025-03-08T11:59:00Z")],
            at(SINCE),
            at(NOW),
            &Slas::defaults(),
            Health::default(),
        );
        let crit = &r.response.by_severity[0].time_to_first_response;
        assert_eq!(crit.count, 0);
        assert_eq!((crit.p50_seconds, crit.max_seconds), (None, None));
        assert_eq!(
            (crit.within_sla, crit.with_sla, crit.sla_seconds),
            (Some(0), 0, Some(900))
        );
        assert_eq!(r.response.overall.time_to_first_response.within_sla, None);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<u64> = (1..=10).collect();
        assert_eq!(percentile(&v, 50), Some(5));
        assert_eq!(percentile(&v, 90), Some(9));
        assert_eq!(percentile(&v, 100), Some(10));
        assert_eq!(percentile(&[7], 50), Some(7));
        assert_eq!(percentile(&[7], 90), Some(7));
        assert_eq!(percentile(&[1, 2], 50), Some(1));
        assert_eq!(percentile(&[1, 2], 90), Some(2));
        assert_eq!(percentile(&[], 50), None);
    }

    #[test]
    fn conclusions_per_source_and_overall() {
        let r = report();
        let sources: Vec<&str> = r.conclusions.iter().map(|c| c.source.as_str()).collect();
        assert_eq!(
            sources,
            vec![
                "rule:r2",
                "epp",
                "idp",
                "ioc:feedA",
                "rule:r1",
                "rule:r3",
                "all"
            ]
        );
        assert_eq!(
            r.conclusions[0],
            Conclusions {
                source: "rule:r2".into(),
                false_positive: 2,
                unspecified: 1,
                ..Conclusions::default()
            }
        );
        assert_eq!(
            r.conclusions[2].other, 1,
            "a conclusion falconry does not know"
        );
        assert_eq!(
            r.conclusions[6],
            Conclusions {
                source: "all".into(),
                true_positive: 1,
                false_positive: 5,
                benign: 1,
                duplicate: 0,
                test: 0,
                unspecified: 1,
                other: 1,
            }
        );
        assert_eq!(r.conclusions[6].total(), r.totals.closed);
    }

    #[test]
    fn every_known_conclusion_has_its_own_column() {
        let names: Vec<&str> = CONCLUSIONS
            .iter()
            .copied()
            .chain([UNSPECIFIED, "custom"])
            .collect();
        let cases: Vec<Case> = names
            .iter()
            .zip(1..)
            .map(|(name, n)| close_after(case(n, "epp", Low, "2025-03-02T00:00:00Z"), HOUR, name))
            .collect();
        let r = build(
            &cases,
            at(SINCE),
            at(NOW),
            &Slas::defaults(),
            Health::default(),
        );
        let all = r.conclusions.last().unwrap();
        assert_eq!(
            *all,
            Conclusions {
                source: "all".into(),
                true_positive: 1,
                false_positive: 1,
                benign: 1,
                duplicate: 1,
                test: 1,
                unspecified: 1,
                other: 1,
            }
        );
    }

    #[test]
    fn rules_to_tune_first_by_false_positive_ratio_then_cases() {
        let r = report();
        let rules: Vec<_> = r
            .rules
            .iter()
            .map(|x| {
                (
                    x.source.as_str(),
                    x.hits,
                    x.cases,
                    x.closed,
                    x.false_positive,
                    x.false_positive_ratio,
                )
            })
            .collect();
        assert_eq!(
            rules,
            vec![
                ("rule:r1", 12, 3, 1, 1, Some(1.0)),
                ("rule:r3", 1, 1, 1, 1, Some(1.0)),
                ("rule:r2", 4, 3, 3, 2, Some(0.667)),
                ("ioc:feedA", 1, 1, 1, 0, Some(0.0)),
            ]
        );

        let cases = [
            case(1, "rule:a", High, "2025-03-02T00:00:00Z"),
            close_after(
                case(2, "rule:b", High, "2025-03-02T00:00:00Z"),
                HOUR,
                "true_positive",
            ),
            case(3, "rule:b", High, "2025-03-02T00:00:00Z"),
            close_after(
                case(4, "ioc", High, "2025-03-02T00:00:00Z"),
                HOUR,
                "false_positive",
            ),
            case(5, "epp", High, "2025-03-02T00:00:00Z"),
        ];
        let r = build(
            &cases,
            at(SINCE),
            at(NOW),
            &Slas::defaults(),
            Health::default(),
        );
        let order: Vec<(&str, Option<f64>)> = r
            .rules
            .iter()
            .map(|x| (x.source.as_str(), x.false_positive_ratio))
            .collect();
        assert_eq!(
            order,
            vec![("ioc", Some(1.0)), ("rule:b", Some(0.0)), ("rule:a", None)],
            "no close: no ratio, last; a product source is no rule"
        );
    }

    #[test]
    fn unspecified_cases_are_listed() {
        let r = report();
        assert_eq!(
            r.unspecified,
            vec![CaseLink {
                repo: "acme/soc".into(),
                number: 5,
                url: "https://github.com/acme/soc/issues/5".into(),
                title: "a<b | c\nd".into(),
            }]
        );
    }

    #[test]
    fn oldest_open_first_with_the_sla_they_are_past() {
        let r = report();
        let open: Vec<_> = r
            .oldest_open
            .iter()
            .map(|c| (c.number, c.severity, c.age_seconds, c.past_sla))
            .collect();
        assert_eq!(
            open,
            vec![
                (9, Low, 11 * 86_400 + 2 * 3_600, Some("close")),
                (3, High, 3 * 86_400 + 2 * 3_600, Some("respond")),
                (2, Critical, 11 * 3_600 + 50 * 60, Some("close")),
                (10, Medium, 3_600, None),
            ]
        );
        let many: Vec<Case> = (1..=15)
            .map(|n| case(n, "epp", Low, "2025-03-08T00:00:00Z"))
            .collect();
        let r = build(
            &many,
            at(SINCE),
            at(NOW),
            &Slas::defaults(),
            Health::default(),
        );
        assert_eq!(r.oldest_open.len(), OLDEST_MAX);
        assert_eq!(r.totals.open, 15);
        let numbers: Vec<u64> = r.oldest_open.iter().map(|c| c.number).collect();
        assert_eq!(
            numbers,
            (1..=10).collect::<Vec<u64>>(),
            "same age: by issue"
        );
    }

    #[test]
    fn past_sla_respond_then_close_never_when_closed_or_without_sla() {
        let slas = Slas::defaults();
        let c = case(1, "epp", Critical, "2025-03-08T00:00:00Z");
        let t0 = c.opened_ms;
        assert_eq!(
            past_sla(&c, t0 + 15 * MIN, &slas),
            None,
            "at the SLA is within it"
        );
        assert_eq!(past_sla(&c, t0 + 15 * MIN + 1, &slas), Some("respond"));
        assert_eq!(
            past_sla(&c, t0 + 5 * HOUR, &slas),
            Some("respond"),
            "respond first"
        );
        let answered = respond_after(c.clone(), 5 * MIN);
        assert_eq!(past_sla(&answered, t0 + 4 * HOUR, &slas), None);
        assert_eq!(past_sla(&answered, t0 + 4 * HOUR + 1, &slas), Some("close"));
        let done = close_after(answered, HOUR, "true_positive");
        assert_eq!(past_sla(&done, t0 + 30 * DAY, &slas), None);
        let info = case(2, "epp", Informational, "2025-01-01T00:00:00Z");
        assert_eq!(past_sla(&info, t0 + 365 * DAY, &slas), None);
        assert_eq!(past_sla(&c, t0 + 30 * DAY, &Slas::default()), None);
    }

    #[test]
    fn daily_buckets_are_utc_days_across_midnight() {
        let r = report();
        let days: Vec<_> = r
            .daily
            .iter()
            .map(|d| {
                (
                    d.day.as_str(),
                    d.critical,
                    d.high,
                    d.medium,
                    d.low,
                    d.informational,
                )
            })
            .collect();
        assert_eq!(
            days,
            vec![
                ("2025-03-01", 0, 0, 0, 0, 0),
                ("2025-03-02", 0, 0, 0, 0, 1),
                ("2025-03-03", 1, 0, 0, 0, 0),
                ("2025-03-04", 0, 0, 0, 2, 0),
                ("2025-03-05", 0, 1, 0, 0, 0),
                ("2025-03-06", 0, 1, 0, 0, 1),
                ("2025-03-07", 1, 0, 1, 0, 0),
                ("2025-03-08", 1, 0, 1, 0, 0),
            ]
        );
        assert_eq!(r.daily.iter().map(Day::total).sum::<u64>(), r.totals.opened);
    }

    #[test]
    fn daily_covers_the_days_the_window_touches() {
        let b = |since: &str, now: &str| {
            build(
                &[],
                at(since),
                at(now),
                &Slas::defaults(),
                Health::default(),
            )
            .daily
        };
        let week = b("2025-03-01T00:00:00Z", "2025-03-08T00:00:00Z");
        assert_eq!(
            week.len(),
            7,
            "a window ending at midnight ends the day before"
        );
        assert_eq!(week[6].day, "2025-03-07");
        let backwards = b("2025-03-08T00:00:00Z", "2025-03-01T00:00:00Z");
        assert_eq!(backwards.len(), 1);
        let forever = b("1970-01-01T00:00:00Z", "2025-03-08T00:00:00Z");
        assert_eq!(forever.len(), 731);
        assert_eq!(forever[730].day, "2025-03-07");
    }

    #[test]
    fn json_names_each_figure_plainly() {
        let v = serde_json::to_value(report()).unwrap();
        assert_eq!(v["totals"]["opened"], 11);
        assert_eq!(v["totals"]["closed"], 9);
        assert_eq!(v["totals"]["open"], 4);
        assert_eq!(v["totals"]["past_sla"], 3);
        assert_eq!(v["by_severity"][0]["severity"], "critical");
        assert_eq!(v["by_source"][0]["source"], "rule:r1");
        assert_eq!(v["conclusions"][6]["source"], "all");
        assert_eq!(v["conclusions"][6]["false_positive"], 5);
        assert_eq!(v["rules"][2]["false_positive_ratio"], 0.667);
        assert_eq!(
            v["response"]["overall"]["time_to_close"]["p90_seconds"],
            86400
        );
        assert_eq!(
            v["response"]["by_severity"][0]["time_to_first_response"]["within_sla"],
            2
        );
        assert_eq!(
            v["response"]["by_severity"][0]["time_to_first_response"]["sla_seconds"],
            900
        );
        assert!(v["response"]["by_severity"][4]["time_to_first_response"]["within_sla"].is_null());
        assert_eq!(v["response"]["detection_to_issue"]["max_seconds"], 300);
        assert_eq!(v["unspecified"][0]["number"], 5);
        assert_eq!(v["oldest_open"][1]["past_sla"], "respond");
        assert!(v["oldest_open"][3]["past_sla"].is_null());
        assert_eq!(v["oldest_open"][0]["age_seconds"], 957_600);
        assert_eq!(v["daily"][7]["day"], "2025-03-08");
        assert_eq!(v["daily"][7]["critical"], 1);
        assert_eq!(v["health"]["pending_writebacks"], 1);
        assert_eq!(v["generated"], "2025-03-08T12:00:00Z");
    }

    #[test]
    fn markdown_has_the_key_lines() {
        let md = markdown(&report(), Some(("daily.svg", "response.svg")));
        assert!(
            md.starts_with("# falconry response report, 2025-03-01 – 2025-03-08\n"),
            "{md}"
        );
        for line in [
            "11 cases opened, 9 closed, 4 open (3 past SLA).",
            "![Cases per day by severity](daily.svg)",
            "![Time to respond](response.svg)",
            "| critical | 3 | 2 | 1 | 1 |",
            "| rule:r1 | 3 | 1 | 2 | 1 |",
            "## Time to first response",
            "| critical | 3 | 10m | 20m | 20m | 2 of 3 within SLA (SLA 15m) |",
            "| informational | 2 | 1m | 3h | 3h | no SLA |",
            "| all | 9 | 30m | 3h | 3h | 6 of 7 within SLA |",
            "## Time to close",
            "| low | 2 | 1h | 1d | 1d | 2 of 2 within SLA (SLA 7d) |",
            "| medium | 1 | 5h | 5h | 5h | 1 of 1 within SLA (SLA 3d) |",
            "| all | 8 | 2h | 1d | 1d | 6 of 6 within SLA |",
            "| rule:r2 | 0 | 2 | 0 | 0 | 0 | 1 | 0 |",
            "| all | 1 | 5 | 1 | 0 | 0 | 1 | 1 |",
            "| case 3 (rule:r1) | 12 | 3 | 1 | 1 | 1 |",
            "| a&lt;b \\| c d (rule:r2) | 4 | 3 | 3 | 2 | 0.667 |",
            "| ioc:feedA | 1 | 1 | 1 | 0 | 0 |",
            "| [acme/soc#5](https://github.com/acme/soc/issues/5) | a&lt;b \\| c d |",
            "| [acme/soc#9](https://github.com/acme/soc/issues/9) | low | 11d 2h | close | case 9 |",
            "| [acme/soc#3](https://github.com/acme/soc/issues/3) | high | 3d 2h | respond | case 3 |",
            "| [acme/soc#10](https://github.com/acme/soc/issues/10) | medium | 1h | — | case 10 |",
            "**falconry's health:** alerts 120, findings 3, failures 0, pending write-backs 1; \
             detection to issue p50 30s, p90 30s, max 5m.",
        ] {
            assert!(
                md.lines().any(|l| l == line),
                "missing line {line:?} in\n{md}"
            );
        }
        assert!(!md.contains("a<b"), "a title's `<` is escaped");
        let rules = md.find("| case 3 (rule:r1) | 12 |").unwrap();
        assert!(
            rules < md.find("(rule:r2) | 4 |").unwrap(),
            "rules keep their order"
        );
        assert!(
            !markdown(&report(), None).contains("!["),
            "no charts: no image lines"
        );
    }

    #[test]
    fn markdown_of_an_empty_window() {
        let r = build(
            &[],
            at(SINCE),
            at(NOW),
            &Slas::defaults(),
            Health::default(),
        );
        assert_eq!(r.totals, Totals::default());
        assert_eq!(r.conclusions.len(), 1, "only the overall row");
        let md = markdown(&r, None);
        assert!(
            md.contains("\n0 cases opened, 0 closed, 0 open (0 past SLA).\n"),
            "{md}"
        );
        assert!(md.contains("No cases closed in this window."));
        assert!(md.contains("detection to issue: no cases."));
        let one = build(
            &[case(1, "epp", Low, "2025-03-08T00:00:00Z")],
            at(SINCE),
            at(NOW),
            &Slas::defaults(),
            Health::default(),
        );
        assert!(markdown(&one, None).contains("\n1 case opened, 0 closed, 1 open (0 past SLA).\n"));
    }

    #[test]
    fn cells_and_targets_cannot_break_the_table() {
        assert_eq!(cell("a|b\r\nc<d>"), "a\\|b c&lt;d&gt;");
        assert_eq!(cell(" \n"), "—");
        assert_eq!(target("dir/x y(1).md"), "dir/x%20y%281%29.md");
        assert_eq!(target("a|b\n"), "a%7Cb%0A");
    }

    #[test]
    fn human_units() {
        assert_eq!(human(0), "0s");
        assert_eq!(human(59), "59s");
        assert_eq!(human(240), "4m");
        assert_eq!(human(299), "4m");
        assert_eq!(human(3_600), "1h");
        assert_eq!(human(7_500), "2h 5m");
        assert_eq!(human(86_400), "1d");
        assert_eq!(human(3 * 86_400 + 3_600 + 59), "3d 1h");
    }

    /// Every `<` opens a tag and every `&` an entity: no raw text leaks.
    fn well_formed(svg: &str) {
        for (i, _) in svg.match_indices('<') {
            let next = svg[i + 1..].chars().next().unwrap();
            assert!(
                next.is_ascii_lowercase() || next == '/',
                "raw `<` at {i} in {svg}"
            );
        }
        for (i, _) in svg.match_indices('&') {
            let rest = &svg[i..];
            assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
                    .iter()
                    .any(|e| rest.starts_with(e)),
                "raw `&` at {i}"
            );
        }
        assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
        assert_eq!(svg.matches("<svg").count(), 1);
        assert!(svg.ends_with("</svg>\n"));
    }

    #[test]
    fn charts_are_standalone_deterministic_svg() {
        let r = report();
        let daily = daily_cases_svg(&r);
        assert!(
            daily.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
            "{daily}"
        );
        well_formed(&daily);
        assert!(
            daily.contains(">03-01</text>") && daily.contains(">03-08</text>"),
            "{daily}"
        );
        assert!(daily.contains("<title>2025-03-07 critical: 1</title>"));
        assert!(daily.contains("<title>2025-03-04 low: 2</title>"));
        assert_eq!(
            daily.matches("<title>2025-").count(),
            10,
            "one bar per level and day"
        );
        assert!(
            daily.contains(">2</text>"),
            "the y axis reaches the busiest day"
        );
        assert!(!daily.contains("a<b"));
        assert_eq!(daily, daily_cases_svg(&report()));

        let times = response_times_svg(&r);
        assert!(
            times.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
            "{times}"
        );
        well_formed(&times);
        assert!(times.contains("Time to first response") && times.contains("Time to close"));
        assert!(
            times.contains(">p50 10m</text>") && times.contains(">p90 20m</text>"),
            "{times}"
        );
        assert!(times.contains("<title>SLA 15m</title>"));
        assert!(!times.contains("a<b"));
        assert_eq!(times, response_times_svg(&report()));
    }

    #[test]
    fn charts_of_an_empty_window_say_so() {
        let r = build(
            &[],
            at(SINCE),
            at(NOW),
            &Slas::defaults(),
            Health::default(),
        );
        for svg in [daily_cases_svg(&r), response_times_svg(&r)] {
            assert!(svg.starts_with("<svg"));
            assert!(svg.contains("no cases in this window"), "{svg}");
            well_formed(&svg);
        }
    }
}
