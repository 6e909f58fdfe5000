//! Finds stream batches not read yet under the streamer's destination
//! (`<prefix>/stream/partition=<p>/dt=…/<first>-<last>.ndjson.gz`): keys of a
//! partition sort in offset order, so one cursor per partition (the last
//! batch fully handled, kept in the state store) is all the position there is.
//! Used on the embedded default and for backfills; deployments use the queue.

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

#[derive(serde::Serialize, serde::Deserialize)]
struct Cursor {
    after: String,
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

    async fn cursor(&self, partition: u32) -> Result<Option<String>, StoreError> {
        match self.state.get_bytes(&self.keys.cursor_key(partition)).await {
            Ok(b) => Ok(serde_json::from_slice::<Cursor>(&b).ok().map(|c| c.after)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Batches after each partition's cursor, per partition in key order.
    pub async fn pending(&self) -> Result<BTreeMap<u32, Vec<ObjectInfo>>, StoreError> {
        let mut by_partition: BTreeMap<u32, Vec<ObjectInfo>> = BTreeMap::new();
        for o in self.store.list(&self.stream_prefix).await? {
            if let Some(k) = BatchKey::parse(&o.key) {
                by_partition.entry(k.partition).or_default().push(o);
            }
        }
        let mut out = BTreeMap::new();
        for (p, mut objects) in by_partition {
            let after = self.cursor(p).await?;
            objects.retain(|o| after.as_deref().is_none_or(|a| o.key.as_str() > a));
            objects.sort_by(|a, b| a.key.cmp(&b.key));
            if !objects.is_empty() {
                out.insert(p, objects);
            }
        }
        Ok(out)
    }

    /// Every alert of `key` has its outcome: move the partition's cursor past it.
    pub async fn done(&self, key: &str) -> Result<(), StoreError> {
        let Some(p) = BatchKey::parse(key).map(|k| k.partition) else {
            return Ok(());
        };
        let body = serde_json::to_vec(&Cursor {
            after: key.to_owned(),
        })
        .unwrap_or_default();
        self.state
            .put_bytes(&self.keys.cursor_key(p), Bytes::from(body))
            .await
            .map(|_| ())
    }
}
