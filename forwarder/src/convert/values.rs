//! Reading typed values out of FDR's string-encoded members: epoch times in
//! milliseconds or seconds, ISO-8601, and whether a typed value gives back the
//! original text exactly (the rule that decides if a member may leave the
//! catch-all column).
//!
//! Pure.

/// Epoch milliseconds from a string of digits (optionally negative).
pub fn epoch_ms_digits(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || digits.len() > 16 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Whether `ms.to_string()` is exactly `s` (no leading zeros, no plus sign).
pub fn is_canonical_integer(s: &str, value: i64) -> bool {
    let mut buf = [0u8; 24];
    let mut n = value.unsigned_abs();
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if value < 0 {
        i -= 1;
        buf[i] = b'-';
    }
    &buf[i..] == s.as_bytes()
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
        ms_part += ((b - b'0') as i64) * [100, 10, 1][i];
    }
    secs.checked_mul(1000)?.checked_add(ms_part)
}

/// ISO-8601 / RFC 3339 (`2024-08-01T11:31:27.123Z`, with an offset, or a
/// space instead of `T`) → epoch ms.
pub fn iso_ms(s: &str) -> Option<i64> {
    if s.len() < 19 || !s.as_bytes()[0].is_ascii_digit() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(epoch_ms_digits("1625677521162"), Some(1625677521162));
        assert_eq!(epoch_ms_digits("16256775211620000"), None);
        assert_eq!(epoch_ms_digits("12a"), None);
        assert_eq!(epoch_ms_digits(""), None);
        assert!(is_canonical_integer("1625677521162", 1625677521162));
        assert!(!is_canonical_integer("01625677521162", 1625677521162));
        assert_eq!(epoch_seconds_ms("1697992784.144"), Some(1697992784144));
        assert_eq!(epoch_seconds_ms("1697992784.1"), Some(1697992784100));
        assert_eq!(epoch_seconds_ms("1697992784"), Some(1697992784000));
        assert_eq!(epoch_seconds_ms("1697992784.14459"), Some(1697992784144));
        assert_eq!(epoch_seconds_ms("-5"), None);
        assert_eq!(epoch_seconds_ms("x.1"), None);
        assert_eq!(iso_ms("2024-08-01T11:31:27.123Z"), Some(1722511887123));
        assert_eq!(iso_ms("2024-08-01T13:31:27.123+02:00"), Some(1722511887123));
        assert_eq!(iso_ms("2024-08-01 11:31:27"), Some(1722511887000));
        assert_eq!(iso_ms("yesterday at noon, roughly"), None);
    }
}
