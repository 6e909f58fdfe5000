//! Compare-and-swap on small objects: read an object with its version tag,
//! write it only if it is still absent (`If-None-Match: *`) or still at the
//! tag read (`If-Match`). Several replicas coordinate through this alone
//! (the enricher's dedup records), with no lock service.
//!
//! S3 does it natively (conditional writes, HTTP 412 on a lost race). The
//! local directory serialises writers of one key with a lock file beside it
//! (`<key>.falconry-lock`), which works across processes on one machine; the
//! tag is the MD5 of the content. Not for large objects: bodies are in memory.

use super::StoreError;
use super::local::LocalStore;
use super::s3::S3Store;
use crate::process::Owner;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use md5::{Digest, Md5};
use std::time::{Duration, SystemTime};

/// The version of an object as the store names it (S3's ETag; MD5 locally).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag(pub String);

/// When a conditional write may happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// Only if no object has the key.
    Absent,
    /// Only if the object is still at this version.
    Matches(Tag),
}

/// The outcome of a conditional write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Swap {
    Written(Tag),
    /// Another writer got there first: read again and decide again.
    Conflict,
}

/// How long a local lock may be held before it is taken as left by a dead
/// process (a lock whose owner is known dead is taken over at once).
const STALE_LOCK: Duration = Duration::from_secs(30);
/// How long a local writer waits for the lock: past the stale bound, so a
/// dead writer's lock is always broken before anyone gives up.
const LOCK_WAIT: Duration = Duration::from_secs(40);

impl S3Store {
    pub async fn get_tagged(&self, key: &str) -> Result<Option<(Bytes, Tag)>, StoreError> {
        let out = match self
            .client()
            .get_object()
            .bucket(self.bucket())
            .key(key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let err = self.fail("get", key, e);
                return if err.is_not_found() {
                    Ok(None)
                } else {
                    Err(err)
                };
            }
        };
        let tag = Tag(out.e_tag().unwrap_or_default().trim_matches('"').to_owned());
        let body = out.body.collect().await.map_err(|e| StoreError::Failed {
            op: "get",
            store: self.name(),
            key: key.to_owned(),
            message: e.to_string(),
        })?;
        Ok(Some((body.into_bytes(), tag)))
    }

    pub async fn put_if(
        &self,
        key: &str,
        body: Bytes,
        pre: &Precondition,
    ) -> Result<Swap, StoreError> {
        let md5: [u8; 16] = Md5::digest(&body).into();
        let mut req = self
            .client()
            .put_object()
            .bucket(self.bucket())
            .key(key)
            .content_md5(super::s3::content_md5(&md5))
            .body(ByteStream::from(body));
        req = match pre {
            Precondition::Absent => req.if_none_match("*"),
            Precondition::Matches(t) => req.if_match(format!("\"{}\"", t.0)),
        };
        match req.send().await {
            Ok(out) => Ok(Swap::Written(Tag(out
                .e_tag()
                .map(|t| t.trim_matches('"').to_owned())
                .unwrap_or_else(|| hex::encode(md5))))),
            Err(e) => {
                let status = e.raw_response().map(|r| r.status().as_u16());
                let code = e
                    .as_service_error()
                    .and_then(|s| s.code())
                    .map(str::to_owned);
                // 412: the condition failed. 409 ConditionalRequestConflict: a
                // concurrent conditional write is in progress. 404 on If-Match:
                // the object is gone. All mean "read again".
                let lost = matches!(status, Some(412) | Some(409))
                    || code.as_deref() == Some("PreconditionFailed")
                    || code.as_deref() == Some("ConditionalRequestConflict")
                    || (matches!(pre, Precondition::Matches(_))
                        && (status == Some(404) || code.as_deref() == Some("NoSuchKey")));
                if lost {
                    Ok(Swap::Conflict)
                } else {
                    Err(StoreError::Failed {
                        op: "conditional put",
                        store: self.name(),
                        key: key.to_owned(),
                        message: crate::aws::error_text(&e),
                    })
                }
            }
        }
    }
}

fn local_tag(body: &[u8]) -> Tag {
    Tag(hex::encode(Md5::digest(body)))
}

