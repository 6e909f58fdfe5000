//! Parsing one NDJSON line into its top-level keys and raw values without
//! building a tree: keys borrow from the line where they have no escapes, and
//! each value is kept as its exact JSON text ([`Raw`]), so numbers above 2^53
//! and u64 ids never pass through a float and nothing is re-formatted.
//!
//! The top level (an object of strings, numbers and literals, as FDR writes
//! it) is read by a scanner of its own, one pass over the bytes, checking the
//! JSON grammar as strictly as `serde_json` does; a nested array or object
//! (rare) is handed to `serde_json` whole.
//!
//! Pure. A line that is not a JSON object is an error the caller quarantines.

use serde_json::value::RawValue;
use std::borrow::Cow;
use std::hash::Hasher;

/// The exact JSON text of one value (valid JSON: checked by the parser), and
/// whether it is a string with escapes in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Raw<'a> {
    text: &'a str,
    escaped: bool,
}

impl<'a> Raw<'a> {
    pub fn get(&self) -> &'a str {
        self.text
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
    let mut fields = Vec::with_capacity(64);
    Scanner { text, at: 0 }.object(&mut fields)?;
    let displaced = dedup_keys(&mut fields);
    Ok(Record { fields, displaced })
}

/// Whether a raw value is a JSON string.
pub fn is_string(raw: &Raw<'_>) -> bool {
    raw.text.as_bytes().first() == Some(&b'"')
}

/// The content of a JSON string value, borrowed when it has no escapes.
pub fn string_value<'a>(raw: &Raw<'a>) -> Option<Cow<'a, str>> {
    let text = raw.text;
    if !is_string(raw) || text.len() < 2 {
        return None;
    }
    if !raw.escaped {
        return Some(Cow::Borrowed(&text[1..text.len() - 1]));
    }
    serde_json::from_str::<String>(text).ok().map(Cow::Owned)
}

/// One pass over a line's top level.
struct Scanner<'a> {
    text: &'a str,
    /// The next byte to read.
    at: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.at += 1;
        }
    }

    fn fail(&self, what: &str) -> String {
        match self.peek() {
            None => format!("{what}, found the end of the line"),
            Some(_) => format!("{what} at column {}", self.at + 1),
        }
    }

    fn eat(&mut self, byte: u8, what: &str) -> Result<(), String> {
        if self.peek() == Some(byte) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.fail(what))
        }
    }

    /// The whole line: one object, then only whitespace.
    fn object(&mut self, out: &mut Vec<(Cow<'a, str>, Raw<'a>)>) -> Result<(), String> {
        self.skip_ws();
        self.eat(b'{', "expected `{`")?;
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.at += 1;
        } else {
            loop {
                if self.peek() != Some(b'"') {
                    return Err(self.fail("expected a string key"));
                }
                let key = self.string()?;
                let key = if key.escaped {
                    // Decoded (and checked: a lone surrogate is an error) as serde_json would.
                    Cow::Owned(serde_json::from_str::<String>(key.text).map_err(|e| {
                        format!("key at column {}: {e}", self.at + 1 - key.text.len())
                    })?)
                } else {
                    Cow::Borrowed(&key.text[1..key.text.len() - 1])
                };
                self.skip_ws();
                self.eat(b':', "expected `:`")?;
                self.skip_ws();
                let value = self.value()?;
                out.push((key, value));
                self.skip_ws();
                match self.peek() {
                    Some(b',') => {
                        self.at += 1;
                        self.skip_ws();
                    }
                    Some(b'}') => {
                        self.at += 1;
                        break;
                    }
                    _ => return Err(self.fail("expected `,` or `}`")),
                }
            }
        }
        self.skip_ws();
        if self.at < self.text.len() {
            return Err(self.fail("trailing characters"));
        }
        Ok(())
    }

    fn value(&mut self) -> Result<Raw<'a>, String> {
        let start = self.at;
        match self.peek() {
            Some(b'"') => return self.string(),
            Some(b'-' | b'0'..=b'9') => self.number()?,
            Some(b't') => self.literal("true")?,
            Some(b'f') => self.literal("false")?,
            Some(b'n') => self.literal("null")?,
            Some(b'[' | b'{') => {
                // Nested: serde_json checks it (with its depth limit) and finds its end.
                let rest = &self.text[start..];
                let mut values = serde_json::Deserializer::from_str(rest).into_iter::<&RawValue>();
                match values.next() {
                    Some(Ok(raw)) => self.at += raw.get().len(),
                    Some(Err(e)) => return Err(format!("value at column {}: {e}", start + 1)),
                    None => return Err(self.fail("expected a value")),
                }
            }
            _ => return Err(self.fail("expected a value")),
        }
        Ok(Raw {
            text: &self.text[start..self.at],
            escaped: false,
        })
    }

    fn literal(&mut self, word: &str) -> Result<(), String> {
        if self.text.as_bytes()[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            Ok(())
        } else {
            Err(self.fail("expected a value"))
        }
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn number(&mut self) -> Result<(), String> {
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.peek() {
            Some(b'0') => self.at += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.fail("invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.fail("invalid number"));
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.fail("invalid number"));
            }
            self.digits();
        }
        Ok(())
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
    }

    /// A string from its opening quote: its text with the quotes.
    fn string(&mut self) -> Result<Raw<'a>, String> {
        let start = self.at;
        self.at += 1;
        let mut escaped = false;
        loop {
            self.at += plain_len(&self.text.as_bytes()[self.at..]);
            match self.peek() {
                Some(b'"') => {
                    self.at += 1;
                    return Ok(Raw {
                        text: &self.text[start..self.at],
                        escaped,
                    });
                }
                Some(b'\\') => {
                    escaped = true;
                    self.at += 1;
                    match self.peek() {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                            self.at += 1;
                        }
                        Some(b'u') => {
                            self.at += 1;
                            for _ in 0..4 {
                                if !self.peek().is_some_and(|b| b.is_ascii_hexdigit()) {
                                    return Err(self.fail("invalid \\u escape"));
                                }
                                self.at += 1;
                            }
                        }
                        _ => return Err(self.fail("invalid escape")),
                    }
                }
                Some(_) => return Err(self.fail("control character in a string")),
                None => return Err(self.fail("unterminated string")),
            }
        }
    }
}

