//! The record kept per fingerprint and the rules over it: whether an alert
//! opens an issue, repeats on the open one, waits for another replica, or was
//! already handled. Every change is a new record written with
//! compare-and-swap (`store.rs`), so replicas racing on one fingerprint agree.
//!
//! Pure: the caller passes the clock and its own replica id.

use crate::alert::Alert;
use crate::tracker::IssueRef;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Occurrence keys remembered per fingerprint (redeliveries older than this
/// many repeats may comment again; at ~20 bytes each the record stays small).
const SEEN_MAX: usize = 1000;
/// Earlier issues remembered per fingerprint.
const PREVIOUS_MAX: usize = 20;
/// Longest string kept in the snapshot of the last alert.
const SNAPSHOT_STRING_MAX: usize = 2000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub fingerprint: String,
    /// The issue repeats go to.
    pub issue: Option<IssueRef>,
    /// A replica is creating the issue.
    pub claim: Option<Claim>,
    /// Earlier issues of this fingerprint (closed, or their window ran out), oldest first.
    #[serde(default)]
    pub previous: Vec<IssueRef>,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    pub occurrences: u64,
    /// Occurrences already handled (see [`occurrence_key`]), oldest first.
    #[serde(default)]
    pub seen: Vec<String>,
    /// Comments being posted; an entry left behind by a crash is resumed.
    #[serde(default)]
    pub pending: Vec<Pending>,
    /// The last alert, long strings cut, for "what changed" in the next comment.
    pub last: Option<Snapshot>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    pub owner: String,
    pub at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub key: String,
    pub owner: String,
    pub at_ms: i64,
}

/// The last alert of a fingerprint, as JSON with strings cut.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot(pub serde_json::Value);

impl Snapshot {
    pub fn of(alert: &Alert) -> Snapshot {
        let mut v = serde_json::to_value(alert).unwrap_or(serde_json::Value::Null);
        cut(&mut v);
        Snapshot(v)
    }

    pub fn alert(&self) -> Option<Alert> {
        serde_json::from_value(self.0.clone()).ok()
    }
}

fn cut(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) if s.len() > SNAPSHOT_STRING_MAX => {
            let mut end = SNAPSHOT_STRING_MAX;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            s.truncate(end);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(cut),
        serde_json::Value::Object(o) => o.values_mut().for_each(cut),
        _ => {}
    }
}

/// Identifies one occurrence: the detection id and its time. A redelivered
/// batch, or the same event in two batches, gives the same key. An alert with
/// a Falcon composite id is that id alone: the stream's event and the Alerts
/// API's record of it (whose times may differ by the API's rounding) are one
/// occurrence.
pub fn occurrence_key(alert: &Alert) -> String {
    let mut h = Sha256::new();
    match &alert.composite_id {
        Some(id) => {
            h.update(b"composite:");
            h.update(id.as_bytes());
        }
        None => {
            h.update(alert.id.as_bytes());
            h.update(b"@");
            h.update(alert.time_ms.to_le_bytes());
        }
    }
    hex::encode(&h.finalize()[..8])
}

/// What to do with an alert, given the record of its fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// No issue yet and nobody creating one: claim, then create.
    Create { previous: Option<IssueRef> },
    /// A claim that is ours or stale: take it over; look for the marker first,
    /// the dead owner may have created the issue.
    TakeOver,
    /// Another replica is creating the issue: try again shortly.
    Wait,
    /// This occurrence was handled (or is being handled elsewhere).
    Done,
    /// A repeat within the window: comment on the issue if it is still open.
    Repeat { issue: IssueRef },
    /// A comment for this occurrence whose outcome is unknown (crash): check
    /// for its marker, post it if absent.
    Resume { issue: IssueRef },
    /// The window ran out: a new issue that links the old.
    Expired { previous: IssueRef },
}

