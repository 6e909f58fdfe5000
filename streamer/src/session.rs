//! One partition's stream, held for as long as the session lasts, as a state
//! machine: [`State`] names where the partition is, [`State::next`] (pure)
//! says where an [`Event`] takes it, and [`Partner::run`] does what each
//! state asks and reports what happened. While reading, lines go through the
//! intake (`intake.rs`), the session is refreshed on its own timer whether or
//! not events flow (`refresh.rs` says when, failed refreshes included), and
//! the open batch is flushed at its age bound. The open batch is flushed on
//! every way out, and before every wait.

use crate::api::{Api, ApiError};
use crate::config::{Live, Start};
use crate::discover::Partition;
use crate::error::StreamerError;
use crate::intake::{Intake, Took};
use crate::metrics::{Metrics, PartitionLabel};
use crate::refresh::Refresh;
use falconry_common::telemetry::Health;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// A connection that lasted this long was healthy: the reconnect backoff starts over.
const HEALTHY: Duration = Duration::from_secs(60);

/// Longest line accepted; a longer one is junk.
const MAX_LINE: usize = 16 * 1024 * 1024;

/// Why a partition stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The session is gone: discover again, then resume.
    Rediscover,
    /// Shutdown (or another partition asked for a rediscover).
    Stopped,
}

/// Where a partition's session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Opening the stream at the next offset (last taken + 1).
    Connecting,
    /// Connected: reading lines, refreshing the session, flushing on age.
    Reading,
    /// Waiting before connecting again: for the time a 429 named, or the
    /// next step of the reconnect backoff.
    Waiting(Wait),
    /// Done: the session is gone (discover again) or we were stopped.
    Ended(End),
}

/// How long a [`State::Waiting`] lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    For(Duration),
    Backoff,
}

/// What happened in a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Shutdown, or another partition's session is gone.
    Stop,
    /// The stream answered 200.
    Opened,
    /// The session is gone: the stream said 401/404, or a refresh 404.
    Gone,
    /// 429, with the time to wait.
    RateLimited(Duration),
    /// The stream could not be opened (network, 5xx, ...).
    OpenFailed,
    /// The connection ended (closed, cut, idle, junk, read error);
    /// `healthy`: it had lasted [`HEALTHY`].
    Dropped { healthy: bool },
    /// A wait is over.
    Waited,
}

impl State {
    /// Where `event` takes a partition in this state. Pure.
    pub fn next(self, event: Event) -> State {
        match (self, event) {
            (State::Ended(end), _) => State::Ended(end),
            (_, Event::Stop) => State::Ended(End::Stopped),
            (_, Event::Gone) => State::Ended(End::Rediscover),
            (State::Connecting, Event::Opened) => State::Reading,
            (_, Event::RateLimited(wait)) => State::Waiting(Wait::For(wait)),
            (State::Reading, Event::Dropped { healthy: true }) => State::Connecting,
            (State::Waiting(_), Event::Waited) => State::Connecting,
            // A failed open, a connection that kept failing fast, or anything
            // unexpected: back off, then connect again.
            _ => State::Waiting(Wait::Backoff),
        }
    }
}

/// Counters of one partition, for logs and tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts {
    pub events: u64,
    pub batches: u64,
    pub duplicates: u64,
    pub junk: u64,
    pub reconnects: u64,
    pub refreshes: u64,
}

pub struct Partner<'a> {
    pub api: &'a Api,
    pub metrics: &'a Metrics,
    pub health: &'a Health,
    pub live: &'a Live,
    pub intake: Intake,
    pub counts: Counts,
}

