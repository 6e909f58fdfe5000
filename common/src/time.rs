//! The one reading of the times falconry meets, shared by every daemon: FDR's
//! epoch milliseconds, epoch seconds with a fraction, FILETIME, Event Streams'
//! epoch milliseconds and ISO-8601 texts. A number's unit is told by its
//! digits, the same way everywhere (the forwarder's Parquet columns, the
//! enricher's alert times, the Athena answers), so two daemons never disagree
//! on when something happened. Pure: no clock is read here.
//!
//! | digits | read as | (today's values) |
//! |---|---|---|
//! | 1-11 | epoch seconds | 10 digits |
//! | 12-14 | epoch milliseconds | 13 digits |
//! | 15-16 | epoch microseconds | 16 digits |
//! | 17-18 | FILETIME (100 ns since 1601) | 18 digits |
//! | 19-20 | epoch nanoseconds | 19 digits |

use serde_json::Value;

/// Milliseconds between 1601-01-01 (FILETIME's epoch) and 1970-01-01.
pub const FILETIME_EPOCH_MS: i64 = 11_644_473_600_000;

/// A time as FDR's `*Time` members and Falcon's APIs give it: digits (their
/// unit told by their count, see the module's table), epoch seconds with a
/// fraction (`"1697992784.144"`), or ISO-8601 → epoch ms.
pub fn time_ms(s: &str) -> Option<i64> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        let n: u64 = s.parse().ok()?;
        let ms = match s.len() {
            1..=11 => n.checked_mul(1000)?,
            12..=14 => n,
            15..=16 => n / 1_000,
            17..=18 => {
                return i64::try_from(n / 10_000)
                    .ok()
                    .map(|v| v - FILETIME_EPOCH_MS);
            }
            19..=20 => n / 1_000_000,
            _ => return None,
        };
        return i64::try_from(ms).ok();
    }
    epoch_seconds_ms(s).or_else(|| iso_ms(s))
}

/// [`time_ms`] of a JSON member: a number (an integral float read as its
/// integer) or a string (surrounding spaces ignored).
pub fn json_time_ms(v: &Value) -> Option<i64> {
    match v {
        Value::String(s) => time_ms(s.trim()),
        Value::Number(n) => match (n.as_u64(), n.as_f64()) {
            (Some(u), _) => time_ms(&u.to_string()),
            (None, Some(f)) if f.is_finite() && f >= 0.0 && f.fract() == 0.0 && f < 1e20 => {
                // An integral float such as 1625677521137.0: its integer's digits.
                time_ms(&format!("{f:.0}"))
            }
            _ => time_ms(&n.to_string()),
        },
        _ => None,
    }
}

/// Epoch milliseconds from digits (optionally negative), at most 16 digits:
/// the `timestamp` member, always milliseconds whatever its length.
pub fn epoch_ms(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || digits.len() > 16 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Epoch seconds with an optional fraction (`"1697992784.144"`) → ms.
pub fn epoch_seconds_ms(s: &str) -> Option<i64> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() || int.len() > 12 || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = int.parse().ok()?;
    let mut ms_part: i64 = 0;
    for (i, b) in frac.bytes().take(3).enumerate() {
        ms_part += i64::from(b - b'0') * [100, 10, 1][i];
    }
    secs.checked_mul(1000)?.checked_add(ms_part)
}

/// ISO-8601 / RFC 3339 (`2024-08-01T11:31:27.123Z`, with an offset, with a
/// space instead of `T`, or without a zone, read as UTC) → epoch ms.
pub fn iso_ms(s: &str) -> Option<i64> {
    if s.len() < 19 || !s.as_bytes()[0].is_ascii_digit() || s.as_bytes().get(4) != Some(&b'-') {
        return None;
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f"))
        .ok()
        .map(|t| t.and_utc().timestamp_millis())
}

/// A timestamp as Athena (Trino) answers it: `2026-03-14 09:58:12.345`, with
/// or without ` UTC`.
pub fn athena_ms(s: &str) -> Option<i64> {
    let s = s.trim().trim_end_matches(" UTC");
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc().timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const MS: i64 = 1_773_480_000_123; // 2026-03-14T09:20:00.123Z

    #[test]
    fn every_unit_of_the_same_instant_reads_the_same() {
        let filetime = (MS + FILETIME_EPOCH_MS) * 10_000;
        for text in [
            "1773480000123",
            "1773480000.123",
            "1773480000123000",
            "1773480000123000000",
            &filetime.to_string(),
            "2026-03-14T09:20:00.123Z",
            "2026-03-14T10:20:00.123+01:00",
            "2026-03-14 09:20:00.123",
        ] {
            assert_eq!(time_ms(text), Some(MS), "{text}");
        }
        assert_eq!(time_ms("1773480000"), Some(MS - 123));
    }

    /// The forwarder and the enricher once read 17-19 digits differently
    /// (FILETIME against µs/ns): one table now, both ends of each band.
    #[test]
    fn the_digit_bands_are_fixed() {
        assert_eq!(time_ms("99999999999"), Some(99_999_999_999_000)); // 11: seconds
        assert_eq!(time_ms("100000000000"), Some(100_000_000_000)); // 12: ms
        assert_eq!(time_ms("99999999999999"), Some(99_999_999_999_999)); // 14: ms
        assert_eq!(time_ms("100000000000000"), Some(100_000_000_000)); // 15: µs
        assert_eq!(time_ms("9999999999999999"), Some(9_999_999_999_999)); // 16: µs
        // 17 and 18 digits: FILETIME.
        assert_eq!(
            time_ms("10000000000000000"),
            Some(1_000_000_000_000 - FILETIME_EPOCH_MS)
        );
        assert_eq!(
            time_ms("134180000001230000"),
            Some(13_418_000_000_123 - FILETIME_EPOCH_MS)
        );
        assert_eq!(time_ms("1000000000000000000"), Some(1_000_000_000_000)); // 19: ns
        assert_eq!(time_ms("18446744073709551615"), Some(18_446_744_073_709)); // u64::MAX ns
        assert_eq!(time_ms("99999999999999999999"), None); // above u64
        assert_eq!(time_ms("123456789012345678901"), None); // 21 digits
        assert_eq!(time_ms(""), None);
        assert_eq!(time_ms("-5"), None);
        assert_eq!(time_ms("0"), Some(0));
    }

    #[test]
    fn json_members_read_as_their_text() {
        assert_eq!(json_time_ms(&json!(1_773_480_000_123_u64)), Some(MS));
        assert_eq!(json_time_ms(&json!(1_773_480_000_123.0)), Some(MS));
        assert_eq!(json_time_ms(&json!(1_773_480_000.123)), Some(MS));
        assert_eq!(json_time_ms(&json!(" 1773480000123 ")), Some(MS));
        assert_eq!(json_time_ms(&json!("2026-03-14T09:20:00.123Z")), Some(MS));
        assert_eq!(json_time_ms(&json!(-1)), None);
        assert_eq!(json_time_ms(&json!(null)), None);
        assert_eq!(json_time_ms(&json!("soon")), None);
    }

    #[test]
    fn athena_answers() {
        assert_eq!(athena_ms("2026-03-14 09:20:00.123"), Some(MS));
        assert_eq!(athena_ms("2026-03-14 09:20:00.123 UTC"), Some(MS));
        assert_eq!(athena_ms("yesterday"), None);
    }
}
