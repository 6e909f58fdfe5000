//! Liveness and readiness as the admin port reports them. A daemon calls
//! [`Health::beat`] from its main loop; `/healthz` fails when no beat came
//! within the allowed silence, `/readyz` until the daemon says it is ready.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug)]
pub struct Health {
    ready: AtomicBool,
    last_beat_ms: AtomicU64,
    max_silence: Duration,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Health {
    /// Unhealthy when no beat came for `max_silence`.
    pub fn new(max_silence: Duration) -> Self {
        Health {
            ready: AtomicBool::new(false),
            last_beat_ms: AtomicU64::new(now_ms()),
            max_silence,
        }
    }

    pub fn beat(&self) {
        self.last_beat_ms.store(now_ms(), Ordering::Relaxed);
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// Whether the last beat is recent enough, and how long ago it was.
    pub fn is_live(&self) -> (bool, Duration) {
        let age = Duration::from_millis(
            now_ms().saturating_sub(self.last_beat_ms.load(Ordering::Relaxed)),
        );
        (age <= self.max_silence, age)
    }
}
