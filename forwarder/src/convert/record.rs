//! Parsing one NDJSON line into its top-level keys and raw values without
//! building a tree: keys borrow from the line where they have no escapes, and
//! each value is kept as its exact JSON text ([`Raw`]), so numbers above 2^53
//! and u64 ids never pass through a float and nothing is re-formatted.
//!
//! Pure. A line that is not a JSON object is an error the caller quarantines.

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// The exact JSON text of one value (valid JSON: checked by the parser).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Raw<'a>(&'a str);

impl<'a> Raw<'a> {
    pub fn get(&self) -> &'a str {
        self.0
    }
}

/// The member of `fields_json` that keeps what a last-wins reading would lose:
/// `[[key, value], ...]` in line order, each value its exact JSON text. It
/// holds every earlier occurrence of a duplicated key, and every occurrence
/// of a member that is itself named `falconry:duplicates` (the last of those
/// is that member's value), so nothing on a line can hide a value or forge
/// the list.
pub const DUPLICATES: &str = "falconry:duplicates";

/// The top-level members of one line, in order, duplicates removed (the last
/// wins, as in most JSON readers), and what that removed.
pub struct Record<'a> {
    pub fields: Vec<(Cow<'a, str>, Raw<'a>)>,
    /// Earlier occurrences of duplicated keys, and every member named
    /// [`DUPLICATES`], in line order.
    pub displaced: Vec<(Cow<'a, str>, Raw<'a>)>,
}

impl Record<'_> {
    /// The [`DUPLICATES`] member's value (`[[key, value], ...]`), if any.
    pub fn displaced_json(&self) -> Option<String> {
        if self.displaced.is_empty() {
            return None;
        }
        let mut out = String::from("[");
        for (i, (k, v)) in self.displaced.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('[');
            out.push_str(&serde_json::Value::from(k.as_ref()).to_string());
            out.push(',');
            out.push_str(v.get());
            out.push(']');
        }
        out.push(']');
        Some(out)
    }
}

/// Parses `line` as one JSON object.
pub fn parse(line: &[u8]) -> Result<Record<'_>, String> {
    // One UTF-8 check of the whole line, instead of one per string inside it.
    let text = simdutf8::compat::from_utf8(line).map_err(|e| format!("not UTF-8: {e}"))?;
    let fields: Fields<'_> = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let mut fields: Vec<_> = fields
        .0
        .into_iter()
        .map(|(k, v)| (k, Raw(v.get())))
        .collect();
    let displaced = dedup_keys(&mut fields);
    Ok(Record { fields, displaced })
}

/// Whether a raw value is a JSON string.
pub fn is_string(raw: &Raw<'_>) -> bool {
    raw.get().as_bytes().first() == Some(&b'"')
}

/// The content of a JSON string value, borrowed when it has no escapes.
pub fn string_value<'a>(raw: &Raw<'a>) -> Option<Cow<'a, str>> {
    let text = raw.get();
    if !is_string(raw) || text.len() < 2 {
        return None;
    }
    let inner = &text[1..text.len() - 1];
    if !inner.contains('\\') {
        return Some(Cow::Borrowed(inner));
    }
    serde_json::from_str::<String>(text).ok().map(Cow::Owned)
}

struct Fields<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Fields<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(FieldsVisitor)
    }
}

struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = Fields<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(map.size_hint().unwrap_or(48));
        while let Some(Key(k)) = map.next_key::<Key<'de>>()? {
            let v: &'de RawValue = map.next_value()?;
            out.push((k, v));
        }
        Ok(Fields(out))
    }
}

struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// Removes earlier duplicates of a key (and every member named
/// [`DUPLICATES`]) and returns them in line order. A 64-bit filter keeps the
/// common case (no duplicates, few keys) to one hash per key; past it, one
/// hash map pass: linear in the keys, whatever their number (a 16 MiB line
/// can hold a million).
fn dedup_keys<'a>(fields: &mut Vec<(Cow<'a, str>, Raw<'a>)>) -> Vec<(Cow<'a, str>, Raw<'a>)> {
    let mut seen: u64 = 0;
    let mut maybe_dup = false;
    for (k, _) in fields.iter() {
        let bit = 1u64 << (fnv(k.as_bytes()) & 63);
        if seen & bit != 0 || k == DUPLICATES {
            maybe_dup = true;
            break;
        }
        seen |= bit;
    }
    if !maybe_dup {
        return Vec::new();
    }
    // The index of each key's last occurrence: that one stays.
    let mut last: rustc_hash::FxHashMap<&str, usize> =
        rustc_hash::FxHashMap::with_capacity_and_hasher(fields.len(), Default::default());
    for (i, (k, _)) in fields.iter().enumerate() {
        last.insert(k.as_ref(), i);
    }
    let keep: Vec<bool> = fields
        .iter()
        .enumerate()
        .map(|(i, (k, _))| k != DUPLICATES && last.get(k.as_ref()) == Some(&i))
        .collect();
    let mut displaced = Vec::new();
    let mut kept = Vec::with_capacity(fields.len());
    for ((k, v), keep) in fields.drain(..).zip(keep) {
        if keep {
            kept.push((k, v));
        } else {
            displaced.push((k, v));
        }
    }
    *fields = kept;
    displaced
}

fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_exact_value_text() {
        let line = br#"{"RawProcessId":"18446744072636268557","Big":18446744073709551557,"F":1.50,"A":[1,{"b":null}],"E":"a\"b\u00e9"} "#;
        let r = parse(line).unwrap();
        let got: Vec<(String, String)> = r
            .fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.get().to_string()))
            .collect();
        assert_eq!(
            got[0],
            ("RawProcessId".into(), "\"18446744072636268557\"".into())
        );
        assert_eq!(got[1].1, "18446744073709551557");
        assert_eq!(got[2].1, "1.50");
        assert_eq!(got[3].1, "[1,{\"b\":null}]");
        assert_eq!(string_value(&r.fields[4].1).unwrap(), "a\"bé");
        assert!(matches!(
            string_value(&r.fields[0].1).unwrap(),
            Cow::Borrowed(_)
        ));
        assert_eq!(string_value(&r.fields[1].1), None);
    }

    #[test]
    fn rejects_non_objects_and_broken_lines() {
        for bad in [
            &b"[1,2]"[..],
            b"\"x\"",
            b"{\"a\":",
            b"{\"a\":1} x",
            b"<html>",
            b"{\"a\":\"\xff\"}",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        assert!(parse(b"{}\r").unwrap().fields.is_empty());
    }

    #[test]
    fn many_keys_with_duplicates_keep_the_last_of_each() {
        // Past the 64-bit filter: the hash map pass.
        let mut line = String::from("{");
        for i in 0..5000 {
            line.push_str(&format!("\"k{}\":{i},", i % 1000));
        }
        line.push_str("\"end\":1}");
        let r = parse(line.as_bytes()).unwrap();
        assert_eq!(r.fields.len(), 1001);
        let k7 = r.fields.iter().find(|(k, _)| k == "k7").unwrap();
        assert_eq!(k7.1.get(), "4007");
        // Order: each key where its last occurrence was.
        assert_eq!(r.fields[0].0, "k0");
        assert_eq!(r.fields[1000].0, "end");
    }

    #[test]
    fn duplicate_keys_last_wins() {
        let r = parse(br#"{"a":"1","b":"2","a":"3"}"#).unwrap();
        let got: Vec<(String, String)> = r
            .fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.get().to_string()))
            .collect();
        assert_eq!(
            got,
            vec![("b".into(), "\"2\"".into()), ("a".into(), "\"3\"".into())]
        );
        assert_eq!(r.displaced_json().unwrap(), r#"[["a","1"]]"#);
    }

    #[test]
    fn the_duplicates_member_cannot_be_forged() {
        let r = parse(br#"{"falconry:duplicates":[["a","x"]],"a":1,"a":2}"#).unwrap();
        assert_eq!(r.fields.len(), 1);
        assert_eq!(
            r.displaced_json().unwrap(),
            r#"[["falconry:duplicates",[["a","x"]]],["a",1]]"#
        );
        assert!(parse(br#"{"a":1}"#).unwrap().displaced_json().is_none());
    }
}