impl Partner<'_> {
    /// Runs partition `p` until its session ends or `stop` is cancelled.
    pub async fn run(
        &mut self,
        p: &Partition,
        stop: &CancellationToken,
    ) -> Result<End, StreamerError> {
        let mut refresh = Refresh::new(p.refresh_interval, Instant::now());
        let mut backoff = backoff();
        let mut stream: Option<reqwest::Response> = None;
        let mut state = State::Connecting;
        loop {
            let event = match state {
                State::Ended(end) => {
                    self.flush().await?;
                    return Ok(end);
                }
                _ if stop.is_cancelled() => Event::Stop,
                State::Connecting => self.connect(p, stop, &mut stream).await,
                State::Reading => match stream.take() {
                    Some(resp) => self.read(p, resp, &mut refresh, stop).await?,
                    None => Event::Dropped { healthy: false },
                },
                State::Waiting(wait) => {
                    let wait = match wait {
                        Wait::For(d) => d,
                        Wait::Backoff => backoff.next().unwrap_or(Duration::from_secs(60)),
                    };
                    self.wait(wait, stop).await?
                }
            };
            if let Event::Dropped { healthy } = event {
                self.counts.reconnects += 1;
                if healthy {
                    backoff = self::backoff();
                }
            }
            state = state.next(event);
        }
    }

    /// [`State::Connecting`]: opens the stream at the next offset.
    async fn connect(
        &mut self,
        p: &Partition,
        stop: &CancellationToken,
        stream: &mut Option<reqwest::Response>,
    ) -> Event {
        let offset = self.intake.next_offset();
        let start = if offset.is_some() {
            Start::Oldest
        } else {
            self.live.start
        };
        let opened = tokio::select! {
            r = self.api.open(p, offset, start) => r,
            _ = stop.cancelled() => return Event::Stop,
        };
        match opened {
            Ok(resp) => {
                tracing::info!(partition = p.number, ?offset, "stream connected");
                *stream = Some(resp);
                Event::Opened
            }
            Err(ApiError::SessionGone(status)) => {
                tracing::warn!(partition = p.number, status, "stream session gone");
                Event::Gone
            }
            Err(ApiError::RateLimited(wait)) => {
                tracing::warn!(partition = p.number, ?wait, "rate limited");
                Event::RateLimited(wait)
            }
            Err(e) => {
                tracing::warn!(partition = p.number, error = %e, "cannot open the stream");
                Event::OpenFailed
            }
        }
    }

    /// [`State::Reading`]: reads `resp` until the connection ends, the
    /// session is gone, or `stop`.
    async fn read(
        &mut self,
        p: &Partition,
        mut resp: reqwest::Response,
        refresh: &mut Refresh,
        stop: &CancellationToken,
    ) -> Result<Event, StreamerError> {
        let label = PartitionLabel {
            partition: p.number,
        };
        self.metrics.connected.get_or_create(&label).set(1);
        self.health.beat();
        let mut buf: Vec<u8> = Vec::new();
        let connected_at = Instant::now();
        let event = loop {
            let idle = tokio::time::sleep(self.live.idle_timeout);
            let flush_at = self.intake.deadline();
            tokio::select! {
                chunk = resp.chunk() => match chunk {
                    Ok(Some(bytes)) => {
                        self.health.beat();
                        buf.extend_from_slice(&bytes);
                        if !self.take_lines(&mut buf, p.number).await? {
                            break None; // junk: drop this connection
                        }
                    }
                    Ok(None) => {
                        tracing::info!(partition = p.number, "stream closed by the server");
                        self.metrics.reconnect(if buf.is_empty() { "closed" } else { "cut" });
                        break None;
                    }
                    Err(e) => {
                        tracing::warn!(partition = p.number, error = %e, "stream read failed");
                        self.metrics.reconnect("error");
                        break None;
                    }
                },
                _ = idle => {
                    tracing::warn!(partition = p.number, idle = ?self.live.idle_timeout, "stream idle: reconnecting");
                    self.metrics.reconnect("idle");
                    break None;
                }
                _ = tokio::time::sleep_until(refresh.due()) => {
                    if self.refresh(p, refresh).await {
                        break Some(Event::Gone);
                    }
                }
                _ = async { match flush_at { Some(t) => tokio::time::sleep_until(t).await, None => std::future::pending().await } } => {
                    self.flush().await?;
                }
                _ = stop.cancelled() => break Some(Event::Stop),
            }
        };
        self.metrics.connected.get_or_create(&label).set(0);
        // A partial line left in the buffer was cut by the disconnect: never an event.
        if !buf.is_empty() {
            self.counts.junk += 1;
            tracing::warn!(
                partition = p.number,
                bytes = buf.len(),
                "partial line at disconnect discarded"
            );
        }
        Ok(event.unwrap_or(Event::Dropped {
            healthy: connected_at.elapsed() >= HEALTHY,
        }))
    }

    /// Refreshes the session; `true` when it is gone.
    async fn refresh(&mut self, p: &Partition, refresh: &mut Refresh) -> bool {
        match self.api.refresh(p).await {
            Ok(()) => {
                refresh.succeeded(Instant::now());
                self.counts.refreshes += 1;
                self.metrics.refresh("ok");
                false
            }
            Err(ApiError::SessionGone(_)) => {
                tracing::warn!(partition = p.number, "refresh: session gone");
                self.metrics.refresh("gone");
                true
            }
            Err(e) => {
                let retry_after = match &e {
                    ApiError::RateLimited(wait) => Some(*wait),
                    _ => None,
                };
                let now = Instant::now();
                let retry_in = refresh.failed(now, retry_after);
                self.metrics.refresh(if retry_after.is_some() {
                    "rate_limited"
                } else {
                    "error"
                });
                tracing::warn!(
                    partition = p.number,
                    error = %e,
                    ?retry_in,
                    session_left = ?refresh.left(now),
                    "refresh failed; retrying"
                );
                false
            }
        }
    }

    /// Takes every complete line out of `buf`; `false` when a junk line means
    /// this connection cannot be trusted any more.
    async fn take_lines(
        &mut self,
        buf: &mut Vec<u8>,
        partition: u32,
    ) -> Result<bool, StreamerError> {
        let mut start = 0;
        while let Some(i) = memchr::memchr(b'\n', &buf[start..]) {
            let line = &buf[start..start + i];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            start += i + 1;
            let batches_before = self.intake.batches;
            let took = self.intake.line(line).await?;
            self.count_batches(batches_before);
            match took {
                Took::KeepAlive => {}
                Took::Duplicate => {
                    self.counts.duplicates += 1;
                    self.metrics.duplicates.inc();
                }
                Took::Event(meta) => {
                    self.counts.events += 1;
                    self.metrics.event(&meta.event_type);
                    self.metrics.bytes.inc_by(line.len() as u64);
                    self.metrics
                        .offset
                        .get_or_create(&PartitionLabel { partition })
                        .set(meta.offset as i64);
                    if meta.creation_ms > 0 {
                        let lag = (chrono::Utc::now().timestamp_millis() - meta.creation_ms).max(0);
                        self.metrics.lag_seconds.observe(lag as f64 / 1000.0);
                    }
                }
                Took::Junk(reason) => {
                    self.counts.junk += 1;
                    self.metrics.junk_lines.inc();
                    self.metrics.reconnect("junk");
                    tracing::warn!(
                        partition,
                        reason,
                        "not a stream event (error page or cut line): reconnecting"
                    );
                    buf.clear();
                    return Ok(false);
                }
            }
        }
        buf.drain(..start);
        if buf.len() > MAX_LINE {
            self.counts.junk += 1;
            self.metrics.junk_lines.inc();
            self.metrics.reconnect("junk");
            tracing::warn!(
                partition,
                bytes = buf.len(),
                "line over the limit: reconnecting"
            );
            buf.clear();
            return Ok(false);
        }
        Ok(true)
    }

    async fn flush(&mut self) -> Result<(), StreamerError> {
        let before = self.intake.batches;
        self.intake.flush().await?;
        self.count_batches(before);
        Ok(())
    }

    fn count_batches(&mut self, before: u64) {
        let written = self.intake.batches - before;
        self.counts.batches += written;
        self.metrics.batches.inc_by(written);
    }

    /// [`State::Waiting`]: flushes (a batch is never held back by a wait), then waits.
    async fn wait(
        &mut self,
        wait: Duration,
        stop: &CancellationToken,
    ) -> Result<Event, StreamerError> {
        self.flush().await?;
        Ok(tokio::select! {
            _ = tokio::time::sleep(wait) => Event::Waited,
            _ = stop.cancelled() => Event::Stop,
        })
    }
}

