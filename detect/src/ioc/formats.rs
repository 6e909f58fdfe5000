//! Indicator documents → indicators, one parser per format: CSV
//! (`type,value[,description,source,valid_until]`), one value per line of a
//! given type, STIX 2.1 bundles and MISP event exports. A bad entry is
//! reported with where it is (line, object id) and skipped; a document is
//! never refused for one entry.

use super::indicator::{self, Indicator, Kind};
use super::stix;
use serde_json::Value;
use std::fmt;

/// Problems kept per document (the rest are counted).
const MAX_PROBLEMS: usize = 100;

/// What a one-value-per-line list holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    Kind(Kind),
    /// SHA-256, SHA-1 or MD5, by length.
    Hash,
    /// IPv4, IPv6 or a network, by form.
    Ip,
}

impl ListKind {
    pub fn parse(text: &str) -> Option<ListKind> {
        match text.trim().to_ascii_lowercase().as_str() {
            "hash" | "hashes" => Some(ListKind::Hash),
            "ip" | "ips" | "ip-address" | "address" => Some(ListKind::Ip),
            other => Kind::parse(other).map(ListKind::Kind),
        }
    }
}

/// A document's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    List(ListKind),
    Stix,
    Misp,
}

impl Format {
    /// `csv`, `stix`, `misp`, or `list:<type>` (`list:sha256`, `list:ip`).
    pub fn parse(text: &str) -> Result<Format, String> {
        let t = text.trim().to_ascii_lowercase();
        match t.as_str() {
            "csv" => Ok(Format::Csv),
            "stix" | "stix2" | "stix2.1" => Ok(Format::Stix),
            "misp" => Ok(Format::Misp),
            _ => {
                let kind = t.strip_prefix("list:").unwrap_or(&t);
                ListKind::parse(kind).map(Format::List).ok_or_else(|| {
                    format!(
                        "unknown indicator format {text:?}: csv, stix, misp, or list:<type> (sha256, sha1, md5, hash, domain, ip, ipv4, ipv6, cidr, url, filename)"
                    )
                })
            }
        }
    }

    /// The format a document's name and first bytes say: `.csv` is CSV; JSON
    /// with `"type": "bundle"` is STIX, with an `Event` or `response` is
    /// MISP. A list needs its type said.
    pub fn guess(name: &str, text: &str) -> Option<Format> {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".csv") {
            return Some(Format::Csv);
        }
        let head = text.trim_start();
        if head.starts_with('{') || head.starts_with('[') {
            let sample = &text[..text.len().min(64 * 1024)];
            let compact: String = sample.chars().filter(|c| !c.is_whitespace()).collect();
            if compact.contains("\"type\":\"bundle\"") || compact.contains("\"spec_version\":\"2.")
            {
                return Some(Format::Stix);
            }
            if compact.contains("\"Event\"") || compact.contains("\"Attribute\"") {
                return Some(Format::Misp);
            }
        }
        None
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Format::Csv => f.write_str("csv"),
            Format::Stix => f.write_str("stix"),
            Format::Misp => f.write_str("misp"),
            Format::List(ListKind::Hash) => f.write_str("list:hash"),
            Format::List(ListKind::Ip) => f.write_str("list:ip"),
            Format::List(ListKind::Kind(k)) => write!(f, "list:{k}"),
        }
    }
}

/// One skipped entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EntryProblem {
    /// The document.
    pub source: String,
    /// Where in it: `line 7`, `indicator--…`, `attribute 3 (uuid …)`.
    pub at: String,
    pub message: String,
}

impl fmt::Display for EntryProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.source, self.at, self.message)
    }
}

/// A document's indicators and what was skipped.
#[derive(Debug, Default, Clone)]
pub struct Parsed {
    pub indicators: Vec<Indicator>,
    pub problems: Vec<EntryProblem>,
    /// Problems past the ones kept.
    pub more_problems: u64,
    /// Entries of kinds falconry does not hunt (STIX patterns beyond a simple
    /// comparison, MISP attribute types), counted per reason.
    pub unsupported: std::collections::BTreeMap<String, u64>,
    /// Entries skipped as revoked, deleted, not for detection (`to_ids`
    /// false) or expired.
    pub skipped: u64,
}

