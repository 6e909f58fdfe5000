//! Streaming writes with end-to-end MD5: [`ObjectWriter`] takes chunks, keeps
//! the MD5 and size of everything written, and makes the object visible only
//! on [`ObjectWriter::finish`]. On S3 it is a multipart upload once the data
//! passes one part (each part carries `Content-MD5`, so S3 checks every byte it
//! stores); below that, one `PutObject` with `Content-MD5`. Locally it is a
//! synced temporary file renamed into place.

use super::StoreError;
use super::local::LocalStore;
use super::s3::S3Store;
use aws_sdk_s3::types::CompletedPart;
use bytes::{Bytes, BytesMut};
use md5::{Digest, Md5};
use std::path::PathBuf;
use tokio::io::AsyncWriteExt;
use tokio::task::JoinSet;

/// Parts uploaded concurrently by one writer.
const PARTS_IN_FLIGHT: usize = 2;

/// What a finished write stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub key: String,
    pub size: u64,
    pub md5: [u8; 16],
}

impl Written {
    pub fn md5_hex(&self) -> String {
        hex::encode(self.md5)
    }
}

pub struct ObjectWriter {
    key: String,
    md5: Md5,
    size: u64,
    inner: Inner,
}

enum Inner {
    S3(S3Upload),
    Local {
        file: Option<tokio::fs::File>,
        tmp: PathBuf,
        dest: PathBuf,
        store: String,
    },
    Done,
}

struct S3Upload {
    store: S3Store,
    part_size: usize,
    buf: BytesMut,
    upload_id: Option<String>,
    next_part: i32,
    parts: Vec<CompletedPart>,
    in_flight: JoinSet<Result<CompletedPart, StoreError>>,
}

impl ObjectWriter {
    pub(crate) fn s3(store: S3Store, key: String, part_size: usize) -> Self {
        // S3 refuses parts under 5 MiB (but the last).
        let part_size = part_size.max(5 * 1024 * 1024);
        ObjectWriter {
            key,
            md5: Md5::new(),
            size: 0,
            inner: Inner::S3(S3Upload {
                store,
                part_size,
                buf: BytesMut::new(),
                upload_id: None,
                next_part: 1,
                parts: Vec::new(),
                in_flight: JoinSet::new(),
            }),
        }
    }

    pub(crate) async fn local(store: &LocalStore, key: &str) -> Result<Self, StoreError> {
        let dest = store.path(key)?;
        let fail = |e: std::io::Error| StoreError::Failed {
            op: "write",
            store: store.name(),
            key: key.to_owned(),
            message: e.to_string(),
        };
        if let Some(parent) = dest.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(fail)?;
        }
        let tmp = store.temp_path().await.map_err(fail)?;
        let file = tokio::fs::File::create(&tmp).await.map_err(fail)?;
        Ok(ObjectWriter {
            key: key.to_owned(),
            md5: Md5::new(),
            size: 0,
            inner: Inner::Local {
                file: Some(file),
                tmp,
                dest,
                store: store.name(),
            },
        })
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The MD5 of everything written so far.
    pub fn md5_so_far(&self) -> [u8; 16] {
        self.md5.clone().finalize().into()
    }

    pub async fn write(&mut self, chunk: Bytes) -> Result<(), StoreError> {
        self.md5.update(&chunk);
        self.size += chunk.len() as u64;
        let key = self.key.clone();
        match &mut self.inner {
            Inner::S3(up) => {
                up.buf.extend_from_slice(&chunk);
                while up.buf.len() >= up.part_size {
                    let part = up.buf.split_to(up.part_size).freeze();
                    up.send_part(&key, part).await?;
                }
                Ok(())
            }
            Inner::Local {
                file: Some(file),
                store,
                ..
            } => file
                .write_all(&chunk)
                .await
                .map_err(|e| StoreError::Failed {
                    op: "write",
                    store: store.clone(),
                    key,
                    message: e.to_string(),
                }),
            _ => Err(StoreError::Failed {
                op: "write",
                store: String::new(),
                key,
                message: "writer already finished".into(),
            }),
        }
    }

