//! [`Store`]: one bucket (S3) or one directory (local) with the handful of
//! operations the daemons need. Both implementations give the same guarantees:
//! a write is visible only once complete (S3 completes the upload, the local
//! store renames a synced temporary file), and every write is checked end to end
//! with MD5.

use super::local::LocalStore;
use super::s3::S3Store;
use super::writer::{ObjectWriter, Written};
use super::{Location, StoreError};
use bytes::Bytes;
use std::path::Path;

/// Default size of one multipart part (and the threshold for multipart
/// uploads): 8 MiB, as the AWS CLI. A writer holds its part and the parts in
/// flight, so with two files in flight 16 MiB parts took 75 MB more peak
/// memory (`scripts/bench.sh`, `forward-s3` row).
pub const DEFAULT_PART_SIZE: usize = 8 * 1024 * 1024;

/// One object as listed or inspected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    /// Last modification (epoch ms), when the store says.
    pub modified_ms: Option<i64>,
}

/// A bucket or a directory.
#[derive(Clone, Debug)]
pub enum Store {
    S3(S3Store),
    Local(LocalStore),
}

impl Store {
    /// The store behind `location`; S3 uses `client`, which the caller builds
    /// with the right credentials (ours or the FDR key pair).
    pub fn new(location: &Location, client: Option<aws_sdk_s3::Client>) -> Result<Store, String> {
        match location {
            Location::S3 { bucket, .. } => match client {
                Some(c) => Ok(Store::S3(S3Store::new(c, bucket.clone()))),
                None => Err(format!("{location}: no S3 client configured")),
            },
            Location::Local { root, .. } => Ok(Store::Local(LocalStore::new(root.clone()))),
        }
    }

    /// The store behind one of our own locations (destinations, state): S3
    /// with the default AWS configuration, or a local directory.
    pub async fn open(location: &Location) -> Store {
        match location {
            Location::S3 { bucket, .. } => {
                let conf = crate::aws::sdk_config(&Default::default()).await;
                Store::S3(S3Store::new(crate::aws::s3_client(&conf), bucket.clone()))
            }
            Location::Local { root, .. } => Store::Local(LocalStore::new(root.clone())),
        }
    }

    pub fn s3(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Store {
        Store::S3(S3Store::new(client, bucket.into()))
    }

    pub fn local(root: impl Into<std::path::PathBuf>) -> Store {
        Store::Local(LocalStore::new(root.into()))
    }

    /// A short name for logs and errors: `s3://bucket` or `file:///root`.
    pub fn name(&self) -> String {
        match self {
            Store::S3(s) => s.name(),
            Store::Local(l) => l.name(),
        }
    }

    /// The same kind of store on another bucket (S3) or the same root (local).
    pub fn with_bucket(&self, bucket: &str) -> Store {
        match self {
            Store::S3(s) => Store::S3(s.with_bucket(bucket)),
            Store::Local(_) => self.clone(),
        }
    }

    /// Reads a small object with its version tag; `None` when absent.
    pub async fn get_tagged(&self, key: &str) -> Result<Option<(Bytes, super::Tag)>, StoreError> {
        match self {
            Store::S3(s) => s.get_tagged(key).await,
            Store::Local(l) => l.get_tagged(key).await,
        }
    }

    /// Writes a small object only if `pre` still holds (compare-and-swap).
    pub async fn put_if(
        &self,
        key: &str,
        body: Bytes,
        pre: &super::Precondition,
    ) -> Result<super::Swap, StoreError> {
        match self {
            Store::S3(s) => s.put_if(key, body, pre).await,
            Store::Local(l) => l.put_if(key, body, pre).await,
        }
    }

    /// A small JSON record with its version tag; `None` when absent. A record
    /// that is not the expected JSON is an error naming the key.
    pub async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<(T, super::Tag)>, StoreError> {
        let Some((body, tag)) = self.get_tagged(key).await? else {
            return Ok(None);
        };
        serde_json::from_slice(&body)
            .map(|v| Some((v, tag)))
            .map_err(|e| StoreError::Failed {
                op: "read",
                store: self.name(),
                key: key.to_owned(),
                message: format!("not a valid record: {e}"),
            })
    }

    /// Writes a JSON record if the stored one is still `expected` (`None`:
    /// absent): compare-and-swap. `Ok(None)` when another writer won; read again.
    pub async fn swap_json<T: serde::Serialize>(
        &self,
        key: &str,
        value: &T,
        expected: Option<&super::Tag>,
    ) -> Result<Option<super::Tag>, StoreError> {
        let body = serde_json::to_vec(value).map_err(|e| StoreError::Failed {
            op: "write",
            store: self.name(),
            key: key.to_owned(),
            message: format!("cannot encode the record: {e}"),
        })?;
        let pre = match expected {
            None => super::Precondition::Absent,
            Some(t) => super::Precondition::Matches(t.clone()),
        };
        match self.put_if(key, Bytes::from(body), &pre).await? {
            super::Swap::Written(tag) => Ok(Some(tag)),
            super::Swap::Conflict => Ok(None),
        }
    }

    /// Opens `key` for streaming reads.
    pub async fn get(&self, key: &str) -> Result<ObjectReader, StoreError> {
        match self {
            Store::S3(s) => s.get(key).await,
            Store::Local(l) => l.get(key).await,
        }
    }

    /// Reads a whole (small) object.
    pub async fn get_bytes(&self, key: &str) -> Result<Bytes, StoreError> {
        let mut r = self.get(key).await?;
        let mut out = Vec::new();
        while let Some(chunk) = r.next_chunk().await? {
            out.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(out))
    }

    pub async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, StoreError> {
        match self {
            Store::S3(s) => s.head(key).await,
            Store::Local(l) => l.head(key).await,
        }
    }

    /// Starts a streaming write of `key`; nothing is visible until [`ObjectWriter::finish`].
    pub async fn writer(&self, key: &str, part_size: usize) -> Result<ObjectWriter, StoreError> {
        match self {
            Store::S3(s) => Ok(ObjectWriter::s3(s.clone(), key.to_owned(), part_size)),
            Store::Local(l) => ObjectWriter::local(l, key).await,
        }
    }

    /// Writes a whole object from memory.
    pub async fn put_bytes(&self, key: &str, body: Bytes) -> Result<Written, StoreError> {
        let mut w = self.writer(key, DEFAULT_PART_SIZE.max(body.len())).await?;
        w.write(body).await?;
        w.finish().await
    }

    /// Uploads a local file (multipart when larger than `part_size`).
    pub async fn put_file(
        &self,
        key: &str,
        path: &Path,
        part_size: usize,
    ) -> Result<Written, StoreError> {
        use tokio::io::AsyncReadExt;
        let fail = |e: std::io::Error| StoreError::Failed {
            op: "read local file for",
            store: self.name(),
            key: key.to_owned(),
            message: format!("{}: {e}", path.display()),
        };
        let mut file = tokio::fs::File::open(path).await.map_err(fail)?;
        let mut w = self.writer(key, part_size).await?;
        let mut buf = vec![0u8; part_size.clamp(64 * 1024, 8 * 1024 * 1024)];
        loop {
            let n = match file.read(&mut buf).await {
                Ok(n) => n,
                Err(e) => {
                    w.abort().await;
                    return Err(fail(e));
                }
            };
            if n == 0 {
                break;
            }
            if let Err(e) = w.write(Bytes::copy_from_slice(&buf[..n])).await {
                w.abort().await;
                return Err(e);
            }
        }
        w.finish().await
    }

    /// Every object whose key starts with `prefix`, in key order.
    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        match self {
            Store::S3(s) => s.list(prefix).await,
            Store::Local(l) => l.list(prefix).await,
        }
    }

