//! Per-provider request limits: at most `per_minute` requests in any sliding
//! 60-second window (exact, a log of the last minute's request times) and at
//! most `per_day` per UTC day (VirusTotal's free tier: 4/min, 500/day). A
//! caller that would have to wait longer than it can afford gets a refusal
//! instead, so a limit never holds an issue back past its deadline.
//!
//! Runs on tokio's clock, so tests pause and advance time.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

const WINDOW: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("daily budget of {0} requests spent")]
    Budget(u32),
    #[error("rate limit of {0} requests a minute reached")]
    Rate(u32),
}

#[derive(Debug)]
pub struct Limiter {
    per_minute: u32,
    per_day: Option<u32>,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// Times of the requests granted in the last minute (some may be in the
    /// future: reservations of callers still waiting).
    recent: VecDeque<Instant>,
    day: i64,
    used_today: u32,
}

fn utc_day() -> i64 {
    chrono::Utc::now().timestamp().div_euclid(86_400)
}

impl Limiter {
    pub fn new(per_minute: u32, per_day: Option<u32>) -> Limiter {
        Limiter {
            per_minute: per_minute.max(1),
            per_day,
            state: Mutex::new(State {
                recent: VecDeque::new(),
                day: utc_day(),
                used_today: 0,
            }),
        }
    }

    /// Requests left today (`None`: no daily budget).
    pub fn remaining_today(&self) -> Option<u32> {
        let s = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.per_day.map(|d| d.saturating_sub(s.used_today))
    }

    /// Waits for a slot (at most `max_wait`) and takes it.
    pub async fn acquire(&self, max_wait: Duration) -> Result<(), Denied> {
        let at = {
            let mut s = self
                .state
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let today = utc_day();
            if today != s.day {
                s.day = today;
                s.used_today = 0;
            }
            if let Some(budget) = self.per_day
                && s.used_today >= budget
            {
                return Err(Denied::Budget(budget));
            }
            let now = Instant::now();
            while s.recent.front().is_some_and(|t| *t + WINDOW <= now) {
                s.recent.pop_front();
            }
            // The slot: now if the window has room, else when the request
            // `per_minute` places back leaves the window.
            let at = if (s.recent.len() as u32) < self.per_minute {
                now
            } else {
                let idx = s.recent.len() - self.per_minute as usize;
                s.recent[idx] + WINDOW
            };
            if at.saturating_duration_since(now) > max_wait {
                return Err(Denied::Rate(self.per_minute));
            }
            s.recent.push_back(at);
            s.used_today += 1;
            at
        };
        tokio::time::sleep_until(at).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test(start_paused = true)]
    async fn never_more_than_the_rate_in_any_minute_nor_the_budget_in_a_day() {
        let l = Arc::new(Limiter::new(4, Some(10)));
        let start = Instant::now();
        let granted = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for _ in 0..500 {
            let (l, granted) = (l.clone(), granted.clone());
            tasks.push(tokio::spawn(async move {
                if l.acquire(Duration::from_secs(600)).await.is_ok() {
                    granted.lock().unwrap().push(Instant::now() - start);
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let mut times = granted.lock().unwrap().clone();
        times.sort();
        assert_eq!(times.len(), 10, "the daily budget caps a burst of 500");
        for (i, t) in times.iter().enumerate() {
            let in_window = times
                .iter()
                .filter(|u| **u >= *t && **u < *t + WINDOW)
                .count();
            assert!(
                in_window <= 4,
                "request {i} at {t:?}: {in_window} in its minute"
            );
        }
        assert_eq!(
            times[4], WINDOW,
            "the fifth waits for the first to leave the window"
        );
        assert_eq!(l.remaining_today(), Some(0));
        assert_eq!(l.acquire(Duration::ZERO).await, Err(Denied::Budget(10)));
    }

    #[tokio::test(start_paused = true)]
    async fn refuses_rather_than_waiting_past_the_deadline() {
        let l = Limiter::new(2, None);
        assert!(l.acquire(Duration::ZERO).await.is_ok());
        assert!(l.acquire(Duration::ZERO).await.is_ok());
        assert_eq!(
            l.acquire(Duration::from_secs(5)).await,
            Err(Denied::Rate(2))
        );
        tokio::time::advance(WINDOW).await;
        assert!(l.acquire(Duration::ZERO).await.is_ok());
        assert_eq!(l.remaining_today(), None);
    }
}
