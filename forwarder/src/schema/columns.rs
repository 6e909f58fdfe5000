//! Column kinds: how a typed column reads its member, the one canonical text
//! of each typed value, and the rule that follows from it: a member leaves the
//! catch-all columns only when the canonical text of its typed value is the
//! member itself. Everything else (placeholders, other spellings, values that
//! do not fit) stays in the catch-all, so every line is recoverable exactly.
//!
//! Pure.

use falconry_common::time::{epoch_ms, iso_ms, time_ms};
use std::borrow::Cow;

/// How a typed column reads its source member and what Athena type it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A string, stored as is (`string`).
    Text,
    /// A hex digest (`string`); all zeros is NULL.
    Hash,
    /// A measure such as a port, count or size (`bigint`).
    Int,
    /// An identifier that can exceed i64, such as `TargetProcessId`
    /// (`decimal(20,0)`: exact for every u64).
    U64,
    /// `timestamp`: epoch milliseconds, or ISO-8601 (`timestamp`, UTC, ms).
    EpochMs,
    /// `*Time` fields: epoch seconds with a fraction, epoch ms, Windows
    /// FILETIME, or ISO-8601 (`timestamp`, UTC, ms).
    Time,
}

/// A typed value; borrows from the line where it can.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value<'a> {
    Text(Cow<'a, str>),
    Int(i64),
    U64(u64),
    Ms(i64),
}

/// Values FDR writes for "nothing": NULL in typed columns.
pub const PLACEHOLDERS: [&str; 5] = ["", "-", "N/A", "none", "!!!!UNKNOWN!!!!"];

pub fn is_placeholder(s: &str) -> bool {
    // Most values are longer than any placeholder but the last: skip the compares.
    (s.len() <= 4 || s.len() == 15) && PLACEHOLDERS.contains(&s)
}

/// What reading a member into a typed column gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Read<'a> {
    /// The typed value; `exact` when its canonical text is the member itself.
    Value { value: Value<'a>, exact: bool },
    /// A placeholder: NULL, the member stays in the catch-all.
    Null,
    /// The member does not fit the column: NULL, counted, kept in the catch-all.
    Misfit,
}

/// Reads a member (`text` is a string's content when `is_string`, else the raw JSON text).
pub fn read<'a>(kind: Kind, text: Cow<'a, str>, is_string: bool) -> Read<'a> {
    if is_string && is_placeholder(&text) {
        return Read::Null;
    }
    if !is_string && text == "null" {
        return Read::Null;
    }
    let value = match kind {
        Kind::Text if is_string => Some(Value::Text(text.clone())),
        Kind::Text => None,
        Kind::Hash if is_string => {
            if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
                None
            } else if text.bytes().all(|b| b == b'0') {
                return Read::Null;
            } else {
                Some(Value::Text(text.clone()))
            }
        }
        Kind::Hash => None,
        Kind::Int => int(&text).map(Value::Int),
        Kind::U64 => u64_digits(&text).map(Value::U64),
        Kind::EpochMs => epoch_ms(&text).or_else(|| iso_ms(&text)).map(Value::Ms),
        Kind::Time => time_ms(&text).map(Value::Ms),
    };
    match value {
        Some(value) => {
            let exact = is_string && canonical_matches(&value, kind, &text);
            Read::Value { value, exact }
        }
        None => Read::Misfit,
    }
}

/// The one text a typed value gives back (used to rebuild the member).
pub fn canonical(value: &Value<'_>, kind: Kind) -> String {
    match (value, kind) {
        (Value::Text(s), _) => s.to_string(),
        (Value::Int(i), _) => i.to_string(),
        (Value::U64(u), _) => u.to_string(),
        (Value::Ms(ms), Kind::Time) => seconds_text(*ms),
        (Value::Ms(ms), _) => ms.to_string(),
    }
}