/// The rules. `window_ms`: how long after the last occurrence a repeat still
/// joins the issue; `claim_ttl_ms`: after how long a claim or pending comment
/// of a silent replica is taken as abandoned.
pub fn next(
    rec: Option<&Record>,
    key: &str,
    alert_ms: i64,
    now_ms: i64,
    me: &str,
    window_ms: i64,
    claim_ttl_ms: i64,
) -> Next {
    let Some(r) = rec else {
        return Next::Create { previous: None };
    };
    if let Some(p) = r.pending.iter().find(|p| p.key == key) {
        let abandoned = p.owner == me || now_ms.saturating_sub(p.at_ms) > claim_ttl_ms;
        return match (&r.issue, abandoned) {
            (Some(issue), true) => Next::Resume {
                issue: issue.clone(),
            },
            _ => Next::Done,
        };
    }
    if r.seen.iter().any(|s| s == key) {
        return Next::Done;
    }
    if let Some(c) = &r.claim {
        return if c.owner == me || now_ms.saturating_sub(c.at_ms) > claim_ttl_ms {
            Next::TakeOver
        } else {
            Next::Wait
        };
    }
    match &r.issue {
        Some(issue) if alert_ms <= r.last_seen_ms.saturating_add(window_ms) => Next::Repeat {
            issue: issue.clone(),
        },
        Some(issue) => Next::Expired {
            previous: issue.clone(),
        },
        None => Next::TakeOver,
    }
}

impl Record {
    /// A record claiming creation of a new issue for `fingerprint`, keeping
    /// what `prior` knew, with `retired` (a closed or expired issue) moved to
    /// `previous`.
    pub fn claimed(
        fingerprint: &str,
        prior: Option<&Record>,
        retired: Option<IssueRef>,
        me: &str,
        now_ms: i64,
    ) -> Record {
        let mut r = prior.cloned().unwrap_or(Record {
            fingerprint: fingerprint.to_owned(),
            issue: None,
            claim: None,
            previous: Vec::new(),
            first_seen_ms: 0,
            last_seen_ms: 0,
            occurrences: 0,
            seen: Vec::new(),
            pending: Vec::new(),
            last: None,
        });
        if let Some(old) = retired.or_else(|| r.issue.take()) {
            if !r.previous.contains(&old) {
                r.previous.push(old);
            }
            let excess = r.previous.len().saturating_sub(PREVIOUS_MAX);
            r.previous.drain(..excess);
        }
        r.issue = None;
        r.claim = Some(Claim {
            owner: me.to_owned(),
            at_ms: now_ms,
        });
        r
    }

    /// The issue exists: the claim is over, this alert is its first occurrence.
    pub fn opened(&self, issue: IssueRef, key: &str, alert: &Alert) -> Record {
        let mut r = self.clone();
        r.issue = Some(issue);
        r.claim = None;
        r.first_seen_ms = alert.time_ms;
        r.last_seen_ms = alert.time_ms;
        r.occurrences = 1;
        r.pending.clear();
        remember(&mut r.seen, key);
        r.last = Some(Snapshot::of(alert));
        r
    }

    /// A repeat: counted and remembered, its comment pending until posted.
    pub fn repeated(&self, key: &str, alert: &Alert, me: &str, now_ms: i64) -> Record {
        let mut r = self.clone();
        r.occurrences += 1;
        r.first_seen_ms = r.first_seen_ms.min(alert.time_ms);
        r.last_seen_ms = r.last_seen_ms.max(alert.time_ms);
        remember(&mut r.seen, key);
        r.pending.push(Pending {
            key: key.to_owned(),
            owner: me.to_owned(),
            at_ms: now_ms,
        });
        r.last = Some(Snapshot::of(alert));
        r
    }

    /// The comment for `key` is posted.
    pub fn posted(&self, key: &str) -> Record {
        let mut r = self.clone();
        r.pending.retain(|p| p.key != key);
        r
    }

    /// Whether a comment for `key` is in flight.
    pub fn pending_for(&self, key: &str) -> bool {
        self.pending.iter().any(|p| p.key == key)
    }
}

