//! The loaded rules, compiled, grouped by FDR event type (and platform) so
//! an event meets only the rules of its type (a `DnsRequest` never reaches a
//! `process_creation` rule), and within a group only the rules whose
//! necessary substrings it holds (`prefilter.rs`). Each candidate is
//! evaluated with rsigma's `evaluate_rule`.

use crate::event::FdrEvent;
use crate::mapping;
use crate::prefilter::{self, Prefilter};
use crate::rules::{LoadedRule, RuleMeta};
use rustc_hash::FxHashMap;
use std::sync::Arc;

/// A rule that matched an event.
#[derive(Debug, Clone)]
pub struct Hit {
    /// The rule's position in the rule set (`Detector::rule_count` of them).
    pub index: u32,
    pub rule: Arc<RuleMeta>,
    /// The fields that made it match, as the rule reads them (see
    /// [`Hit::matched`] for the members and their values).
    pub fields: Vec<rsigma_eval::FieldMatch>,
}

impl Hit {
    /// The members that made the rule match, each with its value as the
    /// event holds it (a string's content, else its exact JSON text), not as
    /// the mapping presented it (`\WINWORD.EXE`, `C:\…`). `raw` gives a
    /// member's JSON text.
    pub fn matched<'r>(&self, raw: impl Fn(&str) -> Option<&'r str>) -> Vec<(String, String)> {
        self.fields
            .iter()
            .map(|m| {
                let member = mapping::Key::parse(&m.field).member();
                let value = match raw(member) {
                    Some(r) => match serde_json::from_str::<serde_json::Value>(r) {
                        Ok(serde_json::Value::String(s)) => s,
                        _ => r.to_owned(),
                    },
                    None => match &m.value {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    },
                };
                (member.to_owned(), value)
            })
            .collect()
    }
}

/// The rules one event type (and platform) meets, compiled, with the
/// prefilter that picks the ones an event can fire.
#[derive(Default)]
struct Group {
    compiled: Vec<rsigma_eval::CompiledRule>,
    metas: Vec<Arc<RuleMeta>>,
    /// Each rule's position in the rule set.
    indexes: Vec<u32>,
    needles: Vec<Option<prefilter::Needles>>,
    prefilter: Prefilter,
}

/// The platform its rules require (`None`: any), and the group.
type Slot = (Option<&'static str>, Group);

/// The groups for one event type (or for every type: FDR-native rules).
#[derive(Default)]
struct Groups {
    by_platform: Vec<Slot>,
}

impl Groups {
    fn add(&mut self, platform: Option<&'static str>, rule: &LoadedRule, index: u32) {
        let slot = match self
            .by_platform
            .iter_mut()
            .position(|(p, _)| *p == platform)
        {
            Some(i) => i,
            None => {
                self.by_platform.push((platform, Group::default()));
                self.by_platform.len() - 1
            }
        };
        let (_, group) = &mut self.by_platform[slot];
        group.compiled.push(rule.compiled.clone());
        group.metas.push(rule.meta.clone());
        group.indexes.push(index);
        group.needles.push(prefilter::needles(&rule.rule));
    }

    fn index(&mut self, filtered: bool) {
        for (_, g) in &mut self.by_platform {
            if !filtered {
                g.needles.iter_mut().for_each(|n| *n = None);
            }
            g.prefilter = Prefilter::new(&g.needles);
            g.needles = Vec::new();
        }
    }
}

/// Compiled rules, shared by every conversion thread.
#[derive(Default)]
pub struct Detector {
    by_event: FxHashMap<String, Groups>,
    any_event: Groups,
    rules: FxHashMap<String, Arc<RuleMeta>>,
    needs: Needs,
}

/// The FDR members the rules read (what a backtest must load).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Needs {
    /// A keyword rule reads every string member.
    pub all: bool,
    pub members: std::collections::BTreeSet<String>,
}

impl Needs {
    fn add(&mut self, d: &rsigma_parser::Detection) {
        use rsigma_parser::Detection;
        match d {
            Detection::AllOf(items) => {
                for item in items {
                    match &item.field.name {
                        Some(key) => self.add_key(key),
                        None => self.all = true,
                    }
                }
            }
            Detection::AnyOf(ds) | Detection::And(ds) => ds.iter().for_each(|d| self.add(d)),
            Detection::Keywords(_) => self.all = true,
            Detection::ArrayMatch { .. } | Detection::Conditional { .. } => self.all = true,
        }
    }

    fn add_key(&mut self, key: &str) {
        use mapping::Key;
        let members: Vec<&str> = match Key::parse(key) {
            Key::Member(m) | Key::Path(m) | Key::BaseName(m) => vec![m],
            Key::FirstOf(ms) => ms.split(',').collect(),
            Key::Hashes => mapping::HASH_MEMBERS.iter().map(|(_, m)| *m).collect(),
            Key::RegistryTarget => vec!["RegObjectName", "RegValueName"],
            Key::Initiated => vec!["event_simpleName"],
        };
        self.members.extend(members.into_iter().map(str::to_owned));
    }
}