    /// Makes the object visible and returns what was stored. On error nothing
    /// new is visible (an earlier object under the key, if any, is unchanged).
    pub async fn finish(mut self) -> Result<Written, StoreError> {
        let md5: [u8; 16] = self.md5.clone().finalize().into();
        let written = Written {
            key: self.key.clone(),
            size: self.size,
            md5,
        };
        let key = self.key.clone();
        match std::mem::replace(&mut self.inner, Inner::Done) {
            Inner::S3(mut up) => {
                let result = up.finish(&key, md5).await;
                if result.is_err() {
                    up.abort(&key).await;
                }
                result.map(|()| written)
            }
            Inner::Local {
                file,
                tmp,
                dest,
                store,
            } => {
                let fail = |e: std::io::Error| StoreError::Failed {
                    op: "write",
                    store: store.clone(),
                    key: key.clone(),
                    message: e.to_string(),
                };
                let result = async {
                    if let Some(mut file) = file {
                        file.flush().await.map_err(fail)?;
                        file.sync_all().await.map_err(fail)?;
                    }
                    tokio::fs::rename(&tmp, &dest).await.map_err(fail)?;
                    if let Some(parent) = dest.parent() {
                        // Make the rename itself durable.
                        if let Ok(dir) = tokio::fs::File::open(parent).await {
                            let _ = dir.sync_all().await;
                        }
                    }
                    Ok(written)
                }
                .await;
                if result.is_err() {
                    let _ = tokio::fs::remove_file(&tmp).await;
                }
                result
            }
            Inner::Done => Err(StoreError::Failed {
                op: "write",
                store: String::new(),
                key,
                message: "writer already finished".into(),
            }),
        }
    }

    /// Drops what was written; nothing becomes visible.
    pub async fn abort(mut self) {
        let key = self.key.clone();
        match std::mem::replace(&mut self.inner, Inner::Done) {
            Inner::S3(mut up) => up.abort(&key).await,
            Inner::Local { file, tmp, .. } => {
                drop(file);
                let _ = tokio::fs::remove_file(&tmp).await;
            }
            Inner::Done => {}
        }
    }
}

impl Drop for ObjectWriter {
    fn drop(&mut self) {
        match std::mem::replace(&mut self.inner, Inner::Done) {
            Inner::Local { file, tmp, .. } => {
                drop(file);
                let _ = std::fs::remove_file(&tmp);
            }
            Inner::S3(mut up) => {
                up.in_flight.abort_all();
                if let (Some(id), Ok(handle)) =
                    (up.upload_id.take(), tokio::runtime::Handle::try_current())
                {
                    let key = self.key.clone();
                    handle.spawn(async move { up.store.abort_multipart(&key, &id).await });
                }
            }
            Inner::Done => {}
        }
    }
}

impl S3Upload {
    async fn send_part(&mut self, key: &str, part: Bytes) -> Result<(), StoreError> {
        let upload_id = match &self.upload_id {
            Some(id) => id.clone(),
            None => {
                let id = self.store.create_multipart(key).await?;
                self.upload_id = Some(id.clone());
                id
            }
        };
        while self.in_flight.len() >= PARTS_IN_FLIGHT {
            self.join_one(key).await?;
        }
        let number = self.next_part;
        self.next_part += 1;
        let store = self.store.clone();
        let key = key.to_owned();
        self.in_flight.spawn(async move {
            let md5: [u8; 16] = Md5::digest(&part).into();
            store.upload_part(&key, &upload_id, number, part, md5).await
        });
        Ok(())
    }

    async fn join_one(&mut self, key: &str) -> Result<(), StoreError> {
        match self.in_flight.join_next().await {
            Some(Ok(Ok(part))) => {
                self.parts.push(part);
                Ok(())
            }
            Some(Ok(Err(e))) => Err(e),
            Some(Err(join)) => Err(StoreError::Failed {
                op: "upload part of",
                store: self.store.name(),
                key: key.to_owned(),
                message: join.to_string(),
            }),
            None => Ok(()),
        }
    }

    async fn finish(&mut self, key: &str, md5: [u8; 16]) -> Result<(), StoreError> {
        if self.upload_id.is_none() {
            let body = std::mem::take(&mut self.buf).freeze();
            return self.store.put_object(key, body, &md5).await;
        }
        if !self.buf.is_empty() {
            let part = std::mem::take(&mut self.buf).freeze();
            self.send_part(key, part).await?;
        }
        while !self.in_flight.is_empty() {
            self.join_one(key).await?;
        }
        let id = self.upload_id.clone().unwrap_or_default();
        self.store
            .complete_multipart(key, &id, std::mem::take(&mut self.parts))
            .await?;
        self.upload_id = None;
        Ok(())
    }

    async fn abort(&mut self, key: &str) {
        self.in_flight.abort_all();
        while self.in_flight.join_next().await.is_some() {}
        if let Some(id) = self.upload_id.take() {
            self.store.abort_multipart(key, &id).await;
        }
    }
}