impl LocalStore {
    pub async fn get_tagged(&self, key: &str) -> Result<Option<(Bytes, Tag)>, StoreError> {
        let path = self.path(key)?;
        match tokio::fs::read(&path).await {
            Ok(body) => {
                let tag = local_tag(&body);
                Ok(Some((Bytes::from(body), tag)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io("get", key, e)),
        }
    }

    pub async fn put_if(
        &self,
        key: &str,
        body: Bytes,
        pre: &Precondition,
    ) -> Result<Swap, StoreError> {
        let path = self.path(key)?;
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|e| self.io("conditional put", key, e))?;
        }
        let lock = path.with_file_name(format!(
            "{}{}",
            path.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("object"),
            LOCK_SUFFIX
        ));
        let _guard = self.lock(key, &lock).await?;
        let current = match tokio::fs::read(&path).await {
            Ok(b) => Some(local_tag(&b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(self.io("conditional put", key, e)),
        };
        let ok = match (pre, &current) {
            (Precondition::Absent, None) => true,
            (Precondition::Matches(t), Some(c)) => t == c,
            _ => false,
        };
        if !ok {
            return Ok(Swap::Conflict);
        }
        let tag = local_tag(&body);
        let tmp = self
            .temp_path()
            .await
            .map_err(|e| self.io("conditional put", key, e))?;
        let write = async {
            tokio::fs::write(&tmp, &body).await?;
            tokio::fs::File::open(&tmp).await?.sync_all().await?;
            tokio::fs::rename(&tmp, &path).await
        };
        if let Err(e) = write.await {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(self.io("conditional put", key, e));
        }
        Ok(Swap::Written(tag))
    }

    async fn lock(&self, key: &str, lock: &std::path::Path) -> Result<LockGuard, StoreError> {
        let started = std::time::Instant::now();
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(lock)
            {
                Ok(mut f) => {
                    // Who holds it, so a crash leaves a lock others can recognise.
                    let _ = std::io::Write::write_all(&mut f, Owner::this().line().as_bytes());
                    return Ok(LockGuard(lock.to_owned()));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let old = std::fs::metadata(lock)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| SystemTime::now().duration_since(t).ok())
                        .is_some_and(|age| age > STALE_LOCK);
                    let dead = std::fs::read_to_string(lock)
                        .ok()
                        .and_then(|text| Owner::parse_line(&text))
                        .is_some_and(|owner| owner.is_dead());
                    if old || dead {
                        tracing::info!(
                            lock = %lock.display(),
                            dead_owner = dead,
                            "taking over a lock left by a writer that is gone"
                        );
                        let _ = std::fs::remove_file(lock);
                        continue;
                    }
                    if started.elapsed() > LOCK_WAIT {
                        return Err(StoreError::Failed {
                            op: "lock",
                            store: self.name(),
                            key: key.to_owned(),
                            message: format!("{} is held by another writer", lock.display()),
                        });
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                Err(e) => return Err(self.io("lock", key, e)),
            }
        }
    }
}

/// Suffix of local lock files; listings skip them.
pub(crate) const LOCK_SUFFIX: &str = ".falconry-lock";

struct LockGuard(std::path::PathBuf);

impl Drop for LockGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_compare_and_swap() {
        let dir = tempfile::tempdir().unwrap();
        let s = LocalStore::new(dir.path().to_owned());
        assert_eq!(s.get_tagged("a/b.json").await.unwrap(), None);
        let Swap::Written(t1) = s
            .put_if("a/b.json", Bytes::from_static(b"1"), &Precondition::Absent)
            .await
            .unwrap()
        else {
            panic!("first create must win")
        };
        assert_eq!(
            s.put_if("a/b.json", Bytes::from_static(b"x"), &Precondition::Absent)
                .await
                .unwrap(),
            Swap::Conflict
        );
        let (body, tag) = s.get_tagged("a/b.json").await.unwrap().unwrap();
        assert_eq!((&body[..], &tag), (&b"1"[..], &t1));
        let Swap::Written(t2) = s
            .put_if(
                "a/b.json",
                Bytes::from_static(b"2"),
                &Precondition::Matches(t1.clone()),
            )
            .await
            .unwrap()
        else {
            panic!("matching tag must win")
        };
        assert_ne!(t1, t2);
        assert_eq!(
            s.put_if(
                "a/b.json",
                Bytes::from_static(b"3"),
                &Precondition::Matches(t1)
            )
            .await
            .unwrap(),
            Swap::Conflict,
            "a stale tag loses"
        );
        assert_eq!(
            s.list("a/").await.unwrap().len(),
            1,
            "no lock or temp files listed"
        );
    }

    /// A lock left by a process that died (a `kill -9` mid-write) is taken
    /// over at once, not after the 30 s stale bound; a live holder's is not.
    #[tokio::test]
    async fn a_dead_writers_lock_is_taken_over_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let s = LocalStore::new(dir.path().to_owned());
        let lock = dir.path().join(format!("k.json{LOCK_SUFFIX}"));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead_pid = child.id();
        child.wait().unwrap();
        let gone = Owner {
            pid: dead_pid,
            ..Owner::this()
        };
        std::fs::write(&lock, gone.line()).unwrap();
        let started = std::time::Instant::now();
        let put = s
            .put_if("k.json", Bytes::from_static(b"1"), &Precondition::Absent)
            .await
            .unwrap();
        assert!(matches!(put, Swap::Written(_)));
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(!lock.exists());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn local_racing_creators_one_wins() {
        let dir = tempfile::tempdir().unwrap();
        let s = LocalStore::new(dir.path().to_owned());
        let mut tasks = Vec::new();
        for i in 0..16 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                s.put_if("k", Bytes::from(format!("{i}")), &Precondition::Absent)
                    .await
                    .unwrap()
            }));
        }
        let mut wins = 0;
        for t in tasks {
            if matches!(t.await.unwrap(), Swap::Written(_)) {
                wins += 1;
            }
        }
        assert_eq!(wins, 1);
    }
}