impl Detector {
    pub fn new(rules: &[LoadedRule]) -> Detector {
        Detector::build(rules, true)
    }

    /// Every rule evaluated on every event of its type: what the prefilter
    /// must agree with (tests).
    #[cfg(test)]
    pub(crate) fn without_prefilter(rules: &[LoadedRule]) -> Detector {
        Detector::build(rules, false)
    }

    fn build(rules: &[LoadedRule], filtered: bool) -> Detector {
        let mut d = Detector::default();
        for (index, r) in rules.iter().enumerate() {
            let index = index as u32;
            match &r.selected.events {
                Some(events) => {
                    for e in events {
                        d.by_event.entry((*e).to_owned()).or_default().add(
                            r.selected.platform,
                            r,
                            index,
                        );
                    }
                }
                None => d.any_event.add(r.selected.platform, r, index),
            }
            d.rules.insert(r.meta.id.clone(), r.meta.clone());
            for detection in r.rule.detection.named.values() {
                d.needs.add(detection);
            }
        }
        // One Aho-Corasick pass per field marks the rules whose necessary
        // substrings occur; the others are skipped unevaluated.
        for groups in d
            .by_event
            .values_mut()
            .chain(std::iter::once(&mut d.any_event))
        {
            groups.index(filtered);
        }
        d
    }

    /// The members the rules read.
    pub fn needs(&self) -> &Needs {
        &self.needs
    }

    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    pub fn rules(&self) -> impl Iterator<Item = &Arc<RuleMeta>> {
        self.rules.values()
    }

    /// Whether any rule reads events of this type.
    pub fn covers(&self, event_simple_name: &str) -> bool {
        !self.any_event.by_platform.is_empty() || self.by_event.contains_key(event_simple_name)
    }

    /// The rules that events of this type on this platform meet.
    pub fn rules_for<'s>(
        &'s self,
        event_simple_name: &str,
        platform: Option<&str>,
    ) -> impl Iterator<Item = &'s Arc<RuleMeta>> {
        self.by_event
            .get(event_simple_name)
            .into_iter()
            .chain(std::iter::once(&self.any_event))
            .flat_map(|e| e.by_platform.iter())
            .filter(move |(p, _)| applies(*p, platform))
            .flat_map(|(_, g)| g.metas.iter())
    }

    /// Evaluates one event and appends the hits to `out`: `members`, each
    /// member once with its exact JSON text; `earlier`, the values a
    /// repeated key had before its last (read too: repeating a key cannot
    /// hide a value). Returns whether any rule read it.
    pub fn evaluate<'a, I, J>(&self, members: I, earlier: J, out: &mut Vec<Hit>) -> bool
    where
        I: IntoIterator<Item = (&'a str, &'a str)> + Clone,
        J: IntoIterator<Item = (&'a str, &'a str)>,
    {
        let mut name = None;
        let mut platform = None;
        for (k, v) in members.clone() {
            match k {
                "event_simpleName" => name = Some(v),
                "event_platform" => platform = Some(v),
                _ => continue,
            }
            if name.is_some() && platform.is_some() {
                break;
            }
        }
        let name = name.and_then(|n| n.strip_prefix('"')?.strip_suffix('"'));
        let platform = platform.and_then(|p| p.strip_prefix('"')?.strip_suffix('"'));
        let typed = name.and_then(|n| self.by_event.get(n));
        if typed.is_none() && self.any_event.by_platform.is_empty() {
            return false;
        }
        let event = FdrEvent::new(members, earlier);
        let mut keep = Vec::new();
        for groups in typed.into_iter().chain(std::iter::once(&self.any_event)) {
            for (p, group) in &groups.by_platform {
                if !applies(*p, platform) {
                    continue;
                }
                group.prefilter.candidates(&event, &mut keep);
                for (i, rule) in group.compiled.iter().enumerate() {
                    if !keep[i] {
                        continue;
                    }
                    let Some(result) = rsigma_eval::evaluate_rule(rule, &event) else {
                        continue;
                    };
                    let fields = match result.body {
                        rsigma_eval::ResultBody::Detection(d) => d.matched_fields,
                        rsigma_eval::ResultBody::Correlation(_) => Vec::new(),
                    };
                    out.push(Hit {
                        index: group.indexes[i],
                        rule: group.metas[i].clone(),
                        fields,
                    });
                }
            }
        }
        true
    }
}

/// A rule for one platform reads that platform's events, and events that do
/// not say theirs.
fn applies(required: Option<&str>, platform: Option<&str>) -> bool {
    match (required, platform) {
        (Some(r), Some(p)) => r == p,
        _ => true,
    }
}
