//! Where dedup records live: one small JSON object per fingerprint under the
//! state prefix (`<state>/dedup/<fp>.json`), in S3 or a local directory,
//! changed only by compare-and-swap so replicas never overwrite each other.

use super::record::Record;
use bytes::Bytes;
use falconry_common::lake::state::EnricherState;
use falconry_common::store::{Precondition, Swap, Tag};
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
    #[error("dedup record {key} is not valid JSON: {message}")]
    Corrupt { key: String, message: String },
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
        let key = self.key(fingerprint);
        let Some((body, tag)) = self.store.get_tagged(&key).await? else {
            return Ok(None);
        };
        let record = serde_json::from_slice(&body).map_err(|e| DedupError::Corrupt {
            key: key.clone(),
            message: e.to_string(),
        })?;
        Ok(Some(Loaded { record, tag }))
    }

    /// Writes `record` if the stored one is still `expected` (`None`: absent).
    /// `Ok(None)` when another writer won; read again.
    pub async fn swap(
        &self,
        record: &Record,
        expected: Option<&Tag>,
    ) -> Result<Option<Tag>, DedupError> {
        let key = self.key(&record.fingerprint);
        let body = serde_json::to_vec(record).map_err(|e| DedupError::Corrupt {
            key: key.clone(),
            message: e.to_string(),
        })?;
        let pre = match expected {
            None => Precondition::Absent,
            Some(t) => Precondition::Matches(t.clone()),
        };
        match self.store.put_if(&key, Bytes::from(body), &pre).await? {
            Swap::Written(tag) => Ok(Some(tag)),
            Swap::Conflict => Ok(None),
        }
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
