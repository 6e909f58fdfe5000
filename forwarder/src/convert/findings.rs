//! Rules over the events of one file, as the converter parses them (one
//! parse): each hit becomes a finding, written gzip NDJSON to a temporary
//! file as it is found. A rule keeps at most `MAX_FINDINGS_PER_RULE`
//! findings per file; past that its hits are counted and a last record says
//! how many were left out (the raw copy and the Parquet keep every event).
//! Also counts events of types neither the mapping nor the rules know.

use super::record::{Record, string_value};
use falconry_common::lake::findings::{
    Capped, Finding, FindingRule, FindingSource, MAX_FINDING_EVENT_BYTES, MAX_FINDINGS_BYTES,
    MAX_FINDINGS_PER_RULE, Matched,
};
use falconry_common::time;
use falconry_detect::ioc::set::FIELDS;
use falconry_detect::ioc::{IndicatorSet, IocHit};
use falconry_detect::{Detector, Hit, mapping};
use flate2::write::GzEncoder;
use rustc_hash::FxHashMap;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// The rules and indicators a conversion looks for, and where its source
/// came from.
#[derive(Clone)]
pub struct Detect {
    pub detector: Arc<Detector>,
    /// Indicators of compromise, looked for in every event (a few hash
    /// lookups each, whatever their number).
    pub indicators: Option<Arc<IndicatorSet>>,
    pub source_bucket: Option<String>,
}

impl std::fmt::Debug for Detect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detect")
            .field("rules", &self.detector.rule_count())
            .field(
                "indicators",
                &self.indicators.as_ref().map_or(0, |s| s.len()),
            )
            .field("source_bucket", &self.source_bucket)
            .finish()
    }
}

/// At most [`MAX_FINDING_EVENT_BYTES`] of a line, cut on a character boundary.
fn cut(bytes: &[u8]) -> &[u8] {
    if bytes.len() <= MAX_FINDING_EVENT_BYTES {
        return bytes;
    }
    let mut end = MAX_FINDING_EVENT_BYTES;
    // UTF-8 continuation bytes are 0b10xxxxxx.
    while end > 0 && bytes[end] & 0xC0 == 0x80 {
        end -= 1;
    }
    &bytes[..end]
}

/// Distinct unseen event types counted per file (a hostile file must not
/// grow the map without end).
const MAX_UNSEEN_TYPES: usize = 1000;

/// What detection did in one file.
#[derive(Debug, Default)]
pub struct Tally {
    /// Events read by rules, per event type (evaluations per rule follow).
    pub evaluated: FxHashMap<String, u64>,
    /// Hits per rule id.
    pub hits: FxHashMap<String, u64>,
    /// Events per event type nobody knows (neither the mapping nor a rule).
    pub unseen: FxHashMap<String, u64>,
    /// Indicator matches (all, kept or past the cap).
    pub ioc_hits: u64,
    /// The indicator matches written as findings, to record once the
    /// findings are durable (so a hunt later finds them known): indicator
    /// id, event key, record.
    pub ioc_records: Vec<(String, String, crate::hunt::record::Record)>,
    pub seconds: f64,
}

/// A finished findings file.
#[derive(Debug)]
pub struct Findings {
    /// Findings written (capped records not counted).
    pub written: u64,
    /// Hits past the per-rule cap.
    pub omitted: u64,
    pub file: tempfile::NamedTempFile,
}

#[derive(Debug, Default, Clone)]
struct PerRule {
    rule: Option<Arc<FindingRule>>,
    hits: u64,
    kept: u64,
    omitted: u64,
    last_omitted: u64,
}

pub struct FindingsWriter<'a> {
    detect: Option<&'a Detect>,
    source_key: &'a str,
    dir: &'a Path,
    out: Option<(GzEncoder<BufWriter<std::fs::File>>, tempfile::NamedTempFile)>,
    /// Per rule (by its index in the rule set): hits, kept, omitted, last
    /// omitted line; grown on first use.
    per_rule: Vec<PerRule>,
    /// Per indicator (by its index in the set), as `per_rule`.
    per_indicator: FxHashMap<u32, PerRule>,
    hits: Vec<Hit>,
    ioc_hits: Vec<IocHit>,
    written: u64,
    /// Record bytes written (uncompressed).
    kept_bytes: u64,
    pub tally: Tally,
}

impl<'a> FindingsWriter<'a> {
    pub fn new(detect: Option<&'a Detect>, source_key: &'a str, dir: &'a Path) -> Self {
        FindingsWriter {
            detect,
            source_key,
            dir,
            out: None,
            per_rule: Vec::new(),
            per_indicator: FxHashMap::default(),
            hits: Vec::new(),
            ioc_hits: Vec::new(),
            written: 0,
            kept_bytes: 0,
            tally: Tally::default(),
        }
    }

