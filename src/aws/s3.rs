//! Objects in an S3 bucket: the Lambda's [`ObjectSink`].
//!
//! `put` is one `PutObject` with the given `Content-Type`; `get` is one `GetObject`, where
//! `NoSuchKey` means there is no such object. Reading a missing key answers `NoSuchKey` only
//! when the role may list the bucket; without that permission S3 answers `AccessDenied`.

use aws_sdk_s3::primitives::ByteStream;

use super::AwsError;
use crate::ports::{ObjectSink, StoreError};

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
}

impl ObjectSink for S3Sink {
    async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &'static str,
    ) -> Result<(), StoreError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| StoreError::new(self.describe("PutObject", key), AwsError::from(e)))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let sent = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await;
        let output = match sent {
            Ok(output) => output,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            Err(e) => {
                return Err(StoreError::new(
                    self.describe("GetObject", key),
                    AwsError::from(e),
                ));
            }
        };
        let bytes =
            output.body.collect().await.map_err(|e| {
                StoreError::new(self.describe("reading the body of GetObject", key), e)
            })?;
        Ok(Some(bytes.into_bytes().to_vec()))
    }
}
