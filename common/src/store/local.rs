//! The local-directory side of the object store (the embedded default): keys
//! are relative paths under a root. Writes go to a temporary file in the
//! root's `.falconry-tmp/` folder (where no reader looks, and no glob over the
//! lake meets them), are synced, then renamed into place, so a reader never
//! sees half an object. Temporaries a killed process left are swept at start
//! (`sweep_temporaries`). Keys that could escape the root are refused.

use super::StoreError;
use super::object_store::{ObjectInfo, ObjectReader};
use std::path::{Path, PathBuf};

/// Marker in the names of in-progress files beside their targets, as older
/// versions wrote them; listing still skips them.
pub(crate) const TMP_MARKER: &str = ".falconry-tmp-";
/// The folder under the root where writes are prepared; never a key.
pub const TMP_DIR: &str = ".falconry-tmp";
/// A temporary untouched this long is left from a process that is gone
/// (one whose owner is known dead goes at once).
const TMP_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

#[derive(Clone, Debug)]
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    pub fn new(root: PathBuf) -> Self {
        LocalStore { root }
    }

    pub fn name(&self) -> String {
        format!("file://{}", self.root.display())
    }

    pub(crate) fn path(&self, key: &str) -> Result<PathBuf, StoreError> {
        let bad = |why| StoreError::BadKey {
            store: self.name(),
            key: key.to_owned(),
            why,
        };
        if key.is_empty() || key.starts_with('/') || key.contains('\0') || key.contains('\\') {
            return Err(bad("empty, absolute, or contains NUL or backslash"));
        }
        if key
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
        {
            return Err(bad("has an empty, '.' or '..' segment"));
        }
        if key.split('/').next() == Some(TMP_DIR) {
            return Err(bad("is in falconry's temporary folder"));
        }
        Ok(self.root.join(key))
    }

    /// A fresh path in the temporary folder (created if needed), named for
    /// this process so a sweep can tell when its writer is gone.
    pub(crate) async fn temp_path(&self) -> std::io::Result<PathBuf> {
        let dir = self.root.join(TMP_DIR);
        tokio::fs::create_dir_all(&dir).await?;
        Ok(dir.join(temp_name()))
    }

    /// Removes the temporaries of writers that are gone (a `kill -9` mid-write).
    pub async fn sweep_temporaries(&self) -> Result<usize, StoreError> {
        let dir = self.root.join(TMP_DIR);
        tokio::task::spawn_blocking(move || crate::process::sweep(&dir, TMP_MAX_AGE))
            .await
            .map_err(std::io::Error::other)
            .and_then(|r| r)
            .map_err(|e| self.io("sweep", TMP_DIR, e))
    }

    pub(crate) fn io(&self, op: &'static str, key: &str, e: std::io::Error) -> StoreError {
        if e.kind() == std::io::ErrorKind::NotFound {
            StoreError::NotFound {
                op,
                store: self.name(),
                key: key.to_owned(),
            }
        } else {
            StoreError::Failed {
                op,
                store: self.name(),
                key: key.to_owned(),
                message: e.to_string(),
            }
        }
    }

    /// The real path of an existing `key`, refused when a symlink leads it
    /// out of the root (a source tree is not a way to read the whole disk).
    async fn inside(&self, op: &'static str, key: &str) -> Result<PathBuf, StoreError> {
        let path = self.path(key)?;
        let real = tokio::fs::canonicalize(&path)
            .await
            .map_err(|e| self.io(op, key, e))?;
        let root = tokio::fs::canonicalize(&self.root)
            .await
            .map_err(|e| self.io(op, key, e))?;
        if real.starts_with(&root) {
            Ok(real)
        } else {
            Err(StoreError::BadKey {
                store: self.name(),
                key: key.to_owned(),
                why: "leads outside the root through a symbolic link",
            })
        }
    }

    pub async fn get(&self, key: &str) -> Result<ObjectReader, StoreError> {
        let path = self.inside("get", key).await?;
        let file = tokio::fs::File::open(&path)
            .await
            .map_err(|e| self.io("get", key, e))?;
        Ok(ObjectReader::Local(file, self.name(), key.to_owned()))
    }

    pub async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, StoreError> {
        let path = match self.inside("head", key).await {
            Ok(p) => p,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        match tokio::fs::metadata(&path).await {
            Ok(m) if m.is_file() => Ok(Some(ObjectInfo {
                key: key.to_owned(),
                size: m.len(),
                modified_ms: modified_ms(&m),
            })),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io("head", key, e)),
        }
    }

    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        let root = self.root.clone();
        let prefix_owned = prefix.to_owned();
        let name = self.name();
        tokio::task::spawn_blocking(move || {
            // Walk from the deepest directory the prefix names.
            let dir_part = match prefix_owned.rfind('/') {
                Some(i) => &prefix_owned[..i],
                None => "",
            };
            let mut out = Vec::new();
            let start = if dir_part.is_empty() {
                root.clone()
            } else {
                root.join(dir_part)
            };
            walk(&root, &start, &prefix_owned, &mut out).map_err(|e| StoreError::Failed {
                op: "list",
                store: name.clone(),
                key: prefix_owned.clone(),
                message: e.to_string(),
            })?;
            out.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(out)
        })
        .await
        .map_err(|e| StoreError::Failed {
            op: "list",
            store: self.name(),
            key: prefix.to_owned(),
            message: e.to_string(),
        })?
    }

    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let path = self.path(key)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.io("delete", key, e)),
        }
    }
}