impl Parsed {
    fn problem(&mut self, source: &str, at: impl Into<String>, message: impl Into<String>) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(EntryProblem {
                source: source.to_owned(),
                at: at.into(),
                message: message.into(),
            });
        } else {
            self.more_problems += 1;
        }
    }

    fn unsupported(&mut self, reason: impl Into<String>) {
        *self.unsupported.entry(reason.into()).or_default() += 1;
    }

    /// Every problem, as lines for an operator.
    pub fn report(&self) -> Vec<String> {
        let mut out: Vec<String> = self.problems.iter().map(ToString::to_string).collect();
        if self.more_problems > 0 {
            out.push(format!("... and {} more bad entries", self.more_problems));
        }
        for (reason, n) in &self.unsupported {
            out.push(format!("{n} entries not hunted: {reason}"));
        }
        out
    }
}

/// Options a source gives its entries.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Domains also match their subdomains.
    pub subdomains: bool,
}

/// Parses `text` (named `source`) as `format`.
pub fn parse(format: Format, source: &str, text: &str, opts: &Options) -> Parsed {
    let mut out = Parsed::default();
    match format {
        Format::Csv => csv(source, text, &mut out),
        Format::List(kind) => list(source, text, kind, &mut out),
        Format::Stix => match serde_json::from_str::<Value>(text) {
            Ok(doc) => stix_bundle(source, &doc, &mut out),
            Err(e) => out.problem(source, "document", format!("not JSON: {e}")),
        },
        Format::Misp => match serde_json::from_str::<Value>(text) {
            Ok(doc) => misp(source, &doc, &mut out),
            Err(e) => out.problem(source, "document", format!("not JSON: {e}")),
        },
    }
    if opts.subdomains {
        for i in &mut out.indicators {
            if i.kind == Kind::Domain {
                i.subdomains = true;
            }
        }
    }
    out
}

/// One typed value → an indicator (the type `ip`/`hash` decided by the value).
fn typed(kind: ListKind, value: &str, source: &str) -> Result<Indicator, String> {
    let (kind, value, wild) = match kind {
        ListKind::Kind(k @ (Kind::Ipv4 | Kind::Ipv6 | Kind::Cidr)) => {
            let (got, v) = indicator::parse_any_ip(value)?;
            let fits = match k {
                Kind::Ipv4 => got == Kind::Ipv4 || (got == Kind::Cidr && !v.contains(':')),
                Kind::Ipv6 => got == Kind::Ipv6 || (got == Kind::Cidr && v.contains(':')),
                _ => true,
            };
            if !fits {
                return Err(format!("{value:?} is not an {k} address"));
            }
            (got, v, false)
        }
        ListKind::Kind(k) => {
            let (v, wild) = indicator::normalise(k, value)?;
            (k, v, wild)
        }
        ListKind::Ip => {
            let (k, v) = indicator::parse_any_ip(value)?;
            (k, v, false)
        }
        ListKind::Hash => {
            let k = indicator::hash_kind(value)
                .ok_or_else(|| format!("{:?} is not an MD5, SHA-1 or SHA-256", value.trim()))?;
            (k, indicator::normalise(k, value)?.0, false)
        }
    };
    let mut i = Indicator::new(kind, value, source);
    i.subdomains = wild;
    Ok(i)
}

/// A date or time as feeds write them: RFC 3339, `YYYY-MM-DD` (the end of
/// that day when `end`), or epoch seconds.
pub fn when(text: &str, end: bool) -> Option<i64> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    if let Some(ms) = falconry_common::time::iso_ms(t) {
        return Some(ms);
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        let start = d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis();
        return Some(if end { start + 86_400_000 - 1 } else { start });
    }
    falconry_common::time::epoch_seconds_ms(t)
}

