//! GitHub's rate limits as the client keeps them, on tokio time (so tests can
//! pause and advance it):
//!
//! - [`ContentLimiter`]: our own pace for content-creating requests (POST,
//!   PATCH, PUT, DELETE), evenly spaced at `content_per_minute` (governor's
//!   GCRA with no burst), so that any 60-second window holds at most that many. GitHub's secondary limit is
//!   about 80 a minute and asks for a second between such requests.
//! - [`Hold`]: a time before which no request goes out at all, set when GitHub
//!   says a limit is exhausted (`x-ratelimit-remaining: 0` until
//!   `x-ratelimit-reset`, or `retry-after`).
//! - [`limit_wait`]: reads a 403/429 and says how long GitHub wants us to wait.
//!
//! Nothing here sends requests or decides whether a wait is too long.

use falconry_common::http;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use std::time::{Duration, SystemTime};

/// The first wait after a secondary limit that names no time (GitHub: "wait at
/// least one minute"); it doubles for each further one in the same call.
pub(super) const SECONDARY_MIN_WAIT: Duration = Duration::from_secs(60);

/// Spaces content-creating requests evenly: each goes out at least
/// `60 s / per_minute` after the previous one (governor, through the one
/// HTTP edge).
pub(super) use falconry_common::http::Pace as ContentLimiter;

pub(super) use falconry_common::http::Hold;

/// `x-ratelimit-remaining`, if GitHub sent it.
pub(super) fn remaining(headers: &HeaderMap) -> Option<u64> {
    http::ratelimit_remaining(headers)
}

/// How long until `x-ratelimit-reset` (GitHub's clock), plus a second.
pub(super) fn until_reset(headers: &HeaderMap) -> Option<Duration> {
    http::ratelimit_reset_in(headers, SystemTime::now())
}

/// `retry-after` (GitHub sends seconds).
pub(super) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    http::retry_after(headers)
}

/// Whether a failed answer is a rate limit, and what GitHub asks us to wait.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Limited {
    /// Not a rate limit.
    No,
    /// Wait this long (from `retry-after` or `x-ratelimit-reset`).
    For(Duration),
    /// A secondary limit that names no time: wait at least a minute, longer each time.
    Unspecified,
}

/// GitHub's rules: 429 is always a limit; a 403 is one when it carries
/// `retry-after`, `x-ratelimit-remaining: 0`, or a message about a rate
/// limit. `retry-after` wins, then the reset time.
pub(super) fn limit_wait(
    status: StatusCode,
    headers: &HeaderMap,
    says_rate_limit: bool,
) -> Limited {
    let exhausted = remaining(headers) == Some(0);
    let limited = status == StatusCode::TOO_MANY_REQUESTS
        || (status == StatusCode::FORBIDDEN
            && (retry_after(headers).is_some() || exhausted || says_rate_limit));
    if !limited {
        return Limited::No;
    }
    if let Some(wait) = retry_after(headers) {
        return Limited::For(wait);
    }
    if exhausted && let Some(wait) = until_reset(headers) {
        return Limited::For(wait);
    }
    Limited::Unspecified
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;
    use std::num::NonZeroU32;
    use std::time::UNIX_EPOCH;
    use tokio::time::Instant;

    fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[tokio::test(start_paused = true)]
    async fn content_requests_are_spaced_evenly() {
        let limiter = ContentLimiter::per_minute(NonZeroU32::new(30).unwrap());
        let start = Instant::now();
        let mut at = Vec::new();
        for _ in 0..70 {
            limiter.acquire().await;
            at.push(Instant::now() - start);
        }
        assert_eq!(at[0], Duration::ZERO, "the first goes at once");
        assert_eq!(at[1], Duration::from_secs(2));
        for (i, t) in at.iter().enumerate() {
            let in_window = at
                .iter()
                .filter(|u| **u >= *t && **u < *t + Duration::from_secs(60))
                .count();
            assert!(in_window <= 30, "window from request {i} holds {in_window}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_limiter_does_not_bank_a_burst() {
        let limiter = ContentLimiter::per_minute(NonZeroU32::new(60).unwrap());
        limiter.acquire().await;
        tokio::time::sleep(Duration::from_secs(600)).await;
        let start = Instant::now();
        limiter.acquire().await;
        limiter.acquire().await;
        assert_eq!(Instant::now() - start, Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn holds_only_grow() {
        let hold = Hold::default();
        assert_eq!(hold.remaining(), None);
        hold.extend(Duration::from_secs(30), "limit");
        hold.extend(Duration::from_secs(5), "shorter");
        assert_eq!(
            hold.remaining(),
            Some((Duration::from_secs(30), "limit".to_owned()))
        );
        tokio::time::advance(Duration::from_secs(31)).await;
        assert_eq!(hold.remaining(), None);
    }

    #[test]
    fn github_limit_answers_are_read_as_documented() {
        let forbidden = StatusCode::FORBIDDEN;
        let too_many = StatusCode::TOO_MANY_REQUESTS;
        assert_eq!(
            limit_wait(forbidden, &headers(&[("retry-after", "30".into())]), false),
            Limited::For(Duration::from_secs(30))
        );
        assert_eq!(
            limit_wait(too_many, &HeaderMap::new(), false),
            Limited::Unspecified
        );
        assert_eq!(
            limit_wait(forbidden, &HeaderMap::new(), true),
            Limited::Unspecified
        );
        assert_eq!(limit_wait(forbidden, &HeaderMap::new(), false), Limited::No);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let exhausted = headers(&[
            ("x-ratelimit-remaining", "0".into()),
            ("x-ratelimit-reset", (now + 120).to_string()),
        ]);
        match limit_wait(forbidden, &exhausted, false) {
            Limited::For(w) => {
                assert!(w >= Duration::from_secs(120) && w <= Duration::from_secs(122));
            }
            other => panic!("{other:?}"),
        }
        let past = headers(&[
            ("x-ratelimit-remaining", "0".into()),
            ("x-ratelimit-reset", (now - 100).to_string()),
        ]);
        assert_eq!(
            limit_wait(forbidden, &past, false),
            Limited::For(Duration::from_secs(1))
        );
    }
}