fn walk(root: &Path, dir: &Path, prefix: &str, out: &mut Vec<ObjectInfo>) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        let ty = entry.file_type()?;
        let Ok(rel) = path.strip_prefix(root) else {
            continue;
        };
        let key = rel.to_string_lossy().replace('\\', "/");
        if ty.is_dir() && key == TMP_DIR {
            continue;
        }
        if ty.is_dir() {
            // Descend only where keys could still match the prefix.
            let as_dir = format!("{key}/");
            if as_dir.starts_with(prefix) || prefix.starts_with(&as_dir) {
                walk(root, &path, prefix, out)?;
            }
        } else if ty.is_file()
            && key.starts_with(prefix)
            && !key.contains(TMP_MARKER)
            && !key.ends_with(super::conditional::LOCK_SUFFIX)
        {
            let m = entry.metadata()?;
            out.push(ObjectInfo {
                key,
                size: m.len(),
                modified_ms: modified_ms(&m),
            });
        }
    }
    Ok(())
}

/// `<owner tag>-<counter>-<nanos>`: unique within this process and across them.
fn temp_name() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{}-{}-{nanos:09}",
        crate::process::Owner::this().tag(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn modified_ms(m: &std::fs::Metadata) -> Option<i64> {
    m.modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_millis() as i64)
}

#[cfg(test)]
mod symlink_tests {
    use super::*;

    /// A symlink inside the root to a file outside it is refused; one that
    /// stays inside is followed.
    #[cfg(unix)]
    #[tokio::test]
    async fn symlinks_out_of_the_root_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("data")).unwrap();
        std::fs::write(dir.path().join("secret.txt"), b"outside").unwrap();
        std::fs::write(root.join("data/in.gz"), b"inside").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), root.join("data/out.gz"))
            .unwrap();
        std::os::unix::fs::symlink(dir.path(), root.join("up")).unwrap();
        std::os::unix::fs::symlink(root.join("data/in.gz"), root.join("data/alias.gz")).unwrap();
        let store = LocalStore::new(root);
        for key in ["data/out.gz", "up/secret.txt"] {
            let err = store.get(key).await.err().expect("refused");
            assert!(matches!(err, StoreError::BadKey { .. }), "{key}: {err}");
            assert!(store.head(key).await.is_err(), "{key}");
        }
        assert!(store.get("data/alias.gz").await.is_ok());
        assert!(store.get("data/in.gz").await.is_ok());
        assert!(store.head("data/missing.gz").await.unwrap().is_none());
    }
}

#[cfg(test)]
mod temporary_tests {
    use super::*;

    /// A write in progress (or killed) sits in `.falconry-tmp/`, not beside
    /// its target, is never listed, and cannot be named as a key.
    #[tokio::test]
    async fn temporaries_live_in_their_own_folder() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path().to_owned());
        let tmp = store.temp_path().await.unwrap();
        assert_eq!(tmp.parent().unwrap(), dir.path().join(TMP_DIR));
        std::fs::write(&tmp, b"half").unwrap();
        std::fs::create_dir_all(dir.path().join("parquet/hour=01")).unwrap();
        std::fs::write(dir.path().join("parquet/hour=01/a.parquet"), b"x").unwrap();
        let keys: Vec<String> = store
            .list("")
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.key)
            .collect();
        assert_eq!(keys, vec!["parquet/hour=01/a.parquet"]);
        assert!(store.path(".falconry-tmp/x").is_err());
        // Its writer (this process) is alive and it is young: not swept.
        assert_eq!(store.sweep_temporaries().await.unwrap(), 0);
        assert!(tmp.exists());
    }
}
