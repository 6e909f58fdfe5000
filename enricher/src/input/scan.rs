//! Finds stream batches not read yet under the streamer's destination
//! (`<prefix>/stream/partition=<p>/dt=…/<first>-<last>.ndjson.gz`): keys of a
//! partition sort in offset order, so one cursor per partition (the last
//! batch fully handled, kept in the state store) is all the position there is.
//! Used on the embedded default and for backfills; deployments use the queue.

use crate::input::batch::partition_of;
use bytes::Bytes;
use falconry_common::{ObjectInfo, Store, StoreError};
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub struct Scanner {
    store: Store,
    /// `<prefix>/stream/` (or `stream/`).
    stream_prefix: String,
    state: Store,
    state_prefix: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Cursor {
    after: String,
}

impl Scanner {
    /// `prefix`: the streamer's destination prefix; `state_prefix`: where cursors live in `state`.
    pub fn new(store: Store, prefix: &str, state: Store, state_prefix: &str) -> Scanner {
        let p = prefix.trim_matches('/');
        Scanner {
            store,
            stream_prefix: if p.is_empty() {
                "stream/".into()
            } else {
                format!("{p}/stream/")
            },
            state,
            state_prefix: state_prefix.trim_matches('/').to_owned(),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    fn cursor_key(&self, partition: u32) -> String {
        let base = format!("scan/partition={partition}.json");
        if self.state_prefix.is_empty() {
            base
        } else {
            format!("{}/{base}", self.state_prefix)
        }
    }

    async fn cursor(&self, partition: u32) -> Result<Option<String>, StoreError> {
        match self.state.get_bytes(&self.cursor_key(partition)).await {
            Ok(b) => Ok(serde_json::from_slice::<Cursor>(&b).ok().map(|c| c.after)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Batches after each partition's cursor, per partition in key order.
    pub async fn pending(&self) -> Result<BTreeMap<u32, Vec<ObjectInfo>>, StoreError> {
        let mut by_partition: BTreeMap<u32, Vec<ObjectInfo>> = BTreeMap::new();
        for o in self.store.list(&self.stream_prefix).await? {
            if !(o.key.ends_with(".ndjson.gz") || o.key.ends_with(".ndjson")) {
                continue;
            }
            if let Some(p) = partition_of(&o.key) {
                by_partition.entry(p).or_default().push(o);
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
        let Some(p) = partition_of(key) else {
            return Ok(());
        };
        let body = serde_json::to_vec(&Cursor {
            after: key.to_owned(),
        })
        .unwrap_or_default();
        self.state
            .put_bytes(&self.cursor_key(p), Bytes::from(body))
            .await
            .map(|_| ())
    }
}