    /// Runs the rules over one parsed event (line `line`, text `bytes`), and
    /// counts it if its type is unknown.
    pub fn event(&mut self, rec: &Record<'_>, line: u64, bytes: &[u8]) -> io::Result<()> {
        if let Some(set) = self.detect.and_then(|d| d.indicators.as_ref()) {
            self.indicators(set, rec, line, bytes)?;
        }
        let Some(name) = rec
            .fields
            .iter()
            .find(|(k, _)| k == "event_simpleName")
            .and_then(|(_, v)| string_value(v))
        else {
            return Ok(());
        };
        let detect = self.detect.filter(|d| d.detector.covers(&name));
        if detect.is_none() && !mapping::is_known_event(&name) {
            let n = self.tally.unseen.len();
            if let Some(c) = self.tally.unseen.get_mut(name.as_ref()) {
                *c += 1;
            } else if n < MAX_UNSEEN_TYPES {
                self.tally.unseen.insert(name.clone().into_owned(), 1);
            }
        }
        let Some(detect) = detect else {
            return Ok(());
        };
        let started = Instant::now();
        // The earlier values of repeated keys too: the rules see every value.
        let members = rec.fields.iter().map(|(k, v)| (k.as_ref(), v.get()));
        let earlier = rec.displaced.iter().map(|(k, v)| (k.as_ref(), v.get()));
        let mut hits = std::mem::take(&mut self.hits);
        let read = detect.detector.evaluate(members, earlier, &mut hits);
        self.tally.seconds += started.elapsed().as_secs_f64();
        if read {
            match self.tally.evaluated.get_mut(name.as_ref()) {
                Some(c) => *c += 1,
                None => {
                    self.tally.evaluated.insert(name.into_owned(), 1);
                }
            }
        }
        for hit in hits.drain(..) {
            self.finding(&hit, rec, line, bytes)?;
        }
        self.hits = hits;
        Ok(())
    }

    /// Looks for the indicators in one event; each match is a finding (kind
    /// `ioc`), capped per indicator as rules are.
    fn indicators(
        &mut self,
        set: &IndicatorSet,
        rec: &Record<'_>,
        line: u64,
        bytes: &[u8],
    ) -> io::Result<()> {
        let mut hits = std::mem::take(&mut self.ioc_hits);
        // One pass over the members (the last of a repeated key wins, as in
        // the columns), then a few lookups per value found.
        let mut slots = [None; FIELDS.len()];
        for (k, v) in &rec.fields {
            if let Some(at) = set.slot(k) {
                slots[at] = Some(v);
            }
        }
        for (at, v) in slots.into_iter().enumerate() {
            if let Some(text) = v.and_then(string_value) {
                set.match_field(FIELDS[at].0, &text, &mut hits);
            }
        }
        for hit in hits.drain(..) {
            self.tally.ioc_hits += 1;
            let Some(ind) = set.get(hit.indicator) else {
                continue;
            };
            let entry = self.per_indicator.entry(hit.indicator).or_default();
            entry.hits += 1;
            if entry.rule.is_none() {
                entry.rule = Some(Arc::new(ind.finding_rule()));
            }
            if entry.kept >= MAX_FINDINGS_PER_RULE || self.kept_bytes >= MAX_FINDINGS_BYTES {
                entry.omitted += 1;
                entry.last_omitted = entry.last_omitted.max(line);
                continue;
            }
            entry.kept += 1;
            let rule = entry
                .rule
                .as_ref()
                .map_or_else(|| ind.finding_rule(), |r| (**r).clone());
            let mut finding = self.base_finding(rule, rec, line, bytes);
            let id = rec
                .fields
                .iter()
                .find(|(k, _)| k == "id")
                .and_then(|(_, v)| string_value(v))
                .map(std::borrow::Cow::into_owned);
            self.tally.ioc_records.push((
                ind.id(),
                crate::hunt::record::event_key(
                    id.as_deref(),
                    finding.aid.as_deref(),
                    finding.timestamp,
                    hit.field,
                    &hit.value,
                ),
                crate::hunt::record::Record {
                    status: crate::hunt::record::Status::Reported,
                    indicator: ind.id(),
                    event_id: id,
                    aid: finding.aid.clone(),
                    field: hit.field.to_owned(),
                    file: self.source_key.to_owned(),
                    at_ms: 0,
                    findings: None,
                },
            ));
            finding.indicator = Some(ind.finding_indicator("live"));
            finding.matched = vec![Matched {
                field: hit.field.to_owned(),
                value: hit.value,
            }];
            let text = serde_json::to_string(&finding).map_err(io::Error::other)?;
            self.write(&text)?;
            self.written += 1;
        }
        self.ioc_hits = hits;
        Ok(())
    }