fn canonical_matches(value: &Value<'_>, kind: Kind, text: &str) -> bool {
    match value {
        Value::Text(_) => true,
        // The text was read as this integer: it is canonical when it has no
        // leading zero and no `-0` (an ISO time is no integer at all).
        Value::Int(_) | Value::U64(_) => is_integer_text(text),
        Value::Ms(ms) if kind == Kind::Time => *ms >= 0 && seconds_text_is(text, *ms),
        Value::Ms(_) => is_integer_text(text),
    }
}

/// Whether `text` is [`seconds_text`] of `ms` (no allocation: most times are).
fn seconds_text_is(text: &str, ms: i64) -> bool {
    let Some((secs, frac)) = text.split_once('.') else {
        return false;
    };
    let want = ms.rem_euclid(1000);
    frac.len() == 3
        && frac.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().fold(0i64, |n, d| n * 10 + i64::from(d - b'0')) == want
        && integer_text_is(secs, i128::from(ms.div_euclid(1000)))
}

/// `1625677521.137` for 1625677521137 ms.
fn seconds_text(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

fn integer_text_is(text: &str, v: i128) -> bool {
    let mut buf = [0u8; 48];
    let mut n = v.unsigned_abs();
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        i -= 1;
        buf[i] = b'-';
    }
    &buf[i..] == text.as_bytes()
}

/// Whether `text` is an integer as its value would print: digits, an
/// optional `-`, no leading zero, not `-0`.
fn is_integer_text(text: &str) -> bool {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text),
    };
    match digits.as_bytes() {
        [] => false,
        [b'0'] => !negative,
        [b'0', ..] => false,
        d => d.iter().all(u8::is_ascii_digit),
    }
}

fn int(s: &str) -> Option<i64> {
    match s.strip_prefix('-') {
        Some(digits) if digits.len() <= 19 => 0i64.checked_sub_unsigned(u64_digits(digits)?),
        Some(_) => None,
        None if s.len() <= 19 => i64::try_from(u64_digits(s)?).ok(),
        None => None,
    }
}

