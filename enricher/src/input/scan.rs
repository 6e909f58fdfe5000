//! Finds stream batches not read yet under the streamer's destination
//! (`<prefix>/stream/partition=<p>/dt=…/<first>-<last>.ndjson.gz`). The
//! position is one cursor per partition in the state store: the last offset
//! fully handled. Batches are chosen and ordered by the offsets their keys
//! name, never by the key strings (a `dt=` folder need not sort with the
//! offsets: older streamers dated batches by event time). Used on the
//! embedded default and for backfills; deployments use the queue.

use bytes::Bytes;
use falconry_common::lake::state::EnricherState;
use falconry_common::lake::{BatchKey, StreamLayout};
use falconry_common::{ObjectInfo, Store, StoreError};
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub struct Scanner {
    store: Store,
    /// `<prefix>/stream/` (or `stream/`).
    stream_prefix: String,
    state: Store,
    keys: EnricherState,
}

/// A partition's cursor: `{"offset": N}`, the last offset handled. A cursor
/// written by an older version (`{"after": "<batch key>"}`) is read as the
/// last offset that key names.
#[derive(serde::Serialize, serde::Deserialize)]
struct Cursor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    offset: Option<u64>,
    #[serde(default, skip_serializing)]
    after: Option<String>,
}

impl Cursor {
    fn offset(&self) -> Option<u64> {
        self.offset.or_else(|| {
            self.after
                .as_deref()
                .and_then(BatchKey::parse)
                .map(|k| k.last)
        })
    }
}

impl Scanner {
    /// `prefix`: the streamer's destination prefix; `keys`: where cursors live in `state`.
    pub fn new(store: Store, prefix: &str, state: Store, keys: EnricherState) -> Scanner {
        Scanner {
            store,
            stream_prefix: StreamLayout::under(prefix.trim_matches('/')).batches_prefix(),
            state,
            keys,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    async fn cursor(&self, partition: u32) -> Result<Option<u64>, StoreError> {
        match self.state.get_bytes(&self.keys.cursor_key(partition)).await {
            Ok(b) => Ok(serde_json::from_slice::<Cursor>(&b)
                .ok()
                .and_then(|c| c.offset())),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Batches past each partition's cursor, per partition in offset order.
    pub async fn pending(&self) -> Result<BTreeMap<u32, Vec<ObjectInfo>>, StoreError> {
        let mut by_partition: BTreeMap<u32, Vec<(BatchKey, ObjectInfo)>> = BTreeMap::new();
        for o in self.store.list(&self.stream_prefix).await? {
            if let Some(k) = BatchKey::parse(&o.key) {
                by_partition.entry(k.partition).or_default().push((k, o));
            }
        }
        let mut out = BTreeMap::new();
        for (p, mut objects) in by_partition {
            let handled = self.cursor(p).await?;
            objects.retain(|(k, _)| handled.is_none_or(|h| k.last > h));
            objects.sort_by_key(|(k, _)| (k.first, k.last));
            if !objects.is_empty() {
                out.insert(p, objects.into_iter().map(|(_, o)| o).collect());
            }
        }
        Ok(out)
    }

    /// Every alert of `key` has its outcome: move the partition's cursor past it.
    pub async fn done(&self, key: &str) -> Result<(), StoreError> {
        let Some(k) = BatchKey::parse(key) else {
            return Ok(());
        };
        let p = k.partition;
        let body = serde_json::to_vec(&Cursor {
            offset: Some(k.last),
            after: None,
        })
        .unwrap_or_default();
        self.state
            .put_bytes(&self.keys.cursor_key(p), Bytes::from(body))
            .await
            .map(|_| ())
    }
}

/// Finds findings objects not read yet under the forwarder's destination
/// (`<prefix>/findings/dt=…/….findings.ndjson.gz`). Findings are not
/// ordered by offsets: each object read is recorded (with its modification
/// time) under the state, and an object is pending until its record exists.
#[derive(Debug, Clone)]
pub struct FindingsScanner {
    store: Store,
    findings_prefix: String,
    state: Store,
    keys: EnricherState,
}

impl FindingsScanner {
    pub fn new(store: Store, prefix: &str, state: Store, keys: EnricherState) -> FindingsScanner {
        let layout = falconry_common::lake::Layout::default().under(prefix.trim_matches('/'));
        FindingsScanner {
            store,
            findings_prefix: layout.findings_prefix(),
            state,
            keys,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Findings objects not read (or rewritten since), oldest day first.
    pub async fn pending(&self) -> Result<Vec<ObjectInfo>, StoreError> {
        let read: std::collections::HashSet<String> = self
            .state
            .list(&self.keys.findings_read_prefix())
            .await?
            .into_iter()
            .map(|o| o.key)
            .collect();
        let mut out: Vec<ObjectInfo> = self
            .store
            .list(&self.findings_prefix)
            .await?
            .into_iter()
            .filter(|o| falconry_common::lake::findings::is_findings_key(&o.key))
            .filter(|o| !read.contains(&self.keys.findings_read_key(&o.key, o.modified_ms)))
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// Every alert of `o` has its outcome.
    pub async fn done(&self, o: &ObjectInfo) -> Result<(), StoreError> {
        self.state
            .put_bytes(
                &self.keys.findings_read_key(&o.key, o.modified_ms),
                Bytes::new(),
            )
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(dt: &str, first: u64, last: u64) -> String {
        format!("lake/stream/partition=0/dt={dt}/{first:020}-{last:020}.ndjson.gz")
    }

    /// Batches dated by event time (older streamers) whose days go back
    /// across midnight: the cursor is an offset, so none is skipped.
    #[tokio::test]
    async fn batches_are_taken_by_offset_whatever_their_day() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::local(dir.path());
        for k in [
            key("2026-03-14", 0, 9),
            key("2026-03-15", 10, 19),
            // Its first event was created before midnight: an earlier day.
            key("2026-03-14", 20, 29),
            key("1970-01-01", 30, 39),
        ] {
            store.put_bytes(&k, Bytes::from_static(b"")).await.unwrap();
        }
        let scanner = Scanner::new(
            store.clone(),
            "lake",
            store.clone(),
            EnricherState::new("state"),
        );
        let order = |p: &BTreeMap<u32, Vec<ObjectInfo>>| -> Vec<u64> {
            p[&0]
                .iter()
                .map(|o| BatchKey::parse(&o.key).unwrap().first)
                .collect()
        };
        assert_eq!(
            order(&scanner.pending().await.unwrap()),
            vec![0, 10, 20, 30]
        );
        scanner.done(&key("2026-03-15", 10, 19)).await.unwrap();
        assert_eq!(order(&scanner.pending().await.unwrap()), vec![20, 30]);
        // A cursor written by an older version (a key) is read as its offset.
        store
            .put_bytes(
                &EnricherState::new("state").cursor_key(0),
                Bytes::from(format!(r#"{{"after":"{}"}}"#, key("2026-03-15", 10, 19))),
            )
            .await
            .unwrap();
        assert_eq!(order(&scanner.pending().await.unwrap()), vec![20, 30]);
    }
}
