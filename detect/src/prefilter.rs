//! Which rules an event can possibly fire, found in one pass: for each rule,
//! a set of substrings at least one of which must occur in a field for the
//! rule to match (a necessary condition taken from its condition and
//! selections), all of them in one Aho-Corasick automaton per field. Rules
//! none of whose substrings occur are not evaluated; rules with no such
//! substrings (a regex, a number, keywords, only negations) always are.
//!
//! Why: a thousand rules read the same few fields; without it each event
//! meets every rule of its type. The condition is necessary, never
//! sufficient: the rule itself still decides.

use crate::event::FdrEvent;
use aho_corasick::AhoCorasick;
use rsigma_eval::{Event, EventValue};
use rsigma_parser::{
    ConditionExpr, Detection, DetectionItem, Modifier, Quantifier, SigmaRule, SigmaValue,
    StringPart,
};
use rustc_hash::FxHashMap;

/// Alternatives: the rule can match only if one of these occurs.
pub type Needles = Vec<Needle>;

/// What must occur in a field for a rule to match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Needle {
    /// This text (lower-cased) inside the field's text.
    Text(String, String),
    /// The field's value equal to this integer, read as Sigma reads
    /// numbers (`"4444"` is 4444).
    Number(String, i64),
}

/// The necessary substrings of a rule, if it has any.
pub fn needles(rule: &SigmaRule) -> Option<Needles> {
    let named = &rule.detection.named;
    // Several conditions: the rule fires if any does.
    let mut all = Needles::new();
    for c in &rule.detection.conditions {
        all.extend(condition(c, named)?);
    }
    (!all.is_empty()).then_some(all)
}

fn condition(
    c: &ConditionExpr,
    named: &std::collections::HashMap<String, Detection>,
) -> Option<Needles> {
    match c {
        ConditionExpr::Identifier(name) => detection(named.get(name)?),
        // Any one conjunct's necessary substrings will do: the tightest.
        ConditionExpr::And(args) => args
            .iter()
            .filter_map(|a| condition(a, named))
            .min_by_key(cost),
        ConditionExpr::Or(args) => union(args.iter().map(|a| condition(a, named))),
        ConditionExpr::Not(_) => None,
        ConditionExpr::Selector {
            quantifier,
            pattern,
        } => {
            let mut matching: Vec<&String> = named
                .keys()
                .filter(|n| pattern.matches_detection_name(n))
                .collect();
            matching.sort();
            let each = matching.iter().map(|n| detection(&named[*n]));
            match quantifier {
                Quantifier::All => each.flatten().min_by_key(cost),
                Quantifier::Any | Quantifier::Count(1..) => union(each),
                Quantifier::Count(0) => None,
            }
        }
    }
}

/// Every alternative must have needles, or the union has none.
fn union(parts: impl Iterator<Item = Option<Needles>>) -> Option<Needles> {
    let mut out = Needles::new();
    for p in parts {
        out.extend(p?);
    }
    (!out.is_empty()).then_some(out)
}

/// Which necessary substrings prune best: short ones (`/c`, `-f`) occur in
/// nearly every command line, so any needle under 5 bytes ranks a set last;
/// then fewer needles, then longer ones.
fn cost(n: &Needles) -> (bool, usize, usize) {
    let shortest = n
        .iter()
        .map(|x| match x {
            Needle::Text(_, t) => t.len(),
            Needle::Number(..) => 8,
        })
        .min()
        .unwrap_or(0);
    (shortest < 5, n.len(), usize::MAX - shortest)
}

fn detection(d: &Detection) -> Option<Needles> {
    match d {
        // Every item must hold: any one item's needles are necessary.
        Detection::AllOf(items) => items.iter().filter_map(item).min_by_key(cost),
        Detection::AnyOf(subs) => union(subs.iter().map(detection)),
        Detection::And(subs) => subs.iter().filter_map(detection).min_by_key(cost),
        Detection::Keywords(_) | Detection::ArrayMatch { .. } | Detection::Conditional { .. } => {
            None
        }
    }
}