fn csv(source: &str, text: &str, out: &mut Parsed) {
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .comment(Some(b'#'))
        .trim(::csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut first = true;
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, ::csv::Position::line);
                out.problem(source, format!("line {line}"), format!("not CSV: {e}"));
                continue;
            }
        };
        let line = record.position().map_or(0, ::csv::Position::line);
        let at = format!("line {line}");
        let cell = |i: usize| record.get(i).filter(|s| !s.is_empty());
        if std::mem::take(&mut first) && cell(0).is_some_and(|c| c.eq_ignore_ascii_case("type")) {
            continue;
        }
        if record.iter().all(str::is_empty) {
            continue;
        }
        let (Some(kind), Some(value)) = (cell(0), cell(1)) else {
            out.problem(source, at, "needs at least type,value");
            continue;
        };
        let Some(kind) = ListKind::parse(kind) else {
            out.problem(source, at, format!("unknown type {kind:?}"));
            continue;
        };
        let mut i = match typed(kind, value, source) {
            Ok(i) => i,
            Err(e) => {
                out.problem(source, at, e);
                continue;
            }
        };
        i.description = cell(2).map(str::to_owned);
        if let Some(s) = cell(3) {
            i.source = format!("{source} ({s})");
        }
        if let Some(u) = cell(4) {
            match when(u, true) {
                Some(ms) => i.valid_until_ms = Some(ms),
                None => {
                    out.problem(source, at, format!("valid_until {u:?} is not a date"));
                    continue;
                }
            }
        }
        out.indicators.push(i);
    }
}

fn list(source: &str, text: &str, kind: ListKind, out: &mut Parsed) {
    for (n, line) in text.lines().enumerate() {
        let value = line.split('#').next().unwrap_or("").trim();
        if value.is_empty() {
            continue;
        }
        match typed(kind, value, source) {
            Ok(i) => out.indicators.push(i),
            Err(e) => out.problem(source, format!("line {}", n + 1), e),
        }
    }
}

fn text_of<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn stix_bundle(source: &str, doc: &Value, out: &mut Parsed) {
    let objects: Vec<&Value> = match doc {
        Value::Object(_) if doc.get("objects").is_some() => doc["objects"]
            .as_array()
            .map(|a| a.iter().collect())
            .unwrap_or_default(),
        Value::Object(_) if text_of(doc, "type") == Some("indicator") => vec![doc],
        Value::Array(a) => a.iter().collect(),
        _ => {
            out.problem(source, "document", "not a STIX bundle (no objects)");
            return;
        }
    };
    stix_objects(source, objects, out);
}

/// STIX objects (a bundle's, or a TAXII envelope's) → indicators.
pub fn stix_objects<'v>(
    source: &str,
    objects: impl IntoIterator<Item = &'v Value>,
    out: &mut Parsed,
) {
    for (n, o) in objects.into_iter().enumerate() {
        if text_of(o, "type") != Some("indicator") {
            continue;
        }
        let at = text_of(o, "id").map_or_else(|| format!("object {n}"), str::to_owned);
        if o.get("revoked").and_then(Value::as_bool) == Some(true) {
            out.skipped += 1;
            continue;
        }
        let pattern_type = text_of(o, "pattern_type").unwrap_or("stix");
        if pattern_type != "stix" {
            out.unsupported(format!("pattern_type {pattern_type}"));
            continue;
        }
        let Some(pattern) = text_of(o, "pattern") else {
            out.problem(source, at, "indicator without a pattern");
            continue;
        };
        let comparisons = match stix::pattern(pattern) {
            Ok(c) => c,
            Err(stix::PatternError::Unsupported(why)) => {
                out.unsupported(format!("STIX pattern {why}"));
                continue;
            }
            Err(stix::PatternError::Bad(why)) => {
                out.problem(source, at, format!("pattern {pattern:?}: {why}"));
                continue;
            }
        };
        let mut labels = strings(o.get("labels"));
        labels.extend(strings(o.get("indicator_types")));
        let description = text_of(o, "description")
            .or_else(|| text_of(o, "name"))
            .map(str::to_owned);
        let time = |k: &str| text_of(o, k).and_then(|t| when(t, false));
        let valid_until = time("valid_until");
        for (kind, value) in comparisons {
            let got = match kind {
                Kind::Ipv4 | Kind::Ipv6 => {
                    indicator::parse_any_ip(&value).map(|(k, v)| (k, v, false))
                }
                k => indicator::normalise(k, &value).map(|(v, w)| (k, v, w)),
            };
            let (kind, value, wild) = match got {
                Ok(x) => x,
                Err(e) => {
                    out.problem(source, at.clone(), e);
                    continue;
                }
            };
            let mut i = Indicator::new(kind, value, source);
            i.subdomains = wild;
            i.description.clone_from(&description);
            i.labels.clone_from(&labels);
            i.learned_ms = time("created").or_else(|| time("modified"));
            i.valid_from_ms = time("valid_from");
            i.valid_until_ms = valid_until;
            i.reference = Some(at.clone());
            out.indicators.push(i);
        }
    }
}

