//! Where dedup records live: one small JSON object per fingerprint under the
//! state prefix (`<state>/dedup/<fp>.json`), in S3 or a local directory,
//! changed only by compare-and-swap so replicas never overwrite each other.

use super::record::Record;
use falconry_common::lake::state::EnricherState;
use falconry_common::store::Tag;
use falconry_common::{Store, StoreError};

#[derive(Debug, Clone)]
pub struct DedupStore {
    store: Store,
    keys: EnricherState,
}

/// A record as read, with the version a write must match.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub record: Record,
    pub tag: Tag,
}

#[derive(Debug, thiserror::Error)]
pub enum DedupError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl DedupStore {
    /// `keys`: the enricher's state keys inside `store`.
    pub fn new(store: Store, keys: EnricherState) -> DedupStore {
        DedupStore { store, keys }
    }

    pub fn key(&self, fingerprint: &str) -> String {
        self.keys.dedup_key(fingerprint)
    }

    pub async fn load(&self, fingerprint: &str) -> Result<Option<Loaded>, DedupError> {
        Ok(self
            .store
            .get_json(&self.key(fingerprint))
            .await?
            .map(|(record, tag)| Loaded { record, tag }))
    }

    /// Writes `record` if the stored one is still `expected` (`None`: absent).
    /// `Ok(None)` when another writer won; read again.
    pub async fn swap(
        &self,
        record: &Record,
        expected: Option<&Tag>,
    ) -> Result<Option<Tag>, DedupError> {
        Ok(self
            .store
            .swap_json(&self.key(&record.fingerprint), record, expected)
            .await?)
    }

    pub async fn count(&self) -> Result<usize, DedupError> {
        Ok(self
            .store
            .list(&self.keys.dedup_prefix())
            .await?
            .iter()
            .filter(|o| o.key.ends_with(".json"))
            .count())
    }
}
