//! The S3 side of the object store: thin calls on `aws-sdk-s3`, each mapping
//! the SDK's error into a [`StoreError`] with the bucket and key. Retries of
//! single calls are the SDK's (standard retry mode); nothing here loops.

use super::StoreError;
use super::object_store::{ObjectInfo, ObjectReader};
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use base64::Engine;
use bytes::Bytes;

#[derive(Clone, Debug)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
}

pub(super) fn content_md5(digest: &[u8; 16]) -> String {
    base64::engine::general_purpose::STANDARD.encode(digest)
}

impl S3Store {
    pub fn new(client: aws_sdk_s3::Client, bucket: String) -> Self {
        S3Store { client, bucket }
    }

    pub fn name(&self) -> String {
        format!("s3://{}", self.bucket)
    }

    pub fn with_bucket(&self, bucket: &str) -> S3Store {
        S3Store {
            client: self.client.clone(),
            bucket: bucket.to_owned(),
        }
    }

    pub(super) fn client(&self) -> &aws_sdk_s3::Client {
        &self.client
    }

    pub(super) fn bucket(&self) -> &str {
        &self.bucket
    }

    pub(super) fn fail<E>(
        &self,
        op: &'static str,
        key: &str,
        e: aws_sdk_s3::error::SdkError<E>,
    ) -> StoreError
    where
        E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
    {
        let not_found = e
            .as_service_error()
            .and_then(|s| s.code())
            .is_some_and(|c| c == "NoSuchKey" || c == "NotFound")
            || e.raw_response().is_some_and(|r| r.status().as_u16() == 404);
        if not_found {
            return StoreError::NotFound {
                op,
                store: self.name(),
                key: key.to_owned(),
            };
        }
        StoreError::Failed {
            op,
            store: self.name(),
            key: key.to_owned(),
            message: crate::aws::error_text(&e),
        }
    }

    pub async fn get(&self, key: &str) -> Result<ObjectReader, StoreError> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| self.fail("get", key, e))?;
        Ok(ObjectReader::S3(out.body, self.name(), key.to_owned()))
    }

    pub async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, StoreError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => Ok(Some(ObjectInfo {
                key: key.to_owned(),
                size: out.content_length().unwrap_or(0).max(0) as u64,
                modified_ms: out.last_modified().and_then(|t| t.to_millis().ok()),
            })),
            Err(e) => match self.fail("head", key, e) {
                StoreError::NotFound { .. } => Ok(None),
                other => Err(other),
            },
        }
    }

    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        self.list_after(prefix, "").await
    }

    pub async fn list_after(
        &self,
        prefix: &str,
        start_after: &str,
    ) -> Result<Vec<ObjectInfo>, StoreError> {
        let mut out = Vec::new();
        let mut request = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix);
        if !start_after.is_empty() {
            request = request.start_after(start_after);
        }
        let mut pages = request.into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.fail("list", prefix, e))?;
            for o in page.contents() {
                if let Some(key) = o.key() {
                    out.push(ObjectInfo {
                        key: key.to_owned(),
                        size: o.size().unwrap_or(0).max(0) as u64,
                        modified_ms: o.last_modified().and_then(|t| t.to_millis().ok()),
                    });
                }
            }
        }
        Ok(out)
    }

    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| self.fail("delete", key, e))?;
        Ok(())
    }

    pub async fn put_object(
        &self,
        key: &str,
        body: Bytes,
        md5: &[u8; 16],
    ) -> Result<(), StoreError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_md5(content_md5(md5))
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| self.fail("put", key, e))?;
        Ok(())
    }

    pub async fn create_multipart(&self, key: &str) -> Result<String, StoreError> {
        let out = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| self.fail("start multipart upload of", key, e))?;
        out.upload_id()
            .map(str::to_owned)
            .ok_or_else(|| StoreError::Failed {
                op: "start multipart upload of",
                store: self.name(),
                key: key.to_owned(),
                message: "the answer has no upload id".into(),
            })
    }

    pub async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: i32,
        body: Bytes,
        md5: [u8; 16],
    ) -> Result<CompletedPart, StoreError> {
        let out = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(number)
            .content_md5(content_md5(&md5))
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| self.fail("upload part of", key, e))?;
        Ok(CompletedPart::builder()
            .part_number(number)
            .set_e_tag(out.e_tag().map(str::to_owned))
            .build())
    }

    pub async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        mut parts: Vec<CompletedPart>,
    ) -> Result<(), StoreError> {
        parts.sort_by_key(aws_sdk_s3::types::CompletedPart::part_number);
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| self.fail("complete multipart upload of", key, e))?;
        Ok(())
    }

    pub async fn abort_multipart(&self, key: &str, upload_id: &str) {
        if let Err(e) = self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
        {
            // A lifecycle rule for incomplete uploads cleans up after us.
            tracing::warn!(bucket = %self.bucket, key, error = %crate::aws::error_text(&e), "abort multipart upload failed");
        }
    }
}