fn truthy(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_u64() == Some(1),
        Some(Value::String(s)) => matches!(s.as_str(), "1" | "true" | "True"),
        _ => false,
    }
}

fn tag_names(v: &Value) -> Vec<String> {
    v.get("Tag")
        .and_then(Value::as_array)
        .map(|tags| {
            tags.iter()
                .filter_map(|t| text_of(t, "name").map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// MISP exports: an event (`{"Event": {...}}`), a list of them, a
/// `restSearch` answer (`{"response": [...]}` or `{"response":
/// {"Attribute": [...]}}`), or bare attributes.
fn misp(source: &str, doc: &Value, out: &mut Parsed) {
    let mut events: Vec<&Value> = Vec::new();
    let mut loose: Vec<&Value> = Vec::new();
    fn collect<'v>(v: &'v Value, events: &mut Vec<&'v Value>, loose: &mut Vec<&'v Value>) {
        match v {
            Value::Array(a) => a.iter().for_each(|x| collect(x, events, loose)),
            Value::Object(m) => {
                if let Some(e) = m.get("Event") {
                    events.push(e);
                } else if let Some(r) = m.get("response") {
                    collect(r, events, loose);
                } else if let Some(Value::Array(attrs)) = m.get("Attribute") {
                    if m.contains_key("info") {
                        events.push(v);
                    } else {
                        loose.extend(attrs.iter());
                    }
                }
            }
            _ => {}
        }
    }
    collect(doc, &mut events, &mut loose);
    if events.is_empty() && loose.is_empty() {
        out.problem(
            source,
            "document",
            "not a MISP export (no Event or Attribute)",
        );
        return;
    }
    for e in events {
        let info = text_of(e, "info");
        let event_tags = tag_names(e);
        let mut attrs: Vec<&Value> = e
            .get("Attribute")
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        if let Some(objects) = e.get("Object").and_then(Value::as_array) {
            for o in objects {
                if let Some(a) = o.get("Attribute").and_then(Value::as_array) {
                    attrs.extend(a.iter());
                }
            }
        }
        for a in attrs {
            misp_attribute(source, a, info, &event_tags, out);
        }
    }
    for a in loose {
        misp_attribute(source, a, None, &[], out);
    }
}

fn misp_attribute(
    source: &str,
    a: &Value,
    info: Option<&str>,
    event_tags: &[String],
    out: &mut Parsed,
) {
    let at = text_of(a, "uuid")
        .or_else(|| text_of(a, "id"))
        .map_or_else(|| "attribute".to_owned(), |u| format!("attribute {u}"));
    if truthy(a.get("deleted")) || !truthy(a.get("to_ids")) {
        out.skipped += 1;
        return;
    }
    let (Some(ty), Some(value)) = (text_of(a, "type"), text_of(a, "value")) else {
        out.problem(source, at, "attribute without type or value");
        return;
    };
    // Composite types: the part worth hunting.
    let (kind, value) = match ty {
        "md5" | "sha1" | "sha256" => (ListKind::Kind(Kind::parse(ty).unwrap_or(Kind::Md5)), value),
        "filename|md5" | "filename|sha1" | "filename|sha256" => (
            ListKind::Hash,
            value.split_once('|').map_or(value, |(_, h)| h),
        ),
        "domain" | "hostname" => (ListKind::Kind(Kind::Domain), value),
        "domain|ip" | "hostname|port" => (
            ListKind::Kind(Kind::Domain),
            value.split_once('|').map_or(value, |(d, _)| d),
        ),
        "ip-src" | "ip-dst" => (ListKind::Ip, value),
        "ip-src|port" | "ip-dst|port" => (
            ListKind::Ip,
            value.split_once('|').map_or(value, |(ip, _)| ip),
        ),
        "url" | "uri" => (ListKind::Kind(Kind::Url), value),
        "filename" => (ListKind::Kind(Kind::FileName), value),
        other => {
            out.unsupported(format!("MISP type {other}"));
            return;
        }
    };
    let mut i = match typed(kind, value, source) {
        Ok(i) => i,
        Err(e) => {
            out.problem(source, at, e);
            return;
        }
    };
    i.description = text_of(a, "comment").or(info).map(str::to_owned);
    let mut labels = event_tags.to_vec();
    labels.extend(tag_names(a));
    i.labels = labels;
    i.learned_ms = text_of(a, "timestamp")
        .and_then(falconry_common::time::epoch_seconds_ms)
        .or_else(|| a.get("timestamp").and_then(Value::as_i64).map(|s| s * 1000));
    i.reference = text_of(a, "uuid").map(str::to_owned);
    out.indicators.push(i);
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "4f1b3c8a9e0d7f26b5a4c3e2d1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2";

    #[test]
    fn csv_with_bad_entries() {
        let text = format!(
            "type,value,description,source,valid_until\n\
             sha256,{SHA},dropper,vendor-x,2030-01-01\n\
             domain,evil[.]example.com,c2,,\n\
             ip,192.0.2.0/24,,,\n\
             md5,nothex,bad,,\n\
             colour,red\n\
             url\n\
             # a comment\n\
             filename,C:\\Temp\\Dropper.EXE\n\
             sha1,{},,,tomorrow\n",
            "a".repeat(40)
        );
        let p = parse(Format::Csv, "iocs.csv", &text, &Options::default());
        let got: Vec<String> = p.indicators.iter().map(Indicator::id).collect();
        assert_eq!(
            got,
            vec![
                format!("sha256:{SHA}"),
                "domain:evil.example.com".into(),
                "cidr:192.0.2.0/24".into(),
                "file-name:dropper.exe".into(),
            ]
        );
        assert_eq!(p.indicators[0].description.as_deref(), Some("dropper"));
        assert_eq!(p.indicators[0].source, "iocs.csv (vendor-x)");
        assert_eq!(p.indicators[0].valid_until_ms, Some(1_893_542_399_999));
        let at: Vec<&str> = p.problems.iter().map(|p| p.at.as_str()).collect();
        assert_eq!(at, vec!["line 5", "line 6", "line 7", "line 10"]);
        assert!(p.problems[0].message.contains("32 hex digits"));
        assert!(p.problems[1].message.contains("unknown type"));
    }

    #[test]
    fn lists() {
        let p = parse(
            Format::parse("list:ip").unwrap(),
            "ips.txt",
            "192.0.2.1\n# c\n\n2001:db8::1 # v6\n10.0.0.0/8\nnot-an-ip\n",
            &Options::default(),
        );
        let got: Vec<String> = p.indicators.iter().map(Indicator::id).collect();
        assert_eq!(
            got,
            vec!["ipv4:192.0.2.1", "ipv6:2001:db8::1", "cidr:10.0.0.0/8"]
        );
        assert_eq!(p.problems.len(), 1);
        assert_eq!(p.problems[0].at, "line 6");
        let p = parse(
            Format::parse("list:domain").unwrap(),
            "d.txt",
            "a.example\n",
            &Options { subdomains: true },
        );
        assert_eq!(p.indicators[0].id(), "domain:*.a.example");
        assert!(Format::parse("list:colour").is_err());
    }

    #[test]
    fn stix_bundles() {
        let doc = serde_json::json!({
            "type": "bundle", "id": "bundle--1", "objects": [
                {"type": "indicator", "spec_version": "2.1", "id": "indicator--a",
                 "created": "2026-11-20T10:00:00Z", "modified": "2026-11-21T10:00:00Z",
                 "name": "Dropper", "pattern_type": "stix",
                 "pattern": format!("[file:hashes.'SHA-256' = '{SHA}'] OR [domain-name:value = 'c2.example.net']"),
                 "valid_from": "2026-11-20T10:00:00Z", "valid_until": "2027-11-20T10:00:00Z",
                 "indicator_types": ["malicious-activity"]},
                {"type": "indicator", "id": "indicator--b", "pattern_type": "stix",
                 "pattern": "[ipv4-addr:value = '198.51.100.0/24' OR url:value = 'hxxp://x.test/a']",
                 "valid_from": "2026-01-01T00:00:00Z"},
                {"type": "indicator", "id": "indicator--c", "pattern_type": "stix",
                 "pattern": "[file:name = 'a.exe' AND file:size = 3]", "valid_from": "2026-01-01T00:00:00Z"},
                {"type": "indicator", "id": "indicator--d", "pattern_type": "sigma", "pattern": "x"},
                {"type": "indicator", "id": "indicator--e", "pattern_type": "stix", "pattern": "[file:hashes.MD5 = 'xyz']"},
                {"type": "indicator", "id": "indicator--f", "revoked": true, "pattern": "[file:name = 'b.exe']"},
                {"type": "malware", "id": "malware--1", "name": "x"}
            ]
        });
        let p = parse(
            Format::Stix,
            "bundle.json",
            &doc.to_string(),
            &Options::default(),
        );
        let got: Vec<String> = p.indicators.iter().map(Indicator::id).collect();
        assert_eq!(
            got,
            vec![
                format!("sha256:{SHA}"),
                "domain:c2.example.net".into(),
                "cidr:198.51.100.0/24".into(),
                "url:http://x.test/a".into(),
            ]
        );
        let first = &p.indicators[0];
        assert_eq!(first.description.as_deref(), Some("Dropper"));
        assert_eq!(first.learned_ms, Some(1_795_168_800_000));
        assert!(first.valid_until_ms.is_some() && first.valid_from_ms.is_some());
        assert_eq!(first.reference.as_deref(), Some("indicator--a"));
        assert_eq!(first.labels, vec!["malicious-activity"]);
        assert_eq!(p.problems.len(), 1, "{:?}", p.problems);
        assert_eq!(p.problems[0].at, "indicator--e");
        assert_eq!(p.unsupported.values().sum::<u64>(), 2);
        assert_eq!(p.skipped, 1);
        assert_eq!(
            Format::guess("x.json", &doc.to_string()),
            Some(Format::Stix)
        );
    }

    #[test]
    fn misp_events() {
        let doc = serde_json::json!({"response": [{"Event": {
            "info": "Campaign X", "Tag": [{"name": "tlp:amber"}],
            "Attribute": [
                {"uuid": "u1", "type": "sha256", "value": SHA, "to_ids": true, "timestamp": "1764000000"},
                {"uuid": "u2", "type": "domain", "value": "bad.example", "to_ids": false},
                {"uuid": "u3", "type": "ip-dst|port", "value": "203.0.113.9|443", "to_ids": true, "comment": "C2"},
                {"uuid": "u4", "type": "filename|md5", "value": "x.exe|0123456789abcdef0123456789abcdef", "to_ids": "1"},
                {"uuid": "u5", "type": "regkey", "value": "HKLM\\x", "to_ids": true},
                {"uuid": "u6", "type": "md5", "value": "nope", "to_ids": true},
                {"uuid": "u7", "type": "url", "value": "https://bad.example/x", "to_ids": true, "deleted": true}
            ],
            "Object": [{"Attribute": [{"uuid": "u8", "type": "hostname", "value": "Sub.Bad.Example", "to_ids": true}]}]
        }}]});
        let text = doc.to_string();
        assert_eq!(Format::guess("event.json", &text), Some(Format::Misp));
        let p = parse(Format::Misp, "event.json", &text, &Options::default());
        let got: Vec<String> = p.indicators.iter().map(Indicator::id).collect();
        assert_eq!(
            got,
            vec![
                format!("sha256:{SHA}"),
                "ipv4:203.0.113.9".into(),
                "md5:0123456789abcdef0123456789abcdef".into(),
                "domain:sub.bad.example".into(),
            ]
        );
        assert_eq!(p.indicators[0].learned_ms, Some(1_764_000_000_000));
        assert_eq!(p.indicators[0].description.as_deref(), Some("Campaign X"));
        assert_eq!(p.indicators[1].description.as_deref(), Some("C2"));
        assert_eq!(p.indicators[0].labels, vec!["tlp:amber"]);
        assert_eq!(p.problems.len(), 1);
        assert_eq!(p.problems[0].at, "attribute u6");
        assert_eq!(p.skipped, 2);
        assert_eq!(p.unsupported.get("MISP type regkey"), Some(&1));
    }

    #[test]
    fn garbage_is_a_problem_not_a_panic() {
        for f in [Format::Stix, Format::Misp] {
            let p = parse(f, "x", "{not json", &Options::default());
            assert_eq!(p.problems.len(), 1);
            let p = parse(f, "x", "42", &Options::default());
            assert_eq!(p.problems.len(), 1);
        }
        let p = parse(Format::Csv, "x", "\u{0}\u{1},\"", &Options::default());
        assert!(p.indicators.is_empty());
    }
}