/// How many bytes of `b` come before a quote, a backslash or a control
/// character: eight bytes at a time.
fn plain_len(b: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut i = 0;
    for chunk in b.chunks_exact(8) {
        let Ok(bytes) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let x = u64::from_le_bytes(bytes);
        let quote = x ^ (ONES * u64::from(b'"'));
        let slash = x ^ (ONES * u64::from(b'\\'));
        // The lowest flagged byte of each test is exact (borrows only run upwards).
        let hit = (quote.wrapping_sub(ONES) & !quote)
            | (slash.wrapping_sub(ONES) & !slash)
            | (x.wrapping_sub(ONES * 0x20) & !x);
        let hit = hit & HIGHS;
        if hit != 0 {
            return i + (hit.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        if c == b'"' || c == b'\\' || c < 0x20 {
            break;
        }
        i += 1;
    }
    i
}

/// Removes earlier duplicates of a key (and every member named
/// [`DUPLICATES`]) and returns them in line order. Up to [`SMALL`] keys, an
/// exact check in a small table on the stack (no allocation: the common case
/// is no duplicates); past it, or when there is one, a hash map pass: linear
/// in the keys, whatever their number (a 16 MiB line can hold a million).
fn dedup_keys<'a>(fields: &mut Vec<(Cow<'a, str>, Raw<'a>)>) -> Vec<(Cow<'a, str>, Raw<'a>)> {
    if fields.len() <= SMALL && !has_duplicates(fields) {
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
    if keep.iter().all(|k| *k) {
        return Vec::new();
    }
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

/// Keys a line may have for the table on the stack (at most half full).
const SMALL: usize = 128;

/// Whether a key repeats or is [`DUPLICATES`] (`fields.len() <= SMALL`).
fn has_duplicates(fields: &[(Cow<'_, str>, Raw<'_>)]) -> bool {
    // Each slot: the high 24 bits of the key's hash, and its index + 1.
    let mut slots = [0u32; 2 * SMALL];
    for (i, (k, _)) in fields.iter().enumerate() {
        if k == DUPLICATES {
            return true;
        }
        let mut h = rustc_hash::FxHasher::default();
        h.write(k.as_bytes());
        let hash = h.finish();
        let tag = ((hash >> 40) as u32) << 8;
        let mut slot = (hash >> 32) as usize % slots.len();
        loop {
            let s = slots[slot];
            if s == 0 {
                slots[slot] = tag | (i as u32 + 1);
                break;
            }
            if s & !0xff == tag && fields[(s & 0xff) as usize - 1].0 == *k {
                return true;
            }
            slot = (slot + 1) % slots.len();
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    /// The reader the scanner replaced: serde_json over the whole line, each
    /// member a `RawValue`. The scanner must accept and reject exactly what
    /// it did, and give the same keys and value texts.
    fn reference(line: &[u8]) -> Result<Vec<(String, String)>, String> {
        use serde::de::{MapAccess, Visitor};
        struct Members(Vec<(String, String)>);
        impl<'de> Deserialize<'de> for Members {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = Members;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str("a JSON object")
                    }
                    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                        let mut out = vec![];
                        while let Some(k) = map.next_key::<String>()? {
                            let v: &'de RawValue = map.next_value()?;
                            out.push((k, v.get().to_owned()));
                        }
                        Ok(Members(out))
                    }
                }
                d.deserialize_map(V)
            }
        }
        let text = std::str::from_utf8(line).map_err(|e| e.to_string())?;
        serde_json::from_str::<Members>(text)
            .map(|m| m.0)
            .map_err(|e| e.to_string())
    }

    fn scanned(line: &[u8]) -> Result<Vec<(String, String)>, String> {
        let text = std::str::from_utf8(line).map_err(|e| e.to_string())?;
        let mut fields = vec![];
        Scanner { text, at: 0 }.object(&mut fields)?;
        Ok(fields
            .into_iter()
            .map(|(k, v)| (k.into_owned(), v.get().to_owned()))
            .collect())
    }

    #[test]
    fn the_scanner_agrees_with_serde_json_on_every_mutation() {
        let seeds: [&[u8]; 6] = [
            br#"{"event_simpleName":"ProcessRollup2","timestamp":"1625677521162","CommandLine":"C:\\Windows\\x.exe \"a\"\t\u00e9\ud83d\ude00","N":-12.5e+3,"T":true,"F":false,"Z":null}"#,
            br#" { "a" : [1, {"b": [null, "x\"]"]}, -0.0E-1] , "k\u0041y" : {"n":{}}, "e":"" } "#,
            br#"{"x":"\ud800 lone","y":0,"z":[],"w":{}}"#,
            b"{}\r",
            br#"{"RawProcessId":"18446744072636268557","Big":18446744073709551557,"F":1.50}"#,
            b"{\"tab\":\"a\\tb\",\"u\":\"\\u001f\",\"s\":\"/\\/\\b\\f\\n\\r\"}",
        ];
        let alphabet = b"{}[]:,\"\\ \t\n\r0123456789-+.eEtrufalsn\x01\x1f\x7fu\xc3\xa9ab";
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut checked = 0;
        for seed in seeds {
            assert_eq!(
                scanned(seed),
                reference(seed),
                "{}",
                String::from_utf8_lossy(seed)
            );
            assert!(scanned(seed).is_ok(), "{}", String::from_utf8_lossy(seed));
            for _ in 0..20_000 {
                let mut line = seed.to_vec();
                for _ in 0..1 + next() % 3 {
                    let at = (next() % (line.len() as u64 + 1)) as usize;
                    let byte = alphabet[(next() % alphabet.len() as u64) as usize];
                    match next() % 3 {
                        0 if at < line.len() => line[at] = byte,
                        1 if at < line.len() => {
                            line.remove(at);
                        }
                        _ => line.insert(at, byte),
                    }
                }
                let (got, want) = (scanned(&line), reference(&line));
                assert_eq!(
                    got.is_ok(),
                    want.is_ok(),
                    "{}: scanner {got:?}, serde_json {want:?}",
                    String::from_utf8_lossy(&line)
                );
                if want.is_ok() {
                    assert_eq!(got, want, "{}", String::from_utf8_lossy(&line));
                }
                checked += 1;
            }
        }
        assert_eq!(checked, 120_000);
    }

    #[test]
    fn plain_len_stops_at_the_first_quote_backslash_or_control() {
        for len in 0..40 {
            for stop in [b'"', b'\\', 0x00, 0x1f] {
                let mut b = vec![b'a'; len];
                b.extend_from_slice("é".as_bytes());
                let at = b.len();
                b.push(stop);
                b.extend_from_slice(b"\"xx\\");
                assert_eq!(plain_len(&b), at, "{len} {stop}");
            }
            assert_eq!(plain_len(&vec![0x7f; len]), len);
        }
    }

    #[test]
    fn duplicates_are_found_in_lines_of_any_width() {
        for n in [2usize, 60, 127, 128, 129, 500] {
            let mut line = String::from("{");
            for i in 0..n {
                line.push_str(&format!("\"k{i}\":{i},"));
            }
            line.push_str("\"k0\":\"last\"}");
            let r = parse(line.as_bytes()).unwrap();
            assert_eq!(r.fields.len(), n, "{n}");
            assert_eq!(r.displaced.len(), 1, "{n}");
            let distinct = line.replacen("\"k0\":0,", "", 1);
            assert!(parse(distinct.as_bytes()).unwrap().displaced.is_empty());
        }
    }

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
