//! One FDR event as the rules read it: its top-level members, each kept as
//! its exact JSON text, looked up by the keys rules are compiled with
//! ([`mapping::Key`]). Nothing is parsed until a rule asks for it, and then
//! only that member.
//!
//! A line that repeats a key is read with every value it gave (a rule
//! matches if any does), so repeating a key cannot hide a value from a rule.

use crate::mapping::{self, HASH_MEMBERS, Key};
use rsigma_eval::{Event, EventValue};
use rustc_hash::FxHashMap;
use serde_json::Value;
use std::borrow::Cow;
use std::cell::{Cell, OnceCell};

pub struct FdrEvent<'a> {
    /// Each member (once), its JSON text, and what reading it gave, kept
    /// for the next rule that asks (many rules read the same few members).
    members: Vec<(&'a str, Slot<'a>)>,
    /// Member → position, built once enough lookups make it pay: an event
    /// that meets no rule is looked up a few times only.
    index: OnceCell<FxHashMap<&'a str, usize>>,
    lookups: Cell<u32>,
    /// Earlier values of members the line repeats, in line order.
    earlier: Vec<(&'a str, &'a str)>,
}

/// Lookups by scanning before the index is built.
const SCANS: u32 = 8;

struct Slot<'a> {
    raw: &'a str,
    /// The string's content (unescaped once), or `None` when not a string.
    text: OnceCell<Option<Cow<'a, str>>>,
    /// The path with its device volume written as `C:`, if it has one.
    drive: OnceCell<Option<String>>,
}

impl<'a> FdrEvent<'a> {
    /// `members`: each member's name and exact JSON text, each name once
    /// (the last value of a repeated key); `earlier`: the values a repeated
    /// key had before, in line order.
    pub fn new(
        members: impl IntoIterator<Item = (&'a str, &'a str)>,
        earlier: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> FdrEvent<'a> {
        FdrEvent {
            members: members
                .into_iter()
                .map(|(k, raw)| {
                    (
                        k,
                        Slot {
                            raw,
                            text: OnceCell::new(),
                            drive: OnceCell::new(),
                        },
                    )
                })
                .collect(),
            index: OnceCell::new(),
            lookups: Cell::new(0),
            earlier: earlier.into_iter().collect(),
        }
    }

    fn slot(&self, member: &str) -> Option<&Slot<'a>> {
        if let Some(ix) = self.index.get() {
            return ix.get(member).map(|i| &self.members[*i].1);
        }
        let n = self.lookups.get();
        self.lookups.set(n + 1);
        if n < SCANS {
            // The last occurrence, should a caller repeat a name.
            return self
                .members
                .iter()
                .rev()
                .find(|(k, _)| *k == member)
                .map(|(_, s)| s);
        }
        let ix = self.index.get_or_init(|| {
            let mut m = FxHashMap::with_capacity_and_hasher(self.members.len(), Default::default());
            for (i, (k, _)) in self.members.iter().enumerate() {
                m.insert(*k, i);
            }
            m
        });
        ix.get(member).map(|i| &self.members[*i].1)
    }

    /// A member's text when it is a JSON string (unescaped).
    pub fn string(&self, member: &str) -> Option<Cow<'a, str>> {
        self.slot(member).and_then(|s| string_of(s.raw))
    }

    /// A member's exact JSON text (its last occurrence).
    pub fn raw(&self, member: &str) -> Option<&'a str> {
        self.slot(member).map(|s| s.raw)
    }

    pub fn event_simple_name(&self) -> Option<Cow<'a, str>> {
        self.string("event_simpleName")
    }

    /// A member's value: strings borrowed from the slot (unescaped once).
    fn value(&self, member: &str) -> Option<EventValue<'_>> {
        let slot = self.slot(member)?;
        let last = match slot.text.get_or_init(|| string_of(slot.raw)) {
            Some(text) => EventValue::Str(Cow::Borrowed(text.as_ref())),
            None => value_of(slot.raw),
        };
        if self.earlier.iter().any(|(k, _)| *k == member) {
            let mut all: Vec<EventValue<'_>> = self
                .earlier
                .iter()
                .filter(|(k, _)| *k == member)
                .map(|(_, v)| value_of(v))
                .collect();
            all.push(last);
            return Some(EventValue::Array(all));
        }
        Some(last)
    }

    /// A path member, as it is and with its device volume as `C:`.
    fn path(&self, member: &str) -> Option<EventValue<'_>> {
        let value = self.value(member)?;
        let slot = self.slot(member)?;
        let EventValue::Str(text) = &value else {
            return Some(map_strings(value, &mapping::drive_letter_form));
        };
        match slot.drive.get_or_init(|| mapping::drive_letter_form(text)) {
            Some(drive) => Some(EventValue::Array(vec![
                value.clone(),
                EventValue::Str(Cow::Borrowed(drive.as_str())),
            ])),
            None => Some(value),
        }
    }
}