    /// The objects under `prefix` whose keys sort after `start_after`, in key order.
    pub async fn list_after(
        &self,
        prefix: &str,
        start_after: &str,
    ) -> Result<Vec<ObjectInfo>, StoreError> {
        match self {
            Store::S3(s) => s.list_after(prefix, start_after).await,
            Store::Local(l) => Ok(l
                .list(prefix)
                .await?
                .into_iter()
                .filter(|o| o.key.as_str() > start_after)
                .collect()),
        }
    }

    /// Removes what writers killed mid-write left behind: a local store's
    /// temporaries (S3 keeps nothing half-written; its incomplete multipart
    /// uploads are the bucket lifecycle rule's to abort). Logs what it removed.
    pub async fn sweep_temporaries(&self) -> Result<usize, StoreError> {
        match self {
            Store::S3(_) => Ok(0),
            Store::Local(l) => {
                let n = l.sweep_temporaries().await?;
                if n > 0 {
                    tracing::info!(store = %self.name(), removed = n, "removed temporaries left by writers that are gone");
                }
                Ok(n)
            }
        }
    }

    /// Deletes `key`; deleting a missing object is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match self {
            Store::S3(s) => s.delete(key).await,
            Store::Local(l) => l.delete(key).await,
        }
    }
}

/// A streaming read of one object.
pub enum ObjectReader {
    S3(aws_sdk_s3::primitives::ByteStream, String, String),
    Local(tokio::fs::File, String, String),
}

impl ObjectReader {
    /// The next chunk of bytes, or `None` at the end of the object.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, StoreError> {
        match self {
            ObjectReader::S3(body, store, key) => {
                body.try_next().await.map_err(|e| StoreError::Failed {
                    op: "read",
                    store: store.clone(),
                    key: key.clone(),
                    message: crate::aws::error_text(&e),
                })
            }
            ObjectReader::Local(file, store, key) => {
                use tokio::io::AsyncReadExt;
                let mut buf = vec![0u8; 1024 * 1024];
                let n = file.read(&mut buf).await.map_err(|e| StoreError::Failed {
                    op: "read",
                    store: store.clone(),
                    key: key.clone(),
                    message: e.to_string(),
                })?;
                if n == 0 {
                    return Ok(None);
                }
                buf.truncate(n);
                Ok(Some(Bytes::from(buf)))
            }
        }
    }
}
