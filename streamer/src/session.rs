//! One partition's stream, held for as long as the session lasts: connect at
//! the next offset (last taken + 1), read lines as they come, batch and commit
//! them, refresh the session on its own timer whether or not events flow
//! (`refresh.rs` says when, failed refreshes included),
//! flush batches at their age bound, and reconnect on an idle connection, a
//! dropped one, or a junk line (never published). A session that is gone ends
//! the partition with [`End::Rediscover`]; the open batch is flushed first on
//! every way out.

use crate::api::{Api, ApiError};
use crate::batch::{Batch, Batcher, Pushed};
use crate::config::{Live, Start};
use crate::discover::Partition;
use crate::error::StreamerError;
use crate::metrics::{Metrics, PartitionLabel};
use crate::position;
use crate::refresh::Refresh;
use crate::wire::{self, Line};
use falconry_common::Store;
use falconry_common::lake::StreamLayout;
use falconry_common::telemetry::Health;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// A connection that lasted this long was healthy: the reconnect backoff starts over.
const HEALTHY: Duration = Duration::from_secs(60);

/// Longest line accepted; a longer one is junk.
const MAX_LINE: usize = 16 * 1024 * 1024;

/// Why a partition stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    /// The session is gone: discover again, then resume.
    Rediscover,
    /// Shutdown (or another partition asked for a rediscover).
    Stopped,
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
    pub store: &'a Store,
    pub layout: &'a StreamLayout,
    pub batcher: Batcher,
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
        loop {
            if stop.is_cancelled() {
                self.flush().await?;
                return Ok(End::Stopped);
            }
            let offset = self.batcher.next_offset();
            let start = if offset.is_some() {
                Start::Oldest
            } else {
                self.live.start
            };
            let opened = tokio::select! {
                r = self.api.open(p, offset, start) => r,
                _ = stop.cancelled() => continue,
            };
            let mut resp = match opened {
                Ok(r) => r,
                Err(ApiError::SessionGone(status)) => {
                    tracing::warn!(partition = p.number, status, "stream session gone");
                    self.flush().await?;
                    return Ok(End::Rediscover);
                }
                Err(ApiError::RateLimited(wait)) => {
                    tracing::warn!(partition = p.number, ?wait, "rate limited");
                    self.sleep(wait, stop).await?;
                    continue;
                }
                Err(e) => {
                    let wait = backoff.next().unwrap_or(Duration::from_secs(30));
                    tracing::warn!(partition = p.number, error = %e, ?wait, "cannot open the stream");
                    self.sleep(wait, stop).await?;
                    continue;
                }
            };
            tracing::info!(partition = p.number, ?offset, "stream connected");
            let label = PartitionLabel {
                partition: p.number,
            };
            self.metrics.connected.get_or_create(&label).set(1);
            self.health.beat();
            let mut buf: Vec<u8> = Vec::new();
            let connected_at = Instant::now();
            // Read until this connection is done; then reconnect (or leave).
            let end: Option<End> = loop {
                let idle = tokio::time::sleep(self.live.idle_timeout);
                let flush_at = self.batcher.deadline();
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
                        match self.api.refresh(p).await {
                            Ok(()) => {
                                refresh.succeeded(Instant::now());
                                self.counts.refreshes += 1;
                                self.metrics.refresh("ok");
                            }
                            Err(ApiError::SessionGone(_)) => {
                                tracing::warn!(partition = p.number, "refresh: session gone");
                                self.metrics.refresh("gone");
                                break Some(End::Rediscover);
                            }
                            Err(e) => {
                                let retry_after = match &e {
                                    ApiError::RateLimited(wait) => Some(*wait),
                                    _ => None,
                                };
                                let now = Instant::now();
                                let retry_in = refresh.failed(now, retry_after);
                                self.metrics.refresh(if retry_after.is_some() { "rate_limited" } else { "error" });
                                tracing::warn!(
                                    partition = p.number,
                                    error = %e,
                                    ?retry_in,
                                    session_left = ?refresh.left(now),
                                    "refresh failed; retrying"
                                );
                            }
                        }
                    }
                    _ = async { match flush_at { Some(t) => tokio::time::sleep_until(Instant::from_std(t)).await, None => std::future::pending().await } } => {
                        self.flush().await?;
                    }
                    _ = stop.cancelled() => break Some(End::Stopped),
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
            match end {
                Some(end) => {
                    self.flush().await?;
                    return Ok(end);
                }
                None => {
                    self.counts.reconnects += 1;
                    // A connection that held for a while resets the backoff; one that
                    // keeps failing fast (junk, cuts) waits longer each time.
                    if connected_at.elapsed() >= HEALTHY {
                        backoff = self::backoff();
                    } else {
                        let wait = backoff.next().unwrap_or(Duration::from_secs(60));
                        self.sleep(wait, stop).await?;
                    }
                }
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
            match wire::parse(line) {
                Line::KeepAlive => {}
                Line::Event(meta) => match self.batcher.push(
                    meta.offset,
                    line,
                    std::time::Instant::now(),
                    chrono::Utc::now().timestamp_millis(),
                ) {
                    Pushed::Duplicate => {
                        self.counts.duplicates += 1;
                        self.metrics.duplicates.inc();
                    }
                    Pushed::Taken(batch) => {
                        self.counts.events += 1;
                        self.metrics.event(&meta.event_type);
                        self.metrics.bytes.inc_by(line.len() as u64);
                        self.metrics
                            .offset
                            .get_or_create(&PartitionLabel { partition })
                            .set(meta.offset as i64);
                        if meta.creation_ms > 0 {
                            let lag =
                                (chrono::Utc::now().timestamp_millis() - meta.creation_ms).max(0);
                            self.metrics.lag_seconds.observe(lag as f64 / 1000.0);
                        }
                        if let Some(batch) = batch {
                            self.commit(batch).await?;
                        }
                    }
                },
                Line::Junk(reason) => {
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
        if let Some(batch) = self.batcher.take() {
            self.commit(batch).await?;
        }
        Ok(())
    }

    async fn commit(&mut self, batch: Batch) -> Result<(), StreamerError> {
        position::write(self.store, self.layout, batch).await?;
        self.counts.batches += 1;
        self.metrics.batches.inc();
        Ok(())
    }

    async fn sleep(
        &mut self,
        wait: Duration,
        stop: &CancellationToken,
    ) -> Result<(), StreamerError> {
        // Do not hold a batch back while waiting.
        self.flush().await?;
        tokio::select! { _ = tokio::time::sleep(wait) => {}, _ = stop.cancelled() => {} }
        Ok(())
    }
}

/// Jittered exponential backoff for reconnects, reset after a healthy connection.
pub fn backoff() -> impl Iterator<Item = Duration> {
    falconry_common::http::backoff::reconnect()
}