/// A string's content, borrowed when it has no escapes.
fn string_of(raw: &str) -> Option<Cow<'_, str>> {
    let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
    if !inner.contains('\\') {
        return Some(Cow::Borrowed(inner));
    }
    serde_json::from_str::<String>(raw).ok().map(Cow::Owned)
}

fn value_of(raw: &str) -> EventValue<'_> {
    match raw.as_bytes().first() {
        Some(b'"') => string_of(raw).map_or(EventValue::Null, EventValue::Str),
        Some(b't') if raw == "true" => EventValue::Bool(true),
        Some(b'f') if raw == "false" => EventValue::Bool(false),
        Some(b'n') => EventValue::Null,
        Some(b'[' | b'{') => serde_json::from_str::<Value>(raw)
            .map(|v| owned(&v))
            .unwrap_or(EventValue::Null),
        _ => match raw.parse::<i64>() {
            Ok(n) => EventValue::Int(n),
            // An integer past i64 (u64 ids) keeps its exact text: numeric
            // comparisons still read it, and nothing is rounded.
            Err(_) if raw.bytes().all(|b| b.is_ascii_digit() || b == b'-') => {
                EventValue::Str(Cow::Borrowed(raw))
            }
            Err(_) => raw
                .parse::<f64>()
                .map_or(EventValue::Str(Cow::Borrowed(raw)), EventValue::Float),
        },
    }
}

fn owned(v: &Value) -> EventValue<'static> {
    match v {
        Value::String(s) => EventValue::Str(Cow::Owned(s.clone())),
        Value::Number(n) => n
            .as_i64()
            .map(EventValue::Int)
            .unwrap_or_else(|| EventValue::Float(n.as_f64().unwrap_or(f64::NAN))),
        Value::Bool(b) => EventValue::Bool(*b),
        Value::Null => EventValue::Null,
        Value::Array(a) => EventValue::Array(a.iter().map(owned).collect()),
        Value::Object(m) => EventValue::Map(
            m.iter()
                .map(|(k, v)| (Cow::Owned(k.clone()), owned(v)))
                .collect(),
        ),
    }
}

/// Applies `f` to a string value, or to each string of an array of them.
fn map_strings<'a>(v: EventValue<'a>, f: &dyn Fn(&str) -> Option<String>) -> EventValue<'a> {
    match v {
        EventValue::Str(s) => match f(&s) {
            Some(other) => {
                EventValue::Array(vec![EventValue::Str(s), EventValue::Str(Cow::Owned(other))])
            }
            None => EventValue::Str(s),
        },
        EventValue::Array(items) => EventValue::Array(
            items
                .into_iter()
                .flat_map(|i| match map_strings(i, f) {
                    EventValue::Array(inner) => inner,
                    one => vec![one],
                })
                .collect(),
        ),
        other => other,
    }
}