/// A field matched as text (exactly, or containing, starting or ending
/// with a value): each value's longest plain part must occur in the field.
/// A field equal to integers: one of them must be its value.
fn item(i: &DetectionItem) -> Option<Needles> {
    let field = i.field.name.as_ref()?;
    let plain = i.field.modifiers.iter().all(|m| {
        matches!(
            m,
            Modifier::Contains
                | Modifier::StartsWith
                | Modifier::EndsWith
                | Modifier::All
                | Modifier::Cased
        )
    });
    if !plain || i.values.is_empty() {
        return None;
    }
    if i.field.modifiers.is_empty()
        && let Some(numbers) = i
            .values
            .iter()
            .map(|v| match v {
                SigmaValue::Integer(n) => Some(Needle::Number(field.clone(), *n)),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
    {
        return Some(numbers);
    }
    let mut needles: Vec<String> = Vec::with_capacity(i.values.len());
    for v in &i.values {
        let SigmaValue::String(s) = v else {
            return None;
        };
        let longest = s
            .parts
            .iter()
            .filter_map(|p| match p {
                StringPart::Plain(t) => Some(t.as_str()),
                StringPart::Special(_) => None,
            })
            .max_by_key(|t| t.len())?;
        // Non-ASCII needles: lower-casing rules differ; evaluate the rule.
        if longest.is_empty() || !longest.is_ascii() {
            return None;
        }
        needles.push(longest.to_lowercase());
    }
    if i.field.modifiers.contains(&Modifier::All) {
        // Every value must occur: the longest one alone is necessary.
        let longest = needles.into_iter().max_by_key(String::len)?;
        needles = vec![longest];
    }
    Some(
        needles
            .into_iter()
            .map(|n| Needle::Text(field.clone(), n))
            .collect(),
    )
}

/// The automata of one group of rules.
#[derive(Default)]
pub struct Prefilter {
    /// Per field: the automaton and, per pattern, the rule it stands for.
    fields: Vec<(String, AhoCorasick, Vec<u32>)>,
    /// Per field: integer value → the rules that need it.
    numbers: Vec<(String, FxHashMap<i64, Vec<u32>>)>,
    /// Rules evaluated whatever the event holds.
    always: Vec<u32>,
    rules: usize,
}

impl Prefilter {
    /// `rules[i]`'s needles, or `None` to always evaluate it.
    pub fn new(rules: &[Option<Needles>]) -> Prefilter {
        let mut by_field: FxHashMap<&str, (Vec<&str>, Vec<u32>)> = FxHashMap::default();
        let mut numbers: FxHashMap<&str, FxHashMap<i64, Vec<u32>>> = FxHashMap::default();
        let mut always = Vec::new();
        for (i, n) in rules.iter().enumerate() {
            match n {
                Some(n) => {
                    for needle in n {
                        match needle {
                            Needle::Text(field, text) => {
                                let e = by_field.entry(field.as_str()).or_default();
                                e.0.push(text);
                                e.1.push(i as u32);
                            }
                            Needle::Number(field, v) => numbers
                                .entry(field.as_str())
                                .or_default()
                                .entry(*v)
                                .or_default()
                                .push(i as u32),
                        }
                    }
                }
                None => always.push(i as u32),
            }
        }
        let mut fields = Vec::new();
        let mut names: Vec<&str> = by_field.keys().copied().collect();
        names.sort_unstable();
        for name in names {
            let (patterns, owners) = &by_field[name];
            // Needles are lower-case ASCII; an ASCII haystack is searched as
            // it is, case folded by the automaton.
            match AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .build(patterns)
            {
                Ok(ac) => fields.push((name.to_owned(), ac, owners.clone())),
                // Not expected; if it happens the rules are simply evaluated.
                Err(_) => always.extend(owners.iter().copied()),
            }
        }
        let mut numbers: Vec<(String, FxHashMap<i64, Vec<u32>>)> = numbers
            .into_iter()
            .map(|(f, m)| (f.to_owned(), m))
            .collect();
        numbers.sort_by(|a, b| a.0.cmp(&b.0));
        always.sort_unstable();
        always.dedup();
        Prefilter {
            fields,
            numbers,
            always,
            rules: rules.len(),
        }
    }

    /// Marks in `keep` (resized to the rule count) the rules `event` may fire.
    pub fn candidates(&self, event: &FdrEvent<'_>, keep: &mut Vec<bool>) {
        keep.clear();
        keep.resize(self.rules, false);
        for i in &self.always {
            keep[*i as usize] = true;
        }
        for (field, ac, owners) in &self.fields {
            if let Some(v) = event.get_field(field) {
                mark(ac, owners, &v, keep);
            }
        }
        for (field, by_value) in &self.numbers {
            if let Some(v) = event.get_field(field) {
                mark_number(by_value, &v, keep);
            }
        }
    }
}

/// As Sigma compares a number to a value: the value read as a float (a
/// string parsed), equal within an epsilon, so an integer needle is its
/// value rounded.
fn mark_number(by_value: &FxHashMap<i64, Vec<u32>>, v: &EventValue<'_>, keep: &mut [bool]) {
    if let EventValue::Array(items) = v {
        for i in items {
            mark_number(by_value, i, keep);
        }
        return;
    }
    let Some(f) = v.as_f64() else { return };
    let r = f.round();
    if (f - r).abs() >= f64::EPSILON || !(i64::MIN as f64..=i64::MAX as f64).contains(&r) {
        return;
    }
    if let Some(rules) = by_value.get(&(r as i64)) {
        for i in rules {
            keep[*i as usize] = true;
        }
    }
}

fn mark(ac: &AhoCorasick, owners: &[u32], v: &EventValue<'_>, keep: &mut [bool]) {
    match v {
        EventValue::Str(s) => {
            // Sigma lower-cases with Unicode's rules, which can turn a
            // non-ASCII letter into an ASCII one (the Kelvin sign into `k`):
            // such text is lower-cased first, as the rule will see it.
            let lowered = if s.is_ascii() {
                std::borrow::Cow::Borrowed(s.as_ref())
            } else {
                std::borrow::Cow::Owned(s.to_lowercase())
            };
            for m in ac.find_overlapping_iter(lowered.as_ref()) {
                keep[owners[m.pattern().as_usize()] as usize] = true;
            }
        }
        EventValue::Int(n) => mark(ac, owners, &EventValue::Str(n.to_string().into()), keep),
        EventValue::Float(f) => mark(ac, owners, &EventValue::Str(f.to_string().into()), keep),
        EventValue::Bool(b) => mark(
            ac,
            owners,
            &EventValue::Str(if *b { "true" } else { "false" }.into()),
            keep,
        ),
        EventValue::Array(items) => {
            for i in items {
                mark(ac, owners, i, keep);
            }
        }
        EventValue::Null | EventValue::Map(_) => {}
    }
}