fn remember(seen: &mut Vec<String>, key: &str) {
    if !seen.iter().any(|s| s == key) {
        seen.push(key.to_owned());
    }
    let excess = seen.len().saturating_sub(SEEN_MAX);
    seen.drain(..excess);
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;
    const TTL: i64 = 300_000;
    const WIN: i64 = 24 * H;

    fn issue(n: u64) -> IssueRef {
        IssueRef {
            repo: "o/r".into(),
            number: n,
            url: format!("https://github.example/o/r/issues/{n}"),
        }
    }

    fn alert_at(ms: i64) -> Alert {
        let v = serde_json::json!({"metadata":{"eventType":"EppDetectionSummaryEvent","offset":1},
            "event":{"Name":"X","CompositeId":"c:ind:1","CommandLine":"a".repeat(5000),"AgentId":"a1"}});
        let mut a = crate::alert::normalize::normalize(&v, &Default::default(), Default::default())
            .unwrap()
            .unwrap();
        a.time_ms = ms;
        // Occurrences told apart by time: an alert without a composite id.
        a.composite_id = None;
        a
    }

    #[test]
    fn first_alert_creates_then_repeats_comment_then_expire() {
        let a = alert_at(10 * H);
        let k = occurrence_key(&a);
        assert_eq!(
            next(None, &k, a.time_ms, 0, "me", WIN, TTL),
            Next::Create { previous: None }
        );
        let claimed = Record::claimed("fp", None, None, "me", 100);
        assert_eq!(
            next(Some(&claimed), &k, a.time_ms, 200, "other", WIN, TTL),
            Next::Wait
        );
        assert_eq!(
            next(Some(&claimed), &k, a.time_ms, 200, "me", WIN, TTL),
            Next::TakeOver
        );
        assert_eq!(
            next(
                Some(&claimed),
                &k,
                a.time_ms,
                100 + TTL + 1,
                "other",
                WIN,
                TTL
            ),
            Next::TakeOver,
            "a silent owner's claim is abandoned"
        );
        let open = claimed.opened(issue(1), &k, &a);
        assert_eq!(open.occurrences, 1);
        assert_eq!(
            next(Some(&open), &k, a.time_ms, 0, "x", WIN, TTL),
            Next::Done
        );

        let b = alert_at(20 * H);
        let kb = occurrence_key(&b);
        assert_eq!(
            next(Some(&open), &kb, b.time_ms, 0, "x", WIN, TTL),
            Next::Repeat { issue: issue(1) }
        );
        let rep = open.repeated(&kb, &b, "x", 5);
        assert_eq!(
            (rep.occurrences, rep.first_seen_ms, rep.last_seen_ms),
            (2, 10 * H, 20 * H)
        );
        assert_eq!(
            next(Some(&rep), &kb, b.time_ms, 6, "y", WIN, TTL),
            Next::Done,
            "in flight elsewhere"
        );
        assert_eq!(
            next(Some(&rep), &kb, b.time_ms, 6, "x", WIN, TTL),
            Next::Resume { issue: issue(1) }
        );
        assert_eq!(
            next(Some(&rep), &kb, b.time_ms, 5 + TTL + 1, "y", WIN, TTL),
            Next::Resume { issue: issue(1) }
        );
        let done = rep.posted(&kb);
        assert_eq!(
            next(Some(&done), &kb, b.time_ms, 0, "x", WIN, TTL),
            Next::Done
        );

        // The window slides with the last occurrence.
        let c = alert_at(20 * H + WIN);
        assert!(matches!(
            next(
                Some(&done),
                &occurrence_key(&c),
                c.time_ms,
                0,
                "x",
                WIN,
                TTL
            ),
            Next::Repeat { .. }
        ));
        let d = alert_at(20 * H + WIN + 1);
        assert_eq!(
            next(
                Some(&done),
                &occurrence_key(&d),
                d.time_ms,
                0,
                "x",
                WIN,
                TTL
            ),
            Next::Expired { previous: issue(1) }
        );
        let again = Record::claimed("fp", Some(&done), Some(issue(1)), "x", 9);
        assert_eq!(again.previous, [issue(1)]);
        assert_eq!(again.issue, None);
        assert_eq!(
            again.seen, done.seen,
            "history of handled occurrences survives"
        );
    }

    #[test]
    fn snapshot_cuts_long_strings_and_reads_back() {
        let a = alert_at(1);
        let s = Snapshot::of(&a);
        let back = s.alert().unwrap();
        assert_eq!(
            back.process.command_line.unwrap().len(),
            SNAPSHOT_STRING_MAX
        );
        assert_eq!(back.id, a.id);
    }

    #[test]
    fn seen_is_bounded_and_keys_differ_by_time() {
        let mut seen = Vec::new();
        for i in 0..SEEN_MAX + 10 {
            remember(&mut seen, &i.to_string());
        }
        assert_eq!(seen.len(), SEEN_MAX);
        assert_eq!(seen[0], "10");
        assert_ne!(occurrence_key(&alert_at(1)), occurrence_key(&alert_at(2)));
        // With a composite id, the stream's copy and the Alerts API's (whose
        // times may differ) are one occurrence.
        let mut a = alert_at(1);
        a.composite_id = Some("c:ind:1".into());
        let mut b = alert_at(2);
        b.composite_id = Some("c:ind:1".into());
        assert_eq!(occurrence_key(&a), occurrence_key(&b));
    }
}