impl Event for FdrEvent<'_> {
    fn get_field(&self, path: &str) -> Option<EventValue<'_>> {
        match Key::parse(path) {
            Key::Member(m) => self.value(m),
            Key::Path(m) => self.path(m),
            Key::BaseName(m) => self.value(m).map(|v| match v {
                EventValue::Str(s) if !s.contains('\\') => {
                    EventValue::Str(Cow::Owned(format!("\\{s}")))
                }
                other => other,
            }),
            Key::FirstOf(ms) => ms.split(',').find_map(|m| self.value(m)),
            Key::Hashes => {
                let parts: Vec<String> = HASH_MEMBERS
                    .iter()
                    .filter_map(|(label, m)| {
                        self.string(m)
                            .filter(|h| !h.is_empty())
                            .map(|h| format!("{label}={}", h.to_ascii_uppercase()))
                    })
                    .collect();
                (!parts.is_empty()).then(|| EventValue::Str(Cow::Owned(parts.join(","))))
            }
            Key::RegistryTarget => {
                let object = self.string("RegObjectName")?;
                Some(EventValue::Str(Cow::Owned(
                    match self.string("RegValueName").filter(|v| !v.is_empty()) {
                        Some(v) => format!("{object}\\{v}"),
                        None => object.into_owned(),
                    },
                )))
            }
            Key::Initiated => {
                let name = self.event_simple_name()?;
                if name.starts_with("NetworkConnect") {
                    Some(EventValue::Str(Cow::Borrowed("true")))
                } else if name.starts_with("NetworkReceiveAccept") {
                    Some(EventValue::Str(Cow::Borrowed("false")))
                } else {
                    None
                }
            }
        }
    }

    fn any_string_value(&self, pred: &dyn Fn(&str) -> bool) -> bool {
        self.members
            .iter()
            .map(|(_, s)| s.raw)
            .chain(self.earlier.iter().map(|(_, v)| *v))
            .filter_map(string_of)
            .any(|s| pred(&s))
    }

    fn all_string_values(&self) -> Vec<Cow<'_, str>> {
        self.members
            .iter()
            .map(|(_, s)| s.raw)
            .chain(self.earlier.iter().map(|(_, v)| *v))
            .filter_map(string_of)
            .collect()
    }

    fn to_json(&self) -> Value {
        Value::Object(
            self.members
                .iter()
                .map(|(k, slot)| {
                    (
                        (*k).to_owned(),
                        serde_json::from_str(slot.raw).unwrap_or(Value::Null),
                    )
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(pairs: &[(&'static str, &'static str)]) -> FdrEvent<'static> {
        // As the forwarder's parser hands them over: the last of a repeated
        // key among the members, the earlier ones apart.
        let mut members: Vec<(&str, &str)> = Vec::new();
        let mut earlier = Vec::new();
        for (k, v) in pairs.iter().copied() {
            if let Some(i) = members.iter().position(|(m, _)| *m == k) {
                earlier.push(members.remove(i));
            }
            members.push((k, v));
        }
        FdrEvent::new(members, earlier)
    }

    #[test]
    fn reads_members_as_rules_expect_them() {
        let e = ev(&[
            ("event_simpleName", r#""NetworkConnectIP4""#),
            ("RemotePort", r#""4444""#),
            (
                "ImageFileName",
                r#""\\Device\\HarddiskVolume3\\Windows\\cmd.exe""#,
            ),
            ("ParentBaseFileName", r#""WINWORD.EXE""#),
            ("SHA256HashData", r#""ab""#),
            ("MD5HashData", r#""cd""#),
            ("TargetProcessId", "18446744073709551615"),
            ("CommandLine", r#""first""#),
            ("CommandLine", r#""second""#),
        ]);
        assert_eq!(
            e.get_field("RemotePort"),
            Some(EventValue::Str(Cow::Borrowed("4444")))
        );
        assert_eq!(
            e.get_field("falconry:path:ImageFileName"),
            Some(EventValue::Array(vec![
                EventValue::Str(Cow::Borrowed("\\Device\\HarddiskVolume3\\Windows\\cmd.exe")),
                EventValue::Str(Cow::Owned("C:\\Windows\\cmd.exe".into())),
            ]))
        );
        assert_eq!(
            e.get_field("falconry:base:ParentBaseFileName"),
            Some(EventValue::Str(Cow::Owned("\\WINWORD.EXE".into())))
        );
        assert_eq!(
            e.get_field("falconry:hashes"),
            Some(EventValue::Str(Cow::Owned("MD5=CD,SHA256=AB".into())))
        );
        assert_eq!(
            e.get_field("falconry:initiated"),
            Some(EventValue::Str(Cow::Borrowed("true")))
        );
        assert_eq!(
            e.get_field("TargetProcessId"),
            Some(EventValue::Str(Cow::Borrowed("18446744073709551615")))
        );
        assert_eq!(
            e.get_field("CommandLine"),
            Some(EventValue::Array(vec![
                EventValue::Str(Cow::Borrowed("first")),
                EventValue::Str(Cow::Borrowed("second")),
            ]))
        );
        assert_eq!(e.get_field("Missing"), None);
        assert!(e.any_string_value(&|s| s == "first"));
    }
}