/// 1-20 ASCII digits that fit a u64, in one pass.
fn u64_digits(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let mut n: u64 = 0;
    for b in s.bytes() {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(d))?;
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use falconry_common::time::epoch_seconds_ms;

    fn r(kind: Kind, s: &str) -> Read<'_> {
        read(kind, Cow::Borrowed(s), true)
    }

    fn exact(kind: Kind, s: &str) -> bool {
        matches!(r(kind, s), Read::Value { exact: true, .. })
    }

    #[test]
    fn placeholders_and_zero_hashes_are_null() {
        for p in PLACEHOLDERS {
            assert_eq!(r(Kind::Text, p), Read::Null);
            assert_eq!(r(Kind::Int, p), Read::Null);
            assert_eq!(r(Kind::Time, p), Read::Null);
        }
        assert_eq!(
            r(Kind::Hash, "0000000000000000000000000000000000000000"),
            Read::Null
        );
        assert_eq!(r(Kind::Hash, "zz"), Read::Misfit);
        assert!(exact(Kind::Hash, "f8bd34d4ac025f862c6fe8f3fd3f1700"));
    }

    #[test]
    fn integers_and_ids() {
        assert!(exact(Kind::Int, "443"));
        assert!(!exact(Kind::Int, "0443"));
        assert_eq!(r(Kind::Int, "18446744072636268557"), Read::Misfit);
        assert!(exact(Kind::U64, "18446744072636268557"));
        assert!(matches!(
            r(Kind::U64, "18446744072636268557"),
            Read::Value {
                value: Value::U64(18446744072636268557),
                ..
            }
        ));
        assert_eq!(r(Kind::U64, "184467440726362685570"), Read::Misfit);
        assert_eq!(r(Kind::U64, "-1"), Read::Misfit);
        // A JSON number is read but not "exact": it is not the string the column gives back.
        assert!(matches!(
            read(Kind::Int, Cow::Borrowed("30"), false),
            Read::Value {
                value: Value::Int(30),
                exact: false
            }
        ));
    }

    #[test]
    fn times() {
        assert_eq!(time_ms("1625677521.137"), Some(1625677521137));
        assert!(exact(Kind::Time, "1625677521.137"));
        assert!(!exact(Kind::Time, "1625677521.1"));
        assert!(!exact(Kind::Time, "1625677521"));
        assert_eq!(time_ms("1625677521"), Some(1625677521000));
        assert_eq!(time_ms("1625677521137"), Some(1625677521137));
        // FILETIME: 2021-07-07T17:05:21.137Z
        assert_eq!(time_ms("132701511211370000"), Some(1625677521137));
        assert_eq!(time_ms("2024-08-01T11:31:27.123Z"), Some(1722511887123));
        assert_eq!(time_ms("soon"), None);
        assert_eq!(r(Kind::Time, "soon"), Read::Misfit);
        assert!(exact(Kind::EpochMs, "1625677521162"));
        assert!(!exact(Kind::EpochMs, "2024-08-01T11:31:27.123Z"));
        assert_eq!(iso_ms("2024-08-01 11:31:27"), Some(1722511887000));
        assert_eq!(epoch_seconds_ms("1697992784.14459"), Some(1697992784144));
    }

    #[test]
    fn canonical_text_is_what_exact_means() {
        for (kind, s) in [
            (Kind::Int, "-5"),
            (Kind::U64, "0"),
            (Kind::Time, "0.000"),
            (Kind::EpochMs, "1"),
            (Kind::Text, "x"),
        ] {
            match r(kind, s) {
                Read::Value { value, exact: true } => assert_eq!(canonical(&value, kind), s),
                other => panic!("{kind:?} {s}: {other:?}"),
            }
        }
    }

    #[test]
    fn integers_read_and_check_as_the_standard_parse_and_print_do() {
        for s in [
            "0",
            "-0",
            "00",
            "7",
            "-7",
            "007",
            "443",
            "-443",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "-9223372036854775809",
            "18446744073709551615",
            "18446744073709551616",
            "99999999999999999999",
            "+5",
            "5 ",
            "-",
            "",
            "1e3",
            "1625677521162",
            "2024-08-01T11:31:27.123Z",
        ] {
            let digits = s.strip_prefix('-').unwrap_or(s);
            let std_int = (!digits.is_empty()
                && digits.len() <= 19
                && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<i64>().ok())
            .flatten();
            assert_eq!(int(s), std_int, "{s:?}");
            let std_u64 = (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse::<u64>().ok())
                .flatten();
            assert_eq!(u64_digits(s), std_u64, "{s:?}");
            for kind in [Kind::Int, Kind::U64, Kind::EpochMs] {
                if let Read::Value { value, exact } = r(kind, s) {
                    let printed = match value {
                        Value::Int(i) => i.to_string(),
                        Value::U64(u) => u.to_string(),
                        Value::Ms(ms) => ms.to_string(),
                        Value::Text(_) => unreachable!(),
                    };
                    assert_eq!(exact, printed == s, "{kind:?} {s:?}");
                }
            }
        }
    }

    #[test]
    fn the_seconds_check_is_the_canonical_text_compare() {
        for s in [
            "1625677521.137",
            "01625677521.137",
            "1625677521.1370",
            "1625677521.13",
            "1625677521.13a",
            "1625677521.-13",
            "0.000",
            "0.001",
            "00.001",
            "9999999999.999",
            "1625677521",
            "132701511211370000",
            "2024-08-01T11:31:27.123Z",
        ] {
            let Some(ms) = time_ms(s) else { continue };
            assert_eq!(
                ms >= 0 && seconds_text_is(s, ms),
                ms >= 0 && seconds_text(ms) == s,
                "{s}"
            );
            for other in [ms - 1, ms + 1, ms + 1000, ms - 1000] {
                assert_eq!(
                    seconds_text_is(s, other),
                    seconds_text(other) == s,
                    "{s} {other}"
                );
            }
        }
    }
}
