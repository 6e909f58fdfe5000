//! One partition's intake, live or replayed: a line is classified
//! (`wire.rs`), an event taken into the open batch unless its offset is
//! already durable (`batch.rs`), and a batch that filled up written at once
//! (`writer.rs`). The live session and `stream --from` both feed lines here;
//! what they do besides (metrics, reconnects, summaries) is theirs.

use crate::batch::{Batcher, Durable, Limits, Pushed};
use crate::error::StreamerError;
use crate::wire::{self, Line, Meta};
use crate::writer;
use falconry_common::Store;
use falconry_common::lake::StreamLayout;
use tokio::time::Instant;

/// What a line was.
#[derive(Debug, PartialEq, Eq)]
pub enum Took {
    /// An event, now in a batch (written if that batch filled up).
    Event(Meta),
    /// An event at or below the last offset taken: already written.
    Duplicate,
    KeepAlive,
    /// Not a stream event (an error page, a cut line): never written.
    Junk(String),
}

pub struct Intake {
    store: Store,
    layout: StreamLayout,
    batcher: Batcher,
    /// Batches written.
    pub batches: u64,
}

impl Intake {
    /// The intake of `partition`, resuming after `durable`.
    pub fn new(
        store: Store,
        layout: StreamLayout,
        partition: u32,
        limits: Limits,
        durable: Durable,
    ) -> Intake {
        Intake {
            store,
            layout,
            batcher: Batcher::new(partition, limits, durable),
            batches: 0,
        }
    }

    /// The next offset to ask for (last taken + 1), if any was taken.
    pub fn next_offset(&self) -> Option<u64> {
        self.batcher.next_offset()
    }

    /// When the open batch reaches its age bound, if there is one.
    pub fn deadline(&self) -> Option<Instant> {
        self.batcher.deadline()
    }

    /// Takes one line (without its line terminator).
    pub async fn line(&mut self, line: &[u8]) -> Result<Took, StreamerError> {
        let meta = match wire::parse(line) {
            Line::Event(meta) => meta,
            Line::KeepAlive => return Ok(Took::KeepAlive),
            Line::Junk(reason) => return Ok(Took::Junk(reason)),
        };
        let wall_ms = chrono::Utc::now().timestamp_millis();
        match self
            .batcher
            .push(meta.offset, line, Instant::now(), wall_ms)
        {
            Pushed::Duplicate => Ok(Took::Duplicate),
            Pushed::Taken(full) => {
                if let Some(batch) = full {
                    writer::write(&self.store, &self.layout, batch).await?;
                    self.batches += 1;
                }
                Ok(Took::Event(meta))
            }
        }
    }

    /// Writes the open batch, if any; whether there was one.
    pub async fn flush(&mut self) -> Result<bool, StreamerError> {
        match self.batcher.take() {
            Some(batch) => {
                writer::write(&self.store, &self.layout, batch).await?;
                self.batches += 1;
                Ok(true)
            }
            None => Ok(false),
        }
    }
}
