//! The one HTTP edge the outside APIs are called through (GitHub, Slack,
//! Falcon, the intel services): what a rate-limited answer asks (one parser
//! for `Retry-After` and the `X-RateLimit-*` headers), the named retry
//! policies (backoffs), and the request details every caller needs (a
//! bodyless POST still says `Content-Length: 0`). Domain rules, such as
//! GitHub's "an unknown POST result means look for the marker first", stay
//! with their callers.

use reqwest::RequestBuilder;
use reqwest::header::{CONTENT_LENGTH, HeaderMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long an answer asks to wait before the next request, from now:
/// Falcon's `X-RateLimit-RetryAfter` (epoch ms, epoch seconds, or seconds),
/// else `Retry-After` (seconds, or an HTTP date). Not capped: each caller
/// decides how long it is willing to wait.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    retry_after_at(headers, SystemTime::now())
}

/// [`retry_after`] as of `now`.
pub fn retry_after_at(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let now_ms = epoch_ms(now);
    if let Some(v) = header(headers, "x-ratelimit-retryafter").and_then(|v| v.parse::<i64>().ok()) {
        let wait_ms = if v > 100_000_000_000 {
            v - now_ms // epoch ms
        } else if v > 1_000_000_000 {
            v.saturating_mul(1000) - now_ms // epoch seconds
        } else {
            v.saturating_mul(1000) // seconds from now
        };
        return Some(Duration::from_millis(wait_ms.max(0).unsigned_abs()));
    }
    let v = header(headers, "retry-after")?;
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// `X-RateLimit-Remaining`: requests left in the current window.
pub fn ratelimit_remaining(headers: &HeaderMap) -> Option<u64> {
    header(headers, "x-ratelimit-remaining")?.parse().ok()
}

/// How long until `X-RateLimit-Reset` (epoch seconds, the server's clock),
/// plus a second so the next request does not arrive a moment early.
pub fn ratelimit_reset_in(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let reset: u64 = header(headers, "x-ratelimit-reset")?.parse().ok()?;
    let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    Some(Duration::from_secs(reset.saturating_sub(now) + 1))
}

/// "No call before then": what a rate-limited or failing service asks of its
/// callers (GitHub after an exhausted limit, the Falcon API and the intel
/// services after a 429, Slack while it is down), with why. A hold only
/// grows: a shorter one never cuts a longer one. On tokio's clock, so tests
/// pause and advance it.
#[derive(Debug, Default)]
pub struct Hold {
    until: std::sync::Mutex<Option<(tokio::time::Instant, String)>>,
}

impl Hold {
    /// How long calls must still wait, and why; `None` when free to go.
    pub fn remaining(&self) -> Option<(Duration, String)> {
        let held = self
            .until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (until, why) = held.as_ref()?;
        let left = until.saturating_duration_since(tokio::time::Instant::now());
        (!left.is_zero()).then(|| (left, why.clone()))
    }

    /// Holds calls for `wait` from now, because of `why` (never shortens a longer hold).
    pub fn extend(&self, wait: Duration, why: impl Into<String>) {
        let until = tokio::time::Instant::now() + wait;
        let mut held = self
            .until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if held.as_ref().is_none_or(|(h, _)| *h < until) {
            *held = Some((until, why.into()));
        }
    }
}

/// Requests evenly spaced at a rate per minute, no burst banked while quiet
/// (GitHub asks for a second between content-creating requests): governor's
/// GCRA on tokio's clock, so paused-time tests drive it. Waiters retry when
/// the limiter says their turn is due.
pub struct Pace {
    limiter: governor::RateLimiter<
        governor::state::NotKeyed,
        governor::state::InMemoryState,
        pace::TokioClock,
        governor::middleware::NoOpMiddleware<pace::TokioInstant>,
    >,
}

impl Pace {
    pub fn per_minute(n: std::num::NonZeroU32) -> Pace {
        Pace {
            limiter: governor::RateLimiter::direct_with_clock(
                governor::Quota::per_minute(n).allow_burst(std::num::NonZeroU32::MIN),
                pace::TokioClock,
            ),
        }
    }

    /// Waits for this request's turn.
    pub async fn acquire(&self) {
        while let Err(not_until) = self.limiter.check() {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(&pace::TokioClock));
            tokio::time::sleep(wait).await;
        }
    }
}

/// governor's clock traits over tokio's `Instant`.
mod pace {
    use governor::clock::{Clock, Reference};
    use governor::nanos::Nanos;

    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    pub struct TokioInstant(tokio::time::Instant);

    impl std::ops::Add<Nanos> for TokioInstant {
        type Output = TokioInstant;
        fn add(self, d: Nanos) -> TokioInstant {
            TokioInstant(self.0 + std::time::Duration::from(d))
        }
    }

    impl Reference for TokioInstant {
        fn duration_since(&self, earlier: Self) -> Nanos {
            self.0.saturating_duration_since(earlier.0).into()
        }