/// Jittered exponential backoff for reconnects, reset after a healthy connection.
pub fn backoff() -> impl Iterator<Item = Duration> {
    falconry_common::http::backoff::reconnect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_moves_as_documented() {
        use Event::*;
        let s = State::Connecting;
        assert_eq!(s.next(Opened), State::Reading);
        assert_eq!(s.next(Gone), State::Ended(End::Rediscover));
        assert_eq!(
            s.next(RateLimited(Duration::from_secs(3))),
            State::Waiting(Wait::For(Duration::from_secs(3)))
        );
        assert_eq!(s.next(OpenFailed), State::Waiting(Wait::Backoff));
        assert_eq!(s.next(Stop), State::Ended(End::Stopped));
        let r = State::Reading;
        assert_eq!(r.next(Dropped { healthy: true }), State::Connecting);
        assert_eq!(
            r.next(Dropped { healthy: false }),
            State::Waiting(Wait::Backoff)
        );
        assert_eq!(r.next(Gone), State::Ended(End::Rediscover));
        assert_eq!(r.next(Stop), State::Ended(End::Stopped));
        let w = State::Waiting(Wait::Backoff);
        assert_eq!(w.next(Waited), State::Connecting);
        assert_eq!(w.next(Stop), State::Ended(End::Stopped));
        // Ended is final.
        let e = State::Ended(End::Rediscover);
        for ev in [Opened, Stop, Waited, OpenFailed] {
            assert_eq!(e.next(ev), e);
        }
    }
}
