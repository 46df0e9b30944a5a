//! Objects in an S3 bucket: the Lambda's [`ObjectSink`].
//!
//! `put` is one conditional `PutObject` with the given `Content-Type`: `If-None-Match: *` for an
//! object written once, `If-Match: <ETag>` for a marker updated by compare-and-swap; S3's 412
//! (and 409 for a concurrent conditional write) is a conflict. `get` first asks whether the object
//! exists, with a `ListObjectsV2` whose prefix is the key itself, and only then reads it with
//! `GetObject`; a key that is not listed is `None` without any `GetObject`. How S3 answers a read
//! of a missing key depends on the role's `s3:ListBucket` permission and its conditions
//! (`NoSuchKey` when the policy allows listing that key, `AccessDenied` otherwise), and the
//! template grants `ListBucket` only for prefixes under `LOG_PREFIX` (an `s3:prefix` condition),
//! so `get` does not rely on that answer. A refused list is an error, never a missing object.

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;

use super::AwsError;
use crate::ports::{ObjectSink, Precondition, StoreError, StoredObject};

/// How many keys one `ListObjectsV2` of [`S3Sink::get`] asks for.
const LIST_PAGE_KEYS: i32 = 10;

/// One bucket; keys are used as given.
#[derive(Clone, Debug)]
pub struct S3Sink {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Sink {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        S3Sink {
            client,
            bucket: bucket.into(),
        }
    }

    fn describe(&self, operation: &str, key: &str) -> String {
        format!("{operation} s3://{}/{key}", self.bucket)
    }

    /// Whether an object with exactly this key exists, from `ListObjectsV2` with the key as its
    /// prefix. In a general purpose bucket the key, if it exists, is the first one listed (keys
    /// come in UTF-8 binary order and a key sorts before the longer keys it is a prefix of), so one
    /// small page answers. Other stores (directory buckets, S3-compatible ones) need not sort, so
    /// the pages are read on until the key shows up or the listing ends; keys that extend another
    /// key do not occur under the prefix, so that is still one page.
    async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(key)
            .max_keys(LIST_PAGE_KEYS)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                StoreError::new(self.describe("ListObjectsV2", key), AwsError::from(e))
            })?;
            if page
                .contents()
                .iter()
                .any(|object| object.key() == Some(key))
            {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

impl ObjectSink for S3Sink {
    async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &'static str,
        precondition: Precondition,
    ) -> Result<Option<String>, StoreError> {
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body));
        let request = match precondition {
            Precondition::Absent => request.if_none_match("*"),
            Precondition::Matches(etag) => request.if_match(etag),
        };
        match request.send().await {
            Ok(output) => Ok(output.e_tag().map(str::to_owned)),
            // 412: the precondition failed; 409: a concurrent conditional write to the same key.
            Err(SdkError::ServiceError(service))
                if matches!(service.raw().status().as_u16(), 409 | 412)
                    || matches!(
                        service.err().code(),
                        Some("PreconditionFailed" | "ConditionalRequestConflict")
                    ) =>
            {
                Err(StoreError::conflict(self.describe("PutObject", key)))
            }
            Err(e) => Err(StoreError::new(
                self.describe("PutObject", key),
                AwsError::from(e),
            )),
        }
    }

    async fn get_tagged(&self, key: &str) -> Result<Option<StoredObject>, StoreError> {
        if !self.exists(key).await? {
            return Ok(None);
        }
        let sent = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await;
        let output = match sent {
            Ok(output) => output,
            // Listed a moment ago and gone now: nothing in this project deletes, but a missing
            // object is still a missing object.
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            Err(e) => {
                return Err(StoreError::new(
                    self.describe("GetObject", key),
                    AwsError::from(e),
                ));
            }
        };
        let etag = output.e_tag().map(str::to_owned);
        let bytes =
            output.body.collect().await.map_err(|e| {
                StoreError::new(self.describe("reading the body of GetObject", key), e)
            })?;
        Ok(Some(StoredObject {
            body: bytes.into_bytes().to_vec(),
            etag,
        }))
    }

    /// `HeadObject`: only ever asked of an object this run wrote (its checkpoint marker), so a
    /// refusal is an error, and `NotFound` means it is gone.
    async fn etag(&self, key: &str) -> Result<Option<String>, StoreError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(output) => Ok(output.e_tag().map(str::to_owned)),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
            Err(e) => Err(StoreError::new(
                self.describe("HeadObject", key),
                AwsError::from(e),
            )),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        let mut keys = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                StoreError::new(self.describe("ListObjectsV2", prefix), AwsError::from(e))
            })?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_owned)),
            );
        }
        Ok(keys)
    }
}