        fn saturating_sub(&self, d: Nanos) -> Self {
            TokioInstant(
                self.0
                    .checked_sub(std::time::Duration::from(d))
                    .unwrap_or(self.0),
            )
        }
    }

    #[derive(Debug, Clone, Copy, Default)]
    pub struct TokioClock;

    impl Clock for TokioClock {
        type Instant = TokioInstant;
        fn now(&self) -> TokioInstant {
            TokioInstant(tokio::time::Instant::now())
        }
    }
}

/// `text` as an http(s) URL with a host, parsed (not guessed from a prefix):
/// the one check of every configured endpoint, queue URL and webhook.
/// A client builder every outside service is called with: falconry's
/// `User-Agent` (the one place it is written).
pub fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder().user_agent(concat!("falconry/", env!("CARGO_PKG_VERSION")))
}

pub fn http_url(text: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(text).map_err(|e| format!("{text:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{text:?} is not an http(s) URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{text:?} has no host"));
    }
    Ok(url)
}

/// A POST (or PUT, PATCH) without a body, saying so: `Content-Length: 0`.
/// Without it the HTTP client sends no length at all, and servers (GitHub
/// among them) may answer 411 Length Required (RFC 9110 §8.6).
pub fn bodyless(request: RequestBuilder) -> RequestBuilder {
    request.header(CONTENT_LENGTH, "0")
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name)?.to_str().ok().map(str::trim)
}

fn epoch_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The retry policies, each named once: jittered exponential backoffs.
pub mod backoff {
    use backon::{BackoffBuilder, ExponentialBuilder};
    use std::time::Duration;

    fn exponential(min: Duration, max: Duration, times: Option<usize>) -> ExponentialBuilder {
        let b = ExponentialBuilder::default()
            .with_min_delay(min)
            .with_max_delay(max)
            .with_jitter();
        match times {
            Some(n) => b.with_max_times(n),
            None => b.without_max_times(),
        }
    }

    /// Receiving from a queue failed: 500 ms doubling to a minute, forever.
    pub fn queue_receive() -> impl Iterator<Item = Duration> + Send {
        exponential(Duration::from_millis(500), Duration::from_secs(60), None).build()
    }

    /// A long-lived connection dropped or failed to open: 200 ms doubling to a minute, forever.
    pub fn reconnect() -> impl Iterator<Item = Duration> + Send {
        exponential(Duration::from_millis(200), Duration::from_secs(60), None).build()
    }

    /// An API call failed in a way worth repeating: 1 s doubling to 30 s, four times.
    pub fn api_call() -> impl Iterator<Item = Duration> + Send {
        exponential(Duration::from_secs(1), Duration::from_secs(30), Some(4)).build()
    }

    /// A webhook post failed: 1 s doubling to 20 s, three times.
    pub fn webhook() -> impl Iterator<Item = Duration> + Send {
        exponential(Duration::from_secs(1), Duration::from_secs(20), Some(3)).build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn retry_after_in_every_form() {
        let now = UNIX_EPOCH + Duration::from_millis(1_773_480_000_000);
        let at = |pairs: &[(&'static str, &str)]| retry_after_at(&headers(pairs), now);
        assert_eq!(at(&[]), None);
        // Falcon's header: epoch ms, epoch seconds, seconds; it wins over Retry-After.
        assert_eq!(
            at(&[("X-RateLimit-RetryAfter", "1773480005000")]),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            at(&[
                ("X-RateLimit-RetryAfter", "1773480007"),
                ("Retry-After", "60")
            ]),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            at(&[("X-RateLimit-RetryAfter", "3")]),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            at(&[("X-RateLimit-RetryAfter", "1773479990000")]),
            Some(Duration::ZERO)
        );
        // Retry-After: seconds, or an HTTP date.
        assert_eq!(
            at(&[("Retry-After", " 120 ")]),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            at(&[("Retry-After", "Sat, 14 Mar 2026 09:20:30 GMT")]),
            Some(Duration::from_secs(30))
        );
        assert_eq!(at(&[("Retry-After", "soon")]), None);
    }

    #[test]
    fn ratelimit_headers() {
        let now = UNIX_EPOCH + Duration::from_secs(1_773_480_000);
        let h = headers(&[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "1773480120"),
        ]);
        assert_eq!(ratelimit_remaining(&h), Some(0));
        assert_eq!(ratelimit_reset_in(&h, now), Some(Duration::from_secs(121)));
        assert_eq!(
            ratelimit_reset_in(&h, now + Duration::from_secs(600)),
            Some(Duration::from_secs(1))
        );
    }

    #[test]
    fn named_backoffs_are_bounded_where_they_should_be() {
        assert_eq!(backoff::api_call().count(), 4);
        assert_eq!(backoff::webhook().count(), 3);
        assert!(
            backoff::reconnect()
                .take(100)
                .all(|d| d <= Duration::from_secs(120))
        );
        assert!(backoff::queue_receive().take(100).count() == 100);
    }
}