    /// A finding of `rule` on this event, without its matched members.
    fn base_finding(
        &self,
        rule: FindingRule,
        rec: &Record<'_>,
        line: u64,
        bytes: &[u8],
    ) -> Finding {
        let member = |name: &str| {
            rec.fields
                .iter()
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| string_value(v))
                .map(std::borrow::Cow::into_owned)
        };
        Finding {
            rule,
            indicator: None,
            source: self.source(line),
            aid: member("aid"),
            computer_name: member("ComputerName"),
            event_simplename: member("event_simpleName"),
            timestamp: member("timestamp")
                .and_then(|t| time::epoch_ms(&t))
                .or_else(|| {
                    rec.fields
                        .iter()
                        .find(|(k, _)| k == "timestamp")
                        .and_then(|(_, v)| v.get().parse().ok())
                }),
            matched: Vec::new(),
            event: String::from_utf8_lossy(cut(bytes)).into_owned(),
            event_length: (bytes.len() > MAX_FINDING_EVENT_BYTES).then_some(bytes.len() as u64),
        }
    }

    fn finding(&mut self, hit: &Hit, rec: &Record<'_>, line: u64, bytes: &[u8]) -> io::Result<()> {
        let i = hit.index as usize;
        if self.per_rule.len() <= i {
            self.per_rule.resize(i + 1, PerRule::default());
        }
        let entry = &mut self.per_rule[i];
        entry.hits += 1;
        if entry.rule.is_none() {
            entry.rule = Some(hit.rule.clone());
        }
        if entry.kept >= MAX_FINDINGS_PER_RULE || self.kept_bytes >= MAX_FINDINGS_BYTES {
            entry.omitted += 1;
            entry.last_omitted = entry.last_omitted.max(line);
            return Ok(());
        }
        entry.kept += 1;
        let mut finding = self.base_finding((*hit.rule).clone(), rec, line, bytes);
        finding.matched = hit
            .matched(|m| {
                rec.fields
                    .iter()
                    .find(|(k, _)| k == m)
                    .map(|(_, v)| v.get())
            })
            .into_iter()
            .map(|(field, value)| Matched { field, value })
            .collect();
        let text = serde_json::to_string(&finding).map_err(io::Error::other)?;
        self.write(&text)?;
        self.written += 1;
        Ok(())
    }

    fn source(&self, line: u64) -> FindingSource {
        FindingSource {
            bucket: self.detect.and_then(|d| d.source_bucket.clone()),
            key: self.source_key.to_owned(),
            line,
        }
    }

    fn write(&mut self, text: &str) -> io::Result<()> {
        if self.out.is_none() {
            let file = tempfile::Builder::new()
                .prefix("falconry-findings-")
                .tempfile_in(self.dir)?;
            let w = BufWriter::new(file.reopen()?);
            self.out = Some((GzEncoder::new(w, flate2::Compression::fast()), file));
        }
        let Some((w, _)) = self.out.as_mut() else {
            return Ok(());
        };
        w.write_all(text.as_bytes())?;
        self.kept_bytes += text.len() as u64 + 1;
        w.write_all(b"\n")
    }

    /// Ends the findings (a capped record per rule past the cap, in rule id
    /// order); `None` when nothing matched.
    pub fn finish(mut self) -> io::Result<(Option<Findings>, Tally)> {
        let mut capped: Vec<(Arc<FindingRule>, u64, u64)> = Vec::new();
        for p in &self.per_rule {
            if let Some(rule) = &p.rule {
                self.tally.hits.insert(rule.id.clone(), p.hits);
            }
        }
        // Indicators are not metric labels (there may be a million): their
        // matches are one count, `tally.ioc_hits`.
        for p in self.per_rule.iter().chain(self.per_indicator.values()) {
            let Some(rule) = &p.rule else { continue };
            if p.omitted > 0 {
                capped.push((rule.clone(), p.omitted, p.last_omitted));
            }
        }
        capped.sort_by(|a, b| a.0.id.cmp(&b.0.id));
        let mut omitted_total = 0;
        for (rule, omitted, last) in capped {
            omitted_total += omitted;
            let record = Capped {
                capped: true,
                rule: (*rule).clone(),
                source: self.source(last),
                omitted,
                last_omitted_line: last,
            };
            let text = serde_json::to_string(&record).map_err(io::Error::other)?;
            self.write(&text)?;
        }
        let tally = std::mem::take(&mut self.tally);
        let Some((w, file)) = self.out.take() else {
            return Ok((None, tally));
        };
        let mut inner = w.finish()?;
        inner.flush()?;
        inner.get_ref().sync_all()?;
        Ok((
            Some(Findings {
                written: self.written,
                omitted: omitted_total,
                file,
            }),
            tally,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A long event is cut on a character boundary, never inside one.
    #[test]
    fn long_events_are_cut_on_a_character() {
        let short = "é".repeat(10);
        assert_eq!(cut(short.as_bytes()), short.as_bytes());
        let long = format!("a{}", "é".repeat(MAX_FINDING_EVENT_BYTES));
        let c = cut(long.as_bytes());
        assert!(c.len() <= MAX_FINDING_EVENT_BYTES && c.len() > MAX_FINDING_EVENT_BYTES - 2);
        assert!(std::str::from_utf8(c).is_ok());
    }
}
