//! The hidden machine block at the end of every issue and comment: an HTML
//! comment with the marker the trackers search for (`falconry:fingerprint=`
//! on issues, `falconry:occurrence=` on comments) and, on issues, a line of
//! JSON naming the alert it was opened for.
//!
//! Pure. The block is built here, never by a template, so an operator's
//! template cannot drop or forge it; ids are percent-encoded and every JSON
//! string is written with `\u` escapes for anything but letters, digits and a
//! few harmless characters, so neither `--`, `>` nor a second marker can
//! appear inside the comment.

use super::view::IssueView;
use std::fmt::Write as _;

/// Characters of an id kept in a marker (longer ids are cut there).
pub const MAX_ID_CHARS: usize = 256;

/// `falconry:fingerprint=<fp>`, the string an issue body contains.
pub fn marker(fingerprint: &str) -> String {
    format!("falconry:fingerprint={}", id(fingerprint))
}

/// `falconry:occurrence=<key>`, the string a repeat comment contains.
pub fn occurrence_marker(key: &str) -> String {
    format!("falconry:occurrence={}", id(key))
}

/// `falconry:response=<what>`, the string a comment of the response loop
/// contains (a status synced from Falcon, an SLA reminder): posted once.
pub fn response_marker(what: &str) -> String {
    format!("falconry:response={}", id(what))
}

/// The block ending a comment of the response loop.
pub fn response_block(what: &str) -> String {
    format!("<!-- {} -->", response_marker(what))
}

/// The block ending an issue body.
pub fn issue_block(view: &IssueView<'_>) -> String {
    let a = view.alert;
    let opt = |n: Option<u64>| n.map_or_else(|| "null".to_owned(), |n| n.to_string());
    format!(
        "<!-- {}\n{{\"alert_id\":{},\"event_type\":{},\"kind\":{},\"partition\":{},\"offset\":{},\"line\":{},\"version\":{}}}\n-->",
        marker(view.fingerprint),
        json_str(&a.id),
        json_str(&a.event_type),
        json_str(a.kind.as_str()),
        opt(a.origin.partition.map(u64::from)),
        opt(a.origin.offset),
        a.origin.line,
        json_str(view.version),
    )
}

/// The block ending a repeat comment.
pub fn comment_block(occurrence_key: &str) -> String {
    format!("<!-- {} -->", occurrence_marker(occurrence_key))
}

/// An id as marker text: `[A-Za-z0-9._]` kept, every other byte `%XX`, so
/// distinct ids stay distinct (up to [`MAX_ID_CHARS`]).
fn id(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().take(MAX_ID_CHARS) {
        if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// A JSON string literal using only letters, digits, space, `_`, `.`, `,`
/// and `/` raw; everything else as `\uXXXX` (surrogate pairs above U+FFFF).
fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars().take(1_000) {
        if c.is_ascii_alphanumeric() || matches!(c, ' ' | '_' | '.' | ',' | '/') {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{u:04x}");
            }
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn markers() {
        assert_eq!(
            marker("9f86d081884c7d65"),
            "falconry:fingerprint=9f86d081884c7d65"
        );
        assert_eq!(
            occurrence_marker("ab-c d"),
            "falconry:occurrence=ab%2Dc%20d"
        );
        assert_eq!(comment_block("k1"), "<!-- falconry:occurrence=k1 -->");
    }

    proptest! {
        #[test]
        fn json_strings_round_trip_and_stay_inert(s in "\\PC{0,60}|(--|>|<|=|!|falconry:fingerprint=|\\u{202E}|\"|\\\\){1,10}") {
            let lit = json_str(&s);
            let back: String = serde_json::from_str(&lit).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(back, s.chars().take(1_000).collect::<String>());
            for bad in ["--", ">", "<", "=", "!", "\u{202E}"] {
                prop_assert!(!lit.contains(bad), "{} in {}", bad, lit);
            }
        }

        #[test]
        fn ids_stay_distinct_and_inert(a in "\\PC{0,20}", b in "\\PC{0,20}") {
            prop_assert!(id(&a).bytes().all(|c| c.is_ascii_alphanumeric() || b"._%".contains(&c)));
            if a != b {
                prop_assert_ne!(id(&a), id(&b));
            }
        }
    }
}
