//! Cutting one partition's events into batches: raw lines in offset order,
//! closed at a size or an age bound, each named by the deterministic key
//! of the lake's stream layout (`falconry_common::lake::stream`). An offset at or
//! below the last one taken is a duplicate (a replayed stream, a resume that
//! overlapped) and is dropped: each offset lands once.
//!
//! A batch's `dt` is the UTC day it was opened, never earlier than the
//! previous batch's (a clock stepping back cannot lower it), so a partition's
//! keys sort in offset order. Events' own creation times are not monotonic in
//! offset (late events, a missing time) and never name a key.
//!
//! Pure: time comes in as arguments (tokio's clock, so paused-time tests
//! reach the age bound).

use falconry_common::lake::StreamLayout;
use std::time::Duration;
use tokio::time::Instant;

/// A closed batch, ready to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub partition: u32,
    pub first_offset: u64,
    pub last_offset: u64,
    pub events: u64,
    /// `YYYY-MM-DD` (UTC) the batch was opened, never before the previous one's.
    pub dt: String,
    /// The raw lines, each followed by `\n`.
    pub ndjson: Vec<u8>,
}

impl Batch {
    /// The object key in `layout` (the lake's stream layout).
    pub fn key(&self, layout: &StreamLayout) -> String {
        layout.batch_key(
            self.partition,
            &self.dt,
            self.first_offset,
            self.last_offset,
        )
    }
}

/// What is durable of a partition when it starts: the last offset, and the
/// day of the batch holding it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Durable {
    pub offset: Option<u64>,
    pub day: Option<String>,
}

/// Bounds of a batch.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_bytes: usize,
    pub max_age: Duration,
}

pub struct Batcher {
    partition: u32,
    limits: Limits,
    /// The last offset taken (or durable at start): anything at or below is a duplicate.
    last_taken: Option<u64>,
    /// The day of the last batch (or of the last durable one at start).
    last_day: Option<String>,
    open: Option<Open>,
}

struct Open {
    first: u64,
    last: u64,
    events: u64,
    dt: String,
    ndjson: Vec<u8>,
    opened: Instant,
}

/// What [`Batcher::push`] did with a line.
#[derive(Debug, PartialEq, Eq)]
pub enum Pushed {
    Taken(Option<Batch>),
    Duplicate,
}

impl Batcher {
    /// A batcher for `partition`; offsets at or below `durable.offset` are
    /// duplicates, and no batch is dated before `durable.day`.
    pub fn new(partition: u32, limits: Limits, durable: Durable) -> Self {
        Batcher {
            partition,
            limits,
            last_taken: durable.offset,
            last_day: durable.day,
            open: None,
        }
    }

    /// The next offset to ask the server for.
    pub fn next_offset(&self) -> Option<u64> {
        self.last_taken.map(|o| o + 1)
    }

    /// Takes one event line, received at `now` (for the age bound) and
    /// `wall_ms` (UTC epoch ms, for the day); returns a batch when this line
    /// filled one.
    pub fn push(&mut self, offset: u64, line: &[u8], now: Instant, wall_ms: i64) -> Pushed {
        if self.last_taken.is_some_and(|last| offset <= last) {
            return Pushed::Duplicate;
        }
        self.last_taken = Some(offset);
        if self.open.is_none() {
            let today = day(wall_ms);
            let dt = match self.last_day.take() {
                Some(last) if last > today => last,
                _ => today,
            };
            self.last_day = Some(dt.clone());
            self.open = Some(Open {
                first: offset,
                last: offset,
                events: 0,
                dt,
                ndjson: Vec::new(),
                opened: now,
            });
        }
        let Some(open) = self.open.as_mut() else {
            return Pushed::Taken(None);
        };
        open.last = offset;
        open.events += 1;
        open.ndjson.extend_from_slice(line);
        open.ndjson.push(b'\n');
        if open.ndjson.len() >= self.limits.max_bytes {
            return Pushed::Taken(self.take());
        }
        Pushed::Taken(None)
    }

    /// Whether the open batch has reached its age bound.
    pub fn due(&self, now: Instant) -> bool {
        self.open
            .as_ref()
            .is_some_and(|o| now.duration_since(o.opened) >= self.limits.max_age)
    }

    /// When the open batch will be due, if there is one.
    pub fn deadline(&self) -> Option<Instant> {
        self.open.as_ref().map(|o| o.opened + self.limits.max_age)
    }

    /// Closes the open batch, if any.
    pub fn take(&mut self) -> Option<Batch> {
        self.open.take().map(|o| Batch {
            partition: self.partition,
            first_offset: o.first,
            last_offset: o.last,
            events: o.events,
            dt: o.dt,
            ndjson: o.ndjson,
        })
    }
}

fn day(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_by_size_and_age_and_drops_duplicates() {
        let t0 = Instant::now();
        let mut b = Batcher::new(
            3,
            Limits {
                max_bytes: 20,
                max_age: Duration::from_secs(5),
            },
            Durable {
                offset: Some(9),
                day: None,
            },
        );
        assert_eq!(b.next_offset(), Some(10));
        assert_eq!(b.push(9, b"old", t0, MAR_14), Pushed::Duplicate);
        assert_eq!(b.push(10, b"aaaaaaa", t0, MAR_14), Pushed::Taken(None));
        assert!(!b.due(t0 + Duration::from_secs(4)));
        assert!(b.due(t0 + Duration::from_secs(5)));
        assert_eq!(b.push(10, b"again", t0, MAR_14), Pushed::Duplicate);
        let Pushed::Taken(Some(batch)) = b.push(14, b"bbbbbbbbbbbb", t0, MAR_14) else {
            panic!()
        };
        assert_eq!(
            (batch.first_offset, batch.last_offset, batch.events),
            (10, 14, 2)
        );
        assert_eq!(batch.ndjson, b"aaaaaaa\nbbbbbbbbbbbb\n");
        assert_eq!(
            batch.key(&StreamLayout::under("s")),
            "s/stream/partition=3/dt=2026-03-14/00000000000000000010-00000000000000000014.ndjson.gz"
        );
        assert_eq!(b.take(), None);
        assert_eq!(b.next_offset(), Some(15));
    }

    const MAR_14: i64 = 1_773_480_000_000;
    const DAY: i64 = 86_400_000;

    #[test]
    fn the_day_never_goes_back_so_keys_sort_in_offset_order() {
        let t0 = Instant::now();
        let limits = Limits {
            max_bytes: 1,
            max_age: Duration::from_secs(5),
        };
        // Resumed after a batch dated the 15th; this host's clock says the 14th.
        let mut b = Batcher::new(
            0,
            limits,
            Durable {
                offset: Some(99),
                day: Some("2026-03-15".into()),
            },
        );
        let mut keys = Vec::new();
        for (offset, wall) in [(100, MAR_14), (101, MAR_14 + 2 * DAY), (102, MAR_14)] {
            let Pushed::Taken(Some(batch)) = b.push(offset, b"x", t0, wall) else {
                panic!()
            };
            keys.push(batch.key(&StreamLayout::under("s")));
        }
        assert!(keys[0].contains("dt=2026-03-15/"), "{keys:?}");
        assert!(keys[1].contains("dt=2026-03-16/"), "{keys:?}");
        assert!(keys[2].contains("dt=2026-03-16/"), "{keys:?}");
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(sorted, keys);
    }
}
