//! When to refresh a partition's session. A session lives for its
//! `refreshActiveSessionInterval` (30 minutes) after the last successful
//! refresh (or the discover that opened it). It is refreshed at half that
//! life, so a failed refresh leaves a quarter of an hour of retries: on the
//! answer's retry time after a 429, otherwise on a short backoff (250 ms
//! doubling to 30 s), and never so late that the session dies first.
//!
//! Pure: time comes in as arguments (tokio's clock, so paused-time tests
//! reach it).

use std::time::Duration;
use tokio::time::Instant;

/// Longest wait between failed refreshes.
const MAX_RETRY: Duration = Duration::from_secs(30);
/// First wait after a failure (doubled per consecutive failure).
const FIRST_RETRY: Duration = Duration::from_millis(250);

#[derive(Debug, Clone)]
pub struct Refresh {
    life: Duration,
    /// When the session dies unless refreshed.
    expires: Instant,
    next: Instant,
    failures: u32,
}

impl Refresh {
    /// A session of `life` that started (or was last refreshed) at `now`.
    pub fn new(life: Duration, now: Instant) -> Refresh {
        let life = life.max(Duration::from_millis(400));
        Refresh {
            life,
            expires: now + life,
            next: now + life / 2,
            failures: 0,
        }
    }

    /// When the next refresh is due.
    pub fn due(&self) -> Instant {
        self.next
    }

    /// The refresh at `now` succeeded.
    pub fn succeeded(&mut self, now: Instant) {
        *self = Refresh::new(self.life, now);
    }

    /// The refresh at `now` failed (`retry_after`: what a 429 said); returns
    /// how long until the next try.
    pub fn failed(&mut self, now: Instant, retry_after: Option<Duration>) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let backoff = FIRST_RETRY
            .saturating_mul(1 << (self.failures - 1).min(16))
            .min(MAX_RETRY);
        let wait = retry_after.unwrap_or(backoff);
        // Leave at least one more try before the session dies: at most half
        // of what is left of it (the server's retry time included).
        let left = self.expires.saturating_duration_since(now);
        let wait = wait.min(left / 2).max(Duration::from_millis(50));
        self.next = now + wait;
        wait
    }

    /// What is left of the session at `now`.
    pub fn left(&self, now: Instant) -> Duration {
        self.expires.saturating_duration_since(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// At the real 30-minute interval, on tokio's paused clock: ten minutes of
    /// 429s and 5xx, then success; every retry lands well inside the session.
    #[tokio::test(start_paused = true)]
    async fn failed_refreshes_are_retried_inside_the_session() {
        let life = Duration::from_secs(1800);
        let mut r = Refresh::new(life, Instant::now());
        tokio::time::sleep_until(r.due()).await;
        assert_eq!(r.left(Instant::now()), Duration::from_secs(900));
        let started = Instant::now();
        let mut tries = 0;
        while started.elapsed() < Duration::from_secs(600) {
            let retry_after = (tries % 2 == 0).then_some(Duration::from_secs(20));
            let wait = r.failed(Instant::now(), retry_after);
            assert!(wait <= Duration::from_secs(30), "{wait:?}");
            tokio::time::sleep_until(r.due()).await;
            assert!(r.left(Instant::now()) > Duration::from_secs(240));
            tries += 1;
        }
        assert!(tries >= 20, "{tries}");
        r.succeeded(Instant::now());
        assert_eq!(r.left(Instant::now()), life);
        assert_eq!(r.due() - Instant::now(), life / 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_long_retry_time_is_cut_to_keep_the_session() {
        let mut r = Refresh::new(Duration::from_secs(1800), Instant::now());
        tokio::time::sleep_until(r.due()).await;
        // The server asks for an hour: the session would be dead by then.
        let wait = r.failed(Instant::now(), Some(Duration::from_secs(3600)));
        assert_eq!(wait, Duration::from_secs(450));
        // Backoff without a retry time: 250 ms, 500 ms, 1 s, ...
        let mut r = Refresh::new(Duration::from_secs(1800), Instant::now());
        let waits: Vec<Duration> = (0..3).map(|_| r.failed(Instant::now(), None)).collect();
        assert_eq!(waits, [250, 500, 1000].map(Duration::from_millis).to_vec());
    }
}
