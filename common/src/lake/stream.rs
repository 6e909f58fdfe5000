//! The stream side of the lake, as the streamer writes it and the enricher
//! reads it: batches at
//! `<batches>/partition=<p>/dt=YYYY-MM-DD/<first>-<last>.ndjson.gz` (offsets
//! zero-padded to 20 digits) and one checkpoint per partition at
//! `<state>/partition=<p>.json`.

use crate::store::join;

/// The end of every batch object's name.
pub const BATCH_SUFFIX: &str = ".ndjson.gz";

/// Key prefixes of one streamer's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamLayout {
    /// Batch objects: `<batches>/partition=<p>/dt=…/<first>-<last>.ndjson.gz`.
    pub batches: String,
    /// Checkpoints: `<state>/partition=<p>.json`.
    pub state: String,
}

impl StreamLayout {
    /// The layout under a destination prefix: `stream/` and `state/stream/`.
    pub fn under(base: &str) -> StreamLayout {
        StreamLayout {
            batches: join(base, "stream"),
            state: join(base, "state/stream"),
        }
    }

    /// Where a partition's last durable offset is recorded.
    pub fn checkpoint_key(&self, partition: u32) -> String {
        format!("{}/partition={partition}.json", self.state)
    }

    /// The listing prefix of every batch of a partition.
    pub fn partition_prefix(&self, partition: u32) -> String {
        format!("{}/partition={partition}/", self.batches)
    }

    /// The listing prefix of every batch (with its trailing `/`).
    pub fn batches_prefix(&self) -> String {
        format!("{}/", self.batches)
    }

    /// The object key of the batch holding offsets `first..=last` of `partition`.
    pub fn batch_key(&self, partition: u32, dt: &str, first: u64, last: u64) -> String {
        join(
            &self.batches,
            &format!("partition={partition}/dt={dt}/{first:020}-{last:020}{BATCH_SUFFIX}"),
        )
    }
}

/// What a batch key says of its batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchKey {
    pub partition: u32,
    pub first: u64,
    pub last: u64,
}

impl BatchKey {
    /// Reads a batch key (under any prefix): a `stream` folder, a
    /// `partition=<p>` folder and a `<first>-<last>.ndjson.gz` name. Anything
    /// else (checkpoints, other objects) is `None`.
    pub fn parse(key: &str) -> Option<BatchKey> {
        let mut segments = key.split('/');
        let name = segments.next_back()?.strip_suffix(BATCH_SUFFIX)?;
        let (first, last) = name.split_once('-')?;
        let (first, last) = (first.parse().ok()?, last.parse().ok()?);
        let mut in_stream = false;
        let mut partition = None;
        for s in segments {
            if s == "stream" {
                in_stream = true;
            } else if let Some(p) = s.strip_prefix("partition=") {
                partition = p.parse().ok();
            }
        }
        Some(BatchKey {
            partition: partition.filter(|_| in_stream)?,
            first,
            last,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        let l = StreamLayout::under("p");
        let key = l.batch_key(3, "2026-03-14", 1, 9);
        assert_eq!(
            key,
            "p/stream/partition=3/dt=2026-03-14/00000000000000000001-00000000000000000009.ndjson.gz"
        );
        assert_eq!(
            BatchKey::parse(&key),
            Some(BatchKey {
                partition: 3,
                first: 1,
                last: 9
            })
        );
        assert_eq!(l.checkpoint_key(3), "p/state/stream/partition=3.json");
        assert_eq!(l.partition_prefix(3), "p/stream/partition=3/");
        assert_eq!(StreamLayout::under("").batches_prefix(), "stream/");
        assert_eq!(BatchKey::parse(&l.checkpoint_key(3)), None);
        assert_eq!(
            BatchKey::parse("p/other/partition=3/dt=x/1-2.ndjson.gz"),
            None
        );
        assert_eq!(BatchKey::parse("p/stream/dt=x/1-2.ndjson.gz"), None);
        assert_eq!(
            BatchKey::parse("p/stream/partition=3/dt=x/1-2.ndjson"),
            None
        );
    }
}
